"""Rule preprocess_batch: one batch of IDAT pairs preprocessed sample by sample."""

from __future__ import annotations

import logging

import pandas as pd

from epiclock.io.manifest import Manifest
from epiclock.preprocess import pipeline
from epiclock.steps.batch_tables import write_batch

log = logging.getLogger("epiclock")


def preprocess_batch(basenames: dict[str, str], manifests: list[str], probes: list[str], controls: list[str],
                     settings: dict, outputs: dict[str, str]) -> None:
    """One batch of IDAT pairs; ``manifests`` are the run's manifest files, parsed into ``probes`` and ``controls``."""
    parsed = [Manifest(pd.read_parquet(probe_table), pd.read_parquet(control_table), source)
              for source, probe_table, control_table in zip(manifests, probes, controls)]
    chosen = pipeline.PreprocessSettings.from_config(settings)
    _, note = pipeline.resolve_auto(chosen, [manifest.controls for manifest in parsed], manifests)
    if note:
        log.info("%s", note)
    result = pipeline.preprocess_batch(basenames, parsed, chosen)
    for row in result.samples.loc[~result.samples["array_passed"]].itertuples():
        log.warning("quarantined %s: %s", row.sample_id, row.array_reasons)
    write_batch(result, outputs)
