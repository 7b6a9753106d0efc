# The two set-up commands of the README. Both are idempotent: a second run reinstalls nothing
# unless pyproject.toml changed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One pytest worker per core (pytest-xdist), each taking whole test files: a file's module fixtures
# (trained bundles, compiled artifacts) are built once, and the end-to-end quickstart, collected
# first, runs beside the rest. PYTEST_ARGS= (empty) runs in one process.
PYTEST_ARGS ?= -n auto --dist loadfile
# setuptools tells every editable install of a two-folder layout (edgekit/ and runtimes/python/) to
# mind same-named folders in the working directory: information, not a problem with the package.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q

.PHONY: demo test system-deps clean

demo: $(VENV)/.installed-demo
	@bash scripts/system-deps.sh demo
	$(BIN)/edgekit quickstart

test: $(VENV)/.installed-test system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

system-deps:
	@bash scripts/system-deps.sh tests

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "edgekit needs Python >= 3.11; set PYTHON=python3.11"; exit 2; }
	@PYTHON=$(PYTHON) bash scripts/system-deps.sh venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-demo: pyproject.toml runtimes/python/pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml runtimes/python/pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e ".[test]"
	touch $@ $(VENV)/.installed-demo

clean:
	rm -rf $(VENV) edgekit-quickstart .pytest_cache
