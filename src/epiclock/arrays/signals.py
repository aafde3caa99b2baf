"""Raw methylated and unmethylated signals per probe from a Red/Grn IDAT pair.

The channel assignment is minfi's ``preprocessRaw``:

- type II probes have one bead type (address A): methylated = Grn, unmethylated = Red;
- type I probes have two bead types in one colour: methylated = address B, unmethylated = address A,
  both read in the probe's colour channel (Red or Grn).

No background correction or dye-bias normalisation is applied: these are the raw signals. Every
probe of the table is computed, SNP (rs) probes included; minfi's MethylSet leaves those out, so
select the cg/ch rows where a result must match minfi's row set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.arrays.channels import Intensities, Sample, measure


def raw_meth_unmeth(found: Intensities, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """minfi's ``preprocessRaw`` channel rules: (methylated, unmethylated) per probe, or of ``rows`` only."""
    layout = found.layout

    def select(values: np.ndarray) -> np.ndarray:
        return values if rows is None else values[rows]

    type_two, in_red = select(layout.type_two), select(layout.in_red)
    green_a, red_a = select(found.green_a), select(found.red_a)
    methylated = np.where(type_two, green_a, np.where(in_red, select(found.red_b), select(found.green_b)))
    unmethylated = np.where(type_two | in_red, red_a, green_a)
    return methylated, unmethylated


def raw_signals(sample: Sample, probes: pd.DataFrame) -> pd.DataFrame:
    """Methylated and unmethylated signal of every probe in ``probes`` (a manifest probe table).

    Returns float64 columns ``methylated`` and ``unmethylated`` indexed by ``probe_id``; a probe
    whose address is absent from the IDATs gets NaN rather than stopping the sample. ``sample`` is
    an ``IdatPair`` or anything else ``arrays.channels.measure`` takes; the probe layout is shared with noob's.
    """
    found = measure(sample, probes).probe
    methylated, unmethylated = raw_meth_unmeth(found)
    return pd.DataFrame({"methylated": methylated, "unmethylated": unmethylated}, index=found.layout.index)


