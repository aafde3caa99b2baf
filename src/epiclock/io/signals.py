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

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.io.idat import IdatPair
from epiclock.noob import Sample, measure, raw_meth_unmeth

SIGNAL_COLUMNS = ["methylated", "unmethylated"]


def raw_signals(sample: Sample, probes: pd.DataFrame) -> pd.DataFrame:
    """Methylated and unmethylated signal of every probe in ``probes`` (a manifest probe table).

    Returns float64 columns ``methylated`` and ``unmethylated`` indexed by ``probe_id``; a probe
    whose address is absent from the IDATs gets NaN rather than stopping the sample. ``sample`` is
    an ``IdatPair`` or anything else ``noob.measure`` takes; the probe layout is shared with noob's.
    """
    found = measure(sample, probes).probe
    methylated, unmethylated = raw_meth_unmeth(found)
    return pd.DataFrame({"methylated": methylated, "unmethylated": unmethylated}, index=found.layout.index)


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
    signals = raw_signals(pair, probes)
    betas = betas_from_signals(signals["methylated"], signals["unmethylated"], offset)
    betas.name = pair.basename
    return betas


def raw_beta_matrix(pairs: Iterable[IdatPair], probes: pd.DataFrame, offset: float = 0.0) -> pd.DataFrame:
    """Raw betas of several samples: CpGs as rows (``cpg_id``), one column per sample basename."""
    columns = [raw_betas(pair, probes, offset) for pair in pairs]
    if not columns:
        raise EpiclockError("no IDAT pairs given: there are no samples to compute betas for")
    names = [column.name for column in columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise EpiclockError(f"samples appear more than once: {', '.join(repeated[:5])}")
    matrix = pd.concat(columns, axis=1)
    matrix.index.name = "cpg_id"
    return matrix
