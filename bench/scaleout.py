"""Scale-out benchmark: the server fan-out rerun with two instances on PostgreSQL + Redis,
beside one process, measured in the same run on the same machine.

    python -m bench.scaleout                       # 1k and 10k streams, writes RESULTS.md
    python -m bench.scaleout --streams 1000 --runs 1 --no-write
    python -m bench.scaleout --quick               # smoke: 200 streams, ~1 min, no write

Setups (fresh server processes, database and Redis stream key per run):

* **single** - ``python -m server`` as ``make serve`` runs it: SQLite, the in-process hub
  (``bench.server_fanout``'s ``zariz`` contender, started by its own ``Server``).
* **1x-pg-redis** - one instance with ``ZARIZ_DB=postgresql://...`` and
  ``ZARIZ_HUB=redis://...``: what the shared storage and the broker cost by themselves.
* **2x-pg-redis** - two instances on one database and one Redis stream: the streams split
  evenly over both (one load process per instance), events published alternately through
  each, so half of the deliveries cross from one instance to the other through Redis.

PostgreSQL is a throwaway cluster (``tests.support.postgres``; fsync off unless
``--durable``: SQLite's ``synchronous=NORMAL`` in WAL mode does not sync each commit
either), Redis a throwaway ``redis-server`` (``tests.support.redis_server``), both on
127.0.0.1 and on the same 2 cores as everything else.

Three measurements:

1. **Fan-out** (``bench.server_fanout``'s method, its load generator and functions
   imported): N streams open, ``--events`` events one at a time, each
   ``server_fanout.SPACING_S`` after the previous one reached every stream; latency =
   receive time at each stream - the publisher's send time (``POST /v1/orders``), over
   every (event, stream); p50/p99/max, connect time, RSS per stream (all instances), server
   CPU per delivery (all instances, plus redis-server's).
2. **Throughput, end to end**: ``--burst`` orders posted as fast as ``--burst-workers``
   concurrent clients can (alternating instances), with ``--burst-streams`` streams per
   instance reading; events/s = orders / (last event received at every stream - first
   POST sent), and the POST rate alone (here the write path is the limit).
3. **Events/s through Redis** (PostgreSQL + Redis setups): ``--drain`` orders committed
   straight into PostgreSQL, 1,000 per transaction, so the instances' outbox relays XADD
   them and their readers fan them out; events/s = orders / (last event received at every
   stream - first commit).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import math
import os
import pathlib
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx

import bench.server_fanout as fanout
from bench.common import ROOT
from bench.results import report
from tests.support.live_server import free_port

SECTION = "server-scaleout"
SETUPS = ("single", "1x-pg-redis", "2x-pg-redis")
INSTANCES = {"single": 1, "1x-pg-redis": 1, "2x-pg-redis": 2}
QUICK: dict[str, Any] = {"streams": [200], "runs": 1, "events": 3, "burst": 200,
                         "burst_streams": 2, "drain": 1000}


# -- the stack ------------------------------------------------------------------------------


class Backends:
    """A PostgreSQL cluster (``postgres``: one already running, left running) and a
    redis-server for the whole run."""

    def __init__(self, workdir: pathlib.Path, durable: bool, postgres: Any = None) -> None:
        from tests.support.postgres import PostgresCluster
        from tests.support.redis_server import RedisServer

        self.own_postgres = postgres is None
        self.postgres = PostgresCluster(durable=durable) if postgres is None else postgres
        self.redis = RedisServer(workdir)

    def __enter__(self) -> Backends:
        if self.own_postgres:
            self.postgres.start()
        try:
            self.redis.start()
        except BaseException:
            if self.own_postgres:
                self.postgres.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.redis.stop()
        finally:
            if self.own_postgres:
                self.postgres.stop()

    def fresh(self) -> tuple[str, str]:
        """``(ZARIZ_DB, ZARIZ_HUB)`` for one run: a new database, a new stream key."""
        return (self.postgres.create_database(),
                self.redis.hub_url(stream=f"zariz:bench:{uuid.uuid4().hex[:12]}"))

    @property
    def redis_pid(self) -> int | None:
        process = getattr(self.redis, "_process", None)
        return process.pid if process is not None and process.poll() is None else None


class Instance(fanout.Server):
    """``bench.server_fanout.Server`` (its health check, login, publish, stream count and
    stop) for an instance on PostgreSQL + Redis: only the command and environment differ,
    so ``__init__`` sets the same attributes itself."""

    def __init__(self, workdir: pathlib.Path, db_url: str, hub_url: str,
                 extra_env: dict[str, str] | None = None) -> None:
        self.contender = "zariz"
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"instance-{self.port}.log"
        self.http, self.loop = fanout.STACKS["zariz"]
        self.is_zariz = True
        self.sse_path = "/v1/events/sse"
        env = fanout.child_env()
        env.update({
            "ZARIZ_ACCESS_TTL": "86400", "ZARIZ_PING_INTERVAL": "3600",
            "ZARIZ_LOG_LEVEL": "warning", "ZARIZ_ROOT": str(ROOT),
            "ZARIZ_HTTP": self.http, "ZARIZ_LOOP": self.loop,
            "ZARIZ_DB": db_url, "ZARIZ_HUB": hub_url,
        })
        env.update(extra_env or {})
        command = [sys.executable, "-m", "server", "--host", "127.0.0.1",
                   "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.headers = []
        self._token = None


@contextlib.contextmanager
def started(setup: str, workdir: pathlib.Path, backends: Backends | None,
            extra_env: dict[str, str] | None = None) -> Iterator[list[fanout.Server]]:
    """The setup's server processes, healthy and logged in (one after another: the first
    creates the schema and the demo user), stopped on exit. ``extra_env``: more
    environment for PostgreSQL + Redis instances."""
    servers: list[fanout.Server] = []
    try:
        if setup == "single":
            servers.append(fanout.Server("zariz", workdir))
            servers[0].wait_healthy()
        else:
            if backends is None:
                raise ValueError(f"{setup} needs PostgreSQL and Redis")
            db_url, hub_url = backends.fresh()
            for _ in range(INSTANCES[setup]):
                servers.append(Instance(workdir, db_url, hub_url, extra_env))
                servers[-1].wait_healthy()
        yield servers
    finally:
        for server in servers:
            server.stop()


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# -- fan-out --------------------------------------------------------------------------------


def run_fanout(setup: str, streams: int, events: int, workdir: pathlib.Path,
               backends: Backends | None) -> dict[str, Any]:
    """One fan-out run of ``setup`` (bench.server_fanout.run_once's measurement, over
    every instance)."""
    loadgens: list[fanout.LoadGen] = []
    with started(setup, workdir, backends) as servers:
        try:
            for seq, server in enumerate(servers):  # warm-up: one publish through each
                server.publish(-1 - seq)
            time.sleep(0.3)
            rss_idle = sum(fanout.rss_kb(s.pid) for s in servers)
            for server, share in zip(servers, _split(streams, len(servers)), strict=True):
                loadgens.append(fanout.LoadGen(server, share, events,
                                               workdir / f"loadgen-{server.port}.log"))
            connected = fanout.merge("connected", [lg.expect("connected", timeout=240)
                                                   for lg in loadgens])
            time.sleep(1.0)
            server_count = sum(s.open_streams() for s in servers)
            redis_pid = backends.redis_pid if backends is not None and setup != "single" \
                else None
            pids = [s.pid for s in servers] + ([redis_pid] if redis_pid else [])
            load_pids = [pid for lg in loadgens for pid in lg.pids]
            cpu_before = (sum(fanout.cpu_s(p) for p in pids),
                          sum(fanout.cpu_s(p) for p in load_pids))
            cpu_after = cpu_before
            post_ms: list[float] = []
            incomplete: list[int] = []
            for seq in range(1, events + 1):
                _, round_trip = servers[seq % len(servers)].publish(seq)
                post_ms.append(round_trip)
                for loadgen in loadgens:
                    try:
                        loadgen.expect("complete", timeout=60, seq=seq)
                    except TimeoutError:
                        incomplete.append(seq)
                if seq == events:
                    cpu_after = (sum(fanout.cpu_s(p) for p in pids),
                                 sum(fanout._cpu_or_nan(p) for p in load_pids))
                time.sleep(fanout.SPACING_S)
            for loadgen in loadgens:
                loadgen.finish()
            result = fanout.merge("result", [lg.expect("result", timeout=60)
                                             for lg in loadgens])
            rss_after = sum(fanout.rss_kb(s.pid) for s in servers)
        finally:
            for loadgen in loadgens:
                loadgen.stop()
    latencies = sorted(x for v in result["latency_ms"].values() for x in v)
    ok = connected["ok"]
    deliveries = max(1, ok * events)
    return {
        "setup": setup, "instances": len(servers), "streams": streams, "connected": ok,
        "failed": connected["failed"], "errors": connected["errors"],
        "server_open_streams": server_count,
        "closed_after_connect": result["closed_after_connect"],
        "incomplete_events": sorted(set(incomplete)), "received": result["received"],
        "expected_per_event": ok, "connect_s": connected["connect_s"],
        "p50_ms": fanout.percentile(latencies, 50), "p99_ms": fanout.percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else math.nan,
        "rss_idle_kb": rss_idle, "rss_after_kb": rss_after,
        "kb_per_stream": (rss_after - rss_idle) / ok if ok else math.nan,
        "post_ms_median": statistics.median(post_ms),
        "server_cpu_us": (cpu_after[0] - cpu_before[0]) * 1e6 / deliveries,
        "load_cpu_us": (cpu_after[1] - cpu_before[1]) * 1e6 / deliveries,
    }


# -- throughput -----------------------------------------------------------------------------


def wait_complete(loadgen: fanout.LoadGen, seqs: set[int], timeout: float) -> set[int]:
    """Wait until every load process of ``loadgen`` reported every seq of ``seqs``
    complete (in any order: concurrent publishes commit in any order, and
    ``LoadGen.expect`` waits for one seq at a time); returns the seqs still missing."""
    missing = {index: set(seqs) for index in range(len(loadgen.processes))}
    deadline = time.monotonic() + timeout
    while any(missing.values()):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            index, msg = loadgen.lines.get(timeout=left)
        except queue.Empty:
            continue
        if msg is None:
            raise RuntimeError(f"loadgen exited:\n{loadgen.log_path.read_text(errors='replace')}")
        if msg["phase"] == "complete":
            missing[index].discard(int(msg["seq"]))
    return set().union(*missing.values())


def _open_streams(servers: list[Any], per_instance: int, events: int,
                  workdir: pathlib.Path, tag: str,
                  loadgens: list[fanout.LoadGen]) -> dict[str, Any]:
    """Warm each instance with one publish, then open ``per_instance`` streams on each
    (their load processes go into ``loadgens``, which the caller stops); the merged
    ``connected`` report."""
    for seq, server in enumerate(servers):
        server.publish(-1 - seq)
    for server in servers:
        loadgens.append(fanout.LoadGen(server, per_instance, events,
                                       workdir / f"{tag}-{server.port}.log"))
    return fanout.merge("connected", [lg.expect("connected", timeout=60) for lg in loadgens])


def _results(loadgens: list[fanout.LoadGen], seqs: set[int]) -> tuple[set[int], dict[str, Any]]:
    """Wait for every stream to hold ``seqs`` (up to 120 s each), end the load processes
    and merge their results: the ids some stream missed, and the merged ``result``."""
    missing: set[int] = set()
    for loadgen in loadgens:
        missing |= wait_complete(loadgen, seqs, timeout=120)
        loadgen.finish()
    return missing, fanout.merge("result", [lg.expect("result", timeout=60) for lg in loadgens])


def run_burst(setup: str, orders: int, streams_per_instance: int, workers: int,
              workdir: pathlib.Path, backends: Backends | None) -> dict[str, Any]:
    """``orders`` POSTs as fast as ``workers`` clients go, alternating instances; every
    stream must get every event."""
    loadgens: list[fanout.LoadGen] = []
    with started(setup, workdir, backends) as servers:
        try:
            connected = _open_streams(servers, streams_per_instance, orders, workdir,
                                      "burst", loadgens)
            sent: dict[int, float] = {}

            def post(seq: int) -> None:
                sent[seq], _ = servers[seq % len(servers)].publish(seq)

            started_at = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                list(pool.map(post, range(1, orders + 1)))
            posted_s = time.monotonic() - started_at
            _missing, result = _results(loadgens, set(range(1, orders + 1)))
        finally:
            for loadgen in loadgens:
                loadgen.stop()
    received = result["received"]
    complete = sum(1 for seq in range(1, orders + 1)
                   if received.get(str(seq), 0) == connected["ok"])
    last = max(sent[int(seq)] + max(v) / 1000.0
               for seq, v in result["latency_ms"].items() if v and int(seq) in sent)
    elapsed = last - min(sent.values())
    latencies = sorted(x for v in result["latency_ms"].values() for x in v)
    return {
        "setup": setup, "instances": len(servers), "orders": orders,
        "streams": connected["ok"], "complete_events": complete,
        "events_per_s": orders / elapsed if elapsed > 0 else math.nan,
        "posts_per_s": orders / posted_s if posted_s > 0 else math.nan,
        "p50_ms": fanout.percentile(latencies, 50), "p99_ms": fanout.percentile(latencies, 99),
    }


def run_drain(setup: str, orders: int, streams_per_instance: int, workdir: pathlib.Path,
              backends: Backends | None, batch: int = 1000) -> dict[str, Any]:
    """Events/s through Redis alone: ``orders`` orders committed straight into the
    database (``insert_orders_bulk``, ``batch`` per transaction, no HTTP), so the
    instances' outbox relays XADD them and their readers fan them out; measured from the
    last commit to the last event read by every stream. PostgreSQL + Redis setups only
    (the in-process hub has no relay: it publishes what its own requests commit)."""
    if setup == "single" or backends is None:
        raise ValueError("the drain needs the Redis hub")
    from server.db_pg import PostgresDatabase

    loadgens: list[fanout.LoadGen] = []
    # The default per-stream queue (256): the hub's reader takes at most half a queue
    # per XREAD, so a bulk commit does not drop the streams as slow consumers.
    with started(setup, workdir, backends, {}) as servers:
        instance = servers[0]
        assert isinstance(instance, Instance)
        db = PostgresDatabase(instance.db_url, event_retention=10_000, pool_max=2)
        try:
            connected = _open_streams(servers, streams_per_instance, orders, workdir,
                                      "drain", loadgens)
            stamps: dict[int, float] = {}
            first = time.monotonic()
            for start in range(1, orders + 1, batch):
                rows = []
                for n in range(start, min(orders, start + batch - 1) + 1):
                    stamps[n] = time.monotonic()
                    rows.append({"customer": f"bench-seq={n};t={stamps[n]:.6f}",
                                 "phone": "+972-50-123-4567", "address": "Herzl 1, Tel Aviv"})
                db.insert_orders_bulk(rows, "order.created")
            committed = time.monotonic()
            missing, result = _results(loadgens, set(stamps))
        finally:
            for loadgen in loadgens:
                loadgen.stop()
            db.close()
    last = max(stamps[int(seq)] + max(v) / 1000.0
               for seq, v in result["latency_ms"].items() if v and int(seq) in stamps)
    return {
        "setup": setup, "instances": len(servers), "orders": orders,
        "streams": connected["ok"], "complete_events": orders - len(missing),
        "commit_s": committed - first,
        "events_per_s": orders / (last - first) if last > first else math.nan,
        "drain_after_commit_s": last - committed,
    }


# -- the run --------------------------------------------------------------------------------


def run(stream_counts: list[int], runs: int, events: int, setups: tuple[str, ...],
        burst: int, burst_streams: int, burst_workers: int, drain: int = 0,
        durable: bool = False,
        log: Any = print, max_load: float = math.inf, max_wait_s: float = 0.0,
        postgres: Any = None) -> dict[str, Any]:
    """Every setup's fan-out runs, then its burst. ``postgres``: a running
    ``tests.support.postgres.PostgresCluster`` to use (else one is started for the run)."""
    limit = fanout.max_streams()
    results: dict[str, Any] = {"runs": [], "bursts": [], "drains": [], "events": events,
                               "runs_per_cell": runs, "setups": list(setups),
                               "durable": durable}
    with tempfile.TemporaryDirectory(prefix="zariz-scaleout-") as tmp:
        workdir = pathlib.Path(tmp)
        needs_backends = any(s != "single" for s in setups)
        maybe = Backends(workdir, durable, postgres) if needs_backends else None
        with maybe if maybe is not None else contextlib.nullcontext() as bk:
            backends = bk if isinstance(bk, Backends) else None
            for n in stream_counts:
                for i in range(runs):
                    k = i % len(setups)
                    for setup in setups[k:] + setups[:k]:
                        if n // INSTANCES[setup] > limit:
                            log(f"[{setup} n={n}] skipped: more than {limit} streams per "
                                "process")
                            continue
                        if n >= fanout.QUIET_FROM:
                            fanout.wait_quiet(max_load, max_wait_s, log)
                        load = os.getloadavg()[0]
                        t0 = time.monotonic()
                        try:
                            r = run_fanout(setup, n, events, workdir, backends)
                        except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as exc:
                            log(f"[{setup:11s} n={n:<6d} run {i + 1}/{runs}] FAILED: {exc}")
                            results["runs"].append({"setup": setup, "streams": n, "run": i,
                                                    "error": str(exc)[:2000]})
                            continue
                        r.update(run=i, load_before=load,
                                 wall_s=round(time.monotonic() - t0, 1))
                        results["runs"].append(r)
                        log(f"[{setup:11s} n={n:<6d} run {i + 1}/{runs}] connect "
                            f"{r['connect_s']:.2f}s  p50 {r['p50_ms']:.1f}ms  p99 "
                            f"{r['p99_ms']:.1f}ms  max {r['max_ms']:.1f}ms  "
                            f"{r['kb_per_stream']:.1f} KB/stream  cpu {r['server_cpu_us']:.1f} us"
                            f"  POST {r['post_ms_median']:.1f}ms  ok {r['connected']}/{n}  "
                            f"load {load:.1f}")
            if burst > 0:
                for setup in setups:
                    try:
                        b = run_burst(setup, burst, burst_streams, burst_workers, workdir,
                                      backends)
                    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as exc:
                        log(f"[{setup:11s} burst] FAILED: {exc}")
                        results["bursts"].append({"setup": setup, "error": str(exc)[:2000]})
                        continue
                    results["bursts"].append(b)
                    log(f"[{setup:11s} burst {burst}] {b['events_per_s']:.0f} events/s "
                        f"(POSTs {b['posts_per_s']:.0f}/s)  p50 {b['p50_ms']:.1f}ms  p99 "
                        f"{b['p99_ms']:.1f}ms  complete {b['complete_events']}/{burst}")
            if drain > 0:
                for setup in (s for s in setups if s != "single"):
                    try:
                        d = run_drain(setup, drain, burst_streams, workdir, backends)
                    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as exc:
                        log(f"[{setup:11s} drain] FAILED: {exc}")
                        results["drains"].append({"setup": setup, "error": str(exc)[:2000]})
                        continue
                    results["drains"].append(d)
                    log(f"[{setup:11s} drain {drain}] {d['events_per_s']:.0f} events/s "
                        f"through Redis (commits took {d['commit_s']:.2f}s, last event "
                        f"{d['drain_after_commit_s']:.2f}s after)  complete "
                        f"{d['complete_events']}/{drain}")
    results["summary"] = summarize(results["runs"])
    return results


METRICS = ("connect_s", "p50_ms", "p99_ms", "max_ms", "kb_per_stream", "post_ms_median",
           "server_cpu_us", "load_cpu_us")


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """{streams: {setup: {metric: median over runs, all_delivered, runs}}}."""
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for r in runs:
        cells.setdefault(str(r["streams"]), {}).setdefault(r["setup"], {})
    for n, per in cells.items():
        for setup in per:
            every = [r for r in runs if str(r["streams"]) == n and r["setup"] == setup]
            mine = [r for r in every if "error" not in r]
            cell: dict[str, Any] = {
                m: statistics.median(r[m] for r in mine) if mine else math.nan for m in METRICS
            }
            cell["runs"], cell["failed_runs"] = len(mine), len(every) - len(mine)
            cell["all_delivered"] = bool(mine) and len(mine) == len(every) and all(
                not r["incomplete_events"] and r["failed"] == 0
                and all(c == r["expected_per_event"] for c in r["received"].values())
                for r in mine)
            per[setup] = cell
    return cells


def _cell(value: float, fmt: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, fmt)


def render(results: dict[str, Any], command: str) -> str:
    summary = results["summary"]
    setups = results["setups"]
    lines = [
        "## Scale-out: two instances on PostgreSQL + Redis beside one process",
        "",
        f"Run {dt.date.today().isoformat()} on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} cores, Linux {platform.release()}, Python "
        f"{platform.python_version()}. Everything on 127.0.0.1 and the same cores: the "
        "instances, PostgreSQL, redis-server, the load processes and the publisher. "
        f"PostgreSQL fsync {'on' if results.get('durable') else 'off'} (SQLite runs WAL with "
        "synchronous=NORMAL). Fan-out: bench.server_fanout's method and load generator, "
        f"{results['events']} events per run, medians of {results['runs_per_cell']} run(s); "
        "with two instances the streams are split evenly and the events published "
        "alternately through each.",
        "",
        f"Rerun: `{command}`",
        "",
        "| streams | setup | connect all (s) | fan-out p50 (ms) | p99 (ms) | max (ms) "
        "| RSS/stream (KB) | server CPU/delivery (us) | POST (ms) | all delivered | runs |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|:---:|---:|",
    ]
    for n in sorted(summary, key=int):
        for setup in setups:
            cell = summary[n].get(setup)
            if cell is None:
                continue
            delivered = "yes" if cell["all_delivered"] else "NO"
            lines.append(
                f"| {int(n):,} | {setup} | {_cell(cell['connect_s'], '.2f')} "
                f"| {_cell(cell['p50_ms'], '.1f')} | {_cell(cell['p99_ms'], '.1f')} "
                f"| {_cell(cell['max_ms'], '.1f')} | {_cell(cell['kb_per_stream'], '.1f')} "
                f"| {_cell(cell['server_cpu_us'], '.1f')} "
                f"| {_cell(cell['post_ms_median'], '.1f')} | {delivered} | {cell['runs']} |")
    bursts = [b for b in results.get("bursts", []) if "error" not in b]
    if bursts:
        lines += [
            "",
            f"Throughput: {bursts[0]['orders']:,} orders posted by concurrent clients "
            "(alternating instances), a few streams per instance reading:",
            "",
            "| setup | streams | events/s delivered to every stream | POSTs/s | p50 (ms) "
            "| p99 (ms) | complete |",
            "|---|---:|---:|---:|---:|---:|:---:|",
        ]
        for b in bursts:
            lines.append(
                f"| {b['setup']} | {b['streams']} | {_cell(b['events_per_s'], '.0f')} "
                f"| {_cell(b['posts_per_s'], '.0f')} | {_cell(b['p50_ms'], '.1f')} "
                f"| {_cell(b['p99_ms'], '.1f')} "
                f"| {'yes' if b['complete_events'] == b['orders'] else 'NO'} |")
    drains = [d for d in results.get("drains", []) if "error" not in d]
    if drains:
        lines += [
            "",
            f"Through Redis alone: {drains[0]['orders']:,} orders committed straight into "
            "PostgreSQL (1,000 per transaction, no HTTP); the instances' outbox relays XADD "
            "them, their readers XREAD and fan out (default settings):",
            "",
            "| setup | streams | events/s through Redis | commits took (s) "
            "| last event after the last commit (s) | complete |",
            "|---|---:|---:|---:|---:|:---:|",
        ]
        for d in drains:
            lines.append(
                f"| {d['setup']} | {d['streams']} | {_cell(d['events_per_s'], '.0f')} "
                f"| {_cell(d['commit_s'], '.2f')} | {_cell(d['drain_after_commit_s'], '.2f')} "
                f"| {'yes' if d['complete_events'] == d['orders'] else 'NO'} |")
    lines += [
        "",
        "- **single**: `make serve` (SQLite, in-process hub). **1x-pg-redis**: one instance "
        "with `ZARIZ_DB=postgresql://` and `ZARIZ_HUB=redis://`. **2x-pg-redis**: two such "
        "instances on one database and one stream.",
        "- **fan-out p50/p99/max**: from the publisher sending `POST /v1/orders` to each "
        "stream reading the event; with Redis that includes the commit, the outbox relay's "
        "XADD, each instance's XREAD and its fan-out.",
        "- **RSS/stream**: (the instances' VmRSS summed, with the streams open, after the "
        "events - idle) / streams. **server CPU/delivery**: CPU of the instances (and of "
        "redis-server) per delivered (event, stream).",
        "- **events/s** (throughput): orders / (the last event read by every stream - the "
        "first POST sent); POSTs/s: the write side alone. Through Redis: orders / (the last "
        "event read by every stream - the first commit).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--burst", type=int, default=2000, help="orders in the throughput "
                        "run (0: none)")
    parser.add_argument("--burst-streams", type=int, default=4,
                        help="streams per instance during the throughput run")
    parser.add_argument("--burst-workers", type=int, default=8)
    parser.add_argument("--drain", type=int, default=5000,
                        help="orders committed straight into PostgreSQL for the events/s "
                             "through Redis (0: none)")
    parser.add_argument("--durable", action="store_true", help="PostgreSQL with fsync on")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 200 streams, 3 events, 1 run, a 200-order burst")
    parser.add_argument("--max-load", type=float, default=3.0)
    parser.add_argument("--max-wait", type=float, default=300.0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.streams = ",".join(map(str, QUICK["streams"]))
        args.runs, args.events = QUICK["runs"], QUICK["events"]
        args.burst, args.burst_streams = QUICK["burst"], QUICK["burst_streams"]
        args.drain = QUICK["drain"]
    counts = [int(x) for x in str(args.streams).split(",") if x.strip()]
    setups = tuple(s.strip() for s in args.setups.split(",") if s.strip())
    unknown = [s for s in setups if s not in SETUPS]
    if unknown:
        parser.error(f"unknown setups {unknown}; known: {', '.join(SETUPS)}")
    results = run(counts, args.runs, args.events, setups, args.burst, args.burst_streams,
                  args.burst_workers, drain=args.drain, durable=args.durable,
                  max_load=args.max_load, max_wait_s=args.max_wait)
    command = "python -m bench.scaleout" + (
        " --quick" if args.quick else f" --streams {','.join(map(str, counts))} "
        f"--runs {args.runs}")
    # A quick run is a smoke test: it never replaces the section unless asked to.
    report(render(results, command), SECTION, write=not (args.no_write or args.quick),
           raw=results, raw_path=args.json)


if __name__ == "__main__":
    main()
