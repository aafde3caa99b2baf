"""Rule download_manifest: a manifest file fetched once and checked against its sha256."""

from __future__ import annotations

from epiclock.io import download


def download_manifest(url: str, sha256: str, output: str) -> None:
    """Fetch ``url`` to ``output``, checked against ``sha256``."""
    download.download(url, sha256, output)
