"""Array manifests: which IDAT addresses measure which probe, in which design and colour channel.

Two layouts are read into the same tables:

- Illumina's manifest CSV: a ``[Heading]`` block, an ``[Assay]`` table (IlmnID, Name, AddressA_ID,
  AddressB_ID, Infinium_Design_Type, Next_Base, Color_Channel, CHR, MAPINFO, and many annotation
  columns that are ignored) and a ``[Controls]`` block without a header row (Address, Type, Color,
  Extended_Type).
- The tab-separated files of the InfiniumAnnotation project (zwdzwd.github.io/InfiniumAnnotation,
  used by SeSAMe), in both forms: the full ``<PLATFORM>.hg38.manifest.tsv.gz`` (CpG_chrm, CpG_beg
  (0-based, BED-style), address_A, address_B, nextBase, channel Grn/Red/Both, Probe_ID, type I/II and
  many mapping and mask columns that are ignored) and the probe index ``<PLATFORM>.ordering.tsv.gz``
  (Probe_ID, M, U, col). In the index ``col`` is G or R for a type-I probe read in that channel and 2
  for a type-II probe, which is read at its U address only (as SeSAMe reads it, even where an M
  address is listed). Rows whose Probe_ID starts with ``ctl`` are control probes; their type is the
  text after the address where the ID has one (``ctl_10600969_NEGATIVE``), else unknown (``ctl_1090068``).

The probe table has one row per probe: ``probe_id`` (as written, so EPICv2 suffixes such as
cg00000029_TC21 and replicate probes are kept), ``name`` (the ID without that suffix), ``address_a``,
``address_b`` (missing for type II), ``design`` ('I' or 'II'), ``channel`` ('Red', 'Grn', or missing
for type II), ``next_base``, ``chromosome`` (always 'chr'-prefixed) and ``position`` (1-based).
The control table has ``address``, ``type``, ``colour``, ``extended_type``.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from epiclock.errors import EpiclockError
from epiclock.io.idat import Idat
from epiclock.io.tables import sha256_file, write_parquet

PROBE_COLUMNS = ["probe_id", "name", "address_a", "address_b", "design", "channel", "next_base", "chromosome", "position"]
CONTROL_COLUMNS = ["address", "type", "colour", "extended_type"]

# Raised when the parsing rules change, so that caches written by older code are not reused.
CACHE_FORMAT = 2

# Header aliases per field, in order of preference, matched case-insensitively.
COLUMN_ALIASES = {
    "probe_id": ("IlmnID", "Probe_ID", "probeID"),
    "name": ("Name",),
    "address_a": ("AddressA_ID", "address_A", "U"),
    "address_b": ("AddressB_ID", "address_B", "M"),
    "design": ("Infinium_Design_Type", "type", "DESIGN", "designType"),
    "channel": ("Color_Channel", "channel", "col", "COLOR_CHANNEL"),
    "next_base": ("Next_Base", "nextBase"),
    "chromosome": ("CHR", "CpG_chrm", "chrm"),
    "position": ("MAPINFO", "CpG_beg", "beg"),
}
REQUIRED_FIELDS = ("probe_id", "address_a", "address_b", "channel")
# BED-style starts are 0-based; MAPINFO is 1-based.
ZERO_BASED_POSITION_COLUMNS = {"cpg_beg", "beg"}

# How the two layouts write an empty cell (InfiniumAnnotation files are written from R: NA).
MISSING_TEXT = ("", "NA", "NaN", "nan")

EPIC_V2_SUFFIX = re.compile(r"_[A-Z]{2}[0-9]+$")

_DESIGNS = {"I": "I", "1": "I", "II": "II", "2": "II"}
# Channel texts; '2' is the InfiniumAnnotation index's mark of a type-II probe (read in both channels).
_CHANNELS = {"RED": "Red", "R": "Red", "GRN": "Grn", "GREEN": "Grn", "G": "Grn",
             "": None, "BOTH": None, "2": None, "-": None, "NA": None, "NAN": None}
TYPE_TWO_CHANNEL_TEXT = "2"
# An InfiniumAnnotation control ID: ctl_, the address, then the control type where the file names it.
ANNOTATION_CONTROL_ID = re.compile(r"^ctl_?(?P<address>[0-9]+)?(?:_(?P<type>.+))?$", re.IGNORECASE)
# Illumina's [Controls] types are written with spaces (BISULFITE CONVERSION II) except the NORM_ ones.
UNDERSCORED_CONTROL_TYPE = re.compile(r"^NORM_[ACGT]+$")


@dataclass(frozen=True)
class Manifest:
    """The probe and control-probe tables of one array design, and the file they came from."""

    probes: pd.DataFrame
    controls: pd.DataFrame
    source: str


def load_manifest(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Manifest:
    """Parse a manifest, or reuse the Parquet cache of an identical file in ``cache_dir``.

    The cache is keyed by the file's sha256, so a changed or renamed file is never mistaken for
    another. Without ``cache_dir`` nothing is cached.
    """
    path = Path(path)
    if not path.is_file():
        raise EpiclockError(f"{path}: manifest not found")
    if cache_dir is None:
        return parse_manifest(path)
    digest = sha256_file(path)[:16]
    stem = path.name.split(".")[0]
    probes_cache = Path(cache_dir) / f"{stem}.{digest}.v{CACHE_FORMAT}.probes.parquet"
    controls_cache = Path(cache_dir) / f"{stem}.{digest}.v{CACHE_FORMAT}.controls.parquet"
    if probes_cache.is_file() and controls_cache.is_file():
        return Manifest(pd.read_parquet(probes_cache), pd.read_parquet(controls_cache), str(path))
    manifest = parse_manifest(path)
    try:
        write_parquet(manifest.probes, probes_cache)
        write_parquet(manifest.controls, controls_cache)
    except OSError as error:
        raise EpiclockError(f"{cache_dir}: cannot write the manifest cache ({error}); choose a writable cache_dir") from error
    return manifest


def parse_manifest(path: str | os.PathLike) -> Manifest:
    """Parse an Illumina manifest CSV or an InfiniumAnnotation TSV (either may be gzipped)."""
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise EpiclockError(f"{path}: the manifest is empty; download or copy it again")
    if _is_illumina_csv(text):
        return _parse_illumina_csv(text, path)
    return _parse_annotation_tsv(text, path)


def _read_text(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        if raw.startswith(b"\x1f\x8b"):
            raw = gzip.decompress(raw)
        # Universal newlines: manifests from Illumina's site have Windows line ends.
        return raw.decode("utf-8-sig", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    except FileNotFoundError as error:
        raise EpiclockError(f"{path}: manifest not found") from error
    except (OSError, EOFError) as error:
        raise EpiclockError(f"{path}: cannot read the manifest ({error})") from error


def _is_illumina_csv(text: str) -> bool:
    head = text[:4096]
    return "[Heading]" in head or "[Assay]" in head or not _first_line(text).count("\t")


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0]


_SECTION_NAME = re.compile(r"^\[(?P<name>[A-Za-z ]+)\][,\t ]*$")


def _section_bodies(text: str) -> dict[str, str]:
    """Lower-cased section name -> the text between its ``[Name]`` line and the next section line."""
    starts = [0] if text.startswith("[") else []
    position = text.find("\n[")
    while position != -1:  # a handful of sections: searching for them beats a regex over the file
        starts.append(position + 1)
        position = text.find("\n[", position + 1)
    bodies = {}
    for index, start in enumerate(starts):
        line_end = text.find("\n", start)
        line_end = len(text) if line_end == -1 else line_end
        match = _SECTION_NAME.match(text[start:line_end])
        if match:
            body_end = starts[index + 1] if index + 1 < len(starts) else len(text)
            bodies[match.group("name").strip().lower()] = text[line_end + 1:body_end]
    return bodies


def _parse_illumina_csv(text: str, path: Path) -> Manifest:
    sections = _section_bodies(text)
    if "assay" not in sections:
        raise EpiclockError(
            f"{path}: no [Assay] section; expected an Illumina manifest CSV ([Heading], [Assay], [Controls]) "
            "or a tab-separated InfiniumAnnotation manifest"
        )
    probes = _probe_table(_read_csv_block(sections["assay"], path, "[Assay]", separator=","), path)
    controls = _control_table(sections["controls"], path) if "controls" in sections else _empty_controls()
    return Manifest(probes, controls, str(path))


def _read_csv_block(block: str, path: Path, section: str, separator: str) -> pd.DataFrame:
    header = _first_line(block).split(separator)
    wanted = {alias.lower() for aliases in COLUMN_ALIASES.values() for alias in aliases}
    # Names as written (spaces and all): the CSV reader matches them exactly; _find_columns strips.
    keep = list(dict.fromkeys(name for name in header if name.strip().lower() in wanted))
    try:
        return pd.read_csv(io.StringIO(block), sep=separator, dtype=str, keep_default_na=False,
                           usecols=keep, engine="pyarrow")
    except (ValueError, KeyError, pd.errors.ParserError) as error:
        raise EpiclockError(f"{path}: the {section} table cannot be parsed ({error})") from error


def _find_columns(raw: pd.DataFrame, path: Path) -> dict[str, str]:
    """Field -> the file's column holding it, by the first alias present."""
    by_lower = {}
    for column in raw.columns:
        by_lower.setdefault(column.strip().lower(), column)
    found = {}
    for field, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias.lower() in by_lower:
                found[field] = by_lower[alias.lower()]
                break
    missing = [field for field in REQUIRED_FIELDS if field not in found]
    if missing:
        expected = "; ".join(f"{field}: {' or '.join(COLUMN_ALIASES[field])}" for field in missing)
        raise EpiclockError(
            f"{path}: the manifest lacks required column(s) ({expected}); columns found: "
            f"{', '.join(map(str, raw.columns[:20]))}"
        )
    return found


def _probe_table(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    columns = _find_columns(raw, path)
    probe_ids = raw[columns["probe_id"]].str.strip()
    empty = probe_ids == ""
    if empty.any():
        raw, probe_ids = raw.loc[~empty], probe_ids.loc[~empty]  # blank separator lines
    if probe_ids.empty:
        raise EpiclockError(f"{path}: the manifest lists no probes")
    duplicated = probe_ids[probe_ids.duplicated()].unique()
    if len(duplicated):
        raise EpiclockError(f"{path}: probe IDs appear more than once: {', '.join(duplicated[:5])}")

    probe_ids = probe_ids.to_numpy()
    address_a = _addresses(raw[columns["address_a"]], probe_ids, path, columns["address_a"], required=True)
    address_b = _addresses(raw[columns["address_b"]], probe_ids, path, columns["address_b"], required=False)
    if "design" in columns:
        design = _normalised(raw[columns["design"]], _DESIGNS, probe_ids, path, columns["design"],
                             cleaner=lambda values: values.str.upper().str.replace(r"INFINIUM[ _-]*", "", regex=True))
    channel = _normalised(raw[columns["channel"]], _CHANNELS, probe_ids, path, columns["channel"],
                          cleaner=lambda values: values.str.upper())
    if "design" not in columns:
        # Without a design column the channel says it: a colour is type I, the index's '2' type II;
        # otherwise a second address is what makes a probe type I.
        type_two_mark = raw[columns["channel"]].str.strip() == TYPE_TWO_CHANNEL_TEXT
        design = pd.Series(np.where(channel.notna(), "I", np.where(type_two_mark | address_b.isna(), "II", "I")),
                           index=raw.index)
    channel = channel.where(design == "I", None)
    # A type-II probe is read at one address; a second one listed beside it is not used.
    address_b = address_b.where(design == "I", pd.NA)
    _check_type_one(design, address_b, channel, probe_ids, path)

    if "name" in columns:
        names = raw[columns["name"]].str.strip().replace("", np.nan).fillna(pd.Series(probe_ids, index=raw.index))
    else:
        names = pd.Series(probe_ids, index=raw.index).str.replace(EPIC_V2_SUFFIX, "", regex=True)
    table = pd.DataFrame({
        "probe_id": probe_ids,
        "name": names.to_numpy(),
        "address_a": address_a.to_numpy(),
        "address_b": address_b.to_numpy(),
        "design": design.to_numpy(),
        "channel": channel.to_numpy(),
        "next_base": _optional_text(raw, columns.get("next_base")),
        "chromosome": _chromosomes(raw, columns.get("chromosome")),
        "position": _positions(raw, columns.get("position"), probe_ids, path),
    })
    table["address_a"] = table["address_a"].astype("int64")
    table["address_b"] = table["address_b"].astype("Int64")
    table["position"] = table["position"].astype("Int64")
    for column in ("probe_id", "name", "design", "channel", "next_base", "chromosome"):
        table[column] = table[column].astype("string")
    return table


def _addresses(values: pd.Series, probe_ids: np.ndarray, path: Path, column: str, required: bool) -> pd.Series:
    numbers = _whole_numbers(values)
    bad = numbers.isna().to_numpy() & ~values.str.strip().isin(MISSING_TEXT).to_numpy()
    bad |= (numbers < 0).fillna(False).to_numpy()
    if required:
        bad |= numbers.isna().to_numpy()
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise EpiclockError(
            f"{path}: column '{column}' holds {int(bad.sum())} value(s) that are not addresses "
            f"(first: probe {probe_ids[position]} has {values.iloc[position]!r}); addresses are whole numbers"
        )
    return numbers


def _whole_numbers(values: pd.Series, missing: tuple[str, ...] = MISSING_TEXT) -> pd.Series:
    """Text to nullable integers; anything that is not a whole number becomes missing.

    The Arrow cast handles a clean column in one pass; only a column with a bad value takes the
    slower pandas path, which marks exactly the values that failed.
    """
    text = pa.array(values.astype("string[pyarrow]").array)
    text = pc.utf8_trim_whitespace(text)
    text = pc.if_else(pc.is_in(text, pa.array(missing)), pa.scalar(None, pa.string()), text)
    try:
        return pd.Series(pd.arrays.ArrowExtensionArray(pc.cast(text, pa.int64())), index=values.index).astype("Int64")
    except pa.ArrowInvalid:
        numbers = pd.to_numeric(pd.Series(text.to_pylist(), index=values.index, dtype=object), errors="coerce")
        # Whole numbers too large for 64 bits (1e90 from a typo'd '107130e85') count as bad values too.
        return numbers.where((numbers % 1 == 0) & (numbers.abs() < 2**63)).astype("Int64")


def _normalised(values: pd.Series, vocabulary: dict, probe_ids: np.ndarray, path: Path, column: str, cleaner) -> pd.Series:
    cleaned = cleaner(values.str.strip())
    known = cleaned.isin(vocabulary.keys())
    if not known.all():
        position = int(np.flatnonzero(~known.to_numpy())[0])
        raise EpiclockError(
            f"{path}: column '{column}' has {int((~known).sum())} value(s) not understood "
            f"(first: probe {probe_ids[position]} has {values.iloc[position]!r})"
        )
    return cleaned.map(vocabulary)


def _check_type_one(design: pd.Series, address_b: pd.Series, channel: pd.Series, probe_ids: np.ndarray, path: Path) -> None:
    type_one = (design == "I").to_numpy()
    for problem, broken in (
        ("is type I but has no address B", type_one & address_b.isna().to_numpy()),
        ("is type I but has no colour channel (Red or Grn)", type_one & channel.isna().to_numpy()),
    ):
        if broken.any():
            raise EpiclockError(
                f"{path}: {int(broken.sum())} probe(s) are inconsistent; probe {probe_ids[np.flatnonzero(broken)[0]]} "
                f"{problem}"
            )


def _optional_text(raw: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is None:
        return np.full(len(raw), None, dtype=object)
    values = raw[column].str.strip()
    return values.where(~values.isin(MISSING_TEXT), None).to_numpy()


def _chromosomes(raw: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is None:
        return np.full(len(raw), None, dtype=object)
    values = raw[column].str.strip()
    missing = values.isin([*MISSING_TEXT, "*", "0"])
    prefixed = values.where(values.str.startswith("chr"), "chr" + values)
    return prefixed.where(~missing, None).to_numpy()


def _positions(raw: pd.DataFrame, column: str | None, probe_ids: np.ndarray, path: Path) -> np.ndarray:
    if column is None:
        return np.full(len(raw), pd.NA, dtype=object)
    numbers = _whole_numbers(raw[column])
    bad = numbers.isna().to_numpy() & ~raw[column].str.strip().isin(MISSING_TEXT).to_numpy()
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise EpiclockError(
            f"{path}: column '{column}' holds positions that are not whole numbers (first: probe "
            f"{probe_ids[position]} has {raw[column].iloc[position]!r})"
        )
    if column.strip().lower() in ZERO_BASED_POSITION_COLUMNS:
        numbers = numbers + 1
    return numbers.to_numpy()


def _control_table(block: str, path: Path) -> pd.DataFrame:
    if not block.strip():
        return _empty_controls()
    try:
        raw = pd.read_csv(io.StringIO(block), sep=",", header=None, dtype=str, keep_default_na=False,
                          usecols=range(4), names=CONTROL_COLUMNS, skip_blank_lines=True)
    except (ValueError, pd.errors.ParserError) as error:
        raise EpiclockError(f"{path}: the [Controls] section cannot be parsed ({error})") from error
    raw = raw.apply(lambda column: column.str.strip())
    raw = raw.loc[raw["address"] != ""]
    addresses = _addresses(raw["address"], raw["extended_type"].to_numpy(), path, "[Controls] Address", required=True)
    table = pd.DataFrame({
        "address": addresses.astype("int64").to_numpy(),
        "type": raw["type"].to_numpy(),
        "colour": raw["colour"].to_numpy(),
        "extended_type": raw["extended_type"].to_numpy(),
    })
    for column in ("type", "colour", "extended_type"):
        table[column] = table[column].astype("string")
    return table


def _empty_controls() -> pd.DataFrame:
    return pd.DataFrame({
        "address": pd.Series([], dtype="int64"),
        "type": pd.Series([], dtype="string"),
        "colour": pd.Series([], dtype="string"),
        "extended_type": pd.Series([], dtype="string"),
    })


def parse_controls(path: str | os.PathLike) -> pd.DataFrame:
    """Only the control table of a manifest (either layout): enough to see which checks it allows."""
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise EpiclockError(f"{path}: the manifest is empty; download or copy it again")
    if _is_illumina_csv(text):
        sections = _section_bodies(text)
        if "assay" not in sections:
            raise EpiclockError(f"{path}: no [Assay] section; expected an Illumina manifest CSV ([Heading], [Assay], "
                                "[Controls]) or a tab-separated InfiniumAnnotation manifest")
        return _control_table(sections["controls"], path) if "controls" in sections else _empty_controls()
    header, _, body = text.partition("\n")
    control_lines = [line for line in body.split("\n") if line[:3].lower() == "ctl"]
    if not control_lines:
        return _empty_controls()
    raw = _read_csv_block("\n".join([header, *control_lines, ""]), path, "manifest", separator="\t")
    return _annotation_controls(raw, _find_columns(raw, path), path)


def _parse_annotation_tsv(text: str, path: Path) -> Manifest:
    raw = _read_csv_block(text, path, "manifest", separator="\t")
    columns = _find_columns(raw, path)
    is_control = raw[columns["probe_id"]].str.strip().str.lower().str.startswith("ctl").to_numpy()
    probes = _probe_table(raw.loc[~is_control], path)
    return Manifest(probes, _annotation_controls(raw.loc[is_control], columns, path), str(path))


def _annotation_controls(control_rows: pd.DataFrame, columns: dict[str, str], path: Path) -> pd.DataFrame:
    controls = _empty_controls()
    if len(control_rows):
        addresses = _addresses(control_rows[columns["address_a"]], control_rows[columns["probe_id"]].to_numpy(),
                               path, columns["address_a"], required=True)
        colour = control_rows[columns["channel"]].str.strip()
        control_ids = control_rows[columns["probe_id"]].str.strip()
        controls = pd.DataFrame({
            "address": addresses.astype("int64").to_numpy(),
            "type": control_ids.map(_annotation_control_type).astype("string").to_numpy(),
            "colour": colour.where(~colour.isin([*MISSING_TEXT, TYPE_TWO_CHANNEL_TEXT]), None).astype("string").to_numpy(),
            "extended_type": control_ids.astype("string").to_numpy(),
        })
    return controls


def _annotation_control_type(control_id: str) -> str | None:
    """The control type an InfiniumAnnotation ID names, in Illumina's spelling (None where it names none).

    ``ctl_14745466_BISULFITE_CONVERSION_I`` -> 'BISULFITE CONVERSION I'; ``ctl_12612825_NORM_A`` -> 'NORM_A'.
    """
    match = ANNOTATION_CONTROL_ID.match(control_id)
    if match is None or match.group("address") is None or not match.group("type"):
        return None
    kind = match.group("type").upper()
    return kind if UNDERSCORED_CONTROL_TYPE.match(kind) else kind.replace("_", " ")


# --- which array an IDAT comes from ----------------------------------------------------------------

# Address counts per array, as minfi's guessArrayTypes has them (EPIC has an old and a current
# scan type), and the chip-type text the scanner writes where the count alone does not say.
ARRAY_ADDRESS_RANGES = (
    ("450k", 622_000, 623_000),
    ("EPIC", 1_050_000, 1_053_000),
    ("EPIC", 1_032_000, 1_033_000),
    ("EPICv2", 1_100_000, 1_110_000),
    ("27k", 54_000, 56_000),
    ("Mammal40", 41_000, 41_100),
)


def detect_array(idat: Idat) -> str:
    """The array an IDAT was scanned from: '450k', 'EPIC', 'EPICv2', 'MSA', '27k' or 'Mammal40'."""
    chip_type = idat.chip_type.lower()
    # The Methylation Screening Array is the only 48-sample methylation BeadChip.
    if "msa" in chip_type or "48x1" in chip_type:
        return "MSA"
    for array, low, high in ARRAY_ADDRESS_RANGES:
        if low <= idat.probe_count <= high:
            return array
    raise EpiclockError(
        f"{idat.source or 'IDAT'}: cannot tell the array type from {idat.probe_count} addresses and chip type "
        f"{idat.chip_type!r}; known: 450k (~622k addresses), EPIC (~1.05M), EPICv2 (~1.1M), MSA, 27k (~55k)"
    )

