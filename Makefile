# zariz-admin: every target sets up what it needs (idempotent, see scripts/setup.sh).
HOST ?= 127.0.0.1
PORT ?= 8000
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: serve dev test test-fast lint bench setup clean

setup:
	@scripts/setup.sh python vendor

serve: setup
	HOST=$(HOST) PORT=$(PORT) $(PY) -m server --host $(HOST) --port $(PORT)

dev: setup
	HOST=$(HOST) PORT=$(PORT) $(PY) -m server --host $(HOST) --port $(PORT) --demo-traffic 5

test: setup
	@scripts/setup.sh browser
	$(PY) -m pytest $(PYTEST_ARGS)

# CPython-only tests (no browser): quick feedback while editing.
test-fast: setup
	$(PY) -m pytest -m "not browser" $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check app server tests bench
	$(PY) -m mypy

bench: setup
	@scripts/setup.sh browser
	$(PY) -m bench

clean:
	rm -rf .venv node_modules static/vendor .stamps var .pytest_cache
