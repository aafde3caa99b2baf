"""Sample quality control on a beta matrix: call rate, missing values, values outside [0, 1].

A failing sample is quarantined, not fatal: it is listed with its reasons and excluded downstream,
so one bad array does not stop a run of hundreds (unless the config asks to fail fast).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError

QC_COLUMNS = [
    "sample_id", "n_cpgs", "n_missing", "call_rate", "n_out_of_range", "beta_mean", "beta_median",
    "passed", "reasons",
]


@dataclass(frozen=True)
class QcThresholds:
    min_call_rate: float = 0.95
    max_out_of_range: int = 0

    @classmethod
    def from_config(cls, qc_config: dict) -> "QcThresholds":
        return cls(min_call_rate=float(qc_config["min_call_rate"]),
                   max_out_of_range=int(qc_config["max_out_of_range"]))


def sample_qc(betas: pd.DataFrame, sample_ids: list[str], thresholds: QcThresholds) -> pd.DataFrame:
    """One row per sample of the sheet (and per matrix column not in the sheet), with pass/fail and reasons."""
    values = betas.to_numpy(dtype=float)
    n_cpgs = values.shape[0]
    finite = np.isfinite(values)
    # Infinite values count as out of range, not as missing: they mean the input is wrong, not absent.
    missing = np.isnan(values)
    out_of_range = (~missing) & ((~finite) | (values < 0) | (values > 1))
    in_range = np.where(finite & ~out_of_range, values, np.nan)
    # An all-missing sample is a QC failure to report, not a warning to print.
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        per_column = pd.DataFrame({
            "n_cpgs": n_cpgs,
            "n_missing": missing.sum(axis=0),
            "n_out_of_range": out_of_range.sum(axis=0),
            "beta_mean": np.nanmean(in_range, axis=0) if n_cpgs else np.nan,
            "beta_median": np.nanmedian(in_range, axis=0) if n_cpgs else np.nan,
        }, index=betas.columns)
    per_column["call_rate"] = 1 - per_column["n_missing"] / max(n_cpgs, 1)

    rows = []
    for sample_id in list(sample_ids) + [s for s in betas.columns if s not in set(sample_ids)]:
        if sample_id not in per_column.index:
            rows.append({"sample_id": sample_id, "n_cpgs": 0, "n_missing": 0, "call_rate": np.nan,
                         "n_out_of_range": 0, "beta_mean": np.nan, "beta_median": np.nan,
                         "passed": False, "reasons": "no column in the beta matrix"})
            continue
        metrics = per_column.loc[sample_id]
        reasons = []
        if sample_id not in set(sample_ids):
            reasons.append("not in the sample sheet")
        if metrics["call_rate"] < thresholds.min_call_rate:
            reasons.append(f"call rate {metrics['call_rate']:.3f} below {thresholds.min_call_rate:g}")
        if metrics["n_out_of_range"] > thresholds.max_out_of_range:
            hint = " (M-values instead of betas?)" if metrics["n_out_of_range"] > 0.1 * n_cpgs else ""
            reasons.append(f"{int(metrics['n_out_of_range'])} values outside [0, 1]{hint}")
        rows.append({
            "sample_id": sample_id, "n_cpgs": int(metrics["n_cpgs"]), "n_missing": int(metrics["n_missing"]),
            "call_rate": float(metrics["call_rate"]), "n_out_of_range": int(metrics["n_out_of_range"]),
            "beta_mean": float(metrics["beta_mean"]), "beta_median": float(metrics["beta_median"]),
            "passed": not reasons, "reasons": "; ".join(reasons),
        })
    return pd.DataFrame(rows, columns=QC_COLUMNS)


def passing_samples(qc_table: pd.DataFrame) -> list[str]:
    return qc_table.loc[qc_table["passed"].astype(bool), "sample_id"].tolist()


def enforce(qc_table: pd.DataFrame, fail_fast: bool) -> None:
    """Stop the run when nothing passed, or when anything failed and the config says fail fast."""
    failed = qc_table.loc[~qc_table["passed"].astype(bool)]
    if failed.empty:
        return
    listing = "; ".join(f"{row.sample_id}: {row.reasons}" for row in failed.head(10).itertuples())
    if len(failed) == len(qc_table):
        raise EpiclockError(f"QC: no sample passed ({listing})")
    if fail_fast:
        raise EpiclockError(f"QC failed for {len(failed)} sample(s) and fail_fast is set: {listing}")


def merge_array_qc(qc_table: pd.DataFrame, array_qc: pd.DataFrame) -> pd.DataFrame:
    """Add the array-level checks (IDAT reading, array type, intensities) to the beta-level table.

    A sample that failed at the array level fails here too, with that reason first.
    """
    extra = array_qc.drop(columns=[c for c in ("basename",) if c in array_qc.columns]).set_index("sample_id")
    merged = qc_table.join(extra, on="sample_id")
    array_failed = merged["array_passed"].eq(False)
    merged["reasons"] = [
        "; ".join(part for part in (array_reason if failed else "", reason if not failed else "") if part)
        for failed, array_reason, reason in zip(array_failed, merged["array_reasons"].fillna(""), merged["reasons"])
    ]
    merged["passed"] = merged["passed"] & ~array_failed
    return merged.drop(columns=["array_passed", "array_reasons"])
