import subprocess
import sys

from epiclock import cli


def test_clocks_list_prints_each_clock(capsys):
    assert cli.main(["clocks", "list"]) == 0
    output = capsys.readouterr().out
    assert output.splitlines()[0].split("\t")[:4] == ["name", "cpgs", "unit", "tissue"]
    assert "horvath2013\t353\tyears" in output
    assert "horvath_skin_blood2018\t391\tyears" in output
    header = output.splitlines()[0].split("\t")
    assert {"direction", "output_kind", "intended_use", "citation", "licence"} <= set(header)


def test_simulate_writes_the_study(tmp_path):
    result = subprocess.run([sys.executable, "-m", "epiclock.cli", "simulate", "--out", str(tmp_path), "--donors", "3",
                             "--replicates", "1", "--background-cpgs", "100", "--seed", "4"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "betas.tsv.gz", "composition_truth.tsv", "idats", "manifest.csv.gz", "reference_cohort", "samples.tsv",
        "truth.tsv"]
    n_samples = len((tmp_path / "samples.tsv").read_text().splitlines()) - 1
    assert len(list((tmp_path / "idats").rglob("*_Grn.idat.gz"))) == len(list((tmp_path / "idats").rglob("*_Red.idat.gz"))) == n_samples
    assert sorted(p.name for p in (tmp_path / "reference_cohort").iterdir()) == [
        "ages.tsv", "betas.tsv.gz", "planted_cpgs.tsv"]


def test_errors_are_one_line_not_a_traceback(tmp_path, capsys):
    assert cli.main(["simulate", "--out", str(tmp_path), "--donors", "2"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("epiclock: error: simulate: at least 3 donors") and "Traceback" not in error
