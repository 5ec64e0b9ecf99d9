# The lab's commands. `make test` and `make bench` set everything up on first use:
# they create .venv, install the project with its extras and build the Cython tiers.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
FAMILY ?=
OUT    ?= reports/latest
# `make profile FAMILY=hashring` -> --family hashring; no FAMILY means every family.
FAMILY_ARGS := $(if $(FAMILY),--family $(FAMILY),)
# `make load WORKERS=4` runs Locust distributed: a master and 4 workers.
WORKERS ?=

# Reinstall (and so rebuild the extensions) whenever the build inputs change.
$(STAMP): pyproject.toml setup.py $(wildcard native/*.pyx native/*.pxd native/*.pxi native/*.h)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# Build requirements first, so the editable install can skip build isolation
	@# (no second download of Cython and numpy into a throwaway environment).
	$(PY) -m pip install --quiet "setuptools>=68" wheel "cython>=3.0.10" "numpy>=1.26"
	$(PY) -m pip install --quiet --no-build-isolation -e ".[bench,test]"
	touch $(STAMP)

# Numba caches a kernel by the file that defines it, so a kernel that inlines another module's
# (impls/ratelimit/nb_keyed.py calls nb_bucket.py's) would keep a stale compiled copy after that
# module changes: drop every cached kernel whenever any Numba source changed.
NUMBA_STAMP := $(VENV)/.numba-sources
$(NUMBA_STAMP): $(wildcard impls/*/nb*.py) | $(STAMP)
	find impls -name '*.nbi' -delete -o -name '*.nbc' -delete
	touch $(NUMBA_STAMP)

.PHONY: help install test bench bench-quick bench-pytest asv profile mem load load-ui readme clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install the lab (builds the Cython tiers)

test: $(STAMP) $(NUMBA_STAMP) ## run the test suite (contracts, differential tests, harness smoke run)
	$(PY) -m pytest

bench: $(STAMP) $(NUMBA_STAMP) ## full benchmark run -> reports/latest/results.json + summary.md, README table
	$(PY) -m bench run $(FAMILY_ARGS) --out $(OUT)
	$(PY) -m bench readme --results $(OUT)/results.json

bench-quick: $(STAMP) $(NUMBA_STAMP) ## every case at small sizes (under 2 minutes), no README update
	$(PY) -m bench run --quick $(FAMILY_ARGS) --out $(OUT)

bench-pytest: $(STAMP) $(NUMBA_STAMP) $(NUMBA_STAMP) ## pytest-benchmark suite under bench/pybench, grouped by case
	$(PY) -m pytest bench/pybench -p no:cacheprovider --benchmark-group-by=group --benchmark-columns=median,iqr,ops,rounds

asv: $(STAMP) $(NUMBA_STAMP) ## asv suites for the current commit -> reports/asv/html/index.html
	$(PY) -m asv machine --yes >/dev/null
	$(PY) -m asv run --python=same --set-commit-hash=$$(git rev-parse HEAD) --show-stderr
	$(PY) -m asv publish
	@echo "open reports/asv/html/index.html"

profile: $(STAMP) $(NUMBA_STAMP) ## pyinstrument HTML per tier -> reports/latest/profiles/ (FAMILY=...)
	$(PY) -m bench profile $(FAMILY_ARGS) --out $(OUT)

mem: $(STAMP) $(NUMBA_STAMP) ## memray per tier, each in its own process -> reports/latest/memray/ + results.json (FAMILY=...)
	$(PY) -m bench mem $(FAMILY_ARGS) --out $(OUT)

load: $(STAMP) $(NUMBA_STAMP) ## Locust vs the gateway, every tier and transport (~7 min) -> results.json + load/ (WORKERS=n)
	$(PY) -m bench load --out $(OUT) $(if $(WORKERS),--workers $(WORKERS),)

load-ui: $(STAMP) $(NUMBA_STAMP) ## the gateway and Locust's web UI on http://127.0.0.1:8089 until Ctrl-C (WORKERS=n)
	$(PY) -m bench load --ui --out $(OUT) $(if $(WORKERS),--workers $(WORKERS),)

readme: $(STAMP) ## regenerate README's results table from reports/latest/results.json
	$(PY) -m bench readme --results $(OUT)/results.json

clean: ## remove .venv, build products and generated reports
	rm -rf $(VENV) build *.egg-info .asv .hypothesis .pytest_cache .benchmarks
	find impls -name '*.so' -delete; rm -f native/*.c
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find reports -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
