# Two commands set everything up: `make run` serves on the embedded SQLite default,
# `make test` runs the tests. Everything else here is a helper of those two.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint install clean bench screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/keyloft init --demo
	KEYLOFT_ISSUER=$${KEYLOFT_ISSUER:-http://$(HOST):$(PORT)} $(BIN)/keyloft serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# Load benchmark of the hot paths beside the same run's ceilings (docs/performance.md);
# BENCH_ARGS passes options, e.g. BENCH_ARGS='--store postgres'.
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Retake the console's screenshots in docs/console/ (the end-to-end tests alone, in Chromium).
screenshots: $(STAMP)
	KEYLOFT_CONSOLE_SCREENSHOTS=1 $(BIN)/pytest -q tests/e2e

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
