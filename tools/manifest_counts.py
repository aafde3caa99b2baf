"""Probe counts of manifests as the project parses them, one tab-separated line per file.

    .venv/bin/python tools/manifest_counts.py HM27.ordering.tsv.gz MSA.ordering.tsv.gz ...

Columns: file, probes, type I Red, type I Grn, type II, replicate probes (sharing a CpG name with an
earlier probe), chrX and chrY probes, controls, controls with a type, seconds to parse.
"""

import sys
import time

from epiclock.io.manifest import parse_manifest

COLUMNS = ["file", "probes", "type_i_red", "type_i_grn", "type_ii", "replicates", "chrX", "chrY", "controls",
           "typed_controls", "seconds"]


def counts(path: str) -> list:
    start = time.perf_counter()
    parsed = parse_manifest(path)
    seconds = time.perf_counter() - start
    probes, controls = parsed.probes, parsed.controls
    return [path.rsplit("/", 1)[-1], len(probes), int((probes["channel"] == "Red").sum()),
            int((probes["channel"] == "Grn").sum()), int((probes["design"] == "II").sum()),
            int(probes["name"].duplicated().sum()), int((probes["chromosome"] == "chrX").sum()),
            int((probes["chromosome"] == "chrY").sum()), len(controls), int(controls["type"].notna().sum()),
            f"{seconds:.1f}"]


if __name__ == "__main__":
    print("\t".join(COLUMNS))
    for argument in sys.argv[1:]:
        print("\t".join(map(str, counts(argument))))
