"""`epiclock init` scaffolds a study from a folder of IDATs; `epiclock run` starts Snakemake on it."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from epiclock import cli, launch, scaffold
from epiclock import config as epiclock_config
from epiclock.errors import EpiclockError
from epiclock.io import download


@pytest.fixture
def hm27_idats(shared_dir, tmp_path):
    """The two real HM27 pairs, in a subfolder as a scanner's output often is."""
    target = tmp_path / "scans/4207113116"
    target.mkdir(parents=True)
    for path in (shared_dir / "data/real/idat/hm27").iterdir():
        shutil.copy(path, target / path.name)
    return tmp_path / "scans"


def test_init_on_real_hm27_idats_writes_a_sheet_to_fill_and_a_minimal_config(project_root, hm27_idats, tmp_path,
                                                                             capsys):
    study = tmp_path / "study"
    assert cli.main(["init", str(study), "--idats", str(hm27_idats)]) == 0
    printed = capsys.readouterr().out
    assert "2 IDAT pairs" in printed and "27k" in printed
    assert f"epiclock run {study}" in printed
    sheet = pd.read_csv(study / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert list(sheet.columns) == ["sample_id", "basename", "chip", "donor", "donor_age", "sex"]
    assert list(sheet["sample_id"]) == ["4207113116_A", "4207113116_B"]
    assert list(sheet["basename"]) == ["4207113116/4207113116_A", "4207113116/4207113116_B"]
    assert set(sheet["chip"]) == {"4207113116"} and set(sheet["donor"]) == {""}
    # Only keys whose values differ from the schema's defaults: no design (a clock-only run), manifest auto.
    config = yaml.safe_load((study / "config.yaml").read_text())
    assert config == {"samples": "samples.tsv", "input": {"type": "idat", "idat_dir": str(hm27_idats)}}
    assert epiclock_config.validate(config)["input"]["type"] != epiclock_config.validate(
        {"samples": "s.tsv", "input": {}})["input"]["type"]


def test_factors_make_a_design_whose_conditions_are_built_from_them(hm27_idats, tmp_path):
    study = scaffold.init_study(tmp_path / "one", hm27_idats, factors=["condition"])
    assert yaml.safe_load(study.config.read_text())["design"] == {"factors": ["condition"]}
    study = scaffold.init_study(tmp_path / "two", hm27_idats, factors=["treatment", "time"])
    assert yaml.safe_load(study.config.read_text())["design"] == {"factors": ["treatment", "time"],
                                                                  "condition_column": ""}
    sheet = pd.read_csv(study.sheet, sep="\t", dtype=str, keep_default_na=False)
    assert list(sheet.columns[-2:]) == ["treatment", "time"]


def test_an_illumina_sample_sheet_prefills_names_sex_and_age(hm27_idats, tmp_path):
    illumina = tmp_path / "SampleSheet.csv"
    illumina.write_text(
        "[Header]\nInvestigator Name,lab\n\n[Data]\n"
        "Sample_Name,Sample_Well,Sample_Group,Sentrix_ID,Sentrix_Position,Gender,Age\n"
        "tumour_13-0799,A01,tumour,4207113116,A,F,61\n"
        "lcl_07-0227,B01,control,4207113116,B,M,45\n"
        "not_scanned,C01,control,4207113117,A,M,30\n"
    )
    study = scaffold.init_study(tmp_path / "study", hm27_idats, illumina_sheet=illumina, factors=["Sample_Group"])
    sheet = pd.read_csv(study.sheet, sep="\t", dtype=str, keep_default_na=False)
    assert list(sheet["sample_id"]) == ["tumour_13-0799", "lcl_07-0227"]
    assert list(sheet["sex"]) == ["F", "M"] and list(sheet["donor_age"]) == ["61", "45"]
    assert list(sheet["Sample_Group"]) == ["tumour", "control"]
    assert list(sheet["Sample_Well"]) == ["A01", "B01"]
    assert "Gender" not in sheet.columns and "Age" not in sheet.columns
    assert study.unmatched_sheet_rows == ("not_scanned",)
    config = yaml.safe_load(study.config.read_text())
    assert config["design"] == {"factors": ["Sample_Group"], "condition_column": ""}


def test_init_does_not_overwrite_a_study(hm27_idats, tmp_path, capsys):
    study = tmp_path / "study"
    assert cli.main(["init", str(study), "--idats", str(hm27_idats)]) == 0
    (study / "samples.tsv").write_text("edited by hand\n")
    assert cli.main(["init", str(study), "--idats", str(hm27_idats)]) == 2
    assert "does not overwrite" in capsys.readouterr().err
    assert (study / "samples.tsv").read_text() == "edited by hand\n"


def test_init_names_a_missing_half_of_a_pair(tmp_path):
    (tmp_path / "idats").mkdir()
    (tmp_path / "idats/200000000001_R01C01_Grn.idat").write_bytes(b"IDAT")
    with pytest.raises(EpiclockError, match="Red half of the IDAT pair is missing"):
        scaffold.find_pairs(tmp_path / "idats")


def test_run_calls_snakemake_with_the_studys_snakefile_directory_and_config(project_root, tmp_path):
    (tmp_path / "config.yaml").write_text("samples: samples.tsv\n")
    command = launch.snakemake_command(tmp_path, ["--cores", "4", "-n"])
    assert command[:3] == [sys.executable, "-m", "snakemake"]
    assert command[3:] == ["--snakefile", str(project_root / "Snakefile"), "--directory", str(tmp_path),
                           "--configfile", str(tmp_path / "config.yaml"), "--cores", "4", "-n"]


def test_run_without_a_study_config_says_how_to_make_one(tmp_path, capsys):
    assert cli.main(["run", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "no study config" in error and "epiclock init" in error and error.count("\n") == 1


def test_the_slurm_profile_without_its_plugin_says_how_to_install_it(project_root, tmp_path, monkeypatch, capsys):
    assert launch.requested_executors(["--workflow-profile", "profiles/slurm"]) == ["slurm"]
    real_find_spec = launch.importlib.util.find_spec
    monkeypatch.setattr(launch.importlib.util, "find_spec",
                        lambda name: None if name == "snakemake_executor_plugin_slurm" else real_find_spec(name))
    (tmp_path / "config.yaml").write_text("samples: samples.tsv\n")
    assert cli.main(["run", str(tmp_path), "--workflow-profile", "profiles/slurm"]) == 2
    error = capsys.readouterr().err
    assert "snakemake-executor-plugin-slurm" in error and "pip install -e '.[slurm]'" in error
    assert error.count("\n") == 1  # one line, not Snakemake's usage text


def test_plain_snakemake_with_the_slurm_profile_but_no_plugin_says_so_in_one_line(project_root, monkeypatch):
    """The profile's YTE definitions stop Snakemake before it rejects `executor: slurm` with its usage text."""
    hide_plugin = ("import importlib.util, sys\n"
                   "real_find_spec = importlib.util.find_spec\n"
                   "importlib.util.find_spec = lambda name, *rest: None if name == 'snakemake_executor_plugin_slurm' "
                   "else real_find_spec(name, *rest)\n"
                   "from snakemake.cli import main\n"
                   "main(['--workflow-profile', 'profiles/slurm', '--dry-run'])\n")
    result = subprocess.run([sys.executable, "-c", hide_plugin], cwd=project_root, capture_output=True, text=True)
    assert result.returncode == 1 and "usage:" not in result.stderr and "Traceback" not in result.stderr
    real_find_spec = launch.importlib.util.find_spec
    monkeypatch.setattr(launch.importlib.util, "find_spec",
                        lambda name: None if name == "snakemake_executor_plugin_slurm" else real_find_spec(name))
    with pytest.raises(EpiclockError) as raised:
        launch.check_executor("slurm")
    # The same line as `epiclock run` gives, after Snakemake's note on which profile it reads.
    assert result.stderr.splitlines()[-1] == f"epiclock: error: {raised.value}"
    assert len(result.stderr.splitlines()) == 2 and result.stderr.startswith("Using workflow specific profile")


def test_an_unknown_executor_is_named(tmp_path):
    with pytest.raises(EpiclockError, match="pip install snakemake-executor-plugin-no-such-executor"):
        launch.check_executor("no-such-executor")
    launch.check_executor("local")


def _mirror_catalogue(tmp_path, manifest) -> Path:
    """A site's own catalogue serving the 27k manifest through a file:// address (no network in tests)."""
    table = tmp_path / "mirror.tsv"
    digest = hashlib.sha256(Path(manifest).read_bytes()).hexdigest() if Path(manifest).exists() else ""
    table.write_text("array\tfile\turl\tsha256\n"
                     f"27k\tHM27.ordering.tsv.gz\t{Path(manifest).as_uri()}\t{digest}\n")
    return table


def _epiclock(*arguments, cwd):
    return subprocess.run([str(Path(sys.executable).with_name("epiclock")), *arguments], cwd=cwd,
                          capture_output=True, text=True)


def _init_filled_study(study, hm27_idats, catalogue_table):
    assert cli.main(["init", str(study), "--idats", str(hm27_idats)]) == 0
    sheet = pd.read_csv(study / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    sheet["donor"] = ["TCGA-13-0799", "TCGA-07-0227"]
    sheet["donor_age"] = ["59", "47"]
    sheet.to_csv(study / "samples.tsv", sep="\t", index=False)
    config = yaml.safe_load((study / "config.yaml").read_text())
    config["manifest"] = {"catalogue": str(catalogue_table)}
    (study / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.mark.workflow
def test_an_initialised_hm27_study_runs_once_the_sheet_is_filled(shared_dir, hm27_idats, tmp_path):
    real_manifest = shared_dir / "data/real/manifest/HM27.ordering.tsv.gz"
    study = tmp_path / "study"
    _init_filled_study(study, hm27_idats, _mirror_catalogue(tmp_path, real_manifest))
    result = _epiclock("run", str(study), "--cores", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    predictions = pd.read_csv(study / "results/clocks/predictions.tsv", sep="\t")
    assert set(predictions["sample_id"]) == {"4207113116_A", "4207113116_B"}
    # The manifest `auto` picked was downloaded once, and its sha256 locked beside it.
    downloaded = study / "resources/manifests/main/HM27.ordering.tsv.gz"
    assert downloaded.read_bytes() == real_manifest.read_bytes()
    assert download.read_lock(downloaded) == hashlib.sha256(real_manifest.read_bytes()).hexdigest()
    assert (study / "results/report.html").is_file()
    # The config leaves detection and dye bias to auto, which the index (no named controls) turns into
    # pOOBAH and the non-linear correction, saying so.
    applied = json.loads((study / "results/provenance.json").read_text())["preprocessing"]
    assert (applied["detection"], applied["dye_method"]) == ("poobah", "nonlinear")
    assert applied["manifests"] == ["HM27.ordering.tsv.gz"] and "names no NEGATIVE control probes" in applied["note"]
    # A manifest changed after the download stops the next run before any job.
    downloaded.write_bytes(downloaded.read_bytes()[:-10])
    result = _epiclock("run", str(study), "--cores", "2", "--dry-run", cwd=tmp_path)
    assert result.returncode != 0 and "HM27.ordering.tsv.gz: sha256" in result.stderr


@pytest.mark.workflow
def test_without_internet_the_run_says_which_file_to_put_where(shared_dir, hm27_idats, tmp_path):
    study = tmp_path / "study"
    _init_filled_study(study, hm27_idats, _mirror_catalogue(tmp_path, tmp_path / "offline/HM27.ordering.tsv.gz"))
    result = _epiclock("run", str(study), "--cores", "1", cwd=tmp_path)
    assert result.returncode != 0
    log = (study / "logs/download_manifest/main/HM27.ordering.tsv.gz.log").read_text()
    assert "the 27k manifest HM27.ordering.tsv.gz" in log
    assert str(study / "resources/manifests/main/HM27.ordering.tsv.gz") in log
