"""Seconds per 450k sample for detection p-values plus noob, beside minfi's figures.

Reads the synthetic 450k reference (../shared/reference/synthetic450k: three IDAT pairs and a
485,577-probe manifest) and times, per sample, minfi-style ``detectionP`` and ``preprocessNoob``
(offset 15, single-sample dye correction) after the IDATs are in memory, as minfi's timings are
after ``read.metharray.exp``. The first call per probe table builds the probe layout (address
look-up) shared by every later sample; it is reported on its own. Figures are medians over runs.

    .venv/bin/python bench/noob.py [--repeats 5] [--bmiq]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from epiclock.arrays import betas as arrays_betas
from epiclock.arrays import layout as arrays_layout
from epiclock.io import idat, manifest
from epiclock.preprocess import bmiq, detection, noob

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "synthetic450k"
# minfi 1.44 on a 2-core machine, 8 samples (shared README): detectionP 7.1 s, preprocessNoob 12.7 s; BMIQ 22-30 s.
MINFI_DETECTION_PER_SAMPLE = 7.1 / 8
MINFI_NOOB_PER_SAMPLE = 12.7 / 8


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bmiq", action="store_true", help="also time BMIQ on the noob betas")
    arguments = parser.parse_args()
    if not REFERENCE.is_dir():
        print(f"{REFERENCE} is absent: nothing to benchmark")
        return 0
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        parsed = manifest.load_manifest(REFERENCE / "SyntheticHumanMethylation450_manifest.csv.gz", cache_dir=cache)
        parse_seconds = time.perf_counter() - start
    pairs = [idat.read_idat_pair(REFERENCE / "idats" / basename)
             for basename in ("999000000001_R01C01", "999000000001_R05C01", "999000000002_R02C02")]

    start = time.perf_counter()
    arrays_layout.probe_layout(pairs[0].addresses, parsed.probes)
    layout_seconds = time.perf_counter() - start

    detection_times, noob_times, bmiq_times = [], [], []
    design = parsed.probes.set_index("probe_id")["design"]
    for _ in range(arguments.repeats):
        for pair in pairs:
            start = time.perf_counter()
            detection.detection_p_minfi(pair, parsed.probes, parsed.controls)
            detection_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = noob.noob(pair, parsed.probes, parsed.controls)
            noob_times.append(time.perf_counter() - start)
            if arguments.bmiq and len(bmiq_times) < len(pairs):
                start = time.perf_counter()
                bmiq.bmiq(arrays_betas.betas(result.signals, offset=0), design)
                bmiq_times.append(time.perf_counter() - start)

    detection_median, noob_median = statistics.median(detection_times), statistics.median(noob_times)
    print(f"450k, {len(pairs)} samples x {arguments.repeats} runs (medians, seconds per sample)")
    print(f"  manifest parse (once):        {parse_seconds:6.2f}")
    print(f"  probe layout (once per type): {layout_seconds:6.2f}")
    print(f"  detection p (minfi):          {detection_median:6.2f}   minfi detectionP: {MINFI_DETECTION_PER_SAMPLE:.2f}")
    print(f"  noob + dye bias (single):     {noob_median:6.2f}   minfi preprocessNoob: {MINFI_NOOB_PER_SAMPLE:.2f}")
    print(f"  detection p + noob:           {detection_median + noob_median:6.2f}   minfi: "
          f"{MINFI_DETECTION_PER_SAMPLE + MINFI_NOOB_PER_SAMPLE:.2f}")
    if bmiq_times:
        print(f"  BMIQ (n_fit 50,000):          {statistics.median(bmiq_times):6.2f}   wateRmelon BMIQ: 22-30")
    return 0


if __name__ == "__main__":
    sys.exit(main())
