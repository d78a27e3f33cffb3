"""The faults of the matrix, each one function from a :class:`~bench.fault_rig.Rig` to a
:class:`~bench.fault_run.FaultResult`, and the outage curve (attempts while every connection
is refused, against a plain ``EventSource`` as the baseline). See ``bench/reliability.py``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.fault_rig import Rig
from bench.fault_run import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    RECONNECT_LINE,
    FaultResult,
    Run,
    max_attempts,
)
from tests.browser.support import dispatches, guard_origin, indicator, status_log, table_ids
from tests.support.fault_proxy import FaultProxy

# The faults one tab suffers in turn (each heals what it switched on); the others need a
# tab or a server of their own.
MAIN_FAULTS = ("cut_mid_stream", "stall", "latency", "refuse", "ticket_5xx", "server_kill",
               "offline")


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
    surely committed before the tab is back: a stream that told the tab no position lost
    the orders created within ~0.1 s of the cut; holding makes that window certain instead
    of likely.

    The orders must come back as a replay of the events the tab missed (``replay=True``):
    the page's store would also refetch on the gap the next live event shows, so a table
    that ends right proves nothing about the position the stream gave the tab."""
    proxy = rig.new_proxy()
    tab = rig.open_tab(proxy)
    try:
        run = Run(rig, tab, "cut_before_first_event")
        if any(d["event"].startswith("order.") for d in dispatches(tab.page)):
            raise RuntimeError("the fresh tab already saw an order event")
        run.floor = rig.api.position()
        run.notes.append(f"last_event_id at the cut: "
                         f"{tab.page.evaluate('window.__zarizSSEClient.stats.last_event_id')}"
                         f" (the log's: {run.floor})")
        run.start()
        proxy.stall()
        proxy.cut()
        run.create(2, "during")
        tab.pump(run.t.held_s)
        proxy.resume()
        run.end()
        return run.finish(detect_bound=run.t.slack_s, dead_until_end=False, replay=True)
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
