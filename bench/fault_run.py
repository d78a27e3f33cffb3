"""Measuring one fault on one tab (see ``bench/reliability.py`` for the whole matrix):
:class:`Run` marks the fault's start and end, then :meth:`Run.finish` waits for recovery
and checks the table, the dispatches, the indicator's log, the attempts and the server's
stream gauge, into a :class:`FaultResult`.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bench.fault_rig import Rig, Tab
from tests.browser.support import dispatches, indicator, status_log, table_ids

RECONNECT_LINE = re.compile(r"\[SSE\] reconnect in (\d+) ms \(attempt (\d+)\)")
BACKOFF_BASE, BACKOFF_CAP = 2.0, 30.0  # the client's defaults (app/zariz/sse/client.py)


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
    # The indicator's changes as (seconds after the fault began, status); the first entry
    # is the status when the recorder was installed, so an entry at or before 0 is the
    # status in force when the fault began.
    status_log: list[tuple[float, str]] = field(default_factory=list)
    fault_s: float = 0.0  # how long the fault lasted (0: an instantaneous fault)

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


# --- backoff bound -------------------------------------------------------------------------

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
        # The log's newest id when the fault began, for faults whose orders must come back
        # as a replay of events (see ``finish(replay=...)``).
        self.floor: int | None = None

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
               attempt_window: bool = False, stays_connected: bool = False,
               replay: bool = False) -> FaultResult:
        """Wait for recovery and the table, then measure and check.

        ``detect_bound``: detection must happen within this many seconds (None: n/a).
        ``dead_until_end``: the stream cannot be up before the fault ends, so the indicator
        must not say ``connected`` between detection and the end.
        ``attempt_window``: check the number of attempts against the backoff bound.
        ``stays_connected``: the stream stays usable, the indicator must never leave it.
        ``replay``: the reconnect must replay what the fault made the tab miss: every event
        the log gained after ``self.floor`` reaches the subscriber, and an order that reached
        the table only by a refetch is a problem. Without it a refetch is an honest way
        back (a note): the page's store refetches on a gap, so the table alone cannot tell
        a replay from a client that lost its place."""
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
        if replay:
            if self.floor is None:
                raise RuntimeError(f"[{self.fault}] replay checked without run.floor")
            top = self.rig.api.position()
            unseen = sorted(set(range(self.floor + 1, top + 1)) - set(new_ids))
            if unseen:
                self.problems.append(f"event ids {unseen} (after {self.floor}, the log's "
                                     "position at the fault) were never dispatched")
            if missed and not lost:
                self.problems.append(f"orders {missed} reached the table only by a refetch, "
                                     "not replayed as events")
        elif missed and not lost:
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
                           duplicated, attempts, bound, self.problems, self.notes,
                           [(round(ts - self.start_wall, 3), s) for ts, s in log],
                           max(0.0, self.end_wall - self.start_wall))

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
