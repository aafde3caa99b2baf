"""Where each probe's beads sit on an array: probe design, probe layout and control layout.

Looking up where each probe's beads sit in an IDAT's address list is the costly part of reading
intensities; it depends only on the probe table and the array's address list, which every sample
of a batch shares. So the probe table's own facts (design, colour, SNP and sex-chromosome probes)
are derived once per table and the bead positions once per table and address list (cached here),
and one sample's intensities once per sample (``arrays.channels.measure``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from epiclock.cache import RecentCache
from epiclock.errors import EpiclockError


def _positions(addresses: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Index of each wanted address in ``addresses``; ``len(addresses)`` where absent or missing."""
    if len(addresses) == 0:
        return np.zeros(len(wanted), dtype=np.int64)
    # Scanner IDATs list their addresses in ascending order: then no sort is needed.
    ascending = bool(np.all(addresses[1:] > addresses[:-1]))
    order = None if ascending else np.argsort(addresses, kind="stable")
    ordered = addresses if ascending else addresses[order]
    present = ~np.isnan(wanted)
    queries = np.where(present, wanted, -1).astype(np.int64)
    slots = np.minimum(np.searchsorted(ordered, queries), len(ordered) - 1)
    found = present & (ordered[slots] == queries)
    return np.where(found, slots if ascending else order[slots], len(addresses))


def _same_addresses(left: np.ndarray, right: np.ndarray) -> bool:
    return left is right or (left.shape == right.shape and np.array_equal(left, right))


class DesignRows(NamedTuple):
    """Row numbers of the probes of each design and colour (``*_cpg``: SNP probes left out), which
    values of each channel's stacked in-band signals come from CpG probes (see ``channel_stacks``),
    and each probe's colour class."""

    type_two: np.ndarray
    red: np.ndarray
    green: np.ndarray
    red_cpg: np.ndarray
    green_cpg: np.ndarray
    green_stack_cpg: np.ndarray
    red_stack_cpg: np.ndarray
    colour_code: np.ndarray  # per probe: 0 type-I Red, 1 type-I Grn, 2 any other (read as type II)


def _design_rows(type_two: np.ndarray, in_red: np.ndarray, in_green: np.ndarray, snp: np.ndarray) -> DesignRows:
    two, red, green = np.flatnonzero(type_two), np.flatnonzero(in_red), np.flatnonzero(in_green)
    return DesignRows(
        type_two=two, red=red, green=green,
        red_cpg=red[~snp[red]], green_cpg=green[~snp[green]],
        green_stack_cpg=np.concatenate([~snp[green], ~snp[green], ~snp[two]]),
        red_stack_cpg=np.concatenate([~snp[red], ~snp[red], ~snp[two]]),
        colour_code=np.where(in_red, 0, np.where(in_green, 1, 2)).astype(np.int8),
    )


class ProbeDesign(NamedTuple):
    """What a probe table says about each probe, whatever the array: derived once per table."""

    index: pd.Index
    address_a: np.ndarray
    address_b: np.ndarray
    type_two: np.ndarray
    in_red: np.ndarray
    in_green: np.ndarray
    snp: np.ndarray
    on_x: np.ndarray
    on_y: np.ndarray
    rows: DesignRows
    probes: pd.DataFrame


# A batch uses one manifest; a few entries cover tests and benchmarks that switch between tables.
_DESIGN_CACHE = RecentCache(4)


_LAYOUT_CACHE = RecentCache(4)


_CONTROL_LAYOUT_CACHE = RecentCache(4)


def probe_design(probes: pd.DataFrame) -> ProbeDesign:
    """Design, colour, SNP and chrX/chrY flags of every probe (cached per probe table object).

    The cache knows a table by identity: change a table in place after using it and the old
    design is returned; change a copy instead (as ``with_inferred_channels`` does).
    """
    design = _DESIGN_CACHE.find(lambda entry: entry.probes is probes)
    if design is not None:
        return design
    missing = {"probe_id", "address_a", "address_b", "design", "channel"} - set(probes.columns)
    if missing:
        raise EpiclockError(f"the probe table lacks column(s) {', '.join(sorted(missing))}; use a parsed manifest")
    kind = probes["design"].astype(str).fillna("").to_numpy(dtype=object)
    channel = probes["channel"].fillna("").astype(str).to_numpy(dtype=object)
    index = pd.Index(probes["probe_id"].astype(str).to_numpy(), name="probe_id")
    type_two, in_red, in_green = kind == "II", (kind == "I") & (channel == "Red"), (kind == "I") & (channel == "Grn")
    snp = is_snp_probe(index)
    design = ProbeDesign(
        index=index,
        address_a=probes["address_a"].to_numpy(np.float64, na_value=np.nan),
        address_b=probes["address_b"].to_numpy(np.float64, na_value=np.nan),
        type_two=type_two, in_red=in_red, in_green=in_green, snp=snp,
        on_x=_on_chromosome(probes, "chrX"),
        on_y=_on_chromosome(probes, "chrY"),
        rows=_design_rows(type_two, in_red, in_green, snp),
        probes=probes,
    )
    _DESIGN_CACHE.add(design)
    return design


def _on_chromosome(probes: pd.DataFrame, chromosome: str) -> np.ndarray:
    if "chromosome" not in probes.columns:
        return np.zeros(len(probes), dtype=bool)
    return probes["chromosome"].eq(chromosome).to_numpy(dtype=bool, na_value=False)


class ProbeLayout(NamedTuple):
    """Where each probe's beads sit in an array's address list, and its design; shared by all arrays of a type.

    ``position_a``/``position_b`` are indices into the address list (its length where absent);
    ``rows_b``/``at_b`` list the probes with a bead type B on the array and where it sits, and
    ``rows_a``/``at_a`` likewise for A (``rows_a`` None when every probe's A is there).
    """

    index: pd.Index
    position_a: np.ndarray
    position_b: np.ndarray
    type_two: np.ndarray
    in_red: np.ndarray
    in_green: np.ndarray
    snp: np.ndarray
    probes: pd.DataFrame
    on_x: np.ndarray
    on_y: np.ndarray
    addresses: np.ndarray
    rows_a: np.ndarray | None
    at_a: np.ndarray
    rows_b: np.ndarray
    at_b: np.ndarray
    rows: DesignRows


def probe_layout(addresses: np.ndarray, probes: pd.DataFrame) -> ProbeLayout:
    """The layout of ``probes`` on an array with these addresses (cached: every sample of a batch shares it)."""
    layout = _LAYOUT_CACHE.find(lambda entry: entry.probes is probes and _same_addresses(entry.addresses, addresses))
    if layout is not None:
        return layout
    design = probe_design(probes)
    position_a = _positions(addresses, design.address_a)
    position_b = _positions(addresses, design.address_b)
    found_a = position_a < len(addresses)
    rows_b = np.flatnonzero(position_b < len(addresses))
    layout = ProbeLayout(
        index=design.index, position_a=position_a, position_b=position_b,
        type_two=design.type_two, in_red=design.in_red, in_green=design.in_green, snp=design.snp,
        probes=probes, on_x=design.on_x, on_y=design.on_y,
        addresses=np.array(addresses, copy=True),
        rows_a=None if found_a.all() else np.flatnonzero(found_a), at_a=position_a[found_a],
        rows_b=rows_b, at_b=position_b[rows_b], rows=design.rows,
    )
    _LAYOUT_CACHE.add(layout)
    return layout


class ControlLayout(NamedTuple):
    """Where each control probe of a control table sits in an array's address list."""

    controls: pd.DataFrame
    addresses: np.ndarray
    positions: np.ndarray
    present: np.ndarray
    kinds: np.ndarray  # the control type, upper-cased


def control_layout(addresses: np.ndarray, controls: pd.DataFrame) -> ControlLayout:
    """The layout of ``controls`` on an array with these addresses (cached like ``probe_layout``)."""
    layout = _CONTROL_LAYOUT_CACHE.find(
        lambda entry: entry.controls is controls and _same_addresses(entry.addresses, addresses))
    if layout is not None:
        return layout
    missing = {"address", "type", "extended_type"} - set(controls.columns)
    if missing:
        raise EpiclockError(f"the control table lacks column(s) {', '.join(sorted(missing))}; use a parsed manifest")
    positions = _positions(addresses, controls["address"].to_numpy(np.float64))
    layout = ControlLayout(controls, np.array(addresses, copy=True), positions, positions < len(addresses),
                           controls["type"].astype(str).str.upper().to_numpy(dtype=object))
    _CONTROL_LAYOUT_CACHE.add(layout)
    return layout


def is_snp_probe(probe_ids: pd.Index) -> np.ndarray:
    """SNP (rs) probes: minfi keeps them out of its CpG tables, so out of every background fit."""
    return np.asarray(pd.Index(probe_ids).str.startswith("rs"), dtype=bool)
