import gzip
import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from epiclock.errors import EpiclockError
from epiclock.preprocess import masks


def test_read_a_mask_list_and_select(tmp_path):
    path = tmp_path / "mask.tsv.gz"
    path.write_bytes(gzip.compress(b"probe_id\treasons\tsources\ncg1\tPolymorphism\tA;B\ncg2\tCrossHybridization\tB\n"
                                   b"cg3\tPolymorphism;CrossHybridization\tC\n"))
    mask = masks.read_mask_list(path)
    assert mask.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert mask.probes().tolist() == ["cg1", "cg2", "cg3"]
    assert mask.probes(sources=["B"]).tolist() == ["cg1", "cg2"]
    assert mask.probes(reasons=["Polymorphism"]).tolist() == ["cg1", "cg3"]
    assert mask.probes(sources=["B"], reasons=["Polymorphism"]).tolist() == ["cg1"]
    with pytest.raises(EpiclockError, match="no sources D"):
        mask.probes(sources=["D"])


def test_plain_list_without_reasons(tmp_path):
    path = tmp_path / "mine.tsv"
    path.write_text("probe_id\ncg9\ncg9\n\n")
    assert masks.read_mask_list(path).probes().tolist() == ["cg9"]
    (tmp_path / "bad.tsv").write_text("name\ncg1\n")
    with pytest.raises(EpiclockError, match="no 'probe_id' column"):
        masks.read_mask_list(tmp_path / "bad.tsv")
    with pytest.raises(EpiclockError, match="not found"):
        masks.read_mask_list(tmp_path / "absent.tsv")


def mask_provenance() -> pd.DataFrame:
    """The provenance table of the vendored mask lists, with each file's sha256 checked."""
    directory = resources.files("epiclock") / "data" / "masks"
    with resources.as_file(directory / "provenance.tsv") as path:
        table = pd.read_csv(path, sep="\t", dtype=str)
    for row in table.itertuples():
        with resources.as_file(directory / row.file) as path:
            assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == row.sha256, f"data/masks/{row.file}"
    return table


@pytest.mark.parametrize("array, sources", [
    ("450k", {"Chen_etal_2013", "Price_etal_2013", "Naeem_etal_2014", "Daca-Roszak_etal_2015", "Zhou_etal_2016"}),
    ("EPIC", {"McCartney_etal_2016", "Zhou_etal_2016"}),
])
def test_vendored_lists_match_their_provenance(array, sources):
    mask = masks.vendored_mask_list(array)
    provenance = mask_provenance().set_index("file")
    assert provenance.loc[masks.VENDORED[array], "sha256"] == mask.sha256
    assert provenance.loc[masks.VENDORED[array], "source_package"].startswith("methylcheck")
    assert set(";".join(mask.table["sources"].unique()).split(";")) == sources
    assert mask.table["probe_id"].is_unique and mask.table["probe_id"].str.match(r"^(cg|ch|rs)").all()
    assert 0 < len(mask.probes(sources=["Zhou_etal_2016"], reasons=["CrossHybridization"])) < len(mask.table)
    with pytest.raises(EpiclockError, match="no vendored mask"):
        masks.vendored_mask_list("27k")


def test_vendored_array_from_the_manifest_or_the_idats():
    from epiclock.io import idat

    assert masks.vendored_array(485_577) == "450k"
    assert masks.vendored_array(865_918) == "EPIC"
    # A manifest of another size: the IDAT's address count (622k: a 450k) decides.
    addresses = np.arange(622_400, dtype=np.int32)
    zeros16 = np.zeros(len(addresses), np.uint16)
    scan = idat.Idat(addresses=addresses, means=zeros16, sds=zeros16, bead_counts=np.zeros(len(addresses), np.uint8))
    assert masks.vendored_array(1_000, scan) == "450k"
    with pytest.raises(EpiclockError, match="no vendored probe mask fits.*937,690 probes"):
        masks.vendored_array(937_690)


def test_mask_choice_from_config(tmp_path):
    assert masks.MaskChoice.from_config({}).is_empty
    assert masks.MaskChoice.from_config({"sources": [], "reasons": [], "file": ""}).is_empty
    choice = masks.MaskChoice.from_config({"reasons": ["CrossHybridization"]})
    assert choice.uses_vendored and choice.reasons == ("CrossHybridization",)
    with pytest.raises(EpiclockError, match="unknown key.*vendored"):
        masks.MaskChoice.from_config({"vendored": True})
    with pytest.raises(EpiclockError, match="reasons: unknown SNP"):
        masks.MaskChoice.from_config({"reasons": ["SNP"]})
    with pytest.raises(EpiclockError, match="sources: unknown Smith_2020"):
        masks.MaskChoice.from_config({"sources": ["Smith_2020"]})
    with pytest.raises(EpiclockError, match="not found"):
        masks.MaskChoice.from_config({"file": str(tmp_path / "absent.tsv")})


def test_masked_probes_join_the_vendored_selection_and_the_user_list(tmp_path):
    path = tmp_path / "mine.tsv"
    path.write_text("probe_id\ncgUSER1\ncgUSER2\n")
    assert masks.masked_probes(masks.MaskChoice(file=str(path))).tolist() == ["cgUSER1", "cgUSER2"]
    vendored = masks.vendored_mask_list("450k")
    expected = vendored.probes(sources=["Zhou_etal_2016"], reasons=["CrossHybridization"])
    chosen = masks.masked_probes(masks.MaskChoice(("Zhou_etal_2016",), ("CrossHybridization",), str(path)), "450k")
    assert set(chosen) == set(expected) | {"cgUSER1", "cgUSER2"}
    with pytest.raises(EpiclockError, match="no vendored mask list for array 'EPICv2'"):
        masks.masked_probes(masks.MaskChoice(reasons=("Polymorphism",)), "EPICv2")
