"""Cell composition: fractions of cell types per sample from published reference profiles."""

from epiclock.composition.estimate import METHODS, estimate, houseman_cp, rpc
from epiclock.composition.references import available, load, provenance
from epiclock.composition.table import composition_table, covariates

__all__ = ["METHODS", "available", "composition_table", "covariates", "estimate", "houseman_cp", "load",
           "provenance", "rpc"]
