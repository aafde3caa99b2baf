"""Normalisation of betas before the clocks.

Beta matrices arrive already normalised by whoever produced them, so the only method for them is
'none': the samples that passed QC are kept as they are, except that values no beta can take
(outside [0, 1], infinite) are masked as missing so that no clock reads them. Normalisations that
need intensities (noob, dye bias, BMIQ) belong to the IDAT route.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from epiclock.errors import EpiclockError
from epiclock.io.tables import atomic_path, open_matrix

METHODS = ("none",)


def check_method(method: str) -> None:
    if method not in METHODS:
        raise EpiclockError(f"normalize: unknown method {method!r}; for beta matrices choose one of {', '.join(METHODS)}")


def mask_invalid(betas: pd.DataFrame) -> pd.DataFrame:
    """Values no beta can take (outside [0, 1], infinite) as missing, so that no clock reads them.

    Floating-point values keep their precision (float32 batches stay float32: half the memory).
    """
    values = betas.to_numpy()
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    with np.errstate(invalid="ignore"):
        invalid = ~np.isfinite(values) | (values < 0) | (values > 1)
    return pd.DataFrame(np.where(invalid, np.nan, values).astype(values.dtype, copy=False), index=betas.index,
                        columns=betas.columns)


# Betas this close to 0 or 1 are taken as that far from them for M-values, which are then finite.
M_VALUE_CLIP = 1e-6


def m_values(betas: pd.DataFrame) -> pd.DataFrame:
    """M-values log2(beta / (1 - beta)) (as minfi's getM on betas), betas clipped to [1e-6, 1 - 1e-6]."""
    clipped = betas.astype(np.float64).clip(M_VALUE_CLIP, 1 - M_VALUE_CLIP)
    return np.log2(clipped / (1 - clipped))


def merge_batches(batch_paths: list[str], samples: list[str], outputs: dict[str, str],
                  method: str = "none") -> tuple[int, int]:
    """Write the betas of ``samples`` from every batch's matrix into one CpG x sample Parquet matrix.

    ``outputs`` names the files: ``betas``, and ``m_values`` for the M-values beside them. The
    batches are read one row group (a block of CpGs) at a time and the block is written before the
    next is read, so memory holds one block of every sample, never the whole matrix. Every batch
    must carry the same CpGs in the same order (one manifest per run). Returns the shape.
    """
    opened = [open_matrix(path) for path in batch_paths]
    wanted = set(samples)
    chosen = [[name for name in file.schema_arrow.names if name in wanted] for file, _ in opened]
    found = [name for names in chosen for name in names]
    absent = sorted(wanted - set(found))
    if absent:
        raise EpiclockError(f"normalize: samples passed QC but are in no batch matrix: {', '.join(absent[:10])}")
    shapes = [(file.metadata.num_rows, file.metadata.num_row_groups) for file, _ in opened]
    for path, shape in zip(batch_paths[1:], shapes[1:]):
        if shape != shapes[0]:
            raise EpiclockError(f"{path}: its CpGs differ from those of {batch_paths[0]} ({shape[0]} rows against "
                                f"{shapes[0][0]}); every sample of a run must be preprocessed with one manifest")
    check_method(method)
    order = {sample: index for index, sample in enumerate(samples)}
    transforms = {"betas": lambda block: block, "m_values": m_values}
    with contextlib.ExitStack() as stack:
        temporaries = {name: stack.enter_context(atomic_path(path)) for name, path in outputs.items()}
        writers: dict[str, pq.ParquetWriter] = {}
        try:
            for group in range(shapes[0][1]):
                blocks = [file.read_row_group(group, columns=[label, *names]).to_pandas()
                          for (file, label), names in zip(opened, chosen)]
                for path, block in zip(batch_paths[1:], blocks[1:]):
                    if not block.index.equals(blocks[0].index):
                        raise EpiclockError(f"{path}: its CpGs differ from those of {batch_paths[0]}; every sample "
                                            "of a run must be preprocessed with one manifest")
                merged = pd.concat(blocks, axis=1)
                merged = mask_invalid(merged[sorted(merged.columns, key=order.get)])
                for name, temporary in temporaries.items():
                    table = pa.Table.from_pandas(transforms[name](merged).astype(np.float32), preserve_index=True)
                    if name not in writers:
                        writers[name] = pq.ParquetWriter(temporary, table.schema)
                    writers[name].write_table(table)
        except (OSError, pa.ArrowException) as error:
            raise EpiclockError(f"normalize: cannot merge the batch matrices ({error})") from error
        finally:
            for writer in writers.values():
                writer.close()
    return shapes[0][0], len(found)
