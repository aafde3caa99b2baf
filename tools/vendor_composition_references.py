"""Convert the published cell-type reference profiles into src/epiclock/data/composition/.

Run once by hand when a reference is added or updated; the outputs and their provenance rows are
committed, this script is kept so the conversion can be checked or redone. It needs, beside the
repository (never at test time):

- EpiDISH's source tree (https://github.com/sjczheng/EpiDISH, GPL-2), whose data/*.rda files hold
  the epithelial references, read with the `rdata` package (`pip install rdata` in a scratch venv;
  it is not a dependency of epiclock);
- biolearn 0.9.1's wheel (`pip download --no-deps biolearn==0.9.1`), which ships the Salas 12-cell
  EPIC and the Reinius 450k blood references as CSV.

    python tools/vendor_composition_references.py --epidish PATH/TO/EpiDISH --epidish-commit SHA \
        --biolearn-wheel PATH/TO/biolearn-0.9.1-py3-none-any.whl

Values are copied unchanged (written as Python's shortest repr, so float64 round-trips exactly);
only the container changes (R matrix or CSV -> TSV with a `cpg_id` column, cell types as columns in
the source's order). The provenance table's columns are those of data/provenance.tsv.
"""

import argparse
import hashlib
import io
import zipfile
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "src" / "epiclock" / "data" / "composition"

EPIDISH_PAPER = ("Zheng SC, Webster AP, Dong D et al., Teschendorff AE. Epigenomics 10(7):925-940 (2018)",
                 "10.2217/epi-2018-0037")

# name -> (source object, content, paper, doi)
EPIDISH = {
    "epidish_epi_fib_ic": ("centEpiFibIC.m",
                           "EpiDISH generic epithelial-tissue reference (skin, epidermis, buccal): "
                           "716 CpGs x 3 cell types (Epi epithelial, Fib fibroblast, IC total immune)",
                           *EPIDISH_PAPER),
    "epidish_epi_fib_fat_ic": ("centEpiFibFatIC.m",
                               "EpiDISH epithelial reference with fat cells (breast; full-thickness skin "
                               "with fat): 491 CpGs x 4 cell types (Epi, Fib, Fat adipocyte, IC total immune)",
                               *EPIDISH_PAPER),
}

# name -> (file in the wheel, content, paper, doi)
BIOLEARN = {
    "salas2022_blood12_epic": ("biolearn/data/twelve_cell_deconv.csv",
                               "Salas 2022 EPIC IDOL-optimised blood reference: 12 leukocyte types "
                               "(basophils, naive/memory B, CD4 and CD8 T, Treg, eosinophils, monocytes, "
                               "NK, neutrophils), as biolearn ships it",
                               "Salas LA, Zhang Z, Koestler DC et al. Nature Communications 13:761 (2022)",
                               "10.1038/s41467-021-27864-7"),
    "reinius2012_blood6_450k": ("biolearn/data/450K_reinius_12_reference.csv",
                                "450k blood reference from the Reinius 2012 sorted cells: 6 leukocyte "
                                "types (neutrophil, NK, B, CD4 T, CD8 T, monocyte), as biolearn ships it",
                                "Reinius LE, Acevedo N, Joerink M et al. PLoS One 7(7):e41361 (2012)",
                                "10.1371/journal.pone.0041361"),
}

COLUMNS = ["file", "content", "paper", "doi", "source_package", "source_version", "source_file",
           "source_sha256", "sha256", "conversion"]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_reference(table: pd.DataFrame, name: str) -> tuple[str, str]:
    table = table.astype("float64")
    table.index = table.index.astype(str)
    table.index.name = "cpg_id"
    if table.index.duplicated().any() or table.isna().any().any():
        raise SystemExit(f"{name}: duplicated CpGs or missing values in the source")
    path = OUT / f"{name}.tsv"
    table.to_csv(path, sep="\t", lineterminator="\n")  # shortest repr: float64 round-trips
    return path.name, sha256_bytes(path.read_bytes())


def epidish_rows(source: Path, commit: str, version: str) -> list[dict]:
    import rdata  # a scratch-venv tool, not a dependency of epiclock

    rows = []
    for name, (obj, content, paper, doi) in EPIDISH.items():
        rda = source / "data" / f"{obj}.rda"
        converted = rdata.conversion.convert(rdata.parser.parse_file(rda))[obj]
        table = pd.DataFrame(converted.values, index=converted.coords["dim_0"].values,
                             columns=converted.coords["dim_1"].values)
        file, sha = write_reference(table, name)
        rows.append({"file": file, "content": content, "paper": paper, "doi": doi,
                     "source_package": "EpiDISH (GitHub sjczheng/EpiDISH, code GPL-2; the reference values "
                                       "are published data)",
                     "source_version": f"{version} (commit {commit})", "source_file": f"data/{obj}.rda",
                     "source_sha256": sha256_bytes(rda.read_bytes()), "sha256": sha,
                     "conversion": f"R matrix {obj} read with the rdata package; rownames -> cpg_id, "
                                   "colnames kept as cell types; RDA->TSV; values unchanged"})
    return rows


def biolearn_rows(wheel: Path) -> list[dict]:
    rows = []
    with zipfile.ZipFile(wheel) as archive:
        for name, (member, content, paper, doi) in BIOLEARN.items():
            raw = archive.read(member)
            table = pd.read_csv(io.BytesIO(raw), index_col=0)
            file, sha = write_reference(table, name)
            rows.append({"file": file, "content": content, "paper": paper, "doi": doi,
                         "source_package": "biolearn (PyPI, BSD-3-Clause; the reference values are "
                                           "published data)",
                         "source_version": "0.9.1", "source_file": member, "source_sha256": sha256_bytes(raw),
                         "sha256": sha,
                         "conversion": "first column -> cpg_id, cell-type columns kept; CSV->TSV; "
                                       "values unchanged"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epidish", type=Path, required=True, help="EpiDISH source tree")
    parser.add_argument("--epidish-commit", required=True, help="the commit of that tree (for the record)")
    parser.add_argument("--biolearn-wheel", type=Path, required=True)
    args = parser.parse_args()
    description = (args.epidish / "DESCRIPTION").read_text().splitlines()
    version = next(line.split(":", 1)[1].strip() for line in description if line.startswith("Version:"))
    OUT.mkdir(parents=True, exist_ok=True)
    rows = epidish_rows(args.epidish, args.epidish_commit, version) + biolearn_rows(args.biolearn_wheel)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(OUT / "provenance.tsv", sep="\t", index=False,
                                               lineterminator="\n")
    print(f"wrote {len(rows)} references and provenance.tsv to {OUT}")


if __name__ == "__main__":
    main()
