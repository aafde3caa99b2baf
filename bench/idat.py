"""IDAT pairs per second at EPIC size: parsing alone, and reading plus writing a Parquet table per pair.

Synthetic EPIC-size pairs (1,051,815 addresses, intensities drawn like a real scan's) are written
with epiclock's own writer into a temporary folder, plain and gzipped (gzip level 6, like files
from GEO). Gzipped files are read once with python-isal and once with plain zlib; the ratio is the
speed-up isal gives on this machine. Figures are medians over several runs.

    .venv/bin/python bench/idat.py [--pairs 4] [--repeats 5]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from epiclock.io import idat, write_parquet

EPIC_ADDRESSES = 1_051_815


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
    addresses = np.sort(rng.choice(np.arange(1_600_000, 99_000_000, 64), EPIC_ADDRESSES, replace=False)).astype(np.int32)
    basenames = []
    for number in range(count):
        barcode = f"20600000{number:04d}"
        basename = directory / f"{barcode}_R01C01"
        for channel in ("Red", "Grn"):
            # zlib at level 6 writes the gzip files: what downloads from GEO look like.
            idat.write_idat(synthetic_idat(rng, addresses, barcode), f"{basename}_{channel}{suffix}", gzip_backend="zlib")
        basenames.append(basename)
    return basenames


def pairs_per_second(basenames: list[Path], repeats: int, backend: str, parquet_dir: Path | None) -> list[float]:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for basename in basenames:
            pair = idat.read_idat_pair(basename, gzip_backend=backend)
            if parquet_dir is not None:
                write_parquet(pair.to_frame(), parquet_dir / f"{basename.name}.parquet")
        rates.append(len(basenames) / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()

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

        print(f"EPIC-size IDAT pairs ({EPIC_ADDRESSES:,} addresses per file): {arguments.pairs} pairs, "
              f"median of {arguments.repeats} runs")
        print(f"pair size on disk: plain {plain_size:.1f} MiB, gzipped {gzipped_size:.1f} MiB")
        print(f"{'task':<32}{'plain':>10}{'gz isal':>10}{'gz zlib':>10}{'isal/zlib':>11}   (pairs/s)")
        for task, target in (("parse", None), ("parse + write Parquet", parquet_dir)):
            plain_rate = statistics.median(pairs_per_second(plain, arguments.repeats, "auto", target))
            zlib_rate = statistics.median(pairs_per_second(gzipped, arguments.repeats, "zlib", target))
            if not idat.ISAL_AVAILABLE:
                print(f"{task:<32}{plain_rate:>10.1f}{'n/a':>10}{zlib_rate:>10.1f}{'n/a':>11}   (pip install isal)")
                continue
            isal_rate = statistics.median(pairs_per_second(gzipped, arguments.repeats, "isal", target))
            print(f"{task:<32}{plain_rate:>10.1f}{isal_rate:>10.1f}{zlib_rate:>10.1f}{isal_rate / zlib_rate:>10.2f}x")


if __name__ == "__main__":
    main()
