"""Fault matrix: a real tab on ``/dashboard/orders`` behind a fault-injecting proxy.

    python -m bench.reliability              # 3 rounds + a 2-minute outage; rewrites the
                                             # README's Reliability section and RESULTS.md
    python -m bench.reliability --rounds 1 --outage 30 --no-write

Each round starts a real server (``python -m server``, ping every 2 s so the client's
stall watchdog window is 2.5 x 2 = 5 s) behind :class:`tests.support.fault_proxy.FaultProxy`
on loopback; Debian's chromium loads the app through the proxy's port, so REST and SSE both
cross it, and logs in through the form. Orders are created through the API directly on the
server (never through the proxy) before, during and right after each fault. Per fault:

* **detection**: fault -> the indicator (``[data-testid=sse-status]`` ``data-status``, as
  the operator sees it) leaves ``connected``; n/a where the stream is not dead;
* **recovery**: fault end -> the indicator is ``connected`` again;
* **lost**: orders the API lists that never reached the table (after a bounded wait);
* **duplicated**: a table row twice, or one event id / one ``order.created`` dispatched
  twice to a subscriber in the page;
* checks: the indicator never says ``connected`` while the stream cannot be up, the server's
  ``zariz_sse_open_streams`` returns to the number of open tabs, attempts stay within what
  the backoff allows (1 s base doubling to a 30 s cap, full jitter), no loop after 401/5xx.

The outage run refuses every connection for ``--outage`` seconds and records each
connection attempt of our tab and, as the baseline in the same run, of a plain
``EventSource`` (the browser's own retry, ``retry: 1000`` from the server) behind a proxy
of its own.

``tests/browser/test_fault_matrix.py`` runs every fault once with the same code (short
timings); this command is the full run. Everything is bounded in time and stops by itself.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import datetime as dt
import json
import os
import pathlib
import platform as pyplatform
import random
import re
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common import ROOT
from bench.results import report, write_section
from tests.browser.conftest import BOOT_TIMEOUT_MS, CHROMIUM, CHROMIUM_ARGS
from tests.browser.support import (
    dispatches,
    guard_origin,
    indicator,
    record_status,
    status_log,
    table_ids,
    track_dispatches,
)
from tests.support.fault_proxy import FaultProxy
from tests.support.live_server import LiveServer

README = ROOT / "README.md"
RECONNECT_LINE = re.compile(r"\[SSE\] reconnect in (\d+) ms \(attempt (\d+)\)")
BACKOFF_BASE, BACKOFF_CAP = 1.0, 30.0  # the client's defaults (app/zariz/sse/client.py)
STALL_FACTOR = 2.5  # the client's watchdog: no message or ping for 2.5 x ping_interval

MAIN_FAULTS = ("cut_mid_stream", "stall", "latency", "refuse", "ticket_5xx", "server_kill",
               "offline")
FAULTS = ("cut_mid_stream", "cut_before_first_event", "stall", "latency", "refuse",
          "server_kill", "ticket_5xx", "token_expiry", "offline")
LABELS = {
    "cut_mid_stream": "cut every connection mid-stream (after events flowed)",
    "cut_before_first_event": "cut before the tab has seen its first event",
    "stall": "stall (sockets open, nothing forwarded)",
    "latency": "0.8 s latency each way",
    "refuse": "refuse new connections (stream cut)",
    "server_kill": "server SIGKILL, restart on the same port",
    "ticket_5xx": "ticket endpoint answers 500/503 (stream cut)",
    "token_expiry": "access token expires mid-stream",
    "offline": "browser offline and back",
}


@dataclass(frozen=True)
class Timings:
    """How long each fault lasts. The suite uses the defaults; ``FULL`` is the benchmark."""

    ping_interval: float = 2.0
    latency: float = 0.8
    latency_s: float = 4.0
    refuse_s: float = 4.0
    down_s: float = 3.0
    ticket_5xx_s: float = 4.0
    offline_s: float = 3.0
    stall_hold_s: float = 1.0  # the stall is kept this long after it was detected
    held_s: float = 1.0  # cut before the first event: the reconnect is held this long
    access_ttl: float = 5.0
    outage_s: float = 20.0
    # Timers in a busy tab on 2 shared cores fire late: detection bounds get this slack.
    slack_s: float = 1.5
    recover_timeout_s: float = 60.0
    settle_timeout_s: float = 20.0

    @property
    def stall_window(self) -> float:
        return self.ping_interval * STALL_FACTOR


FULL = Timings(refuse_s=8.0, down_s=5.0, ticket_5xx_s=8.0, offline_s=5.0, outage_s=120.0)


@dataclass
class FaultResult:
    fault: str
    detection_s: float | None
    recovery_s: float | None
    created: list[int]
    lost: list[int]
    duplicated: int
    attempts: int
    attempt_bound: int | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        def secs(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.2f} s"

        bound = "" if self.attempt_bound is None else f" (bound {self.attempt_bound})"
        text = (f"[{self.fault}] detection {secs(self.detection_s)}, recovery "
                f"{secs(self.recovery_s)}, created {len(self.created)}, lost {len(self.lost)} "
                f"{self.lost or ''}, duplicated {self.duplicated}, attempts {self.attempts}"
                f"{bound}")
        if self.notes:
            text += "; " + "; ".join(self.notes)
        if self.problems:
            text += "\n    PROBLEMS: " + "\n    PROBLEMS: ".join(self.problems)
        return text


# --- backoff bound ------------------------------------------------------------------------

def max_attempts(seconds: float, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP,
                 trials: int = 20_000, seed: int = 29) -> int:
    """The most reconnect attempts full-jitter backoff lets start within ``seconds`` of the
    first failure, over ``trials`` simulated clients (seeded, so the bound is fixed), plus
    one for an attempt in flight at the edge. Full jitter has no lower bound on a single
    delay, so the bound is a high quantile, not a certainty; a tight loop exceeds it by far."""
    rng = random.Random(seed)
    worst = 0
    for _ in range(trials):
        elapsed, n = 0.0, 0
        while True:
            elapsed += rng.random() * min(cap, base * 2.0 ** min(n, 60))
            if elapsed > seconds:
                break
            n += 1
        worst = max(worst, n)
    return worst + 1


# --- the API, directly on the server -------------------------------------------------------

class Api:
    """Creates and lists orders on the server itself (never through the proxy); logs in
    again when the token is close to expiry (a short ``ZARIZ_ACCESS_TTL``)."""

    def __init__(self, server: LiveServer, ttl: float = 900.0) -> None:
        self.server, self.ttl = server, ttl
        self._token: str | None = None
        self._issued = 0.0
        self.created: list[int] = []

    def token(self, fresh: bool = False) -> str:
        """A token with at least ~1.5 s to live (``fresh``: a new one now)."""
        if fresh or self._token is None or time.monotonic() - self._issued > self.ttl - 1.5:
            self._token = str(self.server.login()["access_token"])
            self._issued = time.monotonic()
        return self._token

    def create(self, customer: str) -> int:
        order = self.server.create_order(self.token(), customer=customer)
        self.created.append(int(order["id"]))
        return int(order["id"])

    def ids(self) -> list[int]:
        return self.server.order_ids(self.token())


# --- a tab ---------------------------------------------------------------------------------

class Tab:
    """One browser context + tab on ``base_url``/dashboard/orders, logged in through the
    login form, with a dispatch tracker and the indicator's status log installed."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.base_url = base_url
        # bypass_csp: Playwright's string predicates (wait_for_function) run through eval,
        # which the app's Content-Security-Policy forbids; the CSP has tests of its own.
        self.context = browser.new_context(viewport={"width": 1280, "height": 800},
                                           bypass_csp=True)
        self.page = self.context.new_page()
        self.outside = guard_origin(self.page, base_url)
        self.tickets: list[float] = []  # monotonic time of every POST /v1/events/ticket
        self.refreshes: list[float] = []
        self.console: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self.page.on("request", self._on_request)
        self.page.on("console", lambda m: self.console.append((time.monotonic(), m.text)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(base_url + "/dashboard/orders")
        self.page.wait_for_function(
            "document.getElementById('app')?.dataset.boot === 'ready'", timeout=BOOT_TIMEOUT_MS)
        self.page.wait_for_url("**/login?next=*", timeout=BOOT_TIMEOUT_MS)
        self.page.fill("[data-testid=login-username]", "demo")
        self.page.fill("[data-testid=login-password]", "demo")
        self.page.click("[data-testid=login-submit]")
        self.page.wait_for_function("location.pathname === '/dashboard/orders'",
                                    timeout=BOOT_TIMEOUT_MS)
        self.wait_status("connected", BOOT_TIMEOUT_MS / 1000)
        self.instrument()

    def _on_request(self, request: Any) -> None:
        if "/v1/events/ticket" in request.url:
            self.tickets.append(time.monotonic())
        elif "/v1/auth/refresh" in request.url:
            self.refreshes.append(time.monotonic())

    def instrument(self) -> None:
        track_dispatches(self.page)
        record_status(self.page)

    def reload(self) -> None:
        """A fresh start for this tab (after a fault left it wrong): same session."""
        self.page.reload()
        self.page.wait_for_function("location.pathname === '/dashboard/orders'",
                                    timeout=BOOT_TIMEOUT_MS)
        self.wait_status("connected", BOOT_TIMEOUT_MS / 1000)
        self.instrument()

    def pump(self, seconds: float) -> None:
        """Let time pass while Playwright delivers events and runs route handlers (its sync
        API only does so while the test thread waits inside it)."""
        self.page.wait_for_timeout(max(1, int(seconds * 1000)))

    def until(self, predicate: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value or time.monotonic() > deadline:
                return value
            self.pump(0.05)

    def wait_status(self, status: str, timeout: float) -> bool:
        try:
            self.page.wait_for_function(
                "s => document.querySelector('[data-testid=sse-status]')?.dataset.status === s",
                arg=status, timeout=timeout * 1000)
        except Exception as exc:  # Playwright's TimeoutError: the caller decides
            if "Timeout" not in type(exc).__name__ and "Timeout" not in str(exc):
                raise
            return False
        return True

    def access_exp(self) -> float:
        """``exp`` of the access token the tab holds (epoch seconds)."""
        stored = json.loads(self.page.evaluate("localStorage.getItem('zariz.auth')"))
        payload = stored["access_token"].split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return float(json.loads(base64.urlsafe_b64decode(payload))["exp"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.context.close()


# --- a rig: server + proxy + tabs ---------------------------------------------------------

class Rig:
    """A real server (ping every ``timings.ping_interval`` s) behind a FaultProxy."""

    def __init__(self, browser: Any, folder: pathlib.Path, timings: Timings,
                 env: dict[str, str] | None = None) -> None:
        self.browser, self.timings = browser, timings
        env = {"ZARIZ_PING_INTERVAL": f"{timings.ping_interval:g}", **(env or {})}
        folder.mkdir(parents=True, exist_ok=True)
        self.server = LiveServer(folder, env=env)
        self.server.start()
        self.proxies: list[FaultProxy] = []
        self.proxy = self.new_proxy()
        ttl = float(env.get("ZARIZ_ACCESS_TTL", 900))
        self.api = Api(self.server, ttl)
        self.tabs: list[Tab] = []
        self._tab: Tab | None = None

    def new_proxy(self) -> FaultProxy:
        proxy = FaultProxy(self.server.port).start()
        self.proxies.append(proxy)
        return proxy

    def open_tab(self, proxy: FaultProxy | None = None) -> Tab:
        tab = Tab(self.browser, (proxy or self.proxy).url)
        self.tabs.append(tab)
        return tab

    def close_tab(self, tab: Tab) -> None:
        tab.close()
        self.tabs.remove(tab)

    @property
    def tab(self) -> Tab:
        """The main tab (opened on first use)."""
        if self._tab is None:
            self._tab = self.open_tab()
        return self._tab

    def heal(self) -> None:
        for proxy in self.proxies:
            proxy.heal()
        if not self.server.running:
            self.server.start()

    def close(self) -> None:
        for tab in list(self.tabs):
            self.close_tab(tab)
        for proxy in self.proxies:
            proxy.stop()
        try:
            self.server.stop()
        finally:
            self.server.kill()


@contextlib.contextmanager
def rig(browser: Any, folder: pathlib.Path, timings: Timings,
        env: dict[str, str] | None = None) -> Iterator[Rig]:
    r = Rig(browser, folder, timings, env)
    try:
        yield r
    finally:
        r.close()


# --- one fault run -------------------------------------------------------------------------

class Run:
    """Bookkeeping of one fault on one tab: the orders, the fault's start and end (wall
    clock, comparable with the page's Date.now()), and the measurements at the end."""

    def __init__(self, rig: Rig, tab: Tab, fault: str) -> None:
        self.rig, self.tab, self.fault, self.t = rig, tab, fault, rig.timings
        self.notes: list[str] = []
        self.problems: list[str] = []
        self.ensure_ready()
        self.created: list[int] = []
        self.mark_dispatch = len(dispatches(tab.page))
        self.mark_tickets = len(tab.tickets)
        self.mark_refresh = len(tab.refreshes)
        self.mark_console = len(tab.console)
        self.start_wall = self.end_wall = 0.0
        self.start_mono = self.end_mono = 0.0

    def ensure_ready(self) -> None:
        """Connected, and the table equals the API: each fault starts from a sound tab (a
        tab an earlier fault left wrong is reloaded, and that is noted)."""
        tab = self.tab
        if not tab.wait_status("connected", self.t.recover_timeout_s):
            raise RuntimeError(f"[{self.fault}] the tab is not connected before the fault")
        api_ids = set(self.rig.api.ids())
        if len(api_ids) > 50:
            raise RuntimeError("more than one page of orders: the table shows 50 rows only")
        if not tab.until(lambda: set(table_ids(tab.page)) == api_ids, self.t.settle_timeout_s):
            self.notes.append("tab reloaded first (an earlier fault left its table wrong)")
            tab.reload()

    def create(self, n: int, what: str) -> list[int]:
        ids = [self.rig.api.create(f"{self.fault} {what} {i}") for i in range(n)]
        self.created += ids
        return ids

    def before(self) -> None:
        """One order, and wait until it is in the table: events flowed before the fault."""
        (oid,) = self.create(1, "before")
        if not self.tab.until(lambda: oid in table_ids(self.tab.page), self.t.settle_timeout_s):
            raise RuntimeError(f"[{self.fault}] the 'before' order never reached the table")

    def start(self) -> None:
        self.start_wall, self.start_mono = time.time(), time.monotonic()

    def end(self, instantaneous: bool = False) -> None:
        if instantaneous:
            self.end_wall, self.end_mono = self.start_wall, self.start_mono
        else:
            self.end_wall, self.end_mono = time.time(), time.monotonic()

    def wait_detected(self, timeout: float) -> bool:
        return bool(self.tab.until(lambda: indicator(self.tab.page) != "connected", timeout))

    def finish(self, *, detect_bound: float | None, dead_until_end: bool,
               attempt_window: bool = False, stays_connected: bool = False) -> FaultResult:
        """Wait for recovery and the table, then measure and check.

        ``detect_bound``: detection must happen within this many seconds (None: n/a).
        ``dead_until_end``: the stream cannot be up before the fault ends, so the indicator
        must not say ``connected`` between detection and the end.
        ``attempt_window``: check the number of attempts against the backoff bound.
        ``stays_connected``: the stream stays usable, the indicator must never leave it."""
        t, tab, page = self.t, self.tab, self.tab.page
        recovered = tab.wait_status("connected", t.recover_timeout_s)
        if not recovered:
            self.problems.append(f"not connected {t.recover_timeout_s:.0f} s after the fault")
        self.create(1, "after")
        api_ids = set(self.rig.api.ids())
        tab.until(lambda: set(table_ids(page)) >= set(self.created)
                  and set(table_ids(page)) == api_ids, t.settle_timeout_s)
        rows = table_ids(page)
        api_ids = set(self.rig.api.ids())
        lost = sorted(set(self.created) - set(rows))
        ghosts = sorted(set(rows) - api_ids)
        if lost:
            self.problems.append(f"lost: orders {lost} never reached the table")
        if ghosts:
            self.problems.append(f"rows {ghosts} are not in GET /v1/orders")
        if set(rows) != api_ids and not lost and not ghosts:
            self.problems.append("the table differs from GET /v1/orders")

        # Duplicates: in the DOM, and per subscriber (event ids, order.created per order).
        duplicated = sum(n - 1 for n in Counter(rows).values() if n > 1)
        seen = dispatches(page)
        new = seen[self.mark_dispatch:]
        # Counted over the tab's whole life (a replay may repeat an event seen before the
        # fault), flagged only for what this fault dispatched.
        ids = Counter(d["id"] for d in seen if d["event"].startswith("order.") and d["id"])
        created_counts = Counter(d["order"] for d in seen if d["event"] == "order.created")
        new_keys = {d["id"] for d in new if d["id"]}
        twice_ids = sorted(int(i) for i, n in ids.items() if n > 1 and i in new_keys)
        twice_orders = sorted(o for o in self.created if created_counts[o] > 1)
        duplicated += sum(ids[str(i)] - 1 for i in twice_ids)
        if twice_ids or twice_orders or duplicated:
            self.problems.append(f"duplicated: event ids {twice_ids} / order.created of "
                                 f"{twice_orders} dispatched twice, {duplicated} extra")
        new_ids = sorted({int(d["id"]) for d in new
                          if d["event"].startswith("order.") and d["id"]})
        if new_ids:
            gaps = sorted(set(range(new_ids[0], new_ids[-1] + 1)) - set(new_ids))
            if gaps:  # "ids contiguous": every event after the fault reached the subscriber
                self.problems.append(f"event ids {gaps} were never dispatched")
        missed = [o for o in self.created if created_counts[o] == 0]
        if missed and not lost:
            self.notes.append(f"orders {missed} reached the table by a refetch, not an event")

        # The indicator over time.
        log = status_log(page)
        detection = self._first_after(log, self.start_wall, lambda s: s != "connected")
        detection_s = None if detection is None else max(0.0, detection - self.start_wall)
        if stays_connected:
            if detection is not None and detection <= self.end_wall + t.slack_s:
                self.problems.append(
                    f"indicator left connected {detection_s:.2f} s into a fault the stream "
                    "survives")
            detection_s = None
        elif detect_bound is not None:
            if detection_s is None:
                self.problems.append("the indicator never left connected")
            elif detection_s > detect_bound:
                self.problems.append(f"detected after {detection_s:.2f} s > {detect_bound:.2f} s")
        if dead_until_end and detection is not None:
            lied = [(round(ts - self.start_wall, 2), s) for ts, s in log
                    if detection < ts < self.end_wall - 0.05 and s == "connected"]
            if lied:
                self.problems.append(f"indicator said connected while the stream was dead: {lied}")
        recovery_s: float | None = None
        if not stays_connected:
            after = max(self.end_wall, detection or self.end_wall)
            back = self._first_after(log, after, lambda s: s == "connected")
            if back is None and log and log[-1][1] == "connected" and log[-1][0] <= after:
                back = after  # it never left (or was back before the end)
            recovery_s = None if back is None else max(0.0, back - self.end_wall)

        # Attempts: every POST /v1/events/ticket from the fault to recovery.
        tickets = tab.tickets[self.mark_tickets:]
        attempts = len(tickets)
        bound: int | None = None
        if attempt_window:
            window = (self.end_mono - self.start_mono) + (recovery_s or 0.0)
            bound = max_attempts(window)
            if attempts > bound:
                self.problems.append(f"{attempts} attempts in {window:.1f} s > backoff bound "
                                     f"{bound}")
            self._check_delays()

        # The server's view: one stream per open tab again.
        want = len(self.rig.tabs)
        if not tab.until(lambda: self._gauge() == want, t.settle_timeout_s):
            self.problems.append(f"zariz_sse_open_streams = {self._gauge()} != {want}")
        if tab.errors:
            self.problems.append(f"page errors: {tab.errors[-3:]}")
        return FaultResult(self.fault, detection_s, recovery_s, list(self.created), lost,
                           duplicated, attempts, bound, self.problems, self.notes)

    def _gauge(self) -> float:
        try:
            return self.rig.server.metric("zariz_sse_open_streams")
        except httpx.HTTPError:
            return -1.0

    @staticmethod
    def _first_after(log: list[tuple[float, str]], after: float,
                     match: Callable[[str], bool]) -> float | None:
        for ts, status in log:
            if ts >= after and match(status):
                return ts
        return None

    def _check_delays(self) -> None:
        """Every logged backoff delay stays under its full-jitter ceiling."""
        for _ts, line in self.tab.console[self.mark_console:]:
            m = RECONNECT_LINE.search(line)
            if m:
                delay_ms, attempt = int(m.group(1)), int(m.group(2))
                ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)) * 1000
                if delay_ms > ceiling + 1:
                    self.problems.append(f"attempt {attempt} waited {delay_ms} ms > {ceiling}")


# --- the faults ----------------------------------------------------------------------------

def cut_mid_stream(rig: Rig) -> FaultResult:
    run = Run(rig, rig.tab, "cut_mid_stream")
    run.before()
    run.start()
    rig.proxy.cut()
    run.end(instantaneous=True)
    run.create(2, "during")  # while the tab reconnects
    run.wait_detected(run.t.slack_s + 2)
    return run.finish(detect_bound=run.t.slack_s, dead_until_end=False, attempt_window=True)


def cut_before_first_event(rig: Rig) -> FaultResult:
    """A fresh tab (own proxy, same server) that has loaded the table and connected but
    received no event yet; its stream is cut and the orders are committed while it is away.
    The proxy holds the reconnect for ``held_s`` (stall, then cut) so that the orders are
    surely committed before the tab is back: the issue lost orders created within ~0.1 s of
    the cut; holding makes that window certain instead of likely."""
    proxy = rig.new_proxy()
    tab = rig.open_tab(proxy)
    try:
        run = Run(rig, tab, "cut_before_first_event")
        if any(d["event"].startswith("order.") for d in dispatches(tab.page)):
            raise RuntimeError("the fresh tab already saw an order event")
        run.notes.append(f"last_event_id at the cut: "
                         f"{tab.page.evaluate('window.__zarizSSEClient.stats.last_event_id')}")
        run.start()
        proxy.stall()
        proxy.cut()
        run.create(2, "during")
        tab.pump(run.t.held_s)
        proxy.resume()
        run.end()
        return run.finish(detect_bound=run.t.slack_s, dead_until_end=False)
    finally:
        proxy.heal()
        rig.close_tab(tab)
        proxy.stop()
        rig.proxies.remove(proxy)


def stall(rig: Rig) -> FaultResult:
    run = Run(rig, rig.tab, "stall")
    run.before()
    run.start()
    rig.proxy.stall()
    run.create(2, "during")
    bound = run.t.stall_window + run.t.slack_s
    if run.wait_detected(bound + 3):
        run.tab.pump(run.t.stall_hold_s)  # the reconnect's ticket request hangs meanwhile
    rig.proxy.resume()
    run.end()
    return run.finish(detect_bound=bound, dead_until_end=True)


def latency(rig: Rig) -> FaultResult:
    run = Run(rig, rig.tab, "latency")
    run.before()
    run.start()
    rig.proxy.latency(run.t.latency)
    during = run.create(2, "during")
    run.tab.until(lambda: set(during) <= set(table_ids(run.tab.page)), run.t.latency_s)
    run.tab.pump(max(0.0, run.t.latency_s - (time.monotonic() - run.start_mono)))
    rig.proxy.latency(0)
    run.end()
    return run.finish(detect_bound=None, dead_until_end=False, stays_connected=True)


def refuse(rig: Rig, seconds: float | None = None, name: str = "refuse") -> FaultResult:
    run = Run(rig, rig.tab, name)
    run.before()
    run.start()
    rig.proxy.refuse()
    rig.proxy.cut()
    run.create(2, "during")
    run.wait_detected(run.t.slack_s + 2)
    run.tab.pump(max(0.0, (seconds or run.t.refuse_s) - (time.monotonic() - run.start_mono)))
    rig.proxy.accept()
    run.end()
    return run.finish(detect_bound=run.t.slack_s, dead_until_end=True, attempt_window=True)


def ticket_5xx(rig: Rig) -> FaultResult:
    run = Run(rig, rig.tab, "ticket_5xx")
    page = run.tab.page
    answered: list[int] = []

    def fail(route: Any) -> None:
        status = 500 if len(answered) % 2 == 0 else 503
        answered.append(status)
        route.fulfill(status=status, content_type="application/json",
                      body=json.dumps({"error": {"code": "unavailable", "message": "fault"}}))

    run.before()
    run.start()
    page.route("**/v1/events/ticket", fail)
    try:
        rig.proxy.cut()  # the live stream needs no ticket: end it so the client asks for one
        run.create(2, "during")
        run.wait_detected(run.t.slack_s + 2)
        run.tab.pump(max(0.0, run.t.ticket_5xx_s - (time.monotonic() - run.start_mono)))
    finally:
        page.unroute("**/v1/events/ticket", fail)
    run.end()
    run.notes.append(f"ticket answered {Counter(answered)}")
    return run.finish(detect_bound=run.t.slack_s, dead_until_end=True, attempt_window=True)


def server_kill(rig: Rig) -> FaultResult:
    run = Run(rig, rig.tab, "server_kill")
    run.before()
    run.start()
    rig.server.kill()  # SIGKILL: no shutdown, the kernel resets the sockets
    run.wait_detected(run.t.slack_s + 2)
    run.tab.pump(max(0.0, run.t.down_s - (time.monotonic() - run.start_mono)))
    rig.server.start()  # same port, same database
    run.end()
    # "During": committed the moment the server is back, while the tab still backs off.
    run.create(2, "during")
    run.notes.append(f"indicator when the 'during' orders were created: "
                     f"{indicator(run.tab.page)}")
    return run.finish(detect_bound=run.t.slack_s, dead_until_end=True, attempt_window=True)


def offline(rig: Rig) -> FaultResult:
    run = Run(rig, rig.tab, "offline")
    context = run.tab.context
    run.before()
    run.start()
    context.set_offline(True)
    try:
        run.create(2, "during")
        run.wait_detected(run.t.slack_s + 2)
        run.tab.pump(max(0.0, run.t.offline_s - (time.monotonic() - run.start_mono)))
        during = indicator(run.tab.page)
        if during != "disconnected":
            run.problems.append(f"indicator said {during!r} while offline (want disconnected)")
    finally:
        context.set_offline(False)
    run.end()
    return run.finish(detect_bound=run.t.slack_s, dead_until_end=True, attempt_window=True)


def token_expiry(rig: Rig) -> FaultResult:
    """Run on a rig whose server has a short ``ZARIZ_ACCESS_TTL``: the server ends the
    stream when the token behind it expires; the client's next ticket request gets 401,
    refreshes once and reconnects. Orders are created just before the expiry, right at it
    and after; two expiries are watched for a 401 loop."""
    tab = rig.tab
    run = Run(rig, tab, "token_expiry")
    exp = tab.access_exp()
    if exp - time.time() < 2.0:  # too close: take the next token's expiry
        tab.until(lambda: tab.access_exp() != exp, run.t.access_ttl + 10)
        tab.wait_status("connected", run.t.recover_timeout_s)
        exp = tab.access_exp()
    tab.pump(max(0.0, exp - 1.5 - time.time()))
    rig.api.token(fresh=True)  # valid through the expiry: no login in the critical moment
    run.before()
    tab.pump(max(0.0, exp - time.time()))
    run.start_wall = exp
    run.start_mono = time.monotonic() - (time.time() - exp)
    run.create(2, "during")
    run.wait_detected(run.t.slack_s + 2)
    run.end(instantaneous=True)
    result = run.finish(detect_bound=run.t.slack_s, dead_until_end=False)
    # One more expiry with nothing else going on: no loop of 401s or refreshes.
    second = tab.access_exp()
    tab.pump(max(0.0, second - time.time() + 1.0))
    tab.wait_status("connected", run.t.recover_timeout_s)
    tickets = len(tab.tickets) - run.mark_tickets
    refreshes = len(tab.refreshes) - run.mark_refresh
    result.attempts = tickets
    result.notes.append(f"2 expiries: {tickets} ticket requests, {refreshes} refreshes")
    if tickets > 2 * 2 + 1 or refreshes > 2 + 1:
        result.problems.append(f"401 loop: {tickets} ticket requests and {refreshes} refreshes "
                               "for 2 expiries (want <= 2 and 1 each)")
    return result


MAIN: dict[str, Callable[[Rig], FaultResult]] = {
    "cut_mid_stream": cut_mid_stream,
    "stall": stall,
    "latency": latency,
    "refuse": refuse,
    "ticket_5xx": ticket_5xx,
    "server_kill": server_kill,
    "offline": offline,
}


# --- the outage curve ----------------------------------------------------------------------

@dataclass
class Outage:
    seconds: float
    ours: list[float]  # attempt times (s after the outage began): ticket requests
    ours_connections: list[float]  # the same from the proxy's side (TCP connections)
    ours_delays: list[tuple[int, int]]  # (attempt, logged delay ms)
    baseline: list[float] | None  # plain EventSource: TCP connections to its proxy
    recovery_s: float | None
    bound: int
    problems: list[str] = field(default_factory=list)
    # The plain EventSource a few seconds after the outage: "open", "closed" or "connecting".
    baseline_after: str | None = None

    def line(self) -> str:
        back = "never" if self.recovery_s is None else f"{self.recovery_s:.1f} s"
        text = (f"[outage {self.seconds:.0f} s] {len(self.ours)} attempts at "
                f"{[round(x, 1) for x in self.ours]} s (bound {self.bound}); the proxy saw "
                f"{len(self.ours_connections)} connections; logged draws (attempt, ms) "
                f"{self.ours_delays}; connected again {back} after it ended")
        if self.baseline is not None:
            text += (f"; baseline EventSource: {len(self.baseline)} connections, then "
                     f"{self.baseline_after}")
        if self.problems:
            text += "\n    PROBLEMS: " + "; ".join(self.problems)
        return text

    @staticmethod
    def per_minute(times: list[float], seconds: float) -> list[int]:
        minutes = max(1, int(-(-seconds // 60)))
        return [sum(1 for x in times if 60 * m <= x < 60 * (m + 1)) for m in range(minutes)]


BASELINE_PAGE = """async ([url, ticket]) => {
  window.__es = new EventSource(url + '/v1/events/sse?ticket=' + encodeURIComponent(ticket));
  await new Promise((ok) => window.__es.addEventListener('open', ok, {once: true}));
}"""


def outage(rig: Rig, seconds: float, baseline: bool = False) -> Outage:
    """Refuse every connection for ``seconds`` (the stream is cut at the start) and record
    each attempt; with ``baseline``, a plain EventSource tab behind its own proxy suffers
    the same outage at the same time."""
    tab, t = rig.tab, rig.timings
    if not tab.wait_status("connected", t.recover_timeout_s):
        raise RuntimeError("[outage] the tab is not connected before the outage")
    base_tab: Any = None
    base_proxy: FaultProxy | None = None
    if baseline:
        base_proxy = rig.new_proxy()
        base_tab = rig.browser.new_context(bypass_csp=True).new_page()
        guard_origin(base_tab, base_proxy.url)
        base_tab.goto(base_proxy.url + "/healthz")
        ticket = httpx.post(f"{rig.server.url}/v1/events/ticket", timeout=10, headers={
            "Authorization": f"Bearer {rig.api.token()}"}).json()["ticket"]
        base_tab.evaluate(BASELINE_PAGE, [base_proxy.url, ticket])
    mark_tickets, mark_console = len(tab.tickets), len(tab.console)
    start = time.monotonic()
    start_wall = time.time()
    for proxy in rig.proxies:
        proxy.refuse()
        proxy.cut()
    problems: list[str] = []
    try:
        deadline = start + seconds
        while time.monotonic() < deadline:
            tab.pump(min(1.0, deadline - time.monotonic()))
            if indicator(tab.page) == "connected" and not problems:
                problems.append(f"indicator said connected {time.monotonic() - start:.1f} s "
                                "into the outage")
    finally:
        for proxy in rig.proxies:
            proxy.accept()
    end = time.monotonic()
    end_wall = time.time()
    ours = [x - start for x in tab.tickets[mark_tickets:] if x <= end]
    conns = [c.opened_at - start for c in rig.proxy.attempts(since=start, until=end)]
    delays = [(int(m.group(2)), int(m.group(1))) for _ts, line in tab.console[mark_console:]
              if (m := RECONNECT_LINE.search(line))]
    base_conns: list[float] | None = None
    if base_proxy is not None:
        base_conns = [c.opened_at - start for c in base_proxy.attempts(since=start, until=end)]
    recovered = tab.wait_status("connected", BACKOFF_CAP + t.recover_timeout_s)
    log = status_log(tab.page)
    back = next((ts for ts, s in log if ts >= end_wall and s == "connected"), None)
    recovery_s = None if not recovered or back is None else back - end_wall
    bound = max_attempts(seconds)
    if len(ours) > bound:
        problems.append(f"{len(ours)} attempts in {seconds:.0f} s > backoff bound {bound}")
    for attempt, delay_ms in delays:
        if delay_ms > min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)) * 1000 + 1:
            problems.append(f"attempt {attempt} waited {delay_ms} ms, above its ceiling")
    if len(ours) < 2:
        problems.append(f"only {len(ours)} attempts in {seconds:.0f} s: the client gave up")
    if not recovered:
        problems.append("not connected again after the outage")
    if start_wall and any(s == "connected" for ts, s in log if start_wall < ts < end_wall):
        problems.append("indicator said connected during the outage")
    baseline_after: str | None = None
    if base_tab is not None:
        # Its own retry (1 s) has had time to run; CONNECTING=0, OPEN=1, CLOSED=2.
        base_tab.wait_for_timeout(3000)
        state = base_tab.evaluate("window.__es.readyState")
        baseline_after = {0: "connecting", 1: "open", 2: "closed"}.get(state, str(state))
        base_tab.context.close()
    if base_proxy is not None:
        base_proxy.stop()
        rig.proxies.remove(base_proxy)
    return Outage(seconds, ours, conns, delays, base_conns, recovery_s, bound, problems,
                  baseline_after)


# --- the whole matrix ----------------------------------------------------------------------

def run_round(browser: Any, folder: pathlib.Path, timings: Timings,
              log: Callable[[str], None] = print, faults: tuple[str, ...] = FAULTS,
              outage_s: float | None = None) -> tuple[dict[str, FaultResult], Outage | None]:
    """Every fault once: the main faults on one tab, the fresh-tab cut on a second tab of
    the same server, the token expiry on a server of its own (short ``ZARIZ_ACCESS_TTL``);
    with ``outage_s``, then the outage (with the baseline) on the main tab's server."""
    results: dict[str, FaultResult] = {}
    measured: Outage | None = None
    with rig(browser, folder / "main", timings) as main:
        for name in faults:
            if name in MAIN:
                results[name] = _guarded(main, name, MAIN[name], log)
            elif name == "cut_before_first_event":
                results[name] = _guarded(main, name, cut_before_first_event, log)
        if outage_s is not None:
            log(f"--- outage: every connection refused for {outage_s:.0f} s")
            try:
                measured = outage(main, outage_s, baseline=True)
            finally:
                main.heal()
            log(measured.line())
    if "token_expiry" in faults:
        with rig(browser, folder / "ttl", timings,
                 {"ZARIZ_ACCESS_TTL": f"{timings.access_ttl:g}"}) as short:
            results["token_expiry"] = _guarded(short, "token_expiry", token_expiry, log)
    return {name: results[name] for name in faults if name in results}, measured


def _guarded(r: Rig, name: str, fn: Callable[[Rig], FaultResult],
             log: Callable[[str], None]) -> FaultResult:
    """Run one fault; whatever happens, every fault is switched off afterwards so the next
    one starts clean. A crash becomes a result with the error as its problem."""
    try:
        result = fn(r)
    except Exception as exc:
        result = FaultResult(name, None, None, [], [], 0, 0, None,
                             [f"{type(exc).__name__}: {exc}"])
    finally:
        r.heal()
    log(result.line())
    return result


def launch(pw: Any) -> Any:
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def run(rounds: int = 3, outage_s: float = 120.0, timings: Timings = FULL,
        log: Callable[[str], None] = print, faults: tuple[str, ...] = FAULTS) -> dict[str, Any]:
    """``rounds`` rounds of ``faults`` (fresh server and tab each); the last one ends with
    the outage (and its plain-EventSource baseline). Returns what :func:`render` takes."""
    from playwright.sync_api import sync_playwright

    timings = dataclasses.replace(timings, outage_s=outage_s)
    out: dict[str, Any] = {"rounds": [], "timings": dataclasses.asdict(timings)}
    with tempfile.TemporaryDirectory(prefix="zariz-reliability-") as tmp, \
            sync_playwright() as pw:
        browser = launch(pw)
        try:
            out["chromium"] = browser.version
            for n in range(rounds):
                log(f"--- round {n + 1} of {rounds}")
                last = n == rounds - 1  # the outage closes the last round, on its server
                results, measured = run_round(browser, pathlib.Path(tmp) / f"r{n}", timings,
                                              log, faults, outage_s if last else None)
                out["rounds"].append(results)
                if measured is not None:
                    out["outage"] = measured
        finally:
            browser.close()
    return out


# --- the report ----------------------------------------------------------------------------

def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def render(result: dict[str, Any], command: str = "python -m bench.reliability") -> str:
    rounds: list[dict[str, FaultResult]] = result["rounds"]
    t = result["timings"]
    lines = [
        "## Reliability",
        "",
        f"Measured {dt.date.today().isoformat()} on this project's machine ({os.cpu_count()} "
        f"cores, {pyplatform.machine()}, Chromium {result.get('chromium')} headless). Rerun: "
        f"`make reliability` (= `{command}`). A real server behind a fault-injecting TCP "
        "proxy on loopback (`tests/support/fault_proxy.py`); the browser loads the app "
        "through the proxy, so REST and SSE both cross it. Orders are created through the "
        "API before, during and right after each fault. Server ping every "
        f"{t['ping_interval']:g} s, so the client's stall watchdog window is "
        f"{t['ping_interval'] * STALL_FACTOR:g} s. Times are medians of {len(rounds)} "
        "round(s) (each round: fresh server and tab); lost and duplicated are totals.",
        "",
        "| fault | detection (s) | recovery (s) | orders | lost | duplicated | attempts | checks |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in FAULTS:
        runs = [r[name] for r in rounds if name in r]
        if not runs:
            continue
        det = _median([r.detection_s for r in runs])
        rec = _median([r.recovery_s for r in runs])
        problems = [p for r in runs for p in r.problems]
        check = "ok" if not problems else "FAIL: " + "; ".join(sorted(set(problems)))[:300]
        lines.append(
            f"| {LABELS[name]} | {_fmt(det)} | {_fmt(rec)} | {sum(len(r.created) for r in runs)}"
            f" | {sum(len(r.lost) for r in runs)} | {sum(r.duplicated for r in runs)} | "
            f"{'/'.join(str(r.attempts) for r in runs)} | {check.replace('|', '/')} |")
    lines += [
        "",
        "Detection: fault -> the indicator leaves `connected` (n/a: the stream survives the "
        "fault, and the indicator must stay `connected`). Recovery: fault end -> `connected` "
        "(for an instantaneous fault, from the fault). Attempts: `POST /v1/events/ticket` "
        "requests from the fault to recovery, per round. Checks: no order lost or dispatched "
        "twice, the table equals `GET /v1/orders`, the indicator never says `connected` while "
        "the stream cannot be up, `zariz_sse_open_streams` back to one per tab, attempts "
        "within the backoff bound, no 401 loop.",
    ]
    o: Outage | None = result.get("outage")
    if o is not None:
        ours_pm = Outage.per_minute(o.ours, o.seconds)
        lines += [
            "",
            f"### Attempts during a {o.seconds:.0f} s outage (every connection refused)",
            "",
            "| client | attempts per minute | attempt times (s after the outage began) |",
            "|---|---|---|",
            f"| zariz (1 s base doubling to a 30 s cap, full jitter) | "
            f"{' / '.join(map(str, ours_pm))} | {', '.join(f'{x:.1f}' for x in o.ours)} |",
        ]
        if o.baseline is not None:
            base_pm = Outage.per_minute(o.baseline, o.seconds)
            shown = ", ".join(f"{x:.1f}" for x in o.baseline[:12])
            more = f", … ({len(o.baseline)} in all)" if len(o.baseline) > 12 else ""
            lines.append(f"| baseline: plain `EventSource` (browser retry, `retry: 1000`) | "
                         f"{' / '.join(map(str, base_pm))} | {shown}{more} |")
        after = {
            "closed": "closed for good (its own retry reuses the single-use ticket: 401)",
            "open": "open again", "connecting": "still retrying",
        }.get(o.baseline_after or "", "")
        delays = ", ".join(f"{a}: {d / 1000:.1f}" for a, d in o.ours_delays)
        lines += [
            "",
            f"Our logged backoff draws (attempt: seconds): {delays}. Bound for "
            f"{o.seconds:.0f} s (99.99 % of simulated full-jitter clients, + 1): {o.bound} "
            f"attempts. Back `connected` {_fmt(o.recovery_s)} s after the outage ended "
            "(the next backoff retry)"
            + (f"; 3 s after it, the plain `EventSource` was {after}. " if after else ". ")
            + ("Problems: " + "; ".join(o.problems) if o.problems else "All checks ok."),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--outage", type=float, default=120.0, help="outage seconds")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; don't rewrite README.md and bench/RESULTS.md")
    args = parser.parse_args()
    result = run(args.rounds, args.outage)
    text = render(result)
    report(text, "reliability", write=not args.no_write)
    if not args.no_write:
        write_section(README, "reliability", text, before="## Contracts others rely on")


if __name__ == "__main__":
    main()
