"""How a Snakemake script runs its step: the step's log to the rule's log file, and the project's own
errors as a one-line message instead of a traceback.

Each rule has one script (scripts/<rule>.py) that unpacks ``snakemake.input/output/params`` and
calls the step function of the same name (``epiclock.steps.<rule>.<rule>``) through ``run_step``.
Each step module imports only its own stages: every Snakemake job is a fresh Python process, and
importing all stages (scikit-learn, matplotlib, scipy) would cost each job seconds.
"""

from __future__ import annotations

import errno
import logging
import sys
from pathlib import Path

from epiclock.errors import EpiclockError

log = logging.getLogger("epiclock")


def run_step(snakemake, step, **kwargs) -> None:
    """Run ``step(**kwargs)`` with logging to the rule's log; exit 1 with the message on a known error."""
    log_path = snakemake.log[0] if len(snakemake.log) else None
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers,
                        force=True)
    try:
        step(**kwargs)
        log.info("peak memory of this step: %s", peak_memory_text())
    except EpiclockError as error:
        log.error("%s", error)
        sys.exit(1)
    except OSError as error:
        # A path the step cannot read or write (read-only, full disk, a folder given for a file) is the
        # user's to fix: one line naming the path and the step; the details go to the log only.
        log.error("%s", file_problem(error, getattr(step, "__name__", str(step))))
        log.debug("details", exc_info=True)
        sys.exit(1)
    except Exception:
        # An unexpected failure is a bug: keep its traceback in the rule's log as well.
        log.exception("unexpected error in %s", getattr(step, "__name__", step))
        raise


# What to do about a file-system error, by errno.
FILE_PROBLEM_ADVICE = {
    errno.ENOSPC: "free space on that disk, or run the study where there is room (snakemake -d STUDY_DIR)",
    errno.EDQUOT: "free space within your quota, or run the study where there is room (snakemake -d STUDY_DIR)",
    errno.EACCES: "make it readable and writable for this user",
    errno.EPERM: "make it readable and writable for this user",
    errno.EROFS: "the file system is read-only: run the study in a writable directory (snakemake -d STUDY_DIR)",
    errno.EISDIR: "a folder was given where a file belongs: give the file",
    errno.ENOTDIR: "a file was given where a folder belongs: give the folder",
    errno.ENOENT: "the file is not there: check the path in the config",
}


def file_problem(error: OSError, step: str) -> str:
    """One line for a file-system error in a step: the path, what went wrong, what to do."""
    where = error.filename if error.filename is not None else "a file of this step"
    advice = FILE_PROBLEM_ADVICE.get(error.errno, "check the path and the disk")
    return f"{where}: {error.strerror or error} (step {step}); {advice}"


def peak_memory_text() -> str:
    """This process's peak resident memory since it started, from the kernel (VmHWM).

    Not ``getrusage``: Linux carries a parent's peak over through fork and exec, so a job started
    by Snakemake would report Snakemake's peak as its own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return f"{int(line.split()[1]) / 1024:.0f} MB"
    except OSError:
        pass
    return "unknown"
