import gzip

import numpy as np
import pandas as pd
import pytest

from epiclock import EpiclockError
from epiclock.io.tables import atomic_path, read_beta_matrix, read_sample_sheet, write_tsv

BETAS = pd.DataFrame(
    {"S1": [0.1, 0.5, np.nan], "S2": [0.9, 0.4, 0.3]},
    index=pd.Index(["cg00000029", "cg00000108", "cg00000109"], name="cpg_id"),
)


def _write(path, text):
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("name,separator", [("b.tsv", "\t"), ("b.csv", ","), ("b.tsv.gz", "\t"), ("b.csv.gz", ",")])
def test_reads_cpgs_as_rows_in_every_format(tmp_path, name, separator):
    path = _write(tmp_path / name, BETAS.to_csv(sep=separator))
    pd.testing.assert_frame_equal(read_beta_matrix(path), BETAS)


def test_detects_cpgs_as_columns(tmp_path):
    path = _write(tmp_path / "b.tsv", BETAS.T.rename_axis("sample").to_csv(sep="\t"))
    pd.testing.assert_frame_equal(read_beta_matrix(path), BETAS)


def test_drops_leading_row_number_columns(tmp_path):
    text = ",Unnamed: 0,ID_REF,S1,S2\n0,0,cg00000029,0.1,0.9\n1,1,cg00000108,0.5,0.4\n2,2,cg00000109,,0.3\n"
    pd.testing.assert_frame_equal(read_beta_matrix(_write(tmp_path / "b.csv", text)), BETAS)


def test_epicv2_probe_ids_are_recognised(tmp_path):
    text = "ID\tS1\ncg00000029_TC21\t0.2\ncg00000109_BC11\t0.3\n"
    assert read_beta_matrix(_write(tmp_path / "b.tsv", text)).index.tolist() == ["cg00000029_TC21", "cg00000109_BC11"]


@pytest.mark.parametrize("text,message", [
    ("", "empty"),
    ("ID\tS1\nfoo\t0.2\nbar\t0.3\n", "found no Infinium probe IDs"),
    ("ID\tS1\tS1\ncg00000029\t0.2\t0.1\n", "more than once in the header: S1"),
    ("ID\tS1\ncg00000029\t0.2\ncg00000029\t0.3\n", "CpG IDs appear more than once"),
    ("ID\tS1\tS2\ncg00000029\t0.2\tabc\ncg00000108\t0.3\t0.1\n", "sample 'S2' has 1 non-numeric values"),
    ("ID\n", "no data rows"),
])
def test_bad_matrices_name_the_file_and_the_problem(tmp_path, text, message):
    path = _write(tmp_path / "bad.tsv", text)
    with pytest.raises(EpiclockError, match=message) as raised:
        read_beta_matrix(path)
    assert str(path) in str(raised.value)


def test_missing_matrix_is_a_clear_error(tmp_path):
    with pytest.raises(EpiclockError, match="beta matrix not found"):
        read_beta_matrix(tmp_path / "absent.tsv")


def test_corrupt_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "b.tsv.gz"
    path.write_bytes(gzip.compress(BETAS.to_csv(sep="\t").encode())[:40])
    with pytest.raises(EpiclockError, match=str(path)):
        read_beta_matrix(path)


def test_sample_sheet_types_and_errors(tmp_path):
    good = _write(tmp_path / "s.tsv", "sample_id\tdonor\tdonor_age\nA\tD1\t30\nB\tD1\t30.5\n")
    assert read_sample_sheet(good)["donor_age"].tolist() == ["30", "30.5"]     # text unless named numeric
    sheet = read_sample_sheet(good, numeric_columns=("donor_age",))
    assert sheet["donor_age"].tolist() == [30.0, 30.5]
    assert sheet["donor"].tolist() == ["D1", "D1"]
    for text, message in [
        ("donor\tdonor_age\nD1\t30\n", "no 'sample_id' column"),
        ("sample_id\tdonor_age\nA\t30\nA\t31\n", "duplicate sample_id values: A"),
        ("sample_id\tdonor_age\nA\tthirty\n", "column 'donor_age' must be numeric; sample 'A' has 'thirty' \\(row 2,"),
        ("sample_id\tdonor_age\n", "lists no samples"),
    ]:
        with pytest.raises(EpiclockError, match=message):
            read_sample_sheet(_write(tmp_path / "bad.tsv", text), numeric_columns=("donor_age",))


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.tsv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("partial")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    write_tsv(pd.DataFrame({"a": [1]}), target)
    assert target.read_text() == "a\n1\n"


@pytest.mark.shared
def test_reads_a_real_geo_beta_table(shared_dir):
    betas = read_beta_matrix(shared_dir / "data/geo/GSE111165_betas_excerpt.csv")
    assert betas.shape[0] == 200
    assert betas.index.str.match(r"^(cg|ch|rs)").all()
    assert "200607090061_R03C01" in betas.columns
    values = betas.to_numpy()
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 1
