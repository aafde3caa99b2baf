"""Illumina IDAT files (binary format version 3): read, write, and pair the Red and Grn halves.

An IDAT holds one colour channel of one array: for every bead-type address the mean intensity, its
standard deviation and the number of beads, plus a little metadata (barcode, chip type, scan run
information). The layout is a table of sections, each found by its byte offset:

    "IDAT" | version (int64) | section count (int32) | count x (code uint16, offset int64) | data

Section codes (as documented by illuminaio): 1000 probe count (int32), 102 addresses (int32[n]),
103 SDs (uint16[n]), 104 means (uint16[n]), 107 bead counts (uint8[n]), 200 mid block
(int32 count + int32[count]), 300 run info (int32 count + count x 5 strings), 400 red/green flag
(int32), 401-410 and 510 strings (402 barcode, 403 chip type). Strings carry their length as a
7-bit variable-length prefix. Scanner files carry 405-410 and 510; files written by other tools often
stop at 404: both are accepted, and a section that is absent stays absent when written back.

Per-probe blocks are read as numpy views on the file's bytes, never probe by probe. A plain IDAT
is mapped into memory rather than copied: an EPIC file is 13 MB, and copying it (which also has the
kernel zero fresh pages first) costs several times more than everything else in reading it. The
views keep the mapping alive as long as they live. Replacing the file (writing a new one and
renaming it over the old, as write_idat does) leaves them intact; overwriting it in place while
they are in use does not (the operating system stops the process with a bus error), so copy the
arrays first if the file is to be rewritten in place. Below Python 3.13 each mapping also holds one
file descriptor until its arrays are freed.
"""

from __future__ import annotations

import gzip
import mmap
import os
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.io.tables import atomic_path

try:
    from isal import igzip as _isal_gzip
    from isal import isal_zlib as _isal_zlib
    from isal.isal_zlib import error as _IsalError
except ImportError:  # the pure-zlib path is slower but gives the same bytes
    _isal_gzip = None
    _isal_zlib = None
    _IsalError = zlib.error

ISAL_AVAILABLE = _isal_gzip is not None

IDAT_MAGIC = b"IDAT"
SUPPORTED_VERSION = 3
GZIP_MAGIC = b"\x1f\x8b"

PROBE_COUNT = 1000
ADDRESSES = 102
SDS = 103
MEANS = 104
BEAD_COUNTS = 107
MID_BLOCK = 200
RUN_INFO = 300
RED_GREEN = 400
BARCODE = 402
CHIP_TYPE = 403
# String sections: 401 'manifest' (mostly empty), 402 barcode, 403 chip type, 404 stripe/position,
# 405-410 and 510 further scanner text (406 sample ID, 408 plate, 409 well where filled in).
STRING_SECTIONS = (401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 510)
REQUIRED_SECTIONS = (PROBE_COUNT, ADDRESSES, SDS, MEANS, BEAD_COUNTS)
# The order the writer lays sections out in, which is also the order of the section table.
WRITE_ORDER = (PROBE_COUNT, ADDRESSES, SDS, MEANS, BEAD_COUNTS, MID_BLOCK, RUN_INFO, RED_GREEN) + STRING_SECTIONS

_HEADER = struct.Struct("<4sqi")
_SECTION_ENTRY = np.dtype([("code", "<u2"), ("offset", "<i8")])
_INT32 = struct.Struct("<i")

GZIP_BACKENDS = ("auto", "isal", "zlib")
# Without trackfd=False (Python 3.13+) a mapping keeps a duplicate of the file's descriptor open.
_MAP_OPTIONS = {"trackfd": False} if sys.version_info >= (3, 13) else {}
# Deflate can shrink data about 1000-fold but IDATs shrink about 2-fold: a gzip trailer claiming more
# than this ratio is damaged, and the output buffer is not sized from it.
_PLAUSIBLE_GZIP_RATIO = 16


class RunInfo(NamedTuple):
    """One block of the scan's run information (section 300), as five strings."""

    run_time: str
    block_type: str
    block_parameters: str
    block_code: str
    code_version: str


@dataclass(frozen=True, eq=False)
class Idat:
    """One IDAT file: per-address intensities of one colour channel plus the file's metadata.

    ``mid_block``, ``run_info`` and ``red_green`` are None when the file has no such section;
    ``strings`` maps each string section present (401-410, 510) to its text. Two Idats are equal
    when every section is equal; ``source`` (where it was read from) does not take part. Arrays
    read from a file are read-only views on its bytes: copy one before changing it.
    """

    addresses: np.ndarray
    means: np.ndarray
    sds: np.ndarray
    bead_counts: np.ndarray
    mid_block: np.ndarray | None = None
    run_info: tuple[RunInfo, ...] | None = None
    red_green: int | None = None
    strings: dict[int, str] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self) -> None:
        arrays = {
            "addresses": (self.addresses, np.int32),
            "means": (self.means, np.uint16),
            "sds": (self.sds, np.uint16),
            "bead_counts": (self.bead_counts, np.uint8),
        }
        length = len(self.addresses)
        for name, (values, dtype) in arrays.items():
            if values.dtype != dtype or values.ndim != 1 or len(values) != length:
                raise EpiclockError(
                    f"IDAT {self.source or '(in memory)'}: '{name}' must be a 1-D {np.dtype(dtype).name} array "
                    f"of length {length}; got {values.dtype} with shape {values.shape}"
                )

    @property
    def probe_count(self) -> int:
        return len(self.addresses)

    @property
    def barcode(self) -> str:
        return self.strings.get(BARCODE, "")

    @property
    def chip_type(self) -> str:
        return self.strings.get(CHIP_TYPE, "")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Idat):
            return NotImplemented
        return (
            _same_array(self.addresses, other.addresses)
            and _same_array(self.means, other.means)
            and _same_array(self.sds, other.sds)
            and _same_array(self.bead_counts, other.bead_counts)
            and _same_optional_array(self.mid_block, other.mid_block)
            and self.run_info == other.run_info
            and self.red_green == other.red_green
            and self.strings == other.strings
        )

    __hash__ = None  # mutable arrays inside: not hashable


def _same_array(left: np.ndarray, right: np.ndarray) -> bool:
    return left.dtype == right.dtype and np.array_equal(left, right)


def _same_optional_array(left: np.ndarray | None, right: np.ndarray | None) -> bool:
    if left is None or right is None:
        return left is None and right is None
    return _same_array(left, right)


# --- reading -------------------------------------------------------------------------------------


def read_idat(path: str | os.PathLike, *, gzip_backend: str = "auto") -> Idat:
    """Read one IDAT file, plain or gzipped (recognised by its content, not its name).

    ``gzip_backend`` chooses the decompressor: ``auto`` uses python-isal when it is installed
    (nearly twice as fast) and zlib otherwise; ``isal`` and ``zlib`` force one (for benchmarks).
    """
    path = Path(path)
    data = _read_idat_bytes(path, gzip_backend)
    return parse_idat(data, source=str(path))


def _read_idat_bytes(path: Path, gzip_backend: str) -> bytes | mmap.mmap:
    """The uncompressed bytes of an IDAT: the file itself mapped read-only, or its gzip content."""
    _check_backend(gzip_backend)
    try:
        with open(path, "rb") as handle:
            contents = _map_or_read(handle)
    except FileNotFoundError as error:
        raise EpiclockError(f"{path}: IDAT file not found") from error
    except OSError as error:
        raise EpiclockError(f"{path}: cannot read the IDAT file ({error})") from error
    if contents[:len(GZIP_MAGIC)] != GZIP_MAGIC:
        return contents
    try:
        return _gunzip(contents, _use_isal(gzip_backend))
    except (OSError, EOFError, zlib.error, _IsalError) as error:
        raise EpiclockError(
            f"{path}: the gzip stream is corrupt or cut short ({error}); download or copy the file again"
        ) from error
    finally:
        if isinstance(contents, mmap.mmap):
            contents.close()


def _check_backend(gzip_backend: str) -> None:
    if gzip_backend not in GZIP_BACKENDS:
        raise EpiclockError(f"gzip_backend must be one of {', '.join(GZIP_BACKENDS)}; got {gzip_backend!r}")


def _use_isal(gzip_backend: str) -> bool:
    """Whether to (de)compress with isal; only a gzipped file needs it to be installed."""
    if gzip_backend == "isal" and _isal_gzip is None:
        raise EpiclockError("gzip_backend='isal' needs the python-isal package (pip install isal)")
    return gzip_backend == "isal" or (gzip_backend == "auto" and _isal_gzip is not None)


def _map_or_read(handle) -> bytes | mmap.mmap:
    """The whole file, mapped read-only where it can be.

    An empty file cannot be mapped, and some file systems (or a process out of descriptors) refuse a
    mapping: those files are read into memory instead, which gives the same bytes.
    """
    if os.fstat(handle.fileno()).st_size:
        try:
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ, **_MAP_OPTIONS)
        except (OSError, ValueError):
            pass
    return handle.read()


def _gunzip(compressed: bytes | mmap.mmap, use_isal: bool) -> bytes:
    """Inflate a whole gzip file in one call, with isal or zlib (they give the same bytes)."""
    library = _isal_zlib if use_isal else zlib
    # The trailer's last four bytes are the uncompressed size (of the last member, modulo 2**32).
    # An output buffer of that size spares the call from growing its output in blocks and joining
    # them at the end, a copy of the whole file; one byte more, or it grows once more to look for the
    # end. A size no IDAT could shrink from is not trusted.
    expected = int.from_bytes(compressed[-4:], "little")
    buffer_size = min(expected, _PLAUSIBLE_GZIP_RATIO * len(compressed)) + 1
    data = library.decompress(compressed, wbits=31, bufsize=buffer_size)
    if len(data) != expected:
        # The one-shot call stops after the first gzip member: a file of several members
        # (concatenated gzip) goes through the stream reader, which reads them all.
        data = (_isal_gzip if use_isal else gzip).decompress(bytes(compressed))
    return data


def parse_idat(data: bytes | mmap.mmap, source: str = "(in memory)") -> Idat:
    """Parse the bytes of an uncompressed IDAT file; ``source`` names it in error messages.

    The per-probe arrays are read-only views on ``data`` (any bytes-like object).
    """
    if len(data) < _HEADER.size:
        if not data:
            raise EpiclockError(f"{source}: the IDAT file is empty")
        if not IDAT_MAGIC.startswith(data[:4]):
            raise EpiclockError(f"{source}: not an IDAT file (it does not start with 'IDAT')")
        raise EpiclockError(f"{source}: the IDAT file is truncated ({len(data)} bytes, shorter than its header)")
    magic, version, section_count = _HEADER.unpack_from(data, 0)
    if magic != IDAT_MAGIC:
        raise EpiclockError(f"{source}: not an IDAT file (it starts with {magic!r}, expected b'IDAT')")
    if version != SUPPORTED_VERSION:
        raise EpiclockError(
            f"{source}: IDAT version {version} is not supported; only version {SUPPORTED_VERSION} "
            "(unencrypted, as written by iScan/HiScan) can be read. Older encrypted IDATs need "
            "converting with Illumina's tools first"
        )
    table_end = _HEADER.size + section_count * _SECTION_ENTRY.itemsize
    if section_count < 0 or table_end > len(data):
        raise EpiclockError(f"{source}: the IDAT file is truncated inside its section table")
    table = np.frombuffer(data, dtype=_SECTION_ENTRY, count=section_count, offset=_HEADER.size)
    # Unknown section codes are skipped: their content type is undocumented.
    offsets = {int(code): int(offset) for code, offset in zip(table["code"], table["offset"])}
    missing = [code for code in REQUIRED_SECTIONS if code not in offsets]
    if missing:
        raise EpiclockError(
            f"{source}: the IDAT file has no section {', '.join(map(str, missing))} "
            "(probe count, addresses, SDs, means or bead counts); the file is damaged"
        )
    reader = _SectionReader(data, source)
    probe_count = reader.int32(offsets[PROBE_COUNT], "probe count (1000)")
    if probe_count < 0:
        raise EpiclockError(f"{source}: the IDAT file claims a negative probe count ({probe_count})")
    return Idat(
        addresses=reader.array(offsets[ADDRESSES], "<i4", probe_count, "addresses (102)"),
        sds=reader.array(offsets[SDS], "<u2", probe_count, "SDs (103)"),
        means=reader.array(offsets[MEANS], "<u2", probe_count, "means (104)"),
        bead_counts=reader.array(offsets[BEAD_COUNTS], "u1", probe_count, "bead counts (107)"),
        mid_block=reader.counted_array(offsets[MID_BLOCK], "mid block (200)") if MID_BLOCK in offsets else None,
        run_info=reader.run_info(offsets[RUN_INFO]) if RUN_INFO in offsets else None,
        red_green=reader.int32(offsets[RED_GREEN], "red/green (400)") if RED_GREEN in offsets else None,
        strings={code: reader.string(offsets[code], f"text ({code})") for code in STRING_SECTIONS if code in offsets},
        source=source,
    )


class _SectionReader:
    """Bounds-checked reads at byte offsets; any read past the end is reported as truncation."""

    def __init__(self, data: bytes | mmap.mmap, source: str) -> None:
        self.data = data
        self.source = source

    def _check(self, offset: int, size: int, section: str) -> None:
        if offset < 0 or offset + size > len(self.data):
            raise EpiclockError(
                f"{self.source}: the IDAT file is truncated: section {section} needs bytes "
                f"{offset}..{offset + size} but the file has {len(self.data)}"
            )

    def int32(self, offset: int, section: str) -> int:
        self._check(offset, 4, section)
        return _INT32.unpack_from(self.data, offset)[0]

    def array(self, offset: int, dtype: str, count: int, section: str) -> np.ndarray:
        dtype = np.dtype(dtype)
        self._check(offset, count * dtype.itemsize, section)
        # Stored in native byte order so that arrays compare and serialise like freshly made ones.
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=offset).astype(dtype.newbyteorder("="), copy=False)

    def counted_array(self, offset: int, section: str) -> np.ndarray:
        count = self.int32(offset, section)
        if count < 0:
            raise EpiclockError(f"{self.source}: section {section} claims a negative length ({count})")
        return self.array(offset + 4, "<i4", count, section)

    def string_at(self, offset: int, section: str) -> tuple[str, int]:
        """The string at ``offset`` and the offset just after it."""
        length, shift, position = 0, 0, offset
        while True:
            self._check(position, 1, section)
            byte = self.data[position]
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        self._check(position, length, section)
        # surrogateescape keeps any non-UTF-8 byte, so writing the string back gives the same bytes.
        text = str(self.data[position:position + length], "utf-8", "surrogateescape")
        return text, position + length

    def string(self, offset: int, section: str) -> str:
        return self.string_at(offset, section)[0]

    def run_info(self, offset: int) -> tuple[RunInfo, ...]:
        section = "run info (300)"
        count = self.int32(offset, section)
        if count < 0:
            raise EpiclockError(f"{self.source}: section {section} claims a negative length ({count})")
        blocks, position = [], offset + 4
        for _ in range(count):
            values = []
            for _ in range(len(RunInfo._fields)):
                text, position = self.string_at(position, section)
                values.append(text)
            blocks.append(RunInfo(*values))
        return tuple(blocks)


# --- writing -------------------------------------------------------------------------------------


def encode_idat(idat: Idat) -> bytes:
    """The bytes of ``idat`` as an uncompressed version-3 IDAT file."""
    blocks: list[tuple[int, bytes]] = [
        (PROBE_COUNT, _INT32.pack(idat.probe_count)),
        (ADDRESSES, idat.addresses.astype("<i4", copy=False).tobytes()),
        (SDS, idat.sds.astype("<u2", copy=False).tobytes()),
        (MEANS, idat.means.astype("<u2", copy=False).tobytes()),
        (BEAD_COUNTS, idat.bead_counts.astype("u1", copy=False).tobytes()),
    ]
    if idat.mid_block is not None:
        blocks.append((MID_BLOCK, _INT32.pack(len(idat.mid_block)) + idat.mid_block.astype("<i4", copy=False).tobytes()))
    if idat.run_info is not None:
        encoded = b"".join(_encode_string(value) for block in idat.run_info for value in block)
        blocks.append((RUN_INFO, _INT32.pack(len(idat.run_info)) + encoded))
    if idat.red_green is not None:
        blocks.append((RED_GREEN, _INT32.pack(idat.red_green)))
    unknown = sorted(set(idat.strings) - set(STRING_SECTIONS))
    if unknown:
        raise EpiclockError(f"IDAT {idat.source or '(in memory)'}: no string section with code(s) {unknown}")
    blocks.extend((code, _encode_string(idat.strings[code])) for code in STRING_SECTIONS if code in idat.strings)

    table = np.zeros(len(blocks), dtype=_SECTION_ENTRY)
    offset = _HEADER.size + len(blocks) * _SECTION_ENTRY.itemsize
    for position, (code, payload) in enumerate(blocks):
        table[position] = (code, offset)
        offset += len(payload)
    header = _HEADER.pack(IDAT_MAGIC, SUPPORTED_VERSION, len(blocks))
    return b"".join([header, table.tobytes(), *(payload for _, payload in blocks)])


def _encode_string(text: str) -> bytes:
    payload = text.encode("utf-8", errors="surrogateescape")
    length, prefix = len(payload), bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            prefix.append(byte | 0x80)
        else:
            prefix.append(byte)
            return bytes(prefix) + payload


def write_idat(idat: Idat, path: str | os.PathLike, *, gzip_backend: str = "auto") -> None:
    """Write ``idat`` to ``path``, gzipped when the name ends in ``.gz``; atomic (temp file + rename)."""
    _check_backend(gzip_backend)
    path = Path(path)
    data = encode_idat(idat)
    if path.suffix == ".gz":
        data = _isal_gzip.compress(data) if _use_isal(gzip_backend) else gzip.compress(data, compresslevel=6)
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


# --- Red/Grn pairs --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IdatPair:
    """The two colour channels of one array (one sample), checked to belong together."""

    basename: str
    red: Idat
    green: Idat

    @property
    def addresses(self) -> np.ndarray:
        return self.green.addresses

    def to_frame(self) -> pd.DataFrame:
        """One row per address: mean, SD and bead count in each channel."""
        return pd.DataFrame({
            "address": self.green.addresses,
            "red_mean": self.red.means,
            "red_sd": self.red.sds,
            "red_beads": self.red.bead_counts,
            "green_mean": self.green.means,
            "green_sd": self.green.sds,
            "green_beads": self.green.bead_counts,
        })


CHANNEL_SUFFIXES = {"red": "_Red.idat", "green": "_Grn.idat"}


def green_idat_prefixes(idat_dir: Path) -> list[tuple[str, Path]]:
    """Every ``<stem>_Grn.idat[.gz]`` under ``idat_dir`` (searched recursively), in path order, as
    (stem, path prefix dir/stem). Several prefixes may share a stem: callers decide what that means."""
    found = []
    for green in sorted(Path(idat_dir).rglob("*_Grn.idat*")):
        if green.name.endswith(("_Grn.idat", "_Grn.idat.gz")):
            stem = green.name.split("_Grn.idat")[0]
            found.append((stem, green.parent / stem))
    return found


def idat_pair_paths(basename: str | os.PathLike) -> tuple[Path, Path]:
    """The (Red, Grn) files of a sample, e.g. ``dir/200000000001_R01C01`` -> its two IDATs.

    Each half may be plain or gzipped; where both exist the plain file is used, as minfi does.
    """
    basename = str(basename)
    found: dict[str, Path] = {}
    for channel, suffix in CHANNEL_SUFFIXES.items():
        for candidate in (Path(basename + suffix), Path(basename + suffix + ".gz")):
            if candidate.is_file():
                found[channel] = candidate
                break
    missing = [suffix for channel, suffix in CHANNEL_SUFFIXES.items() if channel not in found]
    if len(missing) == 2:
        raise EpiclockError(f"{basename}: no IDAT files found (looked for {basename}_Red.idat[.gz] and _Grn.idat[.gz])")
    if missing:
        raise EpiclockError(
            f"{basename}: the {missing[0].strip('_').split('.')[0]} half of the IDAT pair is missing "
            f"(expected {basename}{missing[0]} or {basename}{missing[0]}.gz); every sample needs both"
        )
    return found["red"], found["green"]


def read_idat_pair(basename: str | os.PathLike, *, gzip_backend: str = "auto") -> IdatPair:
    """Read the Red and Grn IDATs of one sample and check that they come from the same array."""
    red_path, green_path = idat_pair_paths(basename)
    red, green = read_idat(red_path, gzip_backend=gzip_backend), read_idat(green_path, gzip_backend=gzip_backend)
    pair = pair_idats(red, green, basename=Path(basename).name)
    if np.array_equal(red.means, green.means):
        # The two channels of a scan never agree on every bead type: this is one file twice.
        raise EpiclockError(
            f"sample {pair.basename}: the Red IDAT ({red.source}) and Grn IDAT ({green.source}) hold identical "
            "intensities, so one file is a copy of the other; copy the right Red and Grn files again"
        )
    return pair


def pair_idats(red: Idat, green: Idat, basename: str) -> IdatPair:
    """Join two channels of one sample; an error if barcodes or addresses differ between them."""
    if red.barcode != green.barcode:
        raise EpiclockError(
            f"sample {basename}: the Red IDAT ({red.source}) has barcode {red.barcode!r} but the Grn IDAT "
            f"({green.source}) has {green.barcode!r}; the files belong to different arrays"
        )
    if red.probe_count != green.probe_count:
        raise EpiclockError(
            f"sample {basename}: the Red IDAT ({red.source}) has {red.probe_count} addresses but the Grn IDAT "
            f"({green.source}) has {green.probe_count}; the files belong to different arrays or one is damaged"
        )
    if not np.array_equal(red.addresses, green.addresses):
        raise EpiclockError(
            f"sample {basename}: the Red IDAT ({red.source}) and Grn IDAT ({green.source}) list different "
            "addresses; the files belong to different arrays"
        )
    return IdatPair(basename=basename, red=red, green=green)
