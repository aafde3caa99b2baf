"""Batches: what one import or preprocessing job leaves, and the streamed merge of their matrices."""

import numpy as np
import pandas as pd
import pytest

from epiclock import EpiclockError
from epiclock.io import merge as io_merge
from epiclock.io.tables import write_matrix
from epiclock.preprocess import pipeline
from epiclock.qc import metrics


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
    outputs = {"betas": str(tmp_path / "merged.parquet"), "m_values": str(tmp_path / "m_values.parquet")}
    shape = io_merge.merge_batches([str(path) for path in paths], passed, outputs)
    merged = pd.read_parquet(tmp_path / "merged.parquet")
    expected = pd.concat(batches, axis=1)[passed].astype(float)
    expected.iloc[5, expected.columns.get_loc("C")] = np.nan
    assert shape == (1000, 4)
    assert list(merged.columns) == passed and merged.index.equals(batches[0].index)
    pd.testing.assert_frame_equal(merged.astype(float), expected, check_dtype=False)
    m_values = pd.read_parquet(tmp_path / "m_values.parquet")
    np.testing.assert_allclose(m_values.to_numpy(float), np.log2(expected / (1 - expected)).to_numpy(), rtol=1e-5)


def test_merge_refuses_batches_of_different_arrays_and_absent_samples(tmp_path):
    write_matrix(_matrix(["A"]), tmp_path / "one.parquet", row_group_size=128)
    write_matrix(_matrix(["B"], n_cpgs=900), tmp_path / "two.parquet", row_group_size=128)
    paths = [str(tmp_path / "one.parquet"), str(tmp_path / "two.parquet")]
    with pytest.raises(EpiclockError, match=r"two.parquet: its CpGs differ from those of .*one.parquet \(900 rows against 1000\)"):
        io_merge.merge_batches(paths, ["A", "B"], {"betas": str(tmp_path / "merged.parquet")})
    with pytest.raises(EpiclockError, match="in no batch matrix: Z"):
        io_merge.merge_batches(paths[:1], ["A", "Z"], {"betas": str(tmp_path / "merged.parquet")})
    assert not (tmp_path / "merged.parquet").exists()


def test_a_beta_matrix_is_one_batch_of_usable_samples():
    betas = _matrix(["A", "B"]).astype(float)
    betas.iloc[:100, 1] = np.nan
    result = pipeline.BatchResult.from_matrix(betas)
    samples = result.samples.set_index("sample_id")
    assert samples["array_passed"].all() and samples.loc["B", "call_rate"] == pytest.approx(0.9)
    assert result.control_metrics.empty and list(result.control_metrics.columns) == metrics.CONTROL_METRIC_COLUMNS
    assert result.snp_betas.empty
    assert set(result.beta_density["sample_id"]) == {"A", "B"}


@pytest.fixture(scope="module")
def idat_batch(tmp_path_factory, small_study):
    from epiclock.demo import simulate_arrays
    from epiclock.io import manifest

    out_dir = tmp_path_factory.mktemp("idat_batch")
    samples = small_study.samples.iloc[:3]
    arrays = simulate_arrays.write_idats(small_study.betas[samples["sample_id"]], samples, {}, out_dir, seed=3)
    basenames = {row.sample_id: str(arrays["idat_dir"] / row.chip / f"{row.chip}_{row.position}")
                 for row in samples.itertuples()}
    return basenames, manifest.parse_manifest(arrays["manifest"])


def test_a_batch_keeps_the_raw_signals_of_each_sample(idat_batch):
    from epiclock.arrays.signals import raw_signals
    from epiclock.io.idat import read_idat_pair

    basenames, parsed = idat_batch
    result = pipeline.preprocess_batch(basenames, parsed, pipeline.PreprocessSettings())
    assert set(result.intensities) == {"methylated", "unmethylated"}
    first, basename = next(iter(basenames.items()))
    expected = raw_signals(read_idat_pair(basename), parsed.probes)
    for table in ("methylated", "unmethylated"):
        kept = result.intensities[table]
        assert list(kept.columns) == list(basenames) and kept.index.equals(result.betas.index)
        np.testing.assert_array_equal(kept[first].to_numpy(), expected[table].to_numpy(dtype=np.float32))
    without = pipeline.preprocess_batch(basenames, parsed, pipeline.PreprocessSettings(keep_intensities=False))
    assert without.intensities == {}
    pd.testing.assert_frame_equal(without.betas, result.betas)


def test_a_mask_that_fits_no_array_stops_the_batch_instead_of_quarantining_each_sample(idat_batch):
    from epiclock.errors import ConfigurationError
    from epiclock.preprocess import masks

    basenames, parsed = idat_batch
    settings = pipeline.PreprocessSettings(masks=masks.MaskChoice.from_config({"sources": ["Zhou_etal_2016"]}))
    with pytest.raises(ConfigurationError, match="config preprocess.masks: no vendored probe mask fits this array"):
        pipeline.preprocess_batch(basenames, parsed, settings)


def test_mixed_arrays_are_read_each_with_its_manifest_and_reduced_to_the_common_cpgs(tmp_path, small_study):
    from epiclock.demo import simulate_arrays
    from epiclock.io import manifest
    from epiclock.preprocess import masks

    cpgs = small_study.betas.index
    samples = small_study.samples.iloc[:4]
    designs = {"first": (cpgs[:-150], samples.iloc[:2], 11), "second": (cpgs[150:], samples.iloc[2:], 12)}
    manifests, basenames = [], {}
    for name, (array_cpgs, array_samples, seed) in designs.items():
        arrays = simulate_arrays.write_idats(small_study.betas.loc[array_cpgs, array_samples["sample_id"]],
                                             array_samples, {}, tmp_path / name, seed=seed)
        manifests.append(manifest.parse_manifest(arrays["manifest"]))
        basenames.update({row.sample_id: str(arrays["idat_dir"] / row.chip / f"{row.chip}_{row.position}")
                          for row in array_samples.itertuples()})
    settings = pipeline.PreprocessSettings()
    result = pipeline.preprocess_batch(basenames, manifests, settings)
    # A mask of 20 CpGs both arrays measure and 10 only the first does: 20 masked on the run's CpGs.
    pd.DataFrame({"probe_id": [*cpgs[200:220], *cpgs[:10]]}).to_csv(tmp_path / "mask.tsv", sep="\t", index=False)
    masked_settings = pipeline.PreprocessSettings(masks=masks.MaskChoice.from_config({"file": str(tmp_path / "mask.tsv")}))
    masked = pipeline.preprocess_batch(basenames, manifests, masked_settings)
    assert masked.samples["n_masked"].tolist() == [20] * 4
    assert masked.betas.loc[cpgs[200:220]].isna().all().all()
    # Masked CpGs leave the call rate: it counts failures among the CpGs left.
    failed = masked.samples["n_missing"] - 20
    np.testing.assert_allclose(masked.samples["call_rate"], 1 - failed / (masked.samples["n_cpgs"] - 20))
    assert (failed == result.samples["n_missing"] - result.betas.loc[cpgs[200:220]].isna().sum().to_numpy()).all()
    assert set(masked.snp_betas.index) == set(manifests[0].probes["probe_id"][manifests[0].probes["probe_id"].str.startswith("rs")])

    common = manifests[0].probes["name"][manifests[0].probes["name"].isin(manifests[1].probes["name"])]
    assert result.betas.index.tolist() == common.tolist()
    assert len(common) < min(len(manifests[0].probes), len(manifests[1].probes))
    assert result.samples["array_passed"].all()
    assert result.samples["manifest"].tolist() == ["manifest.csv.gz"] * 4     # the file each sample was read with
    for position, (sample_id, basename) in enumerate(basenames.items()):
        alone = pipeline.preprocess_sample(basename, manifests[position // 2], settings)
        expected = alone.betas.set_axis(manifests[position // 2].probes["name"]).reindex(common)
        np.testing.assert_allclose(result.betas[sample_id].to_numpy(), expected.to_numpy(dtype=np.float32), rtol=1e-6)
        for table in ("methylated", "unmethylated"):
            assert result.intensities[table][sample_id].index.equals(result.betas.index)
    # One manifest alone quarantines the other array's samples, saying how to combine them.
    alone = pipeline.preprocess_batch(basenames, manifests[0], settings).samples.set_index("sample_id")
    assert alone["array_passed"].tolist() == [True, True, False, False]
    assert "input.mixed_arrays: intersect" in alone["array_reasons"].iloc[2]


def test_clocks_on_the_rows_they_read_equal_clocks_on_the_whole_batch(tmp_path):
    from epiclock.clocks import predict, registry
    from epiclock.clocks import preprocessing as clocks_preprocessing
    from epiclock.io.tables import read_matrix_rows

    names = [name for name in registry.available() if registry.get(name).required_cpgs is not None]
    assert "dunedinpace2022" in names and "zhang2019_en" not in names     # Zhang reads the whole array
    needed = predict.required_cpgs([registry.get(name) for name in names])
    background = pd.Index([f"cg9{i:07d}" for i in range(3000)])
    rng = np.random.default_rng(4)
    labels = needed[::2].append(background)
    betas = pd.DataFrame(rng.uniform(0.05, 0.95, (len(labels), 3)), index=labels, columns=["A", "B", "C"])
    # EPICv2 labels: a suffix on every CpG, and a replicate probe for some.
    epic_v2 = pd.concat([betas.set_axis(labels + "_TC21"), betas.iloc[::7].set_axis(labels[::7] + "_BC11") + 0.01])
    epic_v2.index.name = "cpg_id"
    write_matrix(epic_v2.astype(np.float32), tmp_path / "batch.parquet", row_group_size=500)
    subset = read_matrix_rows(tmp_path / "batch.parquet", needed, row_names=clocks_preprocessing.cpg_names)
    assert subset.index.equals(epic_v2.index[clocks_preprocessing.cpg_names(epic_v2.index).isin(needed)])
    assert not clocks_preprocessing.cpg_names(subset.index).isin(background).any()
    whole = pd.read_parquet(tmp_path / "batch.parquet")
    pd.testing.assert_frame_equal(predict.predict(subset, registry.resolve(names)), predict.predict(whole, registry.resolve(names)))
    with pytest.raises(EpiclockError, match="cannot read the stored matrix"):
        read_matrix_rows(tmp_path / "absent.parquet", needed)
