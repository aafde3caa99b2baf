"""epiclock: epigenetic age estimates and per-condition age deltas from DNA-methylation arrays."""

from epiclock.errors import EpiclockError

__version__ = "0.1.0"

__all__ = ["EpiclockError", "__version__"]
