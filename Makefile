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

# Two test processes (pytest-xdist), a test file each at a time: much of the suite waits -- on a
# broker's session timeout, a killed consumer's successor, a child's start-up -- rather than
# computing, and one file's tests share their module's servers. TEST_WORKERS=0 runs them in one.
TEST_WORKERS ?= 2
test: $(STAMP) $(NUMBA_STAMP) ## run the test suite (contracts, differential tests, harness smoke run)
	$(PY) -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

bench: $(STAMP) $(NUMBA_STAMP) ## full benchmark run -> reports/latest/results.json + summary.md, README table, index.html
	$(PY) -m bench run $(FAMILY_ARGS) --out $(OUT)
	$(PY) -m bench readme --results $(OUT)/results.json
	$(PY) -m bench report --results $(OUT)/results.json --out $(OUT)/index.html

bench-quick: $(STAMP) $(NUMBA_STAMP) ## every case at small sizes (under 2 minutes), no README update
	$(PY) -m bench run --quick $(FAMILY_ARGS) --out $(OUT)

bench-pytest: $(STAMP) $(NUMBA_STAMP) $(NUMBA_STAMP) ## pytest-benchmark suite under bench/pybench, grouped by case
	$(PY) -m pytest bench/pybench -p no:cacheprovider --benchmark-group-by=group --benchmark-columns=median,iqr,ops,rounds

# asv: `make asv` measures the working tree in .venv at asv's full settings; `make asv-history`
# measures the last N commits of main, each built and installed in its own virtualenv under
# .asv/env, at quick settings (one round of at most 3 samples a cell, LAB_ASV_QUICK's smaller
# batches: under 3 minutes a commit) and under the machine name <host>-quick, so that no graph
# mixes the two. Both publish reports/asv/html, its CDN scripts pointed at bench/web/vendor's
# copies: the site opens offline, served on 127.0.0.1 by `make asv-preview` (its pages load JSON,
# which browsers refuse over file://).
N ?= 20
ASV_HTML := reports/asv/html
ASV_PORT ?= 8080
ASV_QUICK_MACHINE := $(shell hostname)-quick
ASV_QUICK_ATTRS := -a rounds=1 -a repeat=1,3,0.5 -a warmup_time=0.02
# Most commits leave native/ alone: with ccache installed (apt-get install ccache) their Cython
# tiers compile from its cache, ~8 s instead of ~40 s of a commit's build.
ASV_CC := $(if $(shell command -v ccache),CC="ccache $(CC)",)

.PHONY: asv-history asv-preview

asv: $(STAMP) $(NUMBA_STAMP) ## asv suites for the current commit -> reports/asv/html (offline; make asv-preview)
	$(PY) -m asv machine --yes >/dev/null
	LAB_ASV_QUICK= $(PY) -m asv run --python=same --set-commit-hash=$$(git rev-parse HEAD) --show-stderr
	$(PY) -m asv publish
	$(PY) -m bench.web.offline $(ASV_HTML)

asv-history: $(STAMP) ## asv over the last N=20 commits of main, measured ones skipped (<3 min a commit) -> reports/asv/html
	mkdir -p .asv && git rev-list --first-parent --max-count=$(N) main > .asv/history-commits
	$(PY) -m asv machine --yes --machine $(ASV_QUICK_MACHINE) >/dev/null
	@# A commit that does not build, or a benchmark its code cannot run, is reported and left out
	@# of the graphs; the rest of the history is published all the same.
	LAB_ASV_QUICK=1 $(ASV_CC) $(PY) -m asv run HASHFILE:.asv/history-commits --machine $(ASV_QUICK_MACHINE) \
		--skip-existing-commits $(ASV_QUICK_ATTRS) --show-stderr \
		|| echo "asv-history: some commits or benchmarks failed (above); publishing what was measured"
	$(PY) -m asv publish
	$(PY) -m bench.web.offline $(ASV_HTML)

asv-preview: $(STAMP) ## serve reports/asv/html on http://127.0.0.1:8080/ (ASV_PORT=n) until Ctrl-C
	$(PY) -m bench.web.offline $(ASV_HTML)
	@echo "asv site: http://127.0.0.1:$(ASV_PORT)/"
	$(PY) -m http.server --bind 127.0.0.1 --directory $(ASV_HTML) $(ASV_PORT)

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

.PHONY: report compare

report: $(STAMP) ## the HTML report (tables, plots, links; offline) -> reports/latest/index.html
	$(PY) -m bench report --results $(OUT)/results.json --out $(OUT)/index.html

compare: $(STAMP) ## B/A per figure, beyond-noise marked (A=dir B=dir) -> printed + reports/compare.md
	$(if $(and $(A),$(B)),,$(error usage: make compare A=<folder or results.json> B=<folder or results.json>))
	$(PY) -m bench compare $(A) $(B) --out reports/compare.md

# The performance gate (bench/gate, README "The performance gate"): instructions per call of
# each family's main case in every tier, counted by callgrind, against bench/gate/baseline.json;
# exit 1 when a cell is 1.05x or more, 2 when it cannot compare (other tools, no baseline). Wall
# time base-vs-head is reported beside the verdict, never blocking.
.PHONY: gate gate-accept gate-selftest

gate: $(STAMP) $(NUMBA_STAMP) ## any hot path slower than its accepted baseline? (callgrind, ~5 min) -> reports/latest/gate/
	$(PY) -m bench.gate check --out $(OUT)/gate

gate-accept: $(STAMP) $(NUMBA_STAMP) ## count every gated cell into bench/gate/baseline.json (say why in the commit)
	$(PY) -m bench.gate accept

gate-selftest: $(STAMP) ## 1.1x and 2x slowdowns injected in a copy of the tree: the gate must catch them
	$(PY) -m bench.gate selftest

clean: ## remove .venv, build products and generated reports
	rm -rf $(VENV) build *.egg-info .asv .hypothesis .pytest_cache .benchmarks
	find impls -name '*.so' -delete; rm -f native/*.c
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find reports -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
