# Two commands set everything up: `make run` serves on the embedded SQLite default,
# `make test` runs the tests. Everything else here is a helper of those two.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The Node client the interop tests drive (tests/interop/node): installed from its lock file.
NODE_DIR   := tests/interop/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint install clean bench screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# Without npm nothing is installed and the Node interop tests say why (they fail under CI).
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else \
		echo "npm not found: the openid-client interop tests need Node.js 20+ and npm"; \
	fi

install: $(STAMP) $(NODE_STAMP)

run: $(STAMP)
	$(BIN)/keyloft init --demo
	KEYLOFT_ISSUER=$${KEYLOFT_ISSUER:-http://$(HOST):$(PORT)} $(BIN)/keyloft serve --host $(HOST) --port $(PORT)

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest -q --durations=10

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
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache $(NODE_DIR)/node_modules
