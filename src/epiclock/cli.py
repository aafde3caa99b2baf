"""The `epiclock` command: simulate a demo study, list the clocks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from epiclock import __version__
from epiclock.errors import EpiclockError


def _simulate(arguments: argparse.Namespace) -> int:
    from epiclock.demo import simulate

    parameters = simulate.StudyParameters(
        donors=arguments.donors, replicates=arguments.replicates, seed=arguments.seed,
        background_cpgs=arguments.background_cpgs, failed_samples=arguments.failed_samples,
    )
    parameters.condition_effects["skin_bm_young_serum"] = arguments.young_serum_effect
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
    simulate.add_argument("--background-cpgs", type=int, default=5000, help="CpGs beside the clock CpGs")
    simulate.add_argument("--failed-samples", type=int, default=1, help="arrays with a poor call rate")
    simulate.add_argument("--no-idats", dest="idats", action="store_false",
                          help="write only the beta matrix, no manifest and IDAT pairs")
    simulate.add_argument("--array", default="demo", choices=["demo", "450k", "epic"],
                          help="probe count of the simulated array: the study's CpGs only, or a real array's")
    simulate.add_argument("--reference-samples", type=int, default=150,
                          help="size of a reference cohort of known ages for training a custom clock (0: none)")
    simulate.set_defaults(handler=_simulate)

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
