# DeepLabV3 from scratch: the two commands of the README's quick start, and a few for authors.
#
#   make course     install what is missing, build MiniDrive, run every notebook in the cpu profile
#                   (gpu where TensorFlow sees one) and print the results; PROFILE=smoke: the
#                   few-minute mechanics check
#   make test       install what is missing, lint (ruff, import layers), run unit tests + strict `pytest --nbval`
#                   over every notebook
#   make test-backends  the model builds, trains, evaluates and predicts under TensorFlow, JAX and
#                   PyTorch (those installed; installs the [backends] extra)
#   make test-faults  slow fault-injection tests (a real concurrent training, a real Ctrl-C, a killed
#                   export; tests/test_reliability2.py with COURSE_FAULT_TESTS=1), not part of `make test`
#   make notebooks  (authors) build each notebooks/NN_*.ipynb from its jupytext script NN_*.py, run it
#                   in the smoke profile and store its outputs; NB="03 04" for some only
#
# Variables: PYTHON (interpreter that creates the venv), VENV (folder; point it at an active conda
# env with `make test VENV=$$CONDA_PREFIX` to use that instead), PROFILE (for `make course`),
# PARALLEL (pytest-xdist options of `make test`; empty: one process).

PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= auto
# one test process per core, at most 4 (each holds a TensorFlow); PARALLEL= runs the suite in one process
PARALLEL ?= -n auto --maxprocesses 4 --dist loadgroup
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.course-installed

.PHONY: help install course test test-backends test-faults lint unit notebooks e2e browser data clean

help:
	@sed -n '1,18p' Makefile

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

course: $(STAMP)
	$(PY) tools/run_notebooks.py --profile $(PROFILE)

test: $(STAMP) lint
	$(PY) -m pytest $(PARALLEL)

test-backends: $(STAMP)
	$(PY) -m pip install --quiet -e ".[backends]"
	COURSE_TEST_BACKENDS=1 $(PY) -m pytest tests/test_all_backends.py tests/test_backends.py tests/test_parallel.py -p no:nbval -o addopts="-ra" $(PARALLEL)

test-faults: $(STAMP)
	COURSE_FAULT_TESTS=1 $(PY) -m pytest tests/test_reliability2.py -p no:nbval -o addopts="-ra"

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

unit: $(STAMP)
	$(PY) -m pytest tests -m "not e2e" $(PARALLEL)

notebooks: $(STAMP)
	$(PY) tools/run_notebooks.py --store $(NB)

e2e: $(STAMP)
	$(PY) -m pytest tests/e2e -m e2e

browser:
	bash tools/install_browser.sh

data: $(STAMP)
	$(PY) data_scripts/make_minidrive.py --out data/minidrive

clean:
	rm -rf data/minidrive-smoke runs/smoke .pytest_cache tests/artifacts
