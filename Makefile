# Two commands on a fresh machine with Python >= 3.11: `make run` (demo study -> report) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := resources/demo
CORES ?= 2

.PHONY: install run demo test bench clean slurm lint rulegraph

# Timings quoted below were measured with bench/first_run.py (a fresh clone, pip's cache warm).
$(STAMP): pyproject.toml requirements/constraints.txt
	@echo "epiclock: installing epiclock, Snakemake and their dependencies into $(VENV) (once; about 2 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Simulated again when the simulator changes, so a demo never lags behind the code.
$(DEMO)/betas.tsv.gz: src/epiclock/demo/simulate.py src/epiclock/demo/simulate_arrays.py src/epiclock/demo/composition.py | $(STAMP)
	@echo "epiclock: simulating the demo study (IDATs, sample sheet, a reference cohort) into $(DEMO) (about 30 s)"
	rm -rf $(DEMO)
	$(BIN)/epiclock simulate --out $(DEMO)

demo: $(DEMO)/betas.tsv.gz

run: $(STAMP) $(DEMO)/betas.tsv.gz
	@jobs=$$($(BIN)/snakemake --cores $(CORES) --dry-run --quiet rules 2>/dev/null | awk '$$1 == "total" {print $$2}'); \
	echo "epiclock: running the workflow: $${jobs:-0} jobs on $(CORES) cores (about 1.5 minutes the first time; later runs redo only what changed)"
	$(BIN)/snakemake --cores $(CORES)
	@echo "Report: $(CURDIR)/results/report.html"

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/clocks.py
	$(BIN)/python bench/workflow.py
	$(BIN)/python bench/idat.py
	$(BIN)/python bench/preprocess.py
	$(BIN)/python bench/scale.py --samples 100
	$(BIN)/python bench/calibration.py
	$(BIN)/python bench/train.py --samples 300 --cpgs 50000

clean:
	rm -rf results logs benchmarks .snakemake

# The demo on SLURM (profiles/slurm); stops with one line when the executor plugin is missing.
slurm: $(STAMP) $(DEMO)/betas.tsv.gz
	$(BIN)/epiclock run . --workflow-profile profiles/slurm

# Format and lint checks of the workflow (also run by `make test`).
lint: $(STAMP)
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/snakemake --lint

# The rule graph shown in the README (needs graphviz's dot).
rulegraph: $(STAMP) $(DEMO)/betas.tsv.gz
	$(BIN)/snakemake --rulegraph | dot -Tsvg > docs/rulegraph.svg
