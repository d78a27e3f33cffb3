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

The code: ``bench/fault_rig.py`` (server, proxy, logged-in tabs), ``bench/fault_run.py``
(measuring and checking one fault), ``bench/faults.py`` (the faults and the outage curve);
this module runs the matrix and writes its report.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import pathlib
import platform as pyplatform
import statistics
import tempfile
from collections.abc import Callable
from typing import Any

from bench.common import ROOT
from bench.fault_rig import FULL, STALL_FACTOR, Rig, Timings, rig
from bench.fault_run import FaultResult
from bench.faults import MAIN, Outage, cut_before_first_event, outage, token_expiry
from bench.results import report, write_section
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

README = ROOT / "README.md"
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
