"""How close a finished run's ages and contrasts are to the simulated truth (after `make run`).

Per clock with a simulated truth: mean and SD of (DNAm age - true age) over samples. For each contrast
and clock: the estimate and its 95% CI in the clock's own unit (`estimate`, `unit` of contrasts.tsv:
years, kb, years per year, divisions, score), beside the realised truth (the same contrast computed on
the true ages) where the simulator records one; one table per unit, so no difference is read as years.

    .venv/bin/python bench/demo_accuracy.py [--results results] [--truth resources/demo/truth.tsv]
"""

import argparse

import pandas as pd
import yaml

from epiclock import deltas
from epiclock.config import validate
from epiclock.deltas import units as delta_units


def contrast_accuracy(measured: pd.DataFrame, realised: pd.DataFrame) -> pd.DataFrame:
    """contrasts.tsv's rows with ``estimate_truth``: the realised contrast of the true readings (same unit)."""
    truth = realised[["contrast", "clock", "estimate"]].rename(columns={"estimate": "estimate_truth"})
    return measured.merge(truth, on=["contrast", "clock"], how="left")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default="results")
    parser.add_argument("--truth", default="resources/demo/truth.tsv")
    parser.add_argument("--samples", default="resources/demo/samples.tsv")
    parser.add_argument("--config", default="config/config.yaml")
    arguments = parser.parse_args()

    predictions = pd.read_csv(f"{arguments.results}/clocks/predictions.tsv", sep="\t")
    truth = pd.read_csv(arguments.truth, sep="\t")
    clock_units = delta_units.clock_units(predictions)
    merged = predictions.merge(truth, on=["sample_id", "clock"]).dropna(subset=["dnam_age"])
    merged["error"] = merged["dnam_age"] - merged["true_dnam_age"]
    print("per-sample error of each clock's reading against the simulated truth (in the clock's unit):")
    errors = merged.groupby("clock")["error"].agg(["mean", "std", "count"]).round(3)
    errors.insert(0, "unit", errors.index.map(clock_units))
    print(errors.to_string())

    config = yaml.safe_load(open(arguments.config))
    design = deltas.Design.from_config(validate(config)["design"])
    sheet = pd.read_csv(arguments.samples, sep="\t", dtype=str).astype({"donor_age": float})
    true_predictions = truth.loc[~truth["simulated_failure"]].rename(columns={"true_dnam_age": "dnam_age"})
    true_predictions["status"] = "truth"
    contrasts = [deltas.Contrast.from_config(entry) for entry in config["contrasts"]]
    realised = delta_units.with_units(
        deltas.contrast_table(deltas.per_sample(true_predictions, sheet, design), contrasts, design),
        {clock: clock_units[clock] for clock in true_predictions["clock"].unique()})
    measured = pd.read_csv(f"{arguments.results}/deltas/contrasts.tsv", sep="\t")
    table = contrast_accuracy(measured, realised)
    columns = ["contrast", "clock", "estimate", "ci_low", "ci_high", "estimate_truth"]
    # Years first: the clocks the simulator records a truth for.
    for unit in sorted(table["unit"].unique(), key=lambda unit: (unit != delta_units.YEARS, unit)):
        rows = table.loc[table["unit"] == unit]
        print(f"\ncontrasts in {unit}: estimate [95% CI] against the contrast of the true readings "
              "(NaN: the simulator records no truth for the clock):")
        print(rows[columns].to_string(index=False, float_format=lambda value: f"{value:.4g}"))


if __name__ == "__main__":
    main()
