"""Reading inputs and writing tables: beta matrices, sample sheets, tidy TSV + Parquet outputs.

Every writer goes through a temporary file and a rename, so an interrupted run never leaves a
half-written table behind that a later run would mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from epiclock.errors import EpiclockError

# Infinium probe IDs: CpG (cg), non-CpG (ch), SNP (rs) probes; EPICv2 appends a design suffix
# such as cg00000029_TC21.
PROBE_ID_PATTERN = re.compile(r"^(cg|ch|rs)[0-9]+(_[A-Z]{2}[0-9]+)?$|^ch\.[0-9XY]+\.[0-9]+[FR]?$")

SAMPLE_ID_COLUMN = "sample_id"


def _looks_like_probe_ids(labels: pd.Index) -> float:
    """Share of labels that are Infinium probe IDs."""
    if len(labels) == 0:
        return 0.0
    matches = sum(bool(PROBE_ID_PATTERN.match(str(label))) for label in labels[:2000])
    return matches / min(len(labels), 2000)


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt")
    return open(path, "rt")


def _read_header(path: Path) -> tuple[str, list[str]]:
    """The separator (tab or comma) and the header's field names, as written in the file."""
    try:
        with _open_text(path) as handle:
            first_line = handle.readline()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise EpiclockError(f"{path}: cannot be read as a text table ({error})") from error
    if not first_line.strip():
        raise EpiclockError(f"{path}: the file is empty; expected a beta matrix with a header line")
    separator = "\t" if first_line.count("\t") >= first_line.count(",") else ","
    return separator, [field.strip().strip('"') for field in first_line.rstrip("\r\n").split(separator)]


def read_beta_matrix(path: str | os.PathLike) -> pd.DataFrame:
    """Read a beta-value matrix from TSV or CSV (optionally gzipped).

    CpGs may be rows or columns: the orientation is detected from where the probe IDs are.
    Returns a float64 frame with CpG IDs as the index (``cpg_id``) and sample IDs as columns.
    Values are not range-checked here: that is QC's job, so that one bad sample is quarantined
    instead of failing the whole import.
    """
    path = Path(path)
    if not path.is_file():
        raise EpiclockError(f"{path}: beta matrix not found")
    separator, header = _read_header(path)
    # pandas renames repeated column names (S1, S1.1), so repeats are caught in the raw header.
    named = [field for field in header if field]
    repeated = sorted({field for field in named if named.count(field) > 1})
    if repeated:
        raise EpiclockError(f"{path}: sample IDs appear more than once in the header: {', '.join(repeated[:5])}")
    try:
        table = pd.read_csv(path, sep=separator, low_memory=False)
    except (ValueError, pd.errors.ParserError, OSError, EOFError) as error:
        raise EpiclockError(f"{path}: cannot be parsed as a beta matrix ({error})") from error
    if table.shape[0] == 0 or table.shape[1] < 2:
        raise EpiclockError(f"{path}: the beta matrix has no data rows or no sample columns")
    betas = _orient(table, path)
    betas.index = betas.index.astype(str)
    betas.columns = betas.columns.astype(str)
    betas.index.name = "cpg_id"
    betas.columns.name = None

    duplicated_cpgs = betas.index[betas.index.duplicated()].unique()
    if len(duplicated_cpgs):
        raise EpiclockError(
            f"{path}: {len(duplicated_cpgs)} CpG IDs appear more than once "
            f"(first: {', '.join(duplicated_cpgs[:5])})"
        )
    duplicated_samples = betas.columns[betas.columns.duplicated()].unique()
    if len(duplicated_samples):
        raise EpiclockError(
            f"{path}: sample IDs appear more than once: {', '.join(duplicated_samples[:5])}"
        )
    return _as_float(betas, path)


def _orient(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """CpGs as the index and samples as columns, whichever way round the file has them.

    Exported tables often carry leading row-number columns before the probe IDs (GEO's processed
    beta tables have an unnamed index and 'Unnamed: 0' before ID_REF): those are dropped.
    """
    for position, column in enumerate(table.columns[:4]):
        if _looks_like_probe_ids(pd.Index(table[column].astype(str))) >= 0.5:
            betas = table.iloc[:, position + 1:].set_index(table[column])
            return betas
    if _looks_like_probe_ids(table.columns[1:]) >= 0.5:
        return table.set_index(table.columns[0]).T
    raise EpiclockError(
        f"{path}: found no Infinium probe IDs (cg/ch/rs...) in the first columns or the header; "
        "expected CpGs as rows or as columns"
    )


def _as_float(betas: pd.DataFrame, path: Path) -> pd.DataFrame:
    try:
        return betas.astype(np.float64)
    except (ValueError, TypeError):
        pass
    # Slow path only to name the offending sample and value.
    for sample_id in betas.columns:
        column = pd.to_numeric(betas[sample_id], errors="coerce")
        bad = column.isna() & betas[sample_id].notna()
        if bad.any():
            first_cpg = bad.index[bad.to_numpy()][0]
            raise EpiclockError(
                f"{path}: sample {sample_id!r} has {int(bad.sum())} non-numeric values "
                f"(first at CpG {first_cpg}: {betas.at[first_cpg, sample_id]!r})"
            )
    raise EpiclockError(f"{path}: the beta matrix holds values that are not numbers")


# Illumina SampleSheet.csv names -> epiclock's; Basename is a path prefix of the IDAT pair.
ILLUMINA_SHEET_COLUMNS = {"Sample_Name": "sample_id", "Sentrix_ID": "chip", "Sentrix_Position": "position",
                          "Basename": "basename"}


def _read_sheet_table(path: Path) -> pd.DataFrame:
    """The sheet's table: an Illumina SampleSheet.csv's [Data] section, or a plain TSV/CSV."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        with open(path, "rb") as handle:
            compressed = handle.read(2) == b"\x1f\x8b"
        hint = "it is gzip-compressed; give the unpacked file" if compressed else "save it as UTF-8 text"
        raise EpiclockError(f"{path}: the sample sheet cannot be read as text ({error}); {hint}") from error
    except OSError as error:
        raise EpiclockError(f"{path}: the sample sheet cannot be read ({error})") from error
    if not text.strip():
        raise EpiclockError(f"{path}: the sample sheet is empty; expected a header line (sample_id, donor, "
                            "donor_age, ...) and one row per sample")
    lines = text.splitlines()
    data_start = next((index for index, line in enumerate(lines) if line.strip().strip(",").lower() == "[data]"), None)
    try:
        if data_start is not None:
            table = pd.read_csv(io.StringIO("\n".join(lines[data_start + 1:])), sep=",", dtype=str,
                                keep_default_na=False)
            table = table.loc[:, [column for column in table.columns if not column.startswith("Unnamed")]]
            renames = {old: new for old, new in ILLUMINA_SHEET_COLUMNS.items()
                       if old in table.columns and new not in table.columns}
            return _without_inferred_index(table.rename(columns=renames), path)
        separator = "\t" if lines and lines[0].count("\t") >= lines[0].count(",") else ","
        return _without_inferred_index(pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False),
                                       path)
    except (ValueError, pd.errors.ParserError) as error:
        raise EpiclockError(f"{path}: cannot be parsed as a sample sheet ({error})") from error


def _without_inferred_index(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """pandas turns the leading fields of a first row longer than the header into a row index,
    silently shifting every value one column over: that is an error in a sample sheet."""
    if not isinstance(table.index, pd.RangeIndex):
        raise EpiclockError(
            f"{path}: the first sample row has more fields than the header's {len(table.columns)} column(s) ("
            f"{', '.join(map(str, table.columns[:10]))}); give every row one value per column, tab-separated"
        )
    return table


def read_sample_sheet(path: str | os.PathLike, numeric_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read the sample sheet: tab-separated (or CSV), or Illumina's SampleSheet.csv with a [Data] section.

    Every column is text except the numeric ones named (the design's donor age column: see
    epiclock.config.Settings.sheet_numeric_columns).
    """
    path = Path(path)
    if not path.is_file():
        raise EpiclockError(f"{path}: sample sheet not found")
    sheet = _read_sheet_table(path)
    sheet.columns = [column.strip() for column in sheet.columns]
    repeated = sorted({column for column in sheet.columns if list(sheet.columns).count(column) > 1})
    if repeated:
        raise EpiclockError(f"{path}: the sample sheet has repeated column(s): {', '.join(repeated[:5])}")
    if SAMPLE_ID_COLUMN not in sheet.columns:
        raise EpiclockError(
            f"{path}: the sample sheet has no '{SAMPLE_ID_COLUMN}' column (columns: {', '.join(sheet.columns)})"
        )
    if sheet.empty:
        raise EpiclockError(f"{path}: the sample sheet lists no samples")
    sheet[SAMPLE_ID_COLUMN] = sheet[SAMPLE_ID_COLUMN].str.strip()
    empty = sheet.index[sheet[SAMPLE_ID_COLUMN] == ""]
    if len(empty):
        raise EpiclockError(f"{path}: row {int(empty[0]) + 2} has an empty sample_id")
    duplicated = sheet[SAMPLE_ID_COLUMN][sheet[SAMPLE_ID_COLUMN].duplicated()].unique()
    if len(duplicated):
        rows = [str(position + 2) for position in np.flatnonzero(sheet[SAMPLE_ID_COLUMN] == duplicated[0])]
        raise EpiclockError(f"{path}: duplicate sample_id values: {', '.join(duplicated[:10])} (rows "
                            f"{', '.join(rows)} say {duplicated[0]}); give every array its own sample_id")
    for column in numeric_columns:
        if column not in sheet.columns:
            continue
        values = pd.to_numeric(sheet[column].replace("", np.nan), errors="coerce")
        bad = values.isna() & (sheet[column] != "")
        if bad.any():
            position = int(np.flatnonzero(bad.to_numpy())[0])
            row = sheet.iloc[position]
            raise EpiclockError(
                f"{path}: column '{column}' must be numeric; sample {row[SAMPLE_ID_COLUMN]!r} has {row[column]!r} "
                f"(row {position + 2}, the header being row 1); give a number or leave the cell empty"
            )
        sheet[column] = values
    return sheet


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(descriptor)
    try:
        yield Path(temporary)
        # mkstemp creates the file private (0600); give it the permissions a plain open() would.
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_tsv(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a tidy table for people: tab-separated, no index, NA as empty, floats in full precision."""
    with atomic_path(path) as temporary:
        table.to_csv(temporary, sep="\t", index=False, na_rep="NA")


def write_beta_matrix(betas: pd.DataFrame, path: str | os.PathLike, float_format: str = "%.8f") -> None:
    """A CpG x sample matrix as gzipped TSV, byte-identical for identical input (no name or time in the header)."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
            handle.write(betas.to_csv(sep="\t", float_format=float_format, na_rep="NA").encode())


def write_parquet(table: pd.DataFrame, path: str | os.PathLike, index: bool = False,
                  row_group_size: int | None = None) -> None:
    with atomic_path(path) as temporary:
        table.to_parquet(temporary, index=index, row_group_size=row_group_size)


def write_table(table: pd.DataFrame, tsv_path: str | os.PathLike, parquet_path: str | os.PathLike | None = None) -> None:
    """Write the same tidy table as TSV (for people) and, when asked, Parquet (for machines)."""
    write_tsv(table, tsv_path)
    if parquet_path is not None:
        write_parquet(table, parquet_path)


def write_matrix(betas: pd.DataFrame, path: str | os.PathLike, row_group_size: int | None = None) -> None:
    """Store a CpG x sample matrix as Parquet (the CpG IDs kept as the index)."""
    write_parquet(betas, path, index=True, row_group_size=row_group_size)


def read_matrix(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=columns)
    except (OSError, ValueError) as error:
        raise EpiclockError(f"{path}: cannot read the stored matrix ({error})") from error


# CpGs per Parquet row group of a stored matrix, and per block when one is read or merged in parts.
MATRIX_BLOCK_ROWS = 32_768


def open_matrix(path: str | os.PathLike):
    """A stored CpG x sample matrix opened for reading in blocks: (pyarrow ParquetFile, its row-label column)."""
    try:
        stored = pq.ParquetFile(path)
        metadata = stored.schema_arrow.pandas_metadata or {}
        # The CpG IDs are stored as the pandas index column, under the index's name.
        labels = [name for name in metadata.get("index_columns", []) if isinstance(name, str)]
    except (OSError, ValueError, pa.ArrowException) as error:
        raise EpiclockError(f"{path}: cannot read the stored matrix ({error})") from error
    if not labels:
        raise EpiclockError(f"{path}: the stored matrix has no CpG ID column")
    return stored, labels[0]


def read_matrix_rows(path: str | os.PathLike, wanted: pd.Index, row_names=None,
                     block_rows: int = MATRIX_BLOCK_ROWS) -> pd.DataFrame:
    """The rows of a stored CpG x sample matrix whose names are in ``wanted``, read block by block.

    Only the wanted rows are ever held, so a few thousand clock CpGs of a large batch cost little
    memory. ``row_names`` maps the stored row labels (an Index) to the names compared with
    ``wanted`` (for example EPICv2 probe IDs to CpG IDs); by default the labels themselves.
    """
    stored, label_column = open_matrix(path)
    try:
        blocks = []
        for block in stored.iter_batches(batch_size=block_rows):
            labels = pd.Index(block.column(label_column).to_pandas())
            names = labels if row_names is None else row_names(labels)
            keep = np.flatnonzero(names.isin(wanted))
            if len(keep):
                blocks.append(block.take(pa.array(keep)))
        table = pa.Table.from_batches(blocks, schema=stored.schema_arrow)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise EpiclockError(f"{path}: cannot read the stored matrix ({error})") from error
    return table.to_pandas()
