"""One stream per browser (``shared``, the default) against a stream per tab (``per-tab``,
``?sse=per-tab``), in one Chromium profile, against one server, in one run.

    python -m bench.shared_stream                       # writes bench/RESULTS.md
    python -m bench.shared_stream --handovers 5 --runs 1 --no-write

Everything runs against one real server (``LiveServer``, ``python -m server``) and one
Debian chromium. A browser context is one profile (its own Web Locks, BroadcastChannel and
six connections per origin); each tab is a page of it on ``/dashboard/orders``, logged in
through ``localStorage`` as ``tests/browser/test_shared_stream.py`` does.

1. **Streams per browser.** For 1, 4 and 8 tabs, a fresh profile opens tabs one after
   another, as an operator does: the next tab once the previous one shows ``connected``, or
   once it is clear it will not: its page got no response within ``--tab-timeout`` s (over
   HTTP/1.1 the 7th per-tab tab waits for a connection six streams hold), or it loaded but
   did not connect within the tests' boot bound. Per mode: the server's
   ``zariz_sse_open_streams``, the tabs that reached ``connected``, the tabs that did not
   load, the time from the first navigation to the last tab showing ``connected``, and each
   tab's navigation -> connected on the tab's own clock (``performance.timeOrigin`` to the
   indicator's first ``data-status=connected``), also split at the moment the app mounted
   its indicator. Medians of ``--runs`` runs.
2. **Hand-over.** Three tabs in shared mode; ``--handovers`` times: close the leader tab
   (``page.close()``), create an order right after, and time, from the close: (a) a
   surviving tab reporting role ``leader`` (its own clock, from a status listener in the
   page), the new leader's stream ``connected``, (b) the server gauge back at 1 with the new
   stream (``/metrics`` scraped every 20 ms in a thread: the open-stream gauge and the
   streams-opened counter, one scrape), (c) the order reaching the first and every surviving
   tab (dispatch times stamped in the page). Then a fresh tab keeps three open; its
   navigation -> connected is what a new tab costs in shared mode. The per-tab baseline runs
   the same rounds in a ``?sse=per-tab`` profile: closing a tab hands nothing over, so the
   others pay nothing (checked: their indicators stay ``connected``); what a per-tab user
   pays instead is each new tab's own stream, navigation -> connected.
3. **Exactly once.** Orders are created throughout both series (one every
   ``--flow-interval`` s, plus one before and one right after every close). A subscriber in
   every tab records each dispatch (``track_dispatches``); every order created while a tab
   was tracking (up to the barrier order it saw before it closed, or the last one) must
   have reached it exactly once, and no event id may be dispatched twice.

No ``page.route`` here (unlike the tests' ``open_tab``): the sync API runs route handlers
only while Python is inside a Playwright call, so routed requests (the new leader's ticket
and stream) would wait for our polling and we would time that. The browser is kept on
loopback by a dead proxy instead (Chromium never proxies loopback). Every wait is bounded,
and no configuration or round starts after ``--max-s`` (what was measured is reported), so
the run stops by itself. About 11 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import pathlib
import platform as pyplatform
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.results import report
from tests.browser.conftest import BOOT_TIMEOUT_MS, CHROMIUM, CHROMIUM_ARGS
from tests.browser.support import dispatches, run_py, stats, track_dispatches
from tests.support.live_server import LiveServer

SECTION = "shared-stream"
PAGE = "/dashboard/orders"
MODES = ("shared", "per-tab")
TAB_COUNTS = (1, 4, 8)
SERIES_TABS = 3
OPEN_STREAMS = "zariz_sse_open_streams"
STREAMS_OPENED = "zariz_sse_streams_opened_total"
SERVER_ENV = {
    # A token refresh reconnects the leader: not a hand-over, so none during the run.
    "ZARIZ_ACCESS_TTL": "3600",
    "ZARIZ_LOG_LEVEL": "warning",  # no access log line per request on the 2 shared cores
}
# Anything not on loopback goes to a closed port; Chromium bypasses proxies for loopback.
LOOPBACK_ONLY = ["--proxy-server=http://127.0.0.1:9"]
WAIT_S = 15.0  # any one fact of a hand-over or a barrier; a miss is recorded, not a hang
SCRAPE_S = 0.02

# Every change of the indicator's data-status and the moment the app has mounted (the
# skeleton's #app data-boot turns "ready"), stamped by the tab's clock, from the first DOM
# node on (an init script: a tab's navigation -> connected needs its start too).
INDICATOR_LOG = """(() => {
  const log = window.__benchIndicator = [];
  let last = null;
  const note = () => {
    if (!window.__benchMounted && document.getElementById('app')?.dataset.boot === 'ready')
      window.__benchMounted = Date.now();
    const el = document.querySelector('[data-testid=sse-status]');
    const s = el ? el.dataset.status : null;
    if (s !== last) { last = s; log.push([Date.now(), s]); }
  };
  new MutationObserver(note).observe(document, {subtree: true, childList: true,
    attributes: true, attributeFilter: ['data-status', 'data-boot']});
})();"""
CONNECTED_JS = "() => (window.__benchIndicator || []).some(e => e[1] === 'connected')"
FIRST_CONNECTED_JS = """() => {
  const live = (window.__benchIndicator || []).find(e => e[1] === 'connected');
  return live ? [live[0], window.__benchMounted || null, performance.timeOrigin] : null;
}"""
# Every status change of the tab's client with its role then (lead() sets the role before
# the status moves), stamped by the tab's clock: when a follower became the leader.
ROLE_LOG = """
import json
import js
from zariz.boot import runtime
__zariz_bench_client = runtime().client
def __zariz_bench_role(status):
    js.window.__benchRoles.push(js.JSON.parse(json.dumps(
        [js.Date.now(), str(status), str(__zariz_bench_client.role)])))
js.window.__benchRoles = js.Array.new()
import builtins
builtins.__zariz_bench_role_off = __zariz_bench_client.on_status(__zariz_bench_role)
"""
ROLES_JS = "() => Array.from(window.__benchRoles || [])"
HAS_LEADER_JS = "() => (window.__benchRoles || []).some(e => e[2] === 'leader')"
HAS_ORDER_JS = "id => (window.__dispatched || []).some(d => d.order === id)"
ORDER_AT_JS = """id => {
  const d = (window.__dispatched || []).find(d => d.order === id);
  return d ? d.at : null;
}"""


# -- plumbing -------------------------------------------------------------------------------


def _eventually(predicate: Callable[[], Any], timeout: float, step: float = 0.05) -> bool:
    """Like ``tests.browser.support.wait_until`` but a miss is a result, not an error."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def expired(self) -> bool:
        return time.monotonic() > self._end


@dataclass
class Scrape:
    at: float  # time.time()
    open: float
    opened: float


class Gauges:
    """``/metrics`` every ``interval`` s in a thread: the open-stream gauge and the
    streams-opened counter of one scrape, timestamped. (``GaugeSampler`` in
    tests/browser/support.py keeps neither times nor the counter; a hand-over needs both to
    tell the new leader's stream from the old one not yet noticed gone.)"""

    def __init__(self, url: str, interval: float = SCRAPE_S) -> None:
        self.url = url
        self.interval = interval
        self.samples: list[Scrape] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gauges", daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=2) as http:
            while not self._stop.is_set():
                try:
                    text = http.get("/metrics").text
                except httpx.HTTPError:
                    self.errors += 1
                else:
                    values = {OPEN_STREAMS: 0.0, STREAMS_OPENED: 0.0}
                    for family in text_string_to_metric_families(text):
                        for sample in family.samples:
                            if sample.name in values:
                                values[sample.name] = sample.value
                    self.samples.append(Scrape(time.time(), values[OPEN_STREAMS],
                                               values[STREAMS_OPENED]))
                self._stop.wait(self.interval)

    def latest(self) -> Scrape | None:
        return self.samples[-1] if self.samples else None

    def since(self, t0: float) -> list[Scrape]:
        out = []
        for s in reversed(self.samples):  # newest first: a round looks at its last seconds
            if s.at < t0:
                break
            out.append(s)
        return out[::-1]

    def __enter__(self) -> Gauges:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Orders:
    """Orders created through the API, in creation order (ids ascend), from the main thread
    and from a flow thread (one every ``interval`` s while it runs). ``paused()`` holds the
    flow while a tab starts tracking, so "created after tracking began" is exact."""

    def __init__(self, server: LiveServer, interval: float) -> None:
        self.server = server
        self.interval = interval
        self.token = str(server.login()["access_token"])
        self.ids: list[int] = []
        self.failed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def create(self, customer: str) -> int:
        with self._lock:
            oid = int(self.server.create_order(self.token, customer=customer)["id"])
            self.ids.append(oid)
            return oid

    @contextlib.contextmanager
    def paused(self) -> Iterator[int]:
        """Hold the flow; yields how many orders exist so far."""
        with self._lock:
            yield len(self.ids)

    def _flow(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.create("flow")
            except httpx.HTTPError:
                self.failed += 1  # such an order may exist unlisted: reported as "unknown"

    def start_flow(self) -> None:
        if self.interval > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._flow, name="orders", daemon=True)
            self._thread.start()

    def stop_flow(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None


def launch(pw: Any) -> Any:
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + LOOPBACK_ONLY)


def new_profile(browser: Any, server: LiveServer) -> Any:
    """A browser context (one profile) whose tabs start logged in and log their indicator."""
    tokens = server.login()
    state = json.dumps(
        {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"]}
    )
    context = browser.new_context(viewport={"width": 1100, "height": 700})
    context.add_init_script(
        f"if (!localStorage.getItem('zariz.auth')) "
        f"localStorage.setItem('zariz.auth', {json.dumps(state)})"
    )
    context.add_init_script(INDICATOR_LOG)
    return context


def page_url(server: LiveServer, mode: str) -> str:
    return server.url + PAGE + ("?sse=per-tab" if mode == "per-tab" else "")


@dataclass
class TabOpen:
    outcome: str  # "connected" | "did not load" | "loaded, not connected" | "did not boot"
    open_s: float | None = None  # navigation -> the indicator shows connected (tab's clock)
    mounted_s: float | None = None  # navigation -> the indicator first shown (app mounted)
    connected_at: float | None = None  # epoch seconds
    detail: str = ""

    @property
    def wait_s(self) -> float | None:
        """Mounted -> connected: the stream's (or the leader's word's) share of ``open_s``,
        apart from booting Pyodide, which the machine's load stretches."""
        if self.open_s is None or self.mounted_s is None:
            return None
        # The stream may open before the UI has mounted (boot starts it first): 0 then.
        return max(self.open_s - self.mounted_s, 0.0)


def open_tab(context: Any, url: str, load_s: float,
             connect_s: float = BOOT_TIMEOUT_MS / 1000) -> tuple[Any, TabOpen]:
    """A new tab on ``url``: ``load_s`` for the page's response to begin, then
    ``connect_s`` to show ``connected``; never longer."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = context.new_page()
    try:
        # "commit": the response has begun. Over HTTP/1.1 with six streams of this profile
        # open, the page's own request waits for a connection and never gets this far.
        page.goto(url, wait_until="commit", timeout=load_s * 1000)
    except PlaywrightTimeout:
        return page, TabOpen("did not load", detail=f"no response within {load_s:g} s")
    try:
        page.wait_for_function(CONNECTED_JS, timeout=connect_s * 1000, polling=100)
    except PlaywrightTimeout:
        try:
            booted = page.evaluate("document.getElementById('app')?.dataset.boot === 'ready'")
            shown = page.evaluate(
                "document.querySelector('[data-testid=sse-status]')?.innerText || ''")
        except PlaywrightError as exc:
            booted, shown = False, f"({type(exc).__name__})"
        outcome = "loaded, not connected" if booted else "did not boot"
        return page, TabOpen(outcome, detail=" ".join(str(shown).split())[:80])
    at, mounted, origin = page.evaluate(FIRST_CONNECTED_JS)
    return page, TabOpen("connected", (at - origin) / 1000,
                         None if mounted is None else (mounted - origin) / 1000, at / 1000)


def client_status(page: Any) -> str | None:
    from playwright.sync_api import Error as PlaywrightError

    try:
        value = page.evaluate("window.__zarizSSEClient ? __zarizSSEClient.status : null")
    except PlaywrightError:  # the tab is gone
        return None
    return None if value is None else str(value)


# -- 1. streams per browser -----------------------------------------------------------------


def streams_per_browser(browser: Any, server: LiveServer, mode: str, tabs: int,
                        tab_timeout: float) -> dict[str, Any]:
    context = new_profile(browser, server)
    try:
        url = page_url(server, mode)
        first = time.time()
        pages, opens = [], []
        for _ in range(tabs):
            page, opened = open_tab(context, url, tab_timeout)
            pages.append(page)
            opens.append(opened)
        connected = [o for o in opens if o.outcome == "connected"]
        expected = 1 if mode == "shared" else len(connected)
        _eventually(lambda: server.metric(OPEN_STREAMS) == expected, 5)  # let it settle
        gauge = server.metric(OPEN_STREAMS)
        # A page that did not load is still navigating: evaluate() would wait for it.
        statuses = [None if o.outcome == "did not load" else client_status(p)
                    for p, o in zip(pages, opens, strict=True)]
        roles = [str(stats(p)["role"]) if s is not None else None
                 for p, s in zip(pages, statuses, strict=True)]
        done = [o.connected_at for o in connected if o.connected_at is not None]
        leaders = roles.count("leader")
        problem = None
        if mode == "shared" and (leaders != 1 or roles.count("follower") != len(connected) - 1):
            problem = f"roles {roles}"
        return {
            "problem": problem,
            "mode": mode, "tabs": tabs, "gauge": gauge,
            "connected_now": statuses.count("connected"),
            "roles": roles,
            "outcomes": [dataclasses.asdict(o) for o in opens],
            "open_s": [o.open_s for o in connected if o.open_s is not None],
            "wait_s": [o.wait_s for o in connected if o.wait_s is not None],
            "all_connected_s": (max(done) - first) if len(done) == tabs else None,
        }
    finally:
        context.close()
        # The next configuration starts from zero streams (the server noticed the closes).
        _eventually(lambda: server.metric(OPEN_STREAMS) == 0, 10)


# -- 2 and 3. hand-over series --------------------------------------------------------------


@dataclass
class Tracked:
    """A tab and the orders it must get: ``Orders.ids[since:until]`` (until: the end of
    the run for a tab still open)."""

    page: Any
    label: str
    since: int
    until: int | None = None
    seen: list[dict[str, Any]] | None = None
    open: bool = True


@dataclass
class Round:
    close_s: float  # page.close() itself
    leader_s: float | None = None  # (a) a surviving tab reports role leader
    streaming_s: float | None = None  # the new leader's stream connected
    gauge_s: float | None = None  # (b) the gauge back at the steady count, new stream in
    first_tab_s: float | None = None  # (c) the order after the close, first surviving tab
    all_tabs_s: float | None = None  # (c) ... every surviving tab
    max_gauge: float = 0.0  # most streams the server counted during the round
    others_dropped: int = 0  # surviving tabs whose indicator left connected
    new_tab_s: float | None = None  # the fresh tab: navigation -> connected
    new_tab_wait_s: float | None = None  # ... of which mounted -> connected
    new_tab_role: str | None = None
    problems: list[str] = field(default_factory=list)


class Series:
    """``size`` tabs of one profile in ``mode``; each :meth:`round` closes one (shared:
    the leader; per-tab: the oldest) and opens a fresh one."""

    def __init__(self, browser: Any, server: LiveServer, orders: Orders, gauges: Gauges,
                 mode: str, size: int, tab_timeout: float) -> None:
        self.server, self.orders, self.gauges = server, orders, gauges
        self.mode, self.size, self.tab_timeout = mode, size, tab_timeout
        self.url = page_url(server, mode)
        self.context = new_profile(browser, server)
        self.tabs: list[Tracked] = []
        self.rounds: list[Round] = []
        self.initial: list[TabOpen] = []
        self.problems: list[str] = []
        self.stopped: str | None = None

    @property
    def steady(self) -> int:
        """Streams the server should count with every tab open."""
        return 1 if self.mode == "shared" else self.size

    def live(self) -> list[Tracked]:
        return [t for t in self.tabs if t.open]

    def add_tab(self, label: str) -> tuple[TabOpen, Tracked | None]:
        page, opened = open_tab(self.context, self.url, self.tab_timeout)
        if opened.outcome != "connected":
            page.close()
            return opened, None
        with self.orders.paused() as since:
            track_dispatches(page)
            run_py(page, ROLE_LOG)
            tracked = Tracked(page, label, since)
        self.tabs.append(tracked)
        return opened, tracked

    def barrier(self) -> int | None:
        """Create an order and wait until every open tab dispatched it; its index in
        ``Orders.ids`` (everything up to it reached those tabs: a stream is in order)."""
        oid = self.orders.create("barrier")
        live = self.live()
        if not _eventually(lambda: all(t.page.evaluate(HAS_ORDER_JS, oid) for t in live),
                           WAIT_S):
            self.problems.append(f"barrier order {oid} missing in a tab after {WAIT_S:g} s")
            return None
        return self.orders.ids.index(oid)

    def start(self) -> bool:
        for n in range(self.size):
            opened, tracked = self.add_tab(f"{self.mode}-{n}")
            if tracked is None:
                self.stopped = f"tab {n + 1} of {self.size}: {opened.outcome}"
                return False
            self.initial.append(opened)
        return _eventually(lambda: self.server.metric(OPEN_STREAMS) == self.steady, WAIT_S)

    def victim(self) -> Tracked | None:
        live = self.live()
        if self.mode == "per-tab":
            return live[0]
        roles = [str(stats(t.page)["role"]) for t in live]
        if roles.count("leader") != 1 or roles.count("follower") != len(live) - 1:
            self.problems.append(f"roles before a close: {roles}")
            return None
        return live[roles.index("leader")]

    def round(self, n: int) -> bool:
        """One close and one fresh tab; False when the series cannot go on."""
        victim = self.victim()
        index = self.barrier()
        if victim is None or index is None:
            self.stopped = f"round {n + 1}: no single leader or a barrier missed"
            return False
        victim.seen, victim.until = dispatches(victim.page), index + 1
        survivors = [t for t in self.live() if t is not victim]
        opened_before = self.server.metric(STREAMS_OPENED)
        t0 = time.time()
        victim.page.close()
        victim.open = False
        r = Round(close_s=time.time() - t0)
        oid = self.orders.create("after-close")

        def settled() -> bool:
            if self.mode == "shared" and not any(
                    t.page.evaluate(HAS_LEADER_JS) for t in survivors):
                return False
            if not any(s.open == self.steady - (0 if self.mode == "shared" else 1)
                       and (s.opened > opened_before or self.mode == "per-tab")
                       for s in self.gauges.since(t0)):
                return False
            return all(t.page.evaluate(HAS_ORDER_JS, oid) for t in survivors)

        if not _eventually(settled, WAIT_S, step=0.02):
            r.problems.append(f"not settled within {WAIT_S:g} s")
        self._measure(r, t0, survivors, oid, opened_before)
        opened, tracked = self.add_tab(f"{self.mode}-{len(self.tabs)}")
        r.new_tab_s, r.new_tab_wait_s = opened.open_s, opened.wait_s
        if tracked is None:
            r.problems.append(f"the fresh tab: {opened.outcome} {opened.detail}")
            self.rounds.append(r)
            self.stopped = f"round {n + 1}: a fresh tab {opened.outcome}"
            return False
        r.new_tab_role = str(stats(tracked.page)["role"])
        self.rounds.append(r)
        return True

    def _measure(self, r: Round, t0: float, survivors: list[Tracked], oid: int,
                 opened_before: float) -> None:
        after = self.gauges.since(t0)
        r.max_gauge = max((s.open for s in after), default=0.0)
        if self.mode == "shared":
            # Date.now() has whole milliseconds: an entry in t0's millisecond counts.
            became = [e for t in survivors for e in t.page.evaluate(ROLES_JS)
                      if e[2] == "leader" and e[0] / 1000 >= t0 - 0.001]
            if became:
                r.leader_s = min(e[0] for e in became) / 1000 - t0
            streaming = [e[0] for e in became if e[1] == "connected"]
            if streaming:
                r.streaming_s = min(streaming) / 1000 - t0
            back = [s.at for s in after if s.open == 1 and s.opened > opened_before]
        else:
            back = [s.at for s in after if s.open == self.size - 1]
            for t in survivors:
                log = t.page.evaluate("() => Array.from(window.__benchIndicator || [])")
                if any(e[0] / 1000 >= t0 and e[1] != "connected" for e in log):
                    r.others_dropped += 1
        if back:
            r.gauge_s = min(back) - t0
        reached = [t.page.evaluate(ORDER_AT_JS, oid) for t in survivors]
        if all(at is not None for at in reached):
            r.first_tab_s = min(reached) / 1000 - t0
            r.all_tabs_s = max(reached) / 1000 - t0

    def finish(self) -> None:
        """A last barrier; the open tabs' dispatches are read after it."""
        index = self.barrier()
        for t in self.live():
            t.seen = dispatches(t.page)
            t.until = None if index is None else index + 1

    def close(self) -> None:
        self.context.close()


def check_exactly_once(tabs: list[Tracked], ids: list[int]) -> dict[str, Any]:
    """Every order created while a tab tracked (up to its ``until``) dispatched to it once;
    no order event id dispatched twice; nothing the run did not create."""
    created = set(ids)
    expected = lost = duplicated = unknown = 0
    notes: list[str] = []
    for t in tabs:
        seen = t.seen or []
        must = ids[t.since:t.until]
        got = Counter(d["order"] for d in seen if d["event"] == "order.created")
        events = Counter(d["id"] for d in seen if str(d["event"]).startswith("order."))
        missing = [o for o in must if got[o] == 0]
        doubled = sorted({o for o, c in got.items() if c > 1}
                         | {e for e, c in events.items() if c > 1})
        extra = [o for o in got if o not in created]
        expected += len(must)
        lost += len(missing)
        duplicated += len(doubled)
        unknown += len(extra)
        if missing or doubled or extra:
            notes.append(f"{t.label}: lost {missing[:5]} doubled {doubled[:5]} "
                         f"unknown {extra[:5]}")
    return {"tabs": len(tabs), "orders": len(ids), "expected": expected, "lost": lost,
            "duplicated": duplicated, "unknown": unknown, "notes": notes}


def run_series(browser: Any, server: LiveServer, gauges: Gauges, mode: str, rounds: int,
               size: int, tab_timeout: float, flow_interval: float, deadline: Deadline,
               log: Callable[[str], None]) -> dict[str, Any]:
    orders = Orders(server, flow_interval)
    series = Series(browser, server, orders, gauges, mode, size, tab_timeout)
    try:
        if series.start():
            orders.start_flow()
            for n in range(rounds):
                if deadline.expired():
                    series.stopped = f"time budget ({deadline.seconds:g} s) spent"
                    break
                ok = series.round(n)
                if series.rounds:
                    r = series.rounds[-1]
                    log(f"[{mode}] round {n + 1}: leader {_s(r.leader_s)} stream "
                        f"{_s(r.streaming_s)} gauge {_s(r.gauge_s)} order {_s(r.all_tabs_s)} "
                        f"new tab {_s(r.new_tab_s)} {'; '.join(r.problems)}")
                if not ok:
                    break
        elif series.stopped is None:
            series.stopped = f"the gauge never read {series.steady} with every tab open"
        orders.stop_flow()
        if series.live():
            series.finish()
        checked = check_exactly_once(series.tabs, orders.ids)
        checked["flow_failed"] = orders.failed
    finally:
        orders.stop_flow()
        series.close()
        _eventually(lambda: server.metric(OPEN_STREAMS) == 0, 10)
    return {
        "mode": mode, "planned": rounds,
        "rounds": [dataclasses.asdict(r) for r in series.rounds],
        "size": series.size, "initial": [dataclasses.asdict(o) for o in series.initial],
        "problems": series.problems,
        "stopped": series.stopped, "exactly_once": checked,
    }


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


# -- the run --------------------------------------------------------------------------------


def run(handovers: int = 20, runs: int = 3, tab_counts: tuple[int, ...] = TAB_COUNTS,
        tab_timeout: float = 20.0, flow_interval: float = 0.5, max_s: float = 1800.0,
        series_tabs: int = SERIES_TABS, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Everything against one server and one browser; returns what :func:`render` takes."""
    from playwright.sync_api import sync_playwright

    deadline = Deadline(max_s)
    out: dict[str, Any] = {
        "handovers": handovers, "runs": runs, "tab_counts": list(tab_counts),
        "tab_timeout": tab_timeout, "flow_interval": flow_interval, "max_s": max_s,
        "series_tabs": series_tabs,
        "load_before": os.getloadavg()[0], "matrix": [], "series": {},
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="zariz-shared-stream-") as tmp, \
            sync_playwright() as pw:
        server = LiveServer(pathlib.Path(tmp), env=SERVER_ENV)
        server.start()
        browser = launch(pw)
        try:
            out["chromium"] = browser.version
            for n in range(runs):
                for tabs in tab_counts:
                    for mode in MODES:  # interleaved: drift on the machine hits both
                        if deadline.expired():
                            out["matrix_stopped"] = f"time budget ({max_s:g} s) spent"
                            break
                        load = os.getloadavg()[0]
                        row = streams_per_browser(browser, server, mode, tabs, tab_timeout)
                        row["run"], row["load"] = n, load
                        out["matrix"].append(row)
                        log(f"[run {n + 1}] {tabs} tab(s) {mode}: gauge {row['gauge']:g}, "
                            f"{row['connected_now']}/{tabs} connected, all in "
                            f"{_s(row['all_connected_s'])}; "
                            + ", ".join(o["outcome"] for o in row["outcomes"]))
            with Gauges(server.url) as gauges:
                for mode in MODES:
                    out["series"][mode] = run_series(browser, server, gauges, mode,
                                                     handovers, series_tabs, tab_timeout,
                                                     flow_interval,
                                                     deadline, log)
                out["scrape_errors"] = gauges.errors
        finally:
            browser.close()
            server.stop()
    out["elapsed_s"] = time.monotonic() - started
    out["load_after"] = os.getloadavg()[0]
    return out


# -- the report -----------------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _med_max(values: list[float]) -> str:
    """``median | max`` cells."""
    return f"{_f(_median(values))} | {_f(max(values) if values else None)}"


def _same(values: list[Any]) -> str:
    shown = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    return shown[0] if len(set(shown)) == 1 else " / ".join(shown)


def _matrix_lines(result: dict[str, Any]) -> list[str]:
    lines = [
        "| tabs | mode | server streams | tabs connected | did not load | "
        "all connected (s) | tab open median (s) | max (s) | mounted -> connected median "
        "(s) | max (s) |",
        "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    timeout = result["tab_timeout"]
    for tabs in result["tab_counts"]:
        for mode in MODES:
            rows = [r for r in result["matrix"] if r["tabs"] == tabs and r["mode"] == mode]
            if not rows:
                continue
            failed = sorted({i + 1 for r in rows for i, o in enumerate(r["outcomes"])
                             if o["outcome"] == "did not load"})
            other = sorted({f"tab {i + 1}: {o['outcome']} ({o['detail']})"
                            for r in rows for i, o in enumerate(r["outcomes"])
                            if o["outcome"] not in ("connected", "did not load")})
            not_loaded = (f"tabs {', '.join(map(str, failed))}: no response in {timeout:g} s"
                          if failed else "none")
            if other:
                not_loaded += "; " + "; ".join(other)
            alls = [r["all_connected_s"] for r in rows if r["all_connected_s"] is not None]
            all_cell = _f(_median(alls)) if len(alls) == len(rows) else (
                "never" if not alls else f"{_f(_median(alls))} ({len(alls)}/{len(rows)} runs)")
            if len(alls) > 1:  # the machine's load moves these: show every run
                all_cell += f" ({', '.join(_f(a, 1) for a in alls)})"
            opens = [s for r in rows for s in r["open_s"]]
            waits = [s for r in rows for s in r["wait_s"]]
            lines.append(
                f"| {tabs} | {mode} | {_same([r['gauge'] for r in rows])} | "
                f"{_same([str(r['connected_now']) for r in rows])}/{tabs} | "
                f"{not_loaded.replace('|', '/')} | {all_cell} | {_med_max(opens)} | "
                f"{_med_max(waits)} |")
    return lines


def _values(rounds: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key] for r in rounds if r[key] is not None]


def render(result: dict[str, Any], command: str = "python -m bench.shared_stream") -> str:
    empty: dict[str, Any] = {"rounds": [], "size": result["series_tabs"]}
    shared = result["series"].get("shared", empty)
    per_tab = result["series"].get("per-tab", empty)
    sr, pr = shared["rounds"], per_tab["rounds"]
    size = result["series_tabs"]
    runs = len({r["run"] for r in result["matrix"]})
    loads: dict[int, list[float]] = {}
    for r in result["matrix"]:
        if "load" in r:
            loads.setdefault(r["run"], []).append(r["load"])
    load_note = "; 1-minute load average at the start of each configuration, per run: " + (
        ", ".join(f"run {k + 1} {min(v):.1f}-{max(v):.1f}" for k, v in sorted(loads.items()))
    ) if loads else ""
    lines = [
        "## One stream per browser: shared vs per-tab",
        "",
        f"Measured {dt.date.today().isoformat()} on this project's machine ({os.cpu_count()} "
        f"cores, {pyplatform.machine()}, Python {pyplatform.python_version()}, Chromium "
        f"{result.get('chromium')} headless; 1-minute load average {result['load_before']:.1f}"
        f" before and {result['load_after']:.1f} after: other sessions' test runs shared "
        "the cores, which stretches Pyodide's boot in every tab open time below). "
        f"Rerun: `make shared-stream` (= `{command}`); it took "
        f"{result['elapsed_s'] / 60:.0f} min. One server (`python -m server`, HTTP/1.1, "
        "ping every 15 s) and one browser for everything; each configuration is a fresh "
        "browser context (one profile: its own Web Locks, BroadcastChannel and six "
        "connections per origin) with its tabs on `/dashboard/orders`; `per-tab` is "
        "`?sse=per-tab`, `shared` the default.",
        "",
        _summary(result),
        "",
        f"### Streams per browser ({runs} run(s); times are medians over runs and tabs)",
        "",
        "Tabs opened one after another, as an operator does: the next one once the previous "
        f"shows `connected` (a tab whose page gets no response in {result['tab_timeout']:g} "
        f"s did not load; the next one is opened then){load_note}.",
        "",
        *_matrix_lines(result),
        "",
        "Server streams: `zariz_sse_open_streams` with every tab open (one value per run "
        "when they differ). Tabs connected: tabs whose client status is `connected` at the "
        "end. All connected: first navigation -> the last tab's indicator shows `connected` "
        "(`never`: some tab never did). Tab open: a tab's navigation -> its indicator first "
        "shows `connected`, on the tab's own clock (from `performance.timeOrigin`); mounted "
        "-> connected is the part after the app has mounted its indicator (Pyodide's boot "
        "excluded). In `shared` mode the first tab is the leader (its own stream), the "
        "others are followers that show the leader's relayed status.",
        "",
        f"### Hand-over ({size} tabs, the leader closed {len(sr)} times)",
        "",
        "Each round: an order reaches every tab, the leader tab is closed (`page.close()`), "
        f"an order is created right after, then a fresh tab keeps {size} open. Orders flow "
        f"throughout (one every {result['flow_interval']:g} s). Baseline: the same rounds "
        "in a `per-tab` profile, closing its oldest tab.",
        "",
        "| from `page.close()` to | shared median (s) | shared max (s) | n | "
        "per-tab median (s) | per-tab max (s) | n |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    none = f"0 (nothing to hand over) | 0 | {len(pr)}"
    rows = [
        ("a surviving tab reports role `leader` (a)", "leader_s", none),
        ("the new leader's stream is `connected`", "streaming_s", none),
        (f"the server gauge settles (b): shared back at 1, the new leader's stream counted; "
         f"per-tab at {size - 1}, the closed tab's stream gone", "gauge_s", None),
        ("an order created right after the close reaches the first surviving tab (c)",
         "first_tab_s", None),
        ("... and every surviving tab", "all_tabs_s", None),
    ]
    for label, key, fixed in rows:
        values = _values(sr, key)
        if fixed is None:
            base = _values(pr, key)
            fixed = f"{_med_max(base)} | {len(base)}"
        lines.append(f"| {label} | {_med_max(values)} | {len(values)} | {fixed} |")
    closes = _values(sr, "close_s")
    dropped = sum(r["others_dropped"] for r in pr)
    most = max((r["max_gauge"] for r in sr), default=None)
    lines += [
        "",
        f"`page.close()` itself took {_f(_median(closes))} s (max "
        f"{_f(max(closes) if closes else None)}); it is inside every time above. (b) is the "
        f"first {SCRAPE_S * 1000:.0f} ms scrape of `/metrics` (gauge and streams-opened "
        "counter of one scrape) that shows it, so it includes up to one scrape interval. "
        f"Most streams the server counted at once during a shared hand-over: {_f(most, 0)}. "
        "Per-tab: closing a tab costs the other tabs nothing (0 s): their streams are "
        f"untouched (their indicators left `connected` {dropped} time(s) in "
        f"{len(pr) * (size - 1)} tab-rounds), and the order after the close reached them "
        "over their own streams.",
        "",
        "### What each new tab pays (navigation -> its indicator shows `connected`)",
        "",
        "| mode | median (s) | max (s) | mounted -> connected median (s) | max (s) | n |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for rounds, label in (
        (sr, "shared: a follower (no stream of its own; shows the leader's status)"),
        (pr, "per-tab: its own stream (the baseline)"),
    ):
        opens = _values(rounds, "new_tab_s")
        lines.append(f"| {label} | {_med_max(opens)} | "
                     f"{_med_max(_values(rounds, 'new_tab_wait_s'))} | {len(opens)} |")
    roles = Counter(r["new_tab_role"] for r in sr)
    lines += [
        "",
        "The fresh tab of each hand-over round, opened while the others run and orders flow; "
        f"roles of the fresh shared tabs: {', '.join(f'{k} {v}' for k, v in roles.items())}.",
        "",
        "### Exactly once across the hand-overs",
        "",
        "| series | tabs | orders created | (tab, order) deliveries due | lost | duplicated | "
        "unknown |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        s = result["series"].get(mode)
        if s is not None:
            e = s["exactly_once"]
            lines.append(f"| {mode} | {e['tabs']} | {e['orders']} | {e['expected']} | "
                         f"{e['lost']} | {e['duplicated']} | {e['unknown']} |")
    lines += [
        "",
        "Due: every order created while the tab was tracking (a subscriber installed once it "
        "showed `connected`, the order flow held meanwhile), up to the last order it was "
        "seen to get before it closed, or to the end of the series. Lost: due, never "
        "dispatched; duplicated: an order (or an order event id) dispatched twice to one "
        "tab; unknown: an order the run did not create.",
        "",
        _problems(result),
    ]
    return "\n".join(lines) + "\n"


def _summary(result: dict[str, Any]) -> str:
    """The section's first sentences, from the numbers below."""
    counts = [t for t in result["tab_counts"]
              if any(r["tabs"] == t for r in result["matrix"])]
    parts = []
    for mode in MODES:
        streams, connected = [], []
        for tabs in counts:
            rows = [r for r in result["matrix"] if r["tabs"] == tabs and r["mode"] == mode]
            streams.append(_same([r["gauge"] for r in rows]) if rows else "n/a")
            connected.append(_same([str(r["connected_now"]) for r in rows]) if rows else "n/a")
        parts.append(f"`{mode}` {' / '.join(streams)} (tabs connected: "
                     f"{' / '.join(connected)})")
    text = (f"**In short.** Server streams for {' / '.join(map(str, counts))} tabs of one "
            f"browser: {', '.join(parts)}.")
    shared = result["series"].get("shared")
    if shared and shared["rounds"]:
        new = _values(shared["rounds"], "streaming_s")
        every = _values(shared["rounds"], "all_tabs_s")
        text += (f" Closing the leader: the new leader streams {_f(_median(new))} s after "
                 f"(median; max {_f(max(new) if new else None)}) and an order created right "
                 f"after the close reaches every surviving tab in {_f(_median(every))} s "
                 f"(max {_f(max(every) if every else None)}).")
    lost = sum(s["exactly_once"]["lost"] + s["exactly_once"]["duplicated"]
               for s in result["series"].values())
    due = sum(s["exactly_once"]["expected"] for s in result["series"].values())
    if due:
        text += (f" Lost or duplicated deliveries across the hand-overs: {lost} of {due}.")
    return text


def _problems(result: dict[str, Any]) -> str:
    issues = [f"{r['tabs']} tab(s) {r['mode']} run {r['run'] + 1}: {r['problem']}"
              for r in result["matrix"] if r.get("problem")]
    if result.get("matrix_stopped"):
        issues.append(f"streams per browser stopped: {result['matrix_stopped']}")
    for mode in MODES:
        s = result["series"].get(mode)
        if s is None:
            continue
        if s["stopped"]:
            issues.append(f"{mode} series stopped: {s['stopped']}")
        issues += [f"{mode}: {p}" for p in s["problems"]]
        issues += [f"{mode} round {i + 1}: {p}" for i, r in enumerate(s["rounds"])
                   for p in r["problems"]]
        issues += [f"{mode}: {n}" for n in s["exactly_once"]["notes"]]
        if s["exactly_once"].get("flow_failed"):
            issues.append(f"{mode}: {s['exactly_once']['flow_failed']} order requests failed")
    if result.get("scrape_errors"):
        issues.append(f"{result['scrape_errors']} `/metrics` scrapes failed")
    if not issues:
        return "No problems recorded (every wait met, every check passed)."
    return "Problems: " + "; ".join(i.replace("|", "/") for i in issues)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--handovers", type=int, default=20, help="closes per series")
    parser.add_argument("--runs", type=int, default=3, help="runs of the tab-count matrix")
    parser.add_argument("--tabs", default=",".join(map(str, TAB_COUNTS)),
                        help="tab counts of the matrix, comma-separated")
    parser.add_argument("--tab-timeout", type=float, default=20.0,
                        help="seconds a tab's page gets to start loading")
    parser.add_argument("--flow-interval", type=float, default=0.5,
                        help="seconds between orders created during the series (0: none)")
    parser.add_argument("--max-s", type=float, default=1800.0,
                        help="start no new configuration or round after this many seconds")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; don't rewrite bench/RESULTS.md")
    parser.add_argument("--raw", type=pathlib.Path, default=None,
                        help="also save the raw result as JSON here")
    args = parser.parse_args(argv)
    counts = tuple(int(x) for x in args.tabs.split(",") if x.strip())
    result = run(args.handovers, args.runs, counts, args.tab_timeout, args.flow_interval,
                 args.max_s, log=lambda line: print(line, file=sys.stderr, flush=True))
    command = "python -m bench.shared_stream"
    if (args.handovers, args.runs, counts) != (20, 3, TAB_COUNTS):
        command += f" --handovers {args.handovers} --runs {args.runs} --tabs {args.tabs}"
    report(render(result, command), SECTION, write=not args.no_write, raw=result,
           raw_path=args.raw)


if __name__ == "__main__":
    main()
