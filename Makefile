# Reproducible evaluation of place-based crime prevention.
# `make report` builds the environment and runs the whole pipeline on STUDY;
# `make test` runs the tests. `make help` lists every target.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VPY := $(VENV)/bin/python
ENV_STAMP := $(VENV)/.installed
KERNEL := trygga-platser

STUDY ?= data/raw/trygga_platser_demo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
REPORT_LANG ?= sv

STUDY_NAME := $(notdir $(abspath $(STUDY)))
PROCESSED := data/processed/$(STUDY_NAME)
REPORTS := reports/$(STUDY_NAME)
MANIFEST := $(PROCESSED)/manifest.json
STATUS := $(REPORTS)/run_status.json
REPORT_HTML := $(REPORTS)/comparative_report.html
STUDY_ARGS := --study $(STUDY)
RUN_ARGS := $(STUDY_ARGS) --lang $(REPORT_LANG)

SOURCES := $(wildcard pipeline/*.py pipeline/*/*.py pipeline/*.yml pipeline/templates/*/*)
STUDY_INPUTS := $(wildcard $(STUDY)/*.yml $(STUDY)/*.csv)
EVAL_NOTEBOOK := notebooks/evaluate_municipality.ipynb
REPORT_NOTEBOOK := notebooks/comparative_report.ipynb

.PHONY: help env data evaluate report test test-fast lint format bench validate calibrate demo-data lock clean distclean

help: ## Show this help
	@echo "Usage: make [target] [STUDY=path] [JOBS=n] [REPORT_LANG=sv|en]"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

env: $(ENV_STAMP) ## Create .venv from the pinned requirements and register the Jupyter kernel

# Rebuilt only when the pins change. The package is put on the path with a .pth
# file (what an editable install does) so no build backend has to be fetched.
$(ENV_STAMP): requirements.lock
	@test -n "$(PYTHON)" || { echo "error: python3 not found"; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip==26.3
	$(VPY) -m pip install --quiet --require-virtualenv -r requirements.lock
	$(VPY) -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'trygga_platser.pth').write_text('$(CURDIR)\n')"
	$(VPY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python ($(KERNEL))" > /dev/null
	touch $@

data: $(MANIFEST) ## Validate STUDY and write data/processed/<study>

$(MANIFEST): $(ENV_STAMP) $(STUDY_INPUTS) pipeline/study.py pipeline/series.py pipeline/data.py
	$(VPY) -m pipeline validate $(STUDY_ARGS)

evaluate: $(STATUS) ## Run one evaluation notebook per municipality (JOBS in parallel)
	@$(VPY) -m pipeline status $(STUDY_ARGS)

# A run with failed municipalities still writes the status (and the report lists
# them) but leaves the file dated 1970, so the next make tries again.
$(STATUS): $(MANIFEST) $(EVAL_NOTEBOOK) $(SOURCES)
	$(VPY) -m pipeline evaluate $(RUN_ARGS) --jobs $(JOBS) --keep-going

report: $(REPORT_HTML) ## Run everything and render the comparative report (default study: the demo)
	@$(VPY) -m pipeline status $(STUDY_ARGS)

$(REPORT_HTML): $(STATUS) $(REPORT_NOTEBOOK)
	$(VPY) -m pipeline report $(RUN_ARGS)

test: $(ENV_STAMP) ## Run the test suite, the demo end to end included
	$(VPY) -m pytest

test-fast: $(ENV_STAMP) ## Run the tests that take seconds, not minutes
	$(VPY) -m pytest -m "not slow and not integration"

lint: $(ENV_STAMP) ## Check style, formatting and that committed notebooks carry no outputs
	$(VPY) -m ruff check pipeline tests benchmarks
	$(VPY) -m ruff format --check pipeline tests benchmarks
	$(VPY) -m pipeline check-notebooks

format: $(ENV_STAMP) ## Format the code and fix what ruff can fix
	$(VPY) -m ruff format pipeline tests benchmarks
	$(VPY) -m ruff check --fix pipeline tests benchmarks

bench: $(ENV_STAMP) ## Time the pipeline against plain papermill + nbconvert command lines
	$(VPY) benchmarks/bench_pipeline.py --jobs $(JOBS)

validate: $(ENV_STAMP) ## Check the designs: published analyses, simulation coverage, real-data calibration, speed
	$(VPY) benchmarks/validate.py

calibrate: $(ENV_STAMP) ## Longer comparisons of inference methods on real Brå series (time series, panel; ~20 min)
	$(VPY) benchmarks/calibrate_inference.py
	$(VPY) benchmarks/calibrate_panel.py
	$(VPY) benchmarks/calibrate_sparse_panel.py --groups 25

demo-data: $(ENV_STAMP) ## Regenerate the demo study from its seed
	$(VPY) -m pipeline demo --out data/raw/trygga_platser_demo

lock: ## Re-resolve requirements.in into requirements.lock and environment.yml (needs the network)
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -r requirements.in
	.venv-lock/bin/pip freeze --exclude-editable > requirements.lock
	rm -rf .venv-lock
	{ echo "# Conda users: the same pins as requirements.lock (the file make uses)."; \
	  echo "# conda env create -f environment.yml && conda activate trygga-platser"; \
	  printf 'name: trygga-platser\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - make\n  - pip\n  - pip:\n'; \
	  grep -v '^#' requirements.lock | sed 's/^/      - /'; } > environment.yml

clean: ## Remove build products (processed data and reports)
	find data/processed reports -mindepth 1 -not -name .gitkeep -delete

distclean: clean ## Also remove the environment
	rm -rf $(VENV)
