#!/usr/bin/env bash
# The workflow on a real SLURM cluster: starts a single-node cluster on localhost (slurmctld +
# slurmd, no accounting daemon), runs a small simulated study from IDATs (two batches) with
# profiles/slurm, and checks from SLURM's own job-completion record that every job Snakemake ran
# was a SLURM job that ended COMPLETED with exit code 0:0. Stops the cluster on exit; exits non-zero on any failure.
#
# Needs root on Debian (installs slurm-wlm and munge if missing) and the project's .venv
# (`make install` or `make test`); installs the SLURM executor plugin into .venv if missing.
# EPICLOCK_SLURM_KEEP=1 keeps the scratch directory (cluster logs, run directory) after success.
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT_ROOT=$PWD
PYTHON=$PROJECT_ROOT/.venv/bin/python
# Used only when requirements/constraints.txt does not pin the plugin yet.
PLUGIN_FALLBACK_PIN="snakemake-executor-plugin-slurm==2.8.0"
# Upper bound for the workflow run, so a stuck queue fails the test instead of hanging CI.
RUN_TIMEOUT_SECONDS=${EPICLOCK_SLURM_TIMEOUT:-900}
START_SECONDS=$(date +%s)

say() { echo "slurm test: $*"; }
fail() { echo "slurm test: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (installs packages, runs slurmctld and slurmd as root)"

# --- software -----------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    say "installing Debian's slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge >/dev/null
fi
[ -x "$PYTHON" ] || make install
if ! "$PYTHON" -c "import snakemake_executor_plugin_slurm" 2>/dev/null; then
    plugin=$PLUGIN_FALLBACK_PIN
    grep -qi '^snakemake-executor-plugin-slurm==' requirements/constraints.txt && plugin=snakemake-executor-plugin-slurm
    say "installing $plugin into .venv"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt "$plugin"
fi
PLUGIN_VERSION=$("$PYTHON" -c "from importlib.metadata import version; print(version('snakemake-executor-plugin-slurm'))")
SNAKEMAKE_VERSION=$("$PYTHON" -c "from importlib.metadata import version; print(version('snakemake'))")

# --- scratch space and clean-up -----------------------------------------------------------------
WORK=$(mktemp -d /tmp/epiclock-slurm.XXXXXX)
CLUSTER=$WORK/cluster
RUN=$WORK/run
mkdir -p "$CLUSTER/state" "$CLUSTER/spool" "$RUN"
# The cluster's config goes where every SLURM command looks by default: SLURM_CONF cannot point
# elsewhere, because the executor's job step drops SLURM_* variables (SLURM_CONF too) before its
# nested srun. A config already there is put back on exit.
SLURM_CONF_PATH=/etc/slurm/slurm.conf
SLURM_CONF_BACKUP=$WORK/slurm.conf.before
unset SLURM_CONF
STARTED_MUNGED=""
WROTE_SLURM_CONF=""

stop_pid_file() {
    local pid_file=$1 pid
    [ -s "$pid_file" ] || return 0
    pid=$(cat "$pid_file")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    trap - EXIT
    if [ -n "$WROTE_SLURM_CONF" ] && [ -s "$CLUSTER/slurmctld.pid" ]; then
        squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
    fi
    stop_pid_file "$CLUSTER/slurmd.pid"
    stop_pid_file "$CLUSTER/slurmctld.pid"
    [ -z "$STARTED_MUNGED" ] || stop_pid_file /run/munge/munged.pid
    if [ -n "$WROTE_SLURM_CONF" ]; then
        if [ -f "$SLURM_CONF_BACKUP" ]; then
            cp -p "$SLURM_CONF_BACKUP" "$SLURM_CONF_PATH"
        else
            rm -f "$SLURM_CONF_PATH"
        fi
    fi
    if [ "$status" -eq 0 ] && [ "${EPICLOCK_SLURM_KEEP:-0}" != 1 ]; then
        rm -rf "$WORK"
    else
        echo "slurm test: cluster logs, job record and run directory kept in $WORK" >&2
    fi
    say "cluster stopped"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- munge: SLURM's authentication ----------------------------------------------------------------
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile /etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    install -d -o munge -g munge -m 755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    STARTED_MUNGED=1
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
    munge -n | unmunge >/dev/null || fail "munged does not answer (munge -n | unmunge)"
fi

# --- the cluster: one node, localhost -----------------------------------------------------------
# Another cluster's daemons would read the config written below; do not run beside them.
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    fail "slurmctld or slurmd is already running on this machine; stop it first"
fi
# Free ports, so a SLURM already running on this machine is neither disturbed nor used.
read -r CTLD_PORT SLURMD_PORT < <("$PYTHON" - <<'EOF'
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
EOF
)
CPUS=$(nproc)
# The node offers 80% of the machine's memory; rules ask for up to a few GB.
MEMORY_MB=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
mkdir -p "$(dirname "$SLURM_CONF_PATH")"
[ ! -e "$SLURM_CONF_PATH" ] || cp -p "$SLURM_CONF_PATH" "$SLURM_CONF_BACKUP"
WROTE_SLURM_CONF=1
cat >"$SLURM_CONF_PATH" <<EOF
ClusterName=epiclocktest
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$CLUSTER/state
SlurmdSpoolDir=$CLUSTER/spool
SlurmctldPidFile=$CLUSTER/slurmctld.pid
SlurmdPidFile=$CLUSTER/slurmd.pid
SlurmctldLogFile=$CLUSTER/slurmctld.log
SlurmdLogFile=$CLUSTER/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# The record checked below: one line per finished job.
JobCompType=jobcomp/filetxt
JobCompLoc=$CLUSTER/jobcomp.log
# Finished jobs stay visible to squeue, the executor's status command without slurmdbd.
MinJobAge=3600
ReturnToService=2
NodeName=localhost CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
/usr/sbin/slurmctld
/usr/sbin/slurmd -N localhost
node_state=""
for _ in $(seq 60); do
    node_state=$(sinfo -h -N -n localhost -o %T 2>/dev/null || true)
    [ "$node_state" = idle ] && break
    sleep 0.5
done
if [ "$node_state" != idle ]; then
    tail -n 20 "$CLUSTER/slurmctld.log" "$CLUSTER/slurmd.log" >&2 || true
    fail "node localhost is '${node_state:-unknown}', not idle, 30 s after start"
fi
SLURM_VERSION=$(sinfo --version | awk '{print $2}')
say "cluster up: SLURM $SLURM_VERSION, node localhost with $CPUS CPUs and $MEMORY_MB MB, partition main"

# --- a small study, configured as the workflow tests do -----------------------------------------
"$PYTHON" - "$PROJECT_ROOT" "$RUN" <<'EOF'
import sys
from pathlib import Path

import yaml

from epiclock.demo import simulate
from epiclock.demo import simulate_arrays

project_root, workdir = Path(sys.argv[1]), Path(sys.argv[2])
study = simulate.simulate_study(simulate.StudyParameters(donors=4, replicates=2, seed=5, background_cpgs=500))
paths = simulate.write_study(study, workdir / "data")
# From IDATs, as cohorts run on clusters: two preprocessing batches, so two batch jobs of each kind.
arrays = simulate_arrays.write_idats(study.betas, study.samples, {}, workdir / "data", seed=5)
cohort = simulate.simulate_reference_cohort(n_samples=60, seed=5, cpg_ids=study.betas.index)
cohort_paths = simulate.write_reference_cohort(cohort, workdir / "data/reference_cohort")
config = yaml.safe_load((project_root / "config/config.yaml").read_text())
config["samples"] = str(paths["samples.tsv"])
config["input"].update(type="idat", idat_dir=str(arrays["idat_dir"]), batch_size=-(-len(study.samples) // 2))
config["manifest"]["path"] = str(arrays["manifest"])
for custom_clock in config.get("custom_clocks", []):
    custom_clock.update(betas=str(cohort_paths["betas.tsv.gz"]), ages=str(cohort_paths["ages.tsv"]), top_k=300)
(workdir / "config.yaml").write_text(yaml.safe_dump(config))
EOF

# --- the workflow, every job a SLURM job ----------------------------------------------------------
export PATH=$PROJECT_ROOT/.venv/bin:$PATH
snakemake_command=(
    "$PYTHON" -m snakemake
    --workflow-profile "$PROJECT_ROOT/profiles/slurm"
    --snakefile "$PROJECT_ROOT/Snakefile" --directory "$RUN" --configfile "$RUN/config.yaml"
    # No slurmdbd: no account to charge, and squeue (with MinJobAge above) instead of sacct.
    --slurm-no-account --slurm-status-command squeue
    # Demo jobs take seconds; the plugin's default first check after 40 s would dominate the run.
    --slurm-init-seconds-before-status-checks 2
)
"${snakemake_command[@]}" --dry-run --quiet rules >"$WORK/planned.txt" 2>&1 \
    || { cat "$WORK/planned.txt" >&2; fail "dry run"; }
say "running the workflow (snakemake $SNAKEMAKE_VERSION, snakemake-executor-plugin-slurm $PLUGIN_VERSION)"
run_start=$(date +%s)
run_status=0
timeout "$RUN_TIMEOUT_SECONDS" "${snakemake_command[@]}" >"$WORK/snakemake.log" 2>&1 || run_status=$?
run_seconds=$(( $(date +%s) - run_start ))
if [ "$run_status" -ne 0 ]; then
    tail -n 80 "$WORK/snakemake.log" >&2
    fail "snakemake exited with $run_status after ${run_seconds} s (full log: $WORK/snakemake.log)"
fi
[ -s "$RUN/results/report.html" ] || fail "the run finished without results/report.html"

# --- SLURM's record against Snakemake's -----------------------------------------------------------
# Snakemake's log names each job's rule, the SLURM job it was submitted in (alone, or with the other
# jobs of its group) and whether it finished; the job-completion record says how each SLURM job
# ended. Every planned job must have run in a SLURM job, every SLURM job of the run must be
# COMPLETED with exit code 0:0, and no other SLURM job (a failed first attempt, say) may exist.
"$PYTHON" - "$WORK/planned.txt" "$WORK/snakemake.log" "$CLUSTER/jobcomp.log" "$run_seconds" <<'EOF' \
    || fail "SLURM's job-completion record does not match the jobs Snakemake ran (log: $WORK/snakemake.log)"
import re
import sys
from collections import Counter, deque

planned_path, log_path, jobcomp_path, run_seconds = sys.argv[1:]

planned = Counter()
for line in open(planned_path):
    fields = line.split()
    if len(fields) == 2 and fields[1].isdigit() and fields[0] not in ("job", "total"):
        planned[fields[0]] = int(fields[1])

rule_of_job, local_jobs, finished = {}, set(), Counter()
slurm_of_job, group_of_job = {}, {}
group_blocks = deque()  # the jobs of each group summary, in the order the groups are submitted
current_rule, current_local, current_group = None, False, None
for line in open(log_path):
    if "Group job summary" in line:
        current_group = []
        group_blocks.append(current_group)
    elif match := re.match(r"(\s*)(local)?rule (\S+):$", line):
        current_rule, current_local = match.group(3), bool(match.group(2))
        if not match.group(1):  # a job block at top level ends a group summary
            current_group = None
    elif (match := re.match(r"(\s+)jobid: (\d+)$", line)) and current_rule:
        job = match.group(2)
        rule_of_job[job] = current_rule
        if current_local:
            local_jobs.add(job)
        elif current_group is not None and len(match.group(1)) > 4:
            current_group.append(job)
    elif match := re.search(r"Job (\S+) has been submitted with SLURM jobid (\d+)", line):
        submitted, slurm_id = match.groups()
        if submitted.isdigit():
            slurm_of_job[submitted] = slurm_id
        else:
            for job in group_blocks.popleft():
                slurm_of_job[job] = slurm_id
                group_of_job[job] = submitted
    elif match := re.match(r"Finished jobid: (\d+) \(Rule: (\S+)\)", line):
        finished[match.group(2)] += 1

records = {}
for line in open(jobcomp_path):
    fields = dict(re.findall(r"(\w+)=(\S*)", line))
    if "JobId" in fields:
        records[fields["JobId"]] = fields

problems = []
remote_jobs = {job: rule for job, rule in rule_of_job.items() if job not in local_jobs}
rows = []
for job, rule in sorted(rule_of_job.items(), key=lambda item: (item[0] in local_jobs, int(slurm_of_job.get(item[0], 0)), item[1])):
    if job in local_jobs:
        rows.append((rule, "local", "-", "-", "runs no command"))
        continue
    slurm_id = slurm_of_job.get(job)
    record = records.get(slurm_id) if slurm_id else None
    state, exit_code = (record.get("JobState"), record.get("ExitCode")) if record else ("-", "-")
    rows.append((rule, slurm_id or "none", state, exit_code, "in a group job" if job in group_of_job else ""))
    if slurm_id is None:
        problems.append(f"rule {rule} (Snakemake job {job}) was never submitted to SLURM")
    elif record is None:
        problems.append(f"SLURM job {slurm_id} ({rule}) is missing from the job-completion record")
    elif state != "COMPLETED" or exit_code != "0:0":
        problems.append(f"SLURM job {slurm_id} ({rule}) ended {state} with exit code {exit_code}")
for slurm_id in sorted(set(records) - set(slurm_of_job.values()), key=int):
    record = records[slurm_id]
    problems.append(f"SLURM job {slurm_id} ended {record.get('JobState')} but no Snakemake job was submitted as it")
ran = Counter(rule_of_job.values())
for rule in sorted(set(planned) | set(ran)):
    if planned[rule] != ran[rule] or planned[rule] != finished[rule]:
        problems.append(f"rule {rule}: {planned[rule]} jobs planned, {ran[rule]} started, {finished[rule]} finished")

width = max(len(row[0]) for row in rows + [("rule",)])
print(f"slurm test: {'rule':<{width}}  {'SLURM job':>9}  {'state':<9}  exit  note")
for rule, slurm_id, state, exit_code, note in rows:
    print(f"slurm test: {rule:<{width}}  {slurm_id:>9}  {state:<9}  {exit_code:<4}  {note}".rstrip())
slurm_ids = set(slurm_of_job.values())
grouped = len(group_of_job)
local_rules = ", ".join(sorted({rule_of_job[job] for job in local_jobs})) or "none"
print(f"slurm test: Snakemake planned {sum(planned.values())} jobs: {len(remote_jobs)} ran in {len(slurm_ids)} SLURM "
      f"jobs ({grouped} of them together in group jobs), {len(local_jobs)} locally ({local_rules}); "
      f"the workflow took {run_seconds} s")
good = sum(1 for record in records.values() if record.get("JobState") == "COMPLETED" and record.get("ExitCode") == "0:0")
print(f"slurm test: SLURM's job-completion record: {len(records)} jobs, {good} COMPLETED with exit code 0:0")
for problem in problems:
    print(f"slurm test: PROBLEM: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
say "PASSED in $(( $(date +%s) - START_SECONDS )) s (snakemake-executor-plugin-slurm $PLUGIN_VERSION, SLURM $SLURM_VERSION)"
