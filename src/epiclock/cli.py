"""The `epiclock` command: scaffold a study from IDATs and run it, simulate a demo study, list the clocks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from epiclock import __version__
from epiclock.errors import EpiclockError

# Imports inside functions: each command imports what it needs when it runs, so that `epiclock --help`
# and `epiclock run` start without loading pandas, scipy or scikit-learn.


def _simulate(arguments: argparse.Namespace) -> int:
    from epiclock.demo import simulate

    parameters = simulate.StudyParameters(
        donors=arguments.donors, replicates=arguments.replicates, seed=arguments.seed,
        background_cpgs=arguments.background_cpgs, failed_samples=arguments.failed_samples,
    )
    parameters.condition_effects["skin_bm_young_serum"] = arguments.young_serum_effect
    parameters.composition = simulate.bone_marrow_composition(
        simulate.DEMO_FIBROBLAST_SHIFT if arguments.fibroblast_shift is None else arguments.fibroblast_shift)
    study = simulate.simulate_study(parameters)
    paths = simulate.write_study(study, arguments.out)
    print(f"simulated {study.samples.shape[0]} samples x {study.betas.shape[0]} CpGs "
          f"({arguments.donors} donors, {arguments.replicates} replicates) into {arguments.out}")
    if arguments.idats:
        from epiclock.demo import simulate_arrays

        cpg_ids = simulate_arrays.array_cpg_ids(arguments.array, study.betas.index, seed=arguments.seed)
        true_betas = simulate_arrays.pad_betas(study.betas, cpg_ids, seed=arguments.seed)
        array_paths = simulate_arrays.write_idats(true_betas, study.samples, {}, arguments.out, seed=arguments.seed)
        paths.update({name: Path(path) for name, path in array_paths.items()})
        print(f"wrote a synthetic {arguments.array} manifest ({len(cpg_ids)} CpG probes) and "
              f"{len(study.samples)} IDAT pairs")
    if arguments.reference_samples:
        # Same array as the study: the cohort measures the study's CpGs.
        cohort = simulate.simulate_reference_cohort(n_samples=arguments.reference_samples, seed=arguments.seed,
                                                    cpg_ids=study.betas.index)
        cohort_paths = simulate.write_reference_cohort(cohort, f"{arguments.out}/reference_cohort")
        paths.update({f"reference_cohort/{name}": path for name, path in cohort_paths.items()})
        print(f"simulated a reference cohort of {arguments.reference_samples} samples for training a custom clock")
    for path in paths.values():
        print(f"  {path}")
    return 0


def _clocks_list(arguments: argparse.Namespace) -> int:
    from epiclock.clocks import registry

    table = registry.describe()
    print(table.to_csv(sep="\t", index=False), end="")
    return 0


def _init(arguments: argparse.Namespace) -> int:
    from epiclock import scaffold

    factors = [factor.strip() for factor in arguments.factors.split(",") if factor.strip()] if arguments.factors else []
    study = scaffold.init_study(arguments.study, arguments.idats, illumina_sheet=arguments.sheet, factors=factors,
                                force=arguments.force)
    rows = sum(study.arrays.values())
    arrays = ", ".join(f"{count} {array}" for array, count in study.arrays.items())
    print(f"found {rows} IDAT pairs under {arguments.idats} ({arrays})")
    if len(study.arrays) > 1:
        print("  several arrays: the manifest follows the first sample's array and samples of another array are "
              "quarantined, unless the config lists their manifests (manifest.extra, input.mixed_arrays: intersect)")
    if study.unmatched_sheet_rows:
        print(f"  {len(study.unmatched_sheet_rows)} row(s) of {arguments.sheet} have no IDAT pair and were left out: "
              f"{', '.join(study.unmatched_sheet_rows[:5])}")
    to_fill = ", ".join([*scaffold.TO_FILL, *factors])
    print(f"wrote {study.sheet} (fill in {to_fill}) and {study.config}")
    print(f"next: fill the sheet, then\n  epiclock run {study.directory} --cores 4\n"
          f"  (plain snakemake: snakemake -s <checkout>/Snakefile -d {study.directory} --configfile {study.config})")
    return 0


def _run(arguments: argparse.Namespace) -> int:
    import subprocess

    from epiclock import launch

    command = launch.snakemake_command(arguments.study, arguments.snakemake_arguments)
    return subprocess.run(command).returncode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="epiclock", description=__doc__)
    parser.add_argument("--version", action="version", version=f"epiclock {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    simulate = commands.add_parser("simulate", help="simulate the skin / bone-marrow serum study with known truth")
    simulate.add_argument("--out", required=True, help="output directory (samples.tsv, betas.tsv.gz, truth.tsv)")
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--donors", type=int, default=6, help="number of skin donors (at least 3)")
    simulate.add_argument("--replicates", type=int, default=3, help="replicate models per donor and condition")
    simulate.add_argument("--young-serum-effect", type=float, default=-2.0,
                          help="planted DNAm-age effect (years) of young serum with bone marrow")
    simulate.add_argument("--fibroblast-shift", type=float, default=None,
                          help="planted change of the fibroblast fraction with bone marrow, a composition shift "
                               "that moves clocks without ageing (default: the demo's -0.06; 0: none)")
    simulate.add_argument("--background-cpgs", type=int, default=5000, help="CpGs beside the clock CpGs")
    simulate.add_argument("--failed-samples", type=int, default=1, help="arrays with a poor call rate")
    simulate.add_argument("--no-idats", dest="idats", action="store_false",
                          help="write only the beta matrix, no manifest and IDAT pairs")
    simulate.add_argument("--array", default="demo", choices=["demo", "450k", "epic"],
                          help="probe count of the simulated array: the study's CpGs only, or a real array's")
    simulate.add_argument("--reference-samples", type=int, default=150,
                          help="size of a reference cohort of known ages for training a custom clock (0: none)")
    simulate.set_defaults(handler=_simulate)

    init = commands.add_parser("init", help="a study directory from a folder of IDATs: a sample sheet to fill and "
                                            "a minimal config")
    init.add_argument("study", help="the study directory to create (samples.tsv and config.yaml go here)")
    init.add_argument("--idats", required=True, help="directory holding the IDAT pairs (searched recursively)")
    init.add_argument("--sheet", help="an Illumina SampleSheet.csv to prefill sample names, sex and age from")
    init.add_argument("--factors", default="",
                      help="comma-separated sample-sheet columns that define the conditions (none: a clock-only "
                           "run without deltas or contrasts)")
    init.add_argument("--force", action="store_true", help="replace an existing samples.tsv and config.yaml")
    init.set_defaults(handler=_init)

    run = commands.add_parser("run", help="snakemake on a study: -s <this checkout>/Snakefile -d STUDY "
                                          "--configfile STUDY/config.yaml [snakemake arguments]")
    run.add_argument("study", help="a study directory made by epiclock init")
    run.add_argument("snakemake_arguments", nargs=argparse.REMAINDER, help="passed on to snakemake")
    run.set_defaults(handler=_run)

    clocks = commands.add_parser("clocks", help="the shipped clocks")
    clock_commands = clocks.add_subparsers(dest="clock_command", required=True)
    clock_list = clock_commands.add_parser("list", help="name, CpGs, unit, tissue, citation of each clock")
    clock_list.set_defaults(handler=_clocks_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        return arguments.handler(arguments)
    except EpiclockError as error:
        print(f"epiclock: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
