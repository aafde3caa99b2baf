"""How the report words a clock's numbers: quantity, unit and direction of each clock, and the
verdict of each contrast from its primary test.

The clocks' own metadata (``Clock.unit``, ``.direction``, ``.output_kind``; data/clocks.yaml) is the
one home of what a number means; this module only turns it into words. A DNAmTL decrease is
"older" (lower = older), a DunedinPACE increase is "faster ageing", and neither is ever "years".
"""

from __future__ import annotations

import math

import pandas as pd

from epiclock.deltas import SIGNIFICANCE

# The contrast table's column counting the pairing units (donors) of the primary test.
PAIRS_COLUMN = "n_donors"

# What a clock's output is, by output kind.
QUANTITIES = {"age": "DNAm age", "pace": "pace of ageing", "kb": "telomere length", "divisions": "stem-cell divisions",
              "score": "score"}
# Decimals shown per unit: pace differences are about 0.02, kb differences a few hundredths.
DECIMALS = {"years": 2, "years/year": 3, "kb": 3}
# Words for a positive and a negative difference, by direction.
MOVES = {
    "higher = older": ("older", "younger"),
    "lower = older": ("younger", "older"),
    "higher = faster ageing": ("faster ageing", "slower ageing"),
    "not an age": ("higher", "lower"),
}
UNIT_WORDS = {"years": "years", "years/year": "years of ageing per year", "kb": "kb"}


def is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def quantity(clock) -> str:
    """What the clock measures, in words ('DNAm age', 'pace of ageing', 'telomere length')."""
    return QUANTITIES.get(clock.output_kind, clock.output_kind)


def is_age_in_years(clock) -> bool:
    """Whether the clock reads an age in years: only then is 'clock minus donor age' meaningful."""
    return clock.output_kind == "age" and clock.unit == "years"


def number(value, unit: str, signed: bool = True) -> str:
    """A value with the decimals its unit needs ('NA' when missing)."""
    if is_missing(value):
        return "NA"
    decimals = DECIMALS.get(unit, 3)
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def with_unit(value, unit: str, signed: bool = True) -> str:
    text = number(value, unit, signed)
    return text if text == "NA" else f"{text} {unit}"


def interval(low, high, unit: str) -> str:
    """A 95% CI as 'a to b unit' ('no CI' when it could not be computed)."""
    if is_missing(low) or is_missing(high):
        return "no CI"
    return f"{number(low, unit)} to {number(high, unit)} {unit}"


def move(value, clock) -> str:
    """Which way a difference reads under the clock's direction ('younger', 'older', 'slower ageing'...)."""
    if is_missing(value) or value == 0:
        return "no change"
    up, down = MOVES.get(clock.direction, ("higher", "lower"))
    return up if value > 0 else down


def format_p(value) -> str:
    if is_missing(value):
        return "NA"
    return f"{value:.2g}" if value >= 1e-4 else f"{value:.1e}"


def _levels(levels: dict) -> str:
    return ", ".join(f"{factor.replace('_', ' ')} {value}" for factor, value in levels.items())


def interaction_phrase(entry: dict) -> tuple[str, str, str] | None:
    """For a contrast with ``minus`` of the 2 x 2 form (the same comparison in two contexts):
    (the comparison, the main context, the subtracted context), e.g. ('serum young vs old',
    'bone marrow yes', 'bone marrow no'); None for any other shape."""
    minus = entry.get("minus")
    if not minus:
        return None
    treated, reference = entry["treated"], entry["reference"]
    sub_treated, sub_reference = minus["treated"], minus["reference"]
    if set(treated) != set(reference) or set(sub_treated) != set(treated) or set(sub_reference) != set(treated):
        return None
    compared = [factor for factor in treated if str(treated[factor]) != str(reference[factor])]
    context = [factor for factor in treated if factor not in compared]
    same_comparison = all(str(sub_treated[f]) == str(treated[f]) and str(sub_reference[f]) == str(reference[f])
                          for f in compared)
    if not compared or not context or not same_comparison:
        return None
    if any(str(sub_treated[f]) != str(sub_reference[f]) for f in context):
        return None
    comparison = "; ".join(f"{f.replace('_', ' ')} {treated[f]} vs {reference[f]}" for f in compared)
    return (comparison, _levels({f: treated[f] for f in context}), _levels({f: sub_treated[f] for f in context}))


def not_tested_reason(row) -> str | None:
    """Why the primary test did not run for a contrast and clock (None when it ran)."""
    if not is_missing(getattr(row, "p_value", float("nan"))):
        return None
    pairs = getattr(row, PAIRS_COLUMN, 0)
    pairs = 0 if is_missing(pairs) else int(pairs)
    if pairs == 0:
        return "no donor has samples with this clock's age on both sides of the contrast"
    note = str(getattr(row, "note", "") or "")
    return note or f"the {pairs} donor differences do not vary, so no test statistic exists"


def clock_sentence(row, clock, entry: dict) -> dict:
    """One contrast under one clock, in words with its unit and direction, from the primary test."""
    unit = clock.unit
    reason = not_tested_reason(row)
    pairs = getattr(row, PAIRS_COLUMN, 0)
    pairs = 0 if is_missing(pairs) else int(pairs)
    estimate = row.estimate
    interaction = interaction_phrase(entry)
    if interaction and not is_missing(estimate):
        comparison, main, subtracted = interaction
        size = "larger" if estimate > 0 else "smaller"
        finding = (f"the {comparison} difference in {quantity(clock)} is {number(abs(estimate), unit, signed=False)} "
                   f"{unit} {size} with {main} than with {subtracted}")
    elif not is_missing(estimate):
        finding = f"{quantity(clock)} {with_unit(estimate, unit)} ({move(estimate, clock)})"
    else:
        finding = f"no estimate of {quantity(clock)}"
    significant = reason is None and not is_missing(row.q_value) and row.q_value < SIGNIFICANCE
    if reason is not None:
        verdict = f"not tested: {reason}"
        status = "not tested"
    else:
        status = "shift" if significant else "no shift"
        verdict = (f"{finding}; 95% CI {interval(row.ci_low, row.ci_high, unit)}; {row.test}, "
                   f"p = {format_p(row.p_value)}, q = {format_p(row.q_value)}, {pairs} donors")
    return {"clock": clock.name, "title": clock.title, "unit": unit, "direction": clock.direction,
            "finding": finding, "verdict": verdict, "status": status, "significant": significant,
            "estimate": with_unit(estimate, unit), "ci": interval(row.ci_low, row.ci_high, unit),
            "p": format_p(row.p_value), "q": format_p(row.q_value), "reason": reason or "",
            "reads_as": (f"{'larger' if estimate > 0 else 'smaller'} with {interaction[1]}"
                         if interaction and not is_missing(estimate) else move(estimate, clock))}


def primary_clock(config: dict, run_clocks: list[str]) -> tuple[str, str]:
    """The clock heading each contrast (report.primary_clock) and a note when the run lacks it."""
    wanted = config.get("report", {}).get("primary_clock", "horvath_skin_blood2018")
    if wanted in run_clocks:
        return wanted, ""
    chosen = run_clocks[0]
    return chosen, f"The configured primary clock {wanted} is not among this run's clocks; {chosen} heads each contrast."


def imbalanced_imputation(rows: pd.DataFrame) -> list[str]:
    """The clocks of one contrast whose sides imputed different numbers of CpGs (imputation_flag), with
    the mean imputed CpGs of each side, treated first."""
    if "imputation_flag" not in rows.columns:
        return []
    flagged = rows[rows["imputation_flag"].fillna(False).astype(bool)]
    return [f"{row.clock} ({row.treated_mean_imputed:.1f} vs {row.reference_mean_imputed:.1f} CpGs)"
            for row in flagged.itertuples()]


def headlines(contrasts: pd.DataFrame, contrast_config: list[dict], clocks: dict, primary: str) -> list[dict]:
    """Per contrast: its description, the verdict of the primary test under the primary clock (or
    why nothing was tested), and the other clocks' readings as detail."""
    entries = {entry["name"]: entry for entry in contrast_config}
    result = []
    for name, rows in contrasts.groupby("contrast", sort=False):
        entry = entries.get(name, {"name": name, "treated": {}, "reference": {}})
        readings = {row.clock: clock_sentence(row, clocks[row.clock], entry) for row in rows.itertuples()
                    if row.clock in clocks}
        head = readings.get(primary) or next(iter(readings.values()))
        others = [reading for clock, reading in readings.items() if clock != head["clock"]]
        tested = [reading for reading in others if reading["status"] != "not tested"]
        agreeing = [reading for reading in tested if reading["significant"]]
        result.append({
            "name": name, "description": entry.get("description") or name.replace("_", " "),
            "imputation": imbalanced_imputation(rows),
            "interaction": interaction_phrase(entry) is not None or bool(entry.get("minus")),
            "test": rows["test"].iloc[0] if "test" in rows.columns else "",
            "head": head, "others": others,
            "others_summary": (f"{len(agreeing)} of {len(tested)} other clocks show a shift at q < {SIGNIFICANCE:g}"
                               + (f"; {len(others) - len(tested)} not tested" if len(others) > len(tested) else "")),
        })
    return result
