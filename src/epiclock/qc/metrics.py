"""Per-sample metrics of a beta matrix (counts, call rate, distribution) and the QC tables' columns."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd


# What ``beta_metrics`` measures per sample.
BETA_METRIC_COLUMNS = ["n_cpgs", "n_missing", "n_out_of_range", "beta_mean", "beta_median", "call_rate"]


DENSITY_BINS = 50


# The long QC tables every route leaves (empty where there are no intensities).
CONTROL_METRIC_COLUMNS = ["sample_id", "metric", "value", "threshold", "passed"]


BETA_DENSITY_COLUMNS = ["sample_id", "bin_left", "bin_right", "density"]


# A fingerprint of each sample's betas: two arrays never agree on every value, so equal fingerprints
# are one array under two names. Samples measuring too little are not fingerprinted (two empty arrays
# are alike without being one).
BETAS_DIGEST = "betas_digest"
MIN_FINGERPRINT_VALUES = 10


def betas_digest(values: np.ndarray, n_measured: int) -> str:
    if n_measured < max(MIN_FINGERPRINT_VALUES, values.size // 2):
        return ""
    return hashlib.blake2b(np.ascontiguousarray(values, dtype=np.float64).tobytes(), digest_size=16).hexdigest()


def beta_metrics(betas: pd.DataFrame, n_masked: pd.Series | None = None) -> pd.DataFrame:
    """Per sample (rows, by column of ``betas``): CpGs, missing, out-of-range values, mean, median, call rate.

    ``n_masked`` counts, per sample, probes missing on purpose (probe masks); the call rate leaves
    them out, so masking probes for every sample does not fail every sample. Samples are measured
    one at a time, so a batch costs one sample's temporary arrays, not the matrix's.
    """
    n_cpgs = betas.shape[0]
    rows = []
    for sample_id in betas.columns:
        values = betas[sample_id].to_numpy(dtype=np.float64)
        missing = np.isnan(values)
        # Infinite values count as out of range, not as missing: they mean the input is wrong, not absent.
        with np.errstate(invalid="ignore"):
            out_of_range = ~missing & (~np.isfinite(values) | (values < 0) | (values > 1))
        in_range = values[~missing & ~out_of_range]
        rows.append({
            "n_cpgs": n_cpgs, "n_missing": int(missing.sum()), "n_out_of_range": int(out_of_range.sum()),
            # An all-missing sample is a QC failure to report, not a warning to print.
            "beta_mean": float(in_range.mean()) if in_range.size else np.nan,
            "beta_median": float(np.median(in_range)) if in_range.size else np.nan,
            BETAS_DIGEST: betas_digest(values, int((~missing).sum())),
        })
    metrics = pd.DataFrame(rows, index=pd.Index(betas.columns, name="sample_id"),
                           columns=[column for column in BETA_METRIC_COLUMNS if column != "call_rate"] + [BETAS_DIGEST])
    masked = np.zeros(len(metrics)) if n_masked is None else n_masked.reindex(metrics.index).fillna(0).to_numpy(float)
    metrics["call_rate"] = 1 - (metrics["n_missing"] - masked) / np.maximum(n_cpgs - masked, 1)
    return metrics


def beta_density(betas: pd.DataFrame, bins: int = DENSITY_BINS) -> pd.DataFrame:
    """Long table of each sample's beta distribution: ``bins`` equal bins on [0, 1], density integrating to 1."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    frames = []
    for sample_id in betas.columns:
        values = betas[sample_id].to_numpy(dtype=float)
        values = values[np.isfinite(values) & (values >= 0) & (values <= 1)]
        counts, _ = np.histogram(values, bins=edges)
        density = counts / (counts.sum() * np.diff(edges)) if counts.sum() else np.full(bins, np.nan)
        frames.append(pd.DataFrame(dict(zip(BETA_DENSITY_COLUMNS, (sample_id, edges[:-1], edges[1:], density)))))
    if not frames:
        return pd.DataFrame(columns=BETA_DENSITY_COLUMNS)
    return pd.concat(frames, ignore_index=True)
