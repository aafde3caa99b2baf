"""Seconds to predict all shipped clocks for N samples from betas in memory, where the time goes, and
peak memory.

One core: BLAS and OpenMP threads are set to 1 before numpy loads. The matrix holds every probe a
clock reads, including DunedinPACE's 20,000 normalisation probes and AltumAge's 20,318 inputs. All
timed in the same process (medians of --repeats runs), printed:
- every clock in one call (what the workflow does), wall and CPU time;
- each family of clocks alone (one call each): the linear clocks on betas, Zhang's (per-sample
  standardisation over the whole array), stemTOC's (a per-sample quantile), DunedinPACE
  (per-sample quantile normalisation), MiAge, the six GP-age models and AltumAge;
- beside each family, the one operation its arithmetic cannot avoid, timed on the same shapes, and
  the family's time as a multiple of it:
  - whole-array families (Zhang): one read of every value of the matrix (np.add.reduce per row);
  - DunedinPACE: np.sort, in place, of its samples x 20,000 normalisation block (any exact rank of
    its CpGs among the 20,000 is at least a sort's work);
  - GP-age: per model, the product samples x CpGs by CpGs x 8,337 training samples and one np.exp
    per entry of that kernel matrix (in cache-sized blocks), the direct evaluation's arithmetic;
  - AltumAge: its first layer, one product 32 x 20,318 by 20,318 x samples (as the model computes it);
  - linear clocks: one product of the samples x (union of their CpGs) block by a weight column per
    clock (a BLAS product of the same shape; not a floor, a yardstick).
  The sum of these operations is what all clocks cost at best done this way; it is printed against
  the sum of the families' times.

    .venv/bin/python bench/clocks.py [--samples 10000] [--repeats 3] [--shares]
    .venv/bin/python bench/clocks.py --clock altumage2022 --clock miage2018 [--samples 10000] [--repeats 3]
    .venv/bin/python bench/clocks.py --versus-biolearn [--biolearn-python /tmp/blvenv/bin/python] [--samples 1000]

--shares adds, for each clock whose preprocessing reads the whole array (DunedinPACE, Zhang), its
share of the all-clock call: the median over --repeats of (all clocks) minus (all but that one),
the two timed back to back.

--clock NAME (repeatable) times only the named clocks, each predicted alone on the same matrix, and
all of them in one call.

--versus-biolearn times, on one matrix, every clock that biolearn 0.9.1 also computes (clocks.yaml's
biolearn_model) with epiclock and with biolearn (bench/biolearn_timing.py, run by the python of a
scratch virtualenv that has biolearn; see tests/fixtures/biolearn/README.md), side by side. Without
that python the comparison is skipped with a message.
"""

from _timing import timed  # first: one thread for BLAS and OpenMP before numpy loads

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from epiclock.clocks import data, registry  # noqa: E402
from epiclock.clocks import predict as clocks_predict  # noqa: E402
from epiclock.clocks import preprocessing as clocks_preprocessing  # noqa: E402


DEFAULT_BIOLEARN_PYTHON = "/tmp/blvenv/bin/python"


def versus_biolearn(samples: int, biolearn_python: str) -> None:
    """The clocks both tools compute, timed on one matrix by each, side by side."""
    if not Path(biolearn_python).is_file():
        print(f"biolearn comparison skipped: no python with biolearn at {biolearn_python} (make one as "
              "tests/fixtures/biolearn/README.md says, or pass --biolearn-python)")
        return
    entries = registry._registry()
    # GP-age is left out: biolearn refits each GP (GPy, an 8,337-sample Cholesky) when it first predicts,
    # minutes per model, and needs GPy besides biolearn.
    common = {name: entry["biolearn_model"] for name, entry in entries.items()
              if "biolearn_model" in entry and entry.get("model") != "gp_age"}
    shipped = [registry.get(name) for name in common]
    cpg_ids = sorted(set().union(*(clock.cpg_ids for clock in shipped))
                     | set(registry.get("dunedinpace2022").preprocessing.target.index))
    rng = np.random.default_rng(1)
    values = rng.uniform(0.02, 0.98, (samples, len(cpg_ids)))
    ages = rng.uniform(20, 80, samples)
    sexes = rng.integers(0, 2, samples)
    betas = pd.DataFrame(values.T, index=pd.Index(cpg_ids, name="cpg_id"), columns=[f"S{i}" for i in range(samples)])
    covariates = pd.DataFrame({"age": ages, "female": (sexes == 0).astype(float)}, index=betas.columns)
    with tempfile.TemporaryDirectory() as directory:
        np.save(Path(directory) / "betas.npy", values)
        np.save(Path(directory) / "ages.npy", ages)
        np.save(Path(directory) / "sexes.npy", sexes)
        (Path(directory) / "cpg_ids.txt").write_text("\n".join(cpg_ids))
        result = subprocess.run([biolearn_python, str(Path(__file__).with_name("biolearn_timing.py")), directory,
                                 *common.values()], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"biolearn comparison failed: {result.stderr.strip().splitlines()[-1:]}")
        return
    theirs = {line.split("\t")[0]: float(line.split("\t")[1]) for line in result.stdout.splitlines() if "\t" in line}
    ours = {clock.name: min(timed(lambda: clocks_predict.predict(betas, [clock], covariates=covariates), 3)) for clock in shipped}
    all_ours = statistics.median(timed(lambda: clocks_predict.predict(betas, shipped, covariates=covariates), 3))
    print(f"epiclock vs biolearn 0.9.1, {samples} samples x {len(cpg_ids)} probes, one core, best of 3 (biolearn: one run)")
    print("clock\tbiolearn_model\tepiclock_s\tbiolearn_s\tratio")
    for name, model in common.items():
        print(f"{name}\t{model}\t{ours[name]:.4f}\t{theirs[model]:.4f}\t{theirs[model] / ours[name]:.1f}x")
    total_theirs = sum(theirs[model] for model in common.values())
    print(f"all {len(common)} together: epiclock {all_ours:.3f} s (one call, median of 3); biolearn {total_theirs:.3f} s "
          f"(sum of its models); ratio {total_theirs / all_ours:.1f}x")


# Cache-sized blocks of the GP-age kernel matrix for its reference operation: rows x 8,337 doubles.
KERNEL_BLOCK_ROWS = 16


def family(clock) -> str:
    """Which family of the breakdown a shipped clock belongs to."""
    model, step = type(clock.model).__name__, clock.preprocessing
    if model != "LinearClock":
        return {"MiAgeModel": "MiAge", "GaussianProcessAge": "GP-age (6 models)", "AltumAgeModel": "AltumAge"}[model]
    if isinstance(step, clocks_preprocessing.QuantileNormalisation):
        return "DunedinPACE (quantile normalisation)"
    if isinstance(step, clocks_preprocessing.SampleStandardisation):
        return "Zhang (whole-array standardisation)"
    if isinstance(step, clocks_preprocessing.SampleQuantile):
        return "stemTOC (per-sample quantile)"
    return "linear on betas"


def reference_operations(betas: pd.DataFrame, members: dict, repeats: int, rng) -> dict:
    """Per family, a description of the operation its arithmetic cannot avoid and its median seconds."""
    by_sample = betas.to_numpy().T
    n_samples = by_sample.shape[0]
    operations = {}

    linear = members.get("linear on betas", [])
    if linear:
        union = betas.index.get_indexer(sorted(set().union(*(clock.cpg_ids for clock in linear))))
        block = np.ascontiguousarray(by_sample[:, union])
        weights = rng.normal(0, 1, (len(union), len(linear)))
        operations["linear on betas"] = (f"BLAS product {n_samples} x {len(union)} by {len(union)} x {len(linear)}",
                                         statistics.median(timed(lambda: block @ weights, repeats)))
    if "Zhang (whole-array standardisation)" in members:
        operations["Zhang (whole-array standardisation)"] = (
            f"one read of the matrix ({by_sample.shape[1]} probes a sample)",
            statistics.median(timed(lambda: np.add.reduce(by_sample, axis=1), repeats)))
    for clock in members.get("DunedinPACE (quantile normalisation)", []):
        target = betas.index.get_indexer(clock.preprocessing.target.index)
        normalisation = np.ascontiguousarray(by_sample[:, target])
        sorts = []
        # Sorted in place, so the time is the sort's, not an allocation's; each run sorts a fresh
        # copy made outside the timing.
        for _ in range(repeats):
            unsorted = normalisation.copy()
            sorts += timed(lambda: unsorted.sort(axis=1), 1)
        operations["DunedinPACE (quantile normalisation)"] = (
            f"np.sort in place of {n_samples} x {len(target)}", statistics.median(sorts))
    gp_models = [clock.model for clock in members.get("GP-age (6 models)", [])]
    if gp_models:
        inputs = [np.ascontiguousarray(by_sample[:, betas.index.get_indexer(model.feature_names_in_)])
                  for model in gp_models]

        def kernel_arithmetic():
            for model, values in zip(gp_models, inputs):
                training = model.training_inputs.T.copy()
                block = np.empty((KERNEL_BLOCK_ROWS, training.shape[1]))
                for start in range(0, n_samples, KERNEL_BLOCK_ROWS):
                    rows = values[start:start + KERNEL_BLOCK_ROWS]
                    product = np.matmul(rows, training, out=block[:len(rows)])
                    np.exp(product, out=product)
        sizes = "+".join(str(len(model.feature_names_in_)) for model in gp_models)
        operations["GP-age (6 models)"] = (
            f"per model: product {n_samples} x CpGs ({sizes}) by CpGs x {len(gp_models[0].weights)}, and one exp per entry",
            statistics.median(timed(kernel_arithmetic, repeats)))
    for clock in members.get("AltumAge", []):
        first = clock.model._first_weight_by_unit
        values = np.ascontiguousarray(by_sample[:, betas.index.get_indexer(clock.model.feature_names_in_)])
        operations["AltumAge"] = (f"first layer: product {first.shape[0]} x {first.shape[1]} by {first.shape[1]} x {n_samples}",
                                  statistics.median(timed(lambda: first @ values.T, repeats)))
    return operations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=None, help="10,000 (1,000 with --versus-biolearn)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clock", action="append", default=[], help="time only this clock, alone (repeatable)")
    parser.add_argument("--shares", action="store_true",
                        help="each whole-array preprocessed clock's share of the all-clock call")
    parser.add_argument("--versus-biolearn", action="store_true")
    parser.add_argument("--biolearn-python", default=DEFAULT_BIOLEARN_PYTHON)
    arguments = parser.parse_args()
    if arguments.versus_biolearn:
        versus_biolearn(arguments.samples or 1_000, arguments.biolearn_python)
        return
    arguments.samples = arguments.samples or 10_000

    names = registry.available()
    shipped = [registry.get(name) for name in names]
    needed = set().union(*(clock.cpg_ids for clock in shipped))
    for clock in shipped:
        if isinstance(clock.preprocessing, clocks_preprocessing.QuantileNormalisation):
            needed |= set(clock.preprocessing.target.index)
    cpg_ids = sorted(needed)
    rng = np.random.default_rng(0)
    # Samples as rows of one block: the layout pandas keeps for a CpG x sample frame.
    values = rng.uniform(0.02, 0.98, (arguments.samples, len(cpg_ids)))
    betas = pd.DataFrame(values.T, index=pd.Index(cpg_ids, name="cpg_id"),
                         columns=[f"S{i}" for i in range(arguments.samples)], copy=False)
    del values
    data.reference_medians()  # loaded once per process, not part of the per-call time
    covariates = pd.DataFrame({"age": rng.uniform(20, 80, arguments.samples), "female": rng.integers(0, 2, arguments.samples)},
                              index=betas.columns, dtype=float)
    if arguments.clock:
        chosen = registry.resolve(arguments.clock)
        clocks_predict.predict(betas, chosen, covariates=covariates)  # each clock's reference values, looked up once
        print(f"samples: {arguments.samples}; probes in matrix: {len(cpg_ids)} (one core); medians of {arguments.repeats} runs")
        print("clock\tcpgs\tseconds_alone")
        for clock in chosen:
            seconds = statistics.median(timed(lambda: clocks_predict.predict(betas, [clock], covariates=covariates),
                                              arguments.repeats))
            print(f"{clock.name}\t{len(clock.cpg_ids)}\t{seconds:.3f}")
        together = statistics.median(timed(lambda: clocks_predict.predict(betas, chosen, covariates=covariates),
                                           arguments.repeats))
        print(f"all {len(chosen)} in one call\t-\t{together:.3f}")
        return
    members = {}
    for clock in shipped:
        members.setdefault(family(clock), []).append(clock)

    cpu_start = time.process_time()
    clock_times = timed(lambda: clocks_predict.predict(betas, shipped, covariates=covariates), arguments.repeats)
    clock_cpu = (time.process_time() - cpu_start) / arguments.repeats
    family_times = {name: statistics.median(timed(lambda: clocks_predict.predict(betas, clocks, covariates=covariates),
                                                  arguments.repeats))
                    for name, clocks in members.items()}
    operations = reference_operations(betas, members, arguments.repeats, rng)

    shares = {}
    if arguments.shares:
        whole_array = (clocks_preprocessing.QuantileNormalisation, clocks_preprocessing.SampleStandardisation)
        for clock in shipped:
            if isinstance(clock.preprocessing, whole_array):
                others = [other for other in shipped if other is not clock]
                differences = [timed(lambda: clocks_predict.predict(betas, shipped, covariates=covariates), 1)[0]
                               - timed(lambda: clocks_predict.predict(betas, others, covariates=covariates), 1)[0]
                               for _ in range(arguments.repeats)]
                shares[clock.name] = statistics.median(differences)

    tracemalloc.start()
    clocks_predict.predict(betas, shipped, covariates=covariates)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    clock_median = statistics.median(clock_times)
    print(f"clocks: {len(names)}; samples: {arguments.samples}; probes in matrix: {len(cpg_ids)} (one core); "
          f"medians of {arguments.repeats} runs")
    print(f"predict all {len(shipped)} clocks in one call: {clock_median:.3f} s (min {min(clock_times):.3f}, "
          f"max {max(clock_times):.3f}); CPU time {clock_cpu:.3f} s a run (mean: wall time above CPU time means "
          "other processes shared the core)")
    print("family\tclocks\tseconds_alone\treference_operation\treference_s\tratio")
    for name, clocks in sorted(members.items(), key=lambda item: -family_times[item[0]]):
        if name in operations:
            description, seconds = operations[name]
            print(f"{name}\t{len(clocks)}\t{family_times[name]:.3f}\t{description}\t{seconds:.3f}\t"
                  f"{family_times[name] / seconds:.2f}x")
        else:
            print(f"{name}\t{len(clocks)}\t{family_times[name]:.3f}\t-\t-\t-")
    with_operation = [name for name in members if name in operations]
    families_total = sum(family_times[name] for name in with_operation)
    operations_total = sum(seconds for _, seconds in operations.values())
    print(f"the {len(with_operation)} families with a reference operation, alone, summed: {families_total:.3f} s; "
          f"their reference operations, summed: {operations_total:.3f} s ({families_total / operations_total:.2f}x)")
    for name, share in shares.items():
        print(f"{name}'s share of the all-clock call (all minus all but it, median of {arguments.repeats} pairs): "
              f"{share:.3f} s")
    print(f"peak memory allocated during predict: {peak / 2**20:.1f} MiB "
          f"(input matrix {betas.memory_usage(deep=True).sum() / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
