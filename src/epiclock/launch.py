"""`epiclock run`: plain snakemake on a study directory, with the workflow's Snakefile and the study's config.

    epiclock run STUDY [snakemake arguments]
    = snakemake -s <checkout>/Snakefile -d STUDY --configfile STUDY/config.yaml [snakemake arguments]

Before starting Snakemake it checks that the executor a profile or ``--executor`` asks for is
installed, and says how to install it, instead of Snakemake's page of usage text.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import yaml

from epiclock.errors import EpiclockError

# The checkout epiclock runs from: the Snakefile, rules/, config/ and profiles/ beside src/.
CHECKOUT = Path(__file__).resolve().parents[2]
# Where a study's config is looked for, first found first.
CONFIG_PLACES = ("config.yaml", "config/config.yaml")
# Executors Snakemake has without a plugin.
BUILT_IN_EXECUTORS = {"local", "dryrun", "touch"}
# Executors with an extra of this project that installs their plugin.
EXECUTOR_EXTRAS = {"slurm": "slurm"}


def snakefile(checkout: Path = CHECKOUT) -> Path:
    path = checkout / "Snakefile"
    if not path.is_file():
        raise EpiclockError(f"{path}: the workflow's Snakefile is not there; epiclock run needs a checkout of the "
                            "workflow (git clone, then pip install -e .), or run snakemake -s <checkout>/Snakefile")
    return path


def _option_values(arguments: list[str], names: tuple[str, ...]) -> list[str]:
    """Values of ``--name value`` and ``--name=value`` options in a Snakemake command line."""
    values = []
    for index, argument in enumerate(arguments):
        for name in names:
            if argument == name and index + 1 < len(arguments):
                values.append(arguments[index + 1])
            elif argument.startswith(name + "="):
                values.append(argument.split("=", 1)[1])
    return values


def _profile_executor(profile: str, checkout: Path) -> str:
    """The executor a profile (a directory, or a name under the checkout's profiles/) sets; '' for none."""
    for directory in (Path(profile), checkout / "profiles" / profile):
        config = directory / "config.yaml"
        if config.is_file():
            settings = yaml.safe_load(config.read_text()) or {}
            return str(settings.get("executor", ""))
    return ""


def requested_executors(arguments: list[str], checkout: Path = CHECKOUT) -> list[str]:
    executors = _option_values(arguments, ("--executor", "-e"))
    for profile in _option_values(arguments, ("--profile", "--workflow-profile")):
        executors.append(_profile_executor(profile, checkout))
    return [executor for executor in executors if executor]


def check_executor(executor: str) -> None:
    """An executor plugin must be importable; if not, one line saying how to install it."""
    if executor in BUILT_IN_EXECUTORS:
        return
    module = f"snakemake_executor_plugin_{executor.replace('-', '_')}"
    if importlib.util.find_spec(module) is None:
        package = module.replace("_", "-")
        extra = EXECUTOR_EXTRAS.get(executor)
        how = f"pip install -e '.[{extra}]' in the checkout, or pip install {package}" if extra else \
            f"pip install {package}"
        raise EpiclockError(f"the {executor} executor needs {package}, which is not installed in "
                            f"{sys.prefix}: {how}")


def study_config(study: Path) -> Path:
    """STUDY/config.yaml (as epiclock init writes it), or STUDY/config/config.yaml (a checkout, or a
    directory snakedeploy made)."""
    for candidate in CONFIG_PLACES:
        if (study / candidate).is_file():
            return study / candidate
    raise EpiclockError(f"{study / CONFIG_PLACES[0]}: no study config; create the study with "
                        f"epiclock init {study} --idats DIR")


def snakemake_command(study: str | os.PathLike, arguments: list[str], checkout: Path = CHECKOUT) -> list[str]:
    study = Path(study).absolute()
    config = study_config(study)
    for executor in requested_executors(arguments, checkout):
        check_executor(executor)
    return [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile(checkout)), "--directory", str(study),
            "--configfile", str(config), *arguments]
