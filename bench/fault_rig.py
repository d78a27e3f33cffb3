"""The fault matrix's rig: a real server behind a fault-injecting proxy, the API on the
server itself, and logged-in tabs on ``/dashboard/orders`` (see ``bench/reliability.py``).

Each tab loads the app through the proxy, so REST and SSE both cross it; the API helper
talks to the server directly, so creating and listing orders never suffers the fault.
"""

from __future__ import annotations

import base64
import contextlib
import json
import pathlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from tests.browser.conftest import BOOT_TIMEOUT_MS
from tests.browser.support import guard_origin, record_status, track_dispatches
from tests.support.fault_proxy import FaultProxy
from tests.support.live_server import LiveServer

STALL_FACTOR = 2.5  # the client's watchdog: no message or ping for 2.5 x ping_interval


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
    outage_s: float = 12.0  # attempts 1 and 2 (ceilings 2 and 4 s) always fall inside
    # Timers in a busy tab on 2 shared cores fire late: detection bounds get this slack.
    slack_s: float = 1.5
    recover_timeout_s: float = 60.0
    settle_timeout_s: float = 20.0

    @property
    def stall_window(self) -> float:
        return self.ping_interval * STALL_FACTOR


FULL = Timings(refuse_s=8.0, down_s=5.0, ticket_5xx_s=8.0, offline_s=5.0, outage_s=120.0)


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

    def position(self) -> int:
        """The log's newest event id: ``last_event_id`` of ``GET /v1/orders``."""
        response = httpx.get(f"{self.server.url}/v1/orders", params={"limit": 1}, timeout=10,
                             headers={"Authorization": f"Bearer {self.token()}"})
        response.raise_for_status()
        return int(response.json()["last_event_id"])


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
        self.crashed = False  # the renderer died ("Target crashed"): the rig replaces the tab
        self.page.on("crash", lambda: setattr(self, "crashed", True))
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
        """The main tab (opened on first use, and again after its renderer crashed, so one
        crash on a loaded machine fails one measurement, not every later one)."""
        if self._tab is not None and self._tab.crashed:
            self.close_tab(self._tab)
            self._tab = None
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
