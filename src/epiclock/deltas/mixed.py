"""The contrast from a linear mixed model on the sample-level ages of one clock.

Model, fitted by REML (epiclock.deltas.reml):

    age = cell mean + donor + matched block (time point...)            fixed
          + each donor's own response along the contrast                random, the donor x condition term
          + each donor's deviations in the other directions of the cells compared (3 or more cells)
          + matched unit (donor x time point...) + culture unit + chip  random intercepts
          + residual

The donor enters as a fixed intercept: the contrast is within donor, so nothing is lost, and no
assumption is made about how the donors' ages are spread. The donor x condition term gives each
donor its own response, so replicate arrays of one donor are not independent evidence about the
condition. Its variance is estimated without the zero bound (SAS's NOBOUND): when the donors'
mean differences vary less than their replicates predict, the estimate goes below zero instead of
stopping at zero, which would switch the standard error to the replicates and the test to many
more degrees of freedom than there are donors. In a balanced design the estimate, standard error
and degrees of freedom are then exactly the paired t-test's. Inference uses Kenward and Roger's
small-sample standard error and degrees of freedom (epiclock.deltas.reml), which count donors,
not arrays, for a contrast within donor. The chip (the array batch) and a culture unit are
variance components of their own: technical and experimental units are kept apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg, stats

from epiclock.deltas import reml
from epiclock.deltas.design import Contrast, Design, assign_cells

MIN_DONORS_FOR_MODEL = 3

RESULT_COLUMNS = ["mixed_estimate", "mixed_se", "mixed_ci_low", "mixed_ci_high", "mixed_df", "mixed_p",
                  "mixed_n_samples", "mixed_donor_response_sd", "mixed_model", "mixed_note"]


def _indicators(labels: np.ndarray) -> np.ndarray:
    codes, uniques = pd.factorize(labels)
    matrix = np.zeros((len(labels), len(uniques)))
    matrix[np.arange(len(labels)), codes] = 1.0
    return matrix


def _fixed_effects(cell: np.ndarray, n_cells: int, donors: np.ndarray, blocks: list[np.ndarray]) -> np.ndarray:
    """Cell means (no intercept), then treatment-coded donors and matched blocks."""
    cells = np.zeros((len(cell), n_cells))
    cells[np.arange(len(cell)), cell] = 1.0
    coded = [_indicators(labels)[:, 1:] for labels in (donors, *blocks)]
    return np.hstack([cells, *coded])


def _other_directions(weights: np.ndarray) -> np.ndarray:
    """Orthonormal basis (cells x k) of the within-donor directions orthogonal to the contrast."""
    n_cells = len(weights)
    spanned = np.column_stack([np.ones(n_cells), weights])
    return linalg.null_space(spanned.T)


def mixed_model_contrast(table: pd.DataFrame, contrast: Contrast, design: Design,
                         covariates: tuple[str, ...] = ()) -> dict:
    """Estimate, SE, 95% CI, df and p of the contrast for one clock's samples (those with an age).

    ``covariates``: columns of ``table`` (cell fractions) entered as fixed effects beside the cell
    means, so the contrast compares the groups at equal values of them (deltas.adjusted)."""
    result = {column: np.nan for column in RESULT_COLUMNS}
    result.update(mixed_model="", mixed_note="")
    assignment = assign_cells(table, contrast)
    usable = (assignment >= 0) & table["dnam_age"].notna()
    rows = table.loc[usable]
    cell = assignment[usable].to_numpy()
    weights = np.array([weight for _, _, weight in contrast.cells()])
    result["mixed_n_samples"] = len(rows)
    donors = rows[design.donor_column].astype(str).to_numpy()
    donor_codes, donor_names = pd.factorize(donors)
    samples_per_donor_cell = np.zeros((len(donor_names), len(weights)), dtype=int)
    np.add.at(samples_per_donor_cell, (donor_codes, cell), 1)
    complete = donor_names[(samples_per_donor_cell[:, weights != 0] > 0).all(axis=1)]
    if len(complete) < MIN_DONORS_FOR_MODEL:
        result["mixed_note"] = (f"not fitted: {len(complete)} donor(s) with samples in every compared group "
                                f"(at least {MIN_DONORS_FOR_MODEL} needed)")
        return result

    matching = design.matching_columns()
    blocks = [rows[column].astype(str).to_numpy() for column in matching]
    fixed = _fixed_effects(cell, len(weights), donors, blocks)
    if covariates:
        fixed = np.hstack([fixed, rows[list(covariates)].to_numpy(dtype=float)])
    if np.linalg.matrix_rank(fixed) < fixed.shape[1] or fixed.shape[1] >= len(rows):
        result["mixed_note"] = ("not fitted: the fixed effects are confounded (a pairing column separates the "
                                "compared groups) or there are no more samples than fixed effects")
        return result

    notes: list[str] = []
    components: dict[str, np.ndarray] = {}
    donor_matrix = _indicators(donors)
    replicated = samples_per_donor_cell.max() > 1
    other = _other_directions(weights)
    if replicated or other.shape[1]:
        # Each donor's response along the contrast, scaled so that its variance is that of a donor's
        # contrast. With one sample per donor and group it is still told apart from the residual when
        # there are other directions among the groups (the residual spans those too).
        components["donor x condition"] = donor_matrix * (weights[cell] / (weights @ weights))[:, None]
    else:
        notes.append("one sample per donor and group: each donor's own response is in the residual")
    if replicated and other.shape[1]:
        components["donor x other groups"] = np.hstack(
            [donor_matrix * other[cell, index][:, None] for index in range(other.shape[1])])
    if matching:
        units = pd.MultiIndex.from_arrays([donors, *blocks]).to_flat_index().to_numpy()
        components["matched unit"] = _indicators(units)
    for name, column in (("culture unit", design.culture_unit_column), ("chip", design.chip_column)):
        component, note = _intercept_component(rows, column, name, design, replicated)
        if note:
            notes.append(note)
        if component is not None:
            components[name] = component

    fit = reml.fit(rows["dnam_age"].to_numpy(dtype=float), fixed, list(components.values()),
                   may_be_negative=[name == "donor x condition" for name in components])
    if not fit.converged:
        notes.append(f"REML did not converge ({fit.message})")
    variances = dict(zip(components, fit.variances))
    for name, variance in variances.items():
        if name == "donor x condition" and variance < 0:
            notes.append("donor x condition variance estimated below zero (the donors' responses vary less than "
                         "their replicates predict); kept, so that the test stays the paired one")
        elif variance <= reml.BOUNDARY_RATIO * fit.residual_variance:
            notes.append(f"{name} variance estimated at zero")
    if "donor x condition" in variances:
        result["mixed_donor_response_sd"] = float(np.sqrt(max(variances["donor x condition"], 0.0)))

    vector = np.zeros(fixed.shape[1])
    vector[:len(weights)] = weights
    estimate = float(vector @ fit.fixed)
    standard_error, degrees, method = fit.contrast_inference(vector)
    half_width = stats.t.ppf(0.975, degrees) * standard_error
    result.update(mixed_estimate=estimate, mixed_se=standard_error, mixed_df=float(degrees),
                  mixed_ci_low=estimate - half_width, mixed_ci_high=estimate + half_width,
                  mixed_p=float(2 * stats.t.sf(abs(estimate) / standard_error, degrees)) if standard_error > 0 else np.nan)
    result["mixed_model"] = _describe_model(design, components, covariates) + f"; {method} df"
    result["mixed_note"] = "; ".join(notes)
    return result


def _intercept_component(rows: pd.DataFrame, column: str | None, name: str, design: Design,
                         replicated: bool) -> tuple[np.ndarray | None, str]:
    """A random intercept per level of ``column``, or None and why not (silent when switched off).

    With one sample per donor and group, the residual has only as many degrees of freedom as the
    donors give, and a variance estimated beside it from the same few makes the test liberal
    (bench/calibration.py: 7-9% false positives at 6-8 donors); such designs leave it out.
    """
    if not column:
        return None, ""
    if not replicated:
        return None, f"one sample per donor and group: {name} not modelled"
    if column not in rows.columns:
        return None, f"no {name} column '{column}' in the sample sheet: {name} not modelled"
    if column in design.pair_by:
        return None, f"'{column}' is a pairing column: matched within, not a variance component"
    labels = rows[column].astype(str).to_numpy()
    counts = pd.Series(labels).value_counts()
    if len(counts) < 2:
        return None, f"all samples in one {name}: {name} not modelled"
    if counts.max() < 2:
        return None, f"one sample per {name}: {name} variation is in the residual"
    return _indicators(labels), ""


def _describe_model(design: Design, components: dict[str, np.ndarray], covariates: tuple[str, ...] = ()) -> str:
    fixed = " + ".join(["group", design.donor_column, *design.matching_columns(), *covariates])
    names = {"donor x condition": f"({design.donor_column} x group)",
             "donor x other groups": f"({design.donor_column} x other groups)",
             "matched unit": f"(1|{':'.join(design.pairing_columns())})",
             "culture unit": f"(1|{design.culture_unit_column})", "chip": f"(1|{design.chip_column})"}
    random = " + ".join(names[name] for name in components)
    return f"REML: dnam_age ~ {fixed}" + (f" + {random}" if random else "")
