"""From IDAT pairs to betas, one sample at a time, in batches of samples.

A batch is the unit of work of one Snakemake job, so that 1,000 arrays make tens of jobs, not
thousands. Within a batch every sample is read and normalised on its own (a sample's betas never
depend on the other samples), and a sample whose files cannot be used is quarantined with the
reason instead of stopping the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.io.idat import read_idat_pair
from epiclock.io.manifest import Manifest

# Share of the manifest's probe addresses an IDAT must carry to be an array of that design.
MIN_ADDRESS_COVERAGE = 0.95


METHODS = ("noob", "raw")


@dataclass(frozen=True)
class PreprocessSettings:
    method: str = "noob"            # 'noob' (background + dye-bias correction) or 'raw'
    dye_method: str = "single"      # with noob: 'single' (minfi), 'linear', 'nonlinear' (sesame), 'none'
    offset: float = 100.0           # beta = M / (M + U + offset)
    detection: str = "minfi"        # detection p-values: 'minfi' (negative controls) or 'poobah'
    p_threshold: float | None = None  # None: the method's own default (minfi 0.01, pOOBAH 0.05)
    min_beads: int = 3
    mask_failed: bool = True        # failed probes (detection p, beads) become missing betas

    @classmethod
    def from_config(cls, section: dict) -> "PreprocessSettings":
        known = {name: section[name] for name in cls.__dataclass_fields__ if name in section}
        settings = cls(**known)
        if settings.method not in METHODS:
            raise EpiclockError(f"config preprocess.method: unknown {settings.method!r}; choose one of {', '.join(METHODS)}")
        return settings


def idat_basenames(sheet: pd.DataFrame, idat_dir: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """Each sample's IDAT pair prefix, found recursively under ``idat_dir``; and the samples without one.

    A sample names its pair by a ``basename`` column (a path prefix, relative to ``idat_dir`` or
    absolute, or just the file stem) or by ``chip`` and ``position`` (Sentrix ID and position).
    """
    idat_dir = Path(idat_dir)
    if not idat_dir.is_dir():
        raise EpiclockError(f"{idat_dir}: IDAT directory not found (config input.idat_dir)")
    stems: dict[str, Path] = {}
    for path in idat_dir.rglob("*_Grn.idat*"):
        if path.name.endswith(("_Grn.idat", "_Grn.idat.gz")):
            stem = path.name.split("_Grn.idat")[0]
            stems.setdefault(stem, path.parent / stem)
    if not stems:
        raise EpiclockError(f"{idat_dir}: no IDAT files (*_Grn.idat[.gz]) found under this directory")
    if "basename" not in sheet.columns and not {"chip", "position"} <= set(sheet.columns):
        raise EpiclockError("sample sheet: IDAT input needs a 'basename' column, or 'chip' and 'position' "
                            "(Sentrix_ID and Sentrix_Position in an Illumina SampleSheet.csv)")
    found, missing = {}, {}
    for row in sheet.itertuples():
        stem = Path(str(row.basename)).name if "basename" in sheet.columns and str(row.basename) else \
            f"{row.chip}_{row.position}"
        if stem in stems:
            found[row.sample_id] = str(stems[stem])
        else:
            missing[row.sample_id] = f"no IDAT pair {stem}_Red/_Grn.idat[.gz] under {idat_dir}"
    return found, missing


def batches(sample_ids: list[str], batch_size: int) -> dict[str, list[str]]:
    """Consecutive groups of at most ``batch_size`` samples, named batch_0001, batch_0002, ..."""
    if batch_size < 1:
        raise EpiclockError(f"config input.batch_size must be at least 1 (got {batch_size})")
    return {f"batch_{index // batch_size + 1:04d}": sample_ids[index:index + batch_size]
            for index in range(0, len(sample_ids), batch_size)}


def _array_check(pair, probes: pd.DataFrame) -> str:
    """Empty when the pair carries the manifest's probes; otherwise why not."""
    wanted = probes["address_a"].to_numpy(dtype=np.int64)
    present = np.isin(wanted, pair.addresses.astype(np.int64)).mean()
    if present < MIN_ADDRESS_COVERAGE:
        return (f"IDAT pair {pair.basename} ({pair.green.chip_type or 'unknown chip type'}, "
                f"{pair.green.probe_count} addresses) carries only {present:.0%} of the manifest's probes: "
                "it is from another array than the manifest")
    return ""


def preprocess_sample(basename: str, manifest: Manifest, settings: PreprocessSettings) -> tuple[pd.Series, dict]:
    """Betas and array-level QC metrics of one sample (failed probes masked when the settings say so)."""
    from epiclock import controls, detection, noob
    from epiclock.io.signals import raw_signals

    pair = read_idat_pair(basename)
    problem = _array_check(pair, manifest.probes)
    if problem:
        raise EpiclockError(problem)
    if settings.method == "noob":
        signals = noob.noob(pair, manifest.probes, manifest.controls, dye_method=settings.dye_method).signals
    else:
        signals = raw_signals(pair, manifest.probes)
    betas = noob.betas(signals, offset=settings.offset)
    probe_table, summary = detection.detection_summary(pair, manifest.probes, manifest.controls,
                                                       method=settings.detection, p_threshold=settings.p_threshold,
                                                       min_beads=settings.min_beads)
    if settings.mask_failed:
        betas = betas.mask(probe_table["failed"].reindex(betas.index, fill_value=True))
    control_passed, control_notes = controls.control_summary(controls.control_metrics(pair, manifest.controls))
    metrics = {
        "chip_type": pair.green.chip_type, "n_addresses": pair.green.probe_count,
        "detection_call_rate": summary["call_rate"], "n_low_beads": summary["n_low_beads"],
        "median_intensity": float(np.nanmedian(signals["methylated"] + signals["unmethylated"])),
        "controls_passed": bool(control_passed), "control_notes": control_notes,
    }
    return betas.rename(None), metrics


def preprocess_batch(basenames: dict[str, str], manifest: Manifest,
                     settings: PreprocessSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Betas (CpG x sample) of the batch's usable samples, and one QC row per sample with its reason."""
    columns, rows = {}, []
    for sample_id, basename in basenames.items():
        try:
            betas, metrics = preprocess_sample(basename, manifest, settings)
        except EpiclockError as error:
            rows.append({"sample_id": sample_id, "basename": basename, "array_passed": False,
                         "array_reasons": str(error)})
            continue
        columns[sample_id] = betas
        rows.append({"sample_id": sample_id, "basename": basename, "array_passed": True, "array_reasons": "",
                     **metrics})
    matrix = pd.DataFrame(columns, index=manifest.probes["probe_id"].to_numpy())
    matrix.index.name = "cpg_id"
    return matrix.astype(np.float32), pd.DataFrame(rows)


def gather(batch_betas: list[str], batch_qc: list[str], missing: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All batches' betas side by side, and every sample's array QC row (samples without IDATs included).

    Batches must share one probe set (one array design); a mixture is an error naming the batches.
    """
    matrices = [pd.read_parquet(path) for path in batch_betas]
    reference = matrices[0].index
    for path, matrix in zip(batch_betas[1:], matrices[1:]):
        if not matrix.index.equals(reference):
            raise EpiclockError(f"{path}: its probes differ from those of {batch_betas[0]}; "
                                "every sample of a run must be preprocessed with one manifest")
    rows = [pd.read_parquet(path) for path in batch_qc]
    rows.append(pd.DataFrame([{"sample_id": sample, "basename": "", "array_passed": False, "array_reasons": reason}
                              for sample, reason in missing.items()]))
    qc_rows = pd.concat([frame for frame in rows if len(frame)], ignore_index=True)
    return pd.concat(matrices, axis=1), qc_rows
