"""Rule sample_qc: every batch's per-sample tables judged together into the QC table."""

from __future__ import annotations

import logging

from epiclock.io.tables import read_sample_sheet, write_parquet, write_table
from epiclock.qc import assess
from epiclock.steps.batch_tables import read_stacked

log = logging.getLogger("epiclock")


def sample_qc(batches: dict[str, list[str]], samples: str, qc_config: dict, design_config: dict | None,
              missing: dict[str, str], outputs: dict[str, str]) -> None:
    """Every batch's per-sample tables judged together: thresholds, array checks, controls, sex, identity."""
    sheet = read_sample_sheet(samples)
    qc_table, identity = assess.assess(
        read_stacked(batches["samples"]), sheet, read_stacked(batches["snps"], side_by_side=True), missing,
        # A clock-only run names no donors: identity then compares arrays without a sheet to check them against.
        assess.QcThresholds.from_config(qc_config),
        donor_column=design_config["donor_column"] if design_config else None,
        sex_column=qc_config["sex_column"], fail_on=qc_config["fail_on"])
    # The tables are written before any stop, so the reasons are there to read after a fail-fast stop.
    write_table(qc_table, outputs["table_tsv"], outputs["table_parquet"])
    write_table(identity, outputs["identity_tsv"], outputs["identity_parquet"])
    write_table(read_stacked(batches["controls"]), outputs["controls_tsv"], outputs["controls_parquet"])
    write_parquet(read_stacked(batches["density"]), outputs["density"])
    study = assess.sheet_samples(qc_table)
    ignored = qc_table.loc[~qc_table["sample_id"].isin(study["sample_id"]), "sample_id"].tolist()
    if ignored:
        log.warning("%s: %s", assess.NOT_IN_SHEET, ", ".join(ignored))
    failed = study.loc[~study["passed"]]
    for row in failed.itertuples():
        log.warning("quarantined %s: %s", row.sample_id, row.reasons)
    for row in study.loc[study["flags"] != ""].itertuples():
        log.warning("flagged %s: %s", row.sample_id, row.flags)
    log.info("%d of %d samples passed QC", len(study) - len(failed), len(study))
