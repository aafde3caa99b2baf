"""The shipped clocks, as ``data/clocks.yaml`` describes them: names, ``get`` and a summary table."""

from __future__ import annotations

import functools

import pandas as pd
import yaml

from epiclock.clocks.clock import DIRECTIONS, OUTPUT_KINDS, Clock
from epiclock.clocks.data import data_path, read_cpg_table
from epiclock.clocks.model import LinearClock, TRANSFORMS, TRANSFORM_UNITS
from epiclock.clocks.preprocessing import QuantileNormalisation, SampleStandardisation
from epiclock.errors import EpiclockError


@functools.lru_cache(maxsize=1)
def _registry() -> dict:
    with data_path("clocks.yaml").open("r", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def available() -> list[str]:
    """Names of the shipped clocks."""
    return sorted(_registry())


def for_simulation() -> list[str]:
    """Shipped clocks flagged ``simulate: true``: linear in betas with a unit of years, so the
    simulator can correct betas until they read a planted age."""
    return [name for name in available() if _registry()[name].get("simulate", False)]


REQUIRED_FIELDS = ("title", "coefficients", "intercept", "transform", "unit", "direction", "output_kind", "tissue",
                   "intended_use", "citation", "doi", "licence", "restricted")


def _preprocessing(name: str, entry: dict, cpg_ids) -> SampleStandardisation | QuantileNormalisation | None:
    steps = entry.get("preprocessing") or {}
    if len(steps) > 1 or set(steps) - {"standardise_sample", "quantile_normalise"}:
        raise EpiclockError(f"data/clocks.yaml, clock {name}: preprocessing must be one of standardise_sample, "
                            f"quantile_normalise (got {', '.join(steps)})")
    if "standardise_sample" in steps:
        return SampleStandardisation(min_cpgs=int(steps["standardise_sample"]["min_cpgs"]))
    if "quantile_normalise" in steps:
        settings = steps["quantile_normalise"]
        target = read_cpg_table(settings["target"], "mean")
        absent = pd.Index(cpg_ids).difference(target.index)
        if len(absent):
            raise EpiclockError(f"data/clocks.yaml, clock {name}: {len(absent)} clock CpGs are not in the "
                                f"normalisation target {settings['target']}")
        return QuantileNormalisation(target=target, min_coverage=float(settings["min_coverage"]))
    return None


@functools.lru_cache(maxsize=None)
def get(name: str) -> Clock:
    """The shipped clock called ``name``."""
    registry = _registry()
    if name not in registry:
        raise EpiclockError(f"unknown clock {name!r}; available clocks: {', '.join(available())}")
    entry = registry[name]
    absent = [key for key in REQUIRED_FIELDS if key not in entry]
    if absent:
        raise EpiclockError(f"data/clocks.yaml, clock {name}: missing field(s) {', '.join(absent)}")
    transform, unit = entry["transform"], entry["unit"]
    if transform not in TRANSFORMS:
        raise EpiclockError(f"data/clocks.yaml, clock {name}: unknown transform {transform!r}; known: {', '.join(TRANSFORMS)}")
    if unit not in TRANSFORM_UNITS[transform]:
        raise EpiclockError(f"data/clocks.yaml, clock {name}: unit {unit!r} does not fit transform {transform!r} "
                            f"(allowed: {', '.join(TRANSFORM_UNITS[transform])})")
    for key, allowed in (("direction", DIRECTIONS), ("output_kind", OUTPUT_KINDS)):
        if entry[key] not in allowed:
            raise EpiclockError(f"data/clocks.yaml, clock {name}: {key} {entry[key]!r} is not one of {', '.join(allowed)}")
    coefficients = read_cpg_table(entry["coefficients"], "coefficient")
    model = LinearClock.from_coefficients(coefficients, entry["intercept"], transform)
    reference_file = entry.get("imputation_reference")
    return Clock(
        name=name, title=entry["title"], model=model, unit=unit, tissue=entry["tissue"],
        citation=entry["citation"], doi=str(entry["doi"]), licence=entry["licence"],
        restricted=bool(entry["restricted"]),
        min_coverage=float(entry["min_coverage"]) if "min_coverage" in entry else None,
        preprocessing=_preprocessing(name, entry, coefficients.index),
        imputation_reference=read_cpg_table(reference_file, "mean") if reference_file else None,
        imputation_label=f"the clock's own reference ({reference_file})" if reference_file else "reference medians",
        simulate=bool(entry.get("simulate", False)),
        direction=entry["direction"], output_kind=entry["output_kind"], intended_use=entry["intended_use"],
    )


def describe() -> pd.DataFrame:
    """One row per shipped clock: name, CpGs, how to read it (unit, direction, output kind), tissue,
    intended use, citation, DOI, licence, restricted, transform."""
    rows = []
    for name in available():
        clock = get(name)
        rows.append({
            "name": name, "cpgs": len(clock.cpg_ids), "unit": clock.unit, "tissue": clock.tissue,
            "direction": clock.direction, "output_kind": clock.output_kind, "intended_use": clock.intended_use,
            "citation": clock.citation, "doi": clock.doi, "licence": clock.licence, "restricted": clock.restricted,
            "transform": clock.model.transform,
        })
    return pd.DataFrame(rows)
