import gzip

import numpy as np
import pandas as pd
import pytest

from epiclock.arrays.betas import signal_table_betas
from epiclock.errors import EpiclockError
from epiclock.io import geo

SERIES_MATRIX = """!Series_title\t"A small study"
!Series_geo_accession\t"GSE000001"
!Series_contributor\t"Ann,,Smith"
!Series_contributor\t"Bo,,Lee"
!Series_platform_id\t"GPL21145"

!Sample_title\t"skin_1"\t"skin_2"\t"skin_3"
!Sample_geo_accession\t"GSM1"\t"GSM2"\t"GSM3"
!Sample_characteristics_ch1\t"age: 34"\t"age: 61"\t"age: 45"
!Sample_characteristics_ch1\t"gender: Female"\t"gender: Male"\t""
!Sample_characteristics_ch1\t"tissue: skin"\t"tissue: skin"\t"tissue: skin"
!Sample_data_processing\t"normalised"\t"normalised"\t"normalised"
!Sample_data_processing\t"BMIQ"\t"BMIQ"\t"BMIQ"
!series_matrix_table_begin
"ID_REF"\t"GSM1"\t"GSM2"\t"GSM3"
"cg00000029"\t0.5\t0.25\t0.75
"cg00000109"\t0.1\t\t0.3
"cg00000029_TC21"\t0.9\tnull\t0.8
!series_matrix_table_end
"""

SIGNAL_TABLE = (
    "\tID_REF\tA1 Unmethylated signal\tA1 Methylated signal\tA1 Detection Pval"
    "\tB2 Unmethylated Signal\tB2 Methylated Signal\n"
    "0\tcg00000029\t900\t100\t0.0\t0\t0\n"
    "1\tcg00000109\t-50\t400\t0.01\t300\t-20\n"
)


def write(path, text, compress=False):
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_series_matrix(tmp_path, compress):
    matrix = geo.read_series_matrix(write(tmp_path / "GSE000001_series_matrix.txt.gz", SERIES_MATRIX, compress))
    assert matrix.series["geo_accession"] == ["GSE000001"]
    assert matrix.series["contributor"] == ["Ann,,Smith", "Bo,,Lee"]
    samples = matrix.samples
    assert samples.index.name == "sample_id" and samples.index.tolist() == ["GSM1", "GSM2", "GSM3"]
    assert samples["title"].tolist() == ["skin_1", "skin_2", "skin_3"]
    assert samples["age"].tolist() == ["34", "61", "45"]
    assert samples.loc["GSM2", "gender"] == "Male" and pd.isna(samples.loc["GSM3", "gender"])
    assert samples.loc["GSM1", "data_processing"] == "normalised; BMIQ"
    betas = matrix.betas
    assert betas.index.name == "cpg_id"
    assert betas.index.tolist() == ["cg00000029", "cg00000109", "cg00000029_TC21"]
    assert betas.dtypes.unique().tolist() == [np.float64]
    assert betas.loc["cg00000029", "GSM2"] == 0.25
    assert np.isnan(betas.loc["cg00000109", "GSM2"]) and np.isnan(betas.loc["cg00000029_TC21", "GSM2"])


def test_series_matrix_without_table_markers(tmp_path):
    path = write(tmp_path / "cut.txt", SERIES_MATRIX.split("!series_matrix_table_end")[0])
    with pytest.raises(EpiclockError, match=r"cut\.txt: not a GEO series matrix"):
        geo.read_series_matrix(path)


def test_series_matrix_with_empty_table(tmp_path):
    text = SERIES_MATRIX.split("!series_matrix_table_begin")[0] + "!series_matrix_table_begin\n!series_matrix_table_end\n"
    with pytest.raises(EpiclockError, match=r"empty\.txt: the series matrix holds no beta values"):
        geo.read_series_matrix(write(tmp_path / "empty.txt", text))


def test_series_matrix_with_a_non_numeric_beta(tmp_path):
    path = write(tmp_path / "bad.txt", SERIES_MATRIX.replace("0.25", "high"))
    with pytest.raises(EpiclockError, match=r"bad\.txt: column 'GSM2' has 1 non-numeric beta values \(first at cg00000029: 'high'\)"):
        geo.read_series_matrix(path)


def test_series_matrix_with_a_ragged_sample_line(tmp_path):
    path = write(tmp_path / "ragged.txt", SERIES_MATRIX.replace('"skin_3"', '"skin_3"\t"extra"'))
    with pytest.raises(EpiclockError, match=r"ragged\.txt: line '!Sample_title' has 4 values for 3 samples"):
        geo.read_series_matrix(path)


def test_series_matrix_with_unknown_table_columns(tmp_path):
    path = write(tmp_path / "stray.txt", SERIES_MATRIX.replace('"ID_REF"\t"GSM1"', '"ID_REF"\t"GSM9"'))
    with pytest.raises(EpiclockError, match=r"stray\.txt: .*GSM9"):
        geo.read_series_matrix(path)


def test_signal_table_betas_follow_genomestudio(tmp_path):
    table = geo.read_signal_table(write(tmp_path / "signals.txt", SIGNAL_TABLE))
    assert table.methylated.columns.tolist() == ["A1", "B2"]
    assert table.methylated.index.name == "cpg_id"
    assert table.unmethylated.loc["cg00000109", "A1"] == -50
    assert table.detection_p.columns.tolist() == ["A1"]
    assert table.detection_p.loc["cg00000109", "A1"] == 0.01
    # max(M, 0) / (max(M, 0) + max(U, 0) + 100)
    betas = signal_table_betas(table)
    assert betas.loc["cg00000029", "A1"] == pytest.approx(100 / 1100)
    assert betas.loc["cg00000109", "A1"] == pytest.approx(400 / 500)
    assert betas.loc["cg00000029", "B2"] == 0.0
    assert betas.loc["cg00000109", "B2"] == 0.0
    assert signal_table_betas(table, offset=0).loc["cg00000029", "A1"] == pytest.approx(0.1)


def test_signal_table_as_csv(tmp_path):
    path = write(tmp_path / "signals.csv.gz", SIGNAL_TABLE.replace("\t", ","), compress=True)
    assert geo.read_signal_table(path).methylated.shape == (2, 2)


def test_signal_table_with_a_sample_missing_one_signal(tmp_path):
    text = SIGNAL_TABLE.replace("B2 Methylated Signal", "B2 Other")
    with pytest.raises(EpiclockError, match=r"half\.txt: sample 'B2' has no methylated signal column"):
        geo.read_signal_table(write(tmp_path / "half.txt", text))


def test_signal_table_without_signal_columns(tmp_path):
    with pytest.raises(EpiclockError, match=r"betas\.txt: no '<sample> Methylated signal'"):
        geo.read_signal_table(write(tmp_path / "betas.txt", "ID_REF\tS1\ncg00000029\t0.5\n"))


def test_signal_table_with_text_in_a_signal(tmp_path):
    with pytest.raises(EpiclockError, match=r"text\.txt: column 'A1' has 1 non-numeric methylated values"):
        geo.read_signal_table(write(tmp_path / "text.txt", SIGNAL_TABLE.replace("\t400\t", "\tn/a\t")))


@pytest.fixture(scope="module")
def geo_dir(shared_dir):
    return shared_dir / "data" / "geo"


@pytest.mark.shared
def test_real_series_matrix_excerpt(geo_dir):
    matrix = geo.read_series_matrix(geo_dir / "GSE158089_series_matrix_excerpt.txt")
    assert matrix.series["platform_id"] == ["GPL21145"]
    assert matrix.betas.shape == (6, 14)
    assert matrix.betas.loc["cg00000029", "GSM4790703"] == pytest.approx(0.799643689)
    assert matrix.samples.index.tolist() == matrix.betas.columns.tolist()
    assert set(matrix.samples["gender"]) == {"Female"}
    assert matrix.samples.loc["GSM4790703", "developmental stage"] == "iPSC"
    assert matrix.samples.loc["GSM4790703", "title"] == "iPSC_1"


@pytest.mark.shared
def test_real_signal_table_excerpt(geo_dir):
    table = geo.read_signal_table(geo_dir / "GSE72120_signals_excerpt.txt")
    betas = signal_table_betas(table)
    assert table.methylated.shape == table.unmethylated.shape == betas.shape
    assert table.methylated.shape[0] == 200
    assert betas.loc["cg13869341", "2963"] == pytest.approx(5432 / (5432 + 928 + 100))
    assert ((betas >= 0) & (betas <= 1)).all().all()
    assert table.detection_p.columns.tolist() == table.methylated.columns.tolist()
