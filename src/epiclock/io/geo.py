"""Files downloaded from NCBI GEO: series matrices and processed signal tables.

- A series matrix (``GSExxx_series_matrix.txt[.gz]``) has ``!Series_*`` lines about the study,
  ``!Sample_*`` lines with one tab-separated, quoted value per sample (title, accession,
  ``!Sample_characteristics_ch1`` lines of ``key: value`` pairs, ...), then a beta table between
  ``!series_matrix_table_begin`` and ``!series_matrix_table_end`` (``ID_REF`` + one column per GSM).
- A processed signal table has, per sample, ``<id> Unmethylated signal``, ``<id> Methylated signal``
  and usually ``<id> Detection Pval`` columns beside the probe IDs (``ID_REF``), often after an
  unnamed row-number column.

Betas from a signal table (``arrays.betas.signal_table_betas``) are computed as Illumina's
GenomeStudio exports them, ``max(M, 0) / (max(M, 0) + max(U, 0) + 100)``: the offset of 100 is
GenomeStudio's, and the clipping at 0 matters because GenomeStudio signals are background-subtracted
and can be negative.
Using GenomeStudio's formula keeps betas computed here comparable with the betas the submitters
deposited from the same signals. (Raw IDAT betas elsewhere in epiclock use minfi's offset 0.)
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.io.tables import PROBE_ID_PATTERN

TABLE_BEGIN = "!series_matrix_table_begin"
TABLE_END = "!series_matrix_table_end"
GENOMESTUDIO_OFFSET = 100.0
CHARACTERISTICS_PREFIX = "characteristics_"
# How GEO tables write a missing value.
MISSING_VALUES = ("", "null", "NULL", "NA", "NaN")

_SIGNAL_COLUMN = re.compile(
    r"^(?P<sample>.+?)[ ._-]+(?P<kind>unmethylated[ ._-]*signal|methylated[ ._-]*signal|detection[ ._-]*p[ ._-]*val(?:ue)?)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SeriesMatrix:
    """A GEO series matrix: study fields, one row of annotation per sample, and the beta matrix."""

    series: dict[str, list[str]]
    samples: pd.DataFrame
    betas: pd.DataFrame


@dataclass(frozen=True)
class SignalTable:
    """Per-sample signals of a GEO processed signal table (CpGs x samples); ``arrays.betas.signal_table_betas``
    gives the betas from them."""

    methylated: pd.DataFrame
    unmethylated: pd.DataFrame
    detection_p: pd.DataFrame


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise EpiclockError(f"{path}: file not found")
    try:
        raw = path.read_bytes()
        if raw.startswith(b"\x1f\x8b"):
            raw = gzip.decompress(raw)
        return raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
    except (OSError, EOFError) as error:
        raise EpiclockError(f"{path}: cannot be read ({error})") from error


# --- series matrix -------------------------------------------------------------------------------


def read_series_matrix(path: str | os.PathLike) -> SeriesMatrix:
    """Read a GEO series matrix: ``series`` fields, a ``samples`` table and the ``betas`` matrix.

    ``samples`` is indexed by ``sample_id`` (the GSM accession); each ``key: value`` characteristic
    becomes a column named after its key (e.g. ``gender``). Other fields that GEO repeats on several
    lines (data_processing, contact, ...) are joined with '; '. ``betas`` has CpGs as rows
    (``cpg_id``) and GSM accessions as columns.
    """
    path = Path(path)
    text = _read_text(path)
    begin, end = text.find(TABLE_BEGIN), text.find(TABLE_END)
    if begin == -1 or end == -1 or end < begin:
        raise EpiclockError(
            f"{path}: not a GEO series matrix (needs '{TABLE_BEGIN}' and '{TABLE_END}' lines); "
            "download the *_series_matrix.txt.gz file of the series"
        )
    header_lines = text[:begin].split("\n")
    series = _series_fields(header_lines)
    samples = _sample_table(header_lines, path)
    table_start = text.index("\n", begin) + 1
    betas = _series_betas(text[table_start:end], path)
    unknown = [column for column in betas.columns if column not in samples.index]
    if unknown:
        raise EpiclockError(
            f"{path}: the beta table has columns that no !Sample_geo_accession line names: {', '.join(unknown[:5])}"
        )
    return SeriesMatrix(series=series, samples=samples, betas=betas)


def _tab_fields(line: str) -> list[str]:
    return next(csv.reader([line], delimiter="\t", quotechar='"'))


def _series_fields(lines: list[str]) -> dict[str, list[str]]:
    series: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("!Series_"):
            fields = _tab_fields(line)
            series.setdefault(fields[0].removeprefix("!Series_"), []).extend(fields[1:])
    return series


def _sample_table(lines: list[str], path: Path) -> pd.DataFrame:
    rows = [_tab_fields(line) for line in lines if line.startswith("!Sample_")]
    accessions = next((row[1:] for row in rows if row[0] == "!Sample_geo_accession"), None)
    if not accessions:
        raise EpiclockError(f"{path}: no '!Sample_geo_accession' line; cannot tell which sample is which")
    columns: dict[str, list[str | None]] = {}
    for row in rows:
        key, values = row[0].removeprefix("!Sample_"), row[1:]
        if len(values) != len(accessions):
            raise EpiclockError(
                f"{path}: line '!Sample_{key}' has {len(values)} values for {len(accessions)} samples"
            )
        if key.startswith(CHARACTERISTICS_PREFIX):
            _add_characteristics(columns, key, values)
        elif key in columns:
            columns[key] = [_joined(old, new) for old, new in zip(columns[key], values)]
        else:
            columns[key] = list(values)
    samples = pd.DataFrame(columns, index=pd.Index(accessions, name="sample_id"))
    return samples.drop(columns="geo_accession")


def _add_characteristics(columns: dict[str, list[str | None]], key: str, values: list[str]) -> None:
    """'gender: Female' -> column 'gender'; a value without 'key: ' stays under the line's own key."""
    sample_count = len(values)
    for position, value in enumerate(values):
        if not value.strip():
            continue
        name, separator, content = value.partition(":")
        column, content = (name.strip(), content.strip()) if separator else (key, value.strip())
        cells = columns.setdefault(column, [None] * sample_count)
        cells[position] = _joined(cells[position], content)


def _joined(old: str | None, new: str) -> str:
    return new if old in (None, "") else f"{old}; {new}"


def _series_betas(block: str, path: Path) -> pd.DataFrame:
    if not block.strip():
        raise EpiclockError(
            f"{path}: the series matrix holds no beta values (its table is empty); the data are in the "
            "series' supplementary files"
        )
    try:
        # A clean table parses straight to floats; only a table with a bad cell is read again as text
        # to name that cell.
        betas = pd.read_csv(io.StringIO(block), sep="\t", quotechar='"', index_col=0, keep_default_na=False,
                            na_values=list(MISSING_VALUES))
        if not all(dtype.kind in "fi" for dtype in betas.dtypes):
            raise ValueError("non-numeric cells")
        betas = betas.astype(np.float64)
    except ValueError:
        try:
            text = pd.read_csv(io.StringIO(block), sep="\t", quotechar='"', index_col=0, dtype=str,
                               keep_default_na=False)
        except (ValueError, pd.errors.ParserError) as error:
            raise EpiclockError(f"{path}: the series matrix table cannot be parsed ({error})") from error
        betas = _numeric(text, path, "beta")
    betas.index = betas.index.astype(str).str.strip()
    betas.index.name = "cpg_id"
    betas.columns = betas.columns.astype(str).str.strip()
    return betas


def _numeric(table: pd.DataFrame, path: Path, what: str) -> pd.DataFrame:
    """Text cells to float64; empty, 'null' and 'NA' are missing; anything else non-numeric is an error."""
    values = table.replace({missing: np.nan for missing in MISSING_VALUES})
    numbers = values.apply(pd.to_numeric, errors="coerce").astype(np.float64)
    bad = numbers.isna() & values.notna()
    if bad.to_numpy().any():
        column = bad.any().idxmax()
        row = bad[column].idxmax()
        raise EpiclockError(
            f"{path}: column {column!r} has {int(bad[column].sum())} non-numeric {what} values "
            f"(first at {row}: {table.at[row, column]!r})"
        )
    return numbers


# --- processed signal tables -----------------------------------------------------------------------


def read_signal_table(path: str | os.PathLike) -> SignalTable:
    """Read a GEO processed signal table (betas: ``arrays.betas.signal_table_betas``, GenomeStudio's formula).

    Every sample needs both a methylated and an unmethylated column; detection p-values are kept
    where present (``detection_p`` has a column only for samples that have them).
    """
    path = Path(path)
    text = _read_text(path)
    first_line = text.split("\n", 1)[0]
    separator = "\t" if first_line.count("\t") >= first_line.count(",") else ","
    try:
        table = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as error:
        raise EpiclockError(f"{path}: cannot be parsed as a signal table ({error})") from error
    probe_column = _probe_column(table, path)
    table = table.set_index(table[probe_column].str.strip().rename("cpg_id"))

    kinds: dict[str, dict[str, str]] = {"methylated": {}, "unmethylated": {}, "detection_p": {}}
    for column in table.columns:
        match = _SIGNAL_COLUMN.match(str(column).strip())
        if match:
            kind = match.group("kind").lower()
            key = "detection_p" if kind.startswith("detection") else (
                "unmethylated" if kind.startswith("unmethylated") else "methylated")
            kinds[key][match.group("sample").strip()] = column
    samples = list(dict.fromkeys([*kinds["unmethylated"], *kinds["methylated"]]))
    if not samples:
        raise EpiclockError(
            f"{path}: no '<sample> Methylated signal' / '<sample> Unmethylated signal' columns found; "
            "is this a processed signal table?"
        )
    for sample in samples:
        for kind in ("methylated", "unmethylated"):
            if sample not in kinds[kind]:
                raise EpiclockError(f"{path}: sample {sample!r} has no {kind} signal column; every sample needs both")

    def frame(kind: str, names: list[str]) -> pd.DataFrame:
        selected = table[[kinds[kind][name] for name in names]]
        selected.columns = names
        return _numeric(selected, path, kind.replace("_", " "))

    methylated = frame("methylated", samples)
    unmethylated = frame("unmethylated", samples)
    detection_p = frame("detection_p", [sample for sample in samples if sample in kinds["detection_p"]])
    return SignalTable(methylated=methylated, unmethylated=unmethylated, detection_p=detection_p)


def _probe_column(table: pd.DataFrame, path: Path) -> str:
    for column in table.columns:
        if str(column).strip().upper() in ("ID_REF", "TARGETID", "PROBE_ID"):
            return column
    for column in table.columns[:4]:
        sample = table[column].head(200).str.strip()
        if len(sample) and sample.str.match(PROBE_ID_PATTERN).mean() >= 0.5:
            return column
    raise EpiclockError(f"{path}: found no probe ID column (ID_REF, or cg/ch/rs IDs in the first columns)")
