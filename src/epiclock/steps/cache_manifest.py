"""Rule cache_manifest: a manifest parsed once into its probe and control tables."""

from __future__ import annotations

import logging

from epiclock.io import download
from epiclock.io.manifest import parse_manifest
from epiclock.io.tables import write_parquet

log = logging.getLogger("epiclock")


def cache_manifest(manifest: str, sha256: str, probes: str, controls: str) -> None:
    """Parse a checked manifest into its probe and control tables (Parquet)."""
    download.check(manifest, sha256)
    parsed = parse_manifest(manifest)
    log.info("%s: %d probes, %d control probes", manifest, len(parsed.probes), len(parsed.controls))
    write_parquet(parsed.probes, probes)
    write_parquet(parsed.controls, controls)
