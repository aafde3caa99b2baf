import gc
import gzip
import struct

import numpy as np
import pytest

from epiclock.errors import EpiclockError
from epiclock.io import idat
from epiclock.io.manifest import detect_array

# python-isal is optional: without it the zlib path is used and only the isal-specific cases skip.
NEEDS_ISAL = pytest.mark.skipif(not idat.ISAL_AVAILABLE, reason="python-isal is not installed")
GZIP_BACKENDS = ["zlib", pytest.param("isal", marks=NEEDS_ISAL)]

SYNTHETIC_BASENAMES = ["999000000001_R01C01", "999000000001_R05C01", "999000000002_R02C02"]


def make_idat(probe_count: int = 50, seed: int = 0, barcode: str = "204000000001", **changes) -> idat.Idat:
    rng = np.random.default_rng(seed)
    addresses = (10_000_000 + np.cumsum(rng.integers(1, 1_000, probe_count))).astype(np.int32)
    fields = dict(
        addresses=addresses,
        means=rng.integers(0, 65_535, probe_count, dtype=np.uint16),
        sds=rng.integers(0, 5_000, probe_count, dtype=np.uint16),
        bead_counts=rng.integers(0, 30, probe_count, dtype=np.uint8),
        mid_block=addresses.copy(),
        run_info=(idat.RunInfo("1/2/2024 3:04:05 PM", "Scan", "iScan", "1.0", "2.1.0"),
                  idat.RunInfo("1/2/2024 3:10:00 PM", "Register", "", "", "")),
        red_green=0,
        strings={401: "", 402: barcode, 403: "BeadChip 8x1", 404: "R01C01"},
    )
    fields.update(changes)
    return idat.Idat(**fields)


def test_round_trip_plain_is_exact(tmp_path):
    original = make_idat()
    path = tmp_path / "204000000001_R01C01_Grn.idat"
    idat.write_idat(original, path)
    read_back = idat.read_idat(path)
    assert read_back == original
    assert read_back.source == str(path)
    assert idat.encode_idat(read_back) == path.read_bytes()


@pytest.mark.parametrize("write_backend", ["auto", *GZIP_BACKENDS])
@pytest.mark.parametrize("read_backend", ["auto", *GZIP_BACKENDS])
def test_round_trip_gzip_with_each_backend(tmp_path, write_backend, read_backend):
    original = make_idat(seed=1)
    path = tmp_path / "sample_Red.idat.gz"
    idat.write_idat(original, path, gzip_backend=write_backend)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    read_back = idat.read_idat(path, gzip_backend=read_backend)
    assert read_back == original
    assert not read_back.means.flags.writeable  # as read from a plain file


def test_trailing_scanner_sections_survive_and_may_be_absent(tmp_path):
    scanner_strings = {code: f"text {code}" for code in idat.STRING_SECTIONS}
    with_trailing = make_idat(strings=scanner_strings)
    without_optional = make_idat(mid_block=None, run_info=None, red_green=None, strings={402: "204000000001"})
    for number, original in enumerate((with_trailing, without_optional)):
        path = tmp_path / f"{number}.idat"
        idat.write_idat(original, path)
        read_back = idat.read_idat(path)
        assert read_back == original
        assert set(read_back.strings) == set(original.strings)
    assert idat.read_idat(tmp_path / "1.idat").run_info is None


def test_plain_arrays_outlive_the_idat_and_a_replaced_file(tmp_path):
    original = make_idat(seed=5)
    path = tmp_path / "mapped_Grn.idat"
    idat.write_idat(original, path)
    means = idat.read_idat(path).means
    gc.collect()  # the Idat is gone: only the view keeps the file's mapping alive
    idat.write_idat(make_idat(seed=6), path)  # a new file renamed over the old one
    assert not means.flags.writeable
    assert np.array_equal(means, original.means)


def test_a_file_that_cannot_be_mapped_is_read(tmp_path, monkeypatch):
    original = make_idat(seed=7)
    path = tmp_path / "unmappable_Grn.idat"
    idat.write_idat(original, path)

    def refuse(*args, **kwargs):
        raise OSError(19, "No such device")

    monkeypatch.setattr(idat.mmap, "mmap", refuse)
    assert idat.read_idat(path) == original


@pytest.mark.parametrize("split", [300, -100])  # the first member smaller, then larger, than the last
@pytest.mark.parametrize("backend", GZIP_BACKENDS)
def test_gzip_of_several_members(tmp_path, backend, split):
    original = make_idat(seed=8)
    data = idat.encode_idat(original)
    path = tmp_path / "members_Red.idat.gz"
    path.write_bytes(gzip.compress(data[:split]) + gzip.compress(data[split:]))
    assert idat.read_idat(path, gzip_backend=backend) == original


def test_long_strings_and_non_utf8_bytes_round_trip(tmp_path):
    long_text = "x" * 20_000  # needs a three-byte length prefix
    odd_bytes = b"caf\xe9".decode("utf-8", errors="surrogateescape")
    original = make_idat(strings={402: "1", 405: long_text, 406: odd_bytes})
    path = tmp_path / "long.idat"
    idat.write_idat(original, path)
    assert idat.read_idat(path) == original


def test_equality_notices_any_difference():
    original = make_idat()
    changed_means = original.means.copy()
    changed_means[3] += 1
    assert make_idat() == original
    assert make_idat(means=changed_means) != original
    assert make_idat(barcode="other") != original
    assert make_idat(red_green=1) != original


def test_arrays_of_the_wrong_type_are_rejected():
    with pytest.raises(EpiclockError, match="means"):
        make_idat(means=np.zeros(50, dtype=np.float64))


@pytest.mark.parametrize("cut", [0, 10, 30, 200, -1])
def test_truncated_file_names_the_file(tmp_path, cut):
    data = idat.encode_idat(make_idat())
    path = tmp_path / "cut_Grn.idat"
    path.write_bytes(data[:cut])
    with pytest.raises(EpiclockError, match=r"cut_Grn\.idat.*(truncated|empty)"):
        idat.read_idat(path)


def test_wrong_magic(tmp_path):
    path = tmp_path / "notes_Grn.idat"
    path.write_bytes(b"<?xml version='1.0'?>" + bytes(100))
    with pytest.raises(EpiclockError, match=r"notes_Grn\.idat: not an IDAT file"):
        idat.read_idat(path)


def test_unsupported_version(tmp_path):
    data = bytearray(idat.encode_idat(make_idat()))
    struct.pack_into("<q", data, 4, 1)
    path = tmp_path / "old_Grn.idat"
    path.write_bytes(bytes(data))
    with pytest.raises(EpiclockError, match=r"old_Grn\.idat: IDAT version 1 is not supported"):
        idat.read_idat(path)


def test_missing_required_section(tmp_path):
    data = bytearray(idat.encode_idat(make_idat()))
    struct.pack_into("<H", data, 16 + 10 * 3, 999)  # the means entry (104) gets an unknown code
    path = tmp_path / "damaged.idat"
    path.write_bytes(bytes(data))
    with pytest.raises(EpiclockError, match=r"damaged\.idat: the IDAT file has no section 104"):
        idat.read_idat(path)


@pytest.mark.parametrize("backend", GZIP_BACKENDS)
def test_corrupt_and_cut_gzip(tmp_path, backend):
    compressed = gzip.compress(idat.encode_idat(make_idat()))
    corrupt = tmp_path / "corrupt_Red.idat.gz"
    corrupt.write_bytes(compressed[:20] + bytes(len(compressed) - 20))
    cut = tmp_path / "cut_Red.idat.gz"
    cut.write_bytes(compressed[: len(compressed) // 2])
    # A trailer claiming 4 GiB: the output buffer must not be sized from it.
    lying = tmp_path / "lying_Red.idat.gz"
    lying.write_bytes(compressed[:-4] + b"\xff\xff\xff\xff")
    for path in (corrupt, cut, lying):
        with pytest.raises(EpiclockError, match=rf"{path.name}: the gzip stream is corrupt"):
            idat.read_idat(path, gzip_backend=backend)


def test_missing_file_and_bad_backend(tmp_path):
    with pytest.raises(EpiclockError, match="not found"):
        idat.read_idat(tmp_path / "absent.idat")
    with pytest.raises(EpiclockError, match="gzip_backend"):
        idat.read_idat(tmp_path / "absent.idat", gzip_backend="zstd")


def write_pair(directory, basename, red, green, suffix=".idat"):
    idat.write_idat(red, directory / f"{basename}_Red{suffix}")
    idat.write_idat(green, directory / f"{basename}_Grn{suffix}")
    return directory / basename


def test_pair_reads_both_channels(tmp_path):
    red, green = make_idat(seed=1), make_idat(seed=1)
    green = make_idat(seed=1, means=green.means[::-1].copy())
    basename = write_pair(tmp_path, "204000000001_R01C01", red, green, suffix=".idat.gz")
    pair = idat.read_idat_pair(basename)
    assert pair.basename == "204000000001_R01C01"
    assert pair.red == red and pair.green == green
    frame = pair.to_frame()
    assert list(frame.columns) == ["address", "red_mean", "red_sd", "red_beads", "green_mean", "green_sd", "green_beads"]
    assert (frame["green_mean"].to_numpy() == green.means).all()


def test_pair_with_different_barcodes(tmp_path):
    basename = write_pair(tmp_path, "S1", make_idat(seed=2), make_idat(seed=2, barcode="204000000999"))
    with pytest.raises(EpiclockError, match="sample S1: .*barcode '204000000001'.*'204000000999'"):
        idat.read_idat_pair(basename)


def test_pair_with_different_address_counts(tmp_path):
    basename = write_pair(tmp_path, "S1", make_idat(probe_count=50), make_idat(probe_count=49))
    with pytest.raises(EpiclockError, match="sample S1: .*50 addresses.*49"):
        idat.read_idat_pair(basename)


def test_pair_with_different_addresses(tmp_path):
    basename = write_pair(tmp_path, "S1", make_idat(seed=3), make_idat(seed=4))
    with pytest.raises(EpiclockError, match="different addresses"):
        idat.read_idat_pair(basename)


def test_pair_with_a_missing_half(tmp_path):
    idat.write_idat(make_idat(), tmp_path / "S2_Grn.idat")
    with pytest.raises(EpiclockError, match="S2: the Red half of the IDAT pair is missing"):
        idat.read_idat_pair(tmp_path / "S2")
    with pytest.raises(EpiclockError, match="no IDAT files found"):
        idat.read_idat_pair(tmp_path / "S3")


@pytest.mark.parametrize("count, chip_type, expected", [
    (622_399, "BeadChip 12x1", "450k"),
    (1_051_815, "BeadChip 8x1", "EPIC"),
    (1_032_500, "BeadChip 8x1", "EPIC"),
    (1_105_209, "BeadChip 8x1", "EPICv2"),
    (55_300, "BeadChip 12x1", "27k"),
    (310_000, "BeadChip 48x1", "MSA"),
])
def test_detect_array(count, chip_type, expected):
    zeros = np.zeros(count, dtype=np.uint16)
    sample = idat.Idat(addresses=np.arange(count, dtype=np.int32), means=zeros, sds=zeros,
                       bead_counts=np.zeros(count, dtype=np.uint8), strings={403: chip_type})
    assert detect_array(sample) == expected


def test_detect_array_unknown():
    with pytest.raises(EpiclockError, match="cannot tell the array type from 50 addresses"):
        detect_array(make_idat())


@pytest.mark.shared
def test_synthetic_450k_idats(shared_dir):
    directory = shared_dir / "reference" / "synthetic450k" / "idats"
    stems = sorted(path.name.removesuffix("_Grn.idat.gz") for path in directory.glob("*_Grn.idat.gz"))
    assert stems == SYNTHETIC_BASENAMES
    for basename in SYNTHETIC_BASENAMES:
        pair = idat.read_idat_pair(directory / basename)
        for channel in (pair.red, pair.green):
            assert channel.probe_count == 622_399
            assert channel.barcode == basename.split("_")[0]
            assert channel.chip_type == "BeadChip 12x1"
            assert 405 not in channel.strings  # this dataset stops at section 404
            assert detect_array(channel) == "450k"
    # Re-encoding reproduces the file byte for byte: nothing is lost or reordered.
    green_path = directory / f"{SYNTHETIC_BASENAMES[0]}_Grn.idat.gz"
    assert idat.encode_idat(idat.read_idat(green_path)) == gzip.decompress(green_path.read_bytes())
