"""Remote resources (an Illumina manifest, say): downloaded once with a pinned checksum, or given locally."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from epiclock.errors import EpiclockError
from epiclock.io.tables import atomic_path, sha256_file


def download(url: str, sha256: str, destination: str | Path, timeout: float = 60.0) -> None:
    """Fetch ``url`` into ``destination`` only if its sha256 is the pinned one; never leave a partial file."""
    if not url:
        raise EpiclockError(f"{destination}: no local file and no download address; set manifest.path to a local "
                            "copy (offline sites) or manifest.url and manifest.sha256")
    if len(sha256) != 64:
        raise EpiclockError(f"manifest.sha256 must be the 64-character sha256 of {url}; a download is never "
                            "used unverified")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_path(destination) as temporary:
            with open(temporary, "wb") as handle:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    digest.update(chunk)
                    handle.write(chunk)
            if digest.hexdigest() != sha256.lower():
                raise EpiclockError(f"{url}: downloaded file has sha256 {digest.hexdigest()}, but the config pins "
                                    f"{sha256}; the file changed upstream or the download is damaged")
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise EpiclockError(f"cannot download {url} ({error}); download it by hand and set manifest.path to it "
                            "(offline sites)") from error


def verify(path: str | Path, sha256: str) -> None:
    """A local file must match its pinned checksum where one is given."""
    if sha256 and sha256_file(path) != sha256.lower():
        raise EpiclockError(f"{path}: sha256 {sha256_file(path)} differs from the pinned manifest.sha256 {sha256}")
