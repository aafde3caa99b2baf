"""Calibration of the contrast statistics, shown by simulation.

Simulates many small studies with the demo's design (6 conditions; young serum with bone marrow
planted at -2 years, nothing else has an effect), runs the clocks on the simulated betas and
computes every contrast with ``epiclock.deltas``. Per clock and method (the paired t-test on donor
means; the mixed model) it prints:

- coverage: the share of 95% CIs that contain the planted value, over the contrasts with an effect;
- false positives: the share of p < 0.05 over the contrasts without an effect;
- power: the share of p < 0.05 over the contrasts with an effect.

and checks coverage within 90-99% and false positives within 3-7%. Exit status 1 when a check fails.

    .venv/bin/python bench/calibration.py [--studies 400] [--donors 6] [--replicates 2] [--workers 2]
                                          [--seed 1] [--ages-from-truth]

``--ages-from-truth`` skips beta generation and clock prediction and uses the simulator's true ages,
which the clocks read back exactly (tests/test_simulate.py); it is what the fast test uses.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from epiclock import deltas
from epiclock.clocks import predict, registry
from epiclock.demo import simulate

CONTRASTS = [
    {"name": "young_vs_old_serum_with_bm",
     "treated": {"bone_marrow": "yes", "serum": "young"}, "reference": {"bone_marrow": "yes", "serum": "old"}},
    {"name": "young_vs_old_serum_bm_minus_no_bm",
     "treated": {"bone_marrow": "yes", "serum": "young"}, "reference": {"bone_marrow": "yes", "serum": "old"},
     "minus": {"treated": {"bone_marrow": "no", "serum": "young"}, "reference": {"bone_marrow": "no", "serum": "old"}}},
    {"name": "bone_marrow_vs_skin_alone",
     "treated": {"bone_marrow": "yes", "serum": "none"}, "reference": {"bone_marrow": "no", "serum": "none"}},
    {"name": "young_vs_old_serum_without_bm",
     "treated": {"bone_marrow": "no", "serum": "young"}, "reference": {"bone_marrow": "no", "serum": "old"}},
]
COVERAGE_BOUNDS = (0.90, 0.99)
FALSE_POSITIVE_BOUNDS = (0.03, 0.07)
SIGNIFICANCE = 0.05
# Mixed-model notes that report a problem of the fit (others say, e.g., that the chip variance was zero).
FIT_PROBLEM = "converge|Hessian|failed|not fitted"
METHODS = {
    "paired t-test": ("estimate_years", "ci_low", "ci_high", "p_value"),
    "mixed model": ("mixed_estimate", "mixed_ci_low", "mixed_ci_high", "mixed_p"),
}


@dataclass
class Settings:
    donors: int = 6
    replicates: int = 2
    # Only these clocks read the planted ages back from simulated betas; the others read noise.
    clock_names: list[str] = field(default_factory=registry.for_simulation)
    contrasts: list[dict] = field(default_factory=lambda: CONTRASTS)
    ages_from_truth: bool = False


def planted_value(contrast: deltas.Contrast, effects: dict[str, float]) -> float:
    """The true value of a contrast: its cell weights applied to the planted condition effects."""
    total = 0.0
    for _, levels, weight in contrast.cells():
        matching = {effects.get(condition, 0.0) for condition, bone_marrow, serum in simulate.CONDITIONS
                    if all({"bone_marrow": bone_marrow, "serum": serum}[factor] == level
                           for factor, level in levels.items())}
        if len(matching) != 1:
            raise ValueError(f"{contrast.name}: the conditions of {levels} do not share one planted effect")
        total += weight * matching.pop()
    return total


def simulated_ages(parameters: simulate.StudyParameters, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clock predictions (sample_id, clock, dnam_age, status) and the sample sheet of one study."""
    if settings.ages_from_truth:
        rng = np.random.default_rng(parameters.seed)
        samples = simulate.design_samples(parameters, rng)
        truth = simulate.true_ages(samples, parameters, settings.clock_names, rng)
        return truth.rename(columns={"true_dnam_age": "dnam_age"}).assign(status="ok"), samples
    study = simulate.simulate_study(parameters)
    return predict.predict(study.betas, settings.clock_names), study.samples


def one_study(seed: int, settings: Settings) -> pd.DataFrame:
    """Estimates, CIs and p-values of every contrast, clock and method for one simulated study."""
    with threadpool_limits(1):  # tiny matrices: BLAS threads cost more than they give
        parameters = simulate.StudyParameters(donors=settings.donors, replicates=settings.replicates, seed=seed,
                                              background_cpgs=0, failed_samples=0)
        predictions, samples = simulated_ages(parameters, settings)
        design = deltas.Design()
        contrasts = [deltas.Contrast.from_config(entry) for entry in settings.contrasts]
        table = deltas.contrast_table(deltas.per_sample(predictions, samples, design), contrasts, design)
    truth = {contrast.name: planted_value(contrast, parameters.condition_effects) for contrast in contrasts}
    rows = []
    for row in table.itertuples():
        for method, (estimate, low, high, p_value) in METHODS.items():
            rows.append({"seed": seed, "clock": row.clock, "contrast": row.contrast, "method": method,
                         "planted": truth[row.contrast], "estimate": getattr(row, estimate),
                         "ci_low": getattr(row, low), "ci_high": getattr(row, high), "p_value": getattr(row, p_value),
                         "mixed_note": row.mixed_note if method == "mixed model" else ""})
    return pd.DataFrame(rows)


def simulate_studies(studies: int, settings: Settings, seed: int = 1, workers: int = 1) -> pd.DataFrame:
    seeds = [seed * 100_000 + index for index in range(studies)]
    if workers <= 1:
        frames = [one_study(study_seed, settings) for study_seed in seeds]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            frames = list(pool.map(one_study, seeds, [settings] * len(seeds), chunksize=max(1, studies // (4 * workers))))
    return pd.concat(frames, ignore_index=True)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Per clock and method: coverage, false-positive share, power, median CI width, fit problems."""
    rows = []
    for (clock, method), group in results.groupby(["clock", "method"], sort=True):
        effect = group[group["planted"] != 0]
        null = group[group["planted"] == 0]
        covered = (effect["ci_low"] <= effect["planted"]) & (effect["planted"] <= effect["ci_high"])
        rows.append({
            "clock": clock, "method": method,
            "coverage": covered.mean(), "n_effect": len(effect),
            "false_positive": (null["p_value"] < SIGNIFICANCE).mean(), "n_null": len(null),
            "power": (effect["p_value"] < SIGNIFICANCE).mean(),
            "median_ci_width": float((group["ci_high"] - group["ci_low"]).median()),
            "missing": int(group["p_value"].isna().sum()),
            "fit_problems": int(group["mixed_note"].str.contains(FIT_PROBLEM).sum()),
        })
    return pd.DataFrame(rows)


def within_bounds(summary: pd.DataFrame) -> pd.Series:
    return (summary["coverage"].between(*COVERAGE_BOUNDS) & summary["false_positive"].between(*FALSE_POSITIVE_BOUNDS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=400)
    parser.add_argument("--donors", type=int, default=6)
    parser.add_argument("--replicates", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ages-from-truth", action="store_true")
    arguments = parser.parse_args()

    settings = Settings(donors=arguments.donors, replicates=arguments.replicates,
                        ages_from_truth=arguments.ages_from_truth)
    print("command: " + " ".join(shlex.quote(part) for part in [sys.executable, *sys.argv]))
    print(f"{arguments.studies} simulated studies: {settings.donors} donors x {len(simulate.CONDITIONS)} conditions x "
          f"{settings.replicates} replicates; ages {'from the simulator truth' if settings.ages_from_truth else 'predicted by the clocks from simulated betas'}")
    effects = simulate.StudyParameters().condition_effects
    for entry in settings.contrasts:
        print(f"  {entry['name']}: planted {planted_value(deltas.Contrast.from_config(entry), effects):+.1f} years")
    start = time.perf_counter()
    results = simulate_studies(arguments.studies, settings, seed=arguments.seed, workers=arguments.workers)
    elapsed = time.perf_counter() - start
    summary = summarise(results)
    summary["check"] = np.where(within_bounds(summary), "ok", "FAIL")
    print(f"coverage of 95% CIs over contrasts with an effect (must be {COVERAGE_BOUNDS[0]:.0%}-{COVERAGE_BOUNDS[1]:.0%}); "
          f"share of p < {SIGNIFICANCE} over contrasts without one (must be {FALSE_POSITIVE_BOUNDS[0]:.0%}-{FALSE_POSITIVE_BOUNDS[1]:.0%})")
    print(summary.to_string(index=False, formatters={
        "coverage": "{:.1%}".format, "false_positive": "{:.1%}".format, "power": "{:.1%}".format,
        "median_ci_width": "{:.2f}".format}))
    print(f"{elapsed:.0f} s with {arguments.workers} worker(s)")
    return 0 if (summary["check"] == "ok").all() else 1


if __name__ == "__main__":
    sys.exit(main())
