"""How close a finished run's ages and contrasts are to the simulated truth (after `make run`).

Per clock: mean and SD of (DNAm age - true age) over samples, and for each contrast the estimate
beside the planted effect and the realised truth (the same contrast computed on the true ages).

    .venv/bin/python bench/demo_accuracy.py [--results results] [--truth resources/demo/truth.tsv]
"""

import argparse

import pandas as pd
import yaml

from epiclock import deltas
from epiclock.config import validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default="results")
    parser.add_argument("--truth", default="resources/demo/truth.tsv")
    parser.add_argument("--samples", default="resources/demo/samples.tsv")
    parser.add_argument("--config", default="config/config.yaml")
    arguments = parser.parse_args()

    predictions = pd.read_csv(f"{arguments.results}/clocks/predictions.tsv", sep="\t")
    truth = pd.read_csv(arguments.truth, sep="\t")
    merged = predictions.merge(truth, on=["sample_id", "clock"]).dropna(subset=["dnam_age"])
    merged["error"] = merged["dnam_age"] - merged["true_dnam_age"]
    print("per-sample error of DNAm age against the simulated truth (years):")
    print(merged.groupby("clock")["error"].agg(["mean", "std", "count"]).round(3).to_string())

    config = yaml.safe_load(open(arguments.config))
    design = deltas.Design.from_config(validate(config)["design"])
    sheet = pd.read_csv(arguments.samples, sep="\t", dtype=str).astype({"donor_age": float})
    true_predictions = truth.loc[~truth["simulated_failure"]].rename(columns={"true_dnam_age": "dnam_age"})
    true_predictions["status"] = "truth"
    contrasts = [deltas.Contrast.from_config(entry) for entry in config["contrasts"]]
    realised = deltas.contrast_table(deltas.per_sample(true_predictions, sheet, design), contrasts, design)
    measured = pd.read_csv(f"{arguments.results}/deltas/contrasts.tsv", sep="\t")
    table = measured.merge(realised[["contrast", "clock", "estimate_years"]], on=["contrast", "clock"],
                           suffixes=("", "_truth"), how="left")
    print("\ncontrasts: estimate [95% CI] against the contrast of the true ages:")
    print(table[["contrast", "clock", "estimate_years", "ci_low", "ci_high", "estimate_years_truth"]]
          .round(2).to_string(index=False))


if __name__ == "__main__":
    main()
