"""The run's settings: the user's config checked against config/schemas/config.schema.yaml, the
schema's defaults filled in, as typed sections.

The schema is the one home of every default: nothing here repeats one. A config error is one line
naming the key path (``config qc.min_call_rate: ...``) and what to do, not a dump of the schema.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from epiclock.errors import EpiclockError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schemas" / "config.schema.yaml"
SCHEMA_HINT = "see config/README.md or config/schemas/config.schema.yaml"
# The embedded demo study's config: what a run given no --configfile uses, and nothing else.
DEMO_CONFIG_PATH = SCHEMA_PATH.parents[1] / "config.yaml"
# `manifest: auto`: the manifest of the array the IDATs come from, from the catalogue (epiclock.io.catalogue).
AUTO_MANIFEST = "auto"


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def key_path(parts) -> str:
    """``['contrasts', 1, 'reference']`` -> ``contrasts[1].reference``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def resolve_ref(node: dict, root: dict) -> dict:
    """A schema node with a local ``$ref`` replaced by the definition in ``root`` it names (keys beside
    the ``$ref`` kept); a node without one as it is. ci/config_readme.py walks the schema with it too."""
    reference = node.get("$ref")
    if not reference:
        return node
    target = root
    for part in reference.removeprefix("#/").split("/"):
        target = target[part]
    return {**target, **{key: value for key, value in node.items() if key != "$ref"}}


def apply_defaults(config: dict, schema: dict, root: dict | None = None) -> dict:
    """A copy of ``config`` with the schema's defaults for every key left out, at every depth
    (objects inside arrays too); keys the user gave are kept as given."""
    root = schema if root is None else root
    schema = resolve_ref(schema, root)
    if isinstance(config, dict) and "properties" in schema:
        filled = dict(config)
        for key, sub_schema in schema["properties"].items():
            sub_schema = resolve_ref(sub_schema, root)
            if key not in filled and "default" in sub_schema:
                filled[key] = copy.deepcopy(sub_schema["default"])
            if key in filled:
                filled[key] = apply_defaults(filled[key], sub_schema, root)
        return filled
    if isinstance(config, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(item, schema["items"], root) for item in config]
    return config


def _message(error) -> str:
    """One line for a schema violation: the key path, what is wrong, what to do."""
    where = key_path(error.absolute_path)
    prefix = f"config {where}" if where else "config"
    validator = error.validator
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        return (f"{prefix}: unknown key(s) {', '.join(map(repr, unknown))}; known keys here: "
                f"{', '.join(allowed)} (a typo?)")
    if validator == "required":
        return f"{prefix}: {error.message}; add it ({SCHEMA_HINT})"
    if validator == "enum":
        return f"{prefix}: {error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    if validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{prefix}: {error.instance!r} is not of type '{expected}'; give a {expected}"
    return f"{prefix}: {error.message} ({SCHEMA_HINT})"


def validate(config: dict, schema: dict | None = None) -> dict:
    """The config with the schema's defaults, or an EpiclockError naming the first bad key."""
    schema = load_schema() if schema is None else schema
    if not isinstance(config, dict):
        raise EpiclockError(f"config: expected a mapping of keys (samples, input, ...), got {type(config).__name__}")
    filled = apply_defaults(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda error: (len(error.absolute_path), list(map(str, error.absolute_path))))
    if errors:
        raise EpiclockError(_message(errors[0]))
    if filled.get("manifest") == AUTO_MANIFEST:
        # The shorthand is the object form with neither a path nor a url.
        filled["manifest"] = apply_defaults({}, schema["properties"]["manifest"], schema)
    return filled


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    url: str
    sha256: str
    # The array it is for, when picked from the catalogue (named in messages).
    array: str = ""

    @property
    def given(self) -> bool:
        """False for `manifest: auto` until the plan picks the entry for the IDATs' array."""
        return bool(self.path or self.url)


@dataclass(frozen=True)
class InputSettings:
    type: str
    betas: str
    idat_dir: str
    batch_size: int
    mixed_arrays: str

    @property
    def matrix(self) -> bool:
        """A beta matrix of some format (one batch) rather than IDAT pairs."""
        return self.type != "idat"


@dataclass(frozen=True)
class DesignSettings:
    """The columns of the sample sheet that describe the experiment (only when the config has a design)."""

    donor_column: str
    donor_age_column: str
    condition_column: str | None
    condition_order: tuple[str, ...]
    factors: tuple[str, ...]
    pair_by: tuple[str, ...]
    chip_column: str | None


@dataclass(frozen=True)
class Settings:
    """Every section of a validated config; ``raw`` is the config with defaults, as steps receive it."""

    samples: str
    input: InputSettings
    manifests: dict[str, ManifestEntry]
    design: DesignSettings | None
    contrasts: tuple[dict, ...]
    clock_names: tuple[str, ...]
    custom_clocks: tuple[dict, ...]
    sex_column: str
    report_title: str
    raw: dict = field(repr=False)

    @classmethod
    def from_config(cls, config: dict) -> "Settings":
        raw = validate(config)
        manifests = {"main": ManifestEntry(raw["manifest"]["path"], raw["manifest"]["url"], raw["manifest"]["sha256"])}
        manifests.update({f"extra_{number}": ManifestEntry(entry["path"], entry["url"], entry["sha256"])
                          for number, entry in enumerate(raw["manifest"]["extra"], 1)})
        design = raw.get("design")
        return cls(
            samples=raw["samples"],
            input=InputSettings(type=raw["input"]["type"], betas=raw["input"].get("betas", ""),
                                idat_dir=raw["input"].get("idat_dir", ""),
                                batch_size=int(raw["input"]["batch_size"]),
                                mixed_arrays=raw["input"]["mixed_arrays"]),
            manifests=manifests,
            design=None if design is None else DesignSettings(
                donor_column=design["donor_column"], donor_age_column=design["donor_age_column"],
                condition_column=design["condition_column"] or None,
                condition_order=tuple(design["condition_order"]), factors=tuple(design["factors"]),
                pair_by=tuple(design["pair_by"]), chip_column=design["chip_column"] or None),
            contrasts=tuple(raw["contrasts"]),
            clock_names=tuple(raw["clocks"]["names"]),
            custom_clocks=tuple(raw["custom_clocks"]),
            sex_column=raw["qc"]["sex_column"],
            report_title=raw["report"]["title"],
            raw=raw,
        )

    @property
    def has_design(self) -> bool:
        """False for a clock-only run: ages, QC and coverage, no deltas or contrasts."""
        return self.design is not None

    @property
    def sheet_numeric_columns(self) -> tuple[str, ...]:
        """Sample-sheet columns read as numbers: the donor age, under whatever name the design gives it."""
        return (self.design.donor_age_column,) if self.design else ()


def demo_settings() -> Settings:
    """The demo study's settings (the simulator's design and contrasts), for benchmarks and tests."""
    return Settings.from_config(yaml.safe_load(DEMO_CONFIG_PATH.read_text(encoding="utf-8")))


def manifest_key(name: str) -> str:
    """Where a manifest entry sits in the config, for messages."""
    return "manifest" if name == "main" else f"manifest.extra[{int(name.split('_')[1]) - 1}]"
