"""End-to-end from real GEO files (../shared/data/geo): the formats users download run through the workflow."""

import pandas as pd
import pytest
import yaml

from conftest import snakemake
from epiclock.io import geo

pytestmark = [pytest.mark.workflow, pytest.mark.shared]


@pytest.mark.parametrize("kind,filename,sample_ids_of", [
    ("geo_signals", "GSE72120_signals_excerpt.txt", lambda path: geo.read_signal_table(path).methylated.columns),
    ("geo_series_matrix", "GSE158089_series_matrix_excerpt.txt", lambda path: geo.read_series_matrix(path).betas.columns),
])
def test_geo_inputs_run_to_the_report(project_root, shared_dir, tmp_path, kind, filename, sample_ids_of):
    path = shared_dir / "data/geo" / filename
    sample_ids = list(sample_ids_of(path))
    # The excerpts carry no design: two conditions within made-up donors.
    pd.DataFrame([{"sample_id": sample, "donor": f"D{index // 2}", "donor_age": 30 + index // 2,
                   "condition": "treated" if index % 2 else "control", "bone_marrow": "yes" if index % 2 else "no",
                   "serum": "none"} for index, sample in enumerate(sample_ids)]).to_csv(tmp_path / "samples.tsv",
                                                                                       sep="\t", index=False)
    config = yaml.safe_load((project_root / "config/config.yaml").read_text())
    config.update(samples=str(tmp_path / "samples.tsv"), input={"type": kind, "betas": str(path)}, custom_clocks=[])
    config["clocks"]["names"] = ["horvath2013"]
    config["design"]["condition_order"] = ["control", "treated"]
    config["contrasts"] = [{"name": "treated_vs_control", "treated": {"bone_marrow": "yes"},
                            "reference": {"bone_marrow": "no"}}]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(project_root, tmp_path)
    qc_table = pd.read_csv(tmp_path / "results/qc/samples.tsv", sep="\t", dtype={"sample_id": str})
    assert set(qc_table["sample_id"]) == set(sample_ids)
    predictions = pd.read_csv(tmp_path / "results/clocks/predictions.tsv", sep="\t", dtype={"sample_id": str})
    # An excerpt of a few hundred CpGs covers no clock: every sample says so instead of a made-up age.
    assert predictions["dnam_age"].isna().all()
    assert predictions["status"].str.contains("below the minimum coverage").all()
    assert (tmp_path / "results/report.html").is_file()
