"""Remote resources (an array manifest): downloaded once, never partial, and locked by their sha256.

The first download's sha256 goes to a lock file beside it (``<file>.sha256``); every later run checks
the file against it. A sha256 pinned in the config (or, for ``manifest: auto``, the catalogue's
published one) wins over the lock.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from epiclock.errors import EpiclockError
from epiclock.io.tables import atomic_path, sha256_file

LOCK_SUFFIX = ".sha256"


def lock_path(path: str | os.PathLike) -> Path:
    return Path(str(path) + LOCK_SUFFIX)


def read_lock(path: str | os.PathLike) -> str:
    """The sha256 recorded when ``path`` was first downloaded ('' when there is no lock)."""
    lock = lock_path(path)
    if not lock.is_file():
        return ""
    recorded = lock.read_text().split()
    if not recorded or len(recorded[0]) != 64:
        raise EpiclockError(f"{lock}: not a sha256 lock file (one 64-character sha256 expected); delete it to "
                            f"download {Path(path).name} again")
    return recorded[0].lower()


def write_lock(path: str | os.PathLike, digest: str) -> None:
    with atomic_path(lock_path(path)) as temporary:
        Path(temporary).write_text(f"{digest}  {Path(path).name}\n")


def check(path: str | os.PathLike, pinned: str = "") -> None:
    """The manifest at ``path`` must match the config's pinned sha256, else the sha256 its lock recorded."""
    expected, origin = (pinned.lower(), "the pinned manifest.sha256") if pinned else \
        (read_lock(path), f"its lock file {lock_path(path)}")
    if not expected or not Path(path).is_file():
        return
    actual = sha256_file(path)
    if actual != expected:
        raise EpiclockError(f"{path}: sha256 {actual} differs from {origin} ({expected}); the file changed since "
                            "it was downloaded: delete it (and its lock) to download it again, or pin the new sha256")


def download_once(url: str, destination: str | os.PathLike, pinned: str = "", array: str = "",
                  timeout: float = 60.0) -> str:
    """Fetch ``url`` to ``destination`` and lock its sha256; never leave a partial or unverified file.

    The download must match ``pinned`` (the config's or the catalogue's sha256), else the lock a former
    download left. Returns the file's sha256.
    """
    if not url:
        raise EpiclockError(f"{destination}: no local manifest and no download address; set manifest.path to a "
                            "local copy (sites without internet) or manifest.url")
    if pinned and len(pinned) != 64:
        raise EpiclockError(f"manifest.sha256 must be the 64-character sha256 of {url} (got {pinned!r})")
    expected = pinned.lower() or read_lock(destination)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_path(destination) as temporary:
            with open(temporary, "wb") as handle:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    digest.update(chunk)
                    handle.write(chunk)
            if expected and digest.hexdigest() != expected:
                raise EpiclockError(f"{url}: the download has sha256 {digest.hexdigest()}, not the expected "
                                    f"{expected}; the file changed upstream or the download is damaged")
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise EpiclockError(offline_message(url, destination, array, error)) from error
    write_lock(destination, digest.hexdigest())
    return digest.hexdigest()


def offline_message(url: str, destination: str | os.PathLike, array: str = "", error: object = "") -> str:
    """What a site without internet does instead: which file, from where, put where."""
    what = f"the {array} manifest " if array else "the manifest "
    reason = f" ({error})" if error else ""
    return (f"cannot download {what}{Path(destination).name} from {url}{reason}. Without internet, fetch that file "
            f"elsewhere and put it at {Path(destination).resolve()} (or set manifest.path to a local copy), then "
            "run again")
