"""The shipped clocks, as ``data/clocks.yaml`` describes them: names, ``get`` and a summary table."""

from __future__ import annotations

import difflib
import functools

import pandas as pd
import yaml

from epiclock.clocks import altumage, gp_age, miage
from epiclock.clocks.clock import COVARIATES, DIRECTIONS, OUTPUT_KINDS, Clock
from epiclock.clocks.data import data_path, read_cpg_list, read_cpg_table
from epiclock.clocks.model import LinearClock, TRANSFORMS, TRANSFORM_UNITS
from epiclock.clocks.preprocessing import (QuantileNormalisation, SampleQuantile, SampleStandardisation,
                                           order_statistic_weights)
from epiclock.clocks.training import load_trained_clock
from epiclock.errors import EpiclockError


# Named sets of clocks that clocks.names accepts beside clock names; 'all' is every shipped clock.
PANELS = ("in_vitro", "mitotic", "blood", "pace", "all")


@functools.lru_cache(maxsize=1)
def _registry() -> dict:
    with data_path("clocks.yaml").open("r", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def available() -> list[str]:
    """Names of the shipped clocks."""
    return sorted(_registry())


def panel(name: str) -> list[str]:
    """The shipped clocks of a panel (see PANELS), in the order of clocks.yaml."""
    if name not in PANELS:
        raise EpiclockError(f"unknown clock panel {name!r}; panels: {', '.join(PANELS)}")
    registry = _registry()
    return list(registry) if name == "all" else [clock for clock, entry in registry.items() if name in entry.get("panels", ())]


def expand_names(names) -> list[str]:
    """Clock names with each panel name replaced by its clocks; a clock named twice is run once."""
    expanded: list[str] = []
    for name in names:
        for clock in panel(name) if name in PANELS else [name]:
            if clock not in expanded:
                expanded.append(clock)
    return expanded


def for_simulation() -> list[str]:
    """Shipped clocks flagged ``simulate: true``: linear in betas with a unit of years, so the
    simulator can correct betas until they read a planted age."""
    return [name for name in available() if _registry()[name].get("simulate", False)]


REQUIRED_FIELDS = ("title", "coefficients", "unit", "direction", "output_kind", "tissue",
                   "intended_use", "citation", "doi", "licence", "restricted")


PREPROCESSING_STEPS = ("standardise_sample", "quantile_normalise", "sample_quantile")


# Clocks that are not linear models on betas, by clocks.yaml's ``model``: the function that builds
# the model from the clock's data file (``coefficients``), and the units it can output. Such a
# model is a ``model.PerSampleModel``, with ``feature_names_in_`` and ``predict_array``, which
# clocks.predict calls on the clock's imputed features (coverage and status as for every clock); it predicts
# each sample on its own, and may bring its own imputation reference (GP-age's training means,
# AltumAge's centres).
NONLINEAR_MODELS = {"miage": (miage.load, ("divisions",)), "gp_age": (gp_age.load, ("years",)),
                    "altumage": (altumage.load, ("years",))}


def _preprocessing(name: str, entry: dict, cpg_ids) -> SampleStandardisation | QuantileNormalisation | SampleQuantile | None:
    steps = entry.get("preprocessing") or {}
    if len(steps) > 1 or set(steps) - set(PREPROCESSING_STEPS):
        raise EpiclockError(f"data/clocks.yaml, clock {name}: preprocessing must be one of "
                            f"{', '.join(PREPROCESSING_STEPS)} (got {', '.join(steps)})")
    if "sample_quantile" in steps:
        quantile = float(steps["sample_quantile"]["quantile"])
        if not 0 <= quantile <= 1:
            raise EpiclockError(f"data/clocks.yaml, clock {name}: sample_quantile.quantile must be within [0, 1]")
        return SampleQuantile(quantile=quantile)
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
        close = difflib.get_close_matches(name, list(registry) + list(PANELS), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise EpiclockError(f"unknown clock {name!r}; {hint}`epiclock clocks list` shows the {len(registry)} clocks "
                            f"(panels: {', '.join(PANELS)})")
    entry = registry[name]
    absent = [key for key in REQUIRED_FIELDS + (() if entry.get("model") in NONLINEAR_MODELS else ("transform",))
              if key not in entry]
    if absent:
        raise EpiclockError(f"data/clocks.yaml, clock {name}: missing field(s) {', '.join(absent)}")
    for key, allowed in (("direction", DIRECTIONS), ("output_kind", OUTPUT_KINDS)):
        if entry[key] not in allowed:
            raise EpiclockError(f"data/clocks.yaml, clock {name}: {key} {entry[key]!r} is not one of {', '.join(allowed)}")
    panels = tuple(entry.get("panels", ()))
    if set(panels) - set(PANELS[:-1]):
        raise EpiclockError(f"data/clocks.yaml, clock {name}: panels must be among {', '.join(PANELS[:-1])}")
    model_fields = _nonlinear_fields(name, entry) if entry.get("model") in NONLINEAR_MODELS else _linear_fields(name, entry)
    return Clock(
        name=name, title=entry["title"], unit=entry["unit"], tissue=entry["tissue"],
        citation=entry["citation"], doi=str(entry["doi"]), licence=entry["licence"],
        restricted=bool(entry["restricted"]),
        min_coverage=float(entry["min_coverage"]) if "min_coverage" in entry else None,
        direction=entry["direction"], output_kind=entry["output_kind"], intended_use=entry["intended_use"],
        panels=panels, **model_fields,
    )


def _nonlinear_fields(name: str, entry: dict) -> dict:
    """The model of a clock that is not linear (NONLINEAR_MODELS), and the imputation reference it brings."""
    build, units = NONLINEAR_MODELS[entry["model"]]
    if entry["unit"] not in units:
        raise EpiclockError(f"data/clocks.yaml, clock {name}: unit {entry['unit']!r} does not fit model {entry['model']!r} "
                            f"(allowed: {', '.join(units)})")
    model = build(data_path(entry["coefficients"]))
    return {"model": model, "imputation_reference": getattr(model, "imputation_reference", None),
            "imputation_label": getattr(model, "imputation_label", "reference medians")}


def _linear_fields(name: str, entry: dict) -> dict:
    """A linear clock's model (its coefficients in CpG ID order, then covariates), preprocessing,
    imputation reference and further outputs."""
    transform, unit = entry["transform"], entry["unit"]
    if transform not in TRANSFORMS:
        raise EpiclockError(f"data/clocks.yaml, clock {name}: unknown transform {transform!r}; known: {', '.join(TRANSFORMS)}")
    if unit not in TRANSFORM_UNITS[transform]:
        raise EpiclockError(f"data/clocks.yaml, clock {name}: unit {unit!r} does not fit transform {transform!r} "
                            f"(allowed: {', '.join(TRANSFORM_UNITS[transform])})")
    components, covariates = {}, ()
    if entry.get("model") == "grimage":
        coefficients, intercept, components = _grimage(entry["coefficients"])
        covariates = COVARIATES
    elif "intercept" not in entry:
        raise EpiclockError(f"data/clocks.yaml, clock {name}: missing field(s) intercept")
    elif "sample_quantile" in (entry.get("preprocessing") or {}):
        # A CpG list: the weights act on the sample's sorted values (SampleQuantile).
        cpgs = read_cpg_list(entry["coefficients"])
        quantile = float(entry["preprocessing"]["sample_quantile"]["quantile"])
        coefficients, intercept = pd.Series(order_statistic_weights(len(cpgs), quantile), index=cpgs), entry["intercept"]
    else:
        coefficients, intercept = read_cpg_table(entry["coefficients"], "coefficient"), entry["intercept"]
    # A clock's CpGs in ID order: array matrices list probes in that order, so gathering them reads
    # each sample's row forwards (several times faster than in file order), and the summation order
    # is fixed by the IDs, not by a matrix. Covariates stay last; a quantile's weights act on sorted
    # values, whatever the CpG order.
    n_cpg_features = len(coefficients) - len(covariates)
    if "sample_quantile" not in (entry.get("preprocessing") or {}):
        coefficients = pd.concat([coefficients.iloc[:n_cpg_features].sort_index(), coefficients.iloc[n_cpg_features:]])
    reference_file = entry.get("imputation_reference")
    return {
        "model": LinearClock.from_coefficients(coefficients, intercept, transform),
        "preprocessing": _preprocessing(name, entry, coefficients.index[:n_cpg_features]),
        "imputation_reference": read_cpg_table(reference_file, "mean") if reference_file else None,
        "imputation_label": f"the clock's own reference ({reference_file})" if reference_file else "reference medians",
        "simulate": bool(entry.get("simulate", False)),
        "covariates": covariates, "components": components,
        "rate_per_year": "rate_per_year" in entry.get("details", ()),
    }


GRIMAGE_COMBINATION, GRIMAGE_SCALING = "COX", "transform"


@functools.lru_cache(maxsize=None)
def _grimage(relative: str) -> tuple[pd.Series, float, dict]:
    """GrimAge as one linear model of CpGs, age and female, and its DNAm surrogates as components.

    Each surrogate is linear in CpGs, age and female; the Cox predictor is linear in the surrogates,
    age and female; GrimAge rescales it, (cox - m_cox) / sd_cox * sd_age + m_age (Lu 2019). The
    composition is linear, so GrimAge predicts through LinearClock like every clock.
    """
    with data_path(relative).open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, sep="\t", dtype={"component": str, "variable": str})
    table["variable"] = table["variable"].str.strip()
    special = {"Intercept", "Age", "Female"}
    surrogates = [name for name in table["component"].unique() if name not in (GRIMAGE_COMBINATION, GRIMAGE_SCALING)]
    cpgs = sorted(set(table.loc[table["component"].isin(surrogates) & ~table["variable"].isin(special), "variable"]))
    features = pd.Index(cpgs + list(COVARIATES))
    renamed = {"Age": "age", "Female": "female"}

    def linear(rows: pd.DataFrame) -> tuple[pd.Series, float]:
        weights = rows.set_index("variable")["coefficient"].astype(float)
        intercept = float(weights.get("Intercept", 0.0))
        weights = weights.drop("Intercept", errors="ignore").rename(index=renamed)
        return weights.reindex(features, fill_value=0.0), intercept

    components = {}
    for surrogate in surrogates:
        weights, intercept = linear(table[table["component"] == surrogate])
        components[surrogate] = LinearClock.from_coefficients(weights, intercept, "linear")
    combination = table[table["component"] == GRIMAGE_COMBINATION].set_index("variable")["coefficient"].astype(float)
    scaling = table[table["component"] == GRIMAGE_SCALING].set_index("variable")["coefficient"].astype(float)
    scale = scaling["sd_age"] / scaling["sd_cox"]
    weights = pd.Series(0.0, index=features)
    cox_intercept = 0.0
    for surrogate, model in components.items():
        weights += combination[surrogate] * pd.Series(model.coef_, index=features)
        cox_intercept += combination[surrogate] * model.intercept_
    for variable in ("Age", "Female"):
        weights[renamed[variable]] += combination[variable]
    return weights * scale, (cox_intercept - scaling["m_cox"]) * scale + scaling["m_age"], components


def describe() -> pd.DataFrame:
    """One row per shipped clock: name, CpGs, how to read it (unit, direction, output kind), tissue,
    intended use, citation, DOI, licence, restricted, transform."""
    rows = []
    for name in available():
        clock = get(name)
        rows.append({
            "name": name, "cpgs": len(clock.cpg_ids), "unit": clock.unit, "tissue": clock.tissue,
            "direction": clock.direction, "output_kind": clock.output_kind, "intended_use": clock.intended_use,
            "panels": ", ".join(clock.panels), "citation": clock.citation, "doi": clock.doi, "licence": clock.licence, "restricted": clock.restricted,
            "transform": clock.model.transform,
        })
    return pd.DataFrame(rows)


def resolve(names, custom_dirs: dict[str, str] | None = None) -> list[Clock]:
    """Clock objects for clock and panel names (``clocks.predict`` takes these): shipped clocks from
    the package, custom ones (``custom_dirs``: name -> training output) from their training output."""
    custom_dirs = custom_dirs or {}
    return [load_trained_clock(name, custom_dirs[name]) if name in custom_dirs else get(name)
            for name in expand_names(names)]


def run_clocks(names: list[str], custom_dirs: dict[str, str]) -> dict[str, Clock]:
    """Every clock of the run by name (see ``resolve``)."""
    return {clock.name: clock for clock in resolve(names, custom_dirs)}
