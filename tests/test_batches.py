"""Batches: what one import or preprocessing job leaves, and the streamed merge of their matrices."""

import numpy as np
import pandas as pd
import pytest

from epiclock import EpiclockError, normalize, preprocess, qc
from epiclock.io import write_matrix


def _matrix(samples, n_cpgs=1000, seed=0):
    rng = np.random.default_rng(seed)
    index = pd.Index([f"cg{i:08d}" for i in range(n_cpgs)], name="cpg_id")
    return pd.DataFrame(rng.uniform(0, 1, (n_cpgs, len(samples))).astype(np.float32), index=index, columns=samples)


def test_merge_streams_row_groups_and_equals_the_concatenation(tmp_path):
    batches = [_matrix(["A", "B"], seed=1), _matrix(["C", "D", "E"], seed=2), _matrix(["F"], seed=3)]
    batches[1].iloc[5, 0] = 1.7                    # C: a value no beta can take is masked
    paths = []
    for number, batch in enumerate(batches):
        paths.append(tmp_path / f"batch_{number}.parquet")
        write_matrix(batch, paths[-1], row_group_size=128)     # 8 row groups of 128 CpGs
    passed = ["F", "A", "C", "E"]                   # B and D failed QC; the sheet's order is kept
    shape = normalize.merge_batches([str(path) for path in paths], passed, str(tmp_path / "merged.parquet"))
    merged = pd.read_parquet(tmp_path / "merged.parquet")
    expected = pd.concat(batches, axis=1)[passed].astype(float)
    expected.iloc[5, expected.columns.get_loc("C")] = np.nan
    assert shape == (1000, 4)
    assert list(merged.columns) == passed and merged.index.equals(batches[0].index)
    pd.testing.assert_frame_equal(merged.astype(float), expected, check_dtype=False)


def test_merge_refuses_batches_of_different_arrays_and_absent_samples(tmp_path):
    write_matrix(_matrix(["A"]), tmp_path / "one.parquet", row_group_size=128)
    write_matrix(_matrix(["B"], n_cpgs=900), tmp_path / "two.parquet", row_group_size=128)
    paths = [str(tmp_path / "one.parquet"), str(tmp_path / "two.parquet")]
    with pytest.raises(EpiclockError, match="differ in their CpGs"):
        normalize.merge_batches(paths, ["A", "B"], str(tmp_path / "merged.parquet"))
    with pytest.raises(EpiclockError, match="in no batch matrix: Z"):
        normalize.merge_batches(paths[:1], ["A", "Z"], str(tmp_path / "merged.parquet"))
    assert not (tmp_path / "merged.parquet").exists()


def test_a_beta_matrix_is_one_batch_of_usable_samples():
    betas = _matrix(["A", "B"]).astype(float)
    betas.iloc[:100, 1] = np.nan
    result = preprocess.BatchResult.from_matrix(betas)
    samples = result.samples.set_index("sample_id")
    assert samples["array_passed"].all() and samples.loc["B", "call_rate"] == pytest.approx(0.9)
    assert result.control_metrics.empty and list(result.control_metrics.columns) == qc.CONTROL_METRIC_COLUMNS
    assert result.snp_betas.empty
    assert set(result.beta_density["sample_id"]) == {"A", "B"}
