"""Probe masks: lists of probes whose betas should not be trusted, with where each list came from.

A mask list is a tab-separated file (gzipped or not) with a ``probe_id`` column and optional
``reasons`` and ``sources`` columns (several values separated by ';'). Two lists are vendored
under ``data/masks/``, taken unchanged in content from the
methylcheck 0.8.5 package on PyPI (MIT licence), one row per probe:

- ``450k_snp_crossreactive.tsv.gz``: polymorphic, cross-hybridising and repeat-element probes of
  the 450k from Chen et al. 2013, Price et al. 2013, Naeem et al. 2014, Daca-Roszak et al. 2015
  and Zhou et al. 2016;
- ``epic_snp_crossreactive.tsv.gz``: the same for EPIC from McCartney et al. 2016 and Zhou et al. 2016.

Their provenance (papers, DOIs, source package, version and file, sha256 before and after) is in
``data/masks/provenance.tsv``, in the columns of ``data/provenance.tsv``.

The union of every source covers most of the 450k (Chen's and Price's polymorphism lists count
any SNP anywhere in the probe), so callers choose sources and reasons rather than masking all:
``MaskChoice`` holds that choice (the workflow's ``preprocess.masks``), ``vendored_array`` tells
which vendored list fits a manifest, and ``masked_probes`` gives the probes to mask.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from epiclock.errors import ConfigurationError, EpiclockError
from epiclock.io.idat import Idat
from epiclock.io.manifest import detect_array

VENDORED = {"450k": "450k_snp_crossreactive.tsv.gz", "EPIC": "epic_snp_crossreactive.tsv.gz"}
REASONS = ("Polymorphism", "CrossHybridization", "RepeatSequenceElements", "BaseColorChange")
SOURCES = {
    "450k": ("Chen_etal_2013", "Price_etal_2013", "Naeem_etal_2014", "Daca-Roszak_etal_2015", "Zhou_etal_2016"),
    "EPIC": ("McCartney_etal_2016", "Zhou_etal_2016"),
}
# Probe counts of the manifests each vendored list was made for (450k: 485,577 probes; EPIC v1:
# 865,918 to 866,895 by manifest version), with room for a trimmed or extended copy.
MANIFEST_PROBE_COUNTS = {"450k": (480_000, 490_000), "EPIC": (860_000, 870_000)}


@dataclass(frozen=True)
class MaskList:
    """Probes to mask, with reasons and sources per probe, and the file (and its sha256) they came from."""

    table: pd.DataFrame
    source: str
    sha256: str

    def probes(self, sources: list[str] | None = None, reasons: list[str] | None = None) -> pd.Index:
        """Probe IDs listed by any of ``sources`` for any of ``reasons`` (None: all)."""
        keep = np.ones(len(self.table), dtype=bool)
        for column, wanted in (("sources", sources), ("reasons", reasons)):
            if wanted is None:
                continue
            known = set(";".join(self.table[column].dropna().unique()).split(";")) - {""}
            unknown = sorted(set(wanted) - known)
            if unknown:
                raise EpiclockError(f"{self.source}: no {column} {', '.join(unknown)} in the mask list; "
                                    f"known: {', '.join(sorted(known))}")
            pattern = "(?:^|;)(?:" + "|".join(re.escape(value) for value in wanted) + ")(?:;|$)"
            keep &= self.table[column].fillna("").str.contains(pattern, regex=True).to_numpy(bool)
        return pd.Index(self.table.loc[keep, "probe_id"], name="probe_id")


def read_mask_list(path: str | os.PathLike) -> MaskList:
    """Read a mask list file (TSV with at least ``probe_id``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise EpiclockError(f"{path}: mask list not found") from error
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, compression="infer")
    except (ValueError, pd.errors.ParserError, OSError, EOFError) as error:
        raise EpiclockError(f"{path}: the mask list cannot be read ({error})") from error
    if "probe_id" not in table.columns:
        raise EpiclockError(f"{path}: the mask list has no 'probe_id' column (columns: {', '.join(table.columns)})")
    for column in ("reasons", "sources"):
        if column not in table.columns:
            table[column] = ""
    table["probe_id"] = table["probe_id"].str.strip()
    table = table.loc[table["probe_id"] != "", ["probe_id", "reasons", "sources"]].drop_duplicates("probe_id")
    return MaskList(table.reset_index(drop=True), str(path), hashlib.sha256(data).hexdigest())


def vendored_mask_list(array: str) -> MaskList:
    """The vendored SNP / cross-reactive list of ``array`` ('450k' or 'EPIC')."""
    if array not in VENDORED:
        raise EpiclockError(f"no vendored mask list for array {array!r}; available: {', '.join(VENDORED)}")
    path = resources.files("epiclock") / "data" / "masks" / VENDORED[array]
    with resources.as_file(path) as real_path:
        return read_mask_list(real_path)


@dataclass(frozen=True)
class MaskChoice:
    """Which probes to mask: the vendored list's probes named by any of ``sources`` and for any of
    ``reasons`` (both given: both must hold; neither: the vendored list is not used), and every
    probe of the user's mask list ``file`` (empty: none)."""

    sources: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    file: str = ""

    @property
    def uses_vendored(self) -> bool:
        return bool(self.sources or self.reasons)

    @property
    def is_empty(self) -> bool:
        return not self.uses_vendored and not self.file

    @classmethod
    def from_config(cls, section: dict | None) -> "MaskChoice":
        """From the workflow's ``preprocess.masks`` (keys sources, reasons, file); checked, with the file read."""
        section = dict(section or {})
        unknown = sorted(set(section) - {"sources", "reasons", "file"})
        if unknown:
            raise EpiclockError(f"config preprocess.masks: unknown key(s) {', '.join(unknown)}; "
                                "known: sources, reasons, file")
        choice = cls(tuple(section.get("sources") or ()), tuple(section.get("reasons") or ()),
                     str(section.get("file") or ""))
        bad_reasons = sorted(set(choice.reasons) - set(REASONS))
        if bad_reasons:
            raise EpiclockError(f"config preprocess.masks.reasons: unknown {', '.join(bad_reasons)}; "
                                f"known: {', '.join(REASONS)}")
        known_sources = {source for sources in SOURCES.values() for source in sources}
        bad_sources = sorted(set(choice.sources) - known_sources)
        if bad_sources:
            raise EpiclockError(f"config preprocess.masks.sources: unknown {', '.join(bad_sources)}; "
                                f"known: {', '.join(sorted(known_sources))}")
        if choice.file:
            _user_mask_list(choice.file)  # a missing or unreadable file stops the run here, not per sample
        return choice


def vendored_array(probe_count: int, idat: Idat | None = None) -> str:
    """The array ('450k' or 'EPIC') whose vendored list fits a manifest of ``probe_count`` probes.

    The manifest decides (the list names its probes); where its size fits neither, the IDAT's
    array type (from its address count and chip type) is used. An error when no vendored list fits.
    """
    for array, (low, high) in MANIFEST_PROBE_COUNTS.items():
        if low <= probe_count <= high:
            return array
    detected = None
    if idat is not None:
        try:
            detected = detect_array(idat)
        except EpiclockError:
            detected = None
        if detected in VENDORED:
            return detected
    raise ConfigurationError(
        f"config preprocess.masks: no vendored probe mask fits this array: the manifest has {probe_count:,} probes and the IDATs are "
        f"{detected or 'of an unknown array type'}; vendored lists exist for 450k (~485,000 probes) and EPIC "
        "(~866,000); give a mask list for this array in preprocess.masks.file and leave sources and reasons empty"
    )


@functools.lru_cache(maxsize=4)
def _vendored_selection(array: str, sources: tuple[str, ...], reasons: tuple[str, ...]) -> pd.Index:
    return vendored_mask_list(array).probes(list(sources) or None, list(reasons) or None)


@functools.lru_cache(maxsize=4)
def _user_mask_list(path: str) -> pd.Index:
    return read_mask_list(path).probes()


def masked_probes(choice: MaskChoice, array: str | None = None) -> pd.Index:
    """Probe IDs to mask under ``choice``; ``array`` ('450k' or 'EPIC') picks the vendored list.

    Lists are read once per process: every sample of a batch asks for the same probes.
    """
    chosen = pd.Index([], dtype=object, name="probe_id")
    if choice.uses_vendored:
        if array not in VENDORED:
            raise EpiclockError(f"no vendored mask list for array {array!r}; available: {', '.join(VENDORED)}")
        chosen = chosen.union(_vendored_selection(array, choice.sources, choice.reasons))
    if choice.file:
        chosen = chosen.union(_user_mask_list(choice.file))
    return chosen.rename("probe_id")
