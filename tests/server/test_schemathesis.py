"""Schemathesis against a real server (``LiveServer``), driven by ``GET /openapi.json``.

Every documented operation but the event stream gets boundary and negative cases (the
coverage phase), a bounded number of random cases (fuzzing) and short stateful sequences
that follow the document's links (create an order, then assign/status/patch/delete it),
all with a fixed seed. Each answer must not be a 5xx, must match its documented schema,
headers and content type, and every 4xx must carry a short JSON error
(``clear_client_error`` below). After the run the server is stopped and its SQLite file
opened read-only: replaying the event log must give the orders table exactly (no change
without its event, no event without its change) and every status must be a known one.

Schemathesis runs as its CLI (``python -m schemathesis.cli run``): its pytest plugin's
lazy loader does not work with pytest 9.2 (it sets ``Node._nodeid``), and the CLI's
report lists each failure with a ``curl`` line that reproduces it. This module is also
the CLI's hooks module, for the custom check.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import sqlite3
import subprocess
import sys
import time
from typing import Any

import pytest
import schemathesis

from server.db import Database
from tests.support.live_server import PROJECT_ROOT, LiveServer

MAX_EXAMPLES = 25  # random cases per operation, on top of the coverage phase's cases
SEED = 20_261_127
SEEDED_ORDERS = 12  # small ids, so generated ids often hit an existing order
STATUSES = {"new", "assigned", "picked_up", "delivered", "cancelled"}
NOT_FUZZED = "/v1/events/sse"  # a stream never ends by itself; tests/server covers it
LOGOUT = "/v1/auth/logout"
MAX_ERROR_MESSAGE = 300  # a clear message names the problem; it does not echo the input
CLI_TIMEOUT = 100  # seconds; a run takes ~10-25 s, ~50 s with both cores busy elsewhere
ORDER_KEYS = ("id", "customer", "phone", "address", "notes", "status", "courier_id",
              "created_at", "updated_at")


@schemathesis.check
def clear_client_error(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """Every 4xx says what was wrong in a short JSON error (the schema check covers its
    shape where the status is documented; this covers every 4xx, 405 included)."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError) as exc:
        raise AssertionError(f"4xx without a JSON error body: {response.text[:200]!r}") from exc
    message = error.get("message") if isinstance(error, dict) else None
    if not (isinstance(error, dict) and isinstance(error.get("code"), str) and error["code"]):
        raise AssertionError(f"4xx without an error code: {error!r}"[:300])
    if not (isinstance(message, str) and message.strip()):
        raise AssertionError(f"4xx without an error message: {error!r}"[:300])
    if len(message) > MAX_ERROR_MESSAGE:
        raise AssertionError(
            f"4xx message of {len(message)} characters (echoes the input?): {message[:200]}..."
        )
    return True


def write_config(folder: pathlib.Path, token: str, logout_token: str) -> pathlib.Path:
    """The run's ``schemathesis.toml`` (tokens are JWTs: no TOML escaping needed)."""
    path = folder / "schemathesis.toml"
    path.write_text(f"""\
seed = {SEED}
workers = 1
hooks = "tests.server.test_schemathesis"
request-timeout = 10
headers = {{ Authorization = "Bearer {token}" }}

[cache]
enabled = false  # no replay of an earlier run's crashes: each run stands alone

[generation]
mode = "all"
max-examples = {MAX_EXAMPLES}
database = "none"

[phases]
stateful.enabled = true
stateful.max-steps = 10

[checks]
enabled = false
not_a_server_error.enabled = true
response_schema_conformance.enabled = true
response_headers_conformance.enabled = true
content_type_conformance.enabled = true
clear_client_error.enabled = true

# Logout revokes the session it is called with: it gets a session of its own, so the
# other operations keep theirs whatever order they run in.
[[operations]]
include-path = "{LOGOUT}"
headers = {{ Authorization = "Bearer {logout_token}" }}

[[operations]]
include-path = "{NOT_FUZZED}"
enabled = false
""")
    return path


def run_schemathesis(server: LiveServer, folder: pathlib.Path) -> tuple[int, str, dict[str, Any]]:
    """``(exit code, the CLI's text report, its JSON report)``."""
    config = write_config(
        folder, server.login()["access_token"], server.login()["access_token"]
    )
    report = folder / "report.json"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "NO_PROXY": "127.0.0.1",
           "no_proxy": "127.0.0.1", "COLUMNS": "120"}
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
        "run", f"{server.url}/openapi.json", "--report", "json", "--report-json-path", str(report),
    ]
    try:
        completed = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout or b""
        partial = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
        raise AssertionError(
            f"schemathesis ran over {CLI_TIMEOUT} s (bounded run expected); its output so "
            f"far:\n{partial[-5000:]}"
        ) from exc
    output = completed.stdout + completed.stderr
    data = json.loads(report.read_text()) if report.exists() else {}
    return completed.returncode, output, data


def server_errors(log: str) -> list[str]:
    """One line per distinct unhandled error in the server log (distinct = another chain
    of project frames or another exception): the request that hit it first, the last
    project frames and the exception. The log has the path, not the body or query: the
    curl lines of the report give those."""
    root = str(PROJECT_ROOT) + "/"
    found: dict[tuple[str, ...], str] = {}
    for block in re.split(r"\n(?=\S.*unhandled error on )", log):
        head = re.search(r"unhandled error on (\S+) (\S+)", block)
        exception = re.search(r"^(\w+(?:\.\w+)*(?:Error|Exception)\b.*)$", block, re.M)
        if head is None or exception is None:
            continue
        frames = tuple(
            f"{file.replace(root, '')}:{line} {function}"
            for file, line, function in re.findall(r'File "([^"]+)", line (\d+), in (\w+)', block)
            if "/site-packages/" not in file
        )
        key = (head.group(1), *frames, exception.group(1)[:120])
        found.setdefault(
            key,
            f"{head.group(1)} {head.group(2)[:100]}  ->  {' > '.join(frames[-3:])}  "
            f"{exception.group(1)[:120]}",
        )
    return list(found.values())


def test_schemathesis_finds_no_server_error_and_no_half_written_rows(
    tmp_path: pathlib.Path,
) -> None:
    server = LiveServer(
        tmp_path, env={"ZARIZ_SEED_ORDERS": str(SEEDED_ORDERS), "ZARIZ_LOG_LEVEL": "warning"}
    )
    server.start()
    started = time.monotonic()
    try:
        code, output, report = run_schemathesis(server, tmp_path)
    finally:
        try:
            server.stop()
        finally:
            server.kill()
    elapsed = time.monotonic() - started
    generated = report.get("test_cases", {}).get("generated", 0)
    print(f"schemathesis: {generated} requests in {elapsed:.1f} s, exit code {code}")

    # The database is checked whatever the run found: a 5xx is where half-writes happen.
    try:
        check_database(server.db_path)
        half_written = ""
    except AssertionError as exc:
        half_written = f"HALF-WRITTEN ROWS: {exc}"
    if code != 0:
        errors = server_errors(server.log_text())
        raise AssertionError(
            f"schemathesis found failures (exit {code}); each has a curl line that reproduces "
            "it against a server started with `make serve` (use your own Bearer token):\n\n"
            + output[-15_000:]
            + "\n\nDistinct unhandled errors in the server log (request -> frame exception):\n"
            + ("\n".join(errors) or "(none)") + f"\n\n{half_written}"
        )
    assert not half_written, half_written
    assert report["operations"]["tested"] == report["operations"]["selected"] >= 13, report
    assert generated >= 200, f"only {generated} generated requests: is the run bounded right?"


def test_the_database_check_finds_half_written_rows(tmp_path: pathlib.Path) -> None:
    """``check_database`` can fail: an order without its event, an event without its
    change, an unknown status."""
    db = Database(tmp_path / "zariz.db")
    db.seed_couriers()
    order, _ = db.insert_order({"customer": "a", "phone": "1", "address": "x"}, "order.created")
    db.update_order(order["id"], {"status": "cancelled"}, "order.status_changed")
    db.close()
    check_database(tmp_path / "zariz.db")  # consistent so far

    def corrupted(sql: str, name: str) -> pathlib.Path:
        copy = tmp_path / name
        copy.write_bytes((tmp_path / "zariz.db").read_bytes())
        with sqlite3.connect(copy) as conn:
            conn.execute(sql)
        conn.close()
        return copy

    cases = {
        "orders without order.created": "INSERT INTO orders(customer, phone, address, status,"
        " created_at, updated_at) VALUES ('b', '2', 'y', 'new', 't', 't')",
        "differs from the replayed": "UPDATE orders SET notes = 'half' WHERE id = 1",
        "status outside": "UPDATE orders SET status = 'lost' WHERE id = 1",
    }
    for i, (message, sql) in enumerate(cases.items()):
        with pytest.raises(AssertionError, match=message):
            check_database(corrupted(sql, f"corrupt{i}.db"))
    # An event whose change is not in the table (the order row is gone, no order.deleted).
    with pytest.raises(AssertionError, match="differs from the replayed"):
        check_database(corrupted("DELETE FROM orders WHERE id = 1", "corrupt_gone.db"))


def check_database(path: pathlib.Path) -> None:
    """No half-written rows: replaying the event log gives the orders table."""
    orders, events = read_database(path)
    assert events and events[0][0] == 1, "events were trimmed: raise ZARIZ_EVENT_RETENTION"

    bad_status = {oid: o["status"] for oid, o in orders.items() if o["status"] not in STATUSES}
    assert not bad_status, f"orders with a status outside {sorted(STATUSES)}: {bad_status}"

    created = {data["id"] for _, kind, data in events if kind == "order.created"}
    assert not set(orders) - created, f"orders without order.created: {set(orders) - created}"

    replayed: dict[int, dict[str, Any]] = {}
    for event_id, kind, data in events:
        order = {key: data[key] for key in ORDER_KEYS}
        if kind == "order.created":
            assert order["id"] not in replayed, f"event {event_id}: order created twice"
            replayed[order["id"]] = order
        elif kind == "order.deleted":
            assert replayed.pop(order["id"], None) is not None, f"event {event_id}: no such order"
        else:
            assert order["id"] in replayed, f"event {event_id} ({kind}) on a missing order"
            replayed[order["id"]] = order
    assert replayed == orders, "the orders table differs from the replayed event log"


def read_database(
    path: pathlib.Path,
) -> tuple[dict[int, dict[str, Any]], list[tuple[int, str, dict[str, Any]]]]:
    """``(orders by id, [(event id, type, event data)])`` from a stopped server's file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        orders = {
            int(row["id"]): dict(row)
            for row in conn.execute(f"SELECT {', '.join(ORDER_KEYS)} FROM orders")
        }
        events = []
        for row in conn.execute("SELECT id, type, payload FROM events ORDER BY id"):
            payload = json.loads(row["payload"])
            assert payload["type"] == row["type"], f"event {row['id']}: type column differs"
            events.append((int(row["id"]), str(row["type"]), payload["data"]))
    finally:
        conn.close()
    return orders, events
