"""Rule write_provenance: what ran on what (software, data files, config) as JSON."""

from __future__ import annotations

import json

from epiclock.io.tables import write_text
from epiclock.report import provenance


def write_provenance(config: dict, inputs: dict[str, str], output: str) -> None:
    """The provenance record (software versions, checksums of the inputs, config) as JSON."""
    record = provenance.build(config, inputs)
    write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n", output)
