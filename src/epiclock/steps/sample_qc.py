"""Rule sample_qc: every batch's per-sample tables judged together into the QC table."""

from __future__ import annotations

import logging

from epiclock.io.tables import read_sample_sheet, write_parquet, write_table
from epiclock.qc import assess
from epiclock.steps.batch_tables import read_stacked

log = logging.getLogger("epiclock")


def sample_qc(batches: dict[str, list[str]], samples: str, qc_config: dict, design_config: dict,
              missing: dict[str, str], outputs: dict[str, str]) -> None:
    """Every batch's per-sample tables judged together: thresholds, array checks, controls, sex, identity."""
    sheet = read_sample_sheet(samples)
    qc_table, identity = assess.assess(
        read_stacked(batches["samples"]), sheet, read_stacked(batches["snps"], side_by_side=True), missing,
        assess.QcThresholds.from_config(qc_config), donor_column=design_config["donor_column"],
        sex_column=qc_config["sex_column"], fail_on=qc_config["fail_on"])
    # The tables are written before any stop, so the reasons are there to read after a fail-fast stop.
    write_table(qc_table, outputs["table_tsv"], outputs["table_parquet"])
    write_table(identity, outputs["identity_tsv"], outputs["identity_parquet"])
    write_table(read_stacked(batches["controls"]), outputs["controls_tsv"], outputs["controls_parquet"])
    write_parquet(read_stacked(batches["density"]), outputs["density"])
    failed = qc_table.loc[~qc_table["passed"]]
    for row in failed.itertuples():
        log.warning("quarantined %s: %s", row.sample_id, row.reasons)
    for row in qc_table.loc[qc_table["flags"] != ""].itertuples():
        log.warning("flagged %s: %s", row.sample_id, row.flags)
    log.info("%d of %d samples passed QC", len(qc_table) - len(failed), len(qc_table))
