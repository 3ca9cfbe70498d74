# The commands people need. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help run test check bench clean messages

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install --quiet -e '.[test,dev]'
	@touch $(STAMP)

run: $(STAMP) ## serve the demo portal on http://127.0.0.1:8000 with the local store in ./data
	$(BIN)/python -m toolkit serve --demo

test: $(STAMP) ## run the whole test suite
	$(BIN)/python -m pytest

check: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP) ## benchmarks: medians and ratios against a baseline measured in the same run
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

messages: $(STAMP) ## extract translatable strings and update the Dutch catalog
	$(BIN)/pybabel extract -F babel.cfg -o toolkit/locale/messages.pot --no-location --omit-header .
	$(BIN)/pybabel update -i toolkit/locale/messages.pot -d toolkit/locale -l nl --no-fuzzy-matching --ignore-obsolete

clean: ## remove the virtualenv and caches (keeps ./data)
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
