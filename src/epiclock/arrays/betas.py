"""Betas and M-values from methylated and unmethylated signals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.io.geo import GENOMESTUDIO_OFFSET, SignalTable


def betas(signals: pd.DataFrame, offset: float = 100.0) -> pd.Series:
    """Beta = M / (M + U + offset) from a frame with columns methylated and unmethylated.

    The workflow's default offset is 100 (Illumina's); use 0 to match minfi's ``getBeta``.
    """
    if offset < 0:
        raise EpiclockError(f"the beta offset must be zero or positive; got {offset}")
    methylated = signals["methylated"].to_numpy(np.float64)
    unmethylated = signals["unmethylated"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = methylated / (methylated + unmethylated + offset)
    return pd.Series(values, index=signals.index, name="beta")


def betas_from_signals(methylated, unmethylated, offset: float = 0.0):
    """Beta = M / (M + U + offset), elementwise (arrays, Series or frames of equal shape).

    With offset 0 (minfi's ``getBeta`` default) a probe with no signal in either channel is NaN;
    a positive offset (GenomeStudio uses 100) keeps low-intensity probes away from 0/0.
    """
    if offset < 0:
        raise EpiclockError(f"the beta offset must be zero or positive; got {offset}")
    with np.errstate(invalid="ignore", divide="ignore"):
        return methylated / (methylated + unmethylated + offset)


def signal_table_betas(table: SignalTable, offset: float = GENOMESTUDIO_OFFSET) -> pd.DataFrame:
    """Betas of a GEO processed signal table as GenomeStudio exports them: max(M, 0) / (max(M, 0) + max(U, 0) + offset)."""
    return betas_from_signals(table.methylated.clip(lower=0), table.unmethylated.clip(lower=0), offset)
