"""IDAT pairs per second per core at EPIC size: parsing alone, parsing and reading every value, and
reading plus writing a Parquet table per pair.

Synthetic EPIC-size pairs (1,051,815 addresses) are written with epiclock's own writer into a
temporary folder, plain and gzipped (gzip level 6, like files from GEO). The values are drawn like a
real scan's: sorted 7- and 8-digit addresses with no pattern in their low bits (an earlier version
drew multiples of 64, whose low byte compresses better than in any real address list), lognormal
mean intensities, SDs of 5-30% of the mean and Poisson bead counts around 14. Gzipped they take
about 60% of their plain size.

Gzipped files are read once with python-isal and once with plain zlib, through the same reader; the
ratio is the speed-up isal gives on this machine: 1.8-1.95x here (November 2026, 2-core AMD EPYC),
nearly all of it inflating. Intensities are noise to a compressor, so these files are mostly
literals, which every inflater decodes symbol by symbol: on the same files libdeflate (PyPI deflate)
measured about 2.0x and zlib-ng 1.1-1.3x, too little over isal to add either. Plain files are mapped, not copied, so "parse" costs little and the pages come in
when the values are first used: "parse + read every value" (the sum of every mean, SD and bead count
of both channels) shows that cost.

Rates are pairs per second of this process's CPU time, which is per core (the reader uses one thread)
and holds still when other work shares the machine; --wall measures elapsed time instead. Each run
reads the plain files, then the gzipped ones with each library in turn, so that a change of load
hits them alike; figures are medians over the runs, and the ratio is the median of each run's
isal/zlib ratio.

    .venv/bin/python bench/idat.py [--pairs 4] [--repeats 7] [--wall]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from epiclock.io import idat
from epiclock.io.tables import write_parquet

EPIC_ADDRESSES = 1_051_815
# Illumina's bead-type addresses are 7- or 8-digit numbers.
ADDRESS_RANGE = (1_000_000, 99_999_999)


def synthetic_idat(rng: np.random.Generator, addresses: np.ndarray, barcode: str) -> idat.Idat:
    means = np.clip(rng.lognormal(7.5, 1.0, len(addresses)), 0, 65_535).astype(np.uint16)
    return idat.Idat(
        addresses=addresses,
        means=means,
        sds=(means * rng.uniform(0.05, 0.3, len(addresses))).astype(np.uint16),
        bead_counts=rng.poisson(14, len(addresses)).clip(0, 255).astype(np.uint8),
        mid_block=addresses.copy(),
        run_info=(idat.RunInfo("1/1/2024 12:00:00 PM", "Scan", "iScan", "bench", "1.0"),),
        red_green=0,
        strings={401: "", 402: barcode, 403: "BeadChip 8x1", 404: "R01C01"},
    )


def write_pairs(directory: Path, count: int, suffix: str) -> list[Path]:
    rng = np.random.default_rng(0)
    addresses = np.sort(rng.choice(np.arange(*ADDRESS_RANGE), EPIC_ADDRESSES, replace=False)).astype(np.int32)
    basenames = []
    for number in range(count):
        barcode = f"20600000{number:04d}"
        basename = directory / f"{barcode}_R01C01"
        for channel in ("Red", "Grn"):
            # zlib at level 6 writes the gzip files: what downloads from GEO look like.
            idat.write_idat(synthetic_idat(rng, addresses, barcode), f"{basename}_{channel}{suffix}", gzip_backend="zlib")
        basenames.append(basename)
    return basenames


def sum_every_value(pair: idat.IdatPair) -> int:
    return sum(int(values.sum(dtype=np.int64)) for channel in (pair.red, pair.green)
               for values in (channel.means, channel.sds, channel.bead_counts))


def parse(basename: Path, backend: str, parquet_dir: Path) -> None:
    idat.read_idat_pair(basename, gzip_backend=backend)


def parse_and_read_every_value(basename: Path, backend: str, parquet_dir: Path) -> None:
    sum_every_value(idat.read_idat_pair(basename, gzip_backend=backend))


def parse_and_write_parquet(basename: Path, backend: str, parquet_dir: Path) -> None:
    pair = idat.read_idat_pair(basename, gzip_backend=backend)
    write_parquet(pair.to_frame(), parquet_dir / f"{basename.name}.parquet")


TASKS = {
    "parse": parse,
    "parse + read every value": parse_and_read_every_value,
    "parse + write Parquet": parse_and_write_parquet,
}


def pairs_per_second(task, basenames: list[Path], backend: str, parquet_dir: Path, clock) -> float:
    start = clock()
    for basename in basenames:
        task(basename, backend, parquet_dir)
    return len(basenames) / (clock() - start)


def measure(task, plain: list[Path], gzipped: list[Path], backends: list[str], repeats: int,
            parquet_dir: Path, clock) -> dict[str, list[float]]:
    """Each run's rate for the plain files ("plain") and for the gzipped ones with each backend."""
    runs = {"plain": (plain, "auto"), **{backend: (gzipped, backend) for backend in backends}}
    rates = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (files, backend) in runs.items():
            rates[name].append(pairs_per_second(task, files, backend, parquet_dir, clock))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--wall", action="store_true", help="elapsed time instead of this process's CPU time")
    arguments = parser.parse_args()
    clock = time.perf_counter if arguments.wall else time.process_time

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        plain = write_pairs(folder, arguments.pairs, ".idat")
        gzipped_dir = folder / "gz"
        gzipped_dir.mkdir()
        gzipped = write_pairs(gzipped_dir, arguments.pairs, ".idat.gz")
        parquet_dir = folder / "parquet"
        parquet_dir.mkdir()
        plain_size = sum(path.stat().st_size for path in folder.glob("*.idat")) / arguments.pairs / 2**20
        gzipped_size = sum(path.stat().st_size for path in gzipped_dir.glob("*.idat.gz")) / arguments.pairs / 2**20

        unit = "pairs per elapsed second" if arguments.wall else "pairs per CPU second = per core"
        print(f"EPIC-size IDAT pairs ({EPIC_ADDRESSES:,} addresses per file): {arguments.pairs} pairs, "
              f"median of {arguments.repeats} runs, {unit}")
        print(f"pair size on disk: plain {plain_size:.1f} MiB, gzipped {gzipped_size:.1f} MiB")
        backends = ["isal", "zlib"] if idat.ISAL_AVAILABLE else ["zlib"]
        print(f"{'task':<28}{'plain':>10}{'gz isal':>10}{'gz zlib':>10}{'isal/zlib':>11}")
        for name, task in TASKS.items():
            rates = measure(task, plain, gzipped, backends, arguments.repeats, parquet_dir, clock)
            plain_rate, zlib_rate = statistics.median(rates["plain"]), statistics.median(rates["zlib"])
            if not idat.ISAL_AVAILABLE:
                print(f"{name:<28}{plain_rate:>10.1f}{'n/a':>10}{zlib_rate:>10.1f}{'n/a':>11}   (pip install isal)")
                continue
            ratio = statistics.median(isal / zlib for isal, zlib in zip(rates["isal"], rates["zlib"]))
            print(f"{name:<28}{plain_rate:>10.1f}{statistics.median(rates['isal']):>10.1f}{zlib_rate:>10.1f}"
                  f"{ratio:>10.2f}x")


if __name__ == "__main__":
    main()
