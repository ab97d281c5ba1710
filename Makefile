# Lernkurve: `make run` starts the app, `make test` runs the whole suite (both set up first).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := static/node_modules/.installed
SYS_STAMP := .venv/.system-deps

.PHONY: run serve test test-fast test-postgres lint format dist wheel bench setup system-deps clean

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-extras.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-extras.txt -c requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(NODE_STAMP): static/package.json static/package-lock.json
	npm ci --prefix static --no-audit --no-fund
	touch $@

# Debian packages the browser, desktop, bundle and PostgreSQL tests need (installed when root,
# else named).
system-deps: $(STAMP)
	@sh tools/system-deps.sh

run: setup
	$(PY) desktop.py

serve: setup
	$(PY) webserver.py

# Tests marked `postgres` run on SQLite and on a real PostgreSQL (a throwaway cluster the session
# starts); make test-postgres runs the whole fast suite with PostgreSQL behind every database
# (left out of make test: CI's 20-minute budget).
FAST := not browser and not desktop and not bundle
# Tests run in parallel (pytest-xdist), one process per core by default: make test JOBS=1 runs
# them in one process.
JOBS ?= auto

test: setup system-deps
	$(PY) -m pytest -n $(JOBS)

test-fast: setup
	$(PY) -m pytest -n $(JOBS) -m "$(FAST)"

# The whole fast suite with PostgreSQL behind every test's database (slower: ~2x).
test-postgres: setup system-deps
	$(PY) -m pytest -n $(JOBS) --store=postgres -m "$(FAST)"

# ruff, and the layers' import contracts (pyproject.toml; tests/test_layers.py checks them too)
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# The one-file executable (build.spec); rebuilt only when something that goes into it changed.
DIST_EXE := dist/lernkurve$(if $(filter Windows_NT,$(OS)),.exe)
DIST_INPUTS := build.spec $(wildcard *.py) $(shell find lernkurve templates static/css static/js \
	static/img assets -type f -not -name '*.pyc' 2>/dev/null)

dist: $(DIST_EXE)

$(DIST_EXE): $(STAMP) $(NODE_STAMP) $(DIST_INPUTS)
	$(PY) -m PyInstaller --noconfirm build.spec

# The library and the `lernkurve` command as a wheel (pages included): dist/lernkurve-*.whl.
wheel: $(STAMP) $(NODE_STAMP)
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .

bench: setup
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf build dist .pytest_cache
