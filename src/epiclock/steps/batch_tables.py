"""The tables every batch leaves (betas, per-sample tables), written by the import steps and read back together."""

from __future__ import annotations

import pandas as pd

from epiclock.io.tables import MATRIX_BLOCK_ROWS, write_matrix, write_parquet


def write_batch(result, outputs: dict[str, str]) -> None:
    """A batch's betas (in row groups, so later steps can stream them) and its per-sample tables."""
    write_matrix(result.betas, outputs["betas"], row_group_size=MATRIX_BLOCK_ROWS)
    write_parquet(result.samples, outputs["samples"])
    write_parquet(result.control_metrics, outputs["controls"])
    write_parquet(result.snp_betas, outputs["snps"], index=True)
    write_parquet(result.beta_density, outputs["density"])
    for table, matrix in result.intensities.items():
        write_matrix(matrix, outputs[table], row_group_size=MATRIX_BLOCK_ROWS)


def read_stacked(paths: list[str], side_by_side: bool = False) -> pd.DataFrame:
    """One table of every batch, stacked (rows of all batches) or side by side (a matrix's sample columns)."""
    frames = [pd.read_parquet(path) for path in paths]
    return pd.concat(frames, axis=1) if side_by_side else pd.concat(frames, ignore_index=True)
