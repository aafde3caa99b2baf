"""Fuzzing the readers of untrusted input: only EpiclockError may escape them.

Each property takes a valid file (an IDAT, an Illumina manifest CSV, an InfiniumAnnotation TSV, a
sample sheet), damages it with a few random mutations (byte flips, cuts, insertions, interesting
integers written over the IDAT's counts and offsets, format tokens such as separators and section
names spliced into text), and hands it to the reader. Any exception other than EpiclockError is a
traceback a user would see instead of a message, and fails the property.

The normal test run tries a bounded number of examples per property; ``bench/fuzz.py --minutes N``
runs the same properties for a set time.
"""

from __future__ import annotations

import gzip
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epiclock.errors import EpiclockError
from epiclock.io import idat, manifest
from epiclock.io.tables import read_sample_sheet

# Few examples here: the long runs are bench/fuzz.py's job.
EXAMPLES_IN_TEST_RUN = 150
TEST_RUN_SETTINGS = settings(max_examples=EXAMPLES_IN_TEST_RUN, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))


# --- valid inputs to start from -------------------------------------------------------------------

def valid_idat_bytes(probe_count: int = 12) -> bytes:
    rng = np.random.default_rng(3)
    addresses = (10_000_000 + np.cumsum(rng.integers(1, 1_000, probe_count))).astype(np.int32)
    return idat.encode_idat(idat.Idat(
        addresses=addresses,
        means=rng.integers(0, 65_535, probe_count, dtype=np.uint16),
        sds=rng.integers(0, 5_000, probe_count, dtype=np.uint16),
        bead_counts=rng.integers(0, 30, probe_count, dtype=np.uint8),
        mid_block=addresses[:3].copy(),
        run_info=(idat.RunInfo("1/2/2024 3:04:05 PM", "Scan", "iScan", "1.0", "2.1.0"),),
        red_green=0,
        strings={401: "", 402: "204000000001", 403: "BeadChip 8x1", 404: "R01C01"},
    ))


IDAT_SEED = valid_idat_bytes()

ILLUMINA_MANIFEST = """Illumina, Inc.,,,,,,,,,,
[Heading],,,,,,,,,,,
Descriptor File Name,Tiny.bpm,,,,,,,,,,
[Assay],,,,,,,,,,,
IlmnID,Name,AddressA_ID,AddressB_ID,Infinium_Design_Type,Next_Base,Color_Channel,Forward_Sequence,Genome_Build,CHR,MAPINFO
cg00000029_TC21,cg00000029,101,,II,,,ACGT[CG]TT,38,chr16,53434200
cg00000109_TC11,cg00000109,103,203,I,A,Red,AC[CG],38,chr3,171916037
cg00000155_BC11,cg00000155,104,204,I,C,Grn,AC[CG],38,chrX,107130785
rs10033147_TC11,rs10033147,106,206,I,T,Red,AC[CG],38,chr4,0
[Controls],,,,,,,,,,,
0027630314,STAINING,Red,DNP (High),,,,,,,
0012345678,NEGATIVE,Purple,Negative 1,,,,,,,
"""

ANNOTATION_MANIFEST = (
    "CpG_chrm\tCpG_beg\tCpG_end\taddress_A\taddress_B\tnextBase\tchannel\tProbe_ID\ttype\n"
    "chr16\t53434199\t53434201\t101\tNA\tNA\tBoth\tcg00000029_TC21\tII\n"
    "chr3\t171916036\t171916038\t103\t203\tA\tRed\tcg00000109_TC11\tI\n"
    "NA\tNA\tNA\t900\tNA\tNA\tRed\tctl_Staining_1\tII\n"
)

SAMPLE_SHEET = (
    "sample_id\tdonor\tdonor_age\tcondition\tchip\n"
    "S1\tD01\t34\tskin_alone\t207000000001\n"
    "S2\tD01\t34\tskin_bm\t207000000001\n"
    "S3\tD02\t61.5\tskin_alone\t207000000002\n"
)

ILLUMINA_SAMPLE_SHEET = (
    "[Header],,,\nInvestigator Name,someone,,\n[Data],,,\n"
    "Sample_Name,Sentrix_ID,Sentrix_Position,donor_age\n"
    "S1,207000000001,R01C01,34\nS2,207000000001,R02C01,61\n"
)

TEXT_TOKENS = [",", "\t", "\n", "\r\n", '"', "[Assay]", "[Controls]", "[Heading]", "[Data]", "NA", "I", "II",
               "Red", "Grn", "Both", "-1", "99999999999999999999", "1e400", "nan", "ctl_", "IlmnID", "Probe_ID",
               "sample_id", "donor_age", "AddressA_ID", "\x00", "\ufeff", "\xe9", " ", ""]

# Integers that make counts, lengths and offsets interesting: zero, negative, huge, at byte boundaries.
INTERESTING_INTEGERS = [0, 1, -1, 2, 7, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 1 << 20, 2**31 - 1, -(2**31)]


# --- mutations ------------------------------------------------------------------------------------

@st.composite
def mutated(draw, seed: bytes, tokens: list[str] = (), max_mutations: int = 6) -> bytes:
    """``seed`` after 1..max_mutations random edits."""
    data = bytearray(seed)
    kinds = ["flip", "set_byte", "delete", "insert", "truncate", "duplicate", "integer"]
    if tokens:
        kinds.append("token")
    for _ in range(draw(st.integers(1, max_mutations))):
        kind = draw(st.sampled_from(kinds))
        position = draw(st.integers(0, len(data)))
        if kind == "flip" and position < len(data):
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set_byte" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[position:position + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "truncate":
            del data[position:]
        elif kind == "duplicate":
            length = draw(st.integers(1, 64))
            data[position:position] = data[position:position + length]
        elif kind == "integer":
            value = draw(st.sampled_from(INTERESTING_INTEGERS))
            width = draw(st.sampled_from([4, 8]))
            packed = struct.pack("<q" if width == 8 else "<i", value)
            data[position:position + width] = packed
        elif kind == "token":
            token = draw(st.sampled_from(tokens)).encode("utf-8")
            replace = draw(st.integers(0, 12))
            data[position:position + replace] = token
    return bytes(data)


def idat_inputs():
    return mutated(IDAT_SEED)


def manifest_inputs():
    seeds = [ILLUMINA_MANIFEST.encode(), ANNOTATION_MANIFEST.encode()]
    return st.sampled_from(seeds).flatmap(lambda seed: mutated(seed, TEXT_TOKENS))


def sample_sheet_inputs():
    seeds = [SAMPLE_SHEET.encode(), ILLUMINA_SAMPLE_SHEET.encode()]
    return st.sampled_from(seeds).flatmap(lambda seed: mutated(seed, TEXT_TOKENS))


# --- properties -----------------------------------------------------------------------------------
# Plain functions of the input, so that bench/fuzz.py can run the very same checks.

_SCRATCH = Path(tempfile.mkdtemp(prefix="epiclock-fuzz-"))


def check_idat_parser(data: bytes) -> None:
    try:
        parsed = idat.parse_idat(data, source="fuzzed.idat")
    except EpiclockError as error:
        assert "fuzzed.idat" in str(error), f"the message does not name the file: {error}"
        return
    # What parses must also write back: the arrays hold what the file claimed.
    assert parsed.probe_count == len(parsed.means) == len(parsed.sds) == len(parsed.bead_counts)


def check_gzipped_idat_reader(data: bytes) -> None:
    """read_idat on a gzip stream cut or damaged: the gzip layer must also say what went wrong."""
    path = _SCRATCH / "fuzzed_Grn.idat.gz"
    compressed = gzip.compress(IDAT_SEED, mtime=0)
    cut = len(data) % (len(compressed) + 1)
    path.write_bytes(compressed[:cut] + data[:8])
    try:
        idat.read_idat(path, gzip_backend="zlib")
    except EpiclockError as error:
        assert str(path) in str(error), f"the message does not name the file: {error}"


def check_manifest_parser(data: bytes) -> None:
    path = _SCRATCH / "fuzzed_manifest.csv"
    path.write_bytes(data)
    try:
        parsed = manifest.parse_manifest(path)
    except EpiclockError as error:
        assert str(path) in str(error), f"the message does not name the file: {error}"
        return
    assert list(parsed.probes.columns) == manifest.PROBE_COLUMNS


def check_sample_sheet_reader(data: bytes) -> None:
    path = _SCRATCH / "fuzzed_samples.tsv"
    path.write_bytes(data)
    try:
        sheet = read_sample_sheet(path)
    except EpiclockError as error:
        assert str(path) in str(error), f"the message does not name the file: {error}"
        return
    assert "sample_id" in sheet.columns and sheet["sample_id"].is_unique and len(sheet) > 0


# (name, strategy, check): what bench/fuzz.py runs.
PROPERTIES = [
    ("idat_parser", idat_inputs(), check_idat_parser),
    ("gzipped_idat_reader", st.binary(max_size=64), check_gzipped_idat_reader),
    ("manifest_parser", manifest_inputs(), check_manifest_parser),
    ("sample_sheet_reader", sample_sheet_inputs(), check_sample_sheet_reader),
]


def test_the_seeds_are_valid():
    """The mutations start from inputs the readers accept, so they probe past the first check."""
    check_idat_parser(IDAT_SEED)
    for text in (ILLUMINA_MANIFEST, ANNOTATION_MANIFEST):
        check_manifest_parser(text.encode())
        assert len(manifest.parse_manifest(_SCRATCH / "fuzzed_manifest.csv").probes) >= 2
    for text in (SAMPLE_SHEET, ILLUMINA_SAMPLE_SHEET):
        check_sample_sheet_reader(text.encode())
        assert len(read_sample_sheet(_SCRATCH / "fuzzed_samples.tsv")) >= 2


# Inputs the fuzzer found that once let another exception escape; kept so that they stay fixed.
FOUND_MANIFESTS = [
    # A header name with a leading space: the column reader was given the stripped name.
    " " + ANNOTATION_MANIFEST,
    # Whole numbers beyond 64 bits as an address and as a position.
    ANNOTATION_MANIFEST.replace("\t101\t", "\t99999999999999999999101\t"),
    ILLUMINA_MANIFEST.replace(",107130785", ",107130e85"),
]
FOUND_SAMPLE_SHEETS = [
    # A second [Data] line inside the table: the first row became longer than the header.
    ILLUMINA_SAMPLE_SHEET.replace("[Data],,,\n", "[Data],,,\nSample_Name,\n[Data],,,\n"),
    # Two header names equal once stripped.
    " sample_id\tsample_id\nS1\tS2\n",
]


@pytest.mark.parametrize("text", FOUND_MANIFESTS)
def test_fuzz_found_manifests(text):
    check_manifest_parser(text.encode())


@pytest.mark.parametrize("text", FOUND_SAMPLE_SHEETS)
def test_fuzz_found_sample_sheets(text):
    check_sample_sheet_reader(text.encode())


@pytest.mark.parametrize("name, strategy, check", PROPERTIES, ids=[name for name, _, _ in PROPERTIES])
def test_fuzz_only_epiclock_errors_escape(name, strategy, check):
    TEST_RUN_SETTINGS(given(strategy)(check))()
