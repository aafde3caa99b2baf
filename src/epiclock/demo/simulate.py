"""Simulated studies with known truth, shaped like the skin / bone-marrow serum co-culture study.

Skin models from several donors of known age are cultured alone, with young or old donor serum,
with bone marrow (BM), and with BM plus young or old serum, in replicates spread over 8-sample chips.
The serum-without-BM conditions make the study's key claim testable as an interaction: the effect
of young vs old serum with BM minus the same effect without BM. Each sample has a
true DNAm age per clock: donor age + a donor-specific model offset + the planted condition effect +
the donor's own response to the condition (donors respond differently; the planted effect is their
mean) + drift over culture time points + biological, chip and clock-specific noise (clocks disagree
by a year or two per sample, as on real arrays). Betas start from a real per-CpG reference profile
with sample-level variation and a genome-wide component of each condition (effects are not confined
to the clocks' coefficient directions), and are then corrected, with the smallest change that stays
inside (0, 1), so that every shipped clock reads exactly its true age. ``truth.tsv`` records those
ages and the planted effects.
Each donor has a sex (F or M, both present), written to the sample sheet's ``sex`` column; the
simulated arrays (epiclock.demo.simulate_arrays) give their chrX and chrY probes the matching copy number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from epiclock.clocks import registry
from epiclock.demo import composition as demo_composition
from epiclock.clocks import data as clocks_data
from epiclock.clocks import model as clocks_model
from epiclock.errors import EpiclockError
from epiclock.io.tables import write_beta_matrix, write_tsv

# (condition, bone_marrow, serum) of the co-culture design.
CONDITIONS = (
    ("skin_alone", "no", "none"),
    ("skin_young_serum", "no", "young"),
    ("skin_old_serum", "no", "old"),
    ("skin_bm", "yes", "none"),
    ("skin_bm_young_serum", "yes", "young"),
    ("skin_bm_old_serum", "yes", "old"),
)
SAMPLES_PER_CHIP = 8
# The demo's composition shift: fibroblast fraction change with bone marrow (small: 6 percentage points).
DEMO_FIBROBLAST_SHIFT = -0.06
BETA_FLOOR, BETA_CEILING = 0.005, 0.995
# Sexes come from a generator of their own (seeded by the study's seed and this number), so that
# every other draw of a seed (ages, chips, betas) is what it was before donors had a sex; so do the
# donors' own responses, culture drift and the genome-wide condition effects.
SEX_SEED = 20_250_801
RESPONSE_SEED = 20_261_201
BASELINE_CONDITION = "skin_alone"


@dataclass
class StudyParameters:
    """Everything that shapes a simulated study; the defaults are the demo study."""

    donors: int = 6
    replicates: int = 3
    seed: int = 1
    # Planted effects on DNAm age in years, per condition, against skin alone.
    condition_effects: dict[str, float] = field(default_factory=lambda: {
        "skin_alone": 0.0, "skin_young_serum": 0.0, "skin_old_serum": 0.0,
        "skin_bm": 0.0, "skin_bm_young_serum": -2.0, "skin_bm_old_serum": 0.0,
    })
    donor_age_range: tuple[float, float] = (22.0, 75.0)
    donor_offset_sd: float = 3.0       # skin models read older or younger than their donor
    # Each donor's own response to each condition but skin alone (years, all clocks): real donors
    # respond differently, so the planted effect is the mean response over donors.
    donor_response_sd: float = 0.7
    replicate_sd: float = 0.5          # biological variation between replicate models, all clocks
    clock_noise_sd: float = 1.0        # clock-specific noise per sample: clocks disagree, as on real arrays
    chip_sd: float = 0.3               # chip (batch) effect, all clocks
    # Culture time points per donor (sample-sheet column 'time' when more than one), every condition
    # and replicate sampled at each; ageing in culture between time points, common to all donors,
    # and each donor's own drift at each time point, shared by its conditions.
    time_points: int = 1
    drift_per_time_point: float = 0.5
    drift_sd: float = 0.5
    # A condition also changes CpGs outside the clocks: per condition but skin alone, every CpG
    # (except the tissue age signal a trained clock reads) moves by a draw of this SD (M-value scale).
    genome_wide_effect_sd: float = 0.05
    clock_offsets: dict[str, float] = field(default_factory=lambda: {"horvath2013": 2.0})
    background_cpgs: int = 5000
    age_signal_cpgs: int = 100         # CpGs carrying a tissue age signal (see age_signal); 0: none
    failed_samples: int = 1            # arrays with a poor call rate, for QC to catch
    failed_missing_fraction: float = 0.3
    # Tissue as a mix of cell types, optionally shifted by condition (epiclock.demo.composition); None: no mix.
    composition: demo_composition.CompositionParameters | None = None

    def validate(self) -> None:
        if self.donors < 3:
            raise EpiclockError(f"simulate: at least 3 donors are needed for paired statistics (got {self.donors})")
        if self.replicates < 1:
            raise EpiclockError(f"simulate: replicates must be at least 1 (got {self.replicates})")
        if self.time_points < 1:
            raise EpiclockError(f"simulate: time_points must be at least 1 (got {self.time_points})")
        unknown = set(self.condition_effects) - {name for name, _, _ in CONDITIONS}
        if unknown:
            raise EpiclockError(f"simulate: unknown conditions in condition_effects: {', '.join(sorted(unknown))}")
        if not 0 <= self.failed_samples < self.donors * self.replicates * len(CONDITIONS):
            raise EpiclockError(f"simulate: failed_samples must leave some good samples (got {self.failed_samples})")
        if self.composition is not None:
            self.composition.validate([name for name, _, _ in CONDITIONS])


@dataclass
class SimulatedStudy:
    samples: pd.DataFrame   # the sample sheet
    betas: pd.DataFrame     # CpG x sample
    truth: pd.DataFrame     # sample_id, clock, true_dnam_age, condition, planted_effect_years, simulated_failure
    fractions: pd.DataFrame | None = None   # planted cell-type fractions (sample x cell type), if a mix was planted


def donor_sexes(n_donors: int, seed: int) -> list[str]:
    """F or M per donor: as even a mix as the count allows (so both sexes from two donors on), in an
    order fixed by ``seed``."""
    rng = np.random.default_rng([seed, SEX_SEED])
    return [str(sex) for sex in rng.permutation(np.resize(["F", "M"], n_donors))]


def design_samples(parameters: StudyParameters, rng: np.random.Generator) -> pd.DataFrame:
    """The sample sheet: donors x conditions x replicates, laid out on 8-sample chips, with each donor's sex."""
    low, high = parameters.donor_age_range
    donor_ages = np.round(np.sort(rng.uniform(low, high, parameters.donors)), 0)
    donors = [f"D{donor_index + 1:02d}" for donor_index in range(parameters.donors)]
    sex_of_donor = dict(zip(donors, donor_sexes(parameters.donors, parameters.seed)))
    rows = []
    timed = parameters.time_points > 1
    for donor, donor_age in zip(donors, donor_ages):
        for condition, bone_marrow, serum in CONDITIONS:
            for time_point in range(1, parameters.time_points + 1):
                for replicate in range(1, parameters.replicates + 1):
                    rows.append({
                        "sample_id": f"{donor}_{condition}" + (f"_t{time_point}" if timed else "") + f"_r{replicate}",
                        "donor": donor, "donor_age": float(donor_age), "condition": condition,
                        "bone_marrow": bone_marrow, "serum": serum, "replicate": str(replicate),
                        **({"time": f"t{time_point}"} if timed else {}),
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
    # Last, so that sheets written before donors had a sex keep their column order.
    samples["sex"] = samples["donor"].map(sex_of_donor)
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
    biological += donor_responses(samples, parameters) + culture_drift(samples, parameters)
    technical = samples["chip"].map(chip_effect).to_numpy()
    frames = []
    for name in clock_names:
        reading = (biological + technical + parameters.clock_offsets.get(name, 0.0)
                   + rng.normal(0, parameters.clock_noise_sd, len(samples)))
        frames.append(pd.DataFrame({
            "sample_id": samples["sample_id"].to_numpy(), "clock": name, "true_dnam_age": reading,
            "condition": samples["condition"].to_numpy(), "planted_effect_years": effect,
            "tissue_age": biological + technical,
        }))
    return pd.concat(frames, ignore_index=True)


def donor_responses(samples: pd.DataFrame, parameters: StudyParameters) -> np.ndarray:
    """Each donor's own response to each condition but skin alone (mean 0), per sample."""
    rng = np.random.default_rng([parameters.seed, RESPONSE_SEED, 1])
    donors = sorted(samples["donor"].unique())
    conditions = [name for name, _, _ in CONDITIONS if name != BASELINE_CONDITION]
    draws = rng.normal(0, parameters.donor_response_sd, (len(donors), len(conditions)))
    draws = np.column_stack([draws, np.zeros(len(donors))])
    row = pd.Index(donors).get_indexer(samples["donor"])
    column = pd.Index([*conditions, BASELINE_CONDITION]).get_indexer(samples["condition"])
    return draws[row, column]


def culture_drift(samples: pd.DataFrame, parameters: StudyParameters) -> np.ndarray:
    """Ageing in culture: a common step per time point plus each donor's own drift at each time point."""
    if "time" not in samples.columns:
        return np.zeros(len(samples))
    rng = np.random.default_rng([parameters.seed, RESPONSE_SEED, 2])
    units = pd.MultiIndex.from_frame(samples[["donor", "time"]]).unique().sort_values()
    own = pd.Series(rng.normal(0, parameters.drift_sd, len(units)), index=units)
    step = samples["time"].str.lstrip("t").astype(int).to_numpy() - 1
    return step * parameters.drift_per_time_point + own.reindex(pd.MultiIndex.from_frame(samples[["donor", "time"]])).to_numpy()


def genome_wide_effects(cpg_ids: pd.Index, samples: pd.DataFrame, parameters: StudyParameters) -> np.ndarray:
    """M-value shifts (CpGs x samples) of each sample's condition, zero for skin alone."""
    rng = np.random.default_rng([parameters.seed, RESPONSE_SEED, 3])
    conditions = [name for name, _, _ in CONDITIONS if name != BASELINE_CONDITION]
    shifts = pd.DataFrame(rng.normal(0, parameters.genome_wide_effect_sd, (len(cpg_ids), len(conditions))),
                          columns=conditions).assign(**{BASELINE_CONDITION: 0.0})
    return shifts[samples["condition"].to_list()].to_numpy()


def _logit(p):
    return np.log(p / (1 - p))


def _expit(x):
    return 1 / (1 + np.exp(-x))


def baseline_betas(cpg_ids: pd.Index, samples: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Reference medians with donor- and sample-level variation on the M-value scale (bimodal stays bimodal)."""
    # A CpG absent from the 450k reference (an EPIC-only probe of a panel clock) starts at 0.5.
    reference = clocks_data.reference_medians().reindex(cpg_ids).fillna(0.5).to_numpy()
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
    # Only clocks whose reading is linear in the betas can be planted exactly (clocks.yaml says which).
    clock_names = registry.for_simulation()
    shipped = [registry.get(name) for name in clock_names]

    samples = design_samples(parameters, rng)
    truth = true_ages(samples, parameters, clock_names, rng)

    clock_cpgs = sorted(set().union(*(clock.cpg_ids for clock in shipped)))
    reference = clocks_data.reference_medians()
    candidates = reference.index.difference(clock_cpgs)
    candidates = candidates[candidates.str.startswith("cg")]
    background = rng.choice(candidates.to_numpy(), size=min(parameters.background_cpgs, len(candidates)), replace=False)
    signal = age_signal(parameters.age_signal_cpgs) if parameters.age_signal_cpgs else pd.Series(dtype=float)
    # The demo runs the in-vitro panel too: its CpG probes are measured (at their baseline, not
    # planted); like the background, cg probes only (a clock's few ch. probes are imputed).
    panel_cpgs = {cpg for name in registry.panel(DEMO_PANEL) for cpg in registry.get(name).cpg_ids if cpg.startswith("cg")}
    cpg_ids = pd.Index(sorted(set(clock_cpgs) | set(background) | set(signal.index) | panel_cpgs), name="cpg_id")
    values = baseline_betas(cpg_ids, samples, rng)
    # The conditions' genome-wide component, before the clocks' correction (which moves clock CpGs
    # only along the clocks' own directions); the tissue age signal is left to track age alone.
    shifted = ~cpg_ids.isin(signal.index)
    values[shifted] = _expit(_logit(values[shifted]) + genome_wide_effects(cpg_ids, samples, parameters)[shifted])
    # The tissue age signal follows each sample's age, as a custom clock trained on a cohort expects.
    tissue_age = truth.drop_duplicates("sample_id").set_index("sample_id").loc[samples["sample_id"], "tissue_age"]
    signal_rows = cpg_ids.get_indexer(signal.index)
    values[signal_rows] = _expit(_logit(values[signal_rows]) + signal.to_numpy()[:, None]
                                 * (tissue_age.to_numpy() - AGE_SIGNAL_CENTRE)[None, :])

    # Clock CpGs are corrected so that every clock reads its true age exactly.
    clock_rows = cpg_ids.get_indexer(clock_cpgs)
    weights = np.vstack([
        pd.Series(clock.model.coef_, index=clock.cpg_ids).reindex(clock_cpgs, fill_value=0.0).to_numpy()
        for clock in shipped
    ])
    intercepts = np.array([clock.model.intercept_ for clock in shipped])
    readings = truth.pivot(index="sample_id", columns="clock", values="true_dnam_age").loc[samples["sample_id"], clock_names]
    inverse_transforms = [clocks_model.TRANSFORMS[clock.model.transform][1] for clock in shipped]
    for column, sample_id in enumerate(samples["sample_id"]):
        targets = np.array([inverse(readings.at[sample_id, name]) for inverse, name in zip(inverse_transforms, clock_names)])
        values[clock_rows, column] = correct_to_targets(values[clock_rows, column], weights, targets - intercepts)

    betas = pd.DataFrame(values, index=cpg_ids, columns=samples["sample_id"].to_numpy())
    fractions = None
    if parameters.composition is not None:
        betas, fractions, truth = _plant_composition(betas, samples, truth, parameters, clock_names)
    failed = rng.choice(samples["sample_id"].to_numpy(), size=parameters.failed_samples, replace=False)
    for sample_id in failed:
        lost = rng.random(len(betas.index)) < parameters.failed_missing_fraction
        betas.loc[lost, sample_id] = np.nan
    truth["simulated_failure"] = truth["sample_id"].isin(failed)
    return SimulatedStudy(samples=samples, betas=betas, truth=truth, fractions=fractions)


def bone_marrow_composition(fibroblast_shift: float = DEMO_FIBROBLAST_SHIFT) -> demo_composition.CompositionParameters:
    """The demo's cell mix: the fibroblast fraction changes by ``fibroblast_shift`` in every condition
    with bone marrow (the epithelial fraction takes up the difference)."""
    return demo_composition.CompositionParameters(
        fibroblast_shift={name: fibroblast_shift for name, bone_marrow, _ in CONDITIONS if bone_marrow == "yes"})


def _plant_composition(betas: pd.DataFrame, samples: pd.DataFrame, truth: pd.DataFrame,
                       parameters: StudyParameters, clock_names: list[str]):
    """The cell mix planted into the betas; the truth's ages become what the clocks now read, the
    change recorded as ``composition_artefact_years`` (ageing stays in ``planted_effect_years``)."""
    before = demo_composition.clock_readings(betas, clock_names)
    betas, fractions = demo_composition.plant(betas, samples, parameters.composition, parameters.seed,
                                              BETA_FLOOR, BETA_CEILING)
    artefact = (demo_composition.clock_readings(betas, clock_names) - before).stack()
    keys = pd.MultiIndex.from_frame(truth[["sample_id", "clock"]])
    truth = truth.assign(composition_artefact_years=artefact.reindex(keys).to_numpy())
    truth["true_dnam_age"] = truth["true_dnam_age"] + truth["composition_artefact_years"]
    return betas, fractions, truth


def write_study(study: SimulatedStudy, out_dir: str | Path) -> dict[str, Path]:
    """Write samples.tsv, betas.tsv.gz (CpG rows x sample columns) and truth.tsv."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in ("samples.tsv", "betas.tsv.gz", "truth.tsv")}
    write_tsv(study.samples, paths["samples.tsv"])
    write_tsv(study.truth, paths["truth.tsv"])
    write_beta_matrix(study.betas, paths["betas.tsv.gz"])
    if study.fractions is not None:
        paths["composition_truth.tsv"] = out_dir / "composition_truth.tsv"
        long = study.fractions.reset_index().melt(id_vars="sample_id", var_name="cell_type", value_name="fraction")
        write_tsv(long, paths["composition_truth.tsv"])
    return paths


def write_reference_cohort(cohort: "ReferenceCohort", out_dir: str | Path) -> dict[str, Path]:
    """betas.tsv.gz, ages.tsv (sample_id, age, donor) and planted_cpgs.tsv (the CpGs that carry the age signal)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in ("betas.tsv.gz", "ages.tsv", "planted_cpgs.tsv")}
    write_beta_matrix(cohort.betas, paths["betas.tsv.gz"])
    write_tsv(pd.concat([cohort.ages, cohort.donors], axis=1).reset_index(), paths["ages.tsv"])
    write_tsv(cohort.signal.reset_index(), paths["planted_cpgs.tsv"])
    return paths


# A tissue-specific age signal, as a custom clock would learn it: the same CpGs and slopes in every
# simulated data set (a fixed seed), so a clock trained on a simulated reference cohort applies to
# a simulated study.
AGE_SIGNAL_SEED = 20_250_707
# The clock panel the demo config runs beside the planted clocks; the study measures its CpGs.
DEMO_PANEL = "in_vitro"
AGE_SIGNAL_CENTRE = 50.0


def age_signal(n_cpgs: int) -> pd.Series:
    """Slopes (M-value units per year) of the CpGs that carry the simulated tissue age signal."""
    rng = np.random.default_rng(AGE_SIGNAL_SEED)
    shipped = set().union(*(registry.get(name).cpg_ids for name in registry.available()))
    reference = clocks_data.reference_medians()
    # Intermediate methylation, where a CpG can move both ways, away from every shipped clock. The
    # candidates are taken in one fixed random order of the whole reference, so a clock added to the
    # library drops only the CpGs it reads from the choice instead of reshuffling it.
    order = reference.index[rng.permutation(len(reference))]
    values = reference.loc[order]
    candidates = order[(values > 0.2).to_numpy() & (values < 0.8).to_numpy() & order.str.startswith("cg")]
    chosen = np.sort(candidates[~candidates.isin(shipped)][:n_cpgs].to_numpy())
    slopes = rng.choice([-1.0, 1.0], n_cpgs) * rng.uniform(0.01, 0.04, n_cpgs)
    return pd.Series(slopes, index=pd.Index(chosen, name="cpg_id"), name="slope_per_year")


@dataclass
class ReferenceCohort:
    betas: pd.DataFrame     # CpG x sample
    ages: pd.Series         # by sample_id
    signal: pd.Series       # planted CpGs -> slope per year (M-value scale)
    donors: pd.Series       # by sample_id: the donor each array comes from


def simulate_reference_cohort(n_samples: int = 150, signal_cpgs: int = 100, background_cpgs: int = 2000,
                              noise_sd: float = 0.4, age_range: tuple[float, float] = (18.0, 85.0),
                              seed: int = 1, cpg_ids: pd.Index | None = None, replicates: int = 1,
                              replicate_sd: float = 0.1) -> ReferenceCohort:
    """A cohort of known ages (for training a custom clock) whose ``signal_cpgs`` CpGs track age.

    ``cpg_ids``: measure exactly these CpGs (plus the signal ones), as a cohort run on the same
    array as the study would; otherwise ``background_cpgs`` random ones. ``replicates``: arrays per
    donor (``n_samples`` donors): a donor's biological deviation (``noise_sd``) is shared by all its
    arrays, each of which adds technical noise (``replicate_sd``, M-value scale), as replicate arrays
    or several samples of one person do in a real training set.
    """
    if n_samples < 10 or signal_cpgs < 1 or replicates < 1:
        raise EpiclockError("simulate: a reference cohort needs at least 10 donors, 1 signal CpG and 1 array per donor")
    rng = np.random.default_rng(seed)
    signal = age_signal(signal_cpgs)
    reference = clocks_data.reference_medians()
    if cpg_ids is None:
        candidates = reference.index[reference.index.str.startswith("cg")].difference(signal.index)
        cpg_ids = rng.choice(candidates.to_numpy(), size=min(background_cpgs, len(candidates)), replace=False)
    cpg_ids = pd.Index(sorted(set(signal.index) | set(cpg_ids)), name="cpg_id")
    ages = np.round(rng.uniform(*age_range, n_samples), 1)
    base = _logit(np.clip(reference.reindex(cpg_ids).to_numpy(), 0.02, 0.98))
    slopes = signal.reindex(cpg_ids, fill_value=0.0).to_numpy()
    m_values = (base[:, None] + slopes[:, None] * (ages[None, :] - AGE_SIGNAL_CENTRE)
                + rng.normal(0, noise_sd, (len(cpg_ids), n_samples)))
    donor_ids = [f"REF{i + 1:04d}" for i in range(n_samples)]
    if replicates == 1:
        sample_ids, donors = donor_ids, donor_ids
    else:
        sample_ids = [f"{donor}_R{copy + 1}" for copy in range(replicates) for donor in donor_ids]
        donors = donor_ids * replicates
        ages = np.tile(ages, replicates)
        m_values = np.tile(m_values, replicates) + rng.normal(0, replicate_sd, (len(cpg_ids), len(sample_ids)))
    betas = pd.DataFrame(_expit(m_values), index=cpg_ids, columns=sample_ids)
    index = pd.Index(sample_ids, name="sample_id")
    return ReferenceCohort(betas=betas, ages=pd.Series(ages, index=index, name="age"), signal=signal,
                           donors=pd.Series(donors, index=index, name="donor"))
