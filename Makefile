# Two commands matter: `make run` (the main job) and `make test` (the test suite;
# `make test-fast` is its quick subset). `make timeline` runs the six-year scenario.
# Both create the virtual environment first if it is missing.

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Mesa 3.5 needs Python >= 3.12. Try plain interpreters first, then pyenv's.
# (On some machines python3.12 is a pyenv shim that only runs with PYENV_VERSION set.)
define FIND_PYTHON
for c in python3.12 python3.13 python3; do \
  if $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then echo $$c; exit 0; fi; \
done; \
for v in 3.12 3.13; do \
  if PYENV_VERSION=$$v python$$v -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
    echo "env PYENV_VERSION=$$v python$$v"; exit 0; fi; \
done; exit 1
endef
export FIND_PYTHON

.PHONY: setup run timeline test test-fast lint bench clean classroom assets browser bench-classroom screenshot

setup: $(STAMP)

$(STAMP): pyproject.toml
	@PY="$$(sh -c "$$FIND_PYTHON")" || { \
	  echo "error: no Python 3.12 or newer found (tried python3.12, python3.13, python3, pyenv 3.12/3.13)." >&2; \
	  echo "       Install Python 3.12+ and run 'make setup' again." >&2; exit 1; }; \
	if [ ! -x $(BIN)/python ]; then echo "creating $(VENV) with $$PY"; $$PY -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# The main job: the one-year scenario library (every scenarios/*.toml but the six-year
# TIMELINE) as a batch whose replications the replication rule chooses (corridor batch
# --reps auto): rounds of runs, the same seeds in every scenario, until every HEADLINE
# outcome of every scenario has a 95% CI half-width at most RUN_PRECISION of its mean, or
# RUN_MAX_REPS per scenario, or the RUN_MINUTES budget is reached; the batch says which. The
# budget leaves room for the report and the comparison, so `make run` ends within 10 minutes
# on 2 cores. Then the HTML report and the headline comparison against the 2018 baseline.
TIMELINE := scenarios/mexico_2018_2023.toml
LIBRARY := $(filter-out $(TIMELINE),$(sort $(wildcard scenarios/*.toml)))
RUN_PRECISION ?= 0.10
RUN_MAX_REPS ?= 50
RUN_MINUTES ?= 8
HEADLINE := incidence_per_1000,incidence_per_100k_person_days,victims_true_female,victims_identified_female,identification_rate,victims_protected,victims_detained_unidentified,victims_deported_unidentified,retrafficked,identified_deported,mean_wait_days_hub,bypass_share,mean_smuggler_debt_usd,detentions

run: setup
	@out=runs/library-$$(date +%Y%m%d-%H%M%S); \
	$(BIN)/corridor batch $(LIBRARY) --reps auto --outcomes $(HEADLINE) \
	  --precision $(RUN_PRECISION) --max-reps $(RUN_MAX_REPS) --max-minutes $(RUN_MINUTES) \
	  --out $$out && \
	$(BIN)/corridor report $$out && \
	$(BIN)/corridor compare $$out --outcomes $(HEADLINE)

# The six-year timeline (2018-2023; about 160 s and 1.6 GB a run on an idle core) on its own:
# TIMELINE_REPS fixed replications, then its report, which sets the model's per-year means
# beside the published record. Not part of `make run`: one round of it would take longer
# than the whole one-year library.
TIMELINE_REPS ?= 3

timeline: setup
	@out=runs/timeline-$$(date +%Y%m%d-%H%M%S); \
	$(BIN)/corridor batch $(TIMELINE) --reps $(TIMELINE_REPS) --out $$out && \
	$(BIN)/corridor report $$out

# The whole suite (what CI runs) on both cores with pytest-xdist. `--dist loadgroup` keeps the
# tests that share an expensive module fixture (marked xdist_group) on one worker, so it is
# computed once. `make test-fast` leaves out the tests marked slow (golden file, mechanisms,
# real Dask clusters, anything over about a second or needing a real batch or the browser):
# the edit loop. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadgroup

test: setup browser
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL)

test-fast: setup browser
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_PARALLEL)

# The classroom page (corridor classroom): Solara's browser files are fetched once from the
# npm registry into ASSETS (these machines cannot reach Solara's CDN; with internet access it
# does no harm), then the page is served on 127.0.0.1:8765 (CLASSROOM_ARGS="--port 9000").
ASSETS := .cache/solara-cdn
export SOLARA_ASSETS_PROXY_CACHE_DIR ?= $(CURDIR)/$(ASSETS)
CLASSROOM_ARGS ?=

classroom: setup assets
	$(BIN)/corridor classroom $(CLASSROOM_ARGS)

assets: setup
	@$(BIN)/python -m classroom.assets

# The browser tests drive Debian's Chromium (Playwright cannot download browsers here). As
# root (CI) it is installed when missing; elsewhere the tests say how and skip, except under
# CI=true, where a missing browser fails them. With a browser, the page's files are fetched.
CHROMIUM := /usr/bin/chromium

browser: setup
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ]; then \
	  echo "installing chromium for the browser tests (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi
	@if [ -x $(CHROMIUM) ]; then $(BIN)/python -m classroom.assets; \
	else echo "note: no $(CHROMIUM): the classroom browser tests will be skipped" \
	  "(Debian/Ubuntu: sudo apt-get install chromium)"; fi

# Speed of the classroom page in a real browser: steps per second while playing, page load
# time, concurrent sessions (prints figures, asserts nothing).
bench-classroom: setup browser
	$(BIN)/python bench/classroom_bench.py

# Refresh docs/classroom.png (the README's picture) from the browser test that takes it.
screenshot: setup browser
	CLASSROOM_SCREENSHOT=docs/classroom.png $(BIN)/python -m pytest -q \
	  tests/test_classroom_browser.py -k side_by_side

# Issue 15's figures beside their targets (about 7 minutes; BENCH="rate workers" for some
# sections: rate scaling workers six_years sobol, and, only when named, run (make run, 8 to
# 10 minutes) and suite (make test and make test-fast)). Prints figures, asserts nothing.
BENCH ?=
bench: setup
	$(BIN)/python bench/run_bench.py $(BENCH)

lint: setup
	$(BIN)/ruff check model analysis corridor classroom tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
