"""Calibration of every p-value and CI the contrast table reports, over a grid of study designs.

Grid: donors {3, 4, 6, 8} x donor-specific response SD {0, 1, 2} years x replicates {1, 3} x
design {balanced; one donor missing one condition; 3 culture time points matched within donor
(``pair_by: [donor, time]``)}. Each study is simulated at the level of per-sample clock ages by the
project's simulator (the demo's six conditions, donor offsets, each donor's own response to each
condition, replicate, chip and per-clock noise, culture drift; ``simulate.true_ages``), and its
contrasts are computed by the project's own ``deltas.per_sample`` and ``deltas.contrast_table``.

Per cell and method (paired t-test on donor means, Wilcoxon signed-rank on them, mixed model):
- false positives: the share of p < 0.05 over the contrasts with no effect (2-8% for the continuous
  tests; see below for Wilcoxon);
- coverage: the share of 95% CIs holding the planted effect, over the contrasts with one (92-98%).
The signed-rank test on n donors is discrete: its p-values take few values, so its exact size
s(n) = P(p < 0.05 | no effect) is below 5% (2/64 = 3.1% with 6 donors, 6/128 = 4.7% with 7, 10/256 =
3.9% with 8; ``deltas.signed_rank_size``, from the exact null distribution). It is judged against that
size: its floor is the smaller of 2% and the lower end of the central 99% range of a binomial count
of the cell's null tests at their mean s(n) (tests of one study compare disjoint conditions, so
they are taken as independent); its ceiling stays 8%. A method that cannot reach p < 0.05 in a study
(s(n) = 0: Wilcoxon with fewer than 6 donors) and a contrast with fewer than 3 donors (one donor
missing a condition in a 3-donor study) are counted apart ("unreachable") and the cell says so, rather
than passing as calibrated. Exit status 1 when a rate leaves its bounds.

    nice .venv/bin/python bench/calibration.py [--studies 400] [--workers 2] [--seed 1] [--out table.tsv]
                                               [--donors 3 4 6 8] [--response-sd 0 1 2] [--replicates 1 3]
                                               [--designs balanced missing time]
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from epiclock import deltas
from epiclock.demo import simulate

# Two planted effects (the demo's -2 years of young serum with bone marrow, seen alone and as the
# interaction with bone marrow) and two contrasts without one; "missing" drops a condition that
# one contrast of each kind uses.
CONTRASTS = [
    {"name": "young_vs_old_serum_with_bm",
     "treated": {"bone_marrow": "yes", "serum": "young"}, "reference": {"bone_marrow": "yes", "serum": "old"}},
    {"name": "young_vs_old_serum_bm_minus_no_bm",
     "treated": {"bone_marrow": "yes", "serum": "young"}, "reference": {"bone_marrow": "yes", "serum": "old"},
     "minus": {"treated": {"bone_marrow": "no", "serum": "young"}, "reference": {"bone_marrow": "no", "serum": "old"}}},
    {"name": "young_vs_old_serum_without_bm",
     "treated": {"bone_marrow": "no", "serum": "young"}, "reference": {"bone_marrow": "no", "serum": "old"}},
    {"name": "old_serum_vs_none_with_bm",
     "treated": {"bone_marrow": "yes", "serum": "old"}, "reference": {"bone_marrow": "yes", "serum": "none"}},
]
MISSING_CONDITION = ("D01", "skin_bm_old_serum")
TIME_POINTS = 3
DESIGNS = ("balanced", "missing", "time")
COVERAGE_BOUNDS = (0.92, 0.98)
FALSE_POSITIVE_BOUNDS = (0.02, 0.08)
SIGNIFICANCE = deltas.SIGNIFICANCE
# The central range of a discrete test's binomial false-positive count that its floor takes.
DISCRETE_RANGE = 0.99
CLOCKS = ["horvath_skin_blood2018"]
# (estimate, CI low, CI high, p) columns of each method in the contrast table; None: not reported.
METHODS = {
    "paired t-test": ("estimate_years", "ci_low", "ci_high", "p_value"),
    "Wilcoxon": ("estimate_years", None, None, "p_wilcoxon"),
    "mixed model": ("mixed_estimate", "mixed_ci_low", "mixed_ci_high", "mixed_p"),
}
# Methods whose p-values are discrete, with their exact size at a number of donors.
DISCRETE_SIZES = {"Wilcoxon": deltas.signed_rank_size}
FORMATTERS = {name: "{:.1%}".format for name in ("false_positive", "size", "false_positive_floor", "coverage", "power")}


@dataclass(frozen=True)
class Cell:
    donors: int
    response_sd: float
    replicates: int
    design: str

    def parameters(self, seed: int) -> simulate.StudyParameters:
        return simulate.StudyParameters(donors=self.donors, replicates=self.replicates, seed=seed,
                                        donor_response_sd=self.response_sd,
                                        time_points=TIME_POINTS if self.design == "time" else 1,
                                        background_cpgs=0, failed_samples=0)

    def study_design(self) -> deltas.Design:
        return deltas.Design(pair_by=("donor", "time") if self.design == "time" else ("donor",))


@dataclass
class Settings:
    clocks: list[str] = field(default_factory=lambda: list(CLOCKS))
    contrasts: list[dict] = field(default_factory=lambda: list(CONTRASTS))


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


def simulated_ages(cell: Cell, seed: int, clocks: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-sample clock ages (sample_id, clock, dnam_age, status) and the sample sheet of one study."""
    parameters = cell.parameters(seed)
    rng = np.random.default_rng(seed)
    samples = simulate.design_samples(parameters, rng)
    if cell.design == "missing":
        donor, condition = MISSING_CONDITION
        samples = samples[~((samples["donor"] == donor) & (samples["condition"] == condition))].reset_index(drop=True)
    truth = simulate.true_ages(samples, parameters, clocks, rng)
    return truth.rename(columns={"true_dnam_age": "dnam_age"}).assign(status="ok"), samples


def one_study(cell: Cell, seed: int, settings: Settings) -> pd.DataFrame:
    """Estimate, CI and p of every contrast, clock and method for one simulated study."""
    with threadpool_limits(1):  # tiny matrices: BLAS threads cost more than they give
        predictions, samples = simulated_ages(cell, seed, settings.clocks)
        design = cell.study_design()
        contrasts = [deltas.Contrast.from_config(entry) for entry in settings.contrasts]
        table = deltas.contrast_table(deltas.per_sample(predictions, samples, design), contrasts, design)
    effects = cell.parameters(seed).condition_effects
    truth = {contrast.name: planted_value(contrast, effects) for contrast in contrasts}
    rows = []
    for row in table.to_dict("records"):
        for method, (estimate, low, high, p_value) in METHODS.items():
            rows.append({"seed": seed, "clock": row["clock"], "contrast": row["contrast"], "method": method,
                         "planted": truth[row["contrast"]], "estimate": row[estimate],
                         "ci_low": row[low] if low else np.nan, "ci_high": row[high] if high else np.nan,
                         "p_value": row[p_value], "n_donors": row["n_donors"]})
    return pd.DataFrame(rows)


def _study_batch(cell: Cell, seeds: list[int], settings: Settings) -> pd.DataFrame:
    frame = pd.concat([one_study(cell, seed, settings) for seed in seeds], ignore_index=True)
    for name, value in cell.__dict__.items():
        frame[name] = value
    return frame


def simulate_grid(cells: list[Cell], studies: int, settings: Settings, seed: int = 1, workers: int = 1,
                  batch: int = 25, on_cell=None) -> pd.DataFrame:
    """Every cell's studies; seeds differ between cells, so cells are independent samples.

    ``on_cell(cell, results)`` is called as each cell completes (cells complete in order).
    """
    tasks = []
    for index, cell in enumerate(cells):
        seeds = [seed * 10_000_000 + index * 10_000 + study for study in range(studies)]
        tasks += [(cell, seeds[start:start + batch]) for start in range(0, studies, batch)]
    per_cell: dict[Cell, list[pd.DataFrame]] = {cell: [] for cell in cells}
    remaining = {cell: sum(task_cell == cell for task_cell, _ in tasks) for cell in cells}
    frames = []

    def collect(cell: Cell, frame: pd.DataFrame) -> None:
        per_cell[cell].append(frame)
        remaining[cell] -= 1
        if remaining[cell] == 0:
            results = pd.concat(per_cell.pop(cell), ignore_index=True)
            frames.append(results)
            if on_cell is not None:
                on_cell(cell, results)

    if workers <= 1:
        for cell, seeds in tasks:
            collect(cell, _study_batch(cell, seeds, settings))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for (cell, _), frame in zip(tasks, pool.map(_study_batch, *zip(*tasks), [settings] * len(tasks))):
                collect(cell, frame)
    return pd.concat(frames, ignore_index=True)


def attainable_size(method: str, n_donors: int) -> float:
    """The share of p < 0.05 a method gives with no effect at this many donors: its exact size for a
    discrete test, the nominal level for a continuous one, 0 where it cannot reach significance."""
    if n_donors < deltas.MIN_DONORS_FOR_TEST:
        return 0.0
    if method in DISCRETE_SIZES:
        return DISCRETE_SIZES[method](n_donors, SIGNIFICANCE)
    return SIGNIFICANCE


def false_positive_floor(method: str, n_null: int, size: float) -> float:
    """The lowest false-positive share that passes: 2%, or for a discrete test of exact size ``size``
    whatever a binomial count of ``n_null`` tests at that size reaches in the central 99%, if lower."""
    if method not in DISCRETE_SIZES or n_null == 0:
        return FALSE_POSITIVE_BOUNDS[0]
    lowest_count = stats.binom.ppf((1 - DISCRETE_RANGE) / 2, n_null, size)
    return min(FALSE_POSITIVE_BOUNDS[0], lowest_count / n_null)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Per cell and method: false-positive share against its size and floor, coverage, and what could
    not be tested."""
    keys = ["donors", "response_sd", "replicates", "design", "method"]
    rows = []
    for key, group in results.groupby(keys, sort=True):
        method = key[-1]
        sizes = group["n_donors"].map(lambda n_donors: attainable_size(method, int(n_donors)))
        reachable = group[sizes > 0]
        null = reachable[reachable["planted"] == 0]
        effect = reachable[(reachable["planted"] != 0) & reachable["ci_low"].notna()]
        covered = (effect["ci_low"] <= effect["planted"]) & (effect["planted"] <= effect["ci_high"])
        size = sizes[null.index].mean() if len(null) else np.nan
        rows.append({**dict(zip(keys, key)),
                     "false_positive": (null["p_value"] < SIGNIFICANCE).mean() if len(null) else np.nan,
                     "size": size, "false_positive_floor": false_positive_floor(method, len(null), size),
                     "n_null": len(null),
                     "coverage": covered.mean() if len(effect) else np.nan, "n_effect": len(effect),
                     "power": (reachable.loc[reachable["planted"] != 0, "p_value"] < SIGNIFICANCE).mean(),
                     "no_p": int(null["p_value"].isna().sum()),
                     "unreachable": len(group) - len(reachable)})
    summary = pd.DataFrame(rows)
    summary["check"] = [_check(row) for row in summary.itertuples()]
    return summary


def _check(row) -> str:
    """ok, FAIL (a rate outside its bounds), or why the cell says nothing about calibration."""
    if row.n_null == 0:
        return "cannot reach p < 0.05 (too few donors)"
    failures = []
    if not row.false_positive_floor <= row.false_positive <= FALSE_POSITIVE_BOUNDS[1]:
        failures.append("false positives")
    if row.n_effect and not COVERAGE_BOUNDS[0] <= row.coverage <= COVERAGE_BOUNDS[1]:
        failures.append("coverage")
    if row.no_p:
        failures.append("missing p-values")
    note = f" ({row.unreachable} tests unreachable, left out)" if row.unreachable else ""
    return ("FAIL: " + ", ".join(failures) if failures else "ok") + note


def grid(donors=(3, 4, 6, 8), response_sds=(0.0, 1.0, 2.0), replicates=(1, 3), designs=DESIGNS) -> list[Cell]:
    """The cells, in the order given: response SD outermost, then replicates, donors and designs
    (so that a run can put the designs that break counting units first)."""
    return [Cell(donor_count, response_sd, replicate_count, design)
            for response_sd, replicate_count, donor_count, design
            in itertools.product(response_sds, replicates, donors, designs)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=400, help="studies per cell")
    parser.add_argument("--workers", type=int, default=2, help="processes (at most 2 on a shared machine)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--donors", type=int, nargs="+", default=[3, 4, 6, 8])
    parser.add_argument("--response-sd", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    parser.add_argument("--replicates", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=DESIGNS)
    parser.add_argument("--out", help="also write the table here (TSV)")
    arguments = parser.parse_args()

    cells = grid(arguments.donors, arguments.response_sd, arguments.replicates, arguments.designs)
    settings = Settings()
    print("command: " + " ".join(shlex.quote(part) for part in [sys.executable, *sys.argv]))
    effects = simulate.StudyParameters().condition_effects
    print(f"{len(cells)} cells x {arguments.studies} studies; clocks {', '.join(settings.clocks)}; contrasts:")
    for entry in settings.contrasts:
        print(f"  {entry['name']}: planted {planted_value(deltas.Contrast.from_config(entry), effects):+.1f} years")
    start = time.perf_counter()

    def report_cell(cell: Cell, results: pd.DataFrame) -> None:
        """Each cell's rows as soon as it is done, so that a long run shows where it stands."""
        print(summarise(results).to_string(index=False, header=False, formatters=FORMATTERS), flush=True)

    results = simulate_grid(cells, arguments.studies, settings, seed=arguments.seed, workers=arguments.workers,
                            on_cell=report_cell)
    elapsed = time.perf_counter() - start
    summary = summarise(results)
    with pd.option_context("display.width", 250, "display.max_rows", None, "display.max_colwidth", 80):
        print(summary.to_string(index=False, formatters=FORMATTERS))
    print(f"false_positive: share of p < {SIGNIFICANCE} over contrasts without an effect, within "
          f"[false_positive_floor, {FALSE_POSITIVE_BOUNDS[1]:.0%}]. size: the test's share of p < {SIGNIFICANCE} "
          f"with no effect ({SIGNIFICANCE:.0%} for continuous tests; the exact size s(n) of the signed-rank test on "
          f"n donors, averaged over the cell's null tests). false_positive_floor: {FALSE_POSITIVE_BOUNDS[0]:.0%}, or "
          f"for a discrete test the smaller of {FALSE_POSITIVE_BOUNDS[0]:.0%} and the lower end of the central "
          f"{DISCRETE_RANGE:.0%} of a binomial count of n_null tests at its size. coverage: share of 95% CIs holding "
          f"the planted effect, within [{COVERAGE_BOUNDS[0]:.0%}, {COVERAGE_BOUNDS[1]:.0%}].")
    if arguments.out:
        summary.to_csv(arguments.out, sep="\t", index=False)
    failed = summary["check"].str.startswith("FAIL")
    print(f"{len(summary) - failed.sum()} of {len(summary)} rows within bounds; "
          f"{elapsed:.0f} s wall with {arguments.workers} worker(s)")
    return 1 if failed.any() else 0


if __name__ == "__main__":
    sys.exit(main())
