"""Browser benchmarks, each against its baselines in the same run (medians of N runs).

    python -m bench                 # full run (5 runs, 20,000 events), rewrites bench/RESULTS.md
    python -m bench --runs 3 --events 5000 --no-write
    python -m bench --parts stream --no-write     # throughput only (a quick check)

1. **Navigation -> SSE stream open** (cold context each run): plain JS page, stock
   PyScript page (a Python handler written the obvious way), and the zariz app
   (``/dashboard``: PyScript + our client + the whole UI).
2. **Event throughput**: N ``order.updated`` events pushed through a real EventSource as
   fast as the loopback socket goes; events/s from the first to the last event seen by
   the first subscriber, with 1 and with 10 subscribers. Same three contenders; ours runs
   the full client pipeline (batch crossing -> normalize -> dedupe -> fan-out).

Everything is served by ``bench.server`` (the real app + bench pages) on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import platform as pyplatform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx

from bench.common import ROOT
from bench.results import report
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support.live_server import free_port

TIMEOUT_MS = 120_000

OUR_STREAM = """
import js
from zariz.boot import runtime
from zariz.sse.client import SSEClient
rt = runtime()
n = {n}
state = {{"count": 0}}
bench = js.Object.new()
bench.count = 0
js.window.__bench = bench
def on_event(ev):
    state["count"] += 1
    c = state["count"]
    if c == 1:
        bench.first = js.performance.now()
    if c == n:
        bench.last = js.performance.now()
        bench.count = c
def counter():
    seen = [0]
    def on_event(ev):
        seen[0] += 1
    return on_event
bench_client = SSEClient(rt.platform, rt.auth, sse_path="/bench/stream")
bench_client.subscribe(on_event, events=["order.updated"])
for _ in range({subs} - 1):
    bench_client.subscribe(counter(), events=["order.updated"])
# The time the client spends on the batches it is handed (subscribers included): what it
# costs per event, and how much of the window the page's main thread was ours.
import time
_batches = bench_client._on_source_events
bench.python_ms = 0.0
def timed(gen, items):
    started = time.perf_counter()
    try:
        _batches(gen, items)
    finally:
        bench.python_ms += (time.perf_counter() - started) * 1000
bench_client._on_source_events = timed
bench_client.connect()
"""

class BenchServer:
    """``bench.server`` in a subprocess; ``args`` are passed on (``--seed-orders``...)."""

    def __init__(self, events: int, args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tempfile.TemporaryDirectory(prefix="zariz-bench-")
        self.db = pathlib.Path(self.tmp.name) / "bench.db"
        self.events = events
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> BenchServer:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.server", "--port", str(self.port), "--db",
             str(self.db), "--events", str(self.events), *self.args],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("bench server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.tmp.cleanup()

    def session(self) -> str:
        r = httpx.post(self.url + "/v1/auth/login", json={"username": "demo", "password": "demo"})
        r.raise_for_status()
        t = r.json()
        return json.dumps({"access_token": t["access_token"], "refresh_token": t["refresh_token"]})


def _new_page(browser: Any, server: BenchServer) -> tuple[Any, Any]:
    ctx = browser.new_context()
    page = ctx.new_page()
    origin = server.url + "/"
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(origin) else r.abort())
    page.add_init_script(f"localStorage.setItem('zariz.auth', {json.dumps(server.session())})")
    return ctx, page


def measure_open(browser: Any, server: BenchServer, who: str) -> float:
    """ms from navigation start to the stream's open event."""
    ctx, page = _new_page(browser, server)
    try:
        if who == "ours":
            page.goto(server.url + "/dashboard")
            page.wait_for_function(
                "performance.getEntriesByName('zariz:sse-open').length > 0", timeout=TIMEOUT_MS)
            return float(page.evaluate(
                "performance.getEntriesByName('zariz:sse-open')[0].startTime"))
        page.goto(f"{server.url}/bench/pages/{who}.html?mode=open")
        page.wait_for_function("window.__bench && window.__bench.opened", timeout=TIMEOUT_MS)
        return float(page.evaluate("window.__bench.opened"))
    finally:
        ctx.close()


def measure_stream(browser: Any, server: BenchServer, who: str, subs: int = 1,
                   detail: dict[str, float] | None = None) -> float:
    """events/s between the first and the last of ``server.events`` events, as seen by the
    first of ``subs`` subscribers. For ours, ``detail`` gets the client's Python time per
    event (µs) and its share of the window."""
    n = server.events
    ctx, page = _new_page(browser, server)
    try:
        if who == "ours":
            page.goto(server.url + "/dashboard")
            page.wait_for_function(
                "window.__zarizSSEClient && __zarizSSEClient.status === 'connected'",
                timeout=TIMEOUT_MS)
            page.evaluate(
                """code => { const s = document.createElement('script'); s.type = 'py';
                s.textContent = code; document.body.appendChild(s); }""",
                OUR_STREAM.format(n=n, subs=subs))
        else:
            page.goto(f"{server.url}/bench/pages/{who}.html?mode=stream&subs={subs}")
        page.wait_for_function("n => window.__bench && window.__bench.count >= n", arg=n,
                               timeout=TIMEOUT_MS)
        first, last = page.evaluate("[window.__bench.first, window.__bench.last]")
        if who == "ours" and detail is not None:
            python_ms = float(page.evaluate("window.__bench.python_ms"))
            detail["python_us_per_event"] = python_ms * 1000 / n
            detail["python_share"] = python_ms / max(last - first, 1e-6)
        return n / max((last - first) / 1000.0, 1e-6)
    finally:
        ctx.close()


CONTENDERS = ("js", "stock", "ours")
SUBSCRIBERS = (1, 10)
PARTS = ("open", "stream")


def run(runs: int = 5, events: int = 20_000, parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {"runs": runs, "events": events, "subscribers": list(SUBSCRIBERS),
                           "open_ms": {}, "events_per_s": {}, "ours_python": {}}
    with BenchServer(events) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            open_ms: dict[str, list[float]] = {w: [] for w in CONTENDERS}
            rates: dict[str, dict[str, list[float]]] = {
                str(k): {w: [] for w in CONTENDERS} for k in SUBSCRIBERS}
            python: dict[str, list[dict[str, float]]] = {str(k): [] for k in SUBSCRIBERS}
            for _ in range(runs):  # interleaved, so drift hits every contender alike
                for who in CONTENDERS:
                    if "open" in parts:
                        open_ms[who].append(measure_open(browser, server, who))
                    if "stream" in parts:
                        for k in SUBSCRIBERS:
                            detail: dict[str, float] = {}
                            rates[str(k)][who].append(
                                measure_stream(browser, server, who, k, detail))
                            if detail:
                                python[str(k)].append(detail)
            if "open" in parts:
                out["open_ms"] = open_ms
            if "stream" in parts:
                out["events_per_s"] = rates
                out["ours_python"] = python
            out["chromium"] = browser.version
        finally:
            browser.close()
    return out


def median(values: list[float]) -> float:
    return statistics.median(values)


def render(result: dict[str, Any]) -> str:
    o = result["open_ms"]
    lines = [
        "## Browser: the zariz app vs plain JS vs stock PyScript",
        "",
        f"Measured {dt.date.today().isoformat()} on this project's machine "
        f"({os.cpu_count()} cores, {pyplatform.machine()}, Chromium {result.get('chromium')} "
        f"headless, PyScript 0.7.31, Pyodide 314.0.7). Rerun: `make bench` "
        f"(= `python -m bench`). Medians of {result['runs']} runs, contenders interleaved "
        "within each run, every page load in a fresh browser context (cold cache).",
        "",
    ]
    names = {"js": "plain JS page (baseline)", "stock": "stock PyScript page (baseline)",
             "ours": "zariz app (/dashboard, whole UI)"}
    if o:
        mo = {w: median(v) for w, v in o.items()}
        lines += [
            "### 1. Navigation -> SSE stream open (ms, lower is better)",
            "",
            "| contender | median | runs | vs plain JS | vs stock PyScript |",
            "|---|---:|---|---:|---:|",
        ]
        for w in CONTENDERS:
            runs = ", ".join(f"{x:.0f}" for x in o[w])
            lines.append(f"| {names[w]} | {mo[w]:.0f} | {runs} | {mo[w] / mo['js']:.1f}x | "
                         f"{mo[w] / mo['stock']:.2f}x |")
        lines.append("")
    if result["events_per_s"]:
        lines += [
            f"### 2. Event throughput, {result['events']:,} events through one EventSource "
            "(events/s, higher is better)",
            "",
            "| subscribers | contender | median | runs | vs plain JS | vs stock PyScript |",
            "|---:|---|---:|---|---:|---:|",
        ]
        for k, r in result["events_per_s"].items():
            mr = {w: median(v) for w, v in r.items()}
            for w in CONTENDERS:
                runs = ", ".join(f"{x:,.0f}" for x in r[w])
                lines.append(f"| {k} | {names[w]} | {mr[w]:,.0f} | {runs} | "
                             f"{mr[w] / mr['js']:.2f}x | {mr[w] / mr['stock']:.2f}x |")
        spent = [
            f"{k} subscriber{'s' if k != '1' else ''}: "
            f"{median([d['python_us_per_event'] for d in ds]):.1f} µs per event, "
            f"{median([d['python_share'] for d in ds]):.0%} of the window"
            for k, ds in result.get("ours_python", {}).items() if ds
        ]
        if spent:
            lines += ["", "The zariz client's Python in those runs (medians): "
                      + "; ".join(spent) + "."]
        lines += [
            "",
            "Ours runs the full client per event: the batch's crossing from JS (one per task, "
            "as UTF-8), JSON parse, `{event, data}` normalization, id dedupe, fan-out with "
            "error isolation. The stock page does only `json.loads` and a dict; the JS page "
            "`JSON.parse` and an object. Each subscriber counts the events it gets; the "
            "first one's first and last event time the run. The client's Python time is "
            "measured around each batch it is handed: the rest of the window the page waits "
            "for the stream (every contender is bounded by how fast the events arrive).",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="which parts to run: open, stream (comma-separated)")
    parser.add_argument("--no-write", action="store_true", help="print, don't rewrite RESULTS.md")
    args = parser.parse_args()
    parts = tuple(p for p in args.parts.split(",") if p)
    if not parts or set(parts) - set(PARTS):
        parser.error(f"--parts takes {', '.join(PARTS)}")
    result = run(args.runs, args.events, parts)
    # RESULTS.md's section holds every part: a partial run is printed, never written. The
    # raw JSON is committed beside RESULTS.md, so it is rewritten only with it.
    write = not args.no_write and set(parts) == set(PARTS)
    if not write and not args.no_write:
        print("(a partial run: bench/RESULTS.md left as it is)")
    report(render(result), "browser", write=write, raw=result,
           raw_path=ROOT / "bench" / "results-browser.json" if write else None)


if __name__ == "__main__":
    main()
