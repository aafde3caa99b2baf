"""Rule merge_betas: the betas of every sample that passed QC in one matrix."""

from __future__ import annotations

import logging

import pandas as pd

from epiclock.io import merge
from epiclock.qc import assess

log = logging.getLogger("epiclock")


def merge_betas(batch_betas: list[str], qc_table: str, outputs: dict[str, str], method: str,
                fail_fast: bool = False) -> None:
    """The betas (and M-values when asked) of every sample that passed QC in one matrix, streamed in CpG blocks."""
    table = pd.read_parquet(qc_table)
    assess.enforce(table, fail_fast=fail_fast)
    passed = assess.passing_samples(table)
    shape = merge.merge_batches(batch_betas, passed, outputs, method=method)
    log.info("merged %d CpGs x %d samples with method '%s'", *shape, method)
