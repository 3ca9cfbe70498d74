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

# N_ marks domain messages (toolkit.errors); pybabel update would rewrite the hand-kept header with
# placeholders and dates, so the catalog is updated without one and its own header is put back.
CATALOG := toolkit/locale/nl/LC_MESSAGES/messages.po
messages: $(STAMP) ## extract translatable strings and update the Dutch catalog
	@mkdir -p build
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k ngettext:1,2 --no-location --omit-header \
		--ignore-dirs='.* _* build dist data test-artifacts' -o build/messages.pot .
	sed -n '1,/^$$/p' $(CATALOG) > build/messages-header.po
	$(BIN)/pybabel update -i build/messages.pot -o $(CATALOG) -l nl --omit-header --no-fuzzy-matching --ignore-obsolete
	cat build/messages-header.po $(CATALOG) > build/messages-nl.po && mv build/messages-nl.po $(CATALOG)
	@$(BIN)/python -c "from babel.messages.pofile import read_po; \
		c = read_po(open('$(CATALOG)', 'rb')); \
		todo = [m.id for m in c if m.id and not all(m.string if isinstance(m.string, tuple) else [m.string])]; \
		print(len(c), 'messages,', len(todo), 'without a Dutch translation'); \
		print(''.join('  %s\\n' % (t,) for t in todo), end='')"

clean: ## remove the virtualenv and caches (keeps ./data)
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
