"""Type-I probes' colour channel inferred from the sample (SeSAMe's ``inferInfiniumIChannel``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.arrays.channels import Sample, measure


def infer_type_one_channels(sample: Sample, probes: pd.DataFrame,
                            min_ratio: float = 1.0) -> pd.DataFrame:
    """Which colour each type-I probe actually lights up in, as SeSAMe's ``inferInfiniumIChannel``.

    For each type-I probe the brighter channel (summing both beads) is called its channel. Returns
    ``manifest_channel``, ``inferred_channel`` and ``switched`` for the type-I probes; a probe whose
    two channels differ by less than ``min_ratio`` keeps its manifest colour. A switch usually
    means a SNP at the probe's extension base (a colour-channel-switching variant).
    """
    found = measure(sample, probes).probe
    type_one = found.layout.in_red | found.layout.in_green
    red_total = (found.red_a + found.red_b)[type_one]
    green_total = (found.green_a + found.green_b)[type_one]
    type_one_index = found.layout.index[type_one]
    manifest_channel = np.where(found.layout.in_red[type_one], "Red", "Grn").astype(object)
    with np.errstate(invalid="ignore", divide="ignore"):
        red_clearly = red_total > green_total * min_ratio
        green_clearly = green_total > red_total * min_ratio
    inferred = np.where(red_clearly, "Red", np.where(green_clearly, "Grn", manifest_channel))
    inferred = np.where(np.isnan(red_total) | np.isnan(green_total), manifest_channel, inferred)
    return pd.DataFrame({"manifest_channel": manifest_channel, "inferred_channel": inferred,
                         "switched": inferred != manifest_channel}, index=type_one_index)


def with_inferred_channels(probes: pd.DataFrame, inferred: pd.DataFrame) -> pd.DataFrame:
    """A copy of the probe table with type-I colours replaced by ``infer_type_one_channels``' calls."""
    updated = probes.copy()
    lookup = inferred["inferred_channel"]
    ids = updated["probe_id"].astype(str)
    known = ids.isin(lookup.index).to_numpy()
    updated.loc[known, "channel"] = lookup.reindex(ids[known]).to_numpy()
    return updated
