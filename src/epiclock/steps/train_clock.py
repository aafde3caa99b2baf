"""Rule train_clock: a custom clock trained on the config's reference cohort."""

from __future__ import annotations

import logging

import pandas as pd

from epiclock.clocks import training
from epiclock.errors import EpiclockError
from epiclock.io.tables import read_beta_matrix
from epiclock.report import provenance

log = logging.getLogger("epiclock")


def training_groups(age_table: pd.DataFrame, column: str, source: str, name: str) -> tuple[pd.Series | None, str]:
    """The training sheet's group (donor) per sample and a note for the model card; no groups when
    the sheet has no such column (every sample its own group)."""
    if column not in age_table.columns:
        note = f"the training sheet has no '{column}' column: each sample is its own group"
        log.warning("custom clock %s: %s; replicates of one donor would make the error optimistic", name, note)
        return None, note
    missing = age_table.loc[age_table[column].isna(), "sample_id"]
    if len(missing):
        row = int(missing.index[0]) + 2   # 1-based, after the header line
        raise EpiclockError(f"{source}: row {row}, sample {missing.iloc[0]!r}: custom clock '{name}' groups folds by "
                            f"'{column}', which is empty here; fill it in (the donor of the sample)")
    return pd.Series(age_table[column].astype(str).to_numpy(), index=age_table["sample_id"], name=column), ""


def train_clock(name: str, betas: str, ages: str, settings: dict, out_dir: str, threads: int = 1) -> None:
    """A custom clock trained on ``betas`` and ``ages`` (sample_id and the age column), written to ``out_dir``."""
    betas_table = read_beta_matrix(betas)
    age_table = pd.read_csv(ages, sep="\t", dtype={"sample_id": str})
    age_column = settings.get("age_column", "age")
    for column in ("sample_id", age_column):
        if column not in age_table.columns:
            raise EpiclockError(f"{ages}: custom clock '{name}' needs a '{column}' column "
                                f"(columns: {', '.join(age_table.columns)})")
    age_values = pd.to_numeric(age_table[age_column], errors="coerce")
    if age_values.isna().any():
        bad = age_table.loc[age_values.isna(), "sample_id"].iloc[0]
        raise EpiclockError(f"{ages}: sample {bad!r} has no numeric '{age_column}'")
    estimator = training.ElasticNetClock(**training.estimator_parameters(settings), n_jobs=threads)
    groups, group_note = training_groups(age_table, settings.get("group_column", "donor"), ages, name)
    trained = training.train_clock(name, betas_table, pd.Series(age_values.to_numpy(), index=age_table["sample_id"]),
                                   estimator, outer_folds=int(settings.get("outer_folds", 5)), groups=groups,
                                   group_note=group_note, training_files={"betas": betas, "ages": ages},
                                   tissue=settings.get("tissue", "not stated"), array=settings.get("array", "not stated"))
    log.info("clock %s: %d CpGs kept, outer-CV MAE %.2f years", name, trained.card["n_cpgs_kept"],
             trained.card["outer_cv"]["mae_years"])
    training.write_trained_clock(trained, out_dir, provenance.software_versions())
