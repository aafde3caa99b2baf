"""The project's own error type: every expected failure on bad input is raised as this."""


class EpiclockError(Exception):
    """An input or configuration problem, with a message that names the file, sample or field."""


class ConfigurationError(EpiclockError):
    """A choice of the configuration that cannot work for this run: it stops the run rather than
    quarantining sample after sample for the same reason."""
