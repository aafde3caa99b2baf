"""Each contrast's estimate in its clock's own unit.

The statistics work on whatever a clock outputs; only the table says what that is. ``estimate`` and
``unit`` follow the clock column, and ``estimate_years``, the column's older name, stays an alias
for the clocks that read years: for a kb (DNAmTL) or years-per-year (DunedinPACE) clock it is
empty, so a difference in telomere length or pace is never read as years.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.deltas.design import YEARS
from epiclock.errors import EpiclockError


def clock_units(predictions: pd.DataFrame) -> dict[str, str]:
    """Clock -> unit, as the predictions table gives it (one unit per clock)."""
    units = predictions.groupby("clock")["unit"].unique()
    mixed = units[units.map(len) > 1]
    if len(mixed):
        raise EpiclockError(f"predictions: clock {mixed.index[0]} has several units ({', '.join(mixed.iloc[0])})")
    return {clock: values[0] for clock, values in units.items()}


def with_units(contrasts: pd.DataFrame, units: dict[str, str]) -> pd.DataFrame:
    """The contrast table with ``estimate`` and ``unit`` after ``clock``; ``estimate_years`` kept
    for clocks in years and emptied for the others."""
    absent = sorted(set(contrasts["clock"]) - set(units))
    if absent:
        raise EpiclockError(f"contrasts: no unit known for clock(s) {', '.join(absent)}")
    table = contrasts.copy()
    unit = table["clock"].map(units)
    estimate = table["estimate_years"].astype(float)
    table["estimate_years"] = np.where(unit == YEARS, estimate, np.nan)
    position = list(table.columns).index("clock") + 1
    for offset, (name, values) in enumerate((("estimate", estimate), ("unit", unit))):
        if name in table.columns:
            table = table.drop(columns=name)
        table.insert(position + offset, name, values.to_numpy())
    return table
