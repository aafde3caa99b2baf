"""Sample quality control: which samples pass, and why each other one is quarantined.

``assess`` makes the QC table from every batch's per-sample rows in four steps, each adding its
reasons: ``judge`` (call rate, values outside [0, 1], samples absent from the matrix or the sheet),
``merge_array_qc`` (what preprocessing found: unreadable IDATs, wrong array, no intensities; and
samples whose IDATs were never found), and ``flag_checks`` (control probes, sex against the sheet,
SNP identity: flags, and reasons too for the checks listed in ``qc.fail_on``).

A failing sample is quarantined, not fatal: it is listed with its reasons and excluded downstream,
so one bad array does not stop a run of hundreds (unless the config asks to fail fast).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.qc.identity import DUPLICATE_PROBLEM, identity_pairs
from epiclock.qc.metrics import BETA_METRIC_COLUMNS, BETAS_DIGEST
from epiclock.qc.sex import check_sex

QC_COLUMNS = [
    "sample_id", "n_cpgs", "n_missing", "call_rate", "n_out_of_range", "beta_mean", "beta_median",
    "passed", "reasons", "in_sheet",
]
# The reason of a measured sample the sheet does not list: ignored, and not counted as a QC failure.
NOT_IN_SHEET = "not in the sample sheet (ignored)"


@dataclass(frozen=True)
class QcThresholds:
    min_call_rate: float = 0.95
    max_out_of_range: int = 0

    @classmethod
    def from_config(cls, qc_config: dict) -> "QcThresholds":
        return cls(min_call_rate=float(qc_config["min_call_rate"]),
                   max_out_of_range=int(qc_config["max_out_of_range"]))


def judge(metrics: pd.DataFrame, sample_ids: list[str], thresholds: QcThresholds) -> pd.DataFrame:
    """One row per sample of the sheet (and per measured sample not in it), with pass/fail and reasons.

    ``metrics`` holds ``beta_metrics`` rows indexed by sample; a sheet sample without a row has no
    column in the beta matrix. A measured sample the sheet does not list is kept out of everything
    downstream with the reason NOT_IN_SHEET and ``in_sheet`` false: it is no QC failure, and counts
    of the study's samples leave it out.
    """
    sheet = set(sample_ids)
    rows = []
    for sample_id in list(sample_ids) + [s for s in metrics.index if s not in sheet]:
        if sample_id not in metrics.index:
            rows.append({"sample_id": sample_id, "n_cpgs": 0, "n_missing": 0, "call_rate": np.nan,
                         "n_out_of_range": 0, "beta_mean": np.nan, "beta_median": np.nan,
                         "passed": False, "reasons": "no column in the beta matrix", "in_sheet": True})
            continue
        row = metrics.loc[sample_id]
        reasons = []
        if sample_id not in sheet:
            reasons.append(NOT_IN_SHEET)
        if row["call_rate"] < thresholds.min_call_rate:
            reasons.append(f"call rate {row['call_rate']:.3f} below {thresholds.min_call_rate:g}")
        if row["n_out_of_range"] > thresholds.max_out_of_range:
            hint = " (M-values instead of betas?)" if row["n_out_of_range"] > 0.1 * row["n_cpgs"] else ""
            reasons.append(f"{int(row['n_out_of_range'])} values outside [0, 1]{hint}")
        rows.append({
            "sample_id": sample_id, "n_cpgs": int(row["n_cpgs"]), "n_missing": int(row["n_missing"]),
            "call_rate": float(row["call_rate"]), "n_out_of_range": int(row["n_out_of_range"]),
            "beta_mean": float(row["beta_mean"]), "beta_median": float(row["beta_median"]),
            "passed": not reasons, "reasons": "; ".join(reasons), "in_sheet": sample_id in sheet,
        })
    return pd.DataFrame(rows, columns=QC_COLUMNS)


def sheet_samples(qc_table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the sheet's samples: every count of the study is over these."""
    if "in_sheet" not in qc_table.columns:
        return qc_table
    return qc_table.loc[qc_table["in_sheet"].fillna(True).astype(bool)]


def passing_samples(qc_table: pd.DataFrame) -> list[str]:
    return qc_table.loc[qc_table["passed"].astype(bool), "sample_id"].tolist()


def enforce(qc_table: pd.DataFrame, fail_fast: bool) -> None:
    """Stop the run when nothing passed, or when anything failed and the config says fail fast
    (samples the sheet does not list are ignored, not failed)."""
    qc_table = sheet_samples(qc_table)
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


# Checks that flag a sample without failing it unless the config lists them in ``qc.fail_on``:
# "duplicate" is an array whose genotypes (or betas) equal another sample's of another donor,
# "identity" every identity problem (duplicates and possible swaps).
FLAG_CHECKS = ("controls", "sex_mismatch", "identity", "duplicate")


def flag_checks(qc_table: pd.DataFrame, sheet: pd.DataFrame, snp_betas: pd.DataFrame, *, donor_column: str | None,
                sex_column: str, fail_on: list[str] | tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Control-probe failures, sex against the sheet, and SNP identity across samples.

    Each finding goes into the sample's ``flags``; a check named in ``fail_on`` also fails the
    sample with that reason. Returns the table and the identity pairs (every pair compared; the
    ``problem`` column names unexpected duplicates and possible swaps). Columns the IDAT route
    produces (controls_passed, predicted_sex) are used when present; beta matrices have none.
    """
    unknown = sorted(set(fail_on) - set(FLAG_CHECKS))
    if unknown:
        raise EpiclockError(f"config qc.fail_on: unknown {', '.join(unknown)}; choose from {', '.join(FLAG_CHECKS)}")
    table = qc_table.set_index("sample_id")
    findings: dict[str, dict[str, str]] = {check: {} for check in FLAG_CHECKS}

    if "controls_passed" in table.columns:
        failing = table.index[table["controls_passed"].eq(False)]
        for sample_id in failing:
            findings["controls"][sample_id] = f"control probes: {table.at[sample_id, 'control_notes']}"

    if "predicted_sex" in table.columns and sex_column in sheet.columns:
        compared = check_sex(table[["predicted_sex"]].dropna(), sheet.set_index("sample_id")[sex_column])
        table["sheet_sex"] = compared["sheet_sex"].reindex(table.index)
        table["sex_matches"] = compared["sex_matches"].reindex(table.index).astype("boolean")
        for sample_id in compared.index[compared["sex_matches"].eq(False)]:
            findings["sex_mismatch"][sample_id] = (f"predicted sex {compared.at[sample_id, 'predicted_sex']} "
                                                   f"but the sheet says {compared.at[sample_id, 'sheet_sex']}")

    donors = sheet.set_index("sample_id")[donor_column] if donor_column else pd.Series(dtype=object)
    identity = identity_pairs(snp_betas, donors)
    for pair in identity.loc[identity["problem"] != ""].itertuples():
        check = "duplicate" if pair.problem == DUPLICATE_PROBLEM else "identity"
        for sample_id, other in ((pair.sample_a, pair.sample_b), (pair.sample_b, pair.sample_a)):
            note = f"{pair.problem} with {other} (genotype concordance {pair.concordance:.2f})"
            findings[check][sample_id] = "; ".join(filter(None, [findings[check].get(sample_id), note]))

    if BETAS_DIGEST in table.columns:
        digests = table[BETAS_DIGEST].fillna("").astype(str)
        for _, same in digests[digests != ""].groupby(digests[digests != ""]):
            for sample_id in same.index if len(same) > 1 else []:
                others = ", ".join(other for other in same.index if other != sample_id)
                findings["duplicate"][sample_id] = f"identical betas to {others} (one array under two names)"
        table = table.drop(columns=BETAS_DIGEST)

    failing_checks = set(fail_on) | ({"duplicate"} if "identity" in fail_on else set())

    flags = pd.Series("", index=table.index, dtype=object)
    for check in FLAG_CHECKS:
        for sample_id, note in findings[check].items():
            if sample_id not in table.index:
                continue
            flags[sample_id] = "; ".join(filter(None, [flags[sample_id], note]))
            if check in failing_checks and table.at[sample_id, "passed"]:
                table.at[sample_id, "passed"] = False
                table.at[sample_id, "reasons"] = note
            elif check in failing_checks:
                table.at[sample_id, "reasons"] = "; ".join(filter(None, [table.at[sample_id, "reasons"], note]))
    table["flags"] = flags
    return table.reset_index(), identity


def assess(sample_rows: pd.DataFrame, sheet: pd.DataFrame, snp_betas: pd.DataFrame, missing: dict[str, str],
           thresholds: QcThresholds, *, donor_column: str, sex_column: str,
           fail_on: list[str] | tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The QC table (one row per sample: metrics, ``passed``, ``reasons``, ``flags``) and the identity pairs.

    ``sample_rows``: every batch's per-sample rows (``array_passed``, ``array_reasons``, the beta
    metrics of usable arrays, and the array-level columns preprocessing adds); ``missing``: sample ->
    why it has no data (its IDATs were not found); ``snp_betas``: SNP probes x samples.
    """
    usable = sample_rows.loc[sample_rows["array_passed"].astype(bool)]
    judged = judge(usable.set_index("sample_id")[BETA_METRIC_COLUMNS], sheet["sample_id"].tolist(), thresholds)
    absent = pd.DataFrame([{"sample_id": sample, "array_passed": False, "array_reasons": reason}
                           for sample, reason in missing.items()])
    array_rows = pd.concat([sample_rows.drop(columns=BETA_METRIC_COLUMNS), absent], ignore_index=True)
    qc_table = merge_array_qc(judged, array_rows.dropna(axis=1, how="all"))
    return flag_checks(qc_table, sheet, snp_betas, donor_column=donor_column, sex_column=sex_column, fail_on=fail_on)
