# shopfloor: `make demo` runs both use cases, `make test` checks everything.
# Both set up .venv (and the Debian packages they need) on a fresh machine first.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
LINT_DIRS := $(wildcard src tests eval bench)

.PHONY: demo test lint typecheck unit bench system clean help sparkplug-codec

help:
	@echo "make demo   set up .venv and run both use cases (embedded store, in-process bus)"
	@echo "make test   set up .venv, lint, type-check and run every test"
	@echo "make bench  measure speed against bare baselines; writes docs/benchmarks.md"

system:
	@scripts/ensure-system.sh $(PYTHON)

# the demo needs the runtime and plots only; tests, lint and bench need the dev extras and
# torch (the vision extra) to train the cnn model type
$(DEMO_STAMP): pyproject.toml scripts/ensure-system.sh
	@scripts/ensure-system.sh $(PYTHON)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[plots]'
	@touch $(DEMO_STAMP)

$(STAMP): $(DEMO_STAMP)
	@scripts/ensure-system.sh $(PYTHON) --browser
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,vision]'
	@touch $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/shopfloor demo

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/ruff format --check $(LINT_DIRS)
	$(BIN)/lint-imports pyproject.toml

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: $(STAMP) lint typecheck
	@scripts/ensure-services.sh
	$(BIN)/pytest --durations=15

bench: $(STAMP)
	$(BIN)/python -m bench.run

# regenerate the Sparkplug B protobuf module from its .proto (Eclipse Tahu)
sparkplug-codec: $(STAMP)
	PYTHON=$(BIN)/python scripts/generate-sparkplug.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist demo-project
