"""Normalisation of betas before the clocks.

Beta matrices arrive already normalised by whoever produced them, so the only method for them is
'none': the samples that passed QC are kept as they are, except that values no beta can take
(outside [0, 1], infinite) are masked as missing so that no clock reads them. Normalisations that
need intensities (noob, dye bias, BMIQ) belong to the IDAT route.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError

METHODS = ("none",)


def normalize(betas: pd.DataFrame, samples: list[str], method: str = "none") -> pd.DataFrame:
    """Betas of ``samples`` (those that passed QC), normalised with ``method``."""
    if method not in METHODS:
        raise EpiclockError(f"normalize: unknown method {method!r}; for beta matrices choose one of {', '.join(METHODS)}")
    absent = [sample for sample in samples if sample not in betas.columns]
    if absent:
        raise EpiclockError(f"normalize: samples passed QC but are not in the beta matrix: {', '.join(absent[:10])}")
    selected = betas[samples]
    values = selected.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        invalid = ~np.isfinite(values) | (values < 0) | (values > 1)
    return pd.DataFrame(np.where(invalid, np.nan, values), index=selected.index, columns=selected.columns)
