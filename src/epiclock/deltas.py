"""Age deltas and contrasts between conditions.

In vitro, every condition of a donor shares the donor's chronological age, so the informative
quantity is the within-donor difference between conditions. Replicates are averaged within donor
first (the donor is the unit of replication), then differences are tested across donors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from epiclock.errors import EpiclockError

CONTRAST_COLUMNS = [
    "contrast", "clock", "estimate_years", "ci_low", "ci_high", "p_value", "q_value", "n_pairs", "test",
    "p_wilcoxon", "sd_difference", "effect_size_dz", "treated_mean", "reference_mean", "note",
]
MIN_PAIRS_FOR_TEST = 3


@dataclass(frozen=True)
class Design:
    donor_column: str = "donor"
    donor_age_column: str = "donor_age"
    condition_column: str | None = "condition"
    factors: tuple[str, ...] = ("bone_marrow", "serum")
    pair_by: tuple[str, ...] = ("donor",)

    @classmethod
    def from_config(cls, design_config: dict) -> "Design":
        return cls(
            donor_column=design_config["donor_column"],
            donor_age_column=design_config["donor_age_column"],
            condition_column=design_config.get("condition_column") or None,
            factors=tuple(design_config["factors"]),
            pair_by=tuple(design_config.get("pair_by") or [design_config["donor_column"]]),
        )

    def required_columns(self) -> list[str]:
        columns = [self.donor_column, self.donor_age_column, *self.factors, *self.pair_by]
        if self.condition_column:
            columns.append(self.condition_column)
        return list(dict.fromkeys(columns))


@dataclass(frozen=True)
class Contrast:
    """treated vs reference, each a set of factor levels; ``minus`` makes it a difference of differences."""

    name: str
    treated: dict
    reference: dict
    minus: "Contrast | None" = None
    description: str = ""

    @classmethod
    def from_config(cls, entry: dict) -> "Contrast":
        minus = entry.get("minus")
        return cls(
            name=entry["name"],
            treated={key: str(value) for key, value in entry["treated"].items()},
            reference={key: str(value) for key, value in entry["reference"].items()},
            minus=cls.from_config({"name": f"{entry['name']} (subtracted)", **minus}) if minus else None,
            description=entry.get("description", ""),
        )

    def groups(self) -> list[tuple[str, dict]]:
        groups = [("treated", self.treated), ("reference", self.reference)]
        if self.minus is not None:
            groups += [(f"minus.{role}", levels) for role, levels in self.minus.groups()]
        return groups


def check_design(sheet: pd.DataFrame, design: Design, source: str = "sample sheet") -> None:
    missing = [column for column in design.required_columns() if column not in sheet.columns]
    if missing:
        raise EpiclockError(f"{source}: the design needs column(s) {', '.join(missing)}, "
                            f"which the sample sheet does not have (columns: {', '.join(sheet.columns)})")


def _group_mask(sheet: pd.DataFrame, levels: dict) -> pd.Series:
    mask = pd.Series(True, index=sheet.index)
    for factor, level in levels.items():
        mask &= sheet[factor].astype(str) == level
    return mask


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
            if not _group_mask(sheet, levels).any():
                raise EpiclockError(f"{source}: contrast '{contrast.name}' {role} ({_describe(levels)}) "
                                    "matches no sample of the sample sheet")
        pairs = _paired_differences(sheet.assign(dnam_age=0.0), contrast, design)
        if len(pairs) == 0:
            raise EpiclockError(f"{source}: contrast '{contrast.name}' has no pairs: no "
                                f"{'/'.join(design.pair_by)} has samples in every group it compares")


def _describe(levels: dict) -> str:
    return ", ".join(f"{factor}={level}" for factor, level in levels.items())


def condition_labels(sheet: pd.DataFrame, design: Design) -> pd.Series:
    if design.condition_column:
        return sheet[design.condition_column].astype(str)
    return sheet[list(design.factors)].astype(str).apply(
        lambda row: ", ".join(f"{factor}={value}" for factor, value in row.items()), axis=1)


def per_sample(predictions: pd.DataFrame, sheet: pd.DataFrame, design: Design) -> pd.DataFrame:
    """DNAm age per sample and clock, with the delta against the donor's chronological age."""
    check_design(sheet, design)
    annotated = sheet.assign(condition=condition_labels(sheet, design))
    keep = list(dict.fromkeys(["sample_id", "condition", *design.required_columns()]))
    table = predictions[["sample_id", "clock", "dnam_age", "status"]].merge(
        annotated[keep], on="sample_id", how="left", validate="many_to_one")
    table["delta_age"] = table["dnam_age"] - table[design.donor_age_column]
    leading = ["sample_id", "clock", "dnam_age", design.donor_age_column, "delta_age", "condition"]
    rest = [column for column in table.columns if column not in leading]
    return table[leading + rest]


def _mean_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, np.nan, np.nan
    half_width = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return mean, mean - half_width, mean + half_width


def per_condition(per_sample_table: pd.DataFrame, design: Design) -> pd.DataFrame:
    """Mean delta age per condition and clock; the 95% CI is over donor means (donors are the replicates)."""
    rows = []
    usable = per_sample_table.dropna(subset=["dnam_age"])
    for (clock, condition), group in usable.groupby(["clock", "condition"], sort=True):
        donor_means = group.groupby(design.donor_column)[["dnam_age", "delta_age"]].mean()
        mean_delta, ci_low, ci_high = _mean_ci(donor_means["delta_age"].to_numpy())
        rows.append({
            "clock": clock, "condition": condition, "n_samples": len(group), "n_donors": len(donor_means),
            "mean_dnam_age": float(donor_means["dnam_age"].mean()), "mean_delta_age": mean_delta,
            "ci_low": ci_low, "ci_high": ci_high,
        })
    return pd.DataFrame(rows, columns=["clock", "condition", "n_samples", "n_donors", "mean_dnam_age",
                                       "mean_delta_age", "ci_low", "ci_high"])


def _group_means(table: pd.DataFrame, levels: dict, pair_by: tuple[str, ...]) -> pd.Series:
    selected = table.loc[_group_mask(table, levels)].dropna(subset=["dnam_age"])
    return selected.groupby(list(pair_by))["dnam_age"].mean()


def _paired_differences(table: pd.DataFrame, contrast: Contrast, design: Design) -> pd.DataFrame:
    """Per pairing unit (donor): mean treated, mean reference and their difference (of differences)."""
    treated = _group_means(table, contrast.treated, design.pair_by)
    reference = _group_means(table, contrast.reference, design.pair_by)
    pairs = pd.concat({"treated": treated, "reference": reference}, axis=1).dropna()
    pairs["difference"] = pairs["treated"] - pairs["reference"]
    if contrast.minus is not None:
        subtracted = _paired_differences(table, contrast.minus, design)["difference"]
        pairs = pairs.join(subtracted.rename("subtracted"), how="inner")
        pairs["difference"] = pairs["difference"] - pairs["subtracted"]
    return pairs


def paired_test(differences: np.ndarray) -> dict:
    """Mean difference with t-based 95% CI, paired t and Wilcoxon signed-rank p-values."""
    n_pairs = len(differences)
    estimate, ci_low, ci_high = _mean_ci(differences)
    result = {"estimate_years": estimate, "ci_low": ci_low, "ci_high": ci_high, "p_value": np.nan,
              "p_wilcoxon": np.nan, "sd_difference": np.nan, "effect_size_dz": np.nan, "n_pairs": n_pairs,
              "note": ""}
    if n_pairs >= 2:
        sd = float(np.std(differences, ddof=1))
        result["sd_difference"] = sd
        result["effect_size_dz"] = estimate / sd if sd > 0 else np.nan
        result["p_value"] = float(stats.ttest_1samp(differences, 0.0).pvalue) if sd > 0 else np.nan
        if np.any(differences != 0):
            result["p_wilcoxon"] = float(stats.wilcoxon(differences).pvalue)
    if n_pairs < MIN_PAIRS_FOR_TEST:
        result["note"] = (f"only {n_pairs} pair(s): too few for a test to mean anything "
                          f"(at least {MIN_PAIRS_FOR_TEST} needed)")
    elif n_pairs < 6:
        result["note"] = (f"{n_pairs} pairs: the Wilcoxon test cannot reach p < 0.05 with fewer than 6; "
                          "read the paired t-test and the CI")
    return result


def contrast_table(per_sample_table: pd.DataFrame, contrasts: list[Contrast], design: Design) -> pd.DataFrame:
    """One row per contrast and clock; q-values are Benjamini-Hochberg over all rows."""
    rows = []
    for contrast in contrasts:
        for clock, table in per_sample_table.groupby("clock", sort=True):
            pairs = _paired_differences(table, contrast, design)
            result = paired_test(pairs["difference"].to_numpy(dtype=float))
            rows.append({
                "contrast": contrast.name, "clock": clock,
                "test": "paired t-test on donor means" if contrast.minus is None
                else "paired t-test on donor difference-of-differences",
                "treated_mean": float(pairs["treated"].mean()) if len(pairs) else np.nan,
                "reference_mean": float(pairs["reference"].mean()) if len(pairs) else np.nan,
                **result,
            })
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=CONTRAST_COLUMNS)
    table["q_value"] = benjamini_hochberg(table["p_value"].to_numpy(dtype=float))
    return table[CONTRAST_COLUMNS]


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """BH-adjusted q-values; missing p-values stay missing and do not count as tests."""
    q_values = np.full(len(p_values), np.nan)
    tested = ~np.isnan(p_values)
    if tested.any():
        q_values[tested] = stats.false_discovery_control(p_values[tested], method="bh")
    return q_values
