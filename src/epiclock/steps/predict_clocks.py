"""Rule predict_clocks: the batches' predictions of the samples that passed QC, in the config's clock order."""

from __future__ import annotations

import logging

import pandas as pd

from epiclock.clocks import predict
from epiclock.io.tables import write_table
from epiclock.qc import assess
from epiclock.steps.batch_tables import read_stacked

log = logging.getLogger("epiclock")


def predict_clocks(batch_predictions: list[str], qc_table: str, outputs: dict[str, str], clock_names: list[str],
                   fail_fast: bool = False, batch_details: list[str] | None = None) -> None:
    """The batches' predictions of the samples that passed QC, in the config's clock order, and the
    clocks' further outputs (DETAIL_COLUMNS of epiclock.clocks.clock) of those samples beside them."""
    table = pd.read_parquet(qc_table)
    # The stop comes here, after the QC step has finished: Snakemake removes a failed job's outputs,
    # and the QC table with the reasons must survive a fail-fast stop.
    assess.enforce(table, fail_fast=fail_fast)
    passed = assess.passing_samples(table)
    predictions = read_stacked(batch_predictions)
    predictions = predictions.loc[predictions["sample_id"].isin(passed)]
    order = {name: index for index, name in enumerate(clock_names)}
    sample_order = {sample: index for index, sample in enumerate(passed)}
    predictions = predictions.assign(_clock=predictions["clock"].map(order),
                                     _sample=predictions["sample_id"].map(sample_order))
    predictions = predictions.sort_values(["_clock", "_sample"], kind="stable").drop(columns=["_clock", "_sample"])
    predictions = predictions.reset_index(drop=True)
    for row in predictions.loc[predictions["dnam_age"].isna()].itertuples():
        log.warning("%s / %s: %s", row.sample_id, row.clock, row.status)
    write_table(predictions, outputs["predictions_tsv"], outputs["predictions_parquet"])
    write_table(predict.coverage_table(predictions), outputs["coverage_tsv"], outputs["coverage_parquet"])
    if batch_details is not None:
        details = read_stacked(batch_details)
        details = details.loc[details["sample_id"].isin(passed)]
        details = details.assign(_clock=details["clock"].map(order), _sample=details["sample_id"].map(sample_order))
        details = details.sort_values(["_clock", "_sample", "quantity"], kind="stable").drop(columns=["_clock", "_sample"])
        write_table(details.reset_index(drop=True), outputs["details_tsv"], outputs["details_parquet"])
