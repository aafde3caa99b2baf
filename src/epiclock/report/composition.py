"""The report's composition section: cell mix per condition and donor, and per contrast whether
each fraction differs between the two sides (the clocks' donor-level paired test, on fractions).

Self-contained: one figure per reference and a fragment of HTML rendered from its own template,
which the report's page places where it wants it.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: E402

from epiclock import composition  # noqa: E402
from epiclock.deltas import SIGNIFICANCE  # noqa: E402
from epiclock.report.svg import figure_svg  # noqa: E402

CELL_COLOURS = ("#1f4e79", "#e69f00", "#c0392b", "#2e8b57", "#8e44ad", "#7f7f7f", "#17becf", "#bcbd22",
                "#8c564b", "#e377c2", "#9edae5", "#393b79")


def figure_name(reference: str) -> str:
    return f"composition.{reference}"


def composition_plot(fractions: pd.DataFrame, sheet: pd.DataFrame, donor_column: str, condition_order: list[str],
                     reference: str) -> str:
    """Stacked bars of the cell-type fractions: one group per condition, one bar per donor (the mean
    of its samples in that condition)."""
    table = fractions.loc[fractions["reference"] == reference].merge(
        sheet[["sample_id", donor_column, "condition"]], on="sample_id", how="inner")
    cell_types = list(dict.fromkeys(table["cell_type"]))
    means = (table.groupby(["condition", donor_column, "cell_type"], sort=False)["fraction"].mean()
             .unstack("cell_type").reindex(columns=cell_types))
    donors = sorted(table[donor_column].unique())
    conditions = [condition for condition in condition_order if condition in means.index.get_level_values(0)]
    width = 0.8 / max(len(donors), 1)
    figure, axis = plt.subplots(figsize=(max(7.0, 1.3 * len(conditions) + 2), 3.8))
    for condition_index, condition in enumerate(conditions):
        for donor_index, donor in enumerate(donors):
            if (condition, donor) not in means.index:
                continue
            x = condition_index - 0.4 + width * (donor_index + 0.5)
            bottom = 0.0
            for cell_index, cell_type in enumerate(cell_types):
                value = means.loc[(condition, donor), cell_type]
                value = 0.0 if math.isnan(value) else float(value)
                axis.bar(x, value, width=width * 0.9, bottom=bottom, color=CELL_COLOURS[cell_index % len(CELL_COLOURS)],
                         label=cell_type if condition_index == 0 and donor_index == 0 else None)
                bottom += value
    axis.set_xticks(range(len(conditions)), [c.replace("_", " ") for c in conditions], rotation=15)
    axis.set_ylabel("fraction")
    axis.set_ylim(0, 1.02)
    axis.set_title(f"{reference}: one bar per {donor_column} ({', '.join(donors)} left to right)", fontsize=10)
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    return figure_svg(figure)


def figures(fractions: pd.DataFrame, sheet: pd.DataFrame, donor_column: str, condition_order: list[str]) -> dict[str, str]:
    return {figure_name(reference): composition_plot(fractions, sheet, donor_column, condition_order, reference)
            for reference in dict.fromkeys(fractions["reference"])}


def section(fractions: pd.DataFrame, contrasts: pd.DataFrame, figures_by_name: dict[str, str], settings: dict) -> str:
    """The HTML of the composition section."""
    provenance = composition.provenance().set_index("file")
    references = []
    for reference in dict.fromkeys(fractions["reference"]):
        rows = fractions.loc[fractions["reference"] == reference]
        source = provenance.loc[f"{reference}.tsv"]
        references.append({
            "name": reference, "content": source["content"], "paper": source["paper"], "doi": source["doi"],
            "plot": figures_by_name.get(figure_name(reference), ""),
            "n_cpgs": int(rows["n_reference_cpgs"].iloc[0]),
            "min_measured": int(rows["n_cpgs"].min()),
            "contrasts": contrasts.loc[contrasts["reference"] == reference],
        })
    environment = Environment(loader=PackageLoader("epiclock", "templates"),
                              autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    environment.filters["pp"] = lambda v: "NA" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:+.1f}"
    environment.filters["p"] = lambda v: ("NA" if v is None or (isinstance(v, float) and math.isnan(v))
                                          else f"{v:.2g}" if v >= 1e-4 else f"{v:.1e}")
    return environment.get_template("composition.html.j2").render(
        references=references, method=settings.get("method", "rpc"), significance=SIGNIFICANCE)

