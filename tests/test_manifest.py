import gzip

import numpy as np
import pandas as pd
import pytest

from epiclock.arrays import signals
from epiclock.arrays import betas as arrays_betas
from epiclock.errors import EpiclockError
from epiclock.io import idat, manifest

ILLUMINA_CSV = """Illumina, Inc.,,,,,,,,,,
[Heading],,,,,,,,,,,
Descriptor File Name,Tiny.bpm,,,,,,,,,,
Loci Count ,6,,,,,,,,,,
[Assay],,,,,,,,,,,
IlmnID,Name,AddressA_ID,AddressB_ID,Infinium_Design_Type,Next_Base,Color_Channel,Forward_Sequence,Genome_Build,CHR,MAPINFO
cg00000029_TC21,cg00000029,101,,II,,,ACGT[CG]TT,38,chr16,53434200
cg00000029_BC22,cg00000029,102,,II,,,ACGT[CG]TT,38,chr16,53434200
cg00000109_TC11,cg00000109,103,203,I,A,Red,AC[CG],38,chr3,171916037
cg00000155_BC11,cg00000155,104,204,I,C,Grn,AC[CG],38,chrX,107130785
ch.1.1234F_TC21,ch.1.1234F,105,,II,,,AC[CG],38,,
rs10033147_TC11,rs10033147,106,206,I,T,Red,AC[CG],38,chr4,0
[Controls],,,,,,,,,,,
0027630314,STAINING,Red,DNP (High),,,,,,,
0034262013,BISULFITE CONVERSION I,Green,BS Conversion I-C1,,,,,,,
0012345678,NEGATIVE,Purple,Negative 1,,,,,,,
"""

ANNOTATION_TSV = (
    "CpG_chrm\tCpG_beg\tCpG_end\taddress_A\taddress_B\ttarget\tnextBase\tchannel\tProbe_ID\tmapFlag_A\ttype\n"
    "chr16\t53434199\t53434201\t101\tNA\tCG\tNA\tBoth\tcg00000029_TC21\t0\tII\n"
    "chr3\t171916036\t171916038\t103\t203\tCG\tA\tRed\tcg00000109_TC11\t16\tI\n"
    "chrX\t107130784\t107130786\t104\t204\tCG\tC\tGrn\tcg00000155_BC11\t0\tI\n"
    "NA\tNA\tNA\t106\tNA\tCG\tNA\tBoth\tcg99999999_TC21\t\tII\n"
    "NA\tNA\tNA\t900\tNA\tNA\tNA\tRed\tctl_Staining_1\t\tII\n"
)

SESAME_ADDRESS_TSV = (
    "Probe_ID\tM\tU\tDESIGN\tCOLOR_CHANNEL\tcol\tProbe_Type\tNext_Base\n"
    "cg00000029\tNA\t101\tII\tBoth\tNA\tcg\tNA\n"
    "cg00000109\t203\t103\tI\tRed\tR\tcg\tA\n"
)


def write(path, text, compress=False):
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_illumina_csv(tmp_path):
    parsed = manifest.parse_manifest(write(tmp_path / "tiny.csv", ILLUMINA_CSV.replace("\n", "\r\n")))
    probes = parsed.probes.set_index("probe_id")
    assert list(parsed.probes.columns) == manifest.PROBE_COLUMNS
    # EPICv2 suffixes and replicate probes of one CpG are kept apart.
    assert probes.loc["cg00000029_TC21", "name"] == probes.loc["cg00000029_BC22", "name"] == "cg00000029"
    assert len(probes) == 6
    assert probes.loc["cg00000109_TC11", ["address_a", "address_b", "design", "channel", "next_base"]].tolist() == [
        103, 203, "I", "Red", "A"]
    assert probes.loc["cg00000155_BC11", "channel"] == "Grn"
    assert pd.isna(probes.loc["cg00000029_TC21", "address_b"]) and pd.isna(probes.loc["cg00000029_TC21", "channel"])
    assert probes.loc["cg00000109_TC11", "chromosome"] == "chr3"
    assert probes.loc["cg00000109_TC11", "position"] == 171916037
    assert pd.isna(probes.loc["ch.1.1234F_TC21", "chromosome"])
    assert parsed.probes["address_a"].dtype == np.int64
    assert parsed.controls.to_dict("list") == {
        "address": [27630314, 34262013, 12345678],
        "type": ["STAINING", "BISULFITE CONVERSION I", "NEGATIVE"],
        "colour": ["Red", "Green", "Purple"],
        "extended_type": ["DNP (High)", "BS Conversion I-C1", "Negative 1"],
    }


def test_chromosomes_get_a_chr_prefix_and_gzip_is_read(tmp_path):
    text = ILLUMINA_CSV.replace(",chr16,", ",16,")
    parsed = manifest.parse_manifest(write(tmp_path / "tiny.csv.gz", text, compress=True))
    assert parsed.probes.loc[0, "chromosome"] == "chr16"


def test_infinium_annotation_tsv(tmp_path):
    parsed = manifest.parse_manifest(write(tmp_path / "EPIC.hg38.manifest.tsv.gz", ANNOTATION_TSV, compress=True))
    probes = parsed.probes.set_index("probe_id")
    assert list(probes.index) == ["cg00000029_TC21", "cg00000109_TC11", "cg00000155_BC11", "cg99999999_TC21"]
    assert probes.loc["cg00000029_TC21", "name"] == "cg00000029"
    # BED-style 0-based starts become the 1-based positions of Illumina's MAPINFO.
    assert probes.loc["cg00000029_TC21", "position"] == 53434200
    assert pd.isna(probes.loc["cg00000029_TC21", "channel"])
    assert probes.loc["cg00000155_BC11", ["address_a", "address_b", "design", "channel"]].tolist() == [104, 204, "I", "Grn"]
    assert pd.isna(probes.loc["cg99999999_TC21", "position"]) and pd.isna(probes.loc["cg99999999_TC21", "chromosome"])
    assert parsed.controls["address"].tolist() == [900]
    assert parsed.controls["extended_type"].tolist() == ["ctl_Staining_1"]


def test_sesame_u_m_layout(tmp_path):
    parsed = manifest.parse_manifest(write(tmp_path / "EPIC.address.tsv", SESAME_ADDRESS_TSV))
    probes = parsed.probes.set_index("probe_id")
    # U is address A (unmethylated), M is address B (methylated).
    assert probes.loc["cg00000109", ["address_a", "address_b", "channel"]].tolist() == [103, 203, "Red"]
    assert probes.loc["cg00000029", "address_a"] == 101 and pd.isna(probes.loc["cg00000029", "address_b"])


def test_missing_assay_section(tmp_path):
    path = write(tmp_path / "heading_only.csv", ILLUMINA_CSV.split("[Assay]")[0])
    with pytest.raises(EpiclockError, match=r"heading_only\.csv: no \[Assay\] section"):
        manifest.parse_manifest(path)


def test_missing_required_column(tmp_path):
    path = write(tmp_path / "no_channel.csv", ILLUMINA_CSV.replace("Color_Channel", "Colour"))
    with pytest.raises(EpiclockError, match=r"no_channel\.csv: the manifest lacks required column\(s\) \(channel"):
        manifest.parse_manifest(path)


def test_probe_ids_absent(tmp_path):
    path = write(tmp_path / "no_ids.csv", ILLUMINA_CSV.replace("IlmnID", "Identifier"))
    with pytest.raises(EpiclockError, match=r"no_ids\.csv: .*probe_id: IlmnID or Probe_ID"):
        manifest.parse_manifest(path)


def test_unparsable_address(tmp_path):
    path = write(tmp_path / "bad_address.csv", ILLUMINA_CSV.replace(",104,204,", ",10x4,204,"))
    with pytest.raises(EpiclockError, match=r"bad_address\.csv: column 'AddressA_ID' .*cg00000155_BC11 has '10x4'"):
        manifest.parse_manifest(path)


def test_unparsable_control_address(tmp_path):
    path = write(tmp_path / "bad_control.csv", ILLUMINA_CSV.replace("0012345678", "n/a"))
    with pytest.raises(EpiclockError, match=r"bad_control\.csv: column '\[Controls\] Address'.*Negative 1"):
        manifest.parse_manifest(path)


@pytest.mark.parametrize("change, message", [
    ((",103,203,I,A,Red,", ",103,,I,A,Red,"), "cg00000109_TC11 is type I but has no address B"),
    ((",103,203,I,A,Red,", ",103,203,I,A,,"), "cg00000109_TC11 is type I but has no colour channel"),
    ((",103,203,I,A,Red,", ",103,203,III,A,Red,"), "'Infinium_Design_Type' has 1 value.*'III'"),
    (("cg00000029_BC22,", "cg00000029_TC21,"), "probe IDs appear more than once: cg00000029_TC21"),
])
def test_inconsistent_probes(tmp_path, change, message):
    path = write(tmp_path / "broken.csv", ILLUMINA_CSV.replace(*change))
    with pytest.raises(EpiclockError, match=rf"broken\.csv: .*{message}"):
        manifest.parse_manifest(path)


def test_load_manifest_caches_as_parquet(tmp_path, monkeypatch):
    path = write(tmp_path / "tiny.csv", ILLUMINA_CSV)
    cache = tmp_path / "cache"
    first = manifest.load_manifest(path, cache_dir=cache)
    assert len(list(cache.glob("*.parquet"))) == 2

    def no_parsing(_path):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(manifest, "parse_manifest", no_parsing)
    second = manifest.load_manifest(path, cache_dir=cache)
    pd.testing.assert_frame_equal(first.probes, second.probes)
    pd.testing.assert_frame_equal(first.controls, second.controls)
    with pytest.raises(EpiclockError, match="manifest not found"):
        manifest.load_manifest(tmp_path / "absent.csv", cache_dir=cache)


def test_changed_file_is_parsed_again(tmp_path):
    path = write(tmp_path / "tiny.csv", ILLUMINA_CSV)
    cache = tmp_path / "cache"
    manifest.load_manifest(path, cache_dir=cache)
    write(path, ILLUMINA_CSV.replace(",104,204,", ",104,205,"))
    reloaded = manifest.load_manifest(path, cache_dir=cache)
    assert reloaded.probes.set_index("probe_id").loc["cg00000155_BC11", "address_b"] == 205


# --- raw signals -----------------------------------------------------------------------------------


def tiny_pair(addresses, red_means, green_means):
    def channel(means):
        values = np.asarray(means, dtype=np.uint16)
        return idat.Idat(addresses=np.asarray(addresses, dtype=np.int32), means=values,
                         sds=np.zeros_like(values), bead_counts=np.ones(len(values), dtype=np.uint8),
                         strings={402: "1"})
    return idat.pair_idats(channel(red_means), channel(green_means), basename="S1")


def test_raw_signals_follow_minfi_channel_rules(tmp_path):
    probes = manifest.parse_manifest(write(tmp_path / "tiny.csv", ILLUMINA_CSV)).probes
    # Addresses deliberately unsorted; 106/206 (the rs probe) are absent from the IDATs.
    addresses = [204, 101, 103, 203, 104, 102, 105]
    red = [70, 11, 31, 41, 61, 12, 15]
    green = [80, 21, 32, 42, 62, 22, 25]
    pair = tiny_pair(addresses, red, green)
    found = signals.raw_signals(pair, probes)
    assert found.loc["cg00000029_TC21"].tolist() == [21.0, 11.0]   # II: M = Grn(A), U = Red(A)
    assert found.loc["cg00000109_TC11"].tolist() == [41.0, 31.0]   # I Red: M = Red(B), U = Red(A)
    assert found.loc["cg00000155_BC11"].tolist() == [80.0, 62.0]   # I Grn: M = Grn(B), U = Grn(A)
    assert found.loc["rs10033147_TC11"].isna().all()
    betas = arrays_betas.betas_from_signals(found["methylated"], found["unmethylated"])
    assert betas["cg00000029_TC21"] == pytest.approx(21 / 32)
    assert arrays_betas.betas_from_signals(found["methylated"], found["unmethylated"], offset=100)[
        "cg00000029_TC21"] == pytest.approx(21 / 132)
    with pytest.raises(EpiclockError, match="offset"):
        arrays_betas.betas_from_signals(found["methylated"], found["unmethylated"], offset=-1)


def test_zero_signal_gives_nan_beta_without_offset():
    assert np.isnan(arrays_betas.betas_from_signals(np.array([0.0]), np.array([0.0]))[0])


# --- the synthetic 450k reference ------------------------------------------------------------------


@pytest.mark.shared
def test_synthetic_manifest_parses(synthetic_manifest):
    probes = synthetic_manifest.probes
    assert len(probes) == 485_577
    assert len(synthetic_manifest.controls) == 848
    kinds = probes["probe_id"].str[:2]
    assert ((kinds == "rs") & (probes["design"] == "I")).sum() == 25
    assert ((kinds == "rs") & (probes["design"] == "II")).sum() == 40
    assert ((kinds != "rs") & (probes["design"] == "I")).sum() == 135_476
    assert ((kinds != "rs") & (probes["design"] == "II")).sum() == 350_036
    assert (synthetic_manifest.controls["type"] == "NEGATIVE").sum() == 613
    assert probes["probe_id"].is_unique


@pytest.mark.shared
def test_raw_betas_equal_minfi(synthetic450k, synthetic_manifest):
    basenames = ["999000000001_R01C01", "999000000001_R05C01", "999000000002_R02C02"]
    pairs = [idat.read_idat_pair(synthetic450k / "idats" / basename) for basename in basenames]
    betas = pd.DataFrame({pair.basename: arrays_betas.betas_from_signals(*signals.raw_signals(
        pair, synthetic_manifest.probes).to_numpy().T) for pair in pairs}, index=synthetic_manifest.probes["probe_id"])
    expected = pd.read_csv(synthetic450k / "minfi" / "raw_betas.tsv.gz", sep="\t", index_col="probe_id")
    assert len(expected) == 485_512
    ours = betas.loc[expected.index, expected.columns].to_numpy()
    assert not np.isnan(ours).any()
    np.testing.assert_allclose(ours, expected.to_numpy(), rtol=0, atol=1e-9)
