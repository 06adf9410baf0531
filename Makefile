# Set-up is implicit: every target depends on the virtualenv, which is (re)built
# when pyproject.toml changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: test test-lowest stress demo bench lint docs clean js-test web-deps

# The JavaScript client (clients/js) and the web example (examples/web_tasks): node_modules from
# the committed package-lock.json (npm ci), rebuilt when the lock changes.
JS := clients/js
WEB := examples/web_tasks
JS_STAMP := $(JS)/node_modules/.installed
WEB_STAMP := $(WEB)/node_modules/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,qt]'
	touch $(STAMP)

# The suite runs on SQLite and, with FUSIONDB_POSTGRES_URL, on PostgreSQL too: unless that is
# set already, .ci/postgres starts a throwaway server for the run (installing Debian's
# postgresql package when missing) and always stops it after.
test: $(STAMP) web-deps
	bash .ci/postgres run $(PY) -m pytest -q
	$(MAKE) --no-print-directory js-test
	$(MAKE) --no-print-directory lint

$(JS_STAMP): $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB_STAMP): $(WEB)/package-lock.json $(JS_STAMP)
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# What the browser test needs: node_modules, and Debian's chromium (installed as root if absent;
# otherwise the target fails saying what to install: the browser test never skips).
web-deps: $(JS_STAMP) $(WEB_STAMP)
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else echo "make test needs /usr/bin/chromium: sudo apt-get install -y chromium" >&2; exit 1; fi; \
	fi

js-test: $(JS_STAMP)
	cd $(JS) && npm test --silent

# The suite against the lowest dependency versions pyproject.toml allows, in .venv-lowest.
test-lowest: web-deps
	PYTHON=$(PYTHON) bash .ci/lowest-deps

# The docs site (mkdocs + material, API reference by mkdocstrings) into site/; strict: a broken
# link, anchor or reference fails the build.
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# The long runs of the reliability suites (crash kills, concurrent writers, convergence, fuzz,
# resource cycles), with their figures printed at the end.
STRESS_TESTS := tests/test_crash.py tests/test_concurrent_writers.py tests/test_convergence.py \
	tests/test_fuzz_inputs.py tests/test_resources.py

stress: $(STAMP)
	FUSIONDB_STRESS=1 $(PY) -m pytest -q $(STRESS_TESTS)

demo: $(STAMP)
	$(PY) -m fusiondb.demo

# bench_postgres.py runs against FUSIONDB_POSTGRES_URL, or a throwaway server started for it.
bench: $(STAMP)
	bash .ci/postgres run $(PY) benchmarks/run_all.py

# pyright checks the package and tests/typing/ (a user's typed code): see [tool.pyright]; then
# tests/typing/ again with its own config, where every `# pyright: ignore` must be needed.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy fusiondb tests/typing examples/qt_tasks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pyright --pythonpath $(PY)
	$(VENV)/bin/pyright --pythonpath $(PY) -p tests/typing

clean:
	rm -rf $(VENV) .venv-lowest build dist site *.egg-info $(JS)/node_modules $(WEB)/node_modules $(WEB)/dist
