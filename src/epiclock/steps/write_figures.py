"""Rule write_figures: the report's figures as SVG files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from epiclock import deltas, report
from epiclock.report import composition as report_composition
from epiclock.clocks import registry
from epiclock.io.tables import write_text


def read_delta_table(path: str | None, columns: list[str]) -> pd.DataFrame:
    """A table of the deltas step, or an empty one in a clock-only run (no design, no deltas step)."""
    return pd.read_parquet(path) if path else pd.DataFrame(columns=columns)


def write_figures(per_sample: str | None, contrasts: str | None, qc_tables: dict[str, str], config: dict,
                  figure_dir: str, custom_dirs: dict[str, str] | None = None) -> None:
    """Every figure of the report as an SVG file in ``figure_dir``."""
    custom_dirs = custom_dirs or {}
    run_clocks = registry.run_clocks(list(config["clocks"]["names"]), custom_dirs)
    cv_predictions = {name: pd.read_csv(Path(directory) / "cv_predictions.tsv", sep="\t")
                      for name, directory in custom_dirs.items()}
    per_sample_table = read_delta_table(per_sample, deltas.PER_SAMPLE_COLUMNS)
    rendered = report.figures(per_sample_table, read_delta_table(contrasts, deltas.CONTRAST_COLUMNS), config,
                              run_clocks, cv_predictions)
    rendered.update(report.qc_figures(pd.read_parquet(qc_tables["qc_table"]), pd.read_parquet(qc_tables["controls"]),
                                      pd.read_parquet(qc_tables["density"]), float(config["qc"]["min_call_rate"])))
    if config.get("design"):      # fractions are drawn by condition: a clock-only run has none
        samples_table = per_sample_table.drop_duplicates("sample_id")
        rendered.update(report_composition.figures(pd.read_parquet(qc_tables["composition"]), samples_table,
                                                   config["design"]["donor_column"],
                                                   report.conditions_in_order(samples_table, config["design"])))
    Path(figure_dir).mkdir(parents=True, exist_ok=True)
    for name, svg in rendered.items():
        write_text(svg, Path(figure_dir) / f"{name}.svg")
