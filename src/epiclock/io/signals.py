"""Raw methylated and unmethylated signals per probe from a Red/Grn IDAT pair, and raw betas.

The channel assignment is minfi's ``preprocessRaw``:

- type II probes have one bead type (address A): methylated = Grn, unmethylated = Red;
- type I probes have two bead types in one colour: methylated = address B, unmethylated = address A,
  both read in the probe's colour channel (Red or Grn).

No background correction or dye-bias normalisation is applied: these are the raw signals. Every
probe of the table is computed, SNP (rs) probes included; minfi's MethylSet leaves those out, so
select the cg/ch rows where a result must match minfi's row set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.io.idat import IdatPair

SIGNAL_COLUMNS = ["methylated", "unmethylated"]


class _ProbeLayout(NamedTuple):
    """Where each probe's beads sit in an IDAT's address list: shared by every array of a design."""

    addresses: np.ndarray
    position_a: np.ndarray
    position_b: np.ndarray
    type_two: np.ndarray
    in_red: np.ndarray
    index: pd.Index


def _probe_layout(addresses: np.ndarray, probes: pd.DataFrame) -> _ProbeLayout:
    missing_columns = {"probe_id", "address_a", "address_b", "design", "channel"} - set(probes.columns)
    if missing_columns:
        raise EpiclockError(f"the probe table lacks column(s) {', '.join(sorted(missing_columns))}; use a parsed manifest")
    return _ProbeLayout(
        addresses=addresses,
        position_a=_positions_of(addresses, probes["address_a"]),
        position_b=_positions_of(addresses, probes["address_b"]),
        type_two=(probes["design"] == "II").to_numpy(dtype=bool),
        in_red=(probes["channel"] == "Red").fillna(False).to_numpy(dtype=bool),
        index=pd.Index(probes["probe_id"].astype(str).to_numpy(), name="probe_id"),
    )


def raw_signals(pair: IdatPair, probes: pd.DataFrame) -> pd.DataFrame:
    """Methylated and unmethylated signal of every probe in ``probes`` (a manifest probe table).

    Returns float64 columns ``methylated`` and ``unmethylated`` indexed by ``probe_id``; a probe
    whose address is absent from the IDATs gets NaN rather than stopping the sample.
    """
    return _signals_with_layout(pair, _probe_layout(pair.addresses, probes))


def _signals_with_layout(pair: IdatPair, layout: _ProbeLayout) -> pd.DataFrame:
    # One extra NaN at the end of each channel: probes whose address is absent index it.
    red = np.append(pair.red.means.astype(np.float64), np.nan)
    green = np.append(pair.green.means.astype(np.float64), np.nan)
    a, b, in_red = layout.position_a, layout.position_b, layout.in_red
    methylated = np.where(layout.type_two, green[a], np.where(in_red, red[b], green[b]))
    unmethylated = np.where(layout.type_two, red[a], np.where(in_red, red[a], green[a]))
    return pd.DataFrame({"methylated": methylated, "unmethylated": unmethylated}, index=layout.index)


def _positions_of(addresses: np.ndarray, wanted: pd.Series) -> np.ndarray:
    """Index of each wanted address in ``addresses``; ``len(addresses)`` where it is absent."""
    values = wanted.to_numpy(dtype=np.float64, na_value=np.nan)
    if len(addresses) == 0:
        return np.zeros(len(values), dtype=np.int64)
    order = np.argsort(addresses, kind="stable")
    sorted_addresses = addresses[order].astype(np.int64)
    present = ~np.isnan(values)
    queries = np.where(present, values, -1).astype(np.int64)
    slots = np.minimum(np.searchsorted(sorted_addresses, queries), len(sorted_addresses) - 1)
    found = present & (sorted_addresses[slots] == queries)
    return np.where(found, order[slots], len(addresses))


def betas_from_signals(methylated, unmethylated, offset: float = 0.0):
    """Beta = M / (M + U + offset), elementwise (arrays, Series or frames of equal shape).

    With offset 0 (minfi's ``getBeta`` default) a probe with no signal in either channel is NaN;
    a positive offset (GenomeStudio uses 100) keeps low-intensity probes away from 0/0.
    """
    if offset < 0:
        raise EpiclockError(f"the beta offset must be zero or positive; got {offset}")
    with np.errstate(invalid="ignore", divide="ignore"):
        return methylated / (methylated + unmethylated + offset)


def raw_betas(pair: IdatPair, probes: pd.DataFrame, offset: float = 0.0) -> pd.Series:
    """Raw betas of one sample, indexed by probe_id and named after the sample's basename."""
    return _betas_with_layout(pair, _probe_layout(pair.addresses, probes), offset)


def _betas_with_layout(pair: IdatPair, layout: _ProbeLayout, offset: float) -> pd.Series:
    signals = _signals_with_layout(pair, layout)
    betas = betas_from_signals(signals["methylated"], signals["unmethylated"], offset)
    betas.name = pair.basename
    return betas


def raw_beta_matrix(pairs: Iterable[IdatPair], probes: pd.DataFrame, offset: float = 0.0) -> pd.DataFrame:
    """Raw betas of several samples: CpGs as rows (``cpg_id``), one column per sample basename."""
    columns, layout = [], None
    for pair in pairs:
        if layout is None or not np.array_equal(layout.addresses, pair.addresses):
            layout = _probe_layout(pair.addresses, probes)
        columns.append(_betas_with_layout(pair, layout, offset))
    if not columns:
        raise EpiclockError("no IDAT pairs given: there are no samples to compute betas for")
    names = [column.name for column in columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise EpiclockError(f"samples appear more than once: {', '.join(repeated[:5])}")
    matrix = pd.concat(columns, axis=1)
    matrix.index.name = "cpg_id"
    return matrix
