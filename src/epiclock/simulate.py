"""Simulated studies with known truth, shaped like the skin / bone-marrow serum co-culture study.

Skin models from several donors of known age are cultured alone, with bone marrow (BM), and with
BM plus serum from young or old donors, in replicates spread over 8-sample chips. Each sample has a
true DNAm age per clock (donor age + a donor-specific model offset + the planted condition effect +
biological and technical noise); betas start from a real per-CpG reference profile with sample-level
variation and are then corrected, with the smallest change that stays inside (0, 1), so that every
shipped clock reads exactly its true age. ``truth.tsv`` records those ages and the planted effects.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from epiclock import clocks
from epiclock.errors import EpiclockError
from epiclock.io import atomic_path, write_tsv

# (condition, bone_marrow, serum) of the co-culture design.
CONDITIONS = (
    ("skin_alone", "no", "none"),
    ("skin_bm", "yes", "none"),
    ("skin_bm_young_serum", "yes", "young"),
    ("skin_bm_old_serum", "yes", "old"),
)
SAMPLES_PER_CHIP = 8
BETA_FLOOR, BETA_CEILING = 0.005, 0.995


@dataclass
class StudyParameters:
    """Everything that shapes a simulated study; the defaults are the demo study."""

    donors: int = 6
    replicates: int = 3
    seed: int = 1
    # Planted effects on DNAm age in years, per condition, against skin alone.
    condition_effects: dict[str, float] = field(default_factory=lambda: {
        "skin_alone": 0.0, "skin_bm": 0.0, "skin_bm_young_serum": -2.0, "skin_bm_old_serum": 0.0,
    })
    donor_age_range: tuple[float, float] = (22.0, 75.0)
    donor_offset_sd: float = 3.0       # skin models read older or younger than their donor
    replicate_sd: float = 0.5          # biological variation between replicate models, all clocks
    clock_noise_sd: float = 0.3        # clock-specific technical noise per sample
    chip_sd: float = 0.3               # chip (batch) effect, all clocks
    clock_offsets: dict[str, float] = field(default_factory=lambda: {"horvath2013": 2.0})
    background_cpgs: int = 5000
    failed_samples: int = 1            # arrays with a poor call rate, for QC to catch
    failed_missing_fraction: float = 0.3

    def validate(self) -> None:
        if self.donors < 3:
            raise EpiclockError(f"simulate: at least 3 donors are needed for paired statistics (got {self.donors})")
        if self.replicates < 1:
            raise EpiclockError(f"simulate: replicates must be at least 1 (got {self.replicates})")
        unknown = set(self.condition_effects) - {name for name, _, _ in CONDITIONS}
        if unknown:
            raise EpiclockError(f"simulate: unknown conditions in condition_effects: {', '.join(sorted(unknown))}")
        if not 0 <= self.failed_samples < self.donors * self.replicates * len(CONDITIONS):
            raise EpiclockError(f"simulate: failed_samples must leave some good samples (got {self.failed_samples})")


@dataclass
class SimulatedStudy:
    samples: pd.DataFrame   # the sample sheet
    betas: pd.DataFrame     # CpG x sample
    truth: pd.DataFrame     # sample_id, clock, true_dnam_age, condition, planted_effect_years, simulated_failure


def design_samples(parameters: StudyParameters, rng: np.random.Generator) -> pd.DataFrame:
    """The sample sheet: donors x conditions x replicates, laid out on 8-sample chips."""
    low, high = parameters.donor_age_range
    donor_ages = np.round(np.sort(rng.uniform(low, high, parameters.donors)), 0)
    rows = []
    for donor_index, donor_age in enumerate(donor_ages):
        donor = f"D{donor_index + 1:02d}"
        for condition, bone_marrow, serum in CONDITIONS:
            for replicate in range(1, parameters.replicates + 1):
                rows.append({
                    "sample_id": f"{donor}_{condition}_r{replicate}",
                    "donor": donor, "donor_age": float(donor_age), "condition": condition,
                    "bone_marrow": bone_marrow, "serum": serum, "replicate": str(replicate),
                })
    samples = pd.DataFrame(rows)
    # Chips are filled in run order, shuffled, as a lab would load them.
    order = rng.permutation(len(samples))
    chip_number = np.empty(len(samples), dtype=int)
    chip_number[order] = np.arange(len(samples)) // SAMPLES_PER_CHIP
    position = np.empty(len(samples), dtype=int)
    position[order] = np.arange(len(samples)) % SAMPLES_PER_CHIP
    samples["chip"] = [f"2070000000{number + 1:02d}" for number in chip_number]
    samples["position"] = [f"R{p + 1:02d}C01" for p in position]
    return samples


def true_ages(samples: pd.DataFrame, parameters: StudyParameters, clock_names: list[str],
              rng: np.random.Generator) -> pd.DataFrame:
    donors = samples["donor"].unique()
    donor_offset = dict(zip(donors, rng.normal(0, parameters.donor_offset_sd, len(donors))))
    chips = samples["chip"].unique()
    chip_effect = dict(zip(chips, rng.normal(0, parameters.chip_sd, len(chips))))
    effect = samples["condition"].map(lambda c: parameters.condition_effects.get(c, 0.0)).to_numpy()
    biological = (samples["donor_age"].to_numpy() + samples["donor"].map(donor_offset).to_numpy()
                  + effect + rng.normal(0, parameters.replicate_sd, len(samples)))
    technical = samples["chip"].map(chip_effect).to_numpy()
    frames = []
    for name in clock_names:
        reading = (biological + technical + parameters.clock_offsets.get(name, 0.0)
                   + rng.normal(0, parameters.clock_noise_sd, len(samples)))
        frames.append(pd.DataFrame({
            "sample_id": samples["sample_id"].to_numpy(), "clock": name, "true_dnam_age": reading,
            "condition": samples["condition"].to_numpy(), "planted_effect_years": effect,
        }))
    return pd.concat(frames, ignore_index=True)


def _logit(p):
    return np.log(p / (1 - p))


def _expit(x):
    return 1 / (1 + np.exp(-x))


def baseline_betas(cpg_ids: pd.Index, samples: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Reference medians with donor- and sample-level variation on the M-value scale (bimodal stays bimodal)."""
    reference = clocks.reference_medians().reindex(cpg_ids).to_numpy()
    base = _logit(np.clip(reference, 0.02, 0.98))
    donors, donor_index = np.unique(samples["donor"].to_numpy(), return_inverse=True)
    donor_shift = rng.normal(0, 0.25, (len(cpg_ids), len(donors)))
    sample_shift = rng.normal(0, 0.15, (len(cpg_ids), len(samples)))
    return _expit(base[:, None] + donor_shift[:, donor_index] + sample_shift)


def correct_to_targets(betas: np.ndarray, weights: np.ndarray, targets: np.ndarray,
                       max_iterations: int = 50, tolerance: float = 1e-10) -> np.ndarray:
    """Smallest change to one sample's betas such that ``weights @ betas == targets``, within bounds.

    A minimum-norm step along the clocks' coefficient directions; coordinates pushed to a bound are
    fixed there and the rest re-solved, until the clocks read their targets.
    """
    values = betas.copy()
    free = np.ones(len(values), dtype=bool)
    for _ in range(max_iterations):
        residual = targets - weights @ values
        if np.max(np.abs(residual)) < tolerance:
            return values
        free_weights = weights[:, free]
        step = free_weights.T @ np.linalg.solve(free_weights @ free_weights.T, residual)
        values[free] += step
        clipped = (values < BETA_FLOOR) | (values > BETA_CEILING)
        values = np.clip(values, BETA_FLOOR, BETA_CEILING)
        free &= ~clipped
        if free.sum() < weights.shape[0]:
            break
    residual = targets - weights @ values
    if np.max(np.abs(residual)) >= 1e-8:
        raise EpiclockError("simulate: could not place the clock ages inside the beta range; "
                            "the requested ages are too extreme for these clocks")
    return values


def simulate_study(parameters: StudyParameters | None = None) -> SimulatedStudy:
    parameters = parameters or StudyParameters()
    parameters.validate()
    rng = np.random.default_rng(parameters.seed)
    clock_names = clocks.available()
    shipped = [clocks.get(name) for name in clock_names]

    samples = design_samples(parameters, rng)
    truth = true_ages(samples, parameters, clock_names, rng)

    clock_cpgs = sorted(set().union(*(clock.cpg_ids for clock in shipped)))
    reference = clocks.reference_medians()
    candidates = reference.index.difference(clock_cpgs)
    candidates = candidates[candidates.str.startswith("cg")]
    background = rng.choice(candidates.to_numpy(), size=min(parameters.background_cpgs, len(candidates)), replace=False)
    cpg_ids = pd.Index(sorted(set(clock_cpgs) | set(background)), name="cpg_id")
    values = baseline_betas(cpg_ids, samples, rng)

    # Clock CpGs are corrected so that every clock reads its true age exactly.
    clock_rows = cpg_ids.get_indexer(clock_cpgs)
    weights = np.vstack([
        pd.Series(clock.model.coef_, index=clock.cpg_ids).reindex(clock_cpgs, fill_value=0.0).to_numpy()
        for clock in shipped
    ])
    intercepts = np.array([clock.model.intercept_ for clock in shipped])
    readings = truth.pivot(index="sample_id", columns="clock", values="true_dnam_age").loc[samples["sample_id"], clock_names]
    inverse_transforms = [clocks.TRANSFORMS[clock.model.transform][1] for clock in shipped]
    for column, sample_id in enumerate(samples["sample_id"]):
        targets = np.array([inverse(readings.at[sample_id, name]) for inverse, name in zip(inverse_transforms, clock_names)])
        values[clock_rows, column] = correct_to_targets(values[clock_rows, column], weights, targets - intercepts)

    betas = pd.DataFrame(values, index=cpg_ids, columns=samples["sample_id"].to_numpy())
    failed = rng.choice(samples["sample_id"].to_numpy(), size=parameters.failed_samples, replace=False)
    for sample_id in failed:
        lost = rng.random(len(cpg_ids)) < parameters.failed_missing_fraction
        betas.loc[lost, sample_id] = np.nan
    truth["simulated_failure"] = truth["sample_id"].isin(failed)
    return SimulatedStudy(samples=samples, betas=betas, truth=truth)


def write_study(study: SimulatedStudy, out_dir: str | Path) -> dict[str, Path]:
    """Write samples.tsv, betas.tsv.gz (CpG rows x sample columns) and truth.tsv."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in ("samples.tsv", "betas.tsv.gz", "truth.tsv")}
    write_tsv(study.samples, paths["samples.tsv"])
    write_tsv(study.truth, paths["truth.tsv"])
    with atomic_path(paths["betas.tsv.gz"]) as temporary:
        # No name and mtime 0 in the gzip header keep the file byte-identical for the same seed.
        with open(temporary, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
            handle.write(study.betas.to_csv(sep="\t", float_format="%.8f", na_rep="NA").encode())
    return paths
