"""One function per workflow step: read the step's files, call the library, write the step's files.

The Snakemake scripts under scripts/ only unpack ``snakemake.input/output/params`` and call one of
these through ``run_step``, which sends the step's log to the rule's log file and turns the
project's own errors into a one-line message instead of a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.io import (read_beta_matrix, read_matrix, read_sample_sheet, write_matrix, write_table,
                         write_text)

# Each step imports only its own stage module: every Snakemake job is a fresh Python process, and
# importing all stages (scikit-learn, matplotlib, scipy) would cost each job seconds.

log = logging.getLogger("epiclock")


def run_step(snakemake, step, **kwargs) -> None:
    """Run ``step(**kwargs)`` with logging to the rule's log; exit 1 with the message on a known error."""
    log_path = snakemake.log[0] if len(snakemake.log) else None
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers,
                        force=True)
    try:
        step(**kwargs)
    except EpiclockError as error:
        log.error("%s", error)
        sys.exit(1)


def import_betas(betas: str, matrix: str) -> None:
    table = read_beta_matrix(betas)
    log.info("imported %d CpGs x %d samples from %s", table.shape[0], table.shape[1], betas)
    write_matrix(table, matrix)


def quality_control(matrix: str, samples: str, table_tsv: str, table_parquet: str, qc_config: dict) -> None:
    from epiclock import qc

    sheet = read_sample_sheet(samples)
    betas = read_matrix(matrix)
    qc_table = qc.sample_qc(betas, sheet["sample_id"].tolist(), qc.QcThresholds.from_config(qc_config))
    # The table is written before any stop, so the reasons are there to read after a fail-fast stop.
    write_table(qc_table, table_tsv, table_parquet)
    failed = qc_table.loc[~qc_table["passed"]]
    for row in failed.itertuples():
        log.warning("quarantined %s: %s", row.sample_id, row.reasons)
    log.info("%d of %d samples passed QC", len(qc_table) - len(failed), len(qc_table))
    qc.enforce(qc_table, fail_fast=bool(qc_config["fail_fast"]))


def normalize_betas(matrix: str, qc_table: str, normalized: str, method: str) -> None:
    from epiclock import normalize, qc

    passed = qc.passing_samples(pd.read_parquet(qc_table))
    betas = normalize.normalize(read_matrix(matrix, columns=None), passed, method=method)
    log.info("normalised %d samples with method '%s'", betas.shape[1], method)
    write_matrix(betas, normalized)


def predict_clocks(matrix: str, predictions_tsv: str, predictions_parquet: str, clock_config: dict) -> None:
    from epiclock import clocks

    betas = read_matrix(matrix)
    predictions = clocks.predict(betas, list(clock_config["names"]), imputation=clock_config["imputation"],
                                 min_coverage=float(clock_config["min_coverage"]))
    for row in predictions.loc[predictions["dnam_age"].isna()].itertuples():
        log.warning("%s / %s: %s", row.sample_id, row.clock, row.status)
    write_table(predictions, predictions_tsv, predictions_parquet)


def compute_deltas(predictions: str, samples: str, design_config: dict, contrast_config: list[dict],
                   outputs: dict[str, str]) -> None:
    from epiclock import deltas

    sheet = read_sample_sheet(samples)
    design = deltas.Design.from_config(design_config)
    contrasts = [deltas.Contrast.from_config(entry) for entry in contrast_config]
    deltas.check_design(sheet, design, source=samples)
    deltas.check_contrasts(contrasts, sheet, design)
    per_sample = deltas.per_sample(pd.read_parquet(predictions), sheet, design)
    per_condition = deltas.per_condition(per_sample, design)
    contrast_table = deltas.contrast_table(per_sample, contrasts, design)
    write_table(per_sample, outputs["per_sample_tsv"], outputs["per_sample_parquet"])
    write_table(per_condition, outputs["per_condition_tsv"], outputs["per_condition_parquet"])
    write_table(contrast_table, outputs["contrasts_tsv"], outputs["contrasts_parquet"])


def write_provenance(config: dict, inputs: dict[str, str], output: str) -> None:
    from epiclock import provenance

    record = provenance.build(config, inputs)
    write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n", output)


def write_figures(per_sample: str, contrasts: str, config: dict, figure_dir: str) -> None:
    from epiclock import report

    rendered = report.figures(pd.read_parquet(per_sample), pd.read_parquet(contrasts), config)
    Path(figure_dir).mkdir(parents=True, exist_ok=True)
    for name, svg in rendered.items():
        write_text(svg, Path(figure_dir) / f"{name}.svg")


def write_report(qc_table: str, predictions: str, per_sample: str, per_condition: str, contrasts: str,
                 provenance_json: str, figure_dir: str, config: dict, output: str) -> None:
    from epiclock import report

    figures = {path.stem: path.read_text(encoding="utf-8") for path in sorted(Path(figure_dir).glob("*.svg"))}
    inputs = report.ReportInputs(
        qc=pd.read_parquet(qc_table), predictions=pd.read_parquet(predictions),
        per_sample=pd.read_parquet(per_sample), per_condition=pd.read_parquet(per_condition),
        contrasts=pd.read_parquet(contrasts), provenance=json.loads(Path(provenance_json).read_text()),
        config=config, figures=figures,
    )
    write_text(report.render(inputs), output)
    log.info("report written to %s", output)
