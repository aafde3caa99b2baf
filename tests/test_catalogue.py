"""The manifest catalogue (one official manifest per array) and downloads locked by their sha256.

No test touches the network: downloads go through file:// addresses.
"""

import hashlib
import re
import shutil

import pytest

from epiclock.errors import EpiclockError
from epiclock.io import catalogue, download
from epiclock.io.manifest import ARRAY_ADDRESS_RANGES

REQUIRED_ARRAYS = {"27k", "450k", "EPIC", "EPICv2", "MSA"}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_shipped_catalogue_has_a_pinned_manifest_for_every_required_array():
    entries = catalogue.read_catalogue()
    assert REQUIRED_ARRAYS <= set(entries)
    detectable = {name for name, _, _ in ARRAY_ADDRESS_RANGES} | {"MSA"}
    for array, entry in entries.items():
        assert array in detectable, f"{array}: detect_array never names this array"
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), array
        # A tagged release, so the published sha256 keeps describing the file.
        assert entry.url.startswith("https://") and "/v8.1/" in entry.url and entry.url.endswith("/" + entry.file)
        assert entry.source


def test_the_hm27_entry_is_the_real_hm27_manifest(shared_dir):
    """The catalogue's sha256 equals that of the HM27 ordering file the shared data took from the same release."""
    real = shared_dir / "data/real/manifest/HM27.ordering.tsv.gz"
    entry = catalogue.read_catalogue()["27k"]
    assert entry.file == real.name
    assert entry.sha256 == _sha256(real.read_bytes())


def test_real_hm27_idats_are_detected_as_27k(shared_dir):
    array, evidence = catalogue.detect_pair_array(shared_dir / "data/real/idat/hm27/4207113116_A")
    assert array == "27k"
    assert "55,300 addresses" in evidence


def test_first_download_writes_a_lock_that_later_runs_check(tmp_path):
    source = tmp_path / "upstream/EPIC.ordering.tsv.gz"
    source.parent.mkdir()
    source.write_bytes(b"Probe_ID\tM\tU\tcol\n")
    destination = tmp_path / "resources/manifests/main/EPIC.ordering.tsv.gz"
    digest = download.download_once(source.as_uri(), destination)
    assert destination.read_bytes() == source.read_bytes()
    assert download.read_lock(destination) == digest == _sha256(source.read_bytes())
    download.check(destination)  # unchanged: passes
    destination.write_bytes(b"Probe_ID\tM\tU\tcol\ncg1\t1\t2\tG\n")
    with pytest.raises(EpiclockError, match=r"differs from its lock file .*EPIC.ordering.tsv.gz.sha256"):
        download.check(destination)
    # A sha256 pinned in the config wins over the lock.
    download.check(destination, pinned=_sha256(destination.read_bytes()))
    with pytest.raises(EpiclockError, match="the pinned manifest.sha256"):
        download.check(destination, pinned=digest)


def test_a_later_download_must_match_the_lock(tmp_path):
    source = tmp_path / "upstream.tsv"
    source.write_bytes(b"first\n")
    destination = tmp_path / "manifests/main/manifest.tsv"
    download.download_once(source.as_uri(), destination)
    destination.unlink()
    source.write_bytes(b"changed upstream\n")
    with pytest.raises(EpiclockError, match="changed upstream"):
        download.download_once(source.as_uri(), destination)
    assert not destination.exists(), "a download that fails its check must leave no file"


def test_a_pinned_sha256_is_checked_on_the_first_download(tmp_path):
    source = tmp_path / "upstream.tsv"
    source.write_bytes(b"content\n")
    destination = tmp_path / "manifests/manifest.tsv"
    with pytest.raises(EpiclockError, match="not the expected"):
        download.download_once(source.as_uri(), destination, pinned="0" * 64)
    assert not destination.exists() and not download.lock_path(destination).exists()
    download.download_once(source.as_uri(), destination, pinned=_sha256(b"content\n").upper())
    assert destination.read_bytes() == b"content\n"


def test_without_internet_the_message_names_the_array_the_file_and_where_it_goes(tmp_path):
    destination = tmp_path / "resources/manifests/main/MSA.ordering.tsv.gz"
    missing = (tmp_path / "nowhere/MSA.ordering.tsv.gz").as_uri()
    with pytest.raises(EpiclockError) as caught:
        download.download_once(missing, destination, array="MSA")
    message = str(caught.value)
    assert "MSA manifest" in message and "MSA.ordering.tsv.gz" in message and str(destination) in message
    assert "\n" not in message


def test_a_mirror_catalogue_serves_file_addresses(tmp_path):
    upstream = tmp_path / "mirror/HM450.ordering.tsv.gz"
    upstream.parent.mkdir()
    upstream.write_bytes(b"Probe_ID\tM\tU\tcol\n")
    table = tmp_path / "catalogue.tsv"
    table.write_text("array\tfile\turl\tsha256\n"
                     f"450k\tHM450.ordering.tsv.gz\t{upstream.as_uri()}\t{_sha256(upstream.read_bytes())}\n")
    entry = catalogue.entry_for("450k", catalogue.read_catalogue(table))
    destination = tmp_path / catalogue.download_path("main", entry.file)
    download.download_once(entry.url, destination, pinned=entry.sha256, array=entry.array)
    assert destination.read_bytes() == upstream.read_bytes()
    with pytest.raises(EpiclockError, match="array EPICv2 has no manifest in the catalogue .*manifest.path"):
        catalogue.entry_for("EPICv2", catalogue.read_catalogue(table))


@pytest.mark.parametrize("rows, error", [
    ("450k\ta.tsv\thttps://x/a.tsv\t\n450k\tb.tsv\thttps://x/b.tsv\t\n", "row 3 repeats array '450k'"),
    ("450k\tsub/a.tsv\thttps://x/a.tsv\t\n", "row 2: 'file' must be a plain file name"),
])
def test_a_broken_catalogue_is_named_with_its_row(tmp_path, rows, error):
    table = tmp_path / "catalogue.tsv"
    table.write_text("array\tfile\turl\tsha256\n" + rows)
    with pytest.raises(EpiclockError, match=re.escape(error)):
        catalogue.read_catalogue(table)


def test_a_damaged_lock_file_says_how_to_recover(tmp_path):
    manifest = tmp_path / "m.tsv"
    manifest.write_text("x\n")
    download.lock_path(manifest).write_text("not a checksum\n")
    with pytest.raises(EpiclockError, match="delete it to download m.tsv again"):
        download.check(manifest)


def test_a_copy_placed_by_hand_is_locked_by_nothing_until_pinned(tmp_path, shared_dir):
    """An offline site puts the file where the download would go; the catalogue's sha256 then checks it."""
    real = shared_dir / "data/real/manifest/HM27.ordering.tsv.gz"
    entry = catalogue.read_catalogue()["27k"]
    placed = tmp_path / catalogue.download_path("main", entry.file)
    placed.parent.mkdir(parents=True)
    shutil.copy(real, placed)
    download.check(placed, pinned=entry.sha256)
    placed.write_bytes(b"truncated")
    with pytest.raises(EpiclockError, match="differs from the pinned"):
        download.check(placed, pinned=entry.sha256)
