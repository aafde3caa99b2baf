"""Fuzz the readers of untrusted input for a set time: the properties of tests/test_fuzz.py, many examples.

Each property (IDAT parser, gzipped IDAT reader, manifest parser, sample-sheet reader) is run in
rounds of hypothesis examples, round-robin, until the time is up. A failure (an exception other
than EpiclockError escaping a reader) is shrunk by hypothesis, printed, counted, and the fuzzing
goes on with fresh random inputs.

    .venv/bin/python bench/fuzz.py --minutes 10 [--examples-per-round 2000] [--seed N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_fuzz import PROPERTIES  # noqa: E402


def run_round(strategy, check, examples: int, round_seed: int, counter: list[int]) -> BaseException | None:
    def counted(data):
        counter[0] += 1
        check(data)

    test = settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                    suppress_health_check=list(HealthCheck), print_blob=False)(given(strategy)(counted))
    try:
        seed(round_seed)(test)()
    except Exception as error:  # a property failed: report it and fuzz on
        return error
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="how long to fuzz (default 1)")
    parser.add_argument("--examples-per-round", type=int, default=2000,
                        help="examples per property before moving to the next (default 2000)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first round (default: random)")
    parser.add_argument("--only", nargs="+", choices=[name for name, _, _ in PROPERTIES],
                        help="fuzz only these properties")
    args = parser.parse_args()

    properties = [entry for entry in PROPERTIES if not args.only or entry[0] in args.only]
    rng = random.Random(args.seed)
    deadline = time.monotonic() + 60 * args.minutes
    examples = {name: [0] for name, _, _ in PROPERTIES}
    failures: dict[str, list[str]] = {name: [] for name, _, _ in PROPERTIES}
    started = time.monotonic()
    while time.monotonic() < deadline:
        for name, strategy, check in properties:
            if time.monotonic() >= deadline:
                break
            round_seed = rng.getrandbits(64)
            error = run_round(strategy, check, args.examples_per_round, round_seed, examples[name])
            if error is not None:
                text = "".join(traceback.format_exception(error))
                failures[name].append(text)
                print(f"FAILURE in {name} (round seed {round_seed}):\n{text}", flush=True)
    elapsed = (time.monotonic() - started) / 60

    total = sum(count[0] for count in examples.values())
    total_failures = sum(len(found) for found in failures.values())
    print(f"\nfuzzed for {elapsed:.1f} minutes: {total} examples, {total_failures} failures")
    for name, _, _ in properties:
        print(f"  {name:22s} {examples[name][0]:>10d} examples  {len(failures[name]):>3d} failures")
    return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(main())
