"""Rule download_manifest: a manifest file fetched once, its sha256 checked and locked beside it."""

from __future__ import annotations

import logging

from epiclock.io import download

log = logging.getLogger("epiclock")


def download_manifest(url: str, sha256: str, output: str, array: str = "") -> None:
    """Fetch ``url`` to ``output``; it must match ``sha256`` (else a former download's lock)."""
    digest = download.download_once(url, output, pinned=sha256, array=array)
    log.info("%s: downloaded from %s, sha256 %s (locked in %s)", output, url, digest, download.lock_path(output))
