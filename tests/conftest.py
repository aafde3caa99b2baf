import os
from pathlib import Path

import pytest

from epiclock import simulate

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = PROJECT_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the project: skipped where absent, but a failure where CI requires it."""
    if not SHARED_DIR.is_dir():
        message = f"{SHARED_DIR} is absent (only CI and developer machines have it)"
        if os.environ.get("EPICLOCK_REQUIRE_SHARED") == "1":
            pytest.fail(message + ", and EPICLOCK_REQUIRE_SHARED=1 says it must be there")
        pytest.skip(message)
    return SHARED_DIR


@pytest.fixture(scope="session")
def small_study() -> simulate.SimulatedStudy:
    """A small simulated study: 3 donors x 4 conditions x 2 replicates, one failed array."""
    parameters = simulate.StudyParameters(donors=3, replicates=2, seed=7, background_cpgs=300)
    return simulate.simulate_study(parameters)
