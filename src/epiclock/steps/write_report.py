"""Rule write_report: the HTML report from the run's tables, figures and provenance."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from epiclock import deltas, report
from epiclock.clocks import registry
from epiclock.io.tables import write_text
from epiclock.steps.write_figures import read_delta_table

log = logging.getLogger("epiclock")


# CpGs of a custom clock listed in the report, by absolute weight (all of them are in coefficients.tsv).
REPORT_TOP_CPGS = 15
def write_report(qc_tables: dict[str, str], predictions: str, per_sample: str | None, per_condition: str | None,
                 contrasts: str | None, provenance_json: str, figure_dir: str, config: dict, output: str,
                 custom_dirs: dict[str, str] | None = None) -> None:
    """The HTML report of the run."""
    custom_dirs = custom_dirs or {}
    figures = {path.stem: path.read_text(encoding="utf-8") for path in sorted(Path(figure_dir).glob("*.svg"))}
    cards = {}
    for name, directory in custom_dirs.items():
        card = json.loads((Path(directory) / "model_card.json").read_text())
        coefficients = pd.read_csv(Path(directory) / "coefficients.tsv", sep="\t")
        strongest = coefficients.reindex(coefficients["coefficient"].abs().sort_values(ascending=False).index)
        card["strongest_cpgs"] = strongest.head(REPORT_TOP_CPGS).to_dict("records")
        cards[name] = card
    inputs = report.ReportInputs(
        qc=pd.read_parquet(qc_tables["qc_table"]), control_metrics=pd.read_parquet(qc_tables["controls"]),
        beta_density=pd.read_parquet(qc_tables["density"]), identity=pd.read_parquet(qc_tables["identity"]),
        predictions=pd.read_parquet(predictions),
        per_sample=read_delta_table(per_sample, deltas.PER_SAMPLE_COLUMNS),
        per_condition=read_delta_table(per_condition, deltas.PER_CONDITION_COLUMNS),
        contrasts=read_delta_table(contrasts, deltas.CONTRAST_COLUMNS), provenance=json.loads(Path(provenance_json).read_text()),
        config=config, figures=figures, clocks=registry.run_clocks(list(config["clocks"]["names"]), custom_dirs),
        custom_cards=cards, composition=pd.read_parquet(qc_tables["composition"]),
        composition_contrasts=pd.read_parquet(qc_tables["composition_contrasts"]),
    )
    write_text(report.render(inputs), output)
    log.info("report written to %s", output)
