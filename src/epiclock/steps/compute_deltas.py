"""Rule compute_deltas: per-sample deltas, per-condition summaries and the contrasts."""

from __future__ import annotations

import pandas as pd

from epiclock import deltas
from epiclock.composition import table as composition_table
from epiclock.deltas import units
from epiclock.io.tables import read_sample_sheet, write_table


def compute_deltas(predictions: str, samples: str, design_config: dict, contrast_config: list[dict],
                   outputs: dict[str, str], adjust_for: list[str] | None = None, composition: str | None = None) -> None:
    """Per-sample deltas, per-condition means and contrasts; with ``adjust_for``, the contrasts also
    adjusted for those cell fractions (read from the composition step's table)."""
    design = deltas.Design.from_config(design_config)
    sheet = read_sample_sheet(samples, numeric_columns=(design.donor_age_column,))
    contrasts = [deltas.Contrast.from_config(entry) for entry in contrast_config]
    deltas.check_design(sheet, design, source=samples)
    deltas.check_contrasts(contrasts, sheet, design)
    prediction_table = pd.read_parquet(predictions)
    per_sample = deltas.per_sample(prediction_table, sheet, design)
    adjust_for = list(adjust_for or [])
    if adjust_for:
        covariates = composition_table.covariates(pd.read_parquet(composition), adjust_for)
        per_sample = per_sample.join(covariates, on="sample_id")
    per_condition = deltas.per_condition(per_sample, design)
    contrast_table = units.with_units(deltas.contrast_table(per_sample, contrasts, design, adjust_for),
                                      units.clock_units(prediction_table))
    write_table(per_sample, outputs["per_sample_tsv"], outputs["per_sample_parquet"])
    write_table(per_condition, outputs["per_condition_tsv"], outputs["per_condition_parquet"])
    write_table(contrast_table, outputs["contrasts_tsv"], outputs["contrasts_parquet"])
