"""The real HM27 arrays of ../shared/data/real from IDAT to report, in CI, with two manifests.

HM27 is the array generation unlike the others: every probe type I, 55,300 addresses, its own control
types (Negative, Normalization-Green/-Red, ...) and few chrY probes.

- ``minfi_tables``: a manifest written here in Illumina's CSV layout from minfi's 27k tables
  (addresses, colours and the array's own controls) plus the chrX/chrY coordinates of
  tests/fixtures/hm27 (InfiniumAnnotation's mapping). The default settings (minfi detection, noob
  with single dye-bias correction from the normalisation controls) apply as on a 450k or EPIC run.
- ``index``: InfiniumAnnotation's probe index as published (controls without type names, no
  coordinates), with the settings that need no named controls: pOOBAH and the non-linear dye bias.
"""

from __future__ import annotations

import html
import json

from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import snakemake

pytestmark = [pytest.mark.shared, pytest.mark.workflow]

FIXTURES = Path(__file__).parent / "fixtures" / "hm27"
HM27_SAMPLES = {"tumour_A": "4207113116_A", "control_B": "4207113116_B"}


def write_hm27_manifest(manifest_dir: Path, path: Path) -> Path:
    """minfi's 27k tables (AddressA = unmethylated, AddressB = methylated) as an Illumina manifest CSV."""
    probes = pd.read_csv(manifest_dir / "27k_manifest_TypeI.csv.gz", dtype=str)
    controls = pd.read_csv(manifest_dir / "27k_manifest_TypeControl.csv", dtype=str, keep_default_na=False)
    sex = pd.read_csv(FIXTURES / "sex_chromosome_probes.tsv", sep="\t", dtype={"CpG_beg": int}).set_index("Probe_ID")
    position = probes["Name"].map(sex["CpG_beg"] + 1)  # 0-based start -> 1-based MAPINFO
    assay = pd.DataFrame({
        "IlmnID": probes["Name"], "Name": probes["Name"], "AddressA_ID": probes["AddressA"],
        "AddressB_ID": probes["AddressB"], "Infinium_Design_Type": "I", "Color_Channel": probes["Color"],
        "CHR": probes["Name"].map(sex["CpG_chrm"]).fillna(""),
        "MAPINFO": position.map(lambda value: "" if pd.isna(value) else str(int(value))),
    })
    control_block = controls[["Address", "Type", "Color", "ExtendedType"]].to_csv(index=False, header=False,
                                                                                  lineterminator="\n")
    path.write_text("\n".join(["Illumina, Inc.", "[Heading]", "Descriptor File Name,HumanMethylation27 (minfi tables)",
                               "[Assay]", assay.to_csv(index=False, lineterminator="\n").rstrip("\n"),
                               "[Controls]", control_block]))
    return path


@pytest.fixture(scope="module", params=["minfi_tables", "index"])
def hm27_run(request, project_root, shared_dir, tmp_path_factory):
    real = shared_dir / "data" / "real"
    workdir = tmp_path_factory.mktemp(f"hm27_run_{request.param}")
    if request.param == "index":
        manifest = real / "manifest" / "HM27.ordering.tsv.gz"
    else:
        manifest = write_hm27_manifest(real / "manifest", workdir / "HumanMethylation27_minfi.csv")
    # What sesameData says of the arrays: two TCGA participants, a tumour and a cell-line control; no ages.
    sheet = pd.DataFrame({"sample_id": list(HM27_SAMPLES), "donor": ["TCGA-13-0799", "TCGA-07-0227"],
                          "donor_age": [None, None], "sample_type": ["tumour", "cell_line_control"],
                          "basename": [str(real / "idat" / "hm27" / basename) for basename in HM27_SAMPLES.values()]})
    sheet.to_csv(workdir / "samples.tsv", sep="\t", index=False)
    config = yaml.safe_load((project_root / "config/config.yaml").read_text())
    config["design"] = {"donor_column": "donor", "donor_age_column": "donor_age", "condition_column": "",
                        "condition_order": [], "factors": ["sample_type"], "pair_by": ["donor"], "chip_column": ""}
    config["contrasts"] = []
    config.update(samples=str(workdir / "samples.tsv"), custom_clocks=[], manifest={"path": str(manifest)})
    config["input"] = {"type": "idat", "idat_dir": str(real / "idat" / "hm27"), "batch_size": 2}
    config["clocks"]["names"] = ["horvath2013", "horvath_skin_blood2018"]
    config["report"]["title"] = "HM27 arrays from sesameData"
    # Detection and dye-bias correction are left to their default (auto), which follows the manifest.
    config["preprocess"] = {key: value for key, value in config["preprocess"].items()
                            if key not in ("detection", "dye_method")}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(project_root, workdir)
    return request.param, workdir


def test_hm27_arrays_run_from_idat_to_report(hm27_run):
    manifest, workdir = hm27_run
    qc_table = pd.read_csv(workdir / "results/qc/samples.tsv", sep="\t").set_index("sample_id")
    assert qc_table["passed"].all(), qc_table.get("reasons")
    assert (qc_table["n_addresses"] == 55_300).all()
    # minfi's detection p (negative controls) passes more probes than pOOBAH (out-of-band background).
    assert (qc_table["detection_call_rate"] > (0.98 if manifest == "minfi_tables" else 0.95)).all()
    betas = pd.read_parquet(workdir / "results/normalize/betas.parquet")
    assert betas.shape == (27_578, 2) and betas.notna().mean().min() > 0.95
    predictions = pd.read_csv(workdir / "results/clocks/predictions.tsv", sep="\t")
    horvath = predictions.loc[predictions["clock"] == "horvath2013"]
    assert set(horvath["sample_id"]) == set(HM27_SAMPLES) and horvath["dnam_age"].notna().all()
    # The 2013 clock's CpGs are all on HM27; only probes that failed detection in a sample are imputed.
    assert (horvath["coverage"] > 0.95).all()
    html = (workdir / "results/report.html").read_text()
    assert all(sample in html for sample in HM27_SAMPLES)


def test_hm27_control_checks_say_what_they_checked(hm27_run):
    """With minfi's tables: detection p from its Negative controls, dye bias from Normalization-Green/-Red,
    and the metrics whose 450k/EPIC control names HM27 lacks listed as not checked. With the index,
    whose controls have no type names: no metric checked, and the notes say so."""
    manifest, workdir = hm27_run
    if manifest == "index":
        qc_table = pd.read_csv(workdir / "results/qc/samples.tsv", sep="\t").set_index("sample_id")
        assert (qc_table["control_notes"] == "no control metric checked: the manifest names none of the controls "
                                             "they need").all()
        # The index has no coordinates: no sex is predicted (the QC table then has no such column).
        assert qc_table.get("predicted_sex", pd.Series(dtype=object)).isna().all()
        return
    controls = pd.read_csv(workdir / "results/qc/controls.tsv", sep="\t")
    checked = controls.dropna(subset=["value"])
    assert {"extension_green", "extension_red", "hybridisation_high_medium"} <= set(checked["metric"])
    qc_table = pd.read_csv(workdir / "results/qc/samples.tsv", sep="\t").set_index("sample_id")
    assert qc_table["control_notes"].str.contains("not checked (controls not named in the manifest or not on the array): "
                                                  "restoration", regex=False).all()
    # Predicted from its 1,087 chrX and 7 chrY probes. Not asserted to be right: all 7 chrY probes
    # give autosome-level signal on both arrays (log2 M+U 9.9 to 14.6; cross-hybridisation, three lie
    # in the X-transposed region), so the ovarian tumour array (TCGA-13-0799) is called M too.
    assert qc_table["predicted_sex"].notna().all()


def test_auto_preprocessing_follows_the_manifest_and_the_record_says_why(hm27_run):
    """minfi's tables name NEGATIVE and normalisation controls: minfi's detection and single dye-bias
    correction; the index names none: pOOBAH and the non-linear correction, with the reason in the
    provenance record and the report's methods."""
    manifest, workdir = hm27_run
    applied = json.loads((workdir / "results/provenance.json").read_text())["preprocessing"]
    expected = ("minfi", "single") if manifest == "minfi_tables" else ("poobah", "nonlinear")
    assert (applied["detection"], applied["dye_method"]) == expected
    assert applied["note"].startswith(f"preprocess.detection auto: '{expected[0]}'") and "\n" not in applied["note"]
    if manifest == "index":
        assert "HM27.ordering.tsv.gz names no NEGATIVE control probes" in applied["note"]
    page = html.unescape((workdir / "results/report.html").read_text())
    assert f"with '{expected[1]}' dye-bias correction" in page and f"('{expected[0]}' p-values)" in page
    assert f"Methods left to auto: {applied['note']}." in page
