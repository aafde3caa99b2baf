"""The workflow on a real single-node SLURM cluster (ci/slurm_test.sh), only where asked for.

The script needs root and Debian, installs slurm-wlm and munge, starts slurmctld and slurmd, and takes
a few minutes, so it runs only with EPICLOCK_SLURM_TEST=1.
"""

import os
import subprocess

import pytest

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(
        os.environ.get("EPICLOCK_SLURM_TEST") != "1",
        reason="starts a real SLURM cluster (root, Debian, a few minutes): run with EPICLOCK_SLURM_TEST=1 "
        "(EPICLOCK_SLURM_TEST=1 .venv/bin/python -m pytest tests/test_slurm.py) or run ci/slurm_test.sh",
    ),
]


def test_every_job_completes_on_slurm(project_root):
    result = subprocess.run(
        ["bash", str(project_root / "ci/slurm_test.sh")],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, f"ci/slurm_test.sh failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    assert "slurm test: PASSED" in result.stdout, result.stdout
