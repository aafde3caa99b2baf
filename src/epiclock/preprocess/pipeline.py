"""From IDAT pairs to betas, one sample at a time, in batches of samples.

A batch is the unit of work of one Snakemake job, so that 1,000 arrays make tens of jobs, not
thousands. Within a batch every sample is read and normalised on its own (a sample's betas never
depend on the other samples), and a sample whose files cannot be used is quarantined with the
reason instead of stopping the batch.

Within a sample the IDAT pair is read once and its intensities are looked up once
(``channels.measure``): noob, detection p-values, control metrics, sex and SNP betas all share them,
and the probe layout they rest on is computed once per manifest and array type for the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from epiclock.arrays import betas as arrays_betas
from epiclock.arrays import channels
from epiclock.arrays import layout as arrays_layout
from epiclock.arrays.signals import raw_signals
from epiclock.cache import RecentCache
from epiclock.errors import ConfigurationError, EpiclockError
from epiclock.io.idat import IdatPair, read_idat_pair
from epiclock.io.manifest import Manifest
from epiclock.preprocess import bmiq, channel_inference, detection, dye_bias, masks, noob
from epiclock.preprocess import controls as control_checks
from epiclock.qc import identity
from epiclock.qc import metrics as qc_metrics
from epiclock.qc import sex as qc_sex

# Share of the manifest's probe addresses an IDAT must carry to be an array of that design.
MIN_ADDRESS_COVERAGE = 0.95


METHODS = ("noob", "raw")


@dataclass(frozen=True)
class PreprocessSettings:
    method: str = "noob"            # 'noob' (background + dye-bias correction) or 'raw'
    dye_method: str = "auto"        # with noob: 'single' (minfi), 'linear', 'nonlinear' (sesame), 'none'; 'auto'
    offset: float = 100.0           # beta = M / (M + U + offset)
    detection: str = "auto"         # detection p-values: 'minfi' (negative controls), 'poobah'; 'auto'
    p_threshold: float | None = None  # None: the method's own default (minfi 0.01, pOOBAH 0.05)
    min_beads: int = 3
    mask_failed: bool = True        # failed probes (detection p, beads) become missing betas
    keep_intensities: bool = True   # the raw methylated and unmethylated signals are kept beside the betas
    masks: masks.MaskChoice = field(default_factory=masks.MaskChoice)  # listed probes become missing betas
    bmiq: bool = False              # BMIQ on each sample's betas (type II onto type I)
    infer_channels: bool = False    # type-I colours read from the sample, not the manifest (SeSAMe)

    @classmethod
    def from_config(cls, section: dict) -> "PreprocessSettings":
        known = {name: section[name] for name in cls.__dataclass_fields__ if name in section}
        if "masks" in known:
            known["masks"] = masks.MaskChoice.from_config(known["masks"])
        settings = cls(**known)
        if settings.method not in METHODS:
            raise EpiclockError(f"config preprocess.method: unknown {settings.method!r}; choose one of {', '.join(METHODS)}")
        return settings


# `auto` (the schema's default for detection and dye_method) becomes the first choice where every manifest of
# the run names the controls it needs, the second otherwise: SeSAMe's own choices for manifests without them.
AUTO = "auto"
AUTO_DETECTION = ("minfi", "poobah")
AUTO_DYE_METHOD = ("single", "nonlinear")


def resolve_auto(settings: PreprocessSettings, controls: list[pd.DataFrame],
                 sources: list[str]) -> tuple[PreprocessSettings, str]:
    """``settings`` with ``auto`` replaced for the run's manifests (their control tables and files), and a
    one-line note saying what was chosen and why (empty when nothing was left to ``auto``).

    One choice for every manifest of the run, so that all arrays of a study are preprocessed alike.
    """
    chosen, reasons = {}, []
    for key, (first, second), needs, kind, applies in (
            ("detection", AUTO_DETECTION, detection.has_negative_controls, "NEGATIVE", True),
            ("dye_method", AUTO_DYE_METHOD, dye_bias.has_normalisation_controls, "normalisation",
             settings.method == "noob")):
        if getattr(settings, key) != AUTO:
            continue
        lacking = [Path(source).name for source, table in zip(sources, controls) if not needs(table)]
        chosen[key] = second if lacking else first
        if applies:
            reasons.append(f"preprocess.{key} auto: '{chosen[key]}', as " + (
                f"{', '.join(lacking)} names no {kind} control probes, which '{first}' needs" if lacking
                else f"the manifest names the {kind} control probes it needs"))
    if not chosen:
        return settings, ""
    return replace(settings, **chosen), "; ".join(reasons)


def check_manifest_controls(settings: PreprocessSettings, controls: pd.DataFrame, source: str,
                            fail_on: tuple[str, ...] | list[str] = ()) -> None:
    """Stop, naming the choice to make instead, where a setting needs controls ``source`` does not name.

    Checked before any sample is read, so that a run does not quarantine every array for the same
    reason: minfi's detection p needs NEGATIVE controls, the single and linear dye-bias corrections
    need normalisation controls, and ``qc.fail_on: [controls]`` needs the controls of some metric.
    """
    problems = []
    if settings.detection == "minfi" and not detection.has_negative_controls(controls):
        problems.append("preprocess.detection: 'minfi' needs NEGATIVE control probes; choose 'poobah' "
                        "(out-of-band background, no controls needed)")
    if settings.method == "noob" and settings.dye_method in ("single", "linear") and not dye_bias.has_normalisation_controls(controls):
        problems.append(f"preprocess.dye_method: '{settings.dye_method}' needs normalisation controls (NORM_A/C/G/T); "
                        "choose 'nonlinear' (from the type-I probes' own signals) or 'none'")
    if "controls" in fail_on and not control_checks.has_metric_controls(controls):
        problems.append("qc.fail_on: 'controls' needs named control probes; remove it")
    if problems:
        raise ConfigurationError(f"{source}: the manifest names no control probes of the kinds these settings need; "
                                 f"config {'; config '.join(problems)}")


def _array_check(pair: IdatPair, layout) -> str:
    """Empty when the pair carries the manifest's probes (as laid out on it); otherwise why not."""
    present = float(np.mean(layout.position_a < len(pair.addresses))) if len(layout.position_a) else 0.0
    if present < MIN_ADDRESS_COVERAGE:
        return (f"IDAT pair {pair.basename} ({pair.green.chip_type or 'unknown chip type'}, "
                f"{pair.green.probe_count} addresses) carries only {present:.0%} of the manifest's probes: "
                "it is from another array than the manifest (a run mixing arrays lists each array's manifest "
                "in manifest.extra and sets input.mixed_arrays: intersect)")
    return ""


def choose_manifest(pair: IdatPair, manifests: list[Manifest]) -> int:
    """Which of ``manifests`` (by position) the pair carries most of; an error naming them all when none fits."""
    coverage = []
    for manifest in manifests:
        layout = arrays_layout.probe_layout(pair.addresses, manifest.probes)
        coverage.append(float(np.mean(layout.position_a < len(pair.addresses))) if len(layout.position_a) else 0.0)
    best = int(np.argmax(coverage))
    if coverage[best] < MIN_ADDRESS_COVERAGE:
        names = ", ".join(f"{Path(manifest.source).name} {share:.0%}" for manifest, share in zip(manifests, coverage))
        raise EpiclockError(f"IDAT pair {pair.basename} ({pair.green.chip_type or 'unknown chip type'}, "
                            f"{pair.green.probe_count} addresses) fits none of the run's manifests (probes "
                            f"carried: {names}): add its array's manifest to manifest.extra")
    return best


class CommonCpgs:
    """The CpGs every manifest of a mixed-array run measures, and how each manifest's probes map onto them.

    A CpG is named without its EPICv2 suffix; where a manifest has several probes for one CpG
    (EPICv2 replicates) the CpG's value is their mean, whatever ``clocks.replicates`` says, since
    the arrays must agree on one value per CpG before any clock runs. Manifests are referred to by
    their position in the run's list.
    """

    def __init__(self, manifests: list[Manifest]):
        names = [pd.Index(manifest.probes["name"].astype(str)) for manifest in manifests]
        common = names[0].unique()
        for other in names[1:]:
            common = common[common.isin(other)]
        if common.empty:
            raise EpiclockError("input.mixed_arrays: the manifests " + ", ".join(m.source for m in manifests)
                                + " have no CpG in common")
        self.index = pd.Index(common, name="cpg_id")
        self._codes = [self.index.get_indexer(name) for name in names]
        # SNP probes are compared across arrays by name too (EPICv2 suffixes them like CpG probes).
        self._snp_names = [pd.Series(name, index=manifest.probes["probe_id"].astype(str))[name.str.startswith("rs")]
                           for manifest, name in zip(manifests, names)]

    def __len__(self) -> int:
        return len(self.index)

    def values(self, manifest: int, values: np.ndarray) -> np.ndarray:
        """Per-probe ``values`` of a manifest (its probe order) as the common CpGs' values; NaN stays missing."""
        codes = self._codes[manifest]
        usable = (codes >= 0) & ~np.isnan(values)
        totals = np.bincount(codes[usable], weights=values[usable], minlength=len(self))
        counts = np.bincount(codes[usable], minlength=len(self))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, totals / counts, np.nan)

    def count_missing(self, manifest: int, missing: np.ndarray) -> int:
        """How many common CpGs lose every probe of theirs to ``missing`` (per probe of the manifest)."""
        return int(np.isnan(self.values(manifest, np.where(missing, np.nan, 0.0))).sum())

    def snp_betas(self, manifest: int, betas: pd.Series) -> pd.Series:
        """SNP-probe betas of a manifest by SNP name, replicate probes averaged."""
        ids = betas.index.astype(str)
        names = self._snp_names[manifest].reindex(ids).fillna(pd.Series(ids, index=ids))
        return betas.groupby(names.to_numpy()).mean()


@dataclass(frozen=True)
class SampleResult:
    """Everything one sample's preprocessing yields."""

    betas: pd.Series                # by manifest probe_id, in manifest order; failed and masked probes NaN
    metrics: dict                   # the array-QC row: chip_type, n_addresses, detection_call_rate,
                                    # n_low_beads, median_intensity, controls_passed, control_notes,
                                    # n_masked, predicted_sex ('F', 'M' or None), x_median, y_median
    control_metrics: pd.DataFrame   # controls.control_metrics: value, threshold, passed by metric
    snp_betas: pd.Series            # identity.snp_betas (rs probe -> beta); empty without rs probes
    raw_signals: pd.DataFrame | None = None  # minfi's preprocessRaw: methylated, unmethylated by probe


_MASK_ROWS_CACHE = RecentCache(4)  # entries: (probe table, mask choice, vendored array, masked rows)


def _masked_rows(choice: masks.MaskChoice, probes: pd.DataFrame, probe_ids: pd.Index, pair: IdatPair) -> np.ndarray:
    """Which probes of the manifest ``choice`` masks (worked out once per manifest and choice)."""
    if choice.is_empty:
        return np.zeros(len(probe_ids), dtype=bool)
    array = masks.vendored_array(len(probes), pair.green) if choice.uses_vendored else None
    cached = _MASK_ROWS_CACHE.find(lambda entry: entry[0] is probes and entry[1] == choice and entry[2] == array)
    if cached is not None:
        return cached[3]
    return _MASK_ROWS_CACHE.add((probes, choice, array, probe_ids.isin(masks.masked_probes(choice, array))))[3]


def _sex_metrics(measured, probes: pd.DataFrame) -> dict:
    """predicted_sex, x_median and y_median; None and NaN where the manifest or array cannot tell."""
    layout = measured.probe.layout
    unknown = {"predicted_sex": None, "x_median": np.nan, "y_median": np.nan}
    if not (layout.on_x.any() and layout.on_y.any()):
        return unknown
    try:
        prediction = qc_sex.predict_sex(measured, probes)
    except EpiclockError:  # chrX/chrY probes without signal on this array
        return unknown
    return {name: prediction[name] for name in unknown}


def _bmiq_betas(values: np.ndarray, layout, design: np.ndarray, name: str) -> np.ndarray:
    """BMIQ on one sample's CpG betas; SNP probes (genotypes, not methylation) are left as they are."""
    cpg = ~layout.snp
    # One index object for betas and design, so that BMIQ's alignment of the two costs nothing.
    index = layout.index[cpg]
    normalised = bmiq.bmiq(pd.Series(values[cpg], index=index, name=name), pd.Series(design[cpg], index=index))
    values = values.copy()
    values[cpg] = normalised.to_numpy()
    return values


def preprocess_sample(source: str | IdatPair, manifest: Manifest, settings: PreprocessSettings) -> SampleResult:
    """Betas, array-level QC metrics, control metrics and SNP betas of one sample.

    Failed probes are masked when the settings say so, then BMIQ runs when asked, then the probes
    of ``settings.masks`` are masked; a mask only hides probes, it never changes another's beta.
    """
    settings, _ = resolve_auto(settings, [manifest.controls], [manifest.source])
    probes = manifest.probes
    pair = source if isinstance(source, IdatPair) else read_idat_pair(source)
    measured = channels.measure(pair, probes, manifest.controls)
    layout = measured.probe.layout
    problem = _array_check(pair, layout)
    if problem:
        raise EpiclockError(problem)
    n_switched = 0
    if settings.infer_channels:
        # A colour-channel-switching SNP makes a type-I probe light up in the other colour; reading it
        # in the colour it shows keeps its beta from collapsing to background (SeSAMe's inferInfiniumIChannel).
        inferred = channel_inference.infer_type_one_channels(measured, probes)
        n_switched = int(inferred["switched"].sum())
        probes = channel_inference.with_inferred_channels(probes, inferred)
        measured = channels.measure(pair, probes, manifest.controls)
        layout = measured.probe.layout
    if settings.method == "noob":
        signals = noob.noob(measured, probes, manifest.controls, dye_method=settings.dye_method).signals
    else:
        signals = raw_signals(measured, probes)
    methylated = signals["methylated"].to_numpy()
    unmethylated = signals["unmethylated"].to_numpy()
    values = arrays_betas.betas(signals, offset=settings.offset).to_numpy()
    probe_table, summary = detection.detection_summary(measured, probes, manifest.controls,
                                                       method=settings.detection, p_threshold=settings.p_threshold,
                                                       min_beads=settings.min_beads)
    if settings.mask_failed:
        values = np.where(probe_table["failed"].to_numpy(dtype=bool), np.nan, values)
    if settings.bmiq:
        values = _bmiq_betas(values, layout, probes["design"].to_numpy(), pair.basename)
    masked = _masked_rows(settings.masks, manifest.probes, layout.index, pair)
    values = np.where(masked, np.nan, values)

    control_metrics = control_checks.control_metrics(measured, manifest.controls)
    control_passed, control_notes = control_checks.control_summary(control_metrics)
    total = methylated + unmethylated
    total = total[~np.isnan(total)]
    metrics = {
        "chip_type": pair.green.chip_type, "n_addresses": pair.green.probe_count,
        "detection_call_rate": summary["call_rate"], "n_low_beads": summary["n_low_beads"],
        "median_intensity": float(np.median(total)) if total.size else np.nan,
        "controls_passed": bool(control_passed), "control_notes": control_notes,
        "n_masked": int(np.count_nonzero(masked)),
        "n_channel_switched": n_switched,
        **_sex_metrics(measured, probes),
    }
    snp_betas = (identity.snp_betas(measured, probes) if layout.snp.any()
                 else pd.Series(dtype=np.float64, index=pd.Index([], name="probe_id"), name=pair.basename))
    raw = (signals if settings.method == "raw" else raw_signals(measured, probes)) if settings.keep_intensities else None
    return SampleResult(pd.Series(values, index=layout.index), metrics, control_metrics, snp_betas, raw)


@dataclass(frozen=True)
class BatchResult:
    """What one batch job hands on: the betas, and the small per-sample tables that QC gathers.

    ``samples`` has one row per sample of the batch (usable or not): ``array_passed`` and
    ``array_reasons``, the array-level metrics where there are IDATs, and the beta-level metrics of
    ``qc_metrics.beta_metrics`` for usable samples. Control metrics are long (sample_id, metric, value,
    threshold, passed), SNP betas are rs probe x sample, and the beta density is long.
    ``intensities`` holds the raw methylated and unmethylated signals (probe x sample) when kept.
    """

    betas: pd.DataFrame
    samples: pd.DataFrame
    control_metrics: pd.DataFrame
    snp_betas: pd.DataFrame
    beta_density: pd.DataFrame
    intensities: dict[str, pd.DataFrame] = field(default_factory=dict)

    @classmethod
    def from_matrix(cls, betas: pd.DataFrame) -> "BatchResult":
        """A beta matrix read as it is: every column is a usable sample without array-level metrics."""
        array_rows = pd.DataFrame({"sample_id": betas.columns.astype(str), "array_passed": True, "array_reasons": ""})
        return cls._assemble(betas, array_rows, [], pd.DataFrame(index=pd.Index([], name="probe_id")), {})

    @classmethod
    def _assemble(cls, betas: pd.DataFrame, array_rows: pd.DataFrame, control_frames: list[pd.DataFrame],
                  snp_betas: pd.DataFrame, intensities: dict[str, pd.DataFrame]) -> "BatchResult":
        n_masked = array_rows.set_index("sample_id")["n_masked"] if "n_masked" in array_rows.columns else None
        metrics = qc_metrics.beta_metrics(betas, n_masked=n_masked).reset_index()
        samples = array_rows.merge(metrics, on="sample_id", how="left")
        controls = (pd.concat(control_frames, ignore_index=True) if control_frames
                    else pd.DataFrame(columns=qc_metrics.CONTROL_METRIC_COLUMNS))
        return cls(betas, samples, controls, snp_betas, qc_metrics.beta_density(betas), intensities)


# The raw signals a batch keeps, each as a probe x sample matrix.
INTENSITY_TABLES = ("methylated", "unmethylated")


def _on_run_cpgs(values: pd.Series, manifest: int, common: CommonCpgs | None) -> np.ndarray:
    """A sample's per-probe values (of the manifest at that position) as the run's matrix rows: as they are,
    or on the common CpGs of mixed arrays."""
    values = values.to_numpy(dtype=np.float64)
    return (values if common is None else common.values(manifest, values)).astype(np.float32)


def preprocess_batch(basenames: dict[str, str], manifests: Manifest | list[Manifest],
                     settings: PreprocessSettings) -> BatchResult:
    """Every sample of a batch on its own; a sample whose files cannot be used is a row with its reason.

    With several manifests (a run that mixes arrays) each sample is read with the manifest that fits
    its IDATs, and its betas and signals are reduced to the CpGs every manifest measures. A
    configuration that cannot work for this array (``ConfigurationError``) stops the batch: it
    would fail every sample alike.
    """
    manifests = [manifests] if isinstance(manifests, Manifest) else list(manifests)
    for manifest in manifests:
        check_manifest_controls(settings, manifest.controls, manifest.source)
    settings, _ = resolve_auto(settings, [m.controls for m in manifests], [m.source for m in manifests])
    common = CommonCpgs(manifests) if len(manifests) > 1 else None
    cpg_index = pd.Index(manifests[0].probes["probe_id"].to_numpy(), name="cpg_id") if common is None else common.index
    # Each matrix is allocated once and filled sample by sample: no per-sample copies to gather at the end.
    tables = ("betas", *(INTENSITY_TABLES if settings.keep_intensities else ()))
    matrices = {table: np.empty((len(cpg_index), len(basenames)), dtype=np.float32) for table in tables}
    usable: list[str] = []
    rows, control_frames, snp_columns = [], [], {}
    for sample_id, basename in basenames.items():
        try:
            pair = read_idat_pair(basename)
            position = 0 if common is None else choose_manifest(pair, manifests)
            manifest = manifests[position]
            result = preprocess_sample(pair, manifest, settings)
        except ConfigurationError:
            raise
        except EpiclockError as error:
            rows.append({"sample_id": sample_id, "basename": basename, "array_passed": False,
                         "array_reasons": str(error)})
            continue
        metrics, snps = dict(result.metrics), result.snp_betas
        if common is not None:
            metrics["manifest"] = Path(manifest.source).name
            masked = _masked_rows(settings.masks, manifest.probes, result.betas.index, pair)
            metrics["n_masked"] = common.count_missing(position, masked)
            snps = common.snp_betas(position, snps)
        rows.append({"sample_id": sample_id, "basename": basename, "array_passed": True, "array_reasons": "",
                     **metrics})
        control_frames.append(result.control_metrics.reset_index().assign(sample_id=sample_id)[qc_metrics.CONTROL_METRIC_COLUMNS])
        snp_columns[sample_id] = snps
        column = len(usable)
        matrices["betas"][:, column] = _on_run_cpgs(result.betas, position, common)
        for table in tables[1:]:
            matrices[table][:, column] = _on_run_cpgs(result.raw_signals[table], position, common)
        usable.append(sample_id)
    frames = {table: pd.DataFrame(values[:, :len(usable)], index=cpg_index, columns=pd.Index(usable), copy=False)
              for table, values in matrices.items()}
    matrix = frames.pop("betas")
    snp_betas = pd.DataFrame(snp_columns, dtype=float)
    snp_betas.index.name = "probe_id"
    return BatchResult._assemble(matrix, pd.DataFrame(rows), control_frames, snp_betas, intensities=frames)
