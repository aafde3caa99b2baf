"""Manifests in every layout users have, for every array generation.

Layouts: Illumina's manifest CSV ([Heading]/[Assay]/[Controls]), InfiniumAnnotation's probe index
(``<PLATFORM>.ordering.tsv.gz``: Probe_ID, M, U, col) and its full manifest
(``<PLATFORM>.hg38.manifest.tsv.gz``). Arrays differ in what the parser must get right: HM27 has only
type-I probes and controls without type names in the index; 450k and EPIC mix type I and II; EPICv2
and MSA suffix their probe IDs (cg00000109_BC21) and carry replicate probes of one CpG; MSA's index
names its controls' types (ctl_10600969_NEGATIVE) and has a type-II row with an M address.

The synthetic files are small but written the way each array's files are; the real HM27 index
(../shared/data/real) is parsed whole and checked against minfi's 27k tables.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from epiclock.preprocess import pipeline
from epiclock.errors import ConfigurationError
from epiclock.io import manifest


@dataclass(frozen=True)
class ArrayDesign:
    """A small array in the manner of one generation: how many probes of each kind, how IDs look."""

    name: str
    red: int                  # type-I probes read in Red
    green: int                # type-I probes read in Grn
    type_two: int
    replicates: int = 0       # further copies (new suffix, new address) of the first type-II CpGs
    suffixed: bool = False    # EPICv2 / MSA: cg00000109_BC21
    control_types: tuple[str, ...] = ()  # types the index names (ctl_<address>_<TYPE>); () = unnamed
    n_controls: int = 6

    @property
    def n_probes(self) -> int:
        return self.red + self.green + self.type_two + self.replicates


ARRAYS = [
    ArrayDesign("HM27", red=9, green=12, type_two=0),
    ArrayDesign("HM450", red=5, green=7, type_two=20),
    ArrayDesign("EPIC", red=4, green=6, type_two=25),
    ArrayDesign("EPICv2", red=4, green=6, type_two=25, replicates=3, suffixed=True),
    ArrayDesign("MSA", red=3, green=5, type_two=18, replicates=2, suffixed=True,
                control_types=("NEGATIVE", "NORM_A", "NORM_C", "NORM_G", "NORM_T", "BISULFITE_CONVERSION_II")),
    ArrayDesign("MM285", red=6, green=3, type_two=15, suffixed=True),
]


def probe_rows(design: ArrayDesign) -> pd.DataFrame:
    """One row per probe: probe_id, name, design, channel, address_u, address_m, chromosome, position."""
    kinds = ["Red"] * design.red + ["Grn"] * design.green + ["II"] * design.type_two
    rows = []
    for number, kind in enumerate(kinds):
        name = f"cg{10_000_000 + number:08d}"
        type_digit = "2" if kind == "II" else "1"
        probe_id = f"{name}_TC{type_digit}1" if design.suffixed else name
        rows.append((probe_id, name, "II" if kind == "II" else "I", None if kind == "II" else kind,
                     1_000_000 + number, None if kind == "II" else 2_000_000 + number,
                     "chrX" if number % 5 == 0 else "chr1", 10_000 + 100 * number))
    first_type_two = design.red + design.green
    for copy in range(design.replicates):
        _, name, _, _, _, _, chromosome, position = rows[first_type_two + copy]
        rows.append((f"{name}_BC22", name, "II", None, 3_000_000 + copy, None, chromosome, position))
    return pd.DataFrame(rows, columns=["probe_id", "name", "design", "channel", "address_u", "address_m",
                                       "chromosome", "position"])


def control_rows(design: ArrayDesign) -> pd.DataFrame:
    types = design.control_types or ("NEGATIVE", "STAINING")
    return pd.DataFrame({
        "address": [5_000_000 + number for number in range(design.n_controls)],
        "type": [types[number % len(types)] for number in range(design.n_controls)],
    })


def _text(value) -> str:
    return "" if value is None or pd.isna(value) else str(value)


def _number(value) -> str:
    return "" if value is None or pd.isna(value) else str(int(value))


def illumina_csv(design: ArrayDesign) -> str:
    probes, controls = probe_rows(design), control_rows(design)
    assay = ["IlmnID,Name,AddressA_ID,AddressB_ID,Infinium_Design_Type,Next_Base,Color_Channel,CHR,MAPINFO"]
    for row in probes.itertuples():
        assay.append(",".join([row.probe_id, row.name, _number(row.address_u), _number(row.address_m), row.design,
                               "A" if row.design == "I" else "", _text(row.channel), row.chromosome.removeprefix("chr"),
                               str(row.position)]))
    control_lines = [f"{row.address:010d},{row.type.replace('_', ' ') if not row.type.startswith('NORM') else row.type},"
                     f"Red,{row.type.title()} {number}" for number, row in enumerate(controls.itertuples(), 1)]
    return "\n".join(["Illumina, Inc.", "[Heading]", f"Descriptor File Name,{design.name}.bpm", "[Assay]", *assay,
                      "[Controls]", *control_lines, ""])


def ordering_tsv(design: ArrayDesign) -> str:
    probes, controls = probe_rows(design), control_rows(design)
    lines = ["Probe_ID\tM\tU\tcol"]
    for row in probes.itertuples():
        col = {"Red": "R", "Grn": "G"}.get(row.channel, "2")
        lines.append(f"{row.probe_id}\t{_number(row.address_m) or 'NA'}\t{row.address_u}\t{col}")
    for row in controls.itertuples():
        suffix = f"_{row.type}" if design.control_types else ""
        lines.append(f"ctl_{row.address}{suffix}\tNA\t{row.address}\t2")
    return "\n".join(lines) + "\n"


def full_manifest_tsv(design: ArrayDesign) -> str:
    """InfiniumAnnotation's <PLATFORM>.hg38.manifest.tsv.gz: 0-based CpG_beg, channel Both for type II, no controls."""
    header = ["CpG_chrm", "CpG_beg", "CpG_end", "address_A", "address_B", "target", "nextBase", "channel",
              "Probe_ID", "mapFlag_A", "mapChrm_A", "mapPos_A", "mapQ_A", "type", "probeType", "MASK_general"]
    lines = ["\t".join(header)]
    for row in probe_rows(design).itertuples():
        lines.append("\t".join([row.chromosome, str(row.position - 1), str(row.position + 1), str(row.address_u),
                                _number(row.address_m) or "NA", "CG", "A" if row.design == "I" else "NA",
                                _text(row.channel) or "Both", row.probe_id, "0", row.chromosome, str(row.position), "60",
                                row.design, "cg", "FALSE"]))
    return "\n".join(lines) + "\n"


LAYOUTS = {
    "illumina_csv": (illumina_csv, "{name}_manifest.csv"),
    "ordering": (ordering_tsv, "{name}.ordering.tsv.gz"),
    "full_manifest": (full_manifest_tsv, "{name}.hg38.manifest.tsv.gz"),
}


def write_layout(directory: Path, design: ArrayDesign, layout: str) -> Path:
    writer, file_name = LAYOUTS[layout]
    path = directory / file_name.format(name=design.name)
    data = writer(design).encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("design", ARRAYS, ids=[design.name for design in ARRAYS])
def test_every_layout_of_every_array_parses_with_its_counts(tmp_path, design, layout):
    parsed = manifest.parse_manifest(write_layout(tmp_path, design, layout))
    expected = probe_rows(design)
    probes = parsed.probes.set_index("probe_id")
    assert list(probes.index) == expected["probe_id"].tolist()
    assert probes["design"].value_counts().to_dict() == expected["design"].value_counts().to_dict()
    assert (probes["channel"] == "Red").sum() == design.red and (probes["channel"] == "Grn").sum() == design.green
    # Type I: U is address A, M address B; type II: one address.
    np.testing.assert_array_equal(probes["address_a"].to_numpy(), expected["address_u"].to_numpy())
    assert probes["address_b"].isna().sum() == design.type_two + design.replicates
    # Suffixed IDs share their CpG's name, so replicate probes can be collapsed by name.
    assert probes["name"].tolist() == expected["name"].tolist()
    assert probes["name"].duplicated().sum() == design.replicates
    if layout != "ordering":  # the index has no coordinates
        assert (probes["chromosome"] == "chrX").sum() == (expected["chromosome"] == "chrX").sum()
        assert probes["position"].tolist() == expected["position"].tolist()
    if layout == "full_manifest":
        assert parsed.controls.empty
    else:
        assert len(parsed.controls) == design.n_controls
        named = layout == "illumina_csv" or bool(design.control_types)
        assert parsed.controls["type"].notna().all() == named and parsed.controls["type"].isna().all() != named
        pd.testing.assert_frame_equal(manifest.parse_controls(write_layout(tmp_path, design, layout)), parsed.controls)


def test_index_control_types_take_illumina_spelling(tmp_path):
    design = next(design for design in ARRAYS if design.name == "MSA")
    controls = manifest.parse_manifest(write_layout(tmp_path, design, "ordering")).controls
    assert set(controls["type"]) == {"NEGATIVE", "NORM_A", "NORM_C", "NORM_G", "NORM_T", "BISULFITE CONVERSION II"}
    assert controls["colour"].isna().all()  # col 2 of a control row is no colour


def test_index_type_two_row_with_an_m_address_is_read_at_u(tmp_path):
    """MSA's cg12810120_TC11 and HM27's cg20249919 have col 2 and an M address: SeSAMe reads them as type II at U."""
    text = "Probe_ID\tM\tU\tcol\ncg12810120_TC11\t58638940\t58808317\t2\ncg00000109_BC21\tNA\t45642362\t2\n" \
           "cg00000155_TC11\t2000\t1000\tG\n"
    path = tmp_path / "MSA.ordering.tsv"
    path.write_text(text)
    probes = manifest.parse_manifest(path).probes.set_index("probe_id")
    assert probes.loc["cg12810120_TC11", "design"] == "II" and probes.loc["cg12810120_TC11", "address_a"] == 58808317
    assert pd.isna(probes.loc["cg12810120_TC11", "address_b"]) and pd.isna(probes.loc["cg12810120_TC11", "channel"])
    assert probes.loc["cg00000155_TC11", ["address_a", "address_b", "design", "channel"]].tolist() == [1000, 2000, "I", "Grn"]


# --- the real HM27 files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hm27_files(shared_dir):
    return shared_dir / "data" / "real" / "manifest"


@pytest.fixture(scope="module")
def hm27_index(hm27_files):
    return manifest.parse_manifest(hm27_files / "HM27.ordering.tsv.gz")


@pytest.mark.shared
def test_real_hm27_index_counts(hm27_index):
    """27,722 rows: 27,578 CpG probes (15,496 col G, 12,081 col R, 1 col 2) and 144 unnamed controls."""
    probes = hm27_index.probes
    assert len(probes) + len(hm27_index.controls) == 27_722
    assert len(probes) == 27_578 and probes["probe_id"].str.startswith("cg").all()
    assert probes["channel"].value_counts().to_dict() == {"Grn": 15_496, "Red": 12_081}
    assert probes.loc[probes["design"] == "II", "probe_id"].tolist() == ["cg20249919"]
    assert len(hm27_index.controls) == 144 and hm27_index.controls["type"].isna().all()
    assert not probes["name"].duplicated().any()


@pytest.mark.shared
def test_real_hm27_index_has_minfis_addresses(hm27_index, hm27_files):
    """Against minfi's IlluminaHumanMethylation27kmanifest (AddressA = U, AddressB = M): every probe's
    addresses agree; 8 colour channels differ (InfiniumAnnotation's re-annotation), one of them the
    probe the index marks type II; minfi's 112 control addresses are among the index's 144."""
    minfi = pd.read_csv(hm27_files / "27k_manifest_TypeI.csv.gz").set_index("Name")
    probes = hm27_index.probes.set_index("probe_id")
    assert sorted(minfi.index) == sorted(probes.index)
    minfi = minfi.loc[probes.index]
    np.testing.assert_array_equal(probes["address_a"].to_numpy(), minfi["AddressA"].to_numpy())
    type_one = probes["design"] == "I"
    np.testing.assert_array_equal(probes.loc[type_one, "address_b"].to_numpy(dtype=np.int64),
                                  minfi.loc[type_one, "AddressB"].to_numpy())
    differing = probes.index[probes["channel"].fillna("type II").to_numpy() != minfi["Color"].to_numpy()]
    assert len(differing) == 8 and "cg20249919" in differing
    minfi_controls = pd.read_csv(hm27_files / "27k_manifest_TypeControl.csv")
    assert set(minfi_controls["Address"]) <= set(hm27_index.controls["address"])


@pytest.mark.shared
def test_settings_needing_controls_the_index_lacks_stop_with_the_choice(hm27_files):
    path = hm27_files / "HM27.ordering.tsv.gz"
    controls = manifest.parse_controls(path)
    with pytest.raises(ConfigurationError) as raised:
        pipeline.check_manifest_controls(pipeline.PreprocessSettings(detection="minfi", dye_method="single"),
                                         controls, str(path), ["controls"])
    message = str(raised.value)
    assert "\n" not in message and str(path) in message
    assert "preprocess.detection: 'minfi' needs NEGATIVE control probes; choose 'poobah'" in message
    assert "preprocess.dye_method: 'single' needs normalisation controls" in message and "choose 'nonlinear'" in message
    assert "qc.fail_on: 'controls' needs named control probes; remove it" in message
    # The choices the message names run without controls.
    pipeline.check_manifest_controls(pipeline.PreprocessSettings(detection="poobah", dye_method="nonlinear"),
                                       controls, str(path))
    pipeline.check_manifest_controls(pipeline.PreprocessSettings(detection="poobah", method="raw"), controls, str(path))


@pytest.mark.shared
def test_the_plan_stops_before_any_job_on_choices_the_manifest_cannot_serve(hm27_files, project_root):
    import yaml

    from epiclock import config as settings_module
    from epiclock import plan

    config = yaml.safe_load((project_root / "config" / "config.yaml").read_text())
    config["manifest"] = {"path": str(hm27_files / "HM27.ordering.tsv.gz")}
    config["preprocess"].update(detection="minfi", dye_method="single")
    with pytest.raises(ConfigurationError, match=r"HM27\.ordering\.tsv\.gz: .*choose 'poobah'.*choose 'nonlinear'"):
        plan.check_manifest_controls(settings_module.Settings.from_config(config))
    config["preprocess"].update(detection="poobah", dye_method="nonlinear")
    plan.check_manifest_controls(settings_module.Settings.from_config(config))
    # The schema's defaults (auto) follow the manifest instead of stopping.
    del config["preprocess"]["detection"], config["preprocess"]["dye_method"]
    plan.check_manifest_controls(settings_module.Settings.from_config(config))


@pytest.mark.shared
def test_auto_detection_and_dye_bias_follow_the_real_index_and_say_why(hm27_files):
    """The index names no NEGATIVE or normalisation controls: auto becomes pOOBAH and the non-linear
    correction (SeSAMe's choices for such manifests), with one line naming the file and the reason;
    minfi's own 27k control table names both, so auto keeps minfi's methods."""
    index = hm27_files / "HM27.ordering.tsv.gz"
    chosen, note = pipeline.resolve_auto(pipeline.PreprocessSettings(), [manifest.parse_controls(index)], [str(index)])
    assert (chosen.detection, chosen.dye_method) == ("poobah", "nonlinear")
    assert note == ("preprocess.detection auto: 'poobah', as HM27.ordering.tsv.gz names no NEGATIVE control probes, "
                    "which 'minfi' needs; preprocess.dye_method auto: 'nonlinear', as HM27.ordering.tsv.gz names no "
                    "normalisation control probes, which 'single' needs")
    minfi_controls = pd.read_csv(hm27_files / "27k_manifest_TypeControl.csv").rename(
        columns={"Address": "address", "Type": "type"})
    chosen, note = pipeline.resolve_auto(pipeline.PreprocessSettings(), [minfi_controls], ["minfi_27k.csv"])
    assert (chosen.detection, chosen.dye_method) == ("minfi", "single") and "\n" not in note
    # A run mixing the two is preprocessed one way: the way every manifest can serve.
    chosen, _ = pipeline.resolve_auto(pipeline.PreprocessSettings(), [minfi_controls, manifest.parse_controls(index)],
                                      ["minfi_27k.csv", str(index)])
    assert (chosen.detection, chosen.dye_method) == ("poobah", "nonlinear")
    # Methods the config names are kept, and no note is made.
    named = pipeline.PreprocessSettings(detection="poobah", dye_method="none")
    assert pipeline.resolve_auto(named, [minfi_controls], ["minfi_27k.csv"]) == (named, "")
