"""Age deltas and contrasts between conditions.

Two analyses of each contrast and clock, both reported, neither replacing the other:
- the primary paired t-test on the donors' mean within-donor differences (epiclock.deltas.paired);
- a linear mixed model on the sample-level ages with each donor's own response to the condition
  as a variance component (epiclock.deltas.mixed).
Both count donors, not arrays. Beside them, each contrast says how many CpGs the clock imputed on
each side, because imputation alone can move an age (epiclock.deltas.design.imputation_balance).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.deltas import adjusted
from epiclock.deltas.design import (PER_CONDITION_COLUMNS, PER_SAMPLE_COLUMNS, Contrast, Design, assign_cells,
                                    check_design, condition_labels,
                                    contrast_samples, describe, group_mask, imputation_balance, per_condition,
                                    per_sample, residual_age_acceleration)
from epiclock.deltas.mixed import mixed_model_contrast
from epiclock.deltas.paired import (MIN_DONORS_FOR_TEST, MIN_DONORS_FOR_WILCOXON, SIGNIFICANCE, benjamini_hochberg,
                                    donor_differences, paired_test, signed_rank_size, unit_differences)
from epiclock.errors import EpiclockError

__all__ = [
    "CONTRAST_COLUMNS", "PER_CONDITION_COLUMNS", "PER_SAMPLE_COLUMNS", "Contrast", "Design", "MIN_DONORS_FOR_TEST",
    "MIN_DONORS_FOR_WILCOXON", "SIGNIFICANCE", "assign_cells", "benjamini_hochberg",
    "check_contrasts", "check_design", "condition_labels", "contrast_table", "donor_differences",
    "imputation_balance", "mixed_model_contrast", "paired_test", "per_condition", "per_sample",
    "residual_age_acceleration", "signed_rank_size", "unit_differences",
]

# The contrast table's columns, in order; the report and the README read these names.
CONTRAST_COLUMNS = [
    "contrast", "clock", "estimate_years", "ci_low", "ci_high", "p_value", "q_value", "n_donors", "test",
    "p_wilcoxon", "sd_difference", "effect_size_dz", "treated_mean", "reference_mean", "note",
    "n_treated", "n_reference", "n_left_out_coverage", "treated_mean_imputed", "reference_mean_imputed",
    "imputation_flag", "mixed_estimate", "mixed_se", "mixed_ci_low", "mixed_ci_high", "mixed_df", "mixed_p",
    "mixed_q", "mixed_n_samples", "mixed_donor_response_sd", "mixed_model", "mixed_note",
]


def check_contrasts(contrasts: list[Contrast], sheet: pd.DataFrame, design: Design, source: str = "config") -> None:
    """Every factor and level named must exist, and each contrast must have donors in both groups."""
    names = [contrast.name for contrast in contrasts]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise EpiclockError(f"{source}: contrast names must be unique; repeated: {', '.join(duplicated)}")
    for contrast in contrasts:
        for role, levels in contrast.groups():
            if not levels:
                raise EpiclockError(f"{source}: contrast '{contrast.name}' {role} names no factor level")
            for factor, level in levels.items():
                if factor not in sheet.columns:
                    raise EpiclockError(f"{source}: contrast '{contrast.name}' {role} uses factor '{factor}', "
                                        f"which is not a sample-sheet column")
                known = sorted(sheet[factor].astype(str).unique())
                if level not in known:
                    raise EpiclockError(f"{source}: contrast '{contrast.name}' {role} asks for {factor}={level!r}; "
                                        f"the sample sheet has only: {', '.join(known)}")
            if not group_mask(sheet, levels).any():
                raise EpiclockError(f"{source}: contrast '{contrast.name}' {role} ({describe(levels)}) "
                                    "matches no sample of the sample sheet")
        assign_cells(sheet, contrast)
        donors = donor_differences(sheet.assign(dnam_age=0.0), contrast, design)
        if len(donors) == 0:
            raise EpiclockError(f"{source}: contrast '{contrast.name}' has no donors to compare: no "
                                f"{'/'.join(design.pair_by)} has samples in every group it compares")


def contrast_table(per_sample_table: pd.DataFrame, contrasts: list[Contrast], design: Design,
                   adjust_for: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per contrast and clock: the paired t-test on donor means (primary), the mixed model
    beside it, the imputation balance; q-values of each test are Benjamini-Hochberg over all rows.
    With ``adjust_for`` (columns of the table: cell fractions), both again adjusted for them
    (``adjusted.ADJUSTED_COLUMNS``, after the unadjusted columns)."""
    rows = []
    usable = {clock: contrast_samples(clock_table, design)
              for clock, clock_table in per_sample_table.groupby("clock", sort=True)}
    for contrast in contrasts:
        for clock, (table, left_out) in usable.items():
            donors = donor_differences(table, contrast, design)
            result = paired_test(donors["difference"].to_numpy(dtype=float))
            balance = imputation_balance(table, contrast, design)
            mixed = mixed_model_contrast(table, contrast, design)
            notes = [result.pop("note"), balance.pop("imputation_note")]
            if left_out:
                notes.append(f"{left_out} sample(s) left out: fewer than {design.contrast_min_coverage:.0%} of the "
                             "clock CpGs measured by the run's best sample")
            rows.append({
                "contrast": contrast.name, "clock": clock,
                "test": "paired t-test on donor means" if contrast.minus is None
                else "paired t-test on donor difference-of-differences",
                "treated_mean": float(donors["treated"].mean()) if len(donors) else np.nan,
                "reference_mean": float(donors["reference"].mean()) if len(donors) else np.nan,
                "n_treated": int(group_mask(table, contrast.treated).sum()),
                "n_reference": int(group_mask(table, contrast.reference).sum()),
                "n_left_out_coverage": left_out,
                "note": "; ".join(note for note in notes if note),
                **result, **balance, **mixed,
                **(adjusted.adjusted_contrast(table, contrast, design, list(adjust_for)) if adjust_for else {}),
            })
    columns = CONTRAST_COLUMNS + (adjusted.ADJUSTED_COLUMNS if adjust_for else [])
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=columns)
    table["q_value"] = benjamini_hochberg(table["p_value"].to_numpy(dtype=float))
    table["mixed_q"] = benjamini_hochberg(table["mixed_p"].to_numpy(dtype=float))
    if adjust_for:
        table["adjusted_q"] = benjamini_hochberg(table["adjusted_p"].to_numpy(dtype=float))
        table["adjusted_mixed_q"] = benjamini_hochberg(table["adjusted_mixed_p"].to_numpy(dtype=float))
    return table[columns]
