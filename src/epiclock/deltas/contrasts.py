"""Age deltas and contrasts between conditions.

In vitro, every condition of a donor shares the donor's chronological age, so the informative
quantity is the within-donor difference between conditions. The primary test averages replicates
within donor first (the donor is the unit of replication) and tests the differences across donors.
Beside it, a linear mixed model on the sample-level ages (donor random intercept, chip variance
component) uses every replicate and absorbs chip effects; both are reported, neither replaces the other.

Residual age acceleration (the residual of DNAm age on chronological age over the run's samples) is
only computed when the donors' ages spread enough to fit a line: in vitro studies often have a
handful of donors, and a regression through two or three nearby ages is noise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams, VCSpec

from epiclock.errors import EpiclockError

CONTRAST_COLUMNS = [
    "contrast", "clock", "estimate_years", "ci_low", "ci_high", "p_value", "q_value", "n_pairs", "test",
    "p_wilcoxon", "sd_difference", "effect_size_dz", "treated_mean", "reference_mean", "note",
    "n_treated", "n_reference", "mixed_estimate", "mixed_se", "mixed_ci_low", "mixed_ci_high", "mixed_df",
    "mixed_p", "mixed_q", "mixed_n_samples", "mixed_model", "mixed_note",
]
MIN_PAIRS_FOR_TEST = 3
# Residual age acceleration needs a line through the ages: at least this many distinct donor ages,
# spanning at least this many years (a decade is about the resolution of the clocks' errors).
RESIDUAL_MIN_DISTINCT_AGES = 3
RESIDUAL_MIN_AGE_SPAN_YEARS = 10.0
# The chip variance component is kept only when it raises the REML log-likelihood by more than this;
# otherwise its estimate sits at the boundary (zero) and the donor-only model is the same fit.
CHIP_LIKELIHOOD_GAIN = 1e-6
CHIP_START_RATIO = 0.1


@dataclass(frozen=True)
class Design:
    donor_column: str = "donor"
    donor_age_column: str = "donor_age"
    condition_column: str | None = "condition"
    factors: tuple[str, ...] = ("bone_marrow", "serum")
    pair_by: tuple[str, ...] = ("donor",)
    # Optional: modelled as a random variance component when present and varying.
    chip_column: str | None = "chip"

    @classmethod
    def from_config(cls, design_config: dict) -> "Design":
        return cls(
            donor_column=design_config["donor_column"],
            donor_age_column=design_config["donor_age_column"],
            condition_column=design_config.get("condition_column") or None,
            factors=tuple(design_config["factors"]),
            pair_by=tuple(design_config.get("pair_by") or [design_config["donor_column"]]),
            chip_column=design_config.get("chip_column", "chip") or None,
        )

    def blocking_columns(self) -> list[str]:
        """Pairing columns besides the donor (time point, chip...): fixed blocks in the mixed model."""
        return [column for column in self.pair_by if column != self.donor_column]

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
        assign_cells(sheet, contrast)
        pairs = _paired_differences(sheet.assign(dnam_age=0.0), contrast, design)
        if len(pairs) == 0:
            raise EpiclockError(f"{source}: contrast '{contrast.name}' has no pairs: no "
                                f"{'/'.join(design.pair_by)} has samples in every group it compares")


def _describe(levels: dict) -> str:
    return ", ".join(f"{factor}={level}" for factor, level in levels.items())


def assign_cells(table: pd.DataFrame, contrast: Contrast) -> pd.Series:
    """Index into ``contrast.cells()`` per row, -1 outside the contrast; a row in two cells is an error."""
    assignment = pd.Series(-1, index=table.index)
    cells = contrast.cells()
    for index, (role, levels, _) in enumerate(cells):
        mask = _group_mask(table, levels)
        clash = mask & (assignment >= 0)
        if clash.any():
            other_role, other_levels, _ = cells[int(assignment[clash].iloc[0])]
            sample = table.loc[clash].iloc[0].get("sample_id", clash[clash].index[0])
            raise EpiclockError(f"contrast '{contrast.name}': sample {sample} is in both {other_role} "
                                f"({_describe(other_levels)}) and {role} ({_describe(levels)}); "
                                "the groups a contrast compares must not overlap")
        assignment[mask] = index
    return assignment


def condition_labels(sheet: pd.DataFrame, design: Design) -> pd.Series:
    if design.condition_column:
        return sheet[design.condition_column].astype(str)
    return sheet[list(design.factors)].astype(str).apply(
        lambda row: ", ".join(f"{factor}={value}" for factor, value in row.items()), axis=1)


def per_sample(predictions: pd.DataFrame, sheet: pd.DataFrame, design: Design) -> pd.DataFrame:
    """DNAm age per sample and clock, with the delta against the donor's chronological age and,
    where the donor ages allow it, the residual age acceleration."""
    check_design(sheet, design)
    annotated = sheet.assign(condition=condition_labels(sheet, design))
    optional = [design.chip_column] if design.chip_column in sheet.columns else []
    keep = list(dict.fromkeys(["sample_id", "condition", *design.required_columns(), *optional]))
    table = predictions[["sample_id", "clock", "dnam_age", "status"]].merge(
        annotated[keep], on="sample_id", how="left", validate="many_to_one")
    table["delta_age"] = table["dnam_age"] - table[design.donor_age_column]
    table["age_acceleration_residual"] = np.nan
    table["age_acceleration_note"] = ""
    for _, rows in table.groupby("clock", sort=False):
        residuals, note = residual_age_acceleration(rows["dnam_age"], rows[design.donor_age_column])
        table.loc[rows.index, "age_acceleration_residual"] = residuals
        table.loc[rows.index, "age_acceleration_note"] = note
    table.loc[table["dnam_age"].isna(), "age_acceleration_note"] = "no DNAm age"
    leading = ["sample_id", "clock", "dnam_age", design.donor_age_column, "delta_age",
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


def _mixed_frame(table: pd.DataFrame, contrast: Contrast, design: Design) -> tuple[pd.DataFrame, list[float]]:
    """Sample-level rows of the contrast's cells (age, cell index, donor, blocks, chip) and the cell weights."""
    assignment = assign_cells(table, contrast)
    usable = (assignment >= 0) & table["dnam_age"].notna()
    frame = pd.DataFrame({
        "age": table.loc[usable, "dnam_age"].astype(float),
        "cell": assignment[usable],
        "donor": table.loc[usable, design.donor_column].astype(str),
    })
    for index, column in enumerate(design.blocking_columns()):
        frame[f"block{index}"] = table.loc[usable, column].astype(str)
    if design.chip_column and design.chip_column in table.columns:
        frame["chip"] = table.loc[usable, design.chip_column].astype(str)
    return frame.reset_index(drop=True), [weight for _, _, weight in contrast.cells()]


def _fixed_effects(frame: pd.DataFrame, n_cells: int) -> pd.DataFrame:
    """One indicator per cell (cell means, no intercept), then treatment-coded blocks."""
    cells = pd.DataFrame({f"cell{index}": (frame["cell"] == index).astype(float) for index in range(n_cells)})
    blocks = [pd.get_dummies(frame[column], prefix=column, drop_first=True, dtype=float)
              for column in frame.columns if column.startswith("block")]
    return pd.concat([cells, *blocks], axis=1)


def _fit_reml(model, **fit_options):
    """REML fit; the warnings raised on the way are returned, not printed, so they reach the table."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.fit(reml=True, **fit_options)
    return result, list(dict.fromkeys(str(warning.message) for warning in caught))


def _fit_problems(result, messages: list[str], model_name: str) -> list[str]:
    """Short statements of what went wrong in a fit; silence only when nothing did."""
    problems = []
    if not result.converged:
        problems.append(f"{model_name} did not converge")
    for message in messages:
        lowered = message.lower()
        if "retrying" in lowered or ("failed to converge" in lowered and result.converged):
            continue  # the optimiser switched method and then converged: not a problem of the estimate
        if "hessian" in lowered:
            problems.append(f"{model_name}: Hessian not positive definite, standard errors unreliable")
        elif "boundary" in lowered:
            # statsmodels warns when any variance is below 0.01; say which, and how small.
            small = [f"{name} variance {value:.2g}" for name, value in _variances(result).items() if value < 0.01]
            problems.append(f"{model_name}: near the boundary ({', '.join(small) or 'a variance near zero'})")
        else:
            problems.append(f"{model_name}: {message.splitlines()[0]}")
    return list(dict.fromkeys(problems))


def _variances(result) -> dict[str, float]:
    """Estimated variance of each random effect of a fit, by name."""
    variances = {}
    if np.ravel(result.cov_re).size:
        variances["donor"] = float(np.ravel(result.cov_re)[0])
    if result.model.k_vc:
        variances.update(zip(result.model.exog_vc.names, map(float, result.vcomp)))
    return variances


def mixed_model_contrast(table: pd.DataFrame, contrast: Contrast, design: Design) -> dict:
    """The contrast from a linear mixed model on sample-level DNAm ages of one clock.

    Model: age ~ 0 + cell (+ fixed blocks for pairing columns besides the donor), a random
    intercept per donor and, when the samples span several chips, a crossed random chip effect.
    The estimate is the weighted sum of cell means given by the contrast (for ``minus`` contrasts,
    the interaction). Fitted by REML with statsmodels; inference uses a t distribution with the
    between-within degrees of freedom (samples - fixed effects - (donors - 1)), because with a
    handful of donors the normal approximation of the Wald test is too liberal.
    """
    frame, weights = _mixed_frame(table, contrast, design)
    result = {"mixed_estimate": np.nan, "mixed_se": np.nan, "mixed_ci_low": np.nan, "mixed_ci_high": np.nan,
              "mixed_df": np.nan, "mixed_p": np.nan, "mixed_n_samples": len(frame), "mixed_model": "",
              "mixed_note": ""}
    n_donors = frame["donor"].nunique()
    if n_donors < MIN_PAIRS_FOR_TEST:
        result["mixed_note"] = (f"not fitted: {n_donors} donor(s) with samples in the compared groups "
                                f"(at least {MIN_PAIRS_FOR_TEST} needed)")
        return result
    fixed = _fixed_effects(frame, len(weights))
    rank = np.linalg.matrix_rank(fixed.to_numpy())
    if rank < fixed.shape[1] or (fixed.iloc[:, :len(weights)].sum() == 0).any():
        result["mixed_note"] = ("not fitted: a compared group has no sample with an age, or the fixed effects "
                                "are confounded (a pairing column separates the compared groups)")
        return result
    notes = []

    donor_model = MixedLM(frame["age"], fixed, groups=frame["donor"])
    try:
        fitted, messages = _fit_reml(donor_model)
    except (np.linalg.LinAlgError, ValueError) as error:
        result["mixed_note"] = f"not fitted: {error}"
        return result
    notes += _fit_problems(fitted, messages, "donor model")
    chip_used = False
    model_chip, chip_note = _chip_decision(frame, design)
    if chip_note:
        notes.append(chip_note)
    if model_chip:
        fitted, chip_used, chip_notes = _fit_with_chip(frame, fixed, fitted)
        notes += chip_notes

    # Fixed effects come first among the parameters; the cells first among the fixed effects.
    contrast_vector = np.zeros(len(fitted.params))
    contrast_vector[:len(weights)] = weights
    covariance = np.asarray(fitted.cov_params())
    estimate = float(contrast_vector @ np.asarray(fitted.params))
    standard_error = float(np.sqrt(contrast_vector @ covariance @ contrast_vector))
    degrees = len(frame) - rank - (n_donors - 1)
    result.update(mixed_estimate=estimate, mixed_se=standard_error, mixed_df=float(degrees))
    if degrees >= 1 and np.isfinite(standard_error) and standard_error > 0:
        half_width = stats.t.ppf(0.975, degrees) * standard_error
        result.update(mixed_ci_low=estimate - half_width, mixed_ci_high=estimate + half_width,
                      mixed_p=float(2 * stats.t.sf(abs(estimate) / standard_error, degrees)))
    else:
        notes.append(f"no test: {degrees} residual degree(s) of freedom, standard error {standard_error:.3g}")
    random_terms = f"(1|{design.donor_column})" + (f" + (1|{design.chip_column})" if chip_used else "")
    fixed_terms = " + ".join(["group", *design.blocking_columns()])
    result["mixed_model"] = f"REML: dnam_age ~ {fixed_terms} + {random_terms}"
    result["mixed_note"] = "; ".join(notes)
    return result


def _chip_decision(frame: pd.DataFrame, design: Design) -> tuple[bool, str]:
    """Whether the chip goes into the mixed model as a variance component, and a note when it does not."""
    if not design.chip_column:
        return False, ""  # switched off in the design: nothing to report
    if "chip" not in frame.columns:
        return False, f"no chip column '{design.chip_column}' in the sample sheet: chip not modelled"
    if design.chip_column in design.pair_by:
        return False, f"'{design.chip_column}' is a pairing column: a fixed block, not a variance component"
    if frame["chip"].nunique() < 2:
        return False, "all samples on one chip: chip not modelled"
    return True, ""


def _fit_with_chip(frame: pd.DataFrame, fixed: pd.DataFrame, donor_fit) -> tuple[object, bool, list[str]]:
    """Donor and chip as crossed variance components, started from the donor-only fit.

    Crossed effects in statsmodels need one group spanning all rows with both effects as variance
    components; started from the default point the optimiser often stops far from the optimum when
    the donor variance is large (donors decades apart), so the donor-only estimates seed it.
    Returns the fit to use, whether it includes the chip, and notes.
    """
    indicators = {name: pd.get_dummies(frame[name], dtype=float) for name in ("donor", "chip")}
    components = VCSpec(list(indicators), [[list(matrix.columns)] for matrix in indicators.values()],
                        [[matrix.to_numpy()] for matrix in indicators.values()])
    model = MixedLM(frame["age"], fixed, groups=np.zeros(len(frame)), exog_vc=components)
    donor_ratio = float(np.ravel(donor_fit.cov_re)[0]) / donor_fit.scale
    start_ratios = {"donor": max(donor_ratio, 1e-4), "chip": CHIP_START_RATIO}
    start = MixedLMParams.from_components(
        fe_params=np.asarray(donor_fit.fe_params), cov_re=np.zeros((0, 0)),
        vcomp=np.array([start_ratios[name] for name in model.exog_vc.names]))
    try:
        crossed, messages = _fit_reml(model, start_params=start, method=["lbfgs", "bfgs", "nm"])
    except (np.linalg.LinAlgError, ValueError) as error:
        return donor_fit, False, [f"model with chip failed ({error}): chip left out"]
    if not crossed.converged:
        return donor_fit, False, ["model with chip did not converge: chip left out"]
    chip_variance = _variances(crossed)["chip"]
    if crossed.llf <= donor_fit.llf + CHIP_LIKELIHOOD_GAIN or chip_variance <= 1e-6 * crossed.scale:
        return donor_fit, False, ["chip variance estimated at zero: chip left out"]
    return crossed, True, _fit_problems(crossed, messages, "model with chip")


def contrast_table(per_sample_table: pd.DataFrame, contrasts: list[Contrast], design: Design) -> pd.DataFrame:
    """One row per contrast and clock: the paired t-test on donor means (primary), the mixed model
    beside it; q-values of each are Benjamini-Hochberg over all rows."""
    rows = []
    for contrast in contrasts:
        for clock, table in per_sample_table.groupby("clock", sort=True):
            pairs = _paired_differences(table, contrast, design)
            result = paired_test(pairs["difference"].to_numpy(dtype=float))
            aged = table.dropna(subset=["dnam_age"])
            rows.append({
                "contrast": contrast.name, "clock": clock,
                "test": "paired t-test on donor means" if contrast.minus is None
                else "paired t-test on donor difference-of-differences",
                "treated_mean": float(pairs["treated"].mean()) if len(pairs) else np.nan,
                "reference_mean": float(pairs["reference"].mean()) if len(pairs) else np.nan,
                "n_treated": int(_group_mask(aged, contrast.treated).sum()),
                "n_reference": int(_group_mask(aged, contrast.reference).sum()),
                **result,
                **mixed_model_contrast(table, contrast, design),
            })
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=CONTRAST_COLUMNS)
    table["q_value"] = benjamini_hochberg(table["p_value"].to_numpy(dtype=float))
    table["mixed_q"] = benjamini_hochberg(table["mixed_p"].to_numpy(dtype=float))
    return table[CONTRAST_COLUMNS]


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """BH-adjusted q-values; missing p-values stay missing and do not count as tests."""
    q_values = np.full(len(p_values), np.nan)
    tested = ~np.isnan(p_values)
    if tested.any():
        q_values[tested] = stats.false_discovery_control(p_values[tested], method="bh")
    return q_values
