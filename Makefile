# Two commands set everything up: `make run` serves on the embedded SQLite default,
# `make test` runs the tests. Everything else here is a helper of those two.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint install clean

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

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
