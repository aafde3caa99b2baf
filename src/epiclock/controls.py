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

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.recent import RecentCache
from epiclock.noob import Sample, measure, raw_meth_unmeth

BACKGROUND_ADDITION = 3000.0
SEX_CUTOFF = -2.0
GENOTYPE_BOUNDS = (0.2, 0.8)
DUPLICATE_CONCORDANCE = 0.9
# Fewer SNP probes called in both samples than this, and a pair's concordance says nothing either way.
MIN_IDENTITY_SNPS = 10

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


# The control groups the metrics compare: group -> (pattern, column of the control table).
CONTROL_GROUPS = {
    "extension_at": (r"^Extension \((?:A|T)\)", "extended_type"),
    "extension_cg": (r"^Extension \((?:C|G)\)", "extended_type"),
    "restore": ("^Restore$", "extended_type"),
    "biotin_high": (r"^Biotin \(High\)$", "extended_type"),
    "biotin_background": (r"^Biotin \(Bkg\)$", "extended_type"),
    "dnp_high": (r"^DNP \(High\)$", "extended_type"),
    "dnp_background": (r"^DNP \(Bkg\)$", "extended_type"),
    "hybridisation_high": (r"^Hyb \(High\)$", "extended_type"),
    "hybridisation_medium": (r"^Hyb \(Medium\)$", "extended_type"),
    "hybridisation_low": (r"^Hyb \(Low\)$", "extended_type"),
    "target_removal_1": ("^Target Removal 1$", "extended_type"),
    "target_removal_2": ("^Target Removal 2$", "extended_type"),
    "bisulfite_i_green": (r"^BS Conversion I[- ]C[12]$", "extended_type"),
    "bisulfite_i_green_u": (r"^BS Conversion I[- ]U[12]$", "extended_type"),
    "bisulfite_i_red": (r"^BS Conversion I[- ]C[45]$", "extended_type"),
    "bisulfite_i_red_u": (r"^BS Conversion I[- ]U[45]$", "extended_type"),
    "bisulfite_ii": ("^BISULFITE CONVERSION II$", "type"),
    "mismatch_pm_green": (r"Mismatch [123] \(PM\)", "extended_type"),
    "mismatch_mm_green": (r"Mismatch [123] \(MM\)", "extended_type"),
    "mismatch_pm_red": (r"Mismatch [456] \(PM\)", "extended_type"),
    "mismatch_mm_red": (r"Mismatch [456] \(MM\)", "extended_type"),
    "specificity_ii": ("^SPECIFICITY II$", "type"),
    "np_cg": (r"^NP \((?:C|G)\)$", "extended_type"),
    "np_at": (r"^NP \((?:A|T)\)$", "extended_type"),
}

_GROUP_CACHE = RecentCache(4)  # entries: (control table, groups)


def control_groups(controls: pd.DataFrame) -> dict[str, np.ndarray]:
    """Which rows of the control table belong to each of ``CONTROL_GROUPS`` (cached per table object)."""
    cached = _GROUP_CACHE.find(lambda entry: entry[0] is controls)
    if cached is not None:
        return cached[1]
    groups = {}
    for name, (pattern, column) in CONTROL_GROUPS.items():
        texts = controls[column].astype(str)
        groups[name] = texts.str.contains(pattern, regex=True, flags=re.IGNORECASE).to_numpy(dtype=bool, na_value=False)
    _GROUP_CACHE.add((controls, groups))
    return groups


def _ratio(numerator: float, denominator: float) -> float:
    if not np.isfinite(numerator) or not np.isfinite(denominator) or denominator <= 0:
        return np.nan
    return float(numerator / denominator)


def control_metrics(sample: Sample, controls: pd.DataFrame) -> pd.DataFrame:
    """BeadArray-Controls-Reporter metrics of one sample: value, threshold and passed per metric.

    ``passed`` is NA where the metric's controls are missing from the array or manifest.
    """
    found = measure(sample, controls=controls).control
    present = found.layout.present
    groups = control_groups(controls)
    channels = {"red": found.red, "green": found.green}

    def values(group: str, channel: str) -> np.ndarray:
        return channels[channel][groups[group] & present]

    def highest(group: str, channel: str) -> float:
        chosen = values(group, channel)
        return float(chosen.max()) if chosen.size else np.nan

    def lowest(group: str, channel: str) -> float:
        chosen = values(group, channel)
        return float(chosen.min()) if chosen.size else np.nan

    def first(group: str, channel: str) -> float:
        chosen = values(group, channel)
        return float(chosen[0]) if chosen.size else np.nan

    green_background = highest("extension_at", "green") + BACKGROUND_ADDITION
    red_background = highest("extension_cg", "red") + BACKGROUND_ADDITION
    values_by_metric = {
        "restoration": _ratio(first("restore", "green"), green_background),
        "staining_green": _ratio(first("biotin_high", "green"), first("biotin_background", "green")),
        "staining_red": _ratio(first("dnp_high", "red"), first("dnp_background", "red")),
        "extension_green": _ratio(lowest("extension_cg", "green"), highest("extension_at", "green")),
        "extension_red": _ratio(lowest("extension_at", "red"), highest("extension_cg", "red")),
        "hybridisation_high_medium": _ratio(first("hybridisation_high", "green"), first("hybridisation_medium", "green")),
        "hybridisation_medium_low": _ratio(first("hybridisation_medium", "green"), first("hybridisation_low", "green")),
        "target_removal_1": _ratio(green_background, first("target_removal_1", "green")),
        "target_removal_2": _ratio(green_background, first("target_removal_2", "green")),
        "bisulfite_conversion_i_green": _ratio(lowest("bisulfite_i_green", "green"), highest("bisulfite_i_green_u", "green")),
        "bisulfite_conversion_i_green_background": _ratio(green_background, highest("bisulfite_i_green_u", "green")),
        "bisulfite_conversion_i_red": _ratio(lowest("bisulfite_i_red", "red"), highest("bisulfite_i_red_u", "red")),
        "bisulfite_conversion_i_red_background": _ratio(red_background, highest("bisulfite_i_red_u", "red")),
        "bisulfite_conversion_ii": _ratio(lowest("bisulfite_ii", "red"), highest("bisulfite_ii", "green")),
        "bisulfite_conversion_ii_background": _ratio(green_background, highest("bisulfite_ii", "green")),
        "specificity_i_green": _ratio(lowest("mismatch_pm_green", "green"), highest("mismatch_mm_green", "green")),
        "specificity_i_red": _ratio(lowest("mismatch_pm_red", "red"), highest("mismatch_mm_red", "red")),
        "specificity_ii": _ratio(lowest("specificity_ii", "red"), highest("specificity_ii", "green")),
        "specificity_ii_background": _ratio(green_background, highest("specificity_ii", "green")),
        "non_polymorphic_green": _ratio(lowest("np_cg", "green"), highest("np_at", "green")),
        "non_polymorphic_red": _ratio(lowest("np_at", "red"), highest("np_cg", "red")),
    }
    frame = pd.DataFrame({"value": pd.Series(values_by_metric), "threshold": pd.Series(CONTROL_THRESHOLDS)})
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


# --- SNP genotypes and identity -------------------------------------------------------------------


def snp_betas(sample: Sample, probes: pd.DataFrame) -> pd.Series:
    """Raw betas (offset 0) of the SNP (rs) probes of one sample, as minfi's ``getSnpBeta``."""
    measured = measure(sample, probes)
    layout = measured.probe.layout
    snp = layout.snp
    if not snp.any():
        raise EpiclockError("the probe table has no SNP (rs) probes; genotypes cannot be called")
    methylated, unmethylated = raw_meth_unmeth(measured.probe, snp)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = methylated / (methylated + unmethylated)
    return pd.Series(values, index=layout.index[snp], name=measured.channels.name)


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
    """Share of SNP probes called alike for every pair of samples (columns), with the count compared.

    Pairs come in the order of ``itertools.combinations`` over the columns. Computed as matrix
    products over one-hot calls, so 1,000 samples (half a million pairs) take well under a second.
    """
    values = calls.to_numpy(np.float64)
    called = ~np.isnan(values)
    indicator = called.astype(np.float64)
    compared = indicator.T @ indicator
    agreeing = np.zeros_like(compared)
    for genotype in np.unique(values[called]):
        same = (values == genotype).astype(np.float64)
        agreeing += same.T @ same
    left, right = np.triu_indices(values.shape[1], k=1)
    pair_compared = compared[left, right]
    with np.errstate(invalid="ignore", divide="ignore"):
        concordance = np.where(pair_compared > 0, agreeing[left, right] / pair_compared, np.nan)
    names = calls.columns.to_numpy()
    return pd.DataFrame({"sample_a": names[left], "sample_b": names[right],
                         "n_snps": pair_compared.astype(np.int64), "concordance": concordance},
                        columns=["sample_a", "sample_b", "n_snps", "concordance"])


def identity_checks(concordance: pd.DataFrame, donors: pd.Series,
                    duplicate_concordance: float = DUPLICATE_CONCORDANCE,
                    min_snps: int = MIN_IDENTITY_SNPS) -> pd.DataFrame:
    """Flag pairs whose genotypes contradict the sheet's donors.

    ``same_donor`` from the sheet; ``same_genotype`` when concordance reaches the threshold.
    ``problem`` is "unexpected duplicate" (different donors, same genotypes), "possible swap"
    (same donor, different genotypes) or empty. Pairs with a sample absent from ``donors``, or
    compared on fewer than ``min_snps`` SNP probes, are reported with no problem (``same_donor``
    NA for the former, ``same_genotype`` NA for the latter).
    """
    table = concordance.copy()
    donor_a = donors.reindex(table["sample_a"]).to_numpy()
    donor_b = donors.reindex(table["sample_b"]).to_numpy()
    known = ~(pd.isna(donor_a) | pd.isna(donor_b))
    table["same_donor"] = pd.array(np.where(known, donor_a == donor_b, False), dtype="boolean").copy()
    table.loc[~known, "same_donor"] = pd.NA
    comparable = (table["n_snps"] >= min_snps).to_numpy(bool)
    table["same_genotype"] = pd.array(table["concordance"] >= duplicate_concordance, dtype="boolean")
    table.loc[~comparable, "same_genotype"] = pd.NA
    known &= comparable
    same_genotype = table["same_genotype"].fillna(False).to_numpy(bool)
    duplicate = known & ~table["same_donor"].fillna(False).to_numpy(bool) & same_genotype
    swap = known & table["same_donor"].fillna(False).to_numpy(bool) & ~same_genotype
    table["problem"] = np.where(duplicate, "unexpected duplicate", np.where(swap, "possible swap", ""))
    return table
