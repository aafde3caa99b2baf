"""The self-contained HTML report: the answer first, then QC, clocks, contrasts, methods, provenance.

Figures are inline SVG and styles are inline CSS, so the page opens anywhere without a network.
Rendering is deterministic: the same tables give the same bytes (the run date comes from the
provenance record, not from the clock at render time).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: E402

from epiclock import clocks  # noqa: E402

SIGNIFICANCE_LEVEL = 0.05


@dataclass
class ReportInputs:
    qc: pd.DataFrame
    predictions: pd.DataFrame
    per_sample: pd.DataFrame
    per_condition: pd.DataFrame
    contrasts: pd.DataFrame
    provenance: dict
    config: dict
    figures: dict[str, str]     # figure name -> SVG text, as written by ``figures()``
    clocks: dict[str, clocks.Clock]            # every clock of the run, shipped and custom, by name
    custom_cards: dict[str, dict] = field(default_factory=dict)   # custom clock -> its model card


def _svg(figure) -> str:
    # A fixed hash salt and no date make matplotlib's SVG byte-identical across runs.
    with matplotlib.rc_context({"svg.hashsalt": "epiclock", "svg.fonttype": "path"}):
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def condition_plot(per_sample: pd.DataFrame, clock: str, donor_column: str, condition_order: list[str],
                   unit: str = "years") -> str:
    """Left: DNAm age per condition, one point per sample, one line per donor through its condition
    means. Right: the same donor lines relative to the donor's first condition, where a shift of a
    year or two is visible against donors decades apart."""
    table = per_sample[(per_sample["clock"] == clock)].dropna(subset=["dnam_age"])
    positions = {condition: index for index, condition in enumerate(condition_order)}
    figure, (ages_axis, change_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    donors = sorted(table[donor_column].unique())
    colours = plt.get_cmap("tab10")
    baseline_condition = condition_order[0] if condition_order else None
    for donor_index, donor in enumerate(donors):
        donor_rows = table[table[donor_column] == donor]
        colour = colours(donor_index % 10)
        x = donor_rows["condition"].map(positions).to_numpy(dtype=float)
        jitter = (np.arange(len(x)) % 5 - 2) * 0.03
        ages_axis.scatter(x + jitter, donor_rows["dnam_age"], s=14, color=colour, alpha=0.8, label=str(donor))
        means = donor_rows.groupby("condition")["dnam_age"].mean()
        ordered = [condition for condition in condition_order if condition in means.index]
        ages_axis.plot([positions[c] for c in ordered], [means[c] for c in ordered], color=colour, linewidth=1,
                       alpha=0.6)
        if baseline_condition in means.index:
            change_axis.plot([positions[c] for c in ordered], [means[c] - means[baseline_condition] for c in ordered],
                             color=colour, linewidth=1, marker="o", markersize=3, alpha=0.8)
    labels = [c.replace("_", " ") for c in condition_order]
    ages_axis.set_ylabel(f"DNAm age ({unit})")
    ages_axis.set_title(f"{clock}: DNAm age per sample")
    change_axis.set_ylabel(f"change vs {str(baseline_condition).replace('_', ' ')} ({unit})")
    change_axis.set_title("within-donor change (donor means)")
    change_axis.axhline(0, color="grey", linestyle="--", linewidth=1)
    for axis in (ages_axis, change_axis):
        axis.set_xticks(range(len(condition_order)), labels, rotation=15)
        axis.grid(axis="y", alpha=0.3)
    if donors:
        ages_axis.legend(title=donor_column, fontsize=7, title_fontsize=8, loc="best")
    figure.tight_layout()
    return _svg(figure)


def forest_plot(contrasts: pd.DataFrame) -> str:
    """Estimate and 95% CI for every contrast x clock: paired t-test on donor means, and the mixed model."""
    table = contrasts.reset_index(drop=True)
    figure, axis = plt.subplots(figsize=(7.5, 0.5 * max(len(table), 2) + 1.2))
    labels = [f"{row.contrast} | {row.clock}" for row in table.itertuples()]
    y = np.arange(len(table))[::-1]
    methods = [("estimate_years", "ci_low", "ci_high", "#1f4e79", 0.12, "paired t (donor means)")]
    if "mixed_estimate" in table.columns:
        methods.append(("mixed_estimate", "mixed_ci_low", "mixed_ci_high", "#c0504d", -0.12, "mixed model"))
    for estimate, low, high, colour, shift, label in methods:
        for index, (y_position, row) in enumerate(zip(y, table.itertuples())):
            values = row._asdict()
            if not math.isnan(values[low]):
                axis.plot([values[low], values[high]], [y_position + shift] * 2, color=colour, linewidth=2)
            axis.scatter([values[estimate]], [y_position + shift], color=colour, zorder=3, s=16,
                         label=label if index == 0 else None)
    axis.axvline(0, color="grey", linestyle="--", linewidth=1)
    axis.set_yticks(y, labels, fontsize=8)
    axis.set_xlabel("difference in DNAm age (95% CI), in the clock's unit")
    axis.grid(axis="x", alpha=0.3)
    axis.legend(fontsize=8, loc="best")
    return _svg(figure)


def _format_p(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NA"
    return f"{value:.2g}" if value >= 1e-4 else f"{value:.1e}"


def _format_years(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NA"
    return f"{value:+.2f}"


def summary_sentences(contrasts: pd.DataFrame) -> list[dict]:
    """One sentence per contrast and clock, flagged when q < 0.05."""
    sentences = []
    for row in contrasts.itertuples():
        significant = not math.isnan(row.q_value) and row.q_value < SIGNIFICANCE_LEVEL
        text = (f"{row.contrast}: {_format_years(row.estimate_years)} years under {row.clock} "
                f"(95% CI {_format_years(row.ci_low)} to {_format_years(row.ci_high)}; "
                f"p = {_format_p(row.p_value)}, q = {_format_p(row.q_value)}; {row.n_pairs} donor pairs)")
        sentences.append({"text": text, "significant": significant, "note": row.note})
    return sentences


UNIT_ABBREVIATIONS = {"years": "y", "years/year": "y/y", "kb": "kb"}


def headlines(contrasts: pd.DataFrame, contrast_config: list[dict], units: dict[str, str] | None = None) -> list[dict]:
    """The answer at a glance: per contrast, its shift under every clock and how many clocks agree."""
    units = units or {}
    descriptions = {entry["name"]: entry.get("description", "") for entry in contrast_config}
    result = []
    for name, rows in contrasts.groupby("contrast", sort=False):
        significant = rows[rows["q_value"] < SIGNIFICANCE_LEVEL]
        shifts = ", ".join(f"{_format_years(row.estimate_years)} "
                           f"{UNIT_ABBREVIATIONS.get(units.get(row.clock, 'years'), units.get(row.clock))} "
                           f"[{_format_years(row.ci_low)}, "
                           f"{_format_years(row.ci_high)}] under {row.clock}" for row in rows.itertuples())
        if len(significant) == 0:
            verdict = "no clock shows a shift at q < 0.05"
        else:
            direction = "younger" if (significant["estimate_years"] < 0).all() else \
                "older" if (significant["estimate_years"] > 0).all() else "mixed directions"
            verdict = (f"shifts DNAm age ({direction}) under {len(significant)} of {len(rows)} clocks "
                       f"(q <= {_format_p(float(significant['q_value'].max()))})")
        result.append({"name": name, "description": descriptions.get(name, ""), "verdict": verdict,
                       "shifts": shifts, "significant": len(significant) > 0})
    return result


def input_sentence(config: dict) -> str:
    if config["input"].get("type", "betas") == "idat":
        preprocess = config["preprocess"]
        return (f"IDAT pairs under {config['input']['idat_dir']} were read with the manifest "
                f"{config['manifest']['path'] or config['manifest']['url']} and preprocessed per sample "
                f"('{preprocess['method']}'"
                + (f" with '{preprocess['dye_method']}' dye-bias correction" if preprocess['method'] == 'noob' else "")
                + f", beta = M / (M + U + {preprocess['offset']:g})); probes failing detection "
                f"('{preprocess['detection']}' p-values) or with fewer than {preprocess['min_beads']} beads "
                f"{'were masked' if preprocess['mask_failed'] else 'were kept'}.")
    return (f"Beta values were imported from {config['input']['betas']} and used as supplied "
            f"(normalisation '{config['normalize']['method']}').")


def methods_paragraph(config: dict, provenance: dict, run_clocks: dict[str, clocks.Clock]) -> str:
    versions = provenance.get("software", {})
    clock_texts = "; ".join(f"{clock.title} ({clock.citation}{', doi:' + clock.doi if clock.doi else ''})"
                            for clock in run_clocks.values())
    qc_config = config["qc"]
    clock_config = config["clocks"]
    return (
        f"{input_sentence(config)} Samples were checked one by one: samples with a call "
        f"rate below {qc_config['min_call_rate']:g} or with more than {qc_config['max_out_of_range']} values outside "
        f"[0, 1] were excluded. "
        f"DNAm age was estimated with {clock_texts}. Clock CpGs absent from a sample were "
        f"{'imputed with fixed reference values: per-CpG medians of a 450k reference, and for DunedinPACE its own gold-standard means (so that no sample depends on the others of the run)' if clock_config['imputation'] == 'reference' else 'not imputed'}; "
        f"a clock gave no age for a sample measuring fewer than {clock_config['min_coverage']:g} of its CpGs. "
        "Delta age is DNAm age minus the donor's chronological age; residual age acceleration (residual of DNAm age "
        "on donor age, per clock) is reported only where donor ages vary enough (at least 3 distinct ages over 10 years). "
        "Contrasts compare donor-level means of replicate samples within donor (paired t-test, with 95% t confidence "
        "intervals and a Wilcoxon signed-rank test beside it); a linear mixed model on the sample-level ages (REML, a "
        "random intercept per donor and a chip variance component where the samples span several chips, t intervals "
        "with between-within degrees of freedom) gives a second estimate. q-values are Benjamini-Hochberg adjusted over "
        "all contrasts and clocks, for each method. "
        f"Software: epiclock {versions.get('epiclock', '?')}, Python {versions.get('python', '?')}, "
        f"Snakemake {versions.get('snakemake', '?')}, numpy {versions.get('numpy', '?')}, pandas {versions.get('pandas', '?')}, "
        f"scipy {versions.get('scipy', '?')}."
    )


def conditions_in_order(per_sample: pd.DataFrame, design_config: dict) -> list[str]:
    """Conditions in the config's order, then any others in order of first appearance."""
    present = list(dict.fromkeys(per_sample.sort_values("sample_id")["condition"]))
    preferred = [c for c in design_config.get("condition_order") or [] if c in present]
    return preferred + [c for c in present if c not in preferred]


def condition_figure_name(clock: str) -> str:
    return f"{clock}.conditions"


FOREST_FIGURE = "contrasts.forest"


def training_figure_name(clock: str) -> str:
    return f"{clock}.training"


def training_plot(cv_predictions: pd.DataFrame, clock: str) -> str:
    """A custom clock's honest error: outer cross-validation predictions against age, and residuals."""
    figure, (fit_axis, residual_axis) = plt.subplots(1, 2, figsize=(11, 4.0))
    ages, predicted = cv_predictions["age"], cv_predictions["predicted_age"]
    fit_axis.scatter(ages, predicted, s=10, alpha=0.7, color="#1f4e79")
    limits = [min(ages.min(), predicted.min()), max(ages.max(), predicted.max())]
    fit_axis.plot(limits, limits, color="grey", linestyle="--", linewidth=1)
    fit_axis.set_xlabel("age (years)")
    fit_axis.set_ylabel("predicted age, outer CV (years)")
    fit_axis.set_title(f"{clock}: observed vs predicted")
    residual_axis.scatter(ages, cv_predictions["residual"], s=10, alpha=0.7, color="#1f4e79")
    residual_axis.axhline(0, color="grey", linestyle="--", linewidth=1)
    residual_axis.set_xlabel("age (years)")
    residual_axis.set_ylabel("predicted - age (years)")
    residual_axis.set_title("residuals against age")
    for axis in (fit_axis, residual_axis):
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return _svg(figure)


def figures(per_sample: pd.DataFrame, contrasts: pd.DataFrame, config: dict, units: dict[str, str],
            cv_predictions: dict[str, pd.DataFrame] | None = None) -> dict[str, str]:
    """Every figure of the report, by name: one per clock, the forest plot, one per custom clock's training."""
    condition_order = conditions_in_order(per_sample, config["design"])
    result = {condition_figure_name(name): condition_plot(per_sample, name, config["design"]["donor_column"],
                                                          condition_order, units.get(name, "years"))
              for name in config["clocks"]["names"]}
    if len(contrasts):
        result[FOREST_FIGURE] = forest_plot(contrasts)
    for name, table in (cv_predictions or {}).items():
        result[training_figure_name(name)] = training_plot(table, name)
    return result


def render(inputs: ReportInputs) -> str:
    config = inputs.config
    clock_names = list(config["clocks"]["names"])
    condition_order = conditions_in_order(inputs.per_sample, config["design"])
    clock_sections = []
    for name in clock_names:
        clock = inputs.clocks[name]
        clock_sections.append({
            "name": name, "clock": clock,
            "plot": inputs.figures[condition_figure_name(name)],
            "conditions": inputs.per_condition[inputs.per_condition["clock"] == name].sort_values(
                "condition", key=lambda column: column.map({c: i for i, c in enumerate(condition_order)})),
            "contrasts": inputs.contrasts[inputs.contrasts["clock"] == name],
        })
    coverage = (inputs.predictions.groupby("clock")
                .agg(samples=("sample_id", "size"), with_age=("dnam_age", lambda s: int(s.notna().sum())),
                     min_coverage=("coverage", "min"), median_coverage=("coverage", "median"),
                     max_imputed=("n_cpgs_imputed", "max"))
                .reset_index())
    no_age = inputs.predictions[inputs.predictions["dnam_age"].isna()]
    environment = Environment(loader=PackageLoader("epiclock", "templates"),
                              autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    environment.filters["years"] = _format_years
    environment.filters["p"] = _format_p
    environment.filters["num"] = lambda v, d=2: "NA" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{d}f}"
    template = environment.get_template("report.html.j2")
    return template.render(
        title=config.get("report", {}).get("title", "epiclock report"),
        summary=summary_sentences(inputs.contrasts),
        headlines=headlines(inputs.contrasts, config.get("contrasts", []),
                            {name: clock.unit for name, clock in inputs.clocks.items()}),
        contrasts=inputs.contrasts,
        forest=inputs.figures.get(FOREST_FIGURE, ""),
        qc=inputs.qc,
        qc_failed=inputs.qc.loc[~inputs.qc["passed"].astype(bool)],
        n_failed=int((~inputs.qc["passed"].astype(bool)).sum()),
        clock_sections=clock_sections,
        coverage=coverage,
        no_age=no_age,
        restricted=[inputs.clocks[name] for name in clock_names if inputs.clocks[name].restricted],
        methods=methods_paragraph(config, inputs.provenance, {name: inputs.clocks[name] for name in clock_names}),
        custom_cards=[{"name": name, "card": card, "plot": inputs.figures.get(training_figure_name(name), "")}
                      for name, card in inputs.custom_cards.items()],
        provenance=inputs.provenance,
    )
