"""The self-contained HTML report: the answer first, then QC, clocks, contrasts, methods, provenance.

Figures are inline SVG and styles are inline CSS, so the page opens anywhere without a network.
Rendering is deterministic: the same tables give the same bytes (the run date comes from the
provenance record, not from the clock at render time).
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: E402

from epiclock import deltas  # noqa: E402
from epiclock.clocks import clock as clocks_clock  # noqa: E402
from epiclock.preprocess import controls
from epiclock.qc import assess as qc_assess
from epiclock.qc import identity as qc_identity
from epiclock.qc import metrics as qc_metrics
from epiclock.qc import sex as qc_sex
from epiclock.report import composition as report_composition
from epiclock.report import reading
from epiclock.report.svg import figure_svg

# Columns of the long QC tables the report reads (see ``ReportInputs``).
CONTROL_METRIC_COLUMNS = qc_metrics.CONTROL_METRIC_COLUMNS
BETA_DENSITY_COLUMNS = qc_metrics.BETA_DENSITY_COLUMNS
IDENTITY_COLUMNS = qc_identity.IDENTITY_COLUMNS


def _empty_frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})


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
    clocks: dict[str, clocks_clock.Clock]            # every clock of the run, shipped and custom, by name
    custom_cards: dict[str, dict] = field(default_factory=dict)   # custom clock -> its model card
    # Long QC tables; empty where the run has no such data (beta-matrix input has no intensities).
    control_metrics: pd.DataFrame = field(default_factory=lambda: _empty_frame(CONTROL_METRIC_COLUMNS))
    beta_density: pd.DataFrame = field(default_factory=lambda: _empty_frame(BETA_DENSITY_COLUMNS))
    identity: pd.DataFrame = field(default_factory=lambda: _empty_frame(IDENTITY_COLUMNS))
    # Cell fractions (results/qc/composition) and their contrasts; empty where no reference is chosen.
    composition: pd.DataFrame = field(default_factory=pd.DataFrame)
    composition_contrasts: pd.DataFrame = field(default_factory=pd.DataFrame)


# Donor colours: the ten dark hues of tab20 first, then their light partners with another marker,
# so that 12 donors stay apart (tab20 in its own order pairs each dark hue with its light one).
DONOR_COLOURS = [plt.get_cmap("tab20")(index) for index in (*range(0, 20, 2), *range(1, 20, 2))]
DONOR_MARKERS = ("o", "s", "^", "D", "v")
# Beyond this many conditions the two panels of the per-condition plot stack instead of sitting side by side.
SIDE_BY_SIDE_CONDITIONS = 6


def _tick_label(condition: str) -> str:
    return textwrap.fill(condition.replace("_", " "), 14)


def condition_plot(per_sample: pd.DataFrame, clock: clocks_clock.Clock, donor_column: str,
                   condition_order: list[str]) -> str:
    """Top or left: the clock's output per condition, one point per sample, one line per donor
    through its condition means. Bottom or right: the same donor lines relative to the donor's first
    condition, where a shift of a year or two is visible against donors decades apart. The donor
    legend sits outside the axes, so it never covers a point."""
    table = per_sample[(per_sample["clock"] == clock.name)].dropna(subset=["dnam_age"])
    positions = {condition: index for index, condition in enumerate(condition_order)}
    stacked = len(condition_order) > SIDE_BY_SIDE_CONDITIONS
    width = max(9.0, 0.9 * len(condition_order) + 3.0) if stacked else 11.0
    figure, (ages_axis, change_axis) = plt.subplots(2 if stacked else 1, 1 if stacked else 2,
                                                    figsize=(width, 8.0 if stacked else 4.4), sharex=stacked)
    donors = sorted(table[donor_column].unique(), key=str)
    baseline_condition = condition_order[0] if condition_order else None
    handles = []
    for donor_index, donor in enumerate(donors):
        donor_rows = table[table[donor_column] == donor]
        colour = DONOR_COLOURS[donor_index % len(DONOR_COLOURS)]
        marker = DONOR_MARKERS[(donor_index // 10) % len(DONOR_MARKERS)]
        x = donor_rows["condition"].map(positions).to_numpy(dtype=float)
        # Each donor its own small offset, so replicates of different donors do not sit on one another.
        offset = ((donor_index % 7) - 3) * 0.04
        ages_axis.scatter(x + offset, donor_rows["dnam_age"], s=14, color=colour, alpha=0.8, marker=marker)
        means = donor_rows.groupby("condition")["dnam_age"].mean()
        ordered = [condition for condition in condition_order if condition in means.index]
        ages_axis.plot([positions[c] + offset for c in ordered], [means[c] for c in ordered], color=colour,
                       linewidth=1, alpha=0.6)
        if baseline_condition in means.index:
            change_axis.plot([positions[c] for c in ordered], [means[c] - means[baseline_condition] for c in ordered],
                             color=colour, linewidth=1, marker=marker, markersize=3, alpha=0.8)
        handles.append(plt.Line2D([], [], color=colour, marker=marker, linewidth=1, markersize=4, label=str(donor)))
    what = f"{reading.quantity(clock)} ({clock.unit})"
    ages_axis.set_ylabel(what)
    ages_axis.set_title(f"{clock.name}: {reading.quantity(clock)} per sample ({clock.direction})", fontsize=10)
    change_axis.set_ylabel(f"change vs {str(baseline_condition).replace('_', ' ')} ({clock.unit})")
    change_axis.set_title("within-donor change (donor means)", fontsize=10)
    change_axis.axhline(0, color="grey", linestyle="--", linewidth=1)
    labels = [_tick_label(c) for c in condition_order]
    for axis in (ages_axis, change_axis):
        axis.set_xticks(range(len(condition_order)), labels, fontsize=8,
                        rotation=30 if len(condition_order) > 4 else 0, ha="right" if len(condition_order) > 4 else "center")
        axis.grid(axis="y", alpha=0.3)
    if handles:
        figure.legend(handles=handles, title=donor_column, fontsize=7, title_fontsize=8, loc="center left",
                      bbox_to_anchor=(1.0, 0.5), ncol=1 if len(handles) <= 16 else 2, frameon=False)
    figure.tight_layout()
    return figure_svg(figure)


def contrast_forest(rows: pd.DataFrame, run_clocks: dict[str, clocks_clock.Clock], primary: str) -> str:
    """One contrast: estimate and 95% CI of the primary test under every clock, one panel per unit
    (a kb or pace difference never shares an axis with years); the primary clock drawn in bold."""
    table = rows[rows["clock"].isin(run_clocks)]
    table = table.assign(_primary=table["clock"] != primary).sort_values("_primary", kind="stable").reset_index(drop=True)
    units = list(dict.fromkeys(run_clocks[clock].unit for clock in table["clock"]))
    heights = [max(int((table["clock"].map(lambda c: run_clocks[c].unit) == unit).sum()), 1) for unit in units]
    figure, axes = plt.subplots(len(units), 1, figsize=(6.4, 0.32 * sum(heights) + 0.75 * len(units) + 0.2),
                                gridspec_kw={"height_ratios": heights}, squeeze=False)
    for axis, unit in zip(axes[:, 0], units):
        panel = table[table["clock"].map(lambda c: run_clocks[c].unit) == unit]
        y = np.arange(len(panel))[::-1]
        for y_position, row in zip(y, panel.itertuples()):
            colour = "#1f4e79" if row.clock == primary else "#6b8fb5"
            if not (reading.is_missing(row.ci_low) or reading.is_missing(row.ci_high)):
                axis.plot([row.ci_low, row.ci_high], [y_position] * 2, color=colour, linewidth=2.2 if row.clock == primary else 1.6)
            if not reading.is_missing(row.estimate):
                axis.scatter([row.estimate], [y_position], color=colour, zorder=3, s=22 if row.clock == primary else 14)
            else:
                axis.text(0, y_position, "not tested", fontsize=7, va="center", ha="center", color="#8a4b00")
        axis.axvline(0, color="grey", linestyle="--", linewidth=1)
        axis.set_yticks(y, [f"{row.clock} ({run_clocks[row.clock].direction})" for row in panel.itertuples()],
                        fontsize=8)
        for label, row in zip(axis.get_yticklabels(), panel.itertuples()):
            label.set_fontweight("bold" if row.clock == primary else "normal")
        axis.set_ylim(-0.6, len(panel) - 0.4)
        axis.set_xlabel(f"difference ({unit}), 95% CI", fontsize=8)
        axis.tick_params(axis="x", labelsize=8)
        axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure_svg(figure)


def input_sentence(config: dict, provenance: dict | None = None) -> str:
    """How the data came in; from IDATs, the preprocessing as the provenance record says the batches applied
    it (``auto`` resolved for the manifest, with the reason), else as configured."""
    if config["input"].get("type", "betas") == "idat":
        applied = (provenance or {}).get("preprocessing", {})
        preprocess = {**config["preprocess"], **{key: applied[key] for key in ("method", "dye_method", "detection")
                                                 if key in applied}}
        manifest_name = (", ".join(applied.get("manifests", [])) or config["manifest"]["path"]
                         or config["manifest"]["url"] or "of the array (auto)")
        note = applied.get("note", "")
        return (f"IDAT pairs under {config['input']['idat_dir']} were read with the manifest "
                f"{manifest_name} and preprocessed per sample "
                f"('{preprocess['method']}'"
                + (f" with '{preprocess['dye_method']}' dye-bias correction" if preprocess['method'] == 'noob' else "")
                + f", beta = M / (M + U + {preprocess['offset']:g})); probes failing detection "
                f"('{preprocess['detection']}' p-values) or with fewer than {preprocess['min_beads']} beads "
                f"{'were masked' if preprocess['mask_failed'] else 'were kept'}."
                + (f" Methods left to auto: {note}." if note else ""))
    return (f"Beta values were imported from {config['input']['betas']} and used as supplied "
            f"(normalisation '{config['normalize']['method']}').")


def methods_paragraph(config: dict, provenance: dict, run_clocks: dict[str, clocks_clock.Clock]) -> str:
    versions = provenance.get("software", {})
    clock_texts = "; ".join(f"{clock.title} ({clock.citation}{', doi:' + clock.doi if clock.doi else ''})"
                            for clock in run_clocks.values())
    qc_config = config["qc"]
    clock_config = config["clocks"]
    return (
        f"{input_sentence(config, provenance)} Samples were checked one by one: samples with a call "
        f"rate below {qc_config['min_call_rate']:g} or with more than {qc_config['max_out_of_range']} values outside "
        f"[0, 1] were excluded. "
        f"DNAm age was estimated with {clock_texts}. Clock CpGs absent from a sample were "
        f"{'imputed with fixed reference values: per-CpG medians of a 450k reference, and for DunedinPACE its own gold-standard means (so that no sample depends on the others of the run)' if clock_config['imputation'] == 'reference' else 'not imputed'}; "
        f"a clock gave no age for a sample measuring fewer than {clock_config['min_coverage']:g} of its CpGs. "
        "Delta age is DNAm age minus the donor's chronological age; residual age acceleration (residual of DNAm age "
        "on donor age, per clock) is reported only where donor ages vary enough (at least 3 distinct ages over 10 years); "
        "both only for clocks that read an age in years (not DNAmTL's telomere length in kb, nor DunedinPACE's years of "
        "ageing per year). Every difference is given in its clock's unit. "
        "Contrasts compare donor-level means of replicate samples within donor (paired t-test, with 95% t confidence "
        "intervals and a Wilcoxon signed-rank test beside it): the paired t-test is the primary test, and the summary's "
        "verdicts come from it alone. A linear mixed model on the sample-level readings (REML; a fixed intercept per "
        "donor, each donor's own response to the condition as a random effect, chip and culture-unit variance "
        "components where present; Kenward-Roger standard errors and degrees of freedom) is reported as a "
        "sensitivity analysis. q-values are "
        "Benjamini-Hochberg adjusted over all contrasts and clocks, for each method. "
        f"Software: epiclock {versions.get('epiclock', '?')}, Python {versions.get('python', '?')}, "
        f"Snakemake {versions.get('snakemake', '?')}, numpy {versions.get('numpy', '?')}, pandas {versions.get('pandas', '?')}, "
        f"scipy {versions.get('scipy', '?')}."
    )


def conditions_in_order(per_sample: pd.DataFrame, design_config: dict) -> list[str]:
    """Conditions in the config's order, then any others in order of first appearance."""
    present = list(dict.fromkeys(per_sample.sort_values("sample_id")["condition"]))
    preferred = [c for c in (design_config or {}).get("condition_order") or [] if c in present]
    return preferred + [c for c in present if c not in preferred]


def condition_figure_name(clock: str) -> str:
    return f"{clock}.conditions"


FOREST_FIGURE_PREFIX = "contrasts.forest."


def forest_figure_name(contrast: str) -> str:
    return f"{FOREST_FIGURE_PREFIX}{contrast}"


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
    return figure_svg(figure)


# --- quality control figures and tables -----------------------------------------------------------

QC_CALL_RATE_FIGURE = "qc_call_rate"
QC_BETA_DENSITY_FIGURE = "qc_beta_density"
QC_CONTROLS_FIGURE = "qc_controls"
QC_SEX_FIGURE = "qc_sex"
QC_FIGURES = (QC_CALL_RATE_FIGURE, QC_BETA_DENSITY_FIGURE, QC_CONTROLS_FIGURE, QC_SEX_FIGURE)

PASSED_COLOUR = "#1f4e79"
FAILED_COLOUR = "#c0392b"
OTHER_FAILURE_COLOUR = "#e69f00"
SEX_COLOURS = {"F": "#c2185b", "M": "#1f77b4"}
# Up to this many samples a figure names every sample; beyond it, names would overlap into a smear.
LABELLED_SAMPLES = 60
# Beyond this many samples the passing values of a control metric are drawn as a box, not as dots,
# so that the figure stays small and the failing dots stand out.
STRIP_SAMPLES = 100
# Failing points are named on a figure only while there are few enough to read.
NAMED_FAILURES = 12
# Ratios of zero cannot go on a log axis; they are drawn at this floor instead.
RATIO_FLOOR = 1e-3


def _is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _as_flags(values: pd.Series) -> pd.Series:
    """A column of True / False / missing (bool, nullable boolean or object after a file round trip)
    as a nullable boolean series."""
    return pd.Series([pd.NA if _is_missing(v) else bool(v) for v in values], index=values.index, dtype="boolean")


def _qc_status(table: pd.DataFrame) -> pd.Series:
    """Per sample: 'failed', 'flagged' (passed, but a finding such as a sex mismatch is noted in
    ``flags``) or ''."""
    passed = table["passed"].astype(bool)
    flags = table["flags"] if "flags" in table.columns else pd.Series("", index=table.index)
    flagged = flags.fillna("").astype(str).str.strip() != ""
    return pd.Series(np.where(~passed, "failed", np.where(flagged, "flagged", "")), index=table.index)


def _problems_first(table: pd.DataFrame) -> pd.DataFrame:
    """The QC table with failing samples first, then flagged ones, each group in the table's own order."""
    rank = _qc_status(table).map({"failed": 0, "flagged": 1, "": 2}).to_numpy()
    return table.iloc[np.argsort(rank, kind="stable")]


def call_rate_plot(qc_table: pd.DataFrame, min_call_rate: float) -> str:
    """Each sample's call rate as a bar from the threshold, worst first: failing bars hang below it.

    Bars start at the threshold, not at zero, because call rates crowd near 1 and the question is
    how far each sample is from the line. Up to ``LABELLED_SAMPLES`` samples are named on the axis;
    more are drawn as a sorted profile by rank.
    """
    table = qc_table.dropna(subset=["call_rate"]).sort_values(["call_rate", "sample_id"], kind="stable")
    rates = table["call_rate"].to_numpy(float)
    below = rates < min_call_rate
    failed_otherwise = ~below & ~table["passed"].astype(bool).to_numpy()
    colours = np.where(below, FAILED_COLOUR, np.where(failed_otherwise, OTHER_FAILURE_COLOUR, PASSED_COLOUR))
    n_samples = len(table)
    labelled = n_samples <= LABELLED_SAMPLES
    if labelled:
        figure, axis = plt.subplots(figsize=(8, 0.2 * max(n_samples, 5) + 1.3))
        positions = np.arange(n_samples)[::-1]
        axis.barh(positions, rates - min_call_rate, left=min_call_rate, color=colours, height=0.75)
        axis.axvline(min_call_rate, color="black", linestyle="--", linewidth=1)
        axis.set_yticks(positions, table["sample_id"].astype(str), fontsize=7)
        axis.set_ylim(-0.7, n_samples - 0.3)
        axis.set_xlabel("call rate (share of CpGs with a value)")
        axis.grid(axis="x", alpha=0.3)
        value_axis = axis.xaxis
    else:
        figure, axis = plt.subplots(figsize=(10, 3.6))
        positions = np.arange(1, n_samples + 1)
        axis.bar(positions, rates - min_call_rate, bottom=min_call_rate, color=colours, width=1.0, linewidth=0)
        axis.axhline(min_call_rate, color="black", linestyle="--", linewidth=1)
        axis.set_xlim(0.5, n_samples + 0.5)
        axis.set_xlabel("samples ranked by call rate, worst first")
        axis.set_ylabel("call rate")
        axis.grid(axis="y", alpha=0.3)
        value_axis = axis.yaxis
    value_axis.get_major_formatter().set_useOffset(False)
    n_missing = len(qc_table) - n_samples
    axis.set_title(f"call rate of {n_samples} samples: {int(below.sum())} below the threshold {min_call_rate:g}"
                   + (f"; {n_missing} without a call rate" if n_missing else ""), fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=PASSED_COLOUR), plt.Rectangle((0, 0), 1, 1, color=FAILED_COLOUR)]
    labels = ["passed QC", "below the threshold"]
    if failed_otherwise.any():
        handles.append(plt.Rectangle((0, 0), 1, 1, color=OTHER_FAILURE_COLOUR))
        labels.append("failed QC for another reason")
    handles.append(plt.Line2D([], [], color="black", linestyle="--", linewidth=1))
    labels.append(f"threshold {min_call_rate:g}")
    # Outside the axes: no bar is ever hidden behind the legend.
    axis.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    figure.tight_layout()
    return figure_svg(figure)


def beta_density_plot(beta_density: pd.DataFrame, qc_table: pd.DataFrame) -> str:
    """One line per sample through its binned beta density; failing samples in red, drawn on top.

    Passing samples get fainter as they get more numerous, so that hundreds of them form a band
    against which a deviating or failing sample stands out.
    """
    failed_ids = set(qc_table.loc[~qc_table["passed"].astype(bool), "sample_id"].astype(str))
    figure, axis = plt.subplots(figsize=(8, 3.8))
    samples = beta_density.sort_values(["sample_id", "bin_left"]).groupby("sample_id", sort=True)
    n_passed = sum(1 for sample_id, _ in samples if str(sample_id) not in failed_ids)
    passed_alpha = min(0.7, max(0.08, 12 / max(n_passed, 1)))
    failed_lines = []
    for sample_id, rows in samples:
        centres = ((rows["bin_left"] + rows["bin_right"]) / 2).to_numpy(float)
        density = rows["density"].to_numpy(float)
        if str(sample_id) in failed_ids:
            failed_lines.append((str(sample_id), centres, density))
        else:
            axis.plot(centres, density, color=PASSED_COLOUR, linewidth=0.8, alpha=passed_alpha)
    for index, (sample_id, centres, density) in enumerate(failed_lines):
        axis.plot(centres, density, color=FAILED_COLOUR, linewidth=1.6, alpha=0.9, zorder=3,
                  label=sample_id if index < NAMED_FAILURES else None)
    handles, labels = axis.get_legend_handles_labels()
    handles.insert(0, plt.Line2D([], [], color=PASSED_COLOUR, linewidth=1.2))
    labels.insert(0, f"passed QC ({n_passed})")
    if len(failed_lines) > NAMED_FAILURES:
        handles.append(plt.Line2D([], [], color=FAILED_COLOUR, linewidth=1.6))
        labels.append(f"and {len(failed_lines) - NAMED_FAILURES} more failed")
    axis.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0,
                title="failed QC in red" if failed_lines else None, title_fontsize=7)
    axis.set_xlim(0, 1)
    axis.set_ylim(bottom=0)
    axis.set_xlabel("beta value")
    axis.set_ylabel("density")
    axis.set_title(f"beta density of {len(failed_lines) + n_passed} samples", fontsize=10)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure_svg(figure)


def _metric_order(control_metrics: pd.DataFrame) -> list[str]:
    """Metrics in the BeadArray Controls Reporter order of ``controls.CONTROL_THRESHOLDS``, then any others."""
    present = list(dict.fromkeys(control_metrics["metric"].astype(str)))
    known = [metric for metric in controls.CONTROL_THRESHOLDS if metric in present]
    return known + [metric for metric in present if metric not in known]


def _spread(n_points: int, width: float) -> np.ndarray:
    """Horizontal offsets for a strip of points, spread evenly (golden-ratio sequence), no random numbers."""
    return ((np.arange(n_points) * 0.6180339887) % 1 - 0.5) * width


def control_plot(control_metrics: pd.DataFrame) -> str:
    """Every control metric on one axis as its margin over the guide's minimum (value / minimum, log).

    One threshold line at 1 serves all metrics, so a batch-wide weakness (a metric low in every
    sample) shows as a row sitting near the line. Failing values are red dots; passing values are
    dots up to ``STRIP_SAMPLES`` samples and a min-to-max box beyond. Metrics without a positive
    minimum (restoration's is 0) or without values are left out and named under the axis.
    """
    table = control_metrics.assign(
        metric=control_metrics["metric"].astype(str),
        value=pd.to_numeric(control_metrics["value"], errors="coerce"),
        threshold=pd.to_numeric(control_metrics["threshold"], errors="coerce"),
        failed=_as_flags(control_metrics["passed"]).eq(False).fillna(False).astype(bool))
    order = _metric_order(table)
    drawable = table[(table["threshold"] > 0) & table["value"].notna()]
    shown = [metric for metric in order if metric in set(drawable["metric"])]
    left_out = [metric for metric in order if metric not in shown]
    n_samples = table["sample_id"].nunique()
    figure, axis = plt.subplots(figsize=(9, 0.3 * max(len(shown), 3) + 1.6))
    for row_index, metric in enumerate(shown):
        position = len(shown) - 1 - row_index      # the first metric at the top
        rows = drawable[drawable["metric"] == metric].sort_values("sample_id")
        margin = np.maximum(rows["value"].to_numpy(float) / rows["threshold"].to_numpy(float), RATIO_FLOOR)
        failed = rows["failed"].to_numpy(bool)
        offsets = _spread(len(rows), 0.5)
        if n_samples <= STRIP_SAMPLES:
            axis.scatter(margin[~failed], position + offsets[~failed], s=9, color=PASSED_COLOUR, alpha=0.6,
                         linewidths=0)
        elif (~failed).any():
            axis.boxplot([margin[~failed]], positions=[position], widths=0.5, whis=(0, 100), showfliers=False,
                         orientation="horizontal", patch_artist=True,
                         boxprops={"facecolor": "#dbe6f1", "edgecolor": PASSED_COLOUR},
                         medianprops={"color": PASSED_COLOUR}, whiskerprops={"color": PASSED_COLOUR},
                         capprops={"color": PASSED_COLOUR})
        axis.scatter(margin[failed], position + offsets[failed], s=18, color=FAILED_COLOUR, zorder=3, linewidths=0)
    axis.axvline(1, color="black", linestyle="--", linewidth=1)
    axis.set_xscale("log")
    axis.set_yticks(range(len(shown)), [metric.replace("_", " ") for metric in reversed(shown)], fontsize=8)
    axis.set_ylim(-0.6, len(shown) - 0.4)
    label = "value / minimum (log scale; below 1 fails)"
    if left_out:
        label += "\nnot shown (no positive minimum, or no controls on the array): " + ", ".join(
            metric.replace("_", " ") for metric in left_out)
    axis.set_xlabel(label, fontsize=9)
    axis.grid(axis="x", alpha=0.3)
    n_failing = int(table.loc[table["failed"], "sample_id"].nunique())
    axis.set_title(f"control probes of {n_samples} samples: {n_failing} failing at least one metric", fontsize=10)
    passed_label = "passed" if n_samples <= STRIP_SAMPLES else "passed (box: quartiles,\nwhiskers: min to max)"
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=PASSED_COLOUR, label=passed_label),
               plt.Line2D([], [], marker="o", linestyle="", color=FAILED_COLOUR, label="failed"),
               plt.Line2D([], [], color="black", linestyle="--", linewidth=1, label="minimum")]
    axis.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    figure.tight_layout()
    return figure_svg(figure)


def sex_plot(qc_table: pd.DataFrame) -> str:
    """minfi-style sex check: median log2 copy number of chrY against chrX probes, coloured by the
    predicted sex, with the decision line and samples whose sheet says otherwise ringed (and named
    while there are few)."""
    table = qc_table.dropna(subset=["x_median", "y_median"]).sort_values("sample_id")
    predicted = table["predicted_sex"].astype(object).where(table["predicted_sex"].notna(), None)
    mismatch = (_as_flags(table["sex_matches"]).eq(False).fillna(False).astype(bool)
                if "sex_matches" in table.columns else pd.Series(False, index=table.index))
    figure, axis = plt.subplots(figsize=(6.5, 5))
    for sex, label in (("F", "predicted female"), ("M", "predicted male"), (None, "no prediction")):
        chosen = predicted.isna() if sex is None else predicted.eq(sex)
        if chosen.any():
            axis.scatter(table.loc[chosen, "x_median"], table.loc[chosen, "y_median"], s=16, alpha=0.75,
                         color=SEX_COLOURS.get(sex, "grey"), linewidths=0, label=f"{label} ({int(chosen.sum())})")
    if mismatch.any():
        axis.scatter(table.loc[mismatch, "x_median"], table.loc[mismatch, "y_median"], s=90, facecolors="none",
                     edgecolors="black", linewidths=1.4, zorder=3,
                     label=f"sheet says otherwise ({int(mismatch.sum())})")
        if mismatch.sum() <= NAMED_FAILURES:
            for row in table.loc[mismatch].itertuples():
                axis.annotate(str(row.sample_id), (row.x_median, row.y_median), xytext=(6, 4),
                              textcoords="offset points", fontsize=7)
    x_low, x_high = axis.get_xlim()
    axis.plot([x_low, x_high], [x_low + qc_sex.SEX_CUTOFF, x_high + qc_sex.SEX_CUTOFF], color="grey",
              linestyle="--", linewidth=1, label=f"y - x = {qc_sex.SEX_CUTOFF:g}")
    axis.set_xlim(x_low, x_high)
    axis.set_xlabel("chrX median log2(M + U)")
    axis.set_ylabel("chrY median log2(M + U)")
    axis.set_title(f"predicted sex of {len(table)} samples", fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    figure.tight_layout()
    return figure_svg(figure)


def _qc_figure_makers(qc_table: pd.DataFrame, control_metrics: pd.DataFrame, beta_density: pd.DataFrame,
                      min_call_rate: float) -> dict:
    """QC figure name -> a function drawing it, for the figures whose data the run has."""
    makers = {}
    if "call_rate" in qc_table.columns and qc_table["call_rate"].notna().any():
        makers[QC_CALL_RATE_FIGURE] = lambda: call_rate_plot(qc_table, min_call_rate)
    if pd.to_numeric(beta_density["density"], errors="coerce").notna().any():
        makers[QC_BETA_DENSITY_FIGURE] = lambda: beta_density_plot(beta_density, qc_table)
    if pd.to_numeric(control_metrics["value"], errors="coerce").notna().any():
        makers[QC_CONTROLS_FIGURE] = lambda: control_plot(control_metrics)
    has_sex_data = {"x_median", "y_median"} <= set(qc_table.columns)
    if has_sex_data and qc_table[["x_median", "y_median"]].notna().all(axis=1).any():
        makers[QC_SEX_FIGURE] = lambda: sex_plot(qc_table)
    return makers


def qc_figures(qc_table: pd.DataFrame, control_metrics: pd.DataFrame, beta_density: pd.DataFrame,
               min_call_rate: float) -> dict[str, str]:
    """The QC figures whose data the run has, by name: call rate and beta density for every input,
    the control dashboard and the sex plot only where there were raw intensities (IDAT input)."""
    return {name: make() for name, make in
            _qc_figure_makers(qc_table, control_metrics, beta_density, min_call_rate).items()}


# QC table columns in display order: column -> (header, format). A column absent from the run's
# table (beta-matrix input has no detection, controls or sex columns) is left out of the page.
QC_TABLE_COLUMNS = {
    "n_cpgs": ("CpGs", "int"),
    "n_missing": ("missing", "int"),
    "call_rate": ("call rate", "4"),
    "detection_call_rate": ("detection call rate", "4"),
    "n_masked": ("masked", "int"),
    "n_channel_switched": ("type-I colour switched", "int"),
    "n_out_of_range": ("outside [0,1]", "int"),
    "beta_mean": ("mean beta", "3"),
    "controls_passed": ("controls passed", "flag"),
    "predicted_sex": ("predicted sex", "text"),
    "sheet_sex": ("sheet sex", "text"),
    "sex_matches": ("sex matches sheet", "flag"),
    "passed": ("passed", "flag"),
    "reasons": ("reasons", "text"),
    "flags": ("flags (noted, not failing)", "text"),
    "control_notes": ("control notes", "text"),
}


def _qc_cell(value, cell_format: str) -> dict:
    """One table cell: its text, whether it is left-aligned text, and whether it flags a problem."""
    if _is_missing(value):
        return {"text": "NA" if cell_format != "text" else "", "is_text": cell_format in ("text", "flag"),
                "problem": False}
    if cell_format == "flag":
        return {"text": "yes" if value else "no", "is_text": True, "problem": not value}
    if cell_format == "int":
        return {"text": str(int(value)), "is_text": False, "problem": False}
    if cell_format == "text":
        return {"text": str(value), "is_text": True, "problem": False}
    return {"text": f"{float(value):.{cell_format}f}", "is_text": False, "problem": False}


def qc_table_view(qc_table: pd.DataFrame) -> dict:
    """The QC table as the page shows it: the columns the run has, failing samples first, then
    flagged ones; with the counts of both."""
    columns = [column for column in QC_TABLE_COLUMNS if column in qc_table.columns]
    headers = [{"label": QC_TABLE_COLUMNS[column][0], "is_text": QC_TABLE_COLUMNS[column][1] in ("text", "flag")}
               for column in columns]
    ordered = _problems_first(qc_table)
    status = _qc_status(ordered)
    rows = [{"sample_id": record["sample_id"], "status": sample_status,
             "cells": [_qc_cell(record[column], QC_TABLE_COLUMNS[column][1]) for column in columns]}
            for record, sample_status in zip(ordered.to_dict("records"), status)]
    return {"headers": headers, "rows": rows, "n_failed": int((status == "failed").sum()),
            "n_flagged": int((status == "flagged").sum())}


def control_failures(control_metrics: pd.DataFrame) -> pd.DataFrame:
    """Failing control metrics, one row per sample and metric, by sample then in the guide's metric order."""
    failed = control_metrics.loc[_as_flags(control_metrics["passed"]).eq(False).fillna(False).astype(bool)]
    rank = {metric: index for index, metric in enumerate(_metric_order(control_metrics))}
    return (failed.assign(metric_rank=failed["metric"].astype(str).map(rank))
            .sort_values(["sample_id", "metric_rank"]).drop(columns="metric_rank")
            [["sample_id", "metric", "value", "threshold"]].reset_index(drop=True))


def sex_mismatches(qc_table: pd.DataFrame) -> pd.DataFrame:
    """Samples whose predicted sex differs from the sheet's (none where the table has no sex columns)."""
    if "sex_matches" not in qc_table.columns:
        return _empty_frame(["sample_id", "predicted_sex", "sheet_sex"])
    mismatch = _as_flags(qc_table["sex_matches"]).eq(False).fillna(False).astype(bool)
    return qc_table.loc[mismatch, ["sample_id", "predicted_sex", "sheet_sex"]].reset_index(drop=True)


def identity_problems(identity: pd.DataFrame) -> pd.DataFrame:
    """Pairs whose SNP genotypes contradict the sheet: unexpected duplicates, then possible swaps."""
    problems = identity.loc[identity["problem"].fillna("").astype(str) != ""]
    return problems.sort_values(["problem", "concordance", "sample_a", "sample_b"],
                                ascending=[False, False, True, True]).reset_index(drop=True)


def no_intensities_note(config: dict) -> str:
    """Why a run without IDATs has no control dashboard, sex check or identity check ('' for IDAT runs)."""
    input_type = config["input"].get("type", "betas")
    if input_type == "idat":
        return ""
    return (f"Control-probe dashboard, sex check and sample-identity check are not shown: they need raw array "
            f"intensities (IDAT files), and this run started from a matrix (input type '{input_type}') that has none.")


def figures(per_sample: pd.DataFrame, contrasts: pd.DataFrame, config: dict, run_clocks: dict[str, clocks_clock.Clock],
            cv_predictions: dict[str, pd.DataFrame] | None = None) -> dict[str, str]:
    """Every figure of the report, by name: one per clock, a forest plot per contrast, one per custom
    clock's training."""
    names = list(config["clocks"]["names"])
    result = {}
    if config.get("design"):      # a clock-only run has no conditions to plot
        condition_order = conditions_in_order(per_sample, config["design"])
        result = {condition_figure_name(name): condition_plot(per_sample, run_clocks[name],
                                                              config["design"]["donor_column"], condition_order)
                  for name in names}
    primary, _ = reading.primary_clock(config, names)
    for contrast, rows in contrasts.groupby("contrast", sort=False):
        result[forest_figure_name(contrast)] = contrast_forest(rows, run_clocks, primary)
    for name, table in (cv_predictions or {}).items():
        result[training_figure_name(name)] = training_plot(table, name)
    return result


def qc_plots(inputs: ReportInputs) -> dict[str, str]:
    """The QC figures for the page ('' where there is no data): those handed in through ``figures``,
    the others drawn here from the QC tables, so the section is complete whether or not the
    figures step drew them."""
    makers = _qc_figure_makers(inputs.qc, inputs.control_metrics, inputs.beta_density,
                               float(inputs.config["qc"]["min_call_rate"]))
    return {name: inputs.figures.get(name) or (makers[name]() if name in makers else "") for name in QC_FIGURES}


def render(inputs: ReportInputs) -> str:
    config = inputs.config
    clock_names = list(config["clocks"]["names"])
    condition_order = conditions_in_order(inputs.per_sample, config.get("design"))
    primary, primary_note = reading.primary_clock(config, clock_names)
    clock_sections = []
    for name in clock_names:
        clock = inputs.clocks[name]
        clock_sections.append({
            "name": name, "clock": clock, "quantity": reading.quantity(clock),
            "in_years": reading.is_age_in_years(clock),
            "plot": inputs.figures.get(condition_figure_name(name), ""),
            "conditions": inputs.per_condition[inputs.per_condition["clock"] == name].sort_values(
                "condition", key=lambda column: column.map({c: i for i, c in enumerate(condition_order)})),
        })
    headlines = reading.headlines(inputs.contrasts, config.get("contrasts", []), inputs.clocks, primary)
    for item in headlines:
        item["forest"] = inputs.figures.get(forest_figure_name(item["name"]), "")
    coverage = (inputs.predictions.groupby("clock")
                .agg(samples=("sample_id", "size"), with_age=("dnam_age", lambda s: int(s.notna().sum())),
                     min_coverage=("coverage", "min"), median_coverage=("coverage", "median"),
                     max_imputed=("n_cpgs_imputed", "max"))
                .reset_index())
    no_age = inputs.predictions[inputs.predictions["dnam_age"].isna()]
    # Every count is over the sheet's samples; data columns the sheet does not list are named apart.
    study_qc = qc_assess.sheet_samples(inputs.qc)
    environment = Environment(loader=PackageLoader("epiclock", "templates"),
                              autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    environment.filters["p"] = reading.format_p
    environment.filters["count"] = "{:,}".format
    environment.filters["num"] = lambda v, d=2: "NA" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{d}f}"
    environment.filters["years"] = lambda v: reading.number(v, "years")
    environment.filters["value"] = reading.number
    environment.filters["interval"] = reading.interval
    qc_passed = study_qc["passed"].astype(bool)
    # As the call-rate figure colours them: drawn (with a call rate), above the threshold, failed anyway.
    rates = study_qc["call_rate"] if "call_rate" in study_qc.columns else pd.Series(np.nan, index=study_qc.index)
    other_failures = rates.notna() & (rates >= float(config["qc"]["min_call_rate"])) & ~qc_passed
    template = environment.get_template("report.html.j2")
    return template.render(
        title=config.get("report", {}).get("title", "epiclock report"),
        headlines=headlines,
        primary=inputs.clocks[primary], primary_note=primary_note,
        contrasts=inputs.contrasts.assign(
            unit=inputs.contrasts["clock"].map(lambda name: inputs.clocks[name].unit if name in inputs.clocks else "")),
        pairs_column=reading.PAIRS_COLUMN,
        qc=study_qc,
        n_failed=int((~study_qc["passed"].astype(bool)).sum()),
        n_duplicates=int((~study_qc["passed"].astype(bool)
                          & study_qc["reasons"].astype(str).str.contains(qc_identity.DUPLICATE_PROBLEM)).sum()),
        not_in_sheet=inputs.qc.loc[~inputs.qc["sample_id"].isin(study_qc["sample_id"]), "sample_id"].tolist(),
        qc_view=qc_table_view(study_qc),
        min_call_rate=config["qc"]["min_call_rate"],
        qc_other_failures=bool(other_failures.any()),
        qc_plots=qc_plots(inputs),
        raw_intensities=config["input"].get("type", "betas") == "idat",
        no_intensities=no_intensities_note(config),
        has_controls=len(inputs.control_metrics) > 0,
        control_failures=control_failures(inputs.control_metrics),
        n_control_failed=(int(_as_flags(inputs.qc["controls_passed"]).eq(False).fillna(False).sum())
                          if "controls_passed" in inputs.qc.columns else 0),
        has_sex="predicted_sex" in inputs.qc.columns and inputs.qc["predicted_sex"].notna().any(),
        sex_mismatches=sex_mismatches(inputs.qc),
        n_identity_pairs=len(inputs.identity),
        identity_problems=identity_problems(inputs.identity),
        clock_sections=clock_sections,
        has_design=bool(config.get("design")),
        max_imputed_difference=(deltas.Design.from_config(config["design"]).max_imputed_difference
                                if config.get("design") else None),
        clock_names=clock_names,
        ages=inputs.predictions.pivot(index="sample_id", columns="clock", values="dnam_age").reindex(
            columns=clock_names).reset_index() if len(inputs.predictions) else inputs.predictions,
        coverage=coverage,
        no_age=no_age,
        restricted=[inputs.clocks[name] for name in clock_names if inputs.clocks[name].restricted],
        methods=methods_paragraph(config, inputs.provenance, {name: inputs.clocks[name] for name in clock_names}),
        custom_cards=[{"name": name, "card": card, "plot": inputs.figures.get(training_figure_name(name), "")}
                      for name, card in inputs.custom_cards.items()],
        provenance=inputs.provenance,
        composition_section=(report_composition.section(inputs.composition, inputs.composition_contrasts,
                                                        inputs.figures, config.get("composition", {}))
                             if len(inputs.composition) else ""),
    )
