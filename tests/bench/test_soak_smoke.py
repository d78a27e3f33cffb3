"""A tiny run of ``python -m bench.soak`` (its own server and Chromium, 300 orders, 200
events, 4 reconnects, 1 refresh) so the command keeps working. Flatness and table == API
are asserted at a larger size in tests/browser/test_soak.py."""

from __future__ import annotations

import contextlib
import json
import pathlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import bench.soak as soak
from bench.soak_driver import EventDriver
from bench.soak_report import render


@pytest.mark.bench
@pytest.mark.browser
@pytest.mark.timeout(240)
def test_soak_command_smoke(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "soak.json"
    soak.main(["--orders", "300", "--events", "200", "--reconnects", "4", "--refreshes", "1",
               "--warmup-events", "50", "--warmup-reconnects", "2", "--warmup-refreshes", "0",
               "--max-s", "180", "--no-write", "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["complete"] and result["events_sent"] == 200
    assert result["incomplete"] == [] and result["failed_requests"] == {}
    assert result["steps"] == {"reconnect": 4, "refresh": 1}
    for key in ("js_heap_used", "wasm_bytes", "py_objects", "dom_nodes", "js_listeners",
                "live_proxies"):
        assert result["start"][key] > 0 and result["end"][key] > 0, key
    assert result["table"]["api_orders"] == result["table"]["store_orders"]
    text = render(result, "python -m bench.soak --events 200")
    assert "## Soak: a day in a tab" in text and "| JS heap used" in text


def test_schedule_spreads_refreshes() -> None:
    steps = soak._schedule(1000, 100)
    assert steps.count("refresh") == 100 and steps.count("reconnect") == 1000
    gaps = [i for i, s in enumerate(steps) if s == "refresh"]
    assert max(b - a for a, b in zip(gaps, gaps[1:], strict=False)) <= 12


class _AlwaysFails(BaseHTTPRequestHandler):
    """Answers every mutation 500, on a keep-alive HTTP/1.1 connection."""

    protocol_version = "HTTP/1.1"

    def _fail(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b'{"error": {"code": "internal", "message": "fault"}}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PATCH = do_DELETE = _fail

    def log_message(self, format: str, *args: object) -> None:  # quiet: no access log
        pass


@contextlib.contextmanager
def _failing_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysFails)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_driver_counts_a_slot_that_failed_five_times_as_no_event() -> None:
    with _failing_server() as port:
        driver = EventDriver(port, "token", {1: "new", 2: "assigned"}, [1], connections=1)
        driver.start()
        try:
            driver.release(2)
            driver.wait_done(2, 30, lambda: time.sleep(0.01))
        finally:
            driver.stop()
    assert driver.done == 2 and driver.given_up == 2
    assert driver.sent == 0 and sum(driver.failed.values()) == 10, driver.failed


def test_failed_requests_make_the_run_incomplete_and_the_exit_code_non_zero() -> None:
    cfg = soak.SoakConfig(events=200, reconnects=4, refreshes=1)
    steps = Counter(reconnect=4, refresh=1)
    assert soak.incomplete(cfg, steps, 200, Counter()) == []
    # A failure a retry made good still fails the run: the events were not the ones asked.
    reasons = soak.incomplete(cfg, steps, 200, Counter(connection=1))
    assert reasons and "failed requests" in reasons[0]
    assert len(soak.incomplete(cfg, steps, 199, Counter({"patch 500": 5}), 1)) == 2
    assert soak.incomplete(cfg, Counter(reconnect=3), 200, Counter())[0].startswith(
        "stopped at the deadline")
    good = {"complete": True, "table": {"ok": True}, "flat_problems": []}
    assert soak.exit_code(good) == 0
    assert soak.exit_code({**good, "complete": False}) == 1
