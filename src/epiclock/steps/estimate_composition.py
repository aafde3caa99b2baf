"""Rule estimate_composition: cell-type fractions of the samples that passed QC, and per contrast the
paired test of each fraction."""

from __future__ import annotations

import logging

import pandas as pd

from epiclock import composition, deltas
from epiclock.clocks import preprocessing
from epiclock.deltas import fractions as deltas_fractions
from epiclock.io import merge
from epiclock.io.tables import read_matrix_rows, read_sample_sheet, write_table
from epiclock.qc import assess

log = logging.getLogger("epiclock")


def estimate_composition(matrices: list[str], qc_table: str, samples: str, settings: dict, design_config: dict | None,
                         contrasts_config: list[dict], outputs: dict[str, str]) -> None:
    """Cell-type fractions of the samples that passed QC on the chosen references
    (results/qc/composition), and per contrast the paired test of each fraction
    (results/qc/composition_contrasts)."""
    passed = assess.passing_samples(pd.read_parquet(qc_table))
    names = list(settings["references"])
    wanted = pd.Index(sorted(set().union(*(composition.load(name).index for name in names)))) if names else pd.Index([])
    frames = []
    for matrix in matrices:
        betas = read_matrix_rows(matrix, wanted, row_names=preprocessing.cpg_names)
        betas = preprocessing.collapse_replicate_probes(merge.mask_invalid(betas))
        betas = betas.loc[:, betas.columns.isin(passed)]
        if betas.shape[1]:
            frames.append(composition.composition_table(betas, names, settings["method"]))
    fractions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=composition.table.COLUMNS)
    order = {sample: index for index, sample in enumerate(passed)}
    fractions = (fractions.assign(_sample=fractions["sample_id"].map(order))
                 .sort_values(["reference", "_sample"], kind="stable").drop(columns="_sample").reset_index(drop=True))
    for reference, rows in fractions.groupby("reference", sort=False):
        missing = rows.loc[rows["fraction"].isna(), "sample_id"].unique()
        log.info("%s: fractions of %d samples", reference, rows["sample_id"].nunique() - len(missing))
        for sample in missing:
            log.warning("%s / %s: no fractions, too few of the reference's CpGs measured", sample, reference)
    write_table(fractions, outputs["fractions_tsv"], outputs["fractions_parquet"])
    if design_config:
        design = deltas.Design.from_config(design_config)
        contrasts = [deltas.Contrast.from_config(entry) for entry in contrasts_config]
        table = deltas_fractions.fraction_contrasts(fractions, read_sample_sheet(samples), contrasts, design)
    else:                         # a clock-only run compares nothing
        table = pd.DataFrame(columns=deltas_fractions.FRACTION_CONTRAST_COLUMNS)
    write_table(table, outputs["contrasts_tsv"], outputs["contrasts_parquet"])
