"""Sex predicted from the arrays and compared with the sample sheet.

Sex is minfi's ``getSex`` rule: the median log2 copy number (log2(M + U)) of chrY probes minus that
of chrX probes, below -2 -> female (F), otherwise male (M).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.arrays.channels import Sample, measure
from epiclock.arrays.signals import raw_meth_unmeth
from epiclock.errors import EpiclockError


SEX_CUTOFF = -2.0


def predict_sex(sample: Sample, probes: pd.DataFrame, cutoff: float = SEX_CUTOFF) -> dict:
    """minfi's ``getSex`` on one sample's raw signals: xMed, yMed, their difference and F/M.

    Uses the probe table's ``chromosome`` column (chrX, chrY); SNP probes are left out.
    """
    if "chromosome" not in probes.columns:
        raise EpiclockError("predict_sex: the probe table has no 'chromosome' column; use a parsed manifest")
    measured = measure(sample, probes)
    layout = measured.probe.layout
    rows = np.flatnonzero((layout.on_x | layout.on_y) & ~layout.snp)
    methylated, unmethylated = raw_meth_unmeth(measured.probe, rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        copy_number = np.log2(methylated + unmethylated)
    usable = np.isfinite(copy_number)
    on_x, on_y = usable & layout.on_x[rows], usable & layout.on_y[rows]
    name = measured.channels.name
    if not on_x.any() or not on_y.any():
        raise EpiclockError(f"sample {name}: no chrX or chrY probes with signal; cannot predict sex")
    x_median, y_median = float(np.median(copy_number[on_x])), float(np.median(copy_number[on_y]))
    difference = y_median - x_median
    return {"sample": name, "x_median": x_median, "y_median": y_median, "y_minus_x": difference,
            "predicted_sex": "F" if difference < cutoff else "M"}


SHEET_SEX = {"f": "F", "female": "F", "w": "F", "woman": "F", "m": "M", "male": "M", "man": "M"}


def check_sex(predicted: pd.DataFrame, sheet: pd.Series) -> pd.DataFrame:
    """Compare predicted sex (rows of ``predict_sex``, by sample) with the sheet's (by sample).

    The sheet may say F/M, female/male (any case); other or empty values are not compared.
    ``sex_matches`` is NA where the sheet gives no usable value.
    """
    table = predicted.set_index("sample") if "sample" in predicted.columns else predicted.copy()
    given = sheet.reindex(table.index).astype("string").str.strip().str.lower().map(SHEET_SEX)
    unknown = sheet.dropna().astype(str).str.strip().str.lower()
    unknown = unknown[~unknown.isin(SHEET_SEX) & (unknown != "")]
    if len(unknown):
        raise EpiclockError(f"sample sheet: sex {unknown.iloc[0]!r} of sample {unknown.index[0]} is not F/M or female/male")
    table["sheet_sex"] = given
    table["sex_matches"] = (table["predicted_sex"] == given).astype("boolean").mask(given.isna())
    return table


def check_sheet_sex(sheet: pd.DataFrame, sex_column: str, source: str) -> None:
    """Stop on a sheet sex that is neither F/M nor female/male (empty cells are not compared)."""
    if sex_column not in sheet.columns:
        return
    given = sheet[sex_column].dropna().astype(str).str.strip()
    unknown = given[(given != "") & ~given.str.lower().isin(SHEET_SEX)]
    if len(unknown):
        sample = sheet.loc[unknown.index[0], "sample_id"]
        raise EpiclockError(f"{source}: column '{sex_column}' (qc.sex_column) of sample {sample} says "
                            f"{unknown.iloc[0]!r}; use F/M or female/male, or leave it empty")
