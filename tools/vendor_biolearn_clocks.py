"""Vendor the coefficient files of biolearn 0.9.1's DNA-methylation models into src/epiclock/data/clocks/.

Run once, by hand, when (re)vendoring; not at install or test time:

    pip download --no-deps biolearn==0.9.1 -d /tmp/biolearn && cd /tmp/biolearn && unzip -q biolearn-0.9.1-py3-none-any.whl
    python tools/vendor_biolearn_clocks.py /tmp/biolearn/biolearn/data

For each clock it writes clocks/<name>.tsv (cpg_id, coefficient; the source's `intercept` row removed,
its value goes to clocks.yaml) and its row of src/epiclock/data/provenance.tsv (source and target
sha256). It prints each clock's intercept as found in the source file so clocks.yaml can be checked
against it. Model-specific tables (epiTOC2's per-CpG rates, GrimAge's components) are converted by
their own functions below. Nothing is read from epiclock: the output is what biolearn ships.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "epiclock" / "data"
SOURCE = ("biolearn (PyPI)", "0.9.1")
PROVENANCE_COLUMNS = ["file", "content", "paper", "doi", "source_package", "source_version", "source_file",
                      "source_sha256", "sha256", "conversion"]

# epiclock name -> (biolearn data file, content, paper, DOI). The content line says what the numbers are;
# clocks.yaml says how they are used.
LINEAR = {
    "horvath2013": ("Horvath1.csv", "Horvath 2013 pan-tissue clock: 353 CpG coefficients (intercept 0.695507258 in clocks.yaml, from the paper; the source package rounds it to 0.696)", "Horvath S. Genome Biology 14:R115 (2013)", "10.1186/gb-2013-14-10-r115"),
    "horvath_skin_blood2018": ("Horvath2.csv", "Horvath 2018 skin & blood clock: 391 CpG coefficients (intercept -0.447119319 in clocks.yaml)", "Horvath S et al. Aging (Albany NY) 10(7):1758-1775 (2018)", "10.18632/aging.101508"),
    "hannum2013": ("Hannum.csv", "Hannum 2013 blood clock: 71 marker coefficients (2 ch. probes), no intercept", "Hannum G et al. Molecular Cell 49(2):359-367 (2013)", "10.1016/j.molcel.2012.10.016"),
    "phenoage2018": ("PhenoAge.csv", "Levine 2018 DNAm PhenoAge: 513 CpG coefficients (intercept 60.664 in clocks.yaml)", "Levine ME et al. Aging (Albany NY) 10(4):573-591 (2018)", "10.18632/aging.101414"),
    "zhang2019_en": ("Zhang2019.csv", "Zhang 2019 elastic-net age predictor: 514 CpG coefficients on per-sample standardised betas (intercept 65.79295 in clocks.yaml; biolearn 0.9.1 ships these coefficients without a model definition)", "Zhang Q et al. Genome Medicine 11:54 (2019)", "10.1186/s13073-019-0667-1"),
    "lin2016": ("Lin.csv", "Lin 2016 99-CpG blood clock (intercept 12.2169841 in clocks.yaml)", "Lin Q et al. Aging (Albany NY) 8(2):394-401 (2016)", "10.18632/aging.100908"),
    "weidner2014": ("Weidner.csv", "Weidner 2014 3-CpG blood clock (intercept 38.0 in clocks.yaml; biolearn adds it in its transform)", "Weidner CI et al. Genome Biology 15:R24 (2014)", "10.1186/gb-2014-15-2-r24"),
    "vidal_bralo2016": ("VidalBralo.csv", "Vidal-Bralo 2016 8-CpG blood clock (intercept 84.7 in clocks.yaml; biolearn adds it in its transform)", "Vidal-Bralo L et al. Frontiers in Genetics 7:126 (2016)", "10.3389/fgene.2016.00126"),
    "dnamtl2019": ("DNAmTL.csv", "Lu 2019 DNAm telomere length: 140 CpG coefficients, kb (intercept +7.924780053 in clocks.yaml, the paper's sign; biolearn subtracts it)", "Lu AT et al. Aging (Albany NY) 11(16):5895-5923 (2019)", "10.18632/aging.102173"),
    "pedbe2020": ("PEDBE.csv", "PedBE paediatric buccal clock: 94 CpG coefficients (intercept -2.1, anti.trafo, in clocks.yaml)", "McEwen LM et al. PNAS 117(38):23329-23335 (2020)", "10.1073/pnas.1820843116"),
    "cortical2020": ("DNAmClockCortical.csv", "Shireby 2020 DNAmClockCortical: 347 CpG coefficients, 2 of them ch. probes (intercept 0.577682570446177, anti.trafo, in clocks.yaml)", "Shireby GL et al. Brain 143(12):3763-3775 (2020)", "10.1093/brain/awaa334"),
    "dunedinpace2022": ("DunedinPACE.csv", "DunedinPACE: 173 CpG coefficients on quantile-normalised betas, years of ageing per calendar year (intercept -1.949859 in clocks.yaml)", "Belsky DW et al. eLife 11:e73420 (2022)", "10.7554/eLife.73420"),
    "dunedinpoam2020": ("DunedinPoAm38.csv", "DunedinPoAm: 46 CpG coefficients, years of ageing per calendar year (intercept in clocks.yaml)", "Belsky DW et al. eLife 9:e54870 (2020)", "10.7554/eLife.54870"),
    "causage2024": ("YingCausAge.csv", "CausAge: 586 putatively causal CpGs (intercept in clocks.yaml)", "Ying K et al. Nature Aging 4:231-246 (2024)", "10.1038/s43587-023-00557-0"),
    "damage2024": ("YingDamAge.csv", "DamAge: CpGs whose methylation is damaging with age (intercept in clocks.yaml)", "Ying K et al. Nature Aging 4:231-246 (2024)", "10.1038/s43587-023-00557-0"),
    "adaptage2024": ("YingAdaptAge.csv", "AdaptAge: CpGs whose methylation is adaptive with age (intercept in clocks.yaml)", "Ying K et al. Nature Aging 4:231-246 (2024)", "10.1038/s43587-023-00557-0"),
    "stoch2024": ("StocH.csv", "StocH: stochastic analogue of Horvath's clock (intercept 59.8015666314217 in clocks.yaml; biolearn adds it in its transform)", "Tong H et al. Nature Aging 4:886-901 (2024)", "10.1038/s43587-024-00600-8"),
    "stocp2024": ("StocP.csv", "StocP: stochastic analogue of PhenoAge (intercept 92.8310813279039 in clocks.yaml; biolearn adds it in its transform)", "Tong H et al. Nature Aging 4:886-901 (2024)", "10.1038/s43587-024-00600-8"),
    "stocz2024": ("StocZ.csv", "StocZ: stochastic analogue of Zhang's clock (intercept 64.8077188694894 in clocks.yaml; biolearn adds it in its transform)", "Tong H et al. Nature Aging 4:886-901 (2024)", "10.1038/s43587-024-00600-8"),
    "hrs_inch_phenoage2022": ("HRSInCHPhenoAge.csv", "HRSInCHPhenoAge: PhenoAge retrained in HRS on reliable CpGs (intercept in clocks.yaml)", "Higgins-Chen AT et al. Nature Aging 2:644-661 (2022)", "10.1038/s43587-022-00248-2"),
    "zhang2017_mortality": ("Zhang_10.csv", "Zhang 2017 mortality risk score: 10 CpG coefficients, no intercept", "Zhang Y et al. Nature Communications 8:14617 (2017)", "10.1038/ncomms14617"),
    "garagnani2012": ("Garagnani.csv", "ELOVL2 CpG (cg16867657), weight 1: the beta itself", "Garagnani P et al. Aging Cell 11(6):1132-1134 (2012)", "10.1111/acel.12005"),
    "bocklandt2011": ("Bocklandt.csv", "EDARADD CpG (cg09809672), weight 1: the beta itself", "Bocklandt S et al. PLoS One 6(6):e14821 (2011)", "10.1371/journal.pone.0014821"),
    "epitoc2016": ("EpiTOC1.csv", "epiTOC: 385 Polycomb-target promoter CpGs, weight 1/385 each (the mean beta)", "Yang Z et al. Genome Biology 17:205 (2016)", "10.1186/s13059-016-1064-3"),
    "knight2016": ("Knight.csv", "Knight 2016 gestational age clock, cord blood: 148 CpG coefficients, weeks (intercept in clocks.yaml)", "Knight AK et al. Genome Biology 17:206 (2016)", "10.1186/s13059-016-1068-z"),
    "bohlin2016": ("Bohlin.csv", "Bohlin 2016 gestational age, cord blood: CpG coefficients, days (intercept 277.2421 in clocks.yaml; biolearn adds it in its transform)", "Bohlin J et al. Genome Biology 17:207 (2016)", "10.1186/s13059-016-1063-4"),
    "mayne2017": ("Mayne.csv", "Mayne 2017 placental gestational age: 62 CpG coefficients, weeks (intercept 24.99026 in clocks.yaml; biolearn adds it in its transform)", "Mayne BT et al. Epigenomics 9(3):279-289 (2017)", "10.2217/epi-2016-0103"),
    "lee2019_control": ("LeeControl.csv", "Lee 2019 placental gestational age, control clock: CpG coefficients, weeks (intercept in clocks.yaml)", "Lee Y et al. Aging (Albany NY) 11(12):4238-4253 (2019)", "10.18632/aging.102049"),
    "lee2019_robust": ("LeeRobust.csv", "Lee 2019 placental gestational age, robust clock: CpG coefficients, weeks (intercept in clocks.yaml)", "Lee Y et al. Aging (Albany NY) 11(12):4238-4253 (2019)", "10.18632/aging.102049"),
    "lee2019_refined_robust": ("LeeRefinedRobust.csv", "Lee 2019 placental gestational age, refined robust clock: CpG coefficients, weeks (intercept in clocks.yaml)", "Lee Y et al. Aging (Albany NY) 11(12):4238-4253 (2019)", "10.18632/aging.102049"),
    "mccartney2018_smoking": ("Smoking.csv", "McCartney 2018 DNAm smoking score: CpG weights, no intercept", "McCartney DL et al. Genome Biology 19:136 (2018)", "10.1186/s13059-018-1514-1"),
    "mccartney2018_alcohol": ("Alcohol.csv", "McCartney 2018 DNAm alcohol score: CpG weights, no intercept", "McCartney DL et al. Genome Biology 19:136 (2018)", "10.1186/s13059-018-1514-1"),
    "mccartney2018_bmi": ("BMI_McCartney.csv", "McCartney 2018 DNAm BMI score: CpG weights, no intercept (a linear score in the paper; biolearn passes it through a logistic)", "McCartney DL et al. Genome Biology 19:136 (2018)", "10.1186/s13059-018-1514-1"),
    "mccartney2018_education": ("EducationMcCartney.csv", "McCartney 2018 DNAm educational attainment score: CpG weights, no intercept (linear in the paper; biolearn passes it through a logistic)", "McCartney DL et al. Genome Biology 19:136 (2018)", "10.1186/s13059-018-1514-1"),
    "mccartney2018_total_cholesterol": ("TotalCholesterolMcCartney.csv", "McCartney 2018 DNAm total cholesterol score: CpG weights, no intercept (linear in the paper; biolearn passes it through a logistic)", "McCartney DL et al. Genome Biology 19:136 (2018)", "10.1186/s13059-018-1514-1"),
    "mccartney2018_hdl": ("HDLCholesterolMcCartney.csv", "McCartney 2018 DNAm HDL cholesterol score: CpG weights, no intercept (linear in the paper; biolearn passes it through a logistic)", "McCartney DL et al. Genome Biology 19:136 (2018)", "10.1186/s13059-018-1514-1"),
    "mccartney2018_ldl": ("LDLCholesterolMcCartney.csv", "McCartney 2018 DNAm LDL-with-remnant cholesterol score: CpG weights, no intercept (linear in the paper; biolearn passes it through a logistic)", "McCartney DL et al. Genome Biology 19:136 (2018)", "10.1186/s13059-018-1514-1"),
    "mccartney2018_body_fat": ("BodyFatMcCartney.csv", "McCartney 2018 DNAm body-fat percentage score: CpG weights, no intercept (linear in the paper; biolearn passes it through a logistic)", "McCartney DL et al. Genome Biology 19:136 (2018)", "10.1186/s13059-018-1514-1"),
    "reed2020_bmi": ("BMI_Reed.csv", "Reed 2020 DNAm BMI score: CpG weights (intercept in clocks.yaml)", "Reed ZE et al. Clinical Epigenetics 12:50 (2020)", "10.1186/s13148-020-00841-5"),
    "down_syndrome2021": ("down_syndrome.csv", "Down syndrome methylation predictor: CpG weights", "Nature Communications 12 (2021)", "10.1038/s41467-021-21064-z"),
    "kirby2017_prostate_cancer": ("ProstateCancerKirby.csv", "Kirby 2017 prostate cancer methylation score: 3 CpG weights (intercept in clocks.yaml)", "Kirby MK et al. BMC Cancer 17:273 (2017)", "10.1186/s12885-017-3252-2"),
    "xu2017_hcc": ("HepatoXu.csv", "Xu 2017 hepatocellular carcinoma cfDNA diagnostic score: 10 CpG weights (intercept in clocks.yaml)", "Xu RH et al. Nature Materials 16:1155-1161 (2017)", "10.1038/nmat4997"),
    "westerman2020_chd": ("CVD_Westermann.csv", "Westerman 2020 coronary heart disease methylation risk: CpG weights, logistic", "Westerman K et al. Journal of the American Heart Association 9:e015299 (2020)", "10.1161/JAHA.119.015299"),
    "bahado_singh2021_ad": ("AD_Bahado-Singh.csv", "Bahado-Singh 2021 Alzheimer's disease methylation classifier: 4 CpG weights, logistic (intercept 0.072 in clocks.yaml)", "Bahado-Singh RO et al. PLoS One 16(3):e0248375 (2021)", "10.1371/journal.pone.0248375"),
    "barbu2021_depression": ("DepressionBarbu.csv", "Barbu 2021 depression methylation risk score: CpG weights (intercept in clocks.yaml)", "Barbu MC et al. Molecular Psychiatry 26:7254-7270 (2021)", "10.1038/s41380-020-0808-3"),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_weights(path: Path) -> tuple[pd.Series, float | None]:
    """CpG -> weight from a biolearn coefficient file, and the `intercept` row's value if it has one.

    Weights are written as the shortest decimal that reads back as the same double.
    """
    table = pd.read_csv(path, index_col=0, encoding="utf-8-sig")
    column = "CoefficientTraining" if "CoefficientTraining" in table.columns else "Weight"
    weights = table[column].astype(float)
    weights.index = weights.index.astype(str).str.strip()
    intercept = float(weights.loc["intercept"]) if "intercept" in weights.index else None
    weights = weights.drop(index="intercept", errors="ignore")
    if not weights.index.is_unique:
        raise SystemExit(f"{path.name}: duplicate CpG IDs {sorted(weights.index[weights.index.duplicated()])}")
    return weights, intercept


def write_table(frame: pd.DataFrame, target: Path) -> None:
    """Write ``frame`` as TSV, leaving an existing file alone when it already holds the same values
    (files vendored earlier keep their bytes, so their recorded checksums stay valid)."""
    if target.exists():
        existing = pd.read_csv(target, sep="\t")
        if list(existing.columns) == list(frame.columns) and existing.shape == frame.shape and all(
                existing[column].equals(frame[column].reset_index(drop=True)) for column in frame.columns):
            return
    target.write_text(frame.to_csv(sep="\t", index=False, lineterminator="\n"))


def provenance_row(relative: str, content: str, paper: str, doi: str, source: Path, conversion: str) -> dict:
    return {"file": relative, "content": content, "paper": paper, "doi": doi, "source_package": SOURCE[0],
            "source_version": SOURCE[1], "source_file": f"biolearn/data/{source.name}",
            "source_sha256": sha256(source), "sha256": sha256(DATA / relative), "conversion": conversion}


def vendor_linear(source_dir: Path) -> list[dict]:
    rows = []
    for name, (file, content, paper, doi) in LINEAR.items():
        source = source_dir / file
        weights, intercept = read_weights(source)
        relative = f"clocks/{name}.tsv"
        write_table(pd.DataFrame({"cpg_id": weights.index, "coefficient": weights.to_numpy()}), DATA / relative)
        conversion = ("columns renamed CpGmarker->cpg_id, CoefficientTraining->coefficient; "
                      + ("the 'intercept' row removed (its value is the intercept in clocks.yaml); " if intercept is not None else "")
                      + "CSV->TSV; values unchanged")
        rows.append(provenance_row(relative, content, paper, doi, source, conversion))
        print(f"{name}\t{len(weights)} CpGs\tintercept row: {intercept}")
    return rows


def vendor_epitoc2(source_dir: Path) -> list[dict]:
    """epiTOC2's per-CpG methylation gain per division (delta) and fetal ground state (beta0)."""
    source = source_dir / "EpiTOC2.csv"
    table = pd.read_csv(source, index_col=0)
    relative = "clocks/epitoc2_2020_parameters.tsv"
    write_table(pd.DataFrame({"cpg_id": table.index, "delta": table["delta"], "beta0": table["beta0"]}), DATA / relative)
    # tnsc = 2 * mean_i (beta_i - beta0_i) / (delta_i (1 - beta0_i)) is linear in the betas: weight
    # 2 / (k delta_i (1 - beta0_i)) per CpG and intercept -sum_i weight_i beta0_i, k the 163 CpGs.
    weights = 2.0 / (len(table) * table["delta"] * (1.0 - table["beta0"]))
    write_table(pd.DataFrame({"cpg_id": table.index, "coefficient": weights.to_numpy()}), DATA / "clocks/epitoc2_2020.tsv")
    print(f"epitoc2_2020\t{len(table)} CpGs\tintercept {-(weights * table['beta0']).sum()!r}")
    # The approximation (every CpG unmethylated at birth): weight 2 / (k delta_i), no intercept.
    approximation = 2.0 / (len(table) * table["delta"])
    write_table(pd.DataFrame({"cpg_id": table.index, "coefficient": approximation.to_numpy()}),
                DATA / "clocks/epitoc2_2020_approximation.tsv")
    derived = [provenance_row(f"clocks/{file}.tsv", content, "Teschendorff AE. Genome Medicine 12:56 (2020)",
                              "10.1186/s13073-020-00752-3", source, conversion)
               for file, content, conversion in (
                   ("epitoc2_2020", "epiTOC2 as a linear model: 163 CpG weights 2/(k delta (1 - beta0)) (intercept -sum weight x beta0 in clocks.yaml)",
                    "derived from delta and beta0 by tools/vendor_biolearn_clocks.py (k = 163)"),
                   ("epitoc2_2020_approximation", "epiTOC2 approximation (all CpGs unmethylated at birth): 163 CpG weights 2/(k delta), no intercept",
                    "derived from delta by tools/vendor_biolearn_clocks.py (k = 163)"))]
    return derived + [provenance_row(relative, "epiTOC2: per-CpG de novo methylation rate per division (delta) and fetal "
                           "ground-state beta (beta0) of 163 CpGs; clocks.yaml's epitoc2_2020 coefficients are "
                           "derived from them (clocks/epitoc2_2020.tsv, see tools/vendor_biolearn_clocks.py)",
                           "Teschendorff AE. Genome Medicine 12:56 (2020)", "10.1186/s13073-020-00752-3", source,
                           "first column named cpg_id; CSV->TSV; values unchanged")]


def vendor_grimage(source_dir: Path) -> list[dict]:
    rows = []
    for version, doi, paper in (("V1", "10.18632/aging.101684", "Lu AT et al. Aging (Albany NY) 11(2):303-327 (2019)"),
                                ("V2", "10.18632/aging.204434", "Lu AT et al. Aging (Albany NY) 14(23):9484-9549 (2022)")):
        source = source_dir / f"GrimAge{version}.csv"
        table = pd.read_csv(source)
        relative = f"clocks/grimage{version.lower()}_components.tsv"
        write_table(table.rename(columns={"Y.pred": "component", "var": "variable", "beta": "coefficient"}), DATA / relative)
        rows.append(provenance_row(relative, f"GrimAge {version}: coefficients of each DNAm surrogate (on CpGs, "
                                   "Age, Female, Intercept), the Cox combination and its age scaling", paper, doi, source,
                                   "columns renamed Y.pred->component, var->variable, beta->coefficient; CSV->TSV; values unchanged"))
    return rows


def update_provenance(rows: list[dict]) -> None:
    path = DATA / "provenance.tsv"
    table = pd.read_csv(path, sep="\t", dtype=str)
    new = pd.DataFrame(rows, columns=PROVENANCE_COLUMNS).set_index("file", drop=False)
    known = table["file"].isin(new.index)
    table.loc[known] = new.loc[table.loc[known, "file"]].to_numpy()   # rows keep their place
    table = pd.concat([table, new[~new.index.isin(table["file"])]], ignore_index=True)
    table.to_csv(path, sep="\t", index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    source_dir = Path(sys.argv[1])
    rows = vendor_linear(source_dir) + vendor_epitoc2(source_dir) + vendor_grimage(source_dir)
    update_provenance(rows)


if __name__ == "__main__":
    main()
