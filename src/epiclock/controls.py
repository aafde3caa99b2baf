"""Control-probe metrics, sex prediction and SNP-probe genotypes for sample identity.

Control metrics follow Illumina's *BeadArray Controls Reporter Software Guide* (document
1000000004009, v00, 2015) as implemented by ewastools' ``control_metrics`` (Heiss & Just 2018):
each metric is a ratio of control intensities in one channel, and a sample fails a metric when the
ratio is below the guide's minimum. "Background" is the highest Extension A/T (Grn) or C/G (Red)
signal plus 3000, as in the guide. The names matched are the 450k/EPIC manifests' Extended_Type
texts (e.g. "Biotin (High)", "BS Conversion I-C1", "GT Mismatch 1 (PM)", "NP (A)"); a metric whose
controls are not on the array is NaN and is not counted as a failure.

Sex is minfi's ``getSex`` rule: the median log2 copy number (log2(M + U)) of chrY probes minus that
of chrX probes, below -2 -> female (F), otherwise male (M).

SNP (rs) probes give a beta near 0, 0.5 or 1 (homozygous, heterozygous, other homozygous); two
arrays from the same donor share their calls. Concordance over all pairs flags unexpected
duplicates (different donors, same genotypes) and swaps (same donor, different genotypes).
"""

from __future__ import annotations

import re
from itertools import combinations

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.io.idat import IdatPair
from epiclock.noob import array_channels, control_intensities, intensities_of, raw_meth_unmeth

BACKGROUND_ADDITION = 3000.0
SEX_CUTOFF = -2.0
GENOTYPE_BOUNDS = (0.2, 0.8)
DUPLICATE_CONCORDANCE = 0.9

# metric -> (minimum ratio from the BeadArray Controls Reporter guide).
CONTROL_THRESHOLDS = {
    "restoration": 0.0,
    "staining_green": 5.0,
    "staining_red": 5.0,
    "extension_green": 5.0,
    "extension_red": 5.0,
    "hybridisation_high_medium": 1.0,
    "hybridisation_medium_low": 1.0,
    "target_removal_1": 1.0,
    "target_removal_2": 1.0,
    "bisulfite_conversion_i_green": 1.0,
    "bisulfite_conversion_i_green_background": 1.0,
    "bisulfite_conversion_i_red": 1.0,
    "bisulfite_conversion_i_red_background": 1.0,
    "bisulfite_conversion_ii": 1.0,
    "bisulfite_conversion_ii_background": 1.0,
    "specificity_i_green": 1.0,
    "specificity_i_red": 1.0,
    "specificity_ii": 1.0,
    "specificity_ii_background": 1.0,
    "non_polymorphic_green": 5.0,
    "non_polymorphic_red": 5.0,
}


def _select(table: pd.DataFrame, pattern: str, column: str = "extended_type") -> pd.DataFrame:
    return table.loc[table[column].astype(str).str.contains(pattern, regex=True, flags=re.IGNORECASE)]


def _ratio(numerator: float, denominator: float) -> float:
    if not np.isfinite(numerator) or not np.isfinite(denominator) or denominator <= 0:
        return np.nan
    return float(numerator / denominator)


def _max(values: pd.Series) -> float:
    return float(values.max()) if len(values) else np.nan


def _min(values: pd.Series) -> float:
    return float(values.min()) if len(values) else np.nan


def control_metrics(sample: IdatPair | pd.DataFrame, controls: pd.DataFrame) -> pd.DataFrame:
    """BeadArray-Controls-Reporter metrics of one sample: value, threshold and passed per metric.

    ``passed`` is NA where the metric's controls are missing from the array or manifest.
    """
    table = control_intensities(sample, controls)
    extension_at = _select(table, r"^Extension \((?:A|T)\)")
    extension_cg = _select(table, r"^Extension \((?:C|G)\)")
    green_background = _max(extension_at["green"]) + BACKGROUND_ADDITION
    red_background = _max(extension_cg["red"]) + BACKGROUND_ADDITION

    def one(pattern: str, channel: str) -> float:
        chosen = _select(table, pattern)
        return float(chosen[channel].iloc[0]) if len(chosen) else np.nan

    bisulfite_i_green = _select(table, r"^BS Conversion I[- ]C[12]$")
    bisulfite_i_green_u = _select(table, r"^BS Conversion I[- ]U[12]$")
    bisulfite_i_red = _select(table, r"^BS Conversion I[- ]C[45]$")
    bisulfite_i_red_u = _select(table, r"^BS Conversion I[- ]U[45]$")
    bisulfite_ii = _select(table, "^BISULFITE CONVERSION II$", column="type")
    mismatch_pm_green = _select(table, r"Mismatch [123] \(PM\)")
    mismatch_mm_green = _select(table, r"Mismatch [123] \(MM\)")
    mismatch_pm_red = _select(table, r"Mismatch [456] \(PM\)")
    mismatch_mm_red = _select(table, r"Mismatch [456] \(MM\)")
    specificity_ii = _select(table, "^SPECIFICITY II$", column="type")
    np_cg = _select(table, r"^NP \((?:C|G)\)$")
    np_at = _select(table, r"^NP \((?:A|T)\)$")

    values = {
        "restoration": _ratio(one("^Restore$", "green"), green_background),
        "staining_green": _ratio(one(r"^Biotin \(High\)$", "green"), one(r"^Biotin \(Bkg\)$", "green")),
        "staining_red": _ratio(one(r"^DNP \(High\)$", "red"), one(r"^DNP \(Bkg\)$", "red")),
        "extension_green": _ratio(_min(extension_cg["green"]), _max(extension_at["green"])),
        "extension_red": _ratio(_min(extension_at["red"]), _max(extension_cg["red"])),
        "hybridisation_high_medium": _ratio(one(r"^Hyb \(High\)$", "green"), one(r"^Hyb \(Medium\)$", "green")),
        "hybridisation_medium_low": _ratio(one(r"^Hyb \(Medium\)$", "green"), one(r"^Hyb \(Low\)$", "green")),
        "target_removal_1": _ratio(green_background, one("^Target Removal 1$", "green")),
        "target_removal_2": _ratio(green_background, one("^Target Removal 2$", "green")),
        "bisulfite_conversion_i_green": _ratio(_min(bisulfite_i_green["green"]), _max(bisulfite_i_green_u["green"])),
        "bisulfite_conversion_i_green_background": _ratio(green_background, _max(bisulfite_i_green_u["green"])),
        "bisulfite_conversion_i_red": _ratio(_min(bisulfite_i_red["red"]), _max(bisulfite_i_red_u["red"])),
        "bisulfite_conversion_i_red_background": _ratio(red_background, _max(bisulfite_i_red_u["red"])),
        "bisulfite_conversion_ii": _ratio(_min(bisulfite_ii["red"]), _max(bisulfite_ii["green"])),
        "bisulfite_conversion_ii_background": _ratio(green_background, _max(bisulfite_ii["green"])),
        "specificity_i_green": _ratio(_min(mismatch_pm_green["green"]), _max(mismatch_mm_green["green"])),
        "specificity_i_red": _ratio(_min(mismatch_pm_red["red"]), _max(mismatch_mm_red["red"])),
        "specificity_ii": _ratio(_min(specificity_ii["red"]), _max(specificity_ii["green"])),
        "specificity_ii_background": _ratio(green_background, _max(specificity_ii["green"])),
        "non_polymorphic_green": _ratio(_min(np_cg["green"]), _max(np_at["green"])),
        "non_polymorphic_red": _ratio(_min(np_at["red"]), _max(np_cg["red"])),
    }
    frame = pd.DataFrame({"value": pd.Series(values), "threshold": pd.Series(CONTROL_THRESHOLDS)})
    frame.index.name = "metric"
    passed = frame["value"] >= frame["threshold"]
    frame["passed"] = passed.astype("boolean").mask(frame["value"].isna())
    return frame


def control_summary(metrics: pd.DataFrame) -> tuple[bool, str]:
    """(passed, reasons) of one sample from ``control_metrics``: failing metrics named with value and minimum."""
    failing = metrics.loc[metrics["passed"].eq(False)]
    reasons = "; ".join(f"{name} {row.value:.2f} below {row.threshold:g}" for name, row in failing.iterrows())
    return failing.empty, reasons


# --- sex -----------------------------------------------------------------------------------------


def predict_sex(sample: IdatPair | pd.DataFrame, probes: pd.DataFrame, cutoff: float = SEX_CUTOFF) -> dict:
    """minfi's ``getSex`` on one sample's raw signals: xMed, yMed, their difference and F/M.

    Uses the probe table's ``chromosome`` column (chrX, chrY); SNP probes are left out.
    """
    if "chromosome" not in probes.columns:
        raise EpiclockError("predict_sex: the probe table has no 'chromosome' column; use a parsed manifest")
    found = intensities_of(array_channels(sample), probes)
    methylated, unmethylated = raw_meth_unmeth(found)
    with np.errstate(divide="ignore", invalid="ignore"):
        copy_number = np.log2(methylated + unmethylated)
    chromosome = probes["chromosome"].astype(str).to_numpy()
    usable = ~found.layout.snp & np.isfinite(copy_number)
    on_x, on_y = usable & (chromosome == "chrX"), usable & (chromosome == "chrY")
    name = array_channels(sample).name
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


# --- SNP genotypes and identity -------------------------------------------------------------------


def snp_betas(sample: IdatPair | pd.DataFrame, probes: pd.DataFrame) -> pd.Series:
    """Raw betas (offset 0) of the SNP (rs) probes of one sample, as minfi's ``getSnpBeta``."""
    found = intensities_of(array_channels(sample), probes)
    snp = found.layout.snp
    if not snp.any():
        raise EpiclockError("the probe table has no SNP (rs) probes; genotypes cannot be called")
    methylated, unmethylated = raw_meth_unmeth(found)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = methylated[snp] / (methylated[snp] + unmethylated[snp])
    return pd.Series(values, index=found.layout.index[snp], name=array_channels(sample).name)


def call_genotypes(betas: pd.Series | pd.DataFrame, bounds: tuple[float, float] = GENOTYPE_BOUNDS):
    """Genotype calls 0, 1, 2 (beta below, between or above ``bounds``); NaN beta stays missing."""
    low, high = bounds
    if not 0 < low < high < 1:
        raise EpiclockError(f"genotype bounds must satisfy 0 < low < high < 1; got {bounds}")
    values = np.asarray(betas, dtype=np.float64)
    calls = np.where(values < low, 0.0, np.where(values > high, 2.0, 1.0))
    calls = np.where(np.isnan(values), np.nan, calls)
    if isinstance(betas, pd.DataFrame):
        return pd.DataFrame(calls, index=betas.index, columns=betas.columns)
    return pd.Series(calls, index=betas.index, name=betas.name)


def genotype_concordance(calls: pd.DataFrame) -> pd.DataFrame:
    """Share of SNP probes called alike for every pair of samples (columns), with the count compared."""
    rows = []
    values = calls.to_numpy(np.float64)
    for left, right in combinations(range(values.shape[1]), 2):
        both = ~np.isnan(values[:, left]) & ~np.isnan(values[:, right])
        compared = int(both.sum())
        agree = float((values[both, left] == values[both, right]).mean()) if compared else np.nan
        rows.append({"sample_a": calls.columns[left], "sample_b": calls.columns[right],
                     "n_snps": compared, "concordance": agree})
    return pd.DataFrame(rows, columns=["sample_a", "sample_b", "n_snps", "concordance"])


def identity_checks(concordance: pd.DataFrame, donors: pd.Series,
                    duplicate_concordance: float = DUPLICATE_CONCORDANCE) -> pd.DataFrame:
    """Flag pairs whose genotypes contradict the sheet's donors.

    ``same_donor`` from the sheet; ``same_genotype`` when concordance reaches the threshold.
    ``problem`` is "unexpected duplicate" (different donors, same genotypes), "possible swap"
    (same donor, different genotypes) or empty. Pairs with a sample absent from ``donors`` are
    reported with ``same_donor`` NA and no problem.
    """
    table = concordance.copy()
    donor_a = donors.reindex(table["sample_a"]).to_numpy()
    donor_b = donors.reindex(table["sample_b"]).to_numpy()
    known = ~(pd.isna(donor_a) | pd.isna(donor_b))
    table["same_donor"] = pd.array(np.where(known, donor_a == donor_b, False), dtype="boolean").copy()
    table.loc[~known, "same_donor"] = pd.NA
    table["same_genotype"] = table["concordance"] >= duplicate_concordance
    duplicate = known & ~table["same_donor"].fillna(False).to_numpy(bool) & table["same_genotype"].to_numpy(bool)
    swap = known & table["same_donor"].fillna(False).to_numpy(bool) & ~table["same_genotype"].to_numpy(bool)
    table["problem"] = np.where(duplicate, "unexpected duplicate", np.where(swap, "possible swap", ""))
    return table
