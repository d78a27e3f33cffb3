"""Which PostgreSQL driver for the storage layer: psycopg 3 (synchronous, a connection
pool, called in worker threads through ``server.storage.run_db``) or asyncpg (native
asyncio, on the event loop), measured in one process against the same PostgreSQL.

    python -m bench.pg_driver                # 5 runs, writes the section of RESULTS.md
    python -m bench.pg_driver --runs 1 --inserts 50 --reads 5 --no-write

Per run, each driver (the order alternating between runs) on the same database:

1. **insert, one at a time**: the order-create transaction as the server runs it (the
   order row, its event row with the next id from the ``event_seq`` counter, the
   retention trim; BEGIN ... COMMIT); psycopg through the real
   ``PostgresDatabase.insert_order`` in a worker thread, asyncpg with the same SQL.
   Median latency per transaction.
2. **insert, 16 at once**: the same transaction from 16 concurrent tasks; transactions/s,
   this process's CPU per transaction, and the event loop's worst lag meanwhile (a 5 ms
   ticker: what every SSE stream of the process would wait).
3. **events_after(cursor, 1000)**: a replay page of 1,000 events read into ``Event``s;
   median per call.

Both use a pool of 10 connections and uvloop (the server's loop). The cluster is a
throwaway one (``tests.support.postgres``), fsync off unless ``--durable``: the commit's
disk flush is the same for both drivers and would only hide what differs. Medians over
runs. asyncpg is imported only here (a pinned test dependency), never by the server.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from bench.results import report
from server.db import ORDER_COLUMNS, Event, utc_now_iso
from server.db_pg import PostgresDatabase, _wire
from server.storage import run_db
from tests.support.postgres import PostgresCluster

SECTION = "pg-driver"
POOL = 10
CONCURRENCY = 16
FIELDS = {"customer": "Dana Levi", "phone": "+972-50-123-4567", "address": "Herzl 1",
          "notes": None}

INSERT_ORDER = (
    "INSERT INTO orders(customer, phone, address, notes, status, courier_id, created_at, "
    f"updated_at) VALUES ($1, $2, $3, $4, 'new', NULL, $5, $6) RETURNING {ORDER_COLUMNS}"
)
APPEND_EVENT = (
    "WITH seq AS (UPDATE event_seq SET last = last + 1 RETURNING last), "
    "ins AS (INSERT INTO events(id, type, payload, ts) SELECT last, $1, $2, $3 FROM seq), "
    "trim AS (DELETE FROM events WHERE id <= (SELECT last FROM seq) - $4) "
    "SELECT last FROM seq"
)
EVENTS_AFTER = "SELECT id, type, payload FROM events WHERE id > $1 ORDER BY id LIMIT $2"


class Psycopg:
    name = "psycopg 3 + pool, worker threads"

    def __init__(self, url: str) -> None:
        self.db = PostgresDatabase(url, pool_max=POOL)

    async def insert(self) -> None:
        await run_db(self.db, self.db.insert_order, FIELDS, "order.created")

    async def events_after(self, cursor: int) -> list[Event]:
        return await run_db(self.db, self.db.events_after, cursor, 1000)

    async def close(self) -> None:
        self.db.close()


class Asyncpg:
    name = "asyncpg pool, on the loop"

    def __init__(self, url: str) -> None:
        self.url = url
        self.pool: Any = None

    async def open(self) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(self.url, min_size=POOL, max_size=POOL)

    async def insert(self) -> None:
        now = utc_now_iso()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                INSERT_ORDER, FIELDS["customer"], FIELDS["phone"], FIELDS["address"],
                FIELDS["notes"], now, now,
            )
            order = dict(row)
            ts = int(time.time() * 1000)
            event_id = await conn.fetchval(
                APPEND_EVENT, "order.created", _wire("order.created", order, ts), ts, 10_000
            )
            Event(int(event_id), "order.created", "")

    async def events_after(self, cursor: int) -> list[Event]:
        rows = await self.pool.fetch(EVENTS_AFTER, cursor, 1000)
        return [Event(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def close(self) -> None:
        await self.pool.close()


async def _timed(calls: int, fn: Callable[[], Awaitable[Any]]) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    return samples


async def _concurrent(
    total: int, fn: Callable[[], Awaitable[Any]]
) -> tuple[float, float, float]:
    """``(transactions/s, worst loop lag in ms, process CPU µs per transaction)`` for
    ``total`` calls from :data:`CONCURRENCY` tasks."""
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            planned = time.perf_counter() + 0.005
            await asyncio.sleep(0.005)
            lags.append(max(0.0, time.perf_counter() - planned))

    async def worker(count: int) -> None:
        for _ in range(count):
            await fn()

    tick = asyncio.create_task(ticker())
    cpu = time.process_time()
    started = time.perf_counter()
    share, extra = divmod(total, CONCURRENCY)
    await asyncio.gather(*(worker(share + (i < extra)) for i in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    done.set()
    await tick
    return total / elapsed, max(lags, default=0.0) * 1000, cpu / total * 1e6


async def _run_one(driver: Any, inserts: int, reads: int) -> dict[str, float]:
    sequential = await _timed(inserts, driver.insert)
    rate, lag, cpu = await _concurrent(inserts * 2, driver.insert)
    read = await _timed(reads, lambda: driver.events_after(0))
    return {
        "insert_ms": statistics.median(sequential) * 1000,
        "concurrent_tps": rate,
        "loop_lag_ms": lag,
        "cpu_us": cpu,
        "read_ms": statistics.median(read) * 1000,
    }


async def measure(
    url: str, runs: int, inserts: int, reads: int, warmup: int = 400,
) -> dict[str, list[dict]]:
    """Per driver, a list of one result per run (after ``warmup`` sequential and twice
    as many concurrent inserts each: connections made, statements prepared, and at
    least 1,000 events in the log to read)."""
    psycopg_driver = Psycopg(url)
    asyncpg_driver = Asyncpg(url)
    await asyncpg_driver.open()
    results: dict[str, list[dict]] = {Psycopg.name: [], Asyncpg.name: []}
    try:
        drivers: list[Any] = [psycopg_driver, asyncpg_driver]
        for driver in drivers:
            await _run_one(driver, warmup, 2)
        for run in range(runs):
            for driver in drivers if run % 2 == 0 else drivers[::-1]:
                results[driver.name].append(await _run_one(driver, inserts, reads))
    finally:
        await psycopg_driver.close()
        await asyncpg_driver.close()
    return results


def render(results: dict[str, list[dict]], args: argparse.Namespace, load: str) -> str:
    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    lines = [
        "## PostgreSQL driver: psycopg 3 in worker threads vs asyncpg",
        "",
        f"Run {dt.date.today().isoformat()} on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} cores, Linux {platform.release()}, Python "
        f"{platform.python_version()}, uvloop; one process, one throwaway PostgreSQL "
        f"({'fsync on' if args.durable else 'fsync off'}) on 127.0.0.1, pools of {POOL} "
        f"connections. Medians of {args.runs} runs (the drivers' order alternating), "
        f"{args.inserts} sequential and {args.inserts * 2} concurrent inserts and "
        f"{args.reads} reads per run; 1-minute load average {load} (start, end) on the "
        "shared machine.",
        "",
        f"Rerun: `python -m bench.pg_driver --runs {args.runs}`",
        "",
        "| driver | insert order + event, one at a time (ms) | 16 at once (tx/s) | "
        "client CPU per tx (µs) | worst loop lag meanwhile (ms) | "
        "events_after(0, 1000) (ms) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in results:
        lines.append(
            f"| {name} | {med(name, 'insert_ms'):.2f} | {med(name, 'concurrent_tps'):.0f} | "
            f"{med(name, 'cpu_us'):.0f} | {med(name, 'loop_lag_ms'):.1f} | "
            f"{med(name, 'read_ms'):.2f} |"
        )
    fast, slow = Asyncpg.name, Psycopg.name
    lines += [
        "",
        f"asyncpg / psycopg: {med(fast, 'insert_ms') / med(slow, 'insert_ms'):.2f}x the "
        f"latency of one insert, {med(fast, 'concurrent_tps') / med(slow, 'concurrent_tps'):.2f}x "
        f"the concurrent rate, {med(fast, 'cpu_us') / med(slow, 'cpu_us'):.2f}x the client CPU "
        f"per transaction, {med(fast, 'read_ms') / med(slow, 'read_ms'):.2f}x the time of a "
        "1,000-event read.",
        "",
        "**Choice: psycopg 3.** The storage layer is one synchronous interface with two "
        "backends (`server.db.Database` for SQLite, `server.db_pg.PostgresDatabase`): the "
        "routes, the hub and the tests call the same methods, and `run_db` runs them inline "
        "(SQLite) or in a worker thread (PostgreSQL). asyncpg would need a second, async "
        "storage API and every caller written twice, for a fraction of a millisecond "
        "per transaction; its concurrent rate is not reliably higher (it swung from 0.6x to "
        "1.3x psycopg's between runs on this shared 2-core machine). Its real edge is client "
        "CPU per write (about half: the protocol parsed in C on the loop), which matters at "
        "thousands of writes per second; this server's load is the fan-out to streams, not "
        "writes. Neither blocks the loop: the worst lag is this shared machine's scheduling "
        "(it swings run to run for both).",
        "",
        "- **insert**: the order-create transaction (order row, event row with the next "
        "id from the `event_seq` counter, retention trim); psycopg through the server's "
        "own `PostgresDatabase.insert_order` via `run_db` (a worker thread), asyncpg with "
        "the same SQL.",
        "- **client CPU per tx**: this process's CPU time (user + system, all threads) "
        "over the concurrent inserts, per transaction: the server's share of the cost.",
        "- **worst loop lag**: the longest a 5 ms timer on the event loop was late during "
        "the concurrent inserts - what every SSE stream of the process would wait.",
        "- **events_after**: one replay page of 1,000 events read into `Event`s.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_driver", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--inserts", type=int, default=300)
    parser.add_argument("--reads", type=int, default=30)
    parser.add_argument("--durable", action="store_true", help="fsync on")
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with PostgresCluster(durable=args.durable) as cluster:
        url = cluster.create_database()
        results = uvloop.run(measure(url, args.runs, args.inserts, args.reads))
    load = f"{load_before:.1f}, {os.getloadavg()[0]:.1f}"
    report(render(results, args, load), SECTION, write=args.write, raw=results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
