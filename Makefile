# fmnist-book: `make book` builds the book, `make test` runs the tests. Both set everything up.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAB_STAMP := $(VENV)/.installed-lab
# JupyterLab's defaults for this .venv only: which viewer a double click opens.
LAB_OVERRIDES := $(VENV)/etc/jupyter/labconfig/default_setting_overrides.json
# Extra options for `jupyter lab`, e.g. make lab LAB_ARGS="--no-browser --port=8899".
LAB_ARGS ?=
# A bundle of published runs for `make book` to import first, a path or an https URL, e.g.
# make book RUNS=https://github.com/OWNER/REPO/releases/download/TAG/runs.tar.gz
RUNS ?=
export PYTHONHASHSEED := 0

.PHONY: help book test data browser npm venv lint lab clean

help:
	@echo "make book     train what the chapters need, build the book into _build/html"
	@echo "              (RUNS=URL or path: import those published runs first)"
	@echo "make test     run the test suite (sets up .venv, the data, Chromium and npm first)"
	@echo "make data     find Fashion-MNIST, or install/download it"
	@echo "make browser  find Chromium for the published-book tests, or install it"
	@echo "make npm      find npm (the tests fetch axe-core with it), or install it"
	@echo "make lab      JupyterLab on the project; a chapter (.md) opens as a notebook"
	@echo "make lint     ruff over the package, tests and notebooks"
	@echo "make clean    remove the built book and caches (keeps .venv and results/)"

# Reinstalls only when pyproject.toml is newer than the stamp of the last install. The dev extra
# includes the lab extra, so it stamps both.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP) $(LAB_STAMP)

# The lab extra (JupyterLab) alone, for `make lab` without the test tools.
$(LAB_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[lab]'
	@touch $(LAB_STAMP)

venv: $(STAMP)

# Look for the files; else install Debian's package when we are root with apt-get; else download.
data: $(STAMP)
	@$(PY) -m fmnist_lib data --no-download 2>/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Fashion-MNIST not found; installing Debian's dataset-fashion-mnist" >&2; \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >&2 \
	    && $(PY) -m fmnist_lib data --no-download && exit 0; \
	fi; \
	$(PY) -m fmnist_lib data && exit 0; \
	echo "Could not find or fetch Fashion-MNIST. Install Debian's dataset-fashion-mnist," >&2; \
	echo "or put the four original files in a folder and set FMNIST_DATA_DIR to it (see README)." >&2; \
	exit 1

# Look for Chromium; else, unless FMNIST_CHROMIUM names one, install Debian's package when we are
# root with apt-get; else say how to provide one and fail (python -m fmnist_lib browser says it).
browser: $(STAMP)
	@$(PY) -m fmnist_lib browser 2>/dev/null && exit 0; \
	if [ -z "$${FMNIST_CHROMIUM:-}" ] && [ "$$(id -u)" = 0 ] \
	    && command -v apt-get >/dev/null 2>&1; then \
	  echo "Chromium not found; installing Debian's chromium" >&2; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	    >/dev/null && $(PY) -m fmnist_lib browser && exit 0; \
	fi; \
	$(PY) -m fmnist_lib browser

# Look for npm, with which the published-book tests fetch axe-core (tests/axe_core.py); else
# install Debian's package when we are root with apt-get; else say how to provide it and fail.
npm:
	@command -v npm >/dev/null 2>&1 && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "npm not found; installing Debian's npm" >&2; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm) \
	    >/dev/null && command -v npm >/dev/null && exit 0; \
	fi; \
	echo "npm not found: install Node.js with npm (as root: apt-get install npm)" >&2; \
	exit 1

# Trains (once; cached in results/) every run the chapters use, side by side on a local Dask
# cluster or on $FMNIST_SCHEDULER's, with a progress line per run; an interrupted build resumes.
# Then builds the book with warnings as errors and prints what took how long. With RUNS set, it
# first imports that bundle's runs (each checked, see README) so that only what is missing trains.
book: data
	$(if $(RUNS),$(PY) -m fmnist_lib runs import '$(RUNS)')
	$(PY) -m fmnist_lib book

test: data browser npm
	$(VENV)/bin/pytest

# JupyterLab from .venv with Jupytext's contents manager: a chapter (.md) opens as a notebook on
# a double click (Jupytext Notebook is this .venv's default viewer for Markdown and MyST) and
# saves back to its .md; no .ipynb is written.
lab: $(LAB_STAMP)
	@$(VENV)/bin/jupytext-config --settings-file $(LAB_OVERRIDES) \
	  set-default-viewer markdown myst >/dev/null
	$(VENV)/bin/jupyter lab \
	  --ServerApp.contents_manager_class=jupytext.AsyncTextFileContentsManager $(LAB_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf _build .pytest_cache .ruff_cache .hypothesis
