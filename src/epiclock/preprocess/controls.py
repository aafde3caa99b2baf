"""Control-probe metrics of one sample.

Control metrics follow Illumina's *BeadArray Controls Reporter Software Guide* (document
1000000004009, v00, 2015) as implemented by ewastools' ``control_metrics`` (Heiss & Just 2018):
each metric is a ratio of control intensities in one channel, and a sample fails a metric when the
ratio is below the guide's minimum. "Background" is the highest Extension A/T (Grn) or C/G (Red)
signal plus 3000, as in the guide. The names matched are the 450k/EPIC manifests' Extended_Type
texts (e.g. "Biotin (High)", "BS Conversion I-C1", "GT Mismatch 1 (PM)", "NP (A)"); a metric whose
controls are not on the array is NaN and is not counted as a failure.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from epiclock.arrays.channels import Sample, measure
from epiclock.cache import RecentCache

BACKGROUND_ADDITION = 3000.0

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
    """(passed, notes) of one sample from ``control_metrics``.

    The notes name each failing metric with its value and minimum, then the metrics that could not
    be checked, so that "passed" is never read as "all checked": a manifest whose controls have no
    type names (InfiniumAnnotation's probe index of HM27) checks none.
    """
    failing = metrics.loc[metrics["passed"].eq(False)]
    notes = [f"{name} {row.value:.2f} below {row.threshold:g}" for name, row in failing.iterrows()]
    unchecked = metrics.index[metrics["value"].isna()]
    if len(unchecked) == len(metrics):
        notes.append("no control metric checked: the manifest names none of the controls they need")
    elif len(unchecked):
        notes.append(f"not checked (controls not named in the manifest or not on the array): {', '.join(unchecked)}")
    return failing.empty, "; ".join(notes)


def has_metric_controls(controls: pd.DataFrame) -> bool:
    """Whether a control table names the controls of at least one metric (qc.fail_on: controls needs one)."""
    return any(rows.any() for rows in control_groups(controls).values())

