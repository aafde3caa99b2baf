"""Cell fractions compared between the sides of each contrast, with the clocks' primary test.

The fractions (a tidy table: sample_id, reference, cell_type, fraction, as the composition step
writes it) go through the same donor-level pairing and paired t-test as the DNAm ages, so a
composition difference is judged on the same footing as the age difference beside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.deltas.design import Contrast, Design, condition_labels
from epiclock.deltas.paired import benjamini_hochberg, donor_differences, paired_test

FRACTION_CONTRAST_COLUMNS = ["contrast", "reference", "cell_type", "estimate", "ci_low", "ci_high", "p_value",
                             "q_value", "n_donors", "test", "p_wilcoxon", "sd_difference", "treated_mean",
                             "reference_mean", "note"]


def fraction_contrasts(fractions: pd.DataFrame, sheet: pd.DataFrame, contrasts: list[Contrast],
                       design: Design) -> pd.DataFrame:
    """Per contrast, reference and cell type: the paired t-test of the fraction on donor means
    (treated minus reference), as the clocks' primary test; q over every row (Benjamini-Hochberg)."""
    rows = []
    annotated = sheet.assign(condition=condition_labels(sheet, design))
    tables = {}
    for (reference, cell_type), values in fractions.groupby(["reference", "cell_type"], sort=False):
        table = annotated.merge(values[["sample_id", "fraction"]], on="sample_id", how="inner")
        tables[reference, cell_type] = table.rename(columns={"fraction": "dnam_age"})  # the column pairing reads
    for contrast in contrasts:
        for (reference, cell_type), table in tables.items():
            pairs = donor_differences(table, contrast, design)
            result = paired_test(pairs["difference"].to_numpy(dtype=float))
            rows.append({
                "contrast": contrast.name, "reference": reference, "cell_type": cell_type,
                "estimate": result["estimate_years"], **{key: result[key] for key in (
                    "ci_low", "ci_high", "p_value", "n_donors", "p_wilcoxon", "sd_difference", "note")},
                "test": "paired t-test on donor means" if contrast.minus is None
                else "paired t-test on donor difference-of-differences",
                "treated_mean": float(pairs["treated"].mean()) if len(pairs) else np.nan,
                "reference_mean": float(pairs["reference"].mean()) if len(pairs) else np.nan,
            })
    table = pd.DataFrame(rows, columns=[c for c in FRACTION_CONTRAST_COLUMNS if c != "q_value"])
    table["q_value"] = benjamini_hochberg(table["p_value"].to_numpy(dtype=float))
    return table[FRACTION_CONTRAST_COLUMNS]
