"""Vendor the in-vitro and mitotic clocks from their authors' public repositories into
src/epiclock/data/clocks/, and methylCIPHER's example betas into tests/fixtures/methylcipher/.

Run once, by hand, in a scratch virtualenv that has the `rdata` reader (not an epiclock dependency):

    python3 -m venv /tmp/rvenv && /tmp/rvenv/bin/pip install rdata pandas
    /tmp/rvenv/bin/python tools/vendor_in_vitro_clocks.py SOURCES

SOURCES holds checkouts of the repositories at the commits in REPOSITORIES below, one directory per
repository named owner+name (for example SOURCES/aet21+EpiMitClocks). R data files are read with
`rdata`; pyaging's IntrinClock coefficients are read from the notebook that builds its model.

Each clock is written as clocks/<name>.tsv (cpg_id, coefficient) with its row in
src/epiclock/data/provenance.tsv; an intercept goes to clocks.yaml (printed here). Mitotic clocks whose
published formula is a mean or a rate are written as the equivalent linear weights; stemTOC's
0.95 quantile is a CpG list (its weights act on the sample's sorted values, see clocks.yaml).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import rdata

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vendor_biolearn_clocks import DATA, PROVENANCE_COLUMNS, ROOT, sha256, update_provenance, write_table  # noqa: E402

REPOSITORIES = {
    "aet21/EpiMitClocks": ("2c236cd", "GPL-2"),
    "MorganLevineLab/methylCIPHER": ("e62937e", "no licence stated"),
    "hhp94/methylCIPHERv2": ("41c7ad65fdb39eb748399a74dfb0c96cc75018bd", "BSD-3-Clause"),
    "rsinghlab/pyaging": ("b91734f", "BSD-3-Clause"),
}
STEMTOC = ("Zhu T et al. Nature Communications 15:4211 (2024)", "10.1038/s41467-024-48649-8")
TESCHENDORFF2020 = ("Teschendorff AE. Genome Medicine 12:56 (2020)", "10.1186/s13073-020-00752-3")
CELLPOPAGE = ("An expedited screening platform for the discovery of anti-ageing compounds in vitro and in vivo. Genome "
              "Medicine (2024) (the CellPopAge clock; github.com/ucl-medical-genomics/CellPopAge-epigenetic-clock)",
              "10.1186/s13073-024-01349-w")
SENESCENCE = ("Kasamoto J, Gonzalez J, Markov Y, et al., Higgins-Chen AT. DNA methylation signatures of cellular senescence "
              "are not reversed by senolytic treatment. Aging Cell (2026)", "10.1111/acel.70430")


def checkout(sources: Path, repository: str) -> Path:
    directory = sources / repository.replace("/", "+")
    return directory / "repo" if (directory / "repo").is_dir() else directory


def git_show(directory: Path, commit: str, path: str) -> bytes:
    return subprocess.run(["git", "-C", str(directory), "show", f"{commit}:{path}"], check=True,
                          capture_output=True).stdout


class Source:
    """One file of a repository at a fixed commit, kept in memory with its checksum."""

    def __init__(self, sources: Path, repository: str, path: str):
        self.repository, self.path = repository, path
        self.commit, self.licence = REPOSITORIES[repository]
        self.content = git_show(checkout(sources, repository), self.commit, path)
        self.sha256 = hashlib.sha256(self.content).hexdigest()

    def r_data(self):
        scratch = Path("/tmp") / f"epiclock-vendor-{self.sha256[:12]}.rda"
        scratch.write_bytes(self.content)
        return rdata.read_rda(str(scratch))

    def row(self, relative: str, content: str, paper: str, doi: str, conversion: str) -> dict:
        return {"file": relative, "content": content, "paper": paper, "doi": doi,
                "source_package": f"{self.repository} (GitHub, {self.licence})", "source_version": self.commit,
                "source_file": self.path, "source_sha256": self.sha256, "sha256": sha256(DATA / relative),
                "conversion": conversion}


def write_weights(name: str, weights: pd.Series) -> str:
    relative = f"clocks/{name}.tsv"
    write_table(pd.DataFrame({"cpg_id": weights.index.astype(str), "coefficient": weights.to_numpy(dtype=float)}),
                DATA / relative)
    return relative


def division_clock(name: str, parameters: pd.DataFrame) -> tuple[pd.Series, float]:
    """tnsc = 2 mean_i (beta_i - beta0_i) / (delta_i (1 - beta0_i)) as weights and intercept."""
    weights = 2.0 / (len(parameters) * parameters["delta"] * (1.0 - parameters["beta0"]))
    intercept = float(-(weights * parameters["beta0"]).sum())
    print(f"{name}\t{len(weights)} CpGs\tintercept {intercept!r}")
    return weights, intercept


def vendor_epimitclocks(sources: Path) -> list[dict]:
    rows = []
    data = Source(sources, "aet21/EpiMitClocks", "data/dataETOC3.rda")
    lists = data.r_data()["dataETOC3.l"]
    epitoc3 = lists["epiTOC3"]
    parameters = pd.DataFrame(epitoc3.values, index=epitoc3.coords["dim_0"].values, columns=["delta", "beta0"])
    weights, _ = division_clock("epitoc3_2024", parameters)
    relative = write_weights("epitoc3_2024", weights)
    rows.append(data.row(relative, "epiTOC3 as a linear model: 170 population-doubling CpG weights 2/(k delta (1 - beta0)) "
                         "(intercept -sum weight x beta0 in clocks.yaml)", *STEMTOC,
                         "dataETOC3.l$epiTOC3 (delta, beta0) read with rdata; weights derived by tools/vendor_in_vitro_clocks.py (k = 170)"))
    relative = write_weights("epitoc3_2024_approximation", 2.0 / (len(parameters) * parameters["delta"]))
    rows.append(data.row(relative, "epiTOC3 approximation (all CpGs unmethylated at birth): 170 CpG weights 2/(k delta), no intercept",
                         *STEMTOC, "dataETOC3.l$epiTOC3 delta read with rdata; weights derived by tools/vendor_in_vitro_clocks.py (k = 170)"))

    solo = pd.Index(lists["cm-solo-WCGW"].astype(str))
    relative = write_weights("hypoclock2020", pd.Series(-1.0 / len(solo), index=solo))
    rows.append(data.row(relative, "HypoClock: 678 solo-WCGW CpGs; score 1 - mean beta as weights -1/678 (intercept 1 in clocks.yaml)",
                         *TESCHENDORFF2020, "dataETOC3.l$`cm-solo-WCGW` read with rdata; weight -1/678 each"))

    replitali = Source(sources, "aet21/EpiMitClocks", "data/Replitali.rda").r_data()
    coefficients = pd.Series(replitali["replitali.coe"], index=replitali["replitali.cpg.v"].astype(str))
    print(f"replitali2022\t{len(coefficients) - 1} CpGs\tintercept {coefficients['(Intercept)']!r}")
    relative = write_weights("replitali2022", coefficients.drop("(Intercept)"))
    rows.append(Source(sources, "aet21/EpiMitClocks", "data/Replitali.rda").row(
        relative, "RepliTali: 87 population-doubling hypomethylated CpG coefficients (intercept in clocks.yaml)",
        "Endicott JL et al. Nature Communications 13:6659 (2022)", "10.1038/s41467-022-34268-8",
        "replitali.cpg.v, replitali.coe read with rdata; the (Intercept) entry removed (its value is in clocks.yaml)"))

    for name, path, variable, content in (
            ("stemtoc2024", "data/epiTOCcpgs3.rda", "epiTOCcpgs3.v", "stemTOC: 371 CpGs whose 0.95 quantile per sample is the score"),
            ("stemtocvitro2024", "data/cugpmitclockCpG.rda", "cugpmitclockCpG.v", "stemTOCvitro: 629 CpGs whose 0.95 quantile per sample is the score")):
        source = Source(sources, "aet21/EpiMitClocks", path)
        cpgs = pd.Index(source.r_data()[variable].astype(str))
        relative = f"clocks/{name}.tsv"
        write_table(pd.DataFrame({"cpg_id": cpgs}), DATA / relative)
        rows.append(source.row(relative, content, *STEMTOC, f"{variable} read with rdata; written as a CpG list"))

    epicmit = Source(sources, "aet21/EpiMitClocks", "data/EpiCMITcpgs.rda")
    table = epicmit.r_data()["epiCMIT.df"]
    for name, label, sign in (("epicmit_hyper2020", "epiCMIT.hyper", 1.0), ("epicmit_hypo2020", "epiCMIT.hypo", -1.0)):
        cpgs = pd.Index(table.loc[table.iloc[:, 6] == label, "Name"].astype(str))
        relative = write_weights(name, pd.Series(sign / len(cpgs), index=cpgs))
        formula = "mean beta, weights 1/n" if sign > 0 else "1 - mean beta, weights -1/n (intercept 1 in clocks.yaml)"
        rows.append(epicmit.row(relative, f"epiCMIT {label.split('.')[1]}: {len(cpgs)} CpGs; {formula}",
                                "Duran-Ferrer M et al. Nature Cancer 1:1066-1081 (2020)", "10.1038/s43018-020-00131-2",
                                f"epiCMIT.df rows of class {label} read with rdata; weights from the package's formula"))
    return rows


def vendor_methylcipher_v2(sources: Path) -> list[dict]:
    rows = []
    reference = Source(sources, "hhp94/methylCIPHERv2", "data/CellPopAge_ref.rda")
    cellpopage = reference.r_data()["CellPopAge_ref"]
    table = cellpopage["all_CpGs"]
    selected = table[table["coefficient"] != 0]
    print(f"cellpopage\t{len(selected)} CpGs\tintercept {float(cellpopage['intercept'][0])!r}")
    relative = write_weights("cellpopage", pd.Series(selected["coefficient"].to_numpy(), index=selected["CpG"]))
    rows.append(reference.row(relative, "CellPopAge: the 42 CpGs with non-zero coefficients of 2,543 (intercept in clocks.yaml)",
                              *CELLPOPAGE, "CellPopAge_ref$all_CpGs read with rdata; zero coefficients dropped"))
    # The intercepts are in the package's R/calcSenescenceAge.R (make_simple_clock calls).
    for name, clock, intercept in (("senchronoage", "SenChronoAge", "-80.0532"), ("sencultureage", "SenCultureAge", "-254.6817"),
                                   ("senmortalityage", "SenMortalityAge", "0")):
        source = Source(sources, "hhp94/methylCIPHERv2", f"data-raw/SenescenceAge/{clock}_CpGs.csv")
        table = pd.read_csv(pd.io.common.BytesIO(source.content))
        relative = write_weights(name, pd.Series(table["Coefficient"].to_numpy(), index=table["CpG"]))
        print(f"{name}\t{len(table)} CpGs\tintercept {intercept} (R/calcSenescenceAge.R)")
        rows.append(source.row(relative, f"{clock}: {len(table)} CpG coefficients (intercept {intercept} in clocks.yaml, "
                               f"from the package's calc{clock})",
                               *SENESCENCE, "columns CpG, Coefficient kept as cpg_id, coefficient; CSV->TSV; values unchanged"))
    return rows


def vendor_intrinclock(sources: Path) -> list[dict]:
    source = Source(sources, "rsinghlab/pyaging", "clocks/notebooks/intrinclock.ipynb")
    cells = ["".join(cell["source"]) for cell in json.loads(source.content)["cells"]]
    code = next(cell for cell in cells if cell.startswith("coefficient_dict = {"))
    namespace: dict = {}
    exec(compile(code, source.path, "exec"), {}, namespace)   # a dict literal and a float, nothing else
    weights = pd.Series(namespace["coefficient_dict"])
    print(f"intrinclock2024\t{len(weights)} CpGs\tintercept {namespace['intercept']!r}")
    relative = write_weights("intrinclock2024", weights)
    return [source.row(relative, "IntrinClock: 380 CpG coefficients, anti.trafo (intercept -2.349778 in clocks.yaml)",
                       "Tomusiak A et al. Communications Biology 7:934 (2024)", "10.1038/s42003-024-06609-4",
                       "coefficient_dict and intercept of the notebook cell that builds the model; written as TSV")]


def vendor_methylcipher_example(sources: Path) -> None:
    """methylCIPHER's exampleBetas (5 GSE55763 samples) as a gzipped TSV, CpGs as rows."""
    source = Source(sources, "MorganLevineLab/methylCIPHER", "data/exampleBetas.rda")
    betas = source.r_data()["exampleBetas"].T
    betas.index.name = "cpg_id"
    target = ROOT / "tests" / "fixtures" / "methylcipher" / "example_betas.tsv.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
        out.write(betas.to_csv(sep="\t", float_format="%.17g").encode())
    print(f"example betas: {betas.shape}, source sha256 {source.sha256}")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sources = Path(sys.argv[1])
    rows = vendor_epimitclocks(sources) + vendor_methylcipher_v2(sources) + vendor_intrinclock(sources)
    update_provenance(rows)
    vendor_methylcipher_example(sources)
    assert set(rows[0]) == set(PROVENANCE_COLUMNS)


if __name__ == "__main__":
    main()
