"""Settings: the schema's defaults and nothing else, one-line errors naming the key path."""

from __future__ import annotations

import pytest
import yaml

from conftest import PROJECT_ROOT
from epiclock import config as settings_module
from epiclock.errors import EpiclockError

MINIMAL = {"samples": "samples.tsv", "input": {"type": "betas", "betas": "betas.tsv.gz"}}


def schema_default(*keys):
    node = settings_module.load_schema()
    for key in keys:
        node = node["properties"][key]
    return node["default"]


def test_defaults_come_from_the_schema_at_every_depth():
    settings = settings_module.Settings.from_config(MINIMAL)
    assert settings.raw["qc"]["min_call_rate"] == schema_default("qc", "min_call_rate")
    assert settings.raw["preprocess"]["masks"]["sources"] == schema_default("preprocess", "masks", "sources")
    assert settings.input.batch_size == schema_default("input", "batch_size")
    assert settings.clock_names == tuple(schema_default("clocks", "names"))
    assert settings.report_title == schema_default("report", "title")


def test_a_minimal_config_gets_none_of_the_demos_values():
    demo = yaml.safe_load((PROJECT_ROOT / "config/config.yaml").read_text())
    settings = settings_module.Settings.from_config(MINIMAL)
    assert settings.report_title != demo["report"]["title"]
    assert settings.custom_clocks == ()
    assert settings.contrasts == ()
    # No design given: a clock-only run, and the demo's factors are not invented.
    assert settings.design is None and not settings.has_design
    assert settings.sheet_numeric_columns == ()


def test_defaults_fill_objects_inside_lists_and_keep_what_the_user_gave():
    config = dict(MINIMAL, custom_clocks=[{"name": "mine", "betas": "b.tsv", "ages": "a.tsv", "top_k": 50}],
                  design={"factors": ["treatment"], "donor_age_column": "age"})
    settings = settings_module.Settings.from_config(config)
    clock = settings.custom_clocks[0]
    assert clock["top_k"] == 50
    assert clock["outer_folds"] == settings_module.load_schema()["properties"]["custom_clocks"]["items"][
        "properties"]["outer_folds"]["default"]
    assert settings.design.donor_age_column == "age"
    assert settings.design.donor_column == schema_default("design", "donor_column")
    assert settings.sheet_numeric_columns == ("age",)
    # The user's dict is left as it was.
    assert "qc" not in config


@pytest.mark.parametrize("change, expected", [
    (lambda c: c.update(sampels="x.tsv"), "config: unknown key(s) 'sampels'; known keys here:"),
    (lambda c: c.update(qc={"min_call_rate": "high"}),
     "config qc.min_call_rate: 'high' is not of type 'number'; give a number"),
    (lambda c: c["input"].update(type="idats"), "config input.type: 'idats' is not one of betas, idat,"),
    (lambda c: c.update(design={"donor_column": "donor"}), "config design: 'factors' is a required property; add it"),
    (lambda c: c.update(contrasts=[{"name": "a", "treated": {}, "reference": {"x": 1}}]),
     "config contrasts[0].treated:"),
    (lambda c: c.pop("samples"), "config: 'samples' is a required property"),
], ids=["typo", "type", "enum", "design_without_factors", "empty_levels", "no_samples"])
def test_a_config_error_is_one_line_naming_the_key(change, expected):
    config = {"samples": "samples.tsv", "input": {"type": "betas", "betas": "betas.tsv.gz"}}
    change(config)
    with pytest.raises(EpiclockError) as caught:
        settings_module.Settings.from_config(config)
    message = str(caught.value)
    assert message.startswith(expected), message
    assert "\n" not in message and len(message) < 400, message


def test_the_demo_config_is_valid():
    demo = yaml.safe_load((PROJECT_ROOT / "config/config.yaml").read_text())
    settings = settings_module.Settings.from_config(demo)
    assert settings.has_design and settings.design.factors == ("bone_marrow", "serum")
