"""A day in a tab: one tab on ``/dashboard/orders`` with 10,000 orders takes 100,000
events, 1,000 forced reconnects and 100 token refreshes, compressed in time; its memory
must be flat at the end and its table must equal the API. An operator keeps the tab open
all day, so a leak per event or per reconnect would add up to what this run compresses.

    python -m bench.soak                              # the full soak, writes bench/RESULTS.md
    python -m bench.soak --events 5000 --reconnects 50 --refreshes 5 --no-write

How (everything against a real ``python -m server`` from ``LiveServer``, one Chromium):

* **Events** come from the real REST API: a driver thread keeps a few keep-alive HTTP/1.1
  connections (raw asyncio, so the load process costs little CPU) and sends a mix of
  ``PATCH`` (notes; 60 %), create/delete pairs (20 %, so the number of orders stays put),
  assign (10 %) and status changes (10 %). Each connection owns its own slice of the
  orders, so no request conflicts with another and every 2xx is exactly one event.
* **Reconnects** are forced from the page (``__zarizSSEClient.reconnect()``) while events
  keep flowing; **refreshes** go through the app's own auth client
  (``runtime().auth.refresh()``), whose token change makes the client reconnect too.
  Each step waits until the stream is open again (``stats.opens`` grew).
* **Start** and **end** snapshots are taken in a quiet moment (driver idle, the tab
  caught up with the server's newest event id, no load in flight, no toast or animation
  frame pending) after a forced GC: Python ``gc.collect()`` in the page, then CDP
  ``HeapProfiler.collectGarbage``. The start snapshot follows a warm-up (a few percent of
  the events, reconnects and one refresh) so one-time allocations are not counted.
* **Flat** means every end value is <= start + the tolerance stated in the report.
* **Complete** means every step ran and every released slot became its event: a request
  that failed (even one a retry made good) fails the run, since the tab then took fewer or
  other events than the report says.
* **Table == API**: the page's ``OrdersStore`` (found through ``gc`` in the page) holds
  exactly the ids, statuses and ``updated_at`` of ``GET /v1/orders``; the rendered first
  page, a filtered page and the per-status counts shown equal the API's.

The code: ``bench/soak_driver.py`` (the event driver), ``bench/soak_probe.py`` (snapshots,
flatness, table == API), ``bench/soak_report.py`` (the RESULTS.md section); this module
runs the soak and the command.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import pathlib
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.results import report
from bench.soak_driver import EventDriver
from bench.soak_probe import (
    CLIENT_OPEN,
    Tolerances,
    api_orders,
    check_table,
    client_stats,
    flatness,
    install,
    newest_event_id,
    snapshot,
    type_growth,
    wait_quiet,
)
from bench.soak_report import render
from tests.support.live_server import LiveServer

SECTION = "soak"
SERVER_ENV = {
    # The soak's refreshes are its own (counted); a token expiring mid-run would add
    # reconnects nobody asked for.
    "ZARIZ_ACCESS_TTL": "3600",
    "ZARIZ_LOG_LEVEL": "warning",  # 100,000 access-log lines would cost more than the app
}


# -- configuration ------------------------------------------------------------------------


@dataclass
class SoakConfig:
    orders: int = 10_000
    events: int = 100_000
    reconnects: int = 1_000
    refreshes: int = 100
    warmup_events: int = 2_000
    warmup_reconnects: int = 10
    warmup_refreshes: int = 1
    connections: int = 3
    max_s: float = 2_400.0  # the whole soak gives up (and reports so) after this
    seed: int = 7
    tolerances: Tolerances = field(default_factory=Tolerances)


# -- the soak -----------------------------------------------------------------------------


def _schedule(reconnects: int, refreshes: int) -> list[str]:
    """``reconnects`` + ``refreshes`` steps, the refreshes spread evenly."""
    total = reconnects + refreshes
    marks = {round((i + 0.5) * total / refreshes) for i in range(refreshes)} if refreshes else set()
    return ["refresh" if i in marks else "reconnect" for i in range(total)]


class _Requests:
    """Counts the tab's REST requests by kind (refetches of the order list, tickets,
    refreshes) from Playwright's request events."""

    def __init__(self, page: Any) -> None:
        self.counts: Counter[str] = Counter()
        self.page = page
        page.on("request", self._on)

    def _on(self, request: Any) -> None:
        url = request.url
        if "/v1/orders?" in url or url.endswith("/v1/orders"):
            self.counts["orders_list"] += 1
        elif "/v1/events/ticket" in url:
            self.counts["ticket"] += 1
        elif "/v1/auth/refresh" in url:
            self.counts["refresh"] += 1
        elif "/v1/events/sse" in url:
            self.counts["sse"] += 1

    def close(self) -> None:
        self.page.remove_listener("request", self._on)


def _step(page: Any, kind: str, refresh_ok: int, timeout_ms: float = 60_000) -> int:
    """One forced reconnect or refresh; returns the refreshes that succeeded so far."""
    opens = int(client_stats(page)["opens"])
    if kind == "refresh":
        page.evaluate("__soak.refresh()")
        page.wait_for_function(
            "n => JSON.parse(__soak.status()).refresh.refresh_ok > n",
            arg=refresh_ok, timeout=timeout_ms, polling=20)
        refresh_ok += 1
    else:
        page.evaluate("__zarizSSEClient.reconnect()")
    page.wait_for_function(CLIENT_OPEN, arg=opens, timeout=timeout_ms, polling=20)
    return refresh_ok


def run_soak(page: Any, server: LiveServer, cfg: SoakConfig,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """The soak on a tab that is already on ``/dashboard/orders`` with the client
    connected and the orders loaded. Returns everything measured."""
    t_start = time.monotonic()
    deadline = t_start + cfg.max_s
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.enable")
    requests = _Requests(page)
    install(page)
    driver_tokens = server.login()
    with httpx.Client(base_url=server.url, timeout=30, headers={
            "Authorization": f"Bearer {driver_tokens['access_token']}"}) as http:
        orders = {o["id"]: o["status"] for o in api_orders(http)}
        couriers = [c["id"] for c in http.get("/v1/couriers").raise_for_status().json()["items"]
                    if c.get("active", True)]
    driver = EventDriver(server.port, driver_tokens["access_token"], orders, couriers,
                         cfg.connections, cfg.seed)
    driver.start()

    def pause() -> None:
        page.wait_for_timeout(10)  # lets Playwright deliver the page's events meanwhile

    refresh_ok = 0
    out: dict[str, Any] = {"config": dataclasses.asdict(cfg), "complete": False}
    try:
        boot = snapshot(page, cdp)
        # Warm-up: the same mix, not counted.
        warm = _schedule(cfg.warmup_reconnects, cfg.warmup_refreshes)
        for i, kind in enumerate(warm, 1):
            driver.release(round(i * cfg.warmup_events / len(warm)))
            refresh_ok = _step(page, kind, refresh_ok)
        driver.release(cfg.warmup_events)
        driver.wait_done(cfg.warmup_events, 300, pause)
        wait_quiet(page, server)
        start = snapshot(page, cdp)
        start_requests = Counter(requests.counts)
        base_events, base_sent = driver.done, driver.sent
        log(f"[soak] start: {_brief(start)}")

        steps = _schedule(cfg.reconnects, cfg.refreshes)
        t_run = time.monotonic()
        done_steps = Counter[str]()
        for i, kind in enumerate(steps, 1):
            if time.monotonic() > deadline:
                log(f"[soak] deadline ({cfg.max_s:.0f} s) reached after {i - 1} steps")
                break
            target = base_events + round(i * cfg.events / len(steps))
            driver.release(target)  # events flow while the stream reconnects
            refresh_ok = _step(page, kind, refresh_ok)
            done_steps[kind] += 1
            driver.wait_done(target, max(30.0, deadline - time.monotonic()), pause)
            if i % max(1, len(steps) // 10) == 0:
                el = time.monotonic() - t_run
                log(f"[soak] {i}/{len(steps)} steps, {driver.done - base_events:,} events, "
                    f"{el:.0f} s ({(driver.done - base_events) / el:,.0f} events/s)")
        run_s = time.monotonic() - t_run
        quiet_s = wait_quiet(page, server, timeout_s=300)
        end = snapshot(page, cdp)
        table = check_table(page, server, driver_tokens["access_token"])
        wait_quiet(page, server)
        after_check = snapshot(page, cdp)
        sent = driver.sent - base_sent
        reasons = incomplete(cfg, done_steps, sent, driver.failed, driver.given_up)
        out.update({
            "complete": not reasons, "incomplete": reasons,
            "boot": boot, "start": start, "end": end, "after_check": after_check,
            "events_sent": sent, "event_kinds": dict(driver.kinds),
            "failed_requests": dict(driver.failed), "given_up": driver.given_up,
            "steps": dict(done_steps),
            "refresh_ok": refresh_ok, "run_s": round(run_s, 1),
            "catch_up_s": round(quiet_s, 2), "total_s": round(time.monotonic() - t_start, 1),
            "events_per_s": round(sent / run_s, 1) if run_s else 0.0,
            "requests": {k: v - start_requests.get(k, 0) for k, v in requests.counts.items()},
            "table": table,
            "flat_problems": flatness(start, end, cfg.tolerances),
            "type_growth": type_growth(start, end),
            "server_newest_event_id": newest_event_id(server),
        })
        log(f"[soak] end:   {_brief(end)}")
    finally:
        driver.stop()
        requests.close()
        with contextlib.suppress(Exception):
            cdp.detach()
    return out


def incomplete(cfg: SoakConfig, steps: Counter[str], sent: int, failed: Counter[str],
               given_up: int = 0) -> list[str]:
    """Why a run does not count as the soak ``cfg`` asked for (empty: complete).

    >>> incomplete(SoakConfig(events=10, reconnects=1, refreshes=0),
    ...            Counter(reconnect=1), 9, Counter({"patch 500": 5}), 1)
    ['9 of 10 events', "failed requests: {'patch 500': 5}, 1 slot(s) given up after 5 tries"]
    """
    reasons = []
    if steps["reconnect"] != cfg.reconnects or steps["refresh"] != cfg.refreshes:
        reasons.append(f"stopped at the deadline: {steps['reconnect']} of {cfg.reconnects} "
                       f"reconnects, {steps['refresh']} of {cfg.refreshes} refreshes")
    if sent != cfg.events:
        reasons.append(f"{sent:,} of {cfg.events:,} events")
    if failed or given_up:
        reasons.append(f"failed requests: {dict(failed)}, {given_up} slot(s) given up "
                       "after 5 tries")
    return reasons


def exit_code(result: dict[str, Any]) -> int:
    """0 only for a complete run whose table equals the API and whose memory is flat."""
    ok = result["complete"] and result["table"]["ok"] and not result["flat_problems"]
    return 0 if ok else 1


def _brief(s: dict[str, Any]) -> str:
    return (f"JS heap {s['js_heap_used'] / 1e6:.1f} MB, WASM {s['wasm_bytes'] / 2**20:.1f} MiB, "
            f"py objects {s['py_objects']:,}, DOM nodes {s['dom_nodes']:,}, "
            f"listeners {s['js_listeners']}, proxies {s['live_proxies']}")


# -- command line -------------------------------------------------------------------------


@contextlib.contextmanager
def soak_tab(orders: int) -> Iterator[tuple[Any, LiveServer]]:
    """A LiveServer with ``orders`` seeded orders and one Chromium tab on the orders
    page, logged in and loaded (the same plumbing as the browser tests)."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.browser.support import open_authed

    with tempfile.TemporaryDirectory(prefix="zariz-soak-") as tmp:
        server = LiveServer(pathlib.Path(tmp),
                            env={**SERVER_ENV, "ZARIZ_SEED_ORDERS": str(orders)})
        server.start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    default_context = browser.new_context(
                        viewport={"width": 1280, "height": 800})

                    def open_tab(base_url: str, context: Any = None) -> tuple[Any, None]:
                        page = (context or default_context).new_page()
                        origin = base_url.rstrip("/") + "/"
                        page.route("**/*", lambda r: r.continue_()
                                   if r.request.url.startswith(origin) else r.abort())
                        return page, None

                    page, _log, _tokens = open_authed(open_tab, server, "/dashboard/orders")
                    wait_loaded(page, orders)
                    yield page, server
                finally:
                    browser.close()
        finally:
            server.stop()


def wait_loaded(page: Any, orders: int, timeout_ms: float = 120_000) -> None:
    page.wait_for_function(
        "n => (document.querySelector('[data-testid=orders-summary]')?.textContent || '')"
        ".replace(/[,\\u202f\\s]/g, '').includes('of' + n)", arg=orders, timeout=timeout_ms)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    d = SoakConfig()
    parser.add_argument("--orders", type=int, default=d.orders)
    parser.add_argument("--events", type=int, default=d.events)
    parser.add_argument("--reconnects", type=int, default=d.reconnects)
    parser.add_argument("--refreshes", type=int, default=d.refreshes)
    parser.add_argument("--warmup-events", type=int, default=d.warmup_events)
    parser.add_argument("--warmup-reconnects", type=int, default=d.warmup_reconnects)
    parser.add_argument("--warmup-refreshes", type=int, default=d.warmup_refreshes)
    parser.add_argument("--connections", type=int, default=d.connections)
    parser.add_argument("--max-s", type=float, default=d.max_s,
                        help="stop the soak (and say so) after this many seconds")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", type=pathlib.Path, help="also write the raw result here")
    args = parser.parse_args(argv)
    cfg = SoakConfig(orders=args.orders, events=args.events, reconnects=args.reconnects,
                     refreshes=args.refreshes, warmup_events=args.warmup_events,
                     warmup_reconnects=args.warmup_reconnects,
                     warmup_refreshes=args.warmup_refreshes,
                     connections=args.connections, max_s=args.max_s)
    with soak_tab(cfg.orders) as (page, server):
        result = run_soak(page, server, cfg)
    command = " ".join(["python -m bench.soak",
                        *(argv if argv is not None else sys.argv[1:])]).strip()
    report(render(result, command), SECTION, write=not args.no_write, raw=result,
           raw_path=args.json)
    return exit_code(result)


if __name__ == "__main__":
    sys.exit(main())
