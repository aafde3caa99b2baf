"""The study design: donors, conditions, pairing columns, contrasts; per-sample and per-condition ages.

In vitro, every condition of a donor shares the donor's chronological age, so the informative
quantity is the within-donor difference between conditions. Residual age acceleration (the residual
of DNAm age on chronological age over the run's samples) is only computed when the donors' ages
spread enough to fit a line: in vitro studies often have a handful of donors, and a regression
through two or three nearby ages is noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from epiclock.errors import EpiclockError

# Residual age acceleration needs a line through the ages: at least this many distinct donor ages,
# spanning at least this many years (a decade is about the resolution of the clocks' errors).
RESIDUAL_MIN_DISTINCT_AGES = 3
RESIDUAL_MIN_AGE_SPAN_YEARS = 10.0
PER_CONDITION_COLUMNS = ["clock", "unit", "condition", "n_samples", "n_donors", "mean_dnam_age", "mean_delta_age",
                         "ci_low", "ci_high", "note"]
# The columns every per-sample table has, whatever the design calls the donor age.
PER_SAMPLE_COLUMNS = ["sample_id", "clock", "unit", "dnam_age", "delta_age", "age_acceleration_residual",
                      "age_acceleration_note", "condition"]
# The only unit a clock's output can be compared with a donor's age in; predictions without a unit
# column (simulated ages) are taken to be in it.
YEARS = "years"
# Imputation columns a prediction table carries (epiclock.clocks.PREDICTION_COLUMNS).
IMPUTATION_COLUMNS = ["n_cpgs", "n_cpgs_used", "n_cpgs_imputed"]


@dataclass(frozen=True)
class Design:
    """How the sample sheet describes the experiment; the defaults are config.schema.yaml's."""

    donor_column: str = "donor"
    donor_age_column: str = "donor_age"
    condition_column: str | None = "condition"
    factors: tuple[str, ...] = ("bone_marrow", "serum")
    pair_by: tuple[str, ...] = ("donor",)
    # Array batch (BeadChip): a technical nuisance, a variance component of the mixed model.
    chip_column: str | None = "chip"
    # The experimental unit a sample was cultured in (an organ-on-chip, a well), when a design has
    # one: a variance component of the mixed model, so replicate arrays of one culture count once.
    culture_unit_column: str | None = None
    # A sample enters contrasts only when it measures at least this share of the clock CpGs that the
    # run's best-measured sample measures (imputation alone must not make a shift).
    contrast_min_coverage: float = 0.95
    # A contrast is flagged when the mean number of imputed CpGs of its two sides differs by more
    # than this share of the clock's CpGs.
    max_imputed_difference: float = 0.02

    @classmethod
    def from_config(cls, design_config: dict) -> "Design":
        defaults = cls()
        return cls(
            donor_column=design_config["donor_column"],
            donor_age_column=design_config["donor_age_column"],
            condition_column=design_config.get("condition_column") or None,
            factors=tuple(design_config["factors"]),
            pair_by=tuple(design_config.get("pair_by") or [design_config["donor_column"]]),
            chip_column=design_config.get("chip_column", defaults.chip_column) or None,
            culture_unit_column=design_config.get("culture_unit_column") or None,
            contrast_min_coverage=float(design_config.get("contrast_min_coverage", defaults.contrast_min_coverage)),
            max_imputed_difference=float(design_config.get("max_imputed_difference",
                                                           defaults.max_imputed_difference)),
        )

    def matching_columns(self) -> list[str]:
        """Pairing columns besides the donor (time point, culture unit): differences are taken within them."""
        return [column for column in self.pair_by if column != self.donor_column]

    def pairing_columns(self) -> list[str]:
        """The donor first, then the columns matched within donor."""
        return [self.donor_column, *self.matching_columns()]

    def required_columns(self) -> list[str]:
        columns = [self.donor_column, self.donor_age_column, *self.factors, *self.pair_by]
        if self.condition_column:
            columns.append(self.condition_column)
        if self.culture_unit_column:
            columns.append(self.culture_unit_column)
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

    def cells(self) -> list[tuple[str, dict, float]]:
        """The distinct groups compared, each with its weight in the (difference of) differences.

        Treated counts +1 and reference -1; every ``minus`` flips the sign. Groups with identical
        levels are one cell, their weights added.
        """
        merged: dict[tuple, list] = {}
        for role, levels in self.groups():
            sign = (1.0 if role.endswith("treated") else -1.0) * (-1.0) ** role.count("minus.")
            key = tuple(sorted(levels.items()))
            if key in merged:
                merged[key][2] += sign
            else:
                merged[key] = [role, levels, sign]
        return [tuple(cell) for cell in merged.values()]


def check_design(sheet: pd.DataFrame, design: Design, source: str = "sample sheet") -> None:
    missing = [column for column in design.required_columns() if column not in sheet.columns]
    if missing:
        raise EpiclockError(f"{source}: the design needs column(s) {', '.join(missing)}, "
                            f"which the sample sheet does not have (columns: {', '.join(sheet.columns)}); add it to "
                            "the sheet or name the right column in the config's design section")


def group_mask(sheet: pd.DataFrame, levels: dict) -> pd.Series:
    mask = np.ones(len(sheet), dtype=bool)
    for factor, level in levels.items():
        mask &= sheet[factor].astype(str).to_numpy() == level
    return pd.Series(mask, index=sheet.index)


def describe(levels: dict) -> str:
    return ", ".join(f"{factor}={level}" for factor, level in levels.items())


def assign_cells(table: pd.DataFrame, contrast: Contrast) -> pd.Series:
    """Index into ``contrast.cells()`` per row, -1 outside the contrast; a row in two cells is an error."""
    assignment = np.full(len(table), -1)
    cells = contrast.cells()
    for index, (role, levels, _) in enumerate(cells):
        mask = group_mask(table, levels).to_numpy()
        clash = mask & (assignment >= 0)
        if clash.any():
            other_role, other_levels, _ = cells[int(assignment[clash][0])]
            first = int(np.flatnonzero(clash)[0])
            sample = table["sample_id"].iloc[first] if "sample_id" in table.columns else table.index[first]
            raise EpiclockError(f"contrast '{contrast.name}': sample {sample} is in both {other_role} "
                                f"({describe(other_levels)}) and {role} ({describe(levels)}); "
                                "the groups a contrast compares must not overlap")
        assignment[mask] = index
    return pd.Series(assignment, index=table.index)


def condition_labels(sheet: pd.DataFrame, design: Design) -> pd.Series:
    if design.condition_column:
        return sheet[design.condition_column].astype(str)
    return sheet[list(design.factors)].astype(str).apply(
        lambda row: ", ".join(f"{factor}={value}" for factor, value in row.items()), axis=1)


def not_in_years_note(unit: str) -> str:
    """Why a clock gets no delta against donor age or age acceleration."""
    return (f"not computed: the clock reads {unit}, not years; a difference to the donor's age (years) "
            f"would mix units")


def per_sample(predictions: pd.DataFrame, sheet: pd.DataFrame, design: Design) -> pd.DataFrame:
    """DNAm age per sample and clock, with the delta against the donor's chronological age and,
    where the donor ages allow it, the residual age acceleration; both only for clocks whose unit
    is years (the predictions' ``unit`` column; years where there is none). The clocks' imputation
    counts come along when the predictions have them (contrasts compare them between their sides)."""
    check_design(sheet, design)
    annotated = sheet.assign(condition=condition_labels(sheet, design))
    optional = [design.chip_column] if design.chip_column in sheet.columns else []
    keep = list(dict.fromkeys(["sample_id", "condition", *design.required_columns(), *optional]))
    imputation = [column for column in IMPUTATION_COLUMNS if column in predictions.columns]
    table = predictions[["sample_id", "clock", "dnam_age", "status", *imputation]].merge(
        annotated[keep], on="sample_id", how="left", validate="many_to_one")
    table.insert(2, "unit", predictions["unit"].to_numpy() if "unit" in predictions.columns else YEARS)
    in_years = (table["unit"] == YEARS).to_numpy()
    table["delta_age"] = np.where(in_years, table["dnam_age"] - table[design.donor_age_column], np.nan)
    table["age_acceleration_residual"] = np.nan
    table["age_acceleration_note"] = ""
    for (_, unit), rows in table.groupby(["clock", "unit"], sort=False):
        if unit != YEARS:
            table.loc[rows.index, "age_acceleration_note"] = not_in_years_note(unit)
            continue
        residuals, note = residual_age_acceleration(rows["dnam_age"], rows[design.donor_age_column])
        table.loc[rows.index, "age_acceleration_residual"] = residuals
        table.loc[rows.index, "age_acceleration_note"] = note
    table.loc[table["dnam_age"].isna(), "age_acceleration_note"] = "no DNAm age"
    leading = ["sample_id", "clock", "unit", "dnam_age", design.donor_age_column, "delta_age",
               "age_acceleration_residual", "age_acceleration_note", "condition"]
    rest = [column for column in table.columns if column not in leading]
    return table[leading + rest]


def residual_age_acceleration(dnam_age: pd.Series, donor_age: pd.Series) -> tuple[pd.Series, str]:
    """Residuals of the least-squares line DNAm age ~ donor age over the samples with both ages.

    Returns the residuals (NA where not computed) and, when they are not computed, why. The line
    is fitted over all samples of the run, all conditions included, so a condition effect shifts
    the line a little: within-donor contrasts are the answer to condition questions, not this.
    """
    usable = dnam_age.notna() & donor_age.notna()
    ages = donor_age[usable].astype(float)
    distinct = int(ages.nunique())
    span = float(ages.max() - ages.min()) if distinct else 0.0
    if distinct < RESIDUAL_MIN_DISTINCT_AGES or span < RESIDUAL_MIN_AGE_SPAN_YEARS:
        note = (f"not computed: {distinct} distinct donor age(s) spanning {span:.0f} years; a residual on "
                f"donor age needs at least {RESIDUAL_MIN_DISTINCT_AGES} ages spanning at least "
                f"{RESIDUAL_MIN_AGE_SPAN_YEARS:.0f} years")
        return pd.Series(np.nan, index=dnam_age.index), note
    fit = stats.linregress(ages.to_numpy(), dnam_age[usable].to_numpy(dtype=float))
    residuals = pd.Series(np.nan, index=dnam_age.index)
    residuals[usable] = dnam_age[usable] - (fit.intercept + fit.slope * ages)
    return residuals, ""


def mean_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, np.nan, np.nan
    half_width = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return mean, mean - half_width, mean + half_width


def per_condition(per_sample_table: pd.DataFrame, design: Design) -> pd.DataFrame:
    """Mean DNAm age and delta age per condition and clock; the 95% CI of the delta is over donor means
    (donors are the replicates). A clock not in years has its mean output only, and a note."""
    rows = []
    usable = per_sample_table.dropna(subset=["dnam_age"])
    for (clock, unit, condition), group in usable.groupby(["clock", "unit", "condition"], sort=True):
        donor_means = group.groupby(design.donor_column)[["dnam_age", "delta_age"]].mean()
        mean_delta, ci_low, ci_high = mean_ci(donor_means["delta_age"].to_numpy())
        rows.append({
            "clock": clock, "unit": unit, "condition": condition, "n_samples": len(group),
            "n_donors": len(donor_means), "mean_dnam_age": float(donor_means["dnam_age"].mean()),
            "mean_delta_age": mean_delta, "ci_low": ci_low, "ci_high": ci_high,
            "note": "" if unit == YEARS else not_in_years_note(unit),
        })
    return pd.DataFrame(rows, columns=PER_CONDITION_COLUMNS)


def contrast_samples(clock_table: pd.DataFrame, design: Design) -> tuple[pd.DataFrame, int]:
    """The samples of one clock that contrasts may use: an age, and enough of the clock's CpGs measured.

    Coverage is counted against the run's best-measured sample, not against the clock: CpGs the
    array does not carry are imputed alike in every sample and cancel in a within-donor difference,
    while CpGs a poor array lost are imputed in that sample only. Returns the samples kept and how
    many samples with an age were left out for their coverage.
    """
    aged = clock_table.dropna(subset=["dnam_age"])
    if "n_cpgs_used" not in aged.columns or aged.empty:
        return aged, 0
    best = aged["n_cpgs_used"].max()
    enough = aged["n_cpgs_used"] >= design.contrast_min_coverage * best if best > 0 else pd.Series(True, aged.index)
    return aged.loc[enough], int((~enough).sum())


def imputation_balance(clock_table: pd.DataFrame, contrast: Contrast, design: Design) -> dict:
    """Mean imputed CpGs on the treated (+) and reference (-) side of a contrast, and a note when
    they differ by more than ``design.max_imputed_difference`` of the clock's CpGs."""
    result = {"treated_mean_imputed": np.nan, "reference_mean_imputed": np.nan, "imputation_flag": False,
              "imputation_note": ""}
    if "n_cpgs_imputed" not in clock_table.columns or clock_table.empty:
        return result
    assignment = assign_cells(clock_table, contrast)
    weights = np.array([weight for _, _, weight in contrast.cells()])
    side = pd.Series(0.0, index=clock_table.index)
    inside = assignment >= 0
    side[inside] = weights[assignment[inside].to_numpy()]
    imputed = clock_table["n_cpgs_imputed"].astype(float)
    treated, reference = imputed[side > 0].mean(), imputed[side < 0].mean()
    result.update(treated_mean_imputed=float(treated), reference_mean_imputed=float(reference))
    n_cpgs = float(clock_table["n_cpgs"].max()) if "n_cpgs" in clock_table.columns else np.nan
    allowed = design.max_imputed_difference * n_cpgs
    if np.isfinite(treated) and np.isfinite(reference) and abs(treated - reference) > allowed:
        result["imputation_flag"] = True
        result["imputation_note"] = (f"imputation differs between the sides: {treated:.1f} vs {reference:.1f} "
                                     f"CpGs imputed on average (more than {design.max_imputed_difference:.0%} of "
                                     f"{n_cpgs:.0f}); part of the shift may be imputation")
    return result
