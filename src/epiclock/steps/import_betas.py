"""Rule import_betas: a beta matrix (plain, GEO series matrix or GEO signal table) as one batch."""

from __future__ import annotations

import logging

from epiclock.arrays.betas import signal_table_betas
from epiclock.errors import EpiclockError
from epiclock.io import geo
from epiclock.io.tables import read_beta_matrix
from epiclock.preprocess import pipeline
from epiclock.steps.batch_tables import write_batch

log = logging.getLogger("epiclock")


def import_betas(betas: str, outputs: dict[str, str], kind: str = "betas") -> None:
    """A beta matrix as one batch; ``kind`` says its format: betas, geo_series_matrix or geo_signals."""
    if kind == "betas":
        table = read_beta_matrix(betas)
    elif kind == "geo_series_matrix":
        table = geo.read_series_matrix(betas).betas
    elif kind == "geo_signals":
        table = signal_table_betas(geo.read_signal_table(betas))
    else:
        raise EpiclockError(f"config input.type: unknown {kind!r}")
    log.info("imported %d CpGs x %d samples from %s", table.shape[0], table.shape[1], betas)
    write_batch(pipeline.BatchResult.from_matrix(table), outputs)
