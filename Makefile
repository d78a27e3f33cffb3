# zariz-admin: every target sets up what it needs (idempotent, see scripts/setup.sh).
HOST ?= 127.0.0.1
PORT ?= 8000
PY := .venv/bin/python
PYTEST_ARGS ?=
# `make test`: the CPython tests on one worker beside the browser tests and benchmark
# smoke runs on the other, in order (pytest-xdist; tests/support/xdist_browser.py).
# 0: one process.
TEST_WORKERS ?= 2

.PHONY: serve dev test test-fast lint bench reliability setup clean soak slow-consumers \
	shared-stream dev-reload snapshot boot asyncio-steps latency capacity storm scaleout

setup:
	@scripts/setup.sh python vendor

serve: setup
	@scripts/setup.sh snapshot
	HOST=$(HOST) PORT=$(PORT) $(PY) -m server --host $(HOST) --port $(PORT)

# Hot reload; STRICT=0 turns off the strict double mounts.
dev: setup
	HOST=$(HOST) PORT=$(PORT) $(PY) -m server --host $(HOST) --port $(PORT) --dev \
		--demo-traffic 5 $(if $(filter 0,$(STRICT)),--no-dev-strict)

test: setup
	@scripts/setup.sh browser services snapshot
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

# CPython-only tests (no browser): quick feedback while editing.
test-fast: setup
	@scripts/setup.sh services
	$(PY) -m pytest -m "not browser" $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check app server tests bench
	$(PY) -m mypy

bench: setup
	@scripts/setup.sh browser snapshot
	$(PY) -m bench
	$(PY) -m bench.latency

# Publish -> handler / -> row painted at 500 events/s: zariz orders page vs a plain JS table
# page (+ control), 5 runs x 12 s, then 2 profiled samples; into bench/RESULTS.md. ~9 min.
latency: setup
	@scripts/setup.sh browser
	$(PY) -m bench.latency

# The fault matrix (every fault, 3 rounds) and a 2-minute outage, through a fault-injecting
# proxy; rewrites the README's Reliability section and bench/RESULTS.md. ~10 minutes.
reliability: setup
	@scripts/setup.sh browser
	$(PY) -m bench.reliability

# A day in a tab: 10,000 orders, 100,000 events, 1,000 reconnects, 100 refreshes (bounded
# by --max-s); memory start/end and table == API into bench/RESULTS.md.
soak: setup
	@scripts/setup.sh browser
	$(PY) -m bench.soak

# 500 SSE streams that never read: memory, dropping, socket closing, others' latency.
slow-consumers: setup
	$(PY) -m bench.slow_consumers

# One stream per browser (shared) vs a stream per tab: server streams for 1/4/8 tabs, 20
# closes of the leader tab (hand-over times), exactly once; into bench/RESULTS.md. ~12 min.
shared-stream: setup
	@scripts/setup.sh browser
	$(PY) -m bench.shared_stream

# Hot reload vs F5 on a dev server: save -> updated DOM, 20 page swaps, 10 swaps of a shared
# module, 10 full reloads, interleaved; into bench/RESULTS.md. ~2 min.
dev-reload: setup
	@scripts/setup.sh browser
	$(PY) -m bench.dev_reload

# Boot: snapshot vs ?boot=plain vs stock PyScript vs plain JS - stream open cold/warm,
# 10,000 orders rendered, first paint + longest main-thread block (+ Chrome traces),
# memory per tab; into bench/RESULTS.md. ~7 min (--max-s bounds it).
boot: setup
	@scripts/setup.sh browser snapshot
	$(PY) -m bench.boot

# An asyncio step without JSPI (the app's boot loader) vs with it (stock loadPyodide), 7 pairs;
# into bench/RESULTS.md. ~2 min.
asyncio-steps: setup
	@scripts/setup.sh browser
	$(PY) -m bench.asyncio_steps

# The Pyodide memory snapshot the page boots from (var/snapshot/), rebuilt even if current;
# `serve` and `test` build it when their inputs changed. Needs chromium.
snapshot: setup
	@scripts/setup.sh browser
	@SNAPSHOT_FORCE=1 scripts/setup.sh snapshot

# Server capacity vs sse-starlette's broadcast example, 1k/5k/10k/20k (waits for load < 3). ~15 min.
capacity: setup
	$(PY) -m bench.server_fanout

# Reconnect storm: 1,000 streams after a server restart, full jitter (2 s base) vs none vs 1 s base. ~5 min.
storm: setup
	$(PY) -m bench.storm

# Scale-out: 2 instances on PostgreSQL + Redis beside 1 instance and one process (SQLite,
# in-process hub): fan-out at 1k/10k streams, bursts, events/s through Redis.
scaleout: setup
	@scripts/setup.sh services
	$(PY) -m bench.scaleout

clean:
	rm -rf .venv node_modules static/vendor .stamps var .pytest_cache
