"""Wall time of each phase of `make run` on a fresh clone: install, simulate the demo, run the workflow.

The figures `make run` quotes ("about N minutes") come from this. The clone is made from this
checkout's HEAD into a temporary directory; pip's cache is used as on a user's second project.

    .venv/bin/python bench/first_run.py [--keep]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PHASES = (("install", ["make", "install"]), ("simulate the demo", ["make", "demo"]),
          ("run the workflow", ["make", "run"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    arguments = parser.parse_args()
    clone = Path(tempfile.mkdtemp(prefix="epiclock-first-run-")) / "epiclock"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)], check=True)
    total = 0.0
    try:
        for name, command in PHASES:
            start = time.perf_counter()
            subprocess.run(command, cwd=clone, check=True, capture_output=True)
            elapsed = time.perf_counter() - start
            total += elapsed
            print(f"{name:<20} {elapsed:7.1f} s")
        print(f"{'first make run':<20} {total:7.1f} s")
    finally:
        if arguments.keep:
            print(f"clone kept at {clone}")
        else:
            shutil.rmtree(clone.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
