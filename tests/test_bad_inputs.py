"""A catalogue of bad inputs: each stops with a message naming the file, sample or field, or is
quarantined with its reason while every other sample finishes.

Errors that arise in the library are checked with library calls; errors that arise in the
workflow (config and sample-sheet checks at parse time, QC enforcement) with Snakemake runs in
temporary directories on a small simulated study: a dry run where the error is raised while the
Snakefile is parsed, so no job may have run.
"""

from __future__ import annotations

import copy
import errno
import functools
import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.iocontainers import Log

from conftest import DEMO_CONFIG, PROJECT_ROOT, idat_sheet, matrix_qc, plan_config, plan_stops, snakemake, write_pair
from epiclock import config as settings
from epiclock import deltas, plan
from epiclock.clocks import predict, registry
from epiclock.demo import simulate
from epiclock.errors import EpiclockError
from epiclock.io import idat, manifest
from epiclock.io.tables import read_beta_matrix, read_sample_sheet, write_beta_matrix, write_tsv
from epiclock.qc import assess, metrics
from epiclock.steps import run as steps_run
from epiclock.steps.train_clock import train_clock

# 3 donors x 6 conditions x 2 replicates: small enough for a run in seconds, and every contrast
# keeps its pairs when a few samples are quarantined.
STUDY_PARAMETERS = simulate.StudyParameters(donors=3, replicates=2, seed=3, background_cpgs=200)


@functools.cache
def small_study() -> simulate.SimulatedStudy:
    return simulate.simulate_study(STUDY_PARAMETERS)


def base_config(data_dir: Path) -> dict:
    """The project's config pointed at the study in ``data_dir``, with one fast clock and no training."""
    config = yaml.safe_load((PROJECT_ROOT / "config/config.yaml").read_text())
    config["samples"] = str(data_dir / "samples.tsv")
    config["input"] = {"type": "betas", "betas": str(data_dir / "betas.tsv.gz")}
    config["clocks"]["names"] = ["horvath2013"]
    config["custom_clocks"] = []
    return config


def write_workdir(workdir: Path, samples: pd.DataFrame | None = None, betas: pd.DataFrame | None = None,
                  change_config=None, data_dir: Path | None = None) -> Path:
    """A run directory: data/samples.tsv, data/betas.tsv.gz and config.yaml (after ``change_config``)."""
    study = small_study()
    data_dir = data_dir or workdir / "data"
    if not (data_dir / "samples.tsv").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        write_tsv(study.samples if samples is None else samples, data_dir / "samples.tsv")
        write_beta_matrix(study.betas if betas is None else betas, data_dir / "betas.tsv.gz")
    config = base_config(data_dir)
    if change_config is not None:
        change_config(config)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return workdir


def stops_before_any_job(workdir: Path) -> str:
    """Dry-run the workflow: it must fail while parsing, before any job; returns what it printed."""
    result = snakemake(PROJECT_ROOT, workdir, "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert not (workdir / "results").exists()
    assert "Traceback" not in output, output
    return output


def write_bytes(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def small_idat(probe_count: int = 40, barcode: str = "204000000001", seed: int = 0) -> idat.Idat:
    rng = np.random.default_rng(seed)
    addresses = (10_000_000 + np.cumsum(rng.integers(1, 1_000, probe_count))).astype(np.int32)
    return idat.Idat(
        addresses=addresses,
        means=rng.integers(0, 65_535, probe_count, dtype=np.uint16),
        sds=rng.integers(0, 5_000, probe_count, dtype=np.uint16),
        bead_counts=rng.integers(0, 30, probe_count, dtype=np.uint8),
        strings={402: barcode, 403: "BeadChip 8x1"},
    )


TINY_MANIFEST = """Illumina, Inc.,,,,,,,
[Heading],,,,,,,
Descriptor File Name,Tiny.bpm,,,,,,
[Assay],,,,,,,
IlmnID,Name,AddressA_ID,AddressB_ID,Infinium_Design_Type,Next_Base,Color_Channel,CHR,MAPINFO
cg00000029_TC21,cg00000029,101,,II,,,chr16,53434200
cg00000109_TC11,cg00000109,103,203,I,A,Red,chr3,171916037
[Controls],,,,,,,
0027630314,STAINING,Red,DNP (High),,,,
"""


# --- IDAT files ------------------------------------------------------------------------------------


def test_bad_input_truncated_idat(tmp_path):
    path = tmp_path / "204000000001_R01C01_Grn.idat"
    idat.write_idat(small_idat(), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(path))}: the IDAT file is truncated"):
        idat.read_idat(path)


def test_bad_input_corrupt_gzipped_idat(tmp_path):
    path = tmp_path / "204000000001_R01C01_Red.idat.gz"
    idat.write_idat(small_idat(), path, gzip_backend="zlib")
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(path))}: the gzip stream is corrupt or cut short"
                                            r".*download or copy the file again"):
        idat.read_idat(path)


def test_bad_input_file_that_is_not_an_idat(tmp_path):
    path = write_bytes(tmp_path / "204000000001_R01C01_Grn.idat", "Sample_Name,Sentrix_ID\nS1,2040\n")
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(path))}: not an IDAT file"):
        idat.read_idat(path)


def test_bad_input_red_idat_without_grn(tmp_path):
    idat.write_idat(small_idat(), tmp_path / "204000000001_R01C01_Red.idat")
    idat.write_idat(small_idat(), tmp_path / "204000000001_R02C01_Red.idat")
    idat.write_idat(small_idat(), tmp_path / "204000000001_R02C01_Grn.idat")
    basename = tmp_path / "204000000001_R01C01"
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(basename))}: the Grn half of the IDAT pair is missing "
                                            r"\(expected .*_Grn\.idat or .*_Grn\.idat\.gz\)"):
        idat.read_idat_pair(basename)


def test_bad_input_red_idat_that_is_a_copy_of_the_grn(tmp_path):
    # The Red file copied over the Grn one (or the same file twice): named as such, never read as an array.
    idat.write_idat(small_idat(), tmp_path / "204000000001_R01C01_Red.idat")
    idat.write_idat(small_idat(), tmp_path / "204000000001_R01C01_Grn.idat")
    with pytest.raises(EpiclockError, match=r"sample 204000000001_R01C01: the Red IDAT \(.*_Red\.idat\) and Grn "
                                            r"IDAT \(.*_Grn\.idat\) hold identical intensities, so one file is a "
                                            r"copy of the other"):
        idat.read_idat_pair(tmp_path / "204000000001_R01C01")


def test_bad_input_idats_of_two_arrays_mixed(tmp_path):
    # Same barcode (a copy-paste accident), but the Grn half comes from an array with more addresses.
    idat.write_idat(small_idat(probe_count=40), tmp_path / "204000000001_R01C01_Red.idat")
    idat.write_idat(small_idat(probe_count=55), tmp_path / "204000000001_R01C01_Grn.idat")
    with pytest.raises(EpiclockError, match=r"sample 204000000001_R01C01: the Red IDAT \(.*_Red\.idat\) has 40 "
                                            r"addresses but the Grn IDAT \(.*_Grn\.idat\) has 55; the files belong "
                                            r"to different arrays"):
        idat.read_idat_pair(tmp_path / "204000000001_R01C01")


def test_bad_input_one_array_under_two_donors_is_quarantined_by_default():
    # S3 says donor D2 but carries D1's genotypes: both arrays are quarantined under the schema's default
    # qc.fail_on, while the possible swap it makes with S2 (D2 with other genotypes) is only flagged on S2.
    rng = np.random.default_rng(1)
    genotypes = [rng.choice([0.05, 0.5, 0.95], 40) for _ in range(3)]
    snps = pd.DataFrame({"S1": genotypes[0], "S2": genotypes[1], "S3": genotypes[0], "S4": genotypes[2]},
                        index=[f"rs{n}" for n in range(40)])
    sheet = pd.DataFrame({"sample_id": ["S1", "S2", "S3", "S4"], "donor": ["D1", "D2", "D2", "D3"]})
    qc_table = assess.judge(pd.DataFrame({"n_cpgs": 10, "n_missing": 0, "n_out_of_range": 0, "beta_mean": 0.5,
                                      "beta_median": 0.5, "call_rate": 1.0}, index=pd.Index(sheet["sample_id"])),
                        sheet["sample_id"].tolist(), assess.QcThresholds())
    fail_on = settings.Settings.from_config({"samples": "s.tsv", "input": {"type": "betas"}}).raw["qc"]["fail_on"]
    table, _ = assess.flag_checks(qc_table, sheet, snps, donor_column="donor", sex_column="sex", fail_on=fail_on)
    table = table.set_index("sample_id")
    assert table["passed"].tolist() == [False, True, False, True]
    assert table.loc["S1", "reasons"] == "unexpected duplicate with S3 (genotype concordance 1.00)"
    assert table.loc["S2", "flags"].startswith("possible swap with S3")


def test_bad_input_one_beta_column_under_two_names_is_quarantined():
    # A beta matrix (no SNP genotypes) whose column B is a copy of A: both are one array under two names.
    rng = np.random.default_rng(2)
    first = rng.uniform(0.1, 0.9, 40)
    betas = beta_frame({"A": first, "B": first.copy(), "C": rng.uniform(0.1, 0.9, 40)})
    measured = metrics.beta_metrics(betas)
    judged = assess.judge(measured[metrics.BETA_METRIC_COLUMNS], ["A", "B", "C"], assess.QcThresholds())
    array_rows = measured.reset_index()[["sample_id", metrics.BETAS_DIGEST]].assign(array_passed=True, array_reasons="")
    sheet = pd.DataFrame({"sample_id": ["A", "B", "C"], "donor": ["D1", "D2", "D3"]})
    table, _ = assess.flag_checks(assess.merge_array_qc(judged, array_rows), sheet, pd.DataFrame(), donor_column="donor",
                              sex_column="sex", fail_on=["duplicate"])
    table = table.set_index("sample_id")
    assert table["passed"].tolist() == [False, False, True]
    assert table.loc["A", "reasons"] == "identical betas to B (one array under two names)"
    assert metrics.BETAS_DIGEST not in table.columns


# --- sample sheets ---------------------------------------------------------------------------------


def test_bad_input_duplicate_sample_ids(tmp_path):
    sheet = write_bytes(tmp_path / "samples.tsv", "sample_id\tdonor\tdonor_age\nS1\tD1\t30\nS2\tD1\t30\nS1\tD2\t50\n")
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(sheet))}: duplicate sample_id values: S1"):
        read_sample_sheet(sheet)
    # The same sample twice in a beta matrix header is caught too (pandas would rename it S1.1).
    betas = write_bytes(tmp_path / "betas.tsv", "cpg_id\tS1\tS2\tS1\ncg00000029\t0.1\t0.2\t0.3\n")
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(betas))}: sample IDs appear more than once in the "
                                            r"header: S1"):
        read_beta_matrix(betas)


def test_bad_input_sample_sheet_row_longer_than_its_header(tmp_path):
    # pandas would make the extra leading fields an index and shift every value one column over.
    sheet = write_bytes(tmp_path / "samples.tsv", "sample_id\tdonor\nS1\tD1\t34\tskin\nS2\tD1\t34\tskin\n")
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(sheet))}: the first sample row has more fields than "
                                            r"the header's 2 column\(s\) \(sample_id, donor\)"):
        read_sample_sheet(sheet)


@pytest.fixture(scope="module")
def sheet_without_donor(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sheet_without_donor")
    samples = small_study().samples.drop(columns=["donor"])
    write_workdir(workdir, samples=samples)
    return workdir, stops_before_any_job(workdir)


@pytest.mark.workflow
def test_bad_input_sample_sheet_missing_a_column(sheet_without_donor):
    _, output = sheet_without_donor
    assert "epiclock: error: " in output and "the design needs column(s) donor, which the sample sheet does not have" \
        in output


@pytest.mark.workflow
def test_bad_input_sample_sheet_missing_a_column_names_the_sheet(sheet_without_donor):
    workdir, output = sheet_without_donor
    assert str(workdir / "data/samples.tsv") in output


@pytest.mark.workflow
def test_bad_input_sample_sheet_with_a_bad_type(tmp_path):
    samples = small_study().samples.astype({"donor_age": object})
    samples.loc[3, "donor_age"] = "forty"
    write_workdir(tmp_path, samples=samples)
    output = stops_before_any_job(tmp_path)
    assert (f"{tmp_path / 'data/samples.tsv'}: column 'donor_age' must be numeric; "
            f"sample {samples.loc[3, 'sample_id']!r} has 'forty'") in output


# --- the sample sheet against itself and the design (epiclock.plan, before any job) ------------------


def test_bad_input_sample_ids_equal_up_to_case(tmp_path):
    samples = small_study().samples.copy()
    first = samples["sample_id"].iloc[1]
    samples.loc[6, "sample_id"] = first.upper()
    path = re.escape(str(tmp_path / "samples.tsv"))
    plan_stops(plan_config(tmp_path, samples),
          rf"^{path}: rows 3, 8 \(samples {first}, {first.upper()}\) have sample IDs that differ only in case")


def test_bad_input_sample_ids_equal_up_to_surrounding_whitespace(tmp_path):
    sheet = write_bytes(tmp_path / "samples.tsv", "sample_id\tdonor\nS1\tD1\nS2\tD1\n S1 \tD2\n")
    with pytest.raises(EpiclockError, match=rf"^{re.escape(str(sheet))}: duplicate sample_id values: S1 \(rows 2, 4 "
                                            r"say S1\); give every array its own sample_id$"):
        read_sample_sheet(sheet)


def test_bad_input_a_sample_id_the_schema_refuses_names_its_row(tmp_path):
    samples = small_study().samples.copy()
    samples.loc[2, "sample_id"] = "S 3/b"
    plan_stops(plan_config(tmp_path, samples), r"row 4 \(sample S 3/b\): sample_id: 'S 3/b' does not match")


def test_bad_input_a_donor_with_two_ages(tmp_path):
    samples = small_study().samples.copy()
    donor = samples["donor"].iloc[0]
    odd = samples.index[samples["donor"] == donor][4]
    age = samples.loc[odd, "donor_age"]
    samples.loc[odd, "donor_age"] = age + 24
    sample = samples.loc[odd, "sample_id"]
    plan_stops(plan_config(tmp_path, samples),
          rf"donor '{donor}' has donor_age {age:g} in rows .* but {age + 24:g} in row {odd + 2} \(sample {sample}\); "
          r"a donor has one donor_age")


@pytest.mark.workflow
def test_bad_input_a_donor_with_two_ages_stops_the_workflow_in_one_line(tmp_path):
    # One donor's sample with another age made one delta -24 y: now the run stops before any job.
    samples = small_study().samples.copy()
    samples.loc[4, "donor_age"] = samples.loc[4, "donor_age"] + 24
    write_workdir(tmp_path, samples=samples)
    output = stops_before_any_job(tmp_path)
    errors = [line for line in output.splitlines() if line.startswith("epiclock: error: ")]
    assert len(errors) == 1 and f"but {samples.loc[4, 'donor_age']:g} in row 6 (sample " \
        f"{samples.loc[4, 'sample_id']})" in errors[0], output


def test_bad_input_a_donor_with_two_sexes(tmp_path):
    samples = small_study().samples.copy()
    donor = samples["donor"].iloc[0]
    rows = samples.index[samples["donor"] == donor]
    sex = samples.loc[rows[0], "sex"]
    samples.loc[rows[2], "sex"] = {"F": "male", "M": "female"}[sex]
    plan_stops(plan_config(tmp_path, samples), rf"donor '{donor}' has sex {sex} in rows .* but "
                                           rf"{'M' if sex == 'F' else 'F'} in row {rows[2] + 2}")


def test_bad_input_a_condition_that_contradicts_the_factors(tmp_path):
    samples = small_study().samples.copy()
    wrong = samples.index[samples["condition"] == "skin_bm_young_serum"][1]
    samples.loc[wrong, "serum"] = "old"
    sample = samples.loc[wrong, "sample_id"]
    plan_stops(plan_config(tmp_path, samples),
          rf"condition 'skin_bm_young_serum' goes with bone_marrow=yes, serum=young in row \d+ \(sample \S+\) but "
          rf"with bone_marrow=yes, serum=old in row {wrong + 2} \(sample {sample}\); the 'condition' column "
          r"contradicts the factor columns \(bone_marrow, serum\)")


def test_bad_input_two_conditions_for_one_combination_of_factors(tmp_path):
    samples = small_study().samples.copy()
    wrong = samples.index[samples["condition"] == "skin_alone"][0]
    samples.loc[wrong, "condition"] = "skin_only"

    def order_without(config):
        config["design"]["condition_order"] = []

    plan_stops(plan_config(tmp_path, samples, order_without),
          rf"bone_marrow=no, serum=none is condition 'skin_only' in row {wrong + 2} \(sample \S+\) but 'skin_alone' in row")


def test_bad_input_condition_order_naming_an_absent_condition(tmp_path):
    def misspell(config):
        config["design"]["condition_order"][2] = "skin_old_serun"

    plan_stops(plan_config(tmp_path, small_study().samples, misspell),
          r"^config design.condition_order: 'skin_old_serun' is not a condition of .*samples.tsv")


def test_bad_input_a_contrast_whose_sides_select_the_same_samples(tmp_path):
    def same_sides(config):
        config["contrasts"][0]["reference"] = {"serum": "young", "bone_marrow": "yes"}

    plan_stops(plan_config(tmp_path, small_study().samples, same_sides),
          r"^config contrasts: contrast 'young_vs_old_serum_with_bm' selects the same 6 sample\(s\) as treated and "
          r"as reference")

    def same_minus(config):
        config["contrasts"][3]["minus"]["reference"] = {"bone_marrow": "no", "serum": "young"}

    plan_stops(plan_config(tmp_path, small_study().samples, same_minus),
          r"contrast 'young_vs_old_serum_bm_minus_no_bm \(its minus part\)' selects the same")


def test_bad_input_one_idat_pair_claimed_by_two_samples(tmp_path):
    write_pair(tmp_path, "201_R01C01")
    with pytest.raises(EpiclockError, match=r"sample sheet: rows 2, 4 \(samples S1, S3\) name the same IDAT pair "
                                            r"201_R01C01; one array is one sample"):
        plan.find_idat_basenames(idat_sheet(["201_R01C01", "201_R02C01", "201_R01C01"]), tmp_path)


def test_bad_input_one_basename_in_two_places(tmp_path):
    write_pair(tmp_path / "run1", "201_R01C01")
    write_pair(tmp_path / "copy", "201_R01C01")
    found, _ = plan.find_idat_basenames(idat_sheet(["201_R01C01"]), tmp_path)
    assert found == {"S1": str(tmp_path / "copy/201_R01C01")}      # the same bytes: one pair
    write_pair(tmp_path / "run1", "201_R01C01", content=b"other")
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(tmp_path))}: the IDAT pair 201_R01C01 is found twice "
                                            r"with different contents, in .*copy and .*run1"):
        plan.find_idat_basenames(idat_sheet(["201_R01C01"]), tmp_path)


def test_bad_input_a_directory_given_as_a_file_and_the_reverse(tmp_path):
    config = plan_config(tmp_path, small_study().samples)
    (tmp_path / "betas.tsv.gz").unlink()
    (tmp_path / "betas.tsv.gz").mkdir()
    plan_stops(config, rf"^config input.betas: {re.escape(str(tmp_path / 'betas.tsv.gz'))} is a directory; give the "
                  r"file itself$")
    (tmp_path / "betas.tsv.gz").rmdir()

    def idats(config):
        config["input"] = {"type": "idat", "idat_dir": str(tmp_path / "samples.tsv")}
        config["manifest"] = {"path": str(tmp_path / "samples.tsv")}

    plan_stops(plan_config(tmp_path, small_study().samples, idats), r"^config input.idat_dir: .*samples.tsv is a file; give the "
                                                        r"folder that holds the IDAT files$")


@pytest.mark.skipif(hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0,
                    reason="root reads every file whatever its mode")
def test_bad_input_an_unreadable_sheet(tmp_path):
    config = plan_config(tmp_path, small_study().samples)
    (tmp_path / "samples.tsv").chmod(0)
    plan_stops(config, r"^config samples: .*samples.tsv cannot be read \(permission denied\)")


# --- config ----------------------------------------------------------------------------------------


@pytest.mark.workflow
def test_bad_input_unknown_condition_level_in_a_contrast(tmp_path):
    def misspell(config):
        config["contrasts"][1]["reference"]["serum"] = "nnoe"

    write_workdir(tmp_path, change_config=misspell)
    output = stops_before_any_job(tmp_path)
    assert ("config contrasts: contrast 'young_serum_vs_none_with_bm' reference asks for serum='nnoe'; "
            "the sample sheet has only: none, old, young") in output


@pytest.mark.workflow
def test_bad_input_contrast_with_no_donor_in_both_groups(tmp_path):
    # The young-serum models with bone marrow relabelled as another donor's: no donor has both groups.
    samples = small_study().samples.copy()
    young = samples["serum"].eq("young") & samples["bone_marrow"].eq("yes")
    samples.loc[young, "donor"] = "D99"
    # One donor has one age and one sex (the sheet checks would stop at that first).
    samples.loc[young, "donor_age"] = samples.loc[young, "donor_age"].iloc[0]
    samples.loc[young, "sex"] = samples.loc[young, "sex"].iloc[0]

    def only_that_contrast(config):
        config["contrasts"] = [config["contrasts"][0]]

    write_workdir(tmp_path, samples=samples, change_config=only_that_contrast)
    output = stops_before_any_job(tmp_path)
    assert ("config contrasts: contrast 'young_vs_old_serum_with_bm' has no donors to compare: no donor has "
            "samples in every group it compares") in output


@pytest.mark.workflow
def test_bad_input_unknown_clock_name_in_the_config(tmp_path):
    with pytest.raises(EpiclockError, match=r"unknown clock 'horvath2031'; did you mean horvath2013\b.*\? `epiclock clocks list`"):
        registry.get("horvath2031")

    def misspell(config):
        config["clocks"]["names"] = ["horvath2031"]

    write_workdir(tmp_path, change_config=misspell)
    output = stops_before_any_job(tmp_path)
    assert "config clocks.names: unknown clock 'horvath2031'; did you mean horvath2013" in output
    assert "custom clocks: none" in output


@pytest.mark.workflow
def test_bad_input_config_key_with_a_wrong_type(tmp_path):
    def wrong_type(config):
        config["qc"]["min_call_rate"] = "high"

    write_workdir(tmp_path, change_config=wrong_type)
    output = stops_before_any_job(tmp_path)
    # One line naming the key path, with no dump of the schema or the config.
    assert "epiclock: error: config qc.min_call_rate: 'high' is not of type 'number'; give a number\n" in output
    assert len([line for line in output.splitlines() if "profile" not in line]) == 1, output


def test_bad_input_custom_clock_ages_without_the_age_column(tmp_path):
    cohort = simulate.simulate_reference_cohort(n_samples=12, signal_cpgs=5, background_cpgs=20, seed=2)
    paths = simulate.write_reference_cohort(cohort, tmp_path)
    write_tsv(cohort.ages.rename("years").reset_index(), paths["ages.tsv"])
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(paths['ages.tsv']))}: custom clock 'skin_local' "
                                            r"needs a 'age' column \(columns: sample_id, years\)"):
        train_clock("skin_local", str(paths["betas.tsv.gz"]), str(paths["ages.tsv"]), {"age_column": "age"},
                    str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


# --- beta matrices ---------------------------------------------------------------------------------


def beta_frame(values: dict[str, list[float]]) -> pd.DataFrame:
    index = pd.Index([f"cg{number:08d}" for number in range(len(next(iter(values.values()))))], name="cpg_id")
    return pd.DataFrame(values, index=index)


def test_bad_input_beta_matrix_with_missing_values_is_quarantine_not_error():
    many_missing = [np.nan] * 10 + [0.5] * 10
    betas = beta_frame({"good": [0.5] * 20, "few_missing": [np.nan] + [0.5] * 19, "many_missing": many_missing})
    table = matrix_qc(betas, ["good", "few_missing", "many_missing"], assess.QcThresholds(min_call_rate=0.9))
    table = table.set_index("sample_id")
    assert table.loc["good", "passed"] and table.loc["few_missing", "passed"]
    assert not table.loc["many_missing", "passed"]
    assert table.loc["many_missing", "reasons"] == "call rate 0.500 below 0.9"


def test_bad_input_beta_matrix_with_infinite_values():
    betas = beta_frame({"good": [0.5] * 20, "infinite": [np.inf, -np.inf] + [0.5] * 18})
    table = matrix_qc(betas, ["good", "infinite"], assess.QcThresholds()).set_index("sample_id")
    assert table.loc["good", "passed"] and not table.loc["infinite", "passed"]
    # Infinite is wrong input, not absent input: out of range, and the call rate is untouched.
    assert table.loc["infinite", "reasons"] == "2 values outside [0, 1]"
    assert table.loc["infinite", "call_rate"] == 1.0


def test_bad_input_beta_matrix_with_values_outside_0_1():
    rng = np.random.default_rng(0)
    betas = beta_frame({"good": list(rng.uniform(0.05, 0.95, 20)), "one_off": [1.2] + [0.5] * 19,
                        "m_values": list(rng.normal(0, 3, 20))})
    table = matrix_qc(betas, ["good", "one_off", "m_values"], assess.QcThresholds()).set_index("sample_id")
    assert table["passed"].tolist() == [True, False, False]
    assert table.loc["one_off", "reasons"] == "1 values outside [0, 1]"
    assert table.loc["m_values", "reasons"].endswith("values outside [0, 1] (M-values instead of betas?)")


def test_bad_input_cpg_ids_absent_from_every_clock():
    # A matrix of real-looking probe IDs that no shipped clock reads: every sample gets no age, with
    # the reason, and the contrasts say why they have no estimate instead of failing.
    study = small_study()
    shipped = set().union(*(registry.get(name).cpg_ids for name in registry.available()))
    foreign = pd.Index([f"cg9{number:07d}" for number in range(60)], name="cpg_id").difference(sorted(shipped))
    betas = pd.DataFrame(np.random.default_rng(1).uniform(0.1, 0.9, (len(foreign), len(study.samples))),
                         index=foreign, columns=study.samples["sample_id"])
    predictions = predict.predict(betas, registry.resolve(["horvath2013", "horvath_skin_blood2018"]))
    assert predictions["dnam_age"].isna().all()
    assert predictions["status"].str.startswith("no age: 0 of ").all()
    assert predictions["status"].str.contains("below the minimum coverage 0.8 (does the beta matrix use Illumina "
                                              "probe IDs", regex=False).all()
    config = base_config(Path("unused"))
    design = deltas.Design.from_config(config["design"])
    per_sample = deltas.per_sample(predictions, study.samples, design)
    contrasts = deltas.contrast_table(per_sample, [deltas.Contrast.from_config(c) for c in config["contrasts"]], design)
    assert contrasts["estimate_years"].isna().all() and (contrasts["n_donors"] == 0).all()
    assert contrasts["note"].str.contains("too few for a test").all()


def test_bad_input_beta_matrix_that_is_not_a_table(tmp_path):
    png = write_bytes(tmp_path / "betas.tsv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(png))}: cannot be read as a text table"):
        read_beta_matrix(png)
    prose = write_bytes(tmp_path / "notes.tsv", "These are the betas from the core facility.\nSee attached.\n")
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(prose))}: the beta matrix has no data rows or no "
                                            r"sample columns"):
        read_beta_matrix(prose)
    no_probes = write_bytes(tmp_path / "genes.tsv", "gene\tS1\tS2\nTP53\t0.1\t0.2\nBRCA1\t0.3\t0.4\n")
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(no_probes))}: found no Infinium probe IDs"):
        read_beta_matrix(no_probes)


def test_bad_input_non_numeric_betas(tmp_path):
    path = write_bytes(tmp_path / "betas.tsv", "cpg_id\tS1\tS2\ncg00000029\t0.1\t0.2\ncg00000108\t0.3\thigh\n")
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(path))}: sample 'S2' has 1 non-numeric values "
                                            r"\(first at CpG cg00000108: 'high'\)"):
        read_beta_matrix(path)


def test_bad_input_sample_without_a_beta_column_is_quarantined():
    betas = beta_frame({"S1": [0.5] * 5, "stray": [0.5] * 5})
    table = matrix_qc(betas, ["S1", "S2"], assess.QcThresholds()).set_index("sample_id")
    assert table.loc["S2", "reasons"] == "no column in the beta matrix"
    # A data column without a sheet row is ignored, not a QC failure: counts are over the sheet's samples.
    assert table.loc["stray", "reasons"] == "not in the sample sheet (ignored)"
    assert table["passed"].tolist() == [True, False, False]
    assert table["in_sheet"].tolist() == [True, True, False]
    assert assess.sheet_samples(table.reset_index())["sample_id"].tolist() == ["S1", "S2"]
    with pytest.raises(EpiclockError, match=r"QC: no sample passed \(S2: no column in the beta matrix\)"):
        assess.enforce(table.reset_index().query("sample_id != 'S1'"), fail_fast=False)


# --- manifests -------------------------------------------------------------------------------------


def test_bad_input_manifest_without_its_assay_section(tmp_path):
    path = write_bytes(tmp_path / "manifest.csv", TINY_MANIFEST.replace("[Assay],,,,,,,\n", ""))
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(path))}: no \[Assay\] section; expected an Illumina "
                                            r"manifest CSV"):
        manifest.parse_manifest(path)


# --- empty files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reader, expected", [
    (read_beta_matrix, "the file is empty; expected a beta matrix with a header line"),
    (read_sample_sheet, "the sample sheet is empty"),
    (idat.read_idat, "the IDAT file is empty"),
    (manifest.parse_manifest, "the manifest is empty"),
], ids=["beta_matrix", "sample_sheet", "idat", "manifest"])
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzipped"])
def test_bad_input_empty_file(tmp_path, reader, expected, compressed):
    path = tmp_path / ("input.gz" if compressed else "input")
    path.write_bytes(gzip.compress(b"") if compressed else b"")
    if compressed and reader is read_sample_sheet:
        expected = "the sample sheet cannot be read as text"      # sheets are plain text only
    if compressed and reader is read_sample_sheet:
        with pytest.raises(EpiclockError, match=r"it is gzip-compressed; give the unpacked file"):
            reader(path)
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(path))}: {re.escape(expected)}"):
        reader(path)


# --- QC over the whole study -----------------------------------------------------------------------


def test_bad_input_all_samples_failing_qc():
    betas = beta_frame({"S1": [np.nan] * 20, "S2": [2.5] * 20})
    table = matrix_qc(betas, ["S1", "S2"], assess.QcThresholds())
    with pytest.raises(EpiclockError, match=r"QC: no sample passed \(S1: call rate 0\.000 below 0\.95; "
                                            r"S2: 20 values outside \[0, 1\] \(M-values instead of betas\?\)\)"):
        assess.enforce(table, fail_fast=False)


@pytest.fixture(scope="module")
def fail_fast_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fail_fast")

    def fail_fast(config):
        config["qc"]["fail_fast"] = True

    write_workdir(workdir, change_config=fail_fast)
    result = snakemake(PROJECT_ROOT, workdir, check=False)
    return workdir, result


def simulated_failure() -> str:
    truth = small_study().truth
    return truth.loc[truth["simulated_failure"], "sample_id"].iloc[0]


@pytest.mark.workflow
def test_bad_input_fail_fast_stops_the_run(fail_fast_run):
    workdir, result = fail_fast_run
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (f"QC failed for 1 sample(s) and fail_fast is set: {simulated_failure()}: call rate" in output), output
    # The reasons stay readable in the rule's log after the stop.
    assert simulated_failure() in (workdir / "logs/sample_qc.log").read_text()


@pytest.mark.workflow
def test_bad_input_fail_fast_keeps_the_qc_table(fail_fast_run):
    workdir, _ = fail_fast_run
    table = pd.read_csv(workdir / "results/qc/samples.tsv", sep="\t")
    assert table.loc[~table["passed"], "sample_id"].tolist() == [simulated_failure()]


# --- quarantine through the whole workflow ---------------------------------------------------------


def quarantine_study() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """The small study with a few broken samples: (sheet, betas, sample -> expected reason)."""
    study = small_study()
    samples, betas = study.samples, study.betas.copy()
    failed = simulated_failure()
    failed_row = samples.set_index("sample_id").loc[failed]
    # Broken samples of other donors than the simulated failure, one replicate each, so that every
    # donor keeps a sample of every condition and every contrast its pairs.
    candidates = samples.loc[samples["replicate"].astype(str).eq("1") & samples["donor"].ne(failed_row["donor"]),
                             "sample_id"].tolist()
    infinite, m_values, no_column, few_missing = candidates[0], candidates[3], candidates[6], candidates[9]
    betas.iloc[:3, betas.columns.get_loc(infinite)] = np.inf
    betas[m_values] = np.log2(betas[m_values] / (1 - betas[m_values]))
    betas = betas.drop(columns=[no_column])
    # A few missing values are no reason to quarantine: the sample passes and gets its age.
    betas.iloc[:5, betas.columns.get_loc(few_missing)] = np.nan
    reasons = {failed: "call rate", infinite: "3 values outside [0, 1]",
               m_values: "values outside [0, 1] (M-values instead of betas?)",
               no_column: "no column in the beta matrix"}
    return samples, betas, reasons | {few_missing: ""}


_QUARANTINE_RUN: dict[str, Path] = {}


def quarantine_run(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The workflow run once, uninterrupted, on the quarantine study (shared with test_resume)."""
    _, _, reasons = quarantine_study()
    if "workdir" not in _QUARANTINE_RUN:
        workdir = tmp_path_factory.mktemp("quarantine_run")
        write_quarantine_data(workdir / "data")
        write_workdir(workdir, data_dir=workdir / "data")
        snakemake(PROJECT_ROOT, workdir)
        _QUARANTINE_RUN["workdir"] = workdir
    return _QUARANTINE_RUN["workdir"], reasons


def write_quarantine_data(data_dir: Path) -> Path:
    samples, betas, _ = quarantine_study()
    data_dir.mkdir(parents=True, exist_ok=True)
    write_tsv(samples, data_dir / "samples.tsv")
    write_beta_matrix(betas, data_dir / "betas.tsv.gz")
    return data_dir


@pytest.mark.workflow
def test_bad_samples_are_quarantined_with_reasons_and_the_rest_finish(tmp_path_factory):
    workdir, reasons = quarantine_run(tmp_path_factory)
    results = workdir / "results"
    table = pd.read_csv(results / "qc/samples.tsv", sep="\t", keep_default_na=False).set_index("sample_id")
    for sample_id, reason in reasons.items():
        if reason:
            assert not table.loc[sample_id, "passed"] and reason in table.loc[sample_id, "reasons"], sample_id
        else:
            assert table.loc[sample_id, "passed"], sample_id
    quarantined = {sample_id for sample_id, reason in reasons.items() if reason}
    assert set(table.index[~table["passed"]]) == quarantined
    predictions = pd.read_csv(results / "clocks/predictions.tsv", sep="\t")
    assert set(predictions["sample_id"]) == set(small_study().samples["sample_id"]) - quarantined
    assert predictions["dnam_age"].notna().all()
    contrasts = pd.read_csv(results / "deltas/contrasts.tsv", sep="\t")
    assert contrasts["estimate_years"].notna().all() and (contrasts["n_donors"] == 3).all()
    html = (results / "report.html").read_text()
    for sample_id in quarantined:
        assert sample_id in html
    for reason in ("call rate", "3 values outside [0, 1]", "M-values instead of betas?", "no column in the beta matrix"):
        assert reason in html, reason


# --- the file system -------------------------------------------------------------------------------


class _Job:
    """What run_step reads of Snakemake's ``snakemake`` object: the rule's log files."""

    def __init__(self, directory):
        files = {name: str(directory / path) for name, path in steps_run.job_log("write_figures").items()}
        self.log = Log(fromdict=files)._plainstrings()


@pytest.mark.parametrize("error, expected", [
    (OSError(errno.ENOSPC, "No space left on device", "results/figures/horvath2013.svg"),
     "results/figures/horvath2013.svg: No space left on device (step write_figures); free space on that disk"),
    (PermissionError(errno.EACCES, "Permission denied", "results/qc"),
     "results/qc: Permission denied (step write_figures); make it readable and writable for this user"),
    (OSError(errno.EROFS, "Read-only file system", "results"),
     "results: Read-only file system (step write_figures); the file system is read-only: run the study in a "
     "writable directory"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "data/betas"),
     "data/betas: Is a directory (step write_figures); a folder was given where a file belongs"),
], ids=["disk_full", "permission", "read_only", "directory_for_a_file"])
def test_bad_input_file_system_errors_in_a_step_are_one_line(tmp_path, capsys, error, expected):
    def write_figures():
        raise error

    with pytest.raises(SystemExit) as stopped:
        steps_run.run_step(_Job(tmp_path), write_figures)
    assert stopped.value.code == 1
    printed = capsys.readouterr().err
    assert expected in printed and "Traceback" not in printed, printed
    assert len(printed.strip().splitlines()) == 1, printed
    assert expected in (tmp_path / "logs/write_figures.log").read_text()
    # What the step cost is recorded for a failed step too.
    usage = pd.read_csv(tmp_path / "benchmarks/write_figures.usage.tsv", sep="\t")
    assert list(usage.columns) == list(steps_run.USAGE_COLUMNS) and len(usage) == 1
