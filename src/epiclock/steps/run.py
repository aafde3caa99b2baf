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
import resource
import sys
from pathlib import Path

from epiclock.errors import EpiclockError

log = logging.getLogger("epiclock")

# Where a job leaves what it says and what it cost, named for its rule and its wildcards, for every rule
# alike (rules/common.smk declares them, bench/scale.py reads them):
# - logs/<rule>/<wildcards>.log: the step's log;
# - benchmarks/<rule>/<wildcards>.tsv: Snakemake's benchmark (the `benchmark:` directive). Snakemake
#   samples the job's process tree with psutil (snakemake/benchmark.py, BenchmarkTimer): once at the
#   start, every 0.5 s up to 15 s, then every 30 s. max_rss, max_uss and max_pss are the largest sums
#   over the tree at a sample and cpu_time the tree's CPU seconds at the last sample, so a peak between
#   two samples and the CPU after the last one are missed: for a job past its first 15 s, up to 30 s;
# - benchmarks/<rule>/<wildcards>.usage.tsv: the same quantities as the step's own process knows them
#   from the kernel's counters, which miss nothing (``write_usage``).
# A rule without wildcards leaves logs/<rule>.log, benchmarks/<rule>.tsv and benchmarks/<rule>.usage.tsv.
LOG_DIR = "logs"
BENCHMARK_DIR = "benchmarks"
USAGE_SUFFIX = ".usage.tsv"
# The usage file's columns, named and measured in the units of Snakemake's benchmark (MiB, which it
# calls MB; seconds) so that the two read side by side.
USAGE_COLUMNS = ("max_rss", "cpu_time")


def job_stem(rule: str, wildcards: str = "") -> str:
    """<rule>/<wildcards> (the wildcards as a path pattern, e.g. "{batch}"), or <rule> without them."""
    return f"{rule}/{wildcards}" if wildcards else rule


def job_log(rule: str, wildcards: str = "") -> dict[str, str]:
    """A rule's `log:` files: ``step``, the step's log, and ``usage``, what the step measured of itself."""
    stem = job_stem(rule, wildcards)
    return {"step": f"{LOG_DIR}/{stem}.log", "usage": f"{BENCHMARK_DIR}/{stem}{USAGE_SUFFIX}"}


def job_benchmark(rule: str, wildcards: str = "") -> str:
    """A rule's `benchmark:` file, which Snakemake writes."""
    return f"{BENCHMARK_DIR}/{job_stem(rule, wildcards)}.tsv"


def run_step(snakemake, step, **kwargs) -> None:
    """Run ``step(**kwargs)`` with logging to the rule's log; exit 1 with the message on a known error.
    The step's usage goes to the rule's ``usage`` log file, whether it succeeds or fails."""
    log_path, usage_path = snakemake.log.get("step"), snakemake.log.get("usage")
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers,
                        force=True)
    try:
        step(**kwargs)
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
    finally:
        if usage_path:
            write_usage(usage_path)


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


def write_usage(path: str | Path) -> None:
    """This process's peak resident memory and CPU time, as one row of ``USAGE_COLUMNS``.

    The peak is VmHWM of /proc/self/status, which the kernel keeps for the process; not ``getrusage``'s
    ru_maxrss, which Linux carries over from a parent through fork and exec, so that a job started by
    Snakemake would report Snakemake's peak as its own. The CPU time is the user and system time of
    this process and of the children it waited for. Where /proc is not there (not Linux), max_rss is NA.
    """
    peak = "NA"
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peak = f"{int(line.split()[1]) / 1024:.2f}"
    except OSError:
        pass
    cpu = sum(usage.ru_utime + usage.ru_stime
              for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\t".join(USAGE_COLUMNS) + "\n" + f"{peak}\t{cpu:.2f}\n")
