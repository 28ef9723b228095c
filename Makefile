# fmnist-book: `make book` builds the book, `make test` runs the tests. Both set everything up.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONHASHSEED := 0

.PHONY: help book test data venv lint clean

help:
	@echo "make book   train what the chapters need, build the book into _build/html"
	@echo "make test   run the test suite (sets up .venv and the data first)"
	@echo "make data   find Fashion-MNIST, or install/download it"
	@echo "make lint   ruff over the package, tests and notebooks"
	@echo "make clean  remove the built book and caches (keeps .venv and results/)"

# Reinstalls only when pyproject.toml is newer than the stamp of the last install.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

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

# Trains (once; cached in results/) every run the chapters use, with a progress line per run,
# then builds the book with warnings as errors and prints what took how long.
book: data
	$(PY) -m fmnist_lib book

test: data
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf _build .pytest_cache .ruff_cache .hypothesis
