"""Rule write_provenance: what ran on what (software, data files, config) as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from epiclock.io.tables import write_text
from epiclock.preprocess import pipeline
from epiclock.report import provenance


def preprocessing_record(settings: dict, manifests: list[str], controls: list[str]) -> dict:
    """The preprocessing the batches applied, ``auto`` resolved for the run's manifests as they resolve it,
    with the note saying why (empty when the config named every method)."""
    chosen, note = pipeline.resolve_auto(pipeline.PreprocessSettings.from_config(settings),
                                         [pd.read_parquet(table) for table in controls], manifests)
    return {"manifests": [Path(source).name for source in manifests], "method": chosen.method,
            "dye_method": chosen.dye_method, "detection": chosen.detection, "note": note}


def write_provenance(config: dict, inputs: dict[str, str], output: str, manifests: list[str] | None = None,
                     manifest_controls: list[str] | None = None) -> None:
    """The provenance record (software versions, checksums of the inputs, config) as JSON; from IDATs also
    the preprocessing applied, read from the run's ``manifests`` and their parsed ``manifest_controls``."""
    record = provenance.build(config, inputs)
    if manifests:
        record["preprocessing"] = preprocessing_record(config["preprocess"], manifests, manifest_controls or [])
    write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n", output)
