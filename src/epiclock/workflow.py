"""One function per workflow step: read the step's files, call the library, write the step's files.

The Snakemake scripts under scripts/ only unpack ``snakemake.input/output/params`` and call one of
these through ``run_step``, which sends the step's log to the rule's log file and turns the
project's own errors into a one-line message instead of a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.io.tables import (MATRIX_BLOCK_ROWS, read_beta_matrix, read_matrix, read_sample_sheet, write_matrix,
                                write_parquet, write_table, write_text)

# Each step imports only its own stage module: every Snakemake job is a fresh Python process, and
# importing all stages (scikit-learn, matplotlib, scipy) would cost each job seconds.

log = logging.getLogger("epiclock")

# CpGs of a custom clock listed in the report, by absolute weight (all of them are in coefficients.tsv).
REPORT_TOP_CPGS = 15


def run_step(snakemake, step, **kwargs) -> None:
    """Run ``step(**kwargs)`` with logging to the rule's log; exit 1 with the message on a known error."""
    log_path = snakemake.log[0] if len(snakemake.log) else None
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers,
                        force=True)
    try:
        step(**kwargs)
        log.info("peak memory of this step: %s", peak_memory_text())
    except EpiclockError as error:
        log.error("%s", error)
        sys.exit(1)
    except Exception:
        # An unexpected failure is a bug: keep its traceback in the rule's log as well.
        log.exception("unexpected error in %s", getattr(step, "__name__", step))
        raise


def peak_memory_text() -> str:
    """This process's peak resident memory since it started, from the kernel (VmHWM).

    Not ``getrusage``: Linux carries a parent's peak over through fork and exec, so a job started
    by Snakemake would report Snakemake's peak as its own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return f"{int(line.split()[1]) / 1024:.0f} MB"
    except OSError:
        pass
    return "unknown"


def import_betas(betas: str, outputs: dict[str, str], kind: str = "betas") -> None:
    """A beta matrix as one batch; ``kind`` says its format: betas, geo_series_matrix or geo_signals."""
    from epiclock.io import geo
    from epiclock.preprocess import pipeline

    if kind == "betas":
        table = read_beta_matrix(betas)
    elif kind == "geo_series_matrix":
        table = geo.read_series_matrix(betas).betas
    elif kind == "geo_signals":
        table = geo.read_signal_table(betas).betas
    else:
        raise EpiclockError(f"config input.type: unknown {kind!r}")
    log.info("imported %d CpGs x %d samples from %s", table.shape[0], table.shape[1], betas)
    write_batch(pipeline.BatchResult.from_matrix(table), outputs)


def write_batch(result, outputs: dict[str, str]) -> None:
    """A batch's betas (in row groups, so later steps can stream them) and its per-sample tables."""
    write_matrix(result.betas, outputs["betas"], row_group_size=MATRIX_BLOCK_ROWS)
    write_parquet(result.samples, outputs["samples"])
    write_parquet(result.control_metrics, outputs["controls"])
    write_parquet(result.snp_betas, outputs["snps"], index=True)
    write_parquet(result.beta_density, outputs["density"])
    for table, matrix in result.intensities.items():
        write_matrix(matrix, outputs[table], row_group_size=MATRIX_BLOCK_ROWS)


def read_stacked(paths: list[str], side_by_side: bool = False) -> pd.DataFrame:
    """One table of every batch, stacked (rows of all batches) or side by side (a matrix's sample columns)."""
    frames = [pd.read_parquet(path) for path in paths]
    return pd.concat(frames, axis=1) if side_by_side else pd.concat(frames, ignore_index=True)


def quality_control(batches: dict[str, list[str]], samples: str, qc_config: dict, design_config: dict,
                    missing: dict[str, str], outputs: dict[str, str]) -> None:
    """Every batch's per-sample tables judged together: thresholds, array checks, controls, sex, identity."""
    from epiclock.qc import assess, metrics

    sheet = read_sample_sheet(samples)
    sample_rows = read_stacked(batches["samples"])
    usable = sample_rows.loc[sample_rows["array_passed"].astype(bool)]
    judged = assess.judge(usable.set_index("sample_id")[metrics.BETA_METRIC_COLUMNS], sheet["sample_id"].tolist(),
                      assess.QcThresholds.from_config(qc_config))
    array_rows = pd.concat([sample_rows.drop(columns=metrics.BETA_METRIC_COLUMNS),
                            pd.DataFrame([{"sample_id": sample, "array_passed": False, "array_reasons": reason}
                                          for sample, reason in missing.items()])], ignore_index=True)
    qc_table = assess.merge_array_qc(judged, array_rows.dropna(axis=1, how="all"))
    snp_betas = read_stacked(batches["snps"], side_by_side=True)
    qc_table, identity = assess.flag_checks(qc_table, sheet, snp_betas, donor_column=design_config["donor_column"],
                                        sex_column=qc_config["sex_column"], fail_on=qc_config["fail_on"])
    # The tables are written before any stop, so the reasons are there to read after a fail-fast stop.
    write_table(qc_table, outputs["table_tsv"], outputs["table_parquet"])
    write_table(identity, outputs["identity_tsv"], outputs["identity_parquet"])
    write_table(read_stacked(batches["controls"]), outputs["controls_tsv"], outputs["controls_parquet"])
    write_parquet(read_stacked(batches["density"]), outputs["density"])
    failed = qc_table.loc[~qc_table["passed"]]
    for row in failed.itertuples():
        log.warning("quarantined %s: %s", row.sample_id, row.reasons)
    for row in qc_table.loc[qc_table["flags"] != ""].itertuples():
        log.warning("flagged %s: %s", row.sample_id, row.flags)
    log.info("%d of %d samples passed QC", len(qc_table) - len(failed), len(qc_table))


def merge_betas(batch_betas: list[str], qc_table: str, outputs: dict[str, str], method: str,
                fail_fast: bool = False) -> None:
    """The betas (and M-values when asked) of every sample that passed QC in one matrix, streamed in CpG blocks."""
    from epiclock.io import merge
    from epiclock.qc import assess

    table = pd.read_parquet(qc_table)
    assess.enforce(table, fail_fast=fail_fast)
    passed = assess.passing_samples(table)
    shape = merge.merge_batches(batch_betas, passed, outputs, method=method)
    log.info("merged %d CpGs x %d samples with method '%s'", *shape, method)


def predict_batch_clocks(matrix: str, output: str, clock_config: dict,
                         custom_dirs: dict[str, str] | None = None, details_output: str | None = None,
                         sheet: str | None = None, age_column: str = "donor_age", sex_column: str = "sex") -> None:
    """Every clock of the run on one batch's samples (a sample's age never depends on the others).

    The clocks' further outputs (GrimAge's surrogates, epiTOC2's divisions per year) go to
    ``details_output``; clocks that read a sample's age and sex (GrimAge) take them from ``sheet``.
    """
    from epiclock.clocks import predict, preprocessing, registry
    from epiclock.clocks import clock as clocks_clock
    from epiclock.io import merge
    from epiclock.io.tables import read_matrix_rows

    custom_dirs = custom_dirs or {}
    names = list(clock_config["names"])
    run_clocks = resolve_clocks(names, custom_dirs)
    # Only the rows the clocks read, unless one of them standardises each sample over the whole array.
    needed = predict.required_cpgs(run_clocks.values())
    betas = read_matrix(matrix) if needed is None else read_matrix_rows(matrix, needed, row_names=preprocessing.cpg_names)
    betas = merge.mask_invalid(betas)
    if betas.shape[1] == 0:
        write_parquet(pd.DataFrame(columns=clocks_clock.PREDICTION_COLUMNS), output)
        if details_output:
            write_parquet(pd.DataFrame(columns=clocks_clock.DETAIL_COLUMNS), details_output)
        return
    options = {"imputation": clock_config["imputation"], "min_coverage": float(clock_config["min_coverage"]),
               "replicates": clock_config["replicates"], "sample_tissue": clock_config.get("tissue")}
    covariates = (clocks_clock.sample_covariates(read_sample_sheet(sheet), age_column, sex_column)
                  if sheet and any(registry.get(name).covariates or registry.get(name).rate_per_year
                                   for name in names if name not in custom_dirs) else None)
    shipped, details = predict.predict_with_details(betas, [name for name in names if name not in custom_dirs],
                                                    covariates=covariates, **options)
    custom = [run_clocks[name].predict(betas, **options) for name in names if name in custom_dirs]
    write_parquet(pd.concat([shipped, *custom], ignore_index=True), output)
    if details_output:
        write_parquet(details, details_output)


def predict_clocks(batch_predictions: list[str], qc_table: str, outputs: dict[str, str], clock_names: list[str],
                   fail_fast: bool = False, batch_details: list[str] | None = None) -> None:
    """The batches' predictions of the samples that passed QC, in the config's clock order, and the
    clocks' further outputs (DETAIL_COLUMNS of epiclock.clocks.clock) of those samples beside them."""
    from epiclock.qc import assess

    table = pd.read_parquet(qc_table)
    # The stop comes here, after the QC step has finished: Snakemake removes a failed job's outputs,
    # and the QC table with the reasons must survive a fail-fast stop.
    assess.enforce(table, fail_fast=fail_fast)
    passed = assess.passing_samples(table)
    predictions = read_stacked(batch_predictions)
    predictions = predictions.loc[predictions["sample_id"].isin(passed)]
    order = {name: index for index, name in enumerate(clock_names)}
    sample_order = {sample: index for index, sample in enumerate(passed)}
    predictions = predictions.assign(_clock=predictions["clock"].map(order),
                                     _sample=predictions["sample_id"].map(sample_order))
    predictions = predictions.sort_values(["_clock", "_sample"], kind="stable").drop(columns=["_clock", "_sample"])
    predictions = predictions.reset_index(drop=True)
    for row in predictions.loc[predictions["dnam_age"].isna()].itertuples():
        log.warning("%s / %s: %s", row.sample_id, row.clock, row.status)
    write_table(predictions, outputs["predictions_tsv"], outputs["predictions_parquet"])
    coverage = predictions.rename(columns={"n_cpgs_used": "n_measured", "n_cpgs_imputed": "n_imputed"})[
        ["sample_id", "clock", "n_cpgs", "n_measured", "n_imputed", "coverage", "status"]]
    write_table(coverage, outputs["coverage_tsv"], outputs["coverage_parquet"])
    if batch_details is not None:
        details = read_stacked(batch_details)
        details = details.loc[details["sample_id"].isin(passed)]
        details = details.assign(_clock=details["clock"].map(order), _sample=details["sample_id"].map(sample_order))
        details = details.sort_values(["_clock", "_sample", "quantity"], kind="stable").drop(columns=["_clock", "_sample"])
        write_table(details.reset_index(drop=True), outputs["details_tsv"], outputs["details_parquet"])


def estimate_composition(matrices: list[str], qc_table: str, samples: str, settings: dict, design_config: dict,
                         contrasts_config: list[dict], outputs: dict[str, str]) -> None:
    """Cell-type fractions of the samples that passed QC on the chosen references
    (results/qc/composition), and per contrast the paired test of each fraction
    (results/qc/composition_contrasts)."""
    from epiclock import composition
    from epiclock.clocks import preprocessing
    from epiclock import deltas
    from epiclock.deltas import fractions as deltas_fractions
    from epiclock.io import merge
    from epiclock.io.tables import read_matrix_rows
    from epiclock.qc import assess

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
    design = deltas.Design.from_config(design_config)
    contrasts = [deltas.Contrast.from_config(entry) for entry in contrasts_config]
    table = deltas_fractions.fraction_contrasts(fractions, read_sample_sheet(samples), contrasts, design)
    write_table(table, outputs["contrasts_tsv"], outputs["contrasts_parquet"])


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


def train_custom_clock(name: str, betas: str, ages: str, settings: dict, out_dir: str, threads: int = 1) -> None:
    from epiclock.clocks import training
    from epiclock.report import provenance

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


def compute_deltas(predictions: str, samples: str, design_config: dict, contrast_config: list[dict],
                   outputs: dict[str, str], adjust_for: list[str] | None = None, composition: str | None = None) -> None:
    """Per-sample deltas, per-condition means and contrasts; with ``adjust_for``, the contrasts also
    adjusted for those cell fractions (read from the composition step's table)."""
    from epiclock import deltas

    sheet = read_sample_sheet(samples)
    design = deltas.Design.from_config(design_config)
    contrasts = [deltas.Contrast.from_config(entry) for entry in contrast_config]
    deltas.check_design(sheet, design, source=samples)
    deltas.check_contrasts(contrasts, sheet, design)
    from epiclock.deltas import units

    prediction_table = pd.read_parquet(predictions)
    per_sample = deltas.per_sample(prediction_table, sheet, design)
    adjust_for = list(adjust_for or [])
    if adjust_for:
        from epiclock.composition import table as composition_table

        covariates = composition_table.covariates(pd.read_parquet(composition), adjust_for)
        per_sample = per_sample.join(covariates, on="sample_id")
    per_condition = deltas.per_condition(per_sample, design)
    contrast_table = units.with_units(deltas.contrast_table(per_sample, contrasts, design, adjust_for),
                                      units.clock_units(prediction_table))
    write_table(per_sample, outputs["per_sample_tsv"], outputs["per_sample_parquet"])
    write_table(per_condition, outputs["per_condition_tsv"], outputs["per_condition_parquet"])
    write_table(contrast_table, outputs["contrasts_tsv"], outputs["contrasts_parquet"])


def download_manifest(url: str, sha256: str, output: str) -> None:
    from epiclock.io import download

    download.download(url, sha256, output)


def cache_manifest(manifest: str, sha256: str, probes: str, controls: str) -> None:
    from epiclock.io import download
    from epiclock.io.manifest import parse_manifest
    from epiclock.io.tables import write_parquet

    download.verify(manifest, sha256)
    parsed = parse_manifest(manifest)
    log.info("%s: %d probes, %d control probes", manifest, len(parsed.probes), len(parsed.controls))
    write_parquet(parsed.probes, probes)
    write_parquet(parsed.controls, controls)


def preprocess_idat_batch(basenames: dict[str, str], manifests: list[str], probes: list[str], controls: list[str],
                          settings: dict, outputs: dict[str, str]) -> None:
    """One batch of IDAT pairs; ``manifests`` are the run's manifest files, parsed into ``probes`` and ``controls``."""
    from epiclock.io.manifest import Manifest
    from epiclock.preprocess import pipeline

    parsed = [Manifest(pd.read_parquet(probe_table), pd.read_parquet(control_table), source)
              for source, probe_table, control_table in zip(manifests, probes, controls)]
    result = pipeline.preprocess_batch(basenames, parsed, pipeline.PreprocessSettings.from_config(settings))
    for row in result.samples.loc[~result.samples["array_passed"]].itertuples():
        log.warning("quarantined %s: %s", row.sample_id, row.array_reasons)
    write_batch(result, outputs)


def write_provenance(config: dict, inputs: dict[str, str], output: str) -> None:
    from epiclock.report import provenance

    record = provenance.build(config, inputs)
    write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n", output)


def resolve_clocks(names: list[str], custom_dirs: dict[str, str]) -> dict:
    """Every clock of the run by name: shipped ones from the package, custom ones from their training output."""
    from epiclock.clocks import registry, training

    return {name: training.load_trained_clock(name, custom_dirs[name]) if name in custom_dirs else registry.get(name)
            for name in names}


def write_figures(per_sample: str, contrasts: str, qc_tables: dict[str, str], config: dict, figure_dir: str,
                  custom_dirs: dict[str, str] | None = None) -> None:
    from epiclock import report
    from epiclock.report import composition as report_composition

    custom_dirs = custom_dirs or {}
    run_clocks = resolve_clocks(list(config["clocks"]["names"]), custom_dirs)
    cv_predictions = {name: pd.read_csv(Path(directory) / "cv_predictions.tsv", sep="\t")
                      for name, directory in custom_dirs.items()}
    per_sample_table = pd.read_parquet(per_sample)
    samples_table = per_sample_table.drop_duplicates("sample_id")
    rendered = report.figures(per_sample_table, pd.read_parquet(contrasts), config, run_clocks, cv_predictions)
    rendered.update(report.qc_figures(pd.read_parquet(qc_tables["qc_table"]), pd.read_parquet(qc_tables["controls"]),
                                      pd.read_parquet(qc_tables["density"]), float(config["qc"]["min_call_rate"])))
    rendered.update(report_composition.figures(pd.read_parquet(qc_tables["composition"]), samples_table,
                                               config["design"]["donor_column"],
                                               report.conditions_in_order(samples_table, config["design"])))
    Path(figure_dir).mkdir(parents=True, exist_ok=True)
    for name, svg in rendered.items():
        write_text(svg, Path(figure_dir) / f"{name}.svg")


def write_report(qc_tables: dict[str, str], predictions: str, per_sample: str, per_condition: str, contrasts: str,
                 provenance_json: str, figure_dir: str, config: dict, output: str,
                 custom_dirs: dict[str, str] | None = None) -> None:
    from epiclock import report

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
        per_sample=pd.read_parquet(per_sample), per_condition=pd.read_parquet(per_condition),
        contrasts=pd.read_parquet(contrasts), provenance=json.loads(Path(provenance_json).read_text()),
        config=config, figures=figures, clocks=resolve_clocks(list(config["clocks"]["names"]), custom_dirs),
        custom_cards=cards, composition=pd.read_parquet(qc_tables["composition"]),
        composition_contrasts=pd.read_parquet(qc_tables["composition_contrasts"]),
    )
    write_text(report.render(inputs), output)
    log.info("report written to %s", output)
