# Two entry points for a fresh machine:  make demo  and  make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs unit venv clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## demo: set up, then validate, compile and run the bundled example flows
demo: $(STAMP)
	BIN=$(BIN) sh scripts/demo.sh

## test: set up, lint, type-check and run every test
test: $(STAMP) lint docs unit

lint: $(STAMP)
	$(BIN)/ruff check aetherflow_compiler tests
	$(BIN)/ruff check --target-version py38 --select E,F,W,I,B --ignore E501 runtime_stub
	$(BIN)/black --check --quiet --target-version py38 runtime_stub
	$(BIN)/mypy

## docs: build the docs site strictly (a broken link, anchor or page missing from the nav fails)
## into a temporary directory; mkdocs serve shows it while editing
docs: $(STAMP)
	@site=$$(mktemp -d) && NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir "$$site"; \
	status=$$?; rm -rf "$$site"; exit $$status

unit: $(STAMP)
	sh scripts/ensure-test-servers.sh
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
