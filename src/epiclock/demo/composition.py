"""Cell composition planted into a simulated study: tissue as a mixture of cell types.

Each simulated sample is a mixture of the cell types of a vendored reference (by default EpiDISH's
epithelial / fibroblast / immune skin reference). A donor has its own baseline mix; a condition
can shift the fibroblast fraction (the difference going to or coming from the epithelial fraction),
by an amount that varies between donors; replicate models vary a little around their donor's mix.

The mix moves the betas two ways:
- at the reference's CpGs, the betas are the mixture of the reference profiles plus measurement
  noise, so an estimator can recover the planted fractions;
- at every other CpG (clock CpGs included) each cell type deviates from the tissue average by a
  fixed per-CpG amount (the same in every simulated study; the baseline mix of these deviations
  is zero), so a change of mix moves each CpG by sum_c (f_c - baseline_c) * deviation_c, and each clock
  by what its coefficients make of that. This is how a change of mix moves a clock without any
  ageing: through the cell types' profiles, not along the clock's own coefficients.

The planted fractions are written beside the study (composition_truth.tsv); the clock readings
after the mix changed are what the truth table's ``true_dnam_age`` holds, with the part due to
composition in ``composition_artefact_years``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from epiclock.clocks import registry
from epiclock.composition import references
from epiclock.errors import EpiclockError

# Fractions and cell-type deviations come from generators of their own (seeded by the study's
# seed and this number), so that every other draw of a seed is what it was without composition.
COMPOSITION_SEED = 20_261_201
FIBROBLAST, EPITHELIAL = "Fib", "Epi"


@dataclass
class CompositionParameters:
    """The planted cell mix; ``reference`` is a vendored reference with Epi and Fib columns."""

    reference: str = "epidish_epi_fib_ic"
    baseline: dict[str, float] = field(default_factory=lambda: {"Epi": 0.55, "Fib": 0.40, "IC": 0.05})
    donor_sd: float = 0.04             # between-donor SD of the fibroblast fraction
    replicate_sd: float = 0.02         # between-replicate SD of the fibroblast fraction
    # Condition -> mean change of the fibroblast fraction against the baseline (to or from Epi).
    fibroblast_shift: dict[str, float] = field(default_factory=dict)
    shift_donor_cv: float = 0.5        # donors respond differently: SD of the shift / its mean
    deviation_sd: float = 0.1          # SD (beta scale) of a cell type's deviation at a non-reference CpG
    measurement_sd: float = 0.02       # noise at the reference's CpGs

    def validate(self, conditions) -> None:
        profile = references.load(self.reference)
        if {FIBROBLAST, EPITHELIAL} - set(profile.columns):
            raise EpiclockError(f"simulate: composition reference {self.reference} has no {FIBROBLAST} and "
                                f"{EPITHELIAL} columns (it has {', '.join(profile.columns)})")
        if set(self.baseline) != set(profile.columns) or abs(sum(self.baseline.values()) - 1) > 1e-9:
            raise EpiclockError(f"simulate: composition baseline must give every cell type of {self.reference} "
                                f"({', '.join(profile.columns)}) a fraction, summing to 1")
        unknown = set(self.fibroblast_shift) - set(conditions)
        if unknown:
            raise EpiclockError(f"simulate: unknown conditions in fibroblast_shift: {', '.join(sorted(unknown))}")


def planted_fractions(samples: pd.DataFrame, parameters: CompositionParameters, seed: int) -> pd.DataFrame:
    """Fractions per sample (rows in sheet order, cell types as columns), each in [0, 1], summing to 1."""
    rng = np.random.default_rng([seed, COMPOSITION_SEED, 1])
    cell_types = list(references.load(parameters.reference).columns)
    donors, donor_index = np.unique(samples["donor"].to_numpy(), return_inverse=True)
    conditions = samples["condition"].to_numpy()
    donor_level = rng.normal(0, parameters.donor_sd, len(donors))
    response = 1 + rng.normal(0, parameters.shift_donor_cv, len(donors))
    shift = np.array([parameters.fibroblast_shift.get(condition, 0.0) for condition in conditions])
    fibroblast = (parameters.baseline[FIBROBLAST] + donor_level[donor_index] + shift * response[donor_index]
                  + rng.normal(0, parameters.replicate_sd, len(samples)))
    others = [cell for cell in cell_types if cell not in (FIBROBLAST, EPITHELIAL)]
    fixed = sum(parameters.baseline[cell] for cell in others)
    fibroblast = np.clip(fibroblast, 0.0, 1.0 - fixed)
    fractions = pd.DataFrame({cell: parameters.baseline[cell] for cell in others}, index=samples["sample_id"].to_numpy())
    fractions[FIBROBLAST] = fibroblast
    fractions[EPITHELIAL] = 1.0 - fixed - fibroblast
    fractions.index.name = "sample_id"
    return fractions[cell_types]


def cell_type_deviations(cpg_ids: pd.Index, parameters: CompositionParameters) -> pd.DataFrame:
    """Per CpG and cell type, the deviation from the tissue average; the baseline mix of them is 0.

    A property of the cell types, not of a study: the same in every simulated study (drawn per CpG
    from a generator seeded by the CpG's name), so a CpG deviates the same way in any matrix."""
    cell_types = list(references.load(parameters.reference).columns)
    raw = np.vstack([np.random.default_rng([COMPOSITION_SEED, zlib.crc32(cpg.encode())]).standard_normal(len(cell_types))
                     for cpg in cpg_ids]).reshape(len(cpg_ids), len(cell_types)) * parameters.deviation_sd
    weights = np.array([parameters.baseline[cell] for cell in cell_types])
    return pd.DataFrame(raw - (raw @ weights)[:, None], index=cpg_ids, columns=cell_types)


def plant(betas: pd.DataFrame, samples: pd.DataFrame, parameters: CompositionParameters, seed: int,
          floor: float, ceiling: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's betas (CpG x sample) with the mix planted, and the planted fractions."""
    fractions = planted_fractions(samples, parameters, seed)
    profile = references.load(parameters.reference)
    mix = fractions.loc[betas.columns].to_numpy()
    weights = np.array([parameters.baseline[cell] for cell in profile.columns])
    deviations = cell_type_deviations(betas.index, parameters).to_numpy()
    moved = betas.to_numpy() + deviations @ (mix - weights).T
    # Missing stays missing (a failed array); the rest stays inside the beta range.
    moved = np.where(np.isnan(betas.to_numpy()), np.nan, np.clip(moved, floor, ceiling))
    rng = np.random.default_rng([seed, COMPOSITION_SEED, 3])
    mixed = profile.to_numpy() @ mix.T + rng.normal(0, parameters.measurement_sd, (len(profile), mix.shape[0]))
    marker_rows = pd.DataFrame(np.clip(mixed, floor, ceiling), index=profile.index, columns=betas.columns)
    kept = betas.index.difference(profile.index)
    combined = pd.concat([pd.DataFrame(moved, index=betas.index, columns=betas.columns).loc[kept], marker_rows])
    combined = combined.sort_index()
    combined.index.name = betas.index.name
    return combined, fractions


def clock_readings(betas: pd.DataFrame, clock_names: list[str]) -> pd.DataFrame:
    """What each simulated (linear) clock reads from ``betas``: samples x clocks."""
    readings = {}
    for name in clock_names:
        model = registry.get(name).model
        values = betas.reindex(model.feature_names_in_).to_numpy(dtype=float).T
        readings[name] = model.predict_array(values)
    return pd.DataFrame(readings, index=betas.columns)
