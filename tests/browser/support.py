"""Helpers for browser tests that talk to the Python app inside the page."""

from __future__ import annotations

import json
import struct
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

from tests.browser.conftest import BOOT_TIMEOUT_MS
from tests.support.live_server import LiveServer

_RUN_PY = """([code, token]) => {
  const s = document.createElement('script');
  s.type = 'py';
  const done = `\\nimport js as __js\\n__js.window.__pyDone.push(${JSON.stringify(token)})`;
  s.textContent = code + done;
  window.__pyDone = window.__pyDone || [];
  document.body.appendChild(s);
}"""
_counter = 0


def run_py(page: Any, code: str, timeout_ms: float = 30_000) -> None:
    """Run ``code`` in the page's (shared) Pyodide interpreter as a new
    ``<script type="py">`` - exactly what a second script tag or a re-executed entry
    does - and wait until it has finished."""
    global _counter
    _counter += 1
    token = f"run-{_counter}"
    page.evaluate(_RUN_PY, [code, token])
    page.wait_for_function(
        "t => (window.__pyDone || []).includes(t)", arg=token, timeout=timeout_ms
    )


COLLECT_EVENTS = """
import js
from zariz.boot import runtime
def __collect(ev):
    js.window.__events.push(js.JSON.parse(js.JSON.stringify({"event": ev.event, "id": ev.id})))
js.window.__events = js.Array.new()
import builtins
builtins.__zariz_test_unsub = runtime().client.subscribe(__collect)
"""


def open_authed(open_tab: Callable[..., Any], server: LiveServer, path: str = "/dashboard",
                context: Any = None) -> tuple[Any, Any, dict[str, Any]]:
    """A tab whose localStorage already holds a session (logged in through the API), on
    ``path``, with the SSE client connected."""
    tokens = server.login()
    state = json.dumps(
        {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"]}
    )
    page, log = open_tab(server.url, context=context)
    page.add_init_script(f"localStorage.setItem('zariz.auth', {json.dumps(state)})")
    page.goto(server.url + path)
    wait_client(page, "connected")
    return page, log, tokens


def wait_client(page: Any, status: str, timeout_ms: float = BOOT_TIMEOUT_MS) -> None:
    page.wait_for_function(
        "s => window.__zarizSSEClient && window.__zarizSSEClient.status === s",
        arg=status,
        timeout=timeout_ms,
    )


def stats(page: Any) -> dict[str, Any]:
    return page.evaluate("JSON.parse(JSON.stringify(window.__zarizSSEClient.stats))")  # type: ignore[no-any-return]


class GaugeSampler:
    """Polls the server's ``zariz_sse_open_streams`` gauge in a thread; ``max`` is the
    largest value seen."""

    def __init__(self, server: LiveServer, interval: float = 0.02) -> None:
        self.server = server
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        with httpx.Client(base_url=self.server.url, timeout=2) as http:
            while not self._stop.is_set():
                try:
                    text = http.get("/metrics").text
                except httpx.HTTPError:  # the server may be restarting: no sample then
                    time.sleep(self.interval)
                    continue
                for family in text_string_to_metric_families(text):
                    for sample in family.samples:
                        if sample.name == "zariz_sse_open_streams":
                            self.samples.append(sample.value)
                time.sleep(self.interval)

    def wait_samples(self, n: int, timeout: float = 10) -> None:
        """Wait until ``n`` more samples were taken (so each step is observed)."""
        target = len(self.samples) + n
        wait_until(lambda: len(self.samples) >= target, timeout, f"{n} gauge samples")

    def __enter__(self) -> GaugeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def max(self) -> float:
        return max(self.samples) if self.samples else 0.0


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, page: Any = None
) -> Any:
    """Poll ``predicate``. Pass ``page`` when the predicate depends on Playwright events
    (console, requests): the sync API only delivers them while it is waiting itself."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        if page is not None:
            page.wait_for_timeout(50)
        else:
            time.sleep(0.05)


# --- fault-matrix helpers (tests/browser/test_fault_matrix.py, bench/faults.py) -----------

# A subscriber that records every dispatch it gets: the SSE event id and, for order events,
# the order id. A second dispatch of one id to one subscriber is what "duplicated" means.
TRACK_DISPATCHES = """
import json
import js
from zariz.boot import runtime
def __zariz_track(ev):
    data = ev.data if isinstance(ev.data, dict) else {}
    order = data.get("id") if str(ev.event).startswith("order.") else None
    js.window.__dispatched.push(js.JSON.parse(json.dumps(
        {"event": str(ev.event), "id": ev.id, "order": order, "at": js.Date.now()})))
js.window.__dispatched = js.Array.new()
import builtins
builtins.__zariz_track_off = runtime().client.subscribe(__zariz_track)
"""

# Every change of the indicator's data-status, stamped with Date.now() (the same clock as
# Python's time.time() on this machine), observed on the DOM the operator sees.
_STATUS_LOG = """() => {
  const read = () => document.querySelector('[data-testid=sse-status]')?.dataset.status;
  let last = read();
  window.__statusLog = [[Date.now(), last]];
  if (window.__statusObserver) window.__statusObserver.disconnect();
  window.__statusObserver = new MutationObserver(() => {
    const s = read();
    if (s !== last) { last = s; window.__statusLog.push([Date.now(), s]); }
  });
  window.__statusObserver.observe(document.body, {subtree: true, childList: true,
    attributes: true, attributeFilter: ['data-status']});
}"""


def track_dispatches(page: Any) -> None:
    """Install :data:`TRACK_DISPATCHES` in the page (read with :func:`dispatches`)."""
    run_py(page, TRACK_DISPATCHES)


def dispatches(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("Array.from(window.__dispatched || [])")  # type: ignore[no-any-return]


def record_status(page: Any) -> None:
    """Start logging the indicator's ``data-status`` changes (read with :func:`status_log`)."""
    page.evaluate(_STATUS_LOG)


def status_log(page: Any) -> list[tuple[float, str]]:
    """``[(epoch seconds, status), ...]``: the first entry is the status at install time."""
    raw = page.evaluate("window.__statusLog || []")
    return [(float(t) / 1000.0, str(s)) for t, s in raw]


def indicator(page: Any) -> str | None:
    return page.evaluate(  # type: ignore[no-any-return]
        "document.querySelector('[data-testid=sse-status]')?.dataset.status")


def table_ids(page: Any) -> list[int]:
    """The ``data-order-id`` of every ``[data-testid=order-row]`` (duplicates kept)."""
    raw = page.evaluate(
        "Array.from(document.querySelectorAll('[data-testid=order-row]'))"
        ".map(r => r.dataset.orderId)")
    return [int(x) for x in raw]


def guard_origin(page: Any, base_url: str) -> list[str]:
    """Abort every request that leaves ``base_url``'s origin (as ``open_tab`` does, for
    tabs a module-scoped fixture or a benchmark opens itself); returns the list of the
    aborted URLs."""
    outside: list[str] = []
    origin = base_url.rstrip("/") + "/"

    def route(r: Any) -> None:
        if r.request.url.startswith(origin):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return outside


def pixel(page: Any, x: float, y: float) -> tuple[int, int, int]:
    """The ``(r, g, b)`` the page shows at ``(x, y)`` (CSS pixels, viewport): a 1x1
    screenshot, whose one scanline every PNG filter leaves as the raw bytes (they only
    subtract neighbours, and a lone pixel has none)."""
    png = page.screenshot(clip={"x": x, "y": y, "width": 1, "height": 1}, scale="css")
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, data, color_type = 8, b"", None
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, body = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color_type = struct.unpack(">IIBB", body[:10])
            assert (width, height, depth) == (1, 1, 8), (width, height, depth)
        elif kind == b"IDAT":
            data += body
        pos += 12 + length
    assert color_type in (2, 6), f"PNG colour type {color_type}"  # RGB, RGBA
    raw = zlib.decompress(data)
    return raw[1], raw[2], raw[3]  # after the scanline's filter byte
