"""SNP-probe genotypes and sample identity.

SNP (rs) probes give a beta near 0, 0.5 or 1 (homozygous, heterozygous, other homozygous); two
arrays from the same donor share their calls. Concordance over all pairs flags unexpected
duplicates (different donors, same genotypes) and swaps (same donor, different genotypes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.arrays.channels import Sample, measure
from epiclock.arrays.signals import raw_meth_unmeth
from epiclock.errors import EpiclockError


GENOTYPE_BOUNDS = (0.2, 0.8)


DUPLICATE_CONCORDANCE = 0.9


# Fewer SNP probes called in both samples than this, and a pair's concordance says nothing either way.
MIN_IDENTITY_SNPS = 10


IDENTITY_COLUMNS = ["sample_a", "sample_b", "n_snps", "concordance", "same_donor", "same_genotype", "problem"]


def snp_betas(sample: Sample, probes: pd.DataFrame) -> pd.Series:
    """Raw betas (offset 0) of the SNP (rs) probes of one sample, as minfi's ``getSnpBeta``."""
    measured = measure(sample, probes)
    layout = measured.probe.layout
    snp = layout.snp
    if not snp.any():
        raise EpiclockError("the probe table has no SNP (rs) probes; genotypes cannot be called")
    methylated, unmethylated = raw_meth_unmeth(measured.probe, snp)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = methylated / (methylated + unmethylated)
    return pd.Series(values, index=layout.index[snp], name=measured.channels.name)


def call_genotypes(betas: pd.Series | pd.DataFrame, bounds: tuple[float, float] = GENOTYPE_BOUNDS):
    """Genotype calls 0, 1, 2 (beta below, between or above ``bounds``); NaN beta stays missing."""
    low, high = bounds
    if not 0 < low < high < 1:
        raise EpiclockError(f"genotype bounds must satisfy 0 < low < high < 1; got {bounds}")
    values = np.asarray(betas, dtype=np.float64)
    calls = np.where(values < low, 0.0, np.where(values > high, 2.0, 1.0))
    calls = np.where(np.isnan(values), np.nan, calls)
    if isinstance(betas, pd.DataFrame):
        return pd.DataFrame(calls, index=betas.index, columns=betas.columns)
    return pd.Series(calls, index=betas.index, name=betas.name)


def genotype_concordance(calls: pd.DataFrame) -> pd.DataFrame:
    """Share of SNP probes called alike for every pair of samples (columns), with the count compared.

    Pairs come in the order of ``itertools.combinations`` over the columns. Computed as matrix
    products over one-hot calls, so 1,000 samples (half a million pairs) take well under a second.
    """
    values = calls.to_numpy(np.float64)
    called = ~np.isnan(values)
    indicator = called.astype(np.float64)
    compared = indicator.T @ indicator
    agreeing = np.zeros_like(compared)
    for genotype in np.unique(values[called]):
        same = (values == genotype).astype(np.float64)
        agreeing += same.T @ same
    left, right = np.triu_indices(values.shape[1], k=1)
    pair_compared = compared[left, right]
    with np.errstate(invalid="ignore", divide="ignore"):
        concordance = np.where(pair_compared > 0, agreeing[left, right] / pair_compared, np.nan)
    names = calls.columns.to_numpy()
    return pd.DataFrame({"sample_a": names[left], "sample_b": names[right],
                         "n_snps": pair_compared.astype(np.int64), "concordance": concordance},
                        columns=["sample_a", "sample_b", "n_snps", "concordance"])


# Identity problems of a pair: two donors' samples with one genotype, one donor's with two.
DUPLICATE_PROBLEM = "unexpected duplicate"
SWAP_PROBLEM = "possible swap"


def identity_checks(concordance: pd.DataFrame, donors: pd.Series,
                    duplicate_concordance: float = DUPLICATE_CONCORDANCE,
                    min_snps: int = MIN_IDENTITY_SNPS) -> pd.DataFrame:
    """Flag pairs whose genotypes contradict the sheet's donors.

    ``same_donor`` from the sheet; ``same_genotype`` when concordance reaches the threshold.
    ``problem`` is "unexpected duplicate" (different donors, same genotypes), "possible swap"
    (same donor, different genotypes) or empty. Pairs with a sample absent from ``donors``, or
    compared on fewer than ``min_snps`` SNP probes, are reported with no problem (``same_donor``
    NA for the former, ``same_genotype`` NA for the latter).
    """
    table = concordance.copy()
    donor_a = donors.reindex(table["sample_a"]).to_numpy()
    donor_b = donors.reindex(table["sample_b"]).to_numpy()
    known = ~(pd.isna(donor_a) | pd.isna(donor_b))
    table["same_donor"] = pd.array(np.where(known, donor_a == donor_b, False), dtype="boolean").copy()
    table.loc[~known, "same_donor"] = pd.NA
    comparable = (table["n_snps"] >= min_snps).to_numpy(bool)
    table["same_genotype"] = pd.array(table["concordance"] >= duplicate_concordance, dtype="boolean")
    table.loc[~comparable, "same_genotype"] = pd.NA
    known &= comparable
    same_genotype = table["same_genotype"].fillna(False).to_numpy(bool)
    duplicate = known & ~table["same_donor"].fillna(False).to_numpy(bool) & same_genotype
    swap = known & table["same_donor"].fillna(False).to_numpy(bool) & ~same_genotype
    table["problem"] = np.where(duplicate, DUPLICATE_PROBLEM, np.where(swap, SWAP_PROBLEM, ""))
    return table


def identity_pairs(snp_betas: pd.DataFrame, donors: pd.Series) -> pd.DataFrame:
    """Genotype concordance of every pair of samples (columns of ``snp_betas``), checked against the donors."""
    if snp_betas.shape[0] == 0 or snp_betas.shape[1] < 2:
        return pd.DataFrame(columns=IDENTITY_COLUMNS)
    concordance = genotype_concordance(call_genotypes(snp_betas))
    return identity_checks(concordance, donors)[IDENTITY_COLUMNS]
