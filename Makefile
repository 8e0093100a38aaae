# Two entry points for a fresh machine:  make demo  and  make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# pytest-xdist: one test process per core; PYTEST_WORKERS=0 runs everything in this process.
PYTEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal

.PHONY: demo test quick tests lint docs venv clean

# make test: the compiler and the test tools (pytest, linters, mkdocs, pre-commit, ...).
$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP) $(COMPILER_STAMP)

# make demo: the compiler alone (what a user installs); a venv made for the tests has it too.
COMPILER_STAMP := $(VENV)/.installed-compiler
$(COMPILER_STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(COMPILER_STAMP)

venv: $(STAMP)

# The runtime (runtime_stub/) runs on CPython 3.8+, so mypy checks it against 3.8's standard
# library. mypy 1.17 dropped --python-version 3.8: its last release that has it lives in a
# folder of its own beside the venv, whose newer mypy checks the compiler.
MYPY_PY38 := $(VENV)/mypy-py38
MYPY_PY38_STAMP := $(MYPY_PY38)/.installed

$(MYPY_PY38_STAMP): $(STAMP)
	rm -rf $(MYPY_PY38)
	$(BIN)/pip install --quiet --target $(MYPY_PY38) 'mypy==1.16.1'
	touch $@

## demo: install the compiler (not the test tools), then validate, compile and run the bundled
## example flows
demo: $(COMPILER_STAMP)
	BIN=$(BIN) sh scripts/demo.sh

## test: set up, lint, type-check, build the docs and run every test (.ci/run runs this)
test: $(STAMP) lint docs tests

## quick: the inner loop: the unit tests (in-process: no program, no server; not the slow
## ones) on every core, in well under a minute; needs nothing but the virtual environment
quick: $(STAMP)
	$(PYTEST) -q -m 'unit and not slow'

# lint: black checks the runtime at its default 88 columns (pyproject.toml's [tool.black]
# says why; its exclusion of runtime_stub/ is lifted by an --extend-exclude matching nothing)
lint: $(STAMP) $(MYPY_PY38_STAMP)
	$(BIN)/ruff check aetherflow_compiler tests
	$(BIN)/ruff check --target-version py38 --select E,F,W,I,B --ignore E501 runtime_stub
	$(BIN)/black --check --quiet .
	$(BIN)/black --check --quiet --line-length 88 --target-version py38 --extend-exclude '^$$' runtime_stub
	$(BIN)/mypy
	PYTHONPATH=$(MYPY_PY38) $(BIN)/python -m mypy --python-version 3.8 --strict runtime_stub

## docs: build the docs site strictly (a broken link, anchor or page missing from the nav fails)
## into a temporary directory; mkdocs serve shows it while editing
docs: $(STAMP)
	@site=$$(mktemp -d) && NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir "$$site"; \
	status=$$?; rm -rf "$$site"; exit $$status

## tests: every test (unit, e2e, servers, slow, conformance, reliability, fuzz) on every core
tests: $(STAMP)
	sh scripts/ensure-test-servers.sh
	$(PYTEST)

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
