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
REPORT_LANG ?= sv
LANGUAGES := sv en


# STUDY is user text: taken verbatim (make never expands what it holds, so
# STUDY='x$$(shell cmd)' runs nothing), handed to commands only through the
# environment ("$$STUDY") and to the one shell call below in single quotes.
# Its folder name and input files come from the package's own rule
# (pipeline/run/paths.py), with spaces escaped for make.
override STUDY := $(value STUDY)
ifeq ($(origin JOBS),undefined)
JOBS := $(shell nproc 2>/dev/null || echo 2)
else
override JOBS := $(value JOBS)
endif
override REPORT_LANG := $(value REPORT_LANG)
export STUDY JOBS REPORT_LANG

# An unknown language stops make at once, before anything is built (checked on the
# verbatim text, so a language cannot smuggle in a make function either).
ifneq ($(words $(REPORT_LANG)) $(filter $(REPORT_LANG),$(LANGUAGES)),1 $(REPORT_LANG))
$(error REPORT_LANG=$(REPORT_LANG) is not a report language; use one of: $(LANGUAGES))
endif
STUDY_QUOTED := '$(subst ','\'',$(STUDY))'
STUDY_NAME := $(shell $(PYTHON) -m pipeline.run.paths name $(STUDY_QUOTED))
PROCESSED := data/processed/$(STUDY_NAME)
# Each language has its own reports, so the language decides what is out of date.
REPORTS := reports/$(STUDY_NAME)/$(REPORT_LANG)
MANIFEST := $(PROCESSED)/manifest.json
STATUS := $(REPORTS)/run_status.json
REPORT_HTML := $(REPORTS)/comparative_report.html
STUDY_ARGS := --study "$$STUDY"
RUN_ARGS := $(STUDY_ARGS) --lang "$$REPORT_LANG"

SOURCES := $(sort $(shell find pipeline -name '*.py' -o -name '*.yml' -o -path '*/templates/*' -type f))
STUDY_INPUTS := $(shell $(PYTHON) -m pipeline.run.paths inputs $(STUDY_QUOTED))
# The language is part of the file name: another REPORT_LANG is another target.
FINAL_REPORT := $(REPORTS)/final_report.$(REPORT_LANG).pdf
# Only a study with a `report:` section in study.yml has a final report.
HAS_FINAL_REPORT := $(shell grep -qs '^report:' $(STUDY_QUOTED)/study.yml && echo yes)
WORKBOOK := $(REPORTS)/results.$(REPORT_LANG).xlsx
STUDY_TEXTS := $(shell $(PYTHON) -m pipeline.run.paths texts $(STUDY_QUOTED))
REPORTING_SOURCES := $(wildcard pipeline/report/final_*.py pipeline/report/words.py pipeline/report/pdf.py pipeline/report/exports.py pipeline/report/templates/final/*) pipeline/report/strings.yml
LOCK_COMPILE := .venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-header --no-emit-index-url --no-emit-find-links
EVAL_NOTEBOOK := notebooks/evaluate_municipality.ipynb
REPORT_NOTEBOOK := notebooks/comparative_report.ipynb

.PHONY: help env data evaluate report test test-fast lint format bench validate calibrate demo-data lock clean distclean

help: ## Show this help
	@echo "Usage: make [target] [STUDY=path] [JOBS=n] [REPORT_LANG=sv|en]"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

env: $(ENV_STAMP) ## Create .venv from the pinned requirements and register the Jupyter kernel

# Rebuilt only when the pins change. Both locks carry hashes, so pip installs exactly the
# files that were locked: the runtime (requirements.lock, all a batch run needs) and the
# development tools with JupyterLab for interactive notebooks (requirements-dev.lock). The
# package itself is installed in editable mode (with the pinned setuptools of the lock, no
# build isolation), which also makes the console command `trygga`.
$(ENV_STAMP): requirements.lock requirements-dev.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: python3 not found"; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip==26.3
	$(VPY) -m pip install --quiet --require-virtualenv -r requirements.lock -r requirements-dev.lock
	$(VPY) -m pip install --quiet --require-virtualenv --no-deps --no-build-isolation -e .
	$(VPY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python ($(KERNEL))" > /dev/null
	touch $@

data: $(MANIFEST) ## Validate STUDY and write data/processed/<study>

$(MANIFEST): $(ENV_STAMP) $(STUDY_INPUTS) $(wildcard pipeline/inputs/*.py) pipeline/errors.py
	$(VPY) -m pipeline validate $(STUDY_ARGS)

evaluate: $(STATUS) ## Compute each municipality (JOBS processes), the study level, then one notebook each
	@$(VPY) -m pipeline status $(RUN_ARGS)

# A run with failed municipalities still writes the status (and the report lists
# them) but leaves the file dated 1970, so the next make tries again.
$(STATUS): $(MANIFEST) $(EVAL_NOTEBOOK) $(SOURCES)
	$(VPY) -m pipeline evaluate $(RUN_ARGS) --jobs "$$JOBS" --keep-going

report: $(REPORT_HTML) $(if $(HAS_FINAL_REPORT),$(FINAL_REPORT)) $(WORKBOOK) ## Run everything: the comparative report, the final report (PDF) and the results tables
	@$(VPY) -m pipeline status $(RUN_ARGS)

$(REPORT_HTML): $(STATUS) $(REPORT_NOTEBOOK)
	$(VPY) -m pipeline report $(RUN_ARGS)

$(FINAL_REPORT): $(REPORT_HTML) $(STUDY_TEXTS) $(REPORTING_SOURCES)
	$(VPY) -m pipeline final-report $(STUDY_ARGS) --lang "$$REPORT_LANG"

$(WORKBOOK): $(REPORT_HTML) $(REPORTING_SOURCES)
	$(VPY) -m pipeline tables $(STUDY_ARGS) --lang "$$REPORT_LANG"

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
	$(VPY) benchmarks/bench_pipeline.py --jobs "$$JOBS"

validate: $(ENV_STAMP) ## Check the designs: published analyses, simulation coverage, real-data calibration, speed
	$(VPY) benchmarks/validate.py

calibrate: $(ENV_STAMP) ## Longer comparisons of inference methods: real Brå series (time series, panel) and simulated surveys (~30 min)
	$(VPY) benchmarks/calibrate_inference.py
	$(VPY) benchmarks/calibrate_panel.py
	$(VPY) benchmarks/survey_inference.py
	$(VPY) benchmarks/calibrate_sparse_panel.py --groups 25

demo-data: $(ENV_STAMP) ## Regenerate the demo study from its seed
	$(VPY) -m pipeline demo --out data/raw/trygga_platser_demo

lock: ## Re-resolve requirements*.in into the hashed locks and environment.yml (needs the network)
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet pip-tools
	$(LOCK_COMPILE) -o requirements.lock requirements.in
	$(LOCK_COMPILE) -o requirements-dev.lock requirements-dev.in
	rm -rf .venv-lock
	$(PYTHON) -c 'import re; pins = {m[1]: m[2] for f in ("requirements.lock", "requirements-dev.lock") for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", open(f).read(), re.M)}; head = open("environment.yml").read().split("  - pip:\n")[0]; open("environment.yml", "w").write(head + "  - pip:\n" + "".join(f"      - {k}=={v}\n" for k, v in sorted(pins.items(), key=lambda kv: kv[0].lower())))'

clean: ## Remove build products (processed data and reports)
	find data/processed reports -mindepth 1 -not -name .gitkeep -delete

distclean: clean ## Also remove the environment
	rm -rf $(VENV)
