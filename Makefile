# Set-up is implicit: every target depends on the virtualenv, which is (re)built
# when pyproject.toml changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test stress demo bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy fusiondb
	$(VENV)/bin/lint-imports

# The long runs of the reliability suites (crash kills, concurrent writers, convergence, fuzz,
# resource cycles), with their figures printed at the end.
STRESS_TESTS := tests/test_crash.py tests/test_concurrent_writers.py tests/test_convergence.py \
	tests/test_fuzz_inputs.py tests/test_resources.py

stress: $(STAMP)
	FUSIONDB_STRESS=1 $(PY) -m pytest -q $(STRESS_TESTS)

demo: $(STAMP)
	$(PY) -m fusiondb.demo

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy fusiondb
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info
