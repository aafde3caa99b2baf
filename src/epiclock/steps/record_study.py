"""Rule record_study: results/study.yaml, the record of which study the results belong to.

A rule rather than an ``onstart`` handler, so that it is written in a direct run and in a workflow used
as a Snakemake module alike (a module's ``onstart`` does not run); the steps that write first into
results/ take it as an input. ``plan.check_results_dir`` reads it before any job of a later run.
"""

from __future__ import annotations

import yaml

from epiclock.io.tables import write_text


def record_study(identity: dict[str, str], output: str) -> None:
    """Write the study's identity (``plan.study_identity``: its sample sheet and data) to ``output``."""
    write_text(yaml.safe_dump(identity, sort_keys=True), output)
