"""Boot of the zariz app (memory snapshot when there is one, and ``?boot=plain``) against a
stock PyScript page and a plain JS page, in the same run.

    python -m bench.boot                          # = make boot; rewrites bench/RESULTS.md
    python -m bench.boot --runs 2 --seed-orders 2000 --no-write

Every sample runs in a **fresh browser profile** (a Playwright persistent context on a new
temporary directory, Debian chromium): *cold* is its first page load, *warm* a second tab
opened after the first one closed, in the same profile - a real profile's disk HTTP cache
and V8 code cache, as an operator's browser has. (Playwright's incognito contexts keep their
HTTP cache in memory and leave entries of more than a few MB out of it: the 9.6 MB
``pyodide.asm.wasm``, or a snapshot, would never be warm there.)

Rows, contenders interleaved (one sample of each per round, the order rotated per round):

1. **Navigation -> stream open**, cold and warm: the zariz app (``/dashboard``; its default
   boot, the snapshot when one is current), the same with ``?boot=plain``, the stock PyScript
   page (``bench/pages/boot_stock.html``: PyScript booting the vendored ``pyodide.mjs`` with
   the same app bundle in ``[files]``, config inline so it stays stock whatever the app's
   ``pyscript.toml`` names) and the plain JS page (``bench/pages/js.html``). The app's time
   is its ``zariz:sse-open`` mark; the pages stamp their ``EventSource`` open event. All
   times are ``performance.now()`` from the navigation's start.
2. **Navigation -> orders table rendered**, warm, ``--seed-orders`` orders in the database
   (a real server started with ``ZARIZ_SEED_ORDERS``): default vs ``?boot=plain`` on
   ``/dashboard/orders``. *Rendered* = the first page of rows (50) is in the DOM and the
   "All" tab counts every order (the whole snapshot is loaded), stamped by a
   ``MutationObserver``, then the next animation frame's callback: the frame that paints them.
3. **Main thread during boot**, from the same loads as row 1: ``first-paint`` /
   ``first-contentful-paint`` (for the app that is its HTML skeleton), and the longest
   main-thread block before the stream opened, measured by a heartbeat (a ``setTimeout(0)``
   chain from an init script: a gap between two beats is a block). The ``longtask``
   PerformanceObserver is reported beside it but is not the reference: on warm plain boots
   it misses Pyodide's 2 s bootstrap task (seen here). A CDP trace (with the V8 sampling
   profiler) of a cold and a warm load of each zariz mode says what the longest task is.
4. **Memory per tab**, the warm tab of each row-1 sample, alone in its browser, once quiet
   (no block for 1 s after the stream opened) and after two forced GCs: its renderer
   process's private memory (USS = Private_Clean + Private_Dirty of
   ``/proc/<pid>/smaps_rollup``), with PSS, RSS and V8's JS heap beside it. The renderer is
   found among this process's own descendants (other sessions' browsers share the machine)
   as the one whose CPU time grows while the page spins for 300 ms.

The app runs as ``make serve`` runs it (``python -m server`` through
``tests.support.live_server.LiveServer``; ``--root`` serves another tree, e.g. a copy with
its own ``var/snapshot``), the baselines' pages on ``bench.server`` (the same app plus
``/bench/pages/``), all on 127.0.0.1; names outside loopback don't resolve in the browser.

``globalThis.__zarizBoot`` (``{mode, reason, fetch_ms, fetched_in, download_bytes,
module_ms, restore_ms, total_ms, heap_skipped, heap_copy_ms}``: see
``static/boot/zariz-loader.mjs``) is read on every app load: while it is absent, or says
``plain`` on a default load, the report says "snapshot: not available" and the default
contender is a plain boot like the other.
"""

from __future__ import annotations

import argparse
import base64
import collections
import datetime as dt
import json
import os
import pathlib
import platform as pyplatform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from bench.__main__ import BenchServer
from bench.common import ROOT, v8_profiles
from bench.results import report
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support.live_server import LiveServer

SECTION = "boot"
TIMEOUT_MS = 120_000
# Nothing may leave the machine, and the HTTP cache must stay on: Playwright's request
# interception (page.route) would turn the cache off, so names outside loopback simply
# don't resolve instead.
ARGS = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]

CONTENDERS = ("zariz", "zariz-plain", "stock", "js")
ORDERS_CONTENDERS = ("zariz", "zariz-plain")
TRACE_MODES = ("zariz", "zariz-plain")
NAMES = {
    "zariz": "zariz app, default boot (snapshot when current)",
    "zariz-plain": "zariz app, `?boot=plain`",
    "stock": "stock PyScript page (baseline)",
    "js": "plain JS page (baseline)",
}
URLS = {
    "zariz": "/dashboard",
    "zariz-plain": "/dashboard?boot=plain",
    "stock": "/bench/pages/boot_stock.html?mode=open",
    "js": "/bench/pages/js.html?mode=open",
}
ORDERS_URLS = {"zariz": "/dashboard/orders", "zariz-plain": "/dashboard/orders?boot=plain"}
PAGE_ROWS = 50  # the orders page's page size

GOAL_WARM = 0.4  # x stock PyScript, navigation -> stream open, warm
GOAL_COLD = 1.0
GOAL_ORDERS = 0.5  # x the plain boot, orders table rendered, warm
GOAL_PAINT_MS = 200.0
QUIET_MS = 1000  # no block this long after the stream opened: the tab is settled
BLOCK_MS = 50  # a heartbeat gap longer than this is a block (the longtask threshold)

# Every page of every context, before any of the page's scripts: a heartbeat that records
# each gap of more than 16 ms between two of its beats (a main-thread block), and the
# longtask observer for comparison. setTimeout(0) settles at Chromium's 4 ms clamp, so the
# beat costs ~250 tiny tasks per second.
PROBE = """
(() => {
  if (window.__bootProbe) return;
  const b = window.__bootProbe = {gaps: [], long: [], lastBusy: 0, running: true, err: null};
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.long.push([e.startTime, e.duration]);
    }).observe({type: 'longtask', buffered: true});
  } catch (e) { b.err = String(e); }
  let last = performance.now();
  const beat = () => {
    const now = performance.now();
    if (now - last > 16 && b.gaps.length < 5000) b.gaps.push([last, now - last]);
    if (now - last > BLOCK_MS) b.lastBusy = now;
    last = now;
    if (b.running) setTimeout(beat, 0);
  };
  setTimeout(beat, 0);
  b.stop = () => { b.running = false; };
})();
""".replace("BLOCK_MS", str(BLOCK_MS))

# The orders page: stamps when the first page of rows is in the DOM and the "All" tab counts
# every order, then the next animation frame.
ORDERS_PROBE = """
(() => {
  const total = %(total)d, pageRows = %(rows)d;
  const w = window.__ordersProbe = {rowsAt: null, rendered: null};
  const check = () => {
    if (w.rowsAt !== null) return;
    const rows = document.querySelectorAll(
      '[data-testid=orders-body] [data-testid=order-row]').length;
    const all = document.querySelector('[data-testid=filter-all] .tab-count');
    if (rows >= pageRows && all && all.textContent.replace(/\\D/g, '') === String(total)) {
      w.rowsAt = performance.now();
      observer.disconnect();
      requestAnimationFrame(() => { w.rendered = performance.now(); });
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(document, {subtree: true, childList: true, characterData: true});
})();
"""

OPENED = """() => {
  const m = performance.getEntriesByName('zariz:sse-open');
  if (m.length) return m[0].startTime;
  return (window.__bench && window.__bench.opened) || null;
}"""

RENDERED = "() => window.__ordersProbe && window.__ordersProbe.rendered !== null"

COLLECT = """() => {
  const probe = window.__bootProbe || {gaps: [], long: [], err: 'no probe'};
  const marks = {};
  for (const m of performance.getEntriesByType('mark')) {
    if (m.name.startsWith('zariz:') && !(m.name in marks)) marks[m.name] = m.startTime;
  }
  const paint = {};
  for (const p of performance.getEntriesByType('paint')) paint[p.name] = p.startTime;
  const big = performance.getEntriesByType('resource')
    .filter((r) => Math.max(r.encodedBodySize, r.decodedBodySize) >= 1000000)
    .map((r) => ({name: new URL(r.name).pathname, transfer: r.transferSize,
                  size: r.encodedBodySize, decoded: r.decodedBodySize, ms: r.duration}));
  let boot = null;
  try {
    boot = globalThis.__zarizBoot ? JSON.parse(JSON.stringify(globalThis.__zarizBoot)) : null;
  } catch (e) { boot = {error: String(e)}; }
  return {marks, paint, gaps: probe.gaps, long: probe.long, probe_error: probe.err, boot, big,
          orders: window.__ordersProbe || null,
          api: performance.getEntriesByType('resource')
            .filter((r) => new URL(r.name).pathname === '/v1/orders')
            .map((r) => [r.startTime, r.responseEnd])};
}"""

SETTLED = """(opened) => {
  const b = window.__bootProbe;
  return !b || performance.now() - Math.max(b.lastBusy, opened) > QUIET_MS;
}""".replace("QUIET_MS", str(QUIET_MS))

SPIN = "(ms) => { const t = performance.now(); while (performance.now() - t < ms) {} }"

TRACE_CATEGORIES = [
    "toplevel", "devtools.timeline", "disabled-by-default-devtools.timeline", "v8",
    "v8.execute", "v8.wasm", "blink.user_timing", "disabled-by-default-v8.cpu_profiler",
]


# -- the machine -----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = int(line.split()[1]) / 2**20
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "arch": pyplatform.machine(),
            "kernel": pyplatform.release(), "mem_gb": mem_gb}


def _vendor_version(package_json: pathlib.Path) -> str:
    try:
        return str(json.loads(package_json.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "?"


# -- /proc: the tab's renderer process -------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    # The fields after "(comm)": state, ppid, ..., utime (index 11), stime (12).
    text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    return text.rsplit(")", 1)[1].split()


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children[int(_stat_fields(int(entry))[1])].append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _renderers() -> list[int]:
    """Chromium renderer processes started by this process (never another session's)."""
    pids = []
    for pid in _descendants(os.getpid()):
        try:
            cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"--type=renderer" in cmdline:
            pids.append(pid)
    return pids


def _cpu_ticks(pid: int) -> int:
    try:
        fields = _stat_fields(pid)
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return -1


def renderer_pid(page: Any, spin_ms: int = 400, tries: int = 3) -> int | None:
    """The pid of ``page``'s renderer: the one whose CPU time grows while the page spins
    (clearly more than any other renderer's: the machine is shared and busy)."""
    for _ in range(tries):
        pids = _renderers()
        before = {pid: _cpu_ticks(pid) for pid in pids}
        page.evaluate(SPIN, spin_ms)
        grown = sorted(((_cpu_ticks(pid) - before[pid], pid) for pid in pids
                        if before[pid] >= 0), reverse=True)
        if not grown:
            return None
        best = grown[0]
        runner_up = grown[1][0] if len(grown) > 1 else 0
        if best[0] >= 5 and best[0] >= 2 * runner_up:
            return best[1]
    return None


def smaps(pid: int) -> dict[str, float]:
    """MiB: rss, pss, uss (private clean + dirty) of ``pid``."""
    values: dict[str, int] = {}
    for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[-1] == "kB":
            values[parts[0].rstrip(":")] = int(parts[1])
    mib = 1024.0
    return {"rss_mb": values.get("Rss", 0) / mib, "pss_mb": values.get("Pss", 0) / mib,
            "uss_mb": (values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)) / mib}


# -- one page load ---------------------------------------------------------------------


@contextmanager
def fresh_profile(pw: Any, init_scripts: Sequence[str]) -> Iterator[Any]:
    """A new browser on a new, empty profile directory; closed (and deleted) afterwards."""
    with tempfile.TemporaryDirectory(prefix="zariz-boot-profile-") as user_data:
        ctx = pw.chromium.launch_persistent_context(
            user_data, executable_path=CHROMIUM, args=ARGS,
            viewport={"width": 1280, "height": 800},
        )
        try:
            for script in init_scripts:
                ctx.add_init_script(script)
            yield ctx
        finally:
            ctx.close()


def _dir(base: str, name: str) -> pathlib.Path:
    path = pathlib.Path(base) / name
    path.mkdir()
    return path


def login(origin: str) -> str:
    """A fresh session of the demo user (one per browser profile: a refresh token used by
    two profiles would be a reuse, and revoke both), as the app keeps it in localStorage."""
    response = httpx.post(f"{origin}/v1/auth/login",
                          json={"username": "demo", "password": "demo"}, timeout=30)
    response.raise_for_status()
    tokens = response.json()
    return json.dumps({"access_token": tokens["access_token"],
                       "refresh_token": tokens["refresh_token"]})


def _auth_script(session: str) -> str:
    return f"localStorage.setItem('zariz.auth', {json.dumps(session)})"


class Loader:
    """Loads pages and turns what they measured into a sample; problems are collected."""

    def __init__(self, origin: str, problems: list[str]) -> None:
        self.origin = origin
        self.problems = problems

    def watch(self, page: Any, label: str) -> None:
        def on_request(req: Any) -> None:
            url = req.url
            if not (url.startswith(self.origin) or url.startswith(("data:", "blob:",
                                                                   "about:"))):
                self.problems.append(f"{label}: a request left the origin: {url}")

        page.on("request", on_request)
        page.on("pageerror", lambda e: self.problems.append(f"{label}: page error: {e}"))

    def load(self, page: Any, path: str, label: str, *, orders: bool = False) -> dict[str, Any]:
        self.watch(page, label)
        page.goto(self.origin + path, wait_until="commit", timeout=TIMEOUT_MS)
        # Polled every 100 ms rather than every frame: the page's own stamps are the
        # measurement, the polling only has to notice them.
        page.wait_for_function(OPENED, timeout=TIMEOUT_MS, polling=100)
        opened = float(page.evaluate(OPENED))
        if orders:
            page.wait_for_function(RENDERED, timeout=TIMEOUT_MS, polling=100)
        return sample(opened, page.evaluate(COLLECT))


def sample(opened: float, raw: dict[str, Any]) -> dict[str, Any]:
    """One load's numbers (ms from the navigation's start) from what the page recorded."""
    gaps = [(float(s), float(d)) for s, d in raw.get("gaps") or [] if float(s) < opened]
    block = max(gaps, key=lambda g: g[1], default=(0.0, 0.0))
    long_tasks = [float(d) for s, d in raw.get("long") or [] if float(s) < opened]
    paint = raw.get("paint") or {}
    orders = raw.get("orders") or {}
    return {
        "open_ms": opened,
        "fp_ms": paint.get("first-paint"),
        "fcp_ms": paint.get("first-contentful-paint"),
        "block_ms": block[1],
        "block_at_ms": block[0],
        "longtask_ms": max(long_tasks, default=0.0),
        "marks": raw.get("marks") or {},
        "boot": raw.get("boot"),
        "big": raw.get("big") or [],
        "rows_ms": orders.get("rowsAt"),
        "rendered_ms": orders.get("rendered"),
        # GET /v1/orders requests of the load: how many, and the span they cover.
        "orders_requests": len(raw.get("api") or []),
        "orders_fetch_ms": (max(e for _, e in raw["api"]) - min(s for s, _ in raw["api"])
                            if raw.get("api") else None),
        "probe_error": raw.get("probe_error"),
    }


def memory(ctx: Any, page: Any, opened: float) -> dict[str, Any]:
    """The tab's memory once it is quiet; see the module doc for which numbers and why."""
    settled = True
    try:
        page.wait_for_function(SETTLED, arg=opened, timeout=15_000, polling=100)
    except Exception:  # a page that never settles is measured anyway, and says so
        settled = False
    page.evaluate("() => window.__bootProbe && window.__bootProbe.stop()")
    pid = renderer_pid(page)
    cdp = ctx.new_cdp_session(page)
    try:
        for _ in range(2):
            cdp.send("HeapProfiler.collectGarbage")
        cdp.send("Performance.enable")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    finally:
        cdp.detach()
    out: dict[str, Any] = {
        "pid": pid, "settled": settled,
        "js_heap_used_mb": metrics.get("JSHeapUsedSize", 0) / 2**20,
        "js_heap_total_mb": metrics.get("JSHeapTotalSize", 0) / 2**20,
    }
    if pid is not None:
        out.update(smaps(pid))
    return out


# -- traces ----------------------------------------------------------------------------


def trace_load(ctx: Any, page: Any, loader: Loader, path: str, label: str,
               save: pathlib.Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load ``path`` under a Chrome trace (CDP ``Tracing``, browser-wide); the sample and
    the trace's analysis."""
    cdp = ctx.new_cdp_session(page)
    done: dict[str, Any] = {}
    cdp.on("Tracing.tracingComplete", lambda params: done.update(params))
    cdp.send("Tracing.start", {"transferMode": "ReturnAsStream", "traceConfig": {
        "includedCategories": TRACE_CATEGORIES, "recordMode": "recordAsMuchAsPossible"}})
    try:
        result = loader.load(page, path, label)
    finally:
        cdp.send("Tracing.end")
    deadline = time.monotonic() + 60
    while "stream" not in done and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    if "stream" not in done:
        raise RuntimeError("the trace never completed")
    chunks: list[bytes] = []
    while True:
        part = cdp.send("IO.read", {"handle": done["stream"], "size": 4 << 20})
        data = part.get("data", "")
        chunks.append(base64.b64decode(data) if part.get("base64Encoded") else data.encode())
        if part.get("eof"):
            break
    cdp.send("IO.close", {"handle": done["stream"]})
    cdp.detach()
    blob = b"".join(chunks)
    if save is not None:
        save.write_bytes(blob)
    parsed = json.loads(blob)
    events = parsed["traceEvents"] if isinstance(parsed, dict) else parsed
    return result, analyse_trace(events, loader.origin + path)


# Trace events inside the longest task worth naming (summed durations, ms).
_EVENT_GROUPS = {
    "wasm compile": ("v8.wasm.compileConsume", "wasm.SyncCompile", "wasm.CompileLazy",
                     "wasm.FinishStreaming", "wasm.Deserialize", "v8.wasm.cachedModule"),
    "GC": ("MajorGC", "MinorGC"),
    "script compile": ("v8.compile", "V8.CompileCode"),
}


IDLE = "idle (waiting: network, disk cache, other threads)"


def _phase(frames: list[dict[str, Any]]) -> str:
    """What a sampled stack (root first) is doing, in words; the rules name Pyodide's and
    PyScript's own JS functions, which stay readable in the vendored builds (the wasm's
    function names are stripped)."""
    leaf = frames[-1]["functionName"] if frames else ""
    names = [f["functionName"] for f in frames]
    urls = [f.get("url", "") for f in frames]
    wasm = any(u.endswith(".wasm") or n.startswith("wasm-function")
               for n, u in zip(names, urls, strict=True))
    if leaf == "(garbage collector)":
        return "GC"
    if leaf == "(program)":
        return "native code outside JS/wasm ((program): Blink, V8 compiling, loading)"
    if any("snapshot" in n.lower() for n in names):
        return "the snapshot: fetch, check, restore (a *snapshot* function on the stack)"
    if any("finalizeBootstrap" in n for n in names):
        return "Pyodide bootstrap: API.finalizeBootstrap (Python init, pyodide's own imports)"
    if "callMain" in names:
        return "CPython start: callMain (Py_Initialize)"
    if any(n in ("loadDylibs", "reportUndefinedSymbols", "updateGOT", "receiveInstance")
           for n in names):
        return "wasm instantiate + dynamic linking (loadDylibs)"
    if wasm:
        return "Python (wasm): PyScript's setup, main.py, the mount, handlers (plain: the bundle)"
    if any("/pyscript/" in u for u in urls):
        return "PyScript JS"
    named = [f for f in frames if len(f["functionName"]) > 2 and not
             f["functionName"].startswith("(")]
    if named:
        last = named[-1]
        return f"JS: {last['functionName']} ({last.get('url', '').rsplit('/', 1)[-1]})"
    return "other"


def _covered(events: list[dict[str, Any]]) -> float:
    """ms covered by the union of ``events``' spans (nested ones are counted once)."""
    total = 0.0
    end = float("-inf")
    for e in sorted(events, key=lambda e: float(e["ts"])):
        a, b = float(e["ts"]), float(e["ts"]) + float(e.get("dur", 0))
        if b > end:
            total += b - max(a, end)
            end = b
    return total / 1000


def analyse_trace(events: list[dict[str, Any]], url: str) -> dict[str, Any]:
    """The longest main-thread task of the page's renderer after its navigation started,
    split by what the V8 sampling profiler saw on the stack (ms)."""
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
               if e.get("ph") == "M" and e.get("name") == "thread_name"}
    # The page's time origin: from one of its User Timing marks (they carry their
    # performance.now() value), else from the navigationStart of its URL (pages without
    # marks; this event is sometimes missing from a trace of a new tab).
    marks = [e for e in events if str(e.get("name", "")).startswith("zariz:")
             and "startTime" in ((e.get("args") or {}).get("data") or {})]
    navs = [e for e in events if e.get("name") == "navigationStart"
            and str(((e.get("args") or {}).get("data") or {}).get("documentLoaderURL", ""))
            .startswith(url.split("?", 1)[0])]
    if marks:
        mark = marks[-1]
        pid = mark["pid"]
        origin = float(mark["ts"]) - float(mark["args"]["data"]["startTime"]) * 1000
    elif navs:
        pid, origin = navs[-1]["pid"], float(navs[-1]["ts"])
    else:
        return {"error": "neither a zariz:* mark nor the page's navigationStart in the trace"}
    main = [k for k, v in threads.items() if k[0] == pid and v == "CrRendererMain"]
    if not main:
        return {"error": "no renderer main thread in the trace"}
    tid = main[0][1]
    tasks = [e for e in events if e.get("ph") == "X" and e.get("name") == "RunTask"
             and e.get("pid") == pid and e.get("tid") == tid and float(e["ts"]) >= origin]
    if not tasks:
        return {"error": "no tasks on the renderer main thread"}
    task = max(tasks, key=lambda e: float(e.get("dur", 0)))
    start, end = float(task["ts"]), float(task["ts"]) + float(task["dur"])
    inside = [e for e in events if e.get("pid") == pid and e.get("tid") == tid
              and e.get("ph") == "X" and start <= float(e["ts"]) <= end]
    groups = {name: _covered([e for e in inside if e.get("name") in names])
              for name, names in _EVENT_GROUPS.items()}
    # The sampling profiler: a Profile event per thread, then ProfileChunks of nodes and
    # samples (ids are per process, so key by pid).
    profiles = v8_profiles(events, pid, tid)
    # The stream's open (the app's mark) ends the boot window; the whole trace otherwise.
    opened = [float(e["ts"]) for e in events if e.get("name") == "zariz:sse-open"
              and e.get("pid") == pid]
    window_end = opened[-1] if opened else float("inf")
    painted = sorted(float(e["ts"]) for e in events if e.get("name") == "firstPaint"
                     and e.get("pid") == pid and float(e["ts"]) >= origin)
    paint_end = painted[0] if painted else origin
    phases: collections.Counter[str] = collections.Counter()
    boot: collections.Counter[str] = collections.Counter()
    before_paint: collections.Counter[str] = collections.Counter()
    frames_ms: collections.Counter[str] = collections.Counter()
    for p in profiles.values():
        t = p["t"]
        for node_id, delta in zip(p["samples"], p["deltas"], strict=False):
            t += delta
            in_task, in_boot = start <= t <= end, origin <= t <= window_end
            if not (in_task or in_boot):
                continue
            stack = []
            node = p["nodes"].get(node_id)
            while node is not None:
                stack.append(node["callFrame"])
                node = p["nodes"].get(node.get("parent"))
            stack.reverse()
            stack = [f for f in stack if f["functionName"] != "(root)"]
            idle = not stack or stack[-1]["functionName"] == "(idle)"
            label = IDLE if idle else _phase(stack)
            if in_boot:
                boot[label] += delta / 1000
            if origin <= t <= paint_end:
                before_paint[label] += delta / 1000
            if idle or not in_task:
                continue
            phases[label] += delta / 1000
            named = [f for f in stack if len(f["functionName"]) > 2
                     and not f["functionName"].startswith(("(", "wasm-function", "js-to-wasm"))]
            if named:
                frames_ms[f"{named[-1]['functionName']} "
                          f"({named[-1].get('url', '').rsplit('/', 1)[-1]})"] += delta / 1000
    return {
        "task_ms": float(task["dur"]) / 1000,
        "task_at_ms": (start - origin) / 1000,
        "sampled_ms": sum(phases.values()),
        "phases": phases.most_common(6),
        "frames": frames_ms.most_common(6),
        "events": groups,
        "boot_ms": (window_end - origin) / 1000 if opened else None,
        "boot_phases": boot.most_common(8),
        "paint_ms": (paint_end - origin) / 1000 if painted else None,
        "paint_phases": before_paint.most_common(5),
    }


# -- the run ---------------------------------------------------------------------------


def _rotate(items: Sequence[str], r: int) -> list[str]:
    k = r % len(items) if items else 0
    return [*items[k:], *items[:k]]


def run(runs: int = 5, contenders: Sequence[str] = CONTENDERS,
        orders_contenders: Sequence[str] = ORDERS_CONTENDERS, seed_orders: int = 10_000,
        trace_modes: Sequence[str] = TRACE_MODES, max_s: float = 1200.0,
        trace_dir: pathlib.Path | None = None, root: pathlib.Path | None = None,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    problems: list[str] = []
    opens: dict[str, dict[str, list[dict[str, Any]]]] = {
        w: {"cold": [], "warm": []} for w in contenders}
    mems: dict[str, list[dict[str, Any]]] = {w: [] for w in contenders}
    orders: dict[str, dict[str, list[dict[str, Any]]]] = {
        w: {"cold": [], "warm": []} for w in orders_contenders}
    traces: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "runs": runs, "contenders": list(contenders), "orders_contenders": list(orders_contenders),
        "seed_orders": seed_orders, "machine": machine(),
        "pyodide": _vendor_version(ROOT / "static" / "vendor" / "pyodide" / "package.json"),
        "pyscript": _vendor_version(ROOT / "node_modules" / "@pyscript" / "core" / "package.json"),
        "load_avg": {"start": os.getloadavg()},
        "root": str(root) if root is not None else None,
    }
    with tempfile.TemporaryDirectory(prefix="zariz-boot-bench-") as tmp, \
            BenchServer(1) as bench_server, \
            LiveServer(_dir(tmp, "app"), root=root) as app_server, \
            LiveServer(_dir(tmp, "seeded"), env={"ZARIZ_SEED_ORDERS": str(seed_orders)},
                       root=root) as seeded, \
            sync_playwright() as pw:
        # The app as `make serve` runs it (an empty database for row 1); the baselines'
        # pages only exist on the bench server (the same app plus /bench/pages/).
        loaders = {w: Loader(app_server.url if w.startswith("zariz") else bench_server.url,
                             problems) for w in (*contenders, *trace_modes)}
        seeded_loader = Loader(seeded.url, problems)
        total = 0
        if orders_contenders:
            token = json.loads(login(seeded.url))["access_token"]
            total = int(httpx.get(f"{seeded.url}/v1/orders", params={"limit": 1},
                                  headers={"Authorization": f"Bearer {token}"},
                                  timeout=30).json()["total"])
        result["orders_total"] = total
        orders_probe = ORDERS_PROBE % {"total": total, "rows": min(PAGE_ROWS, total)}

        round_s = 0.0
        done_rounds = 0
        for r in range(runs):
            elapsed = time.monotonic() - started
            if r > 0 and elapsed + round_s > max_s:
                problems.append(f"--max-s {max_s:.0f} reached: {r} of {runs} rounds run")
                break
            round_start = time.monotonic()
            for who in _rotate(contenders, r):
                label = f"{who} run {r + 1}"
                try:
                    loader = loaders[who]
                    with fresh_profile(pw, [_auth_script(login(loader.origin)), PROBE]) as ctx:
                        if "chromium" not in result:
                            result["chromium"] = _browser_version(ctx)
                        cold_page = ctx.pages[0] if ctx.pages else ctx.new_page()
                        cold = loader.load(cold_page, URLS[who], f"{label} cold")
                        warm_page = ctx.new_page()
                        cold_page.close()  # alone in its browser: the leader, one renderer
                        warm = loader.load(warm_page, URLS[who], f"{label} warm")
                        mem = memory(ctx, warm_page, warm["open_ms"])
                except Exception as exc:  # one failed sample must not lose the run
                    problems.append(f"{label}: {type(exc).__name__}: {str(exc)[:300]}")
                    continue
                opens[who]["cold"].append(cold)
                opens[who]["warm"].append(warm)
                mems[who].append(mem)
                _check_boot(who, [cold, warm], label, problems)
            for who in _rotate(orders_contenders, r):
                label = f"orders {who} run {r + 1}"
                try:
                    with fresh_profile(pw, [_auth_script(login(seeded.url)), PROBE,
                                            orders_probe]) as ctx:
                        cold_page = ctx.pages[0] if ctx.pages else ctx.new_page()
                        cold = seeded_loader.load(cold_page, ORDERS_URLS[who], f"{label} cold",
                                                  orders=True)
                        warm_page = ctx.new_page()
                        cold_page.close()
                        warm = seeded_loader.load(warm_page, ORDERS_URLS[who], f"{label} warm",
                                                  orders=True)
                except Exception as exc:
                    problems.append(f"{label}: {type(exc).__name__}: {str(exc)[:300]}")
                    continue
                orders[who]["cold"].append(cold)
                orders[who]["warm"].append(warm)
                _check_boot(who, [cold, warm], label, problems)
            round_s = time.monotonic() - round_start
            done_rounds = r + 1
            log(f"[boot] round {r + 1}/{runs} done in {round_s:.0f} s")
        for who in trace_modes:
            if time.monotonic() - started > max_s:
                problems.append(f"--max-s {max_s:.0f} reached: trace of {who} skipped")
                continue
            try:
                loader = loaders[who]
                with fresh_profile(pw, [_auth_script(login(loader.origin)), PROBE]) as ctx:
                    cold_page = ctx.pages[0] if ctx.pages else ctx.new_page()
                    for load in ("cold", "warm"):
                        page = cold_page if load == "cold" else ctx.new_page()
                        if load == "warm":
                            cold_page.close()
                        save = (trace_dir / f"boot-{who}-{load}.json") if trace_dir else None
                        s, analysis = trace_load(ctx, page, loader, URLS[who],
                                                 f"trace {who} {load}", save)
                        traces.append({"who": who, "load": load, "open_ms": s["open_ms"],
                                       "boot": s["boot"], **analysis})
                log(f"[boot] traced {who}")
            except Exception as exc:
                problems.append(f"trace {who}: {type(exc).__name__}: {str(exc)[:300]}")
    result.update({
        "rounds": done_rounds, "open": opens, "memory": mems, "orders": orders,
        "traces": traces, "problems": problems, "elapsed_s": time.monotonic() - started,
    })
    result["load_avg"]["end"] = os.getloadavg()
    return result


def _browser_version(ctx: Any) -> str:
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    cdp = ctx.new_cdp_session(page)
    try:
        return str(cdp.send("Browser.getVersion")["product"]).split("/", 1)[-1]
    finally:
        cdp.detach()


def _check_boot(who: str, samples: list[dict[str, Any]], label: str,
                problems: list[str]) -> None:
    """The boot switch's contract: ``?boot=plain`` never boots from the snapshot."""
    if who.endswith("-plain"):
        for s in samples:
            if (s.get("boot") or {}).get("mode") == "snapshot":
                problems.append(f"{label}: ?boot=plain booted from the snapshot")


# -- the report ------------------------------------------------------------------------


def _median(values: Sequence[float | None]) -> float | None:
    clean = [float(v) for v in values if v is not None]
    return statistics.median(clean) if clean else None


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _x(a: float | None, b: float | None) -> str:
    return "–" if a is None or not b else f"{a / b:.2f}x"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _met(value: float | None, goal: float) -> str:
    if value is None:
        return "not measured"
    return "**met**" if value <= goal else "**missed**"


def snapshot_status(result: dict[str, Any]) -> tuple[bool, str]:
    """(used on every default load, a sentence)."""
    loads = [s for load in ("cold", "warm") for s in result["open"].get("zariz", {}).get(load, [])]
    loads += [s for load in ("cold", "warm")
              for s in result["orders"].get("zariz", {}).get(load, [])]
    if not loads:
        return False, "snapshot: not measured (no default zariz load)"
    modes = collections.Counter((s.get("boot") or {}).get("mode") or "absent" for s in loads)
    if modes.get("snapshot", 0) == len(loads):
        return True, f"snapshot: used on all {len(loads)} default loads"
    reasons = sorted({str((s.get("boot") or {}).get("reason") or "") for s in loads
                      if (s.get("boot") or {}).get("mode") == "plain"} - {""})
    if modes.get("absent", 0) == len(loads):
        return False, ("snapshot: not available - `globalThis.__zarizBoot` is absent on every "
                       "default load (no snapshot loader), so the default boot is a plain boot "
                       "and the default/plain rows compare plain with plain")
    detail = ", ".join(f"{k} {v}" for k, v in sorted(modes.items()))
    why = f"; why plain: {'; '.join(reasons)}" if reasons else ""
    return False, f"snapshot: not available on every default load ({detail}{why})"


def _big_files(samples: list[dict[str, Any]]) -> str:
    seen: dict[str, list[str]] = collections.defaultdict(list)
    for s in samples:
        for f in s.get("big") or []:
            size = max(int(f.get("size") or 0), 1)
            transfer = int(f.get("transfer") or 0)
            how = "cache" if transfer == 0 else ("304" if transfer < size / 10 else "network")
            seen[f["name"].rsplit("/", 1)[-1] + f" ({size / 1e6:.1f} MB)"].append(how)
    return ", ".join(f"{name}: {', '.join(sorted(set(hows)))}" for name, hows in
                     sorted(seen.items())) or "none"


def _split(items: Sequence[tuple[str, float]], n: int) -> str:
    return "; ".join(f"{name} {ms:,.0f} ms" for name, ms in list(items)[:n])


def _trace_text(t: dict[str, Any]) -> str:
    if "error" in t:
        return f"- {t['who']} {t['load']}: trace unusable ({t['error']})"
    mode = (t.get("boot") or {}).get("mode") or "no __zarizBoot"
    frames = ", ".join(f"`{name}` {ms:,.0f}" for name, ms in t["frames"][:3])
    events = ", ".join(f"{k} {v:,.0f} ms" for k, v in t["events"].items() if v >= 1)
    text = (f"- **{t['who']} {t['load']}** ({mode}; stream open at {t['open_ms']:,.0f} ms "
            f"under the trace): longest task **{t['task_ms']:,.0f} ms** at "
            f"{t['task_at_ms']:,.0f} ms. Its sampled stacks: {_split(t['phases'], 4)}. "
            f"Deepest named JS frames: {frames}."
            + (f" Trace events inside it: {events}." if events else ""))
    if t.get("boot_ms"):
        text += (f" The main thread from navigation to stream open ({t['boot_ms']:,.0f} ms): "
                 f"{_split(t['boot_phases'], 5)}.")
    return text


MARK_STEPS = (
    ("navigation", "loader", None, "zariz:boot-start",
     "the page's early start of the loader (snapshot), or PyScript's core.js, its config "
     "and plugins until it imports the loader (plain)"),
    ("loader", "Pyodide ready", "zariz:boot-start", "zariz:pyodide-ready",
     "the snapshot's fetch and the module's creation (overlapping), then the restore; or a "
     "plain loadPyodide and the bundle's unpacking"),
    ("Pyodide ready", "app mounted", "zariz:pyodide-ready", "zariz:app-mounted",
     "PyScript's setup, main.py, the UI's mount"),
    ("app mounted", "stream open", "zariz:app-mounted", "zariz:sse-open",
     "ticket + EventSource open"),
)


def mark_split(samples: list[dict[str, Any]]) -> list[tuple[str, float | None, str]]:
    """("from -> to", median ms, what runs in it) between the app's boot marks."""
    out: list[tuple[str, float | None, str]] = []
    for first, then, a, b, what in MARK_STEPS:
        diffs = [s["marks"][b] - (s["marks"][a] if a else 0.0) for s in samples
                 if b in s["marks"] and (a is None or a in s["marks"])]
        out.append((f"{first} -> {then}", _median(diffs), what))
    return out


def render(result: dict[str, Any], command: str) -> str:
    contenders = result["contenders"]
    opens, mems, orders = result["open"], result["memory"], result["orders"]
    used, status = snapshot_status(result)
    m = result["machine"]
    med = {w: {load: {k: _median([s[k] for s in opens[w][load]])
                      for k in ("open_ms", "fp_ms", "fcp_ms", "block_ms", "longtask_ms")}
               for load in ("cold", "warm")} for w in contenders}
    stock = med.get("stock")
    lines = [
        "## Boot: snapshot vs plain Pyodide vs stock PyScript vs plain JS",
        "",
        f"Measured {dt.date.today().isoformat()} on {m['cores']} cores ({m['cpu'] or m['arch']}"
        f", {m['mem_gb'] or 0:.0f} GB, Linux {m['kernel']}; load average "
        f"{result['load_avg']['start'][0]:.1f} at the start, "
        f"{result['load_avg']['end'][0]:.1f} at the end - the machine is shared), Chromium "
        f"{result.get('chromium', '?')} headless, PyScript {result['pyscript']}, Pyodide "
        f"{result['pyodide']}. Rerun: `make boot` (= `python -m bench.boot`)"
        + ("" if command == "make boot" else f"; this run: `{command}`")
        + f". Medians of {result['rounds']} runs "
        f"(of {result['runs']} asked), contenders interleaved and their order rotated per run; "
        "every sample in a fresh browser profile: **cold** = its first load, **warm** = a "
        "second tab after the first closed (the profile's disk HTTP cache and V8 code cache). "
        "Times are ms from the navigation's start (`performance.now()`).",
        "",
        f"**{status}.**"
        + (f" The app was served from `{result['root']}` (`--root`: another tree, with its "
           "own `var/snapshot`), the baselines from this project." if result.get("root")
           else ""),
        "",
        "### 1. Navigation -> stream open (ms)",
        "",
        "| contender | cold | warm | cold runs | warm runs | cold × stock | warm × stock |",
        "|---|---:|---:|---|---|---:|---:|",
    ]
    for w in contenders:
        c, wm = med[w]["cold"]["open_ms"], med[w]["warm"]["open_ms"]
        lines.append(
            f"| {NAMES[w]} | {_ms(c)} | {_ms(wm)} | "
            f"{', '.join(_ms(s['open_ms']) for s in opens[w]['cold'])} | "
            f"{', '.join(_ms(s['open_ms']) for s in opens[w]['warm'])} | "
            f"{_x(c, stock['cold']['open_ms'] if stock else None)} | "
            f"{_x(wm, stock['warm']['open_ms'] if stock else None)} |")
    warm_ratio = cold_ratio = None
    if "zariz" in med and stock:
        warm_ratio = _ratio(med["zariz"]["warm"]["open_ms"], stock["warm"]["open_ms"])
        cold_ratio = _ratio(med["zariz"]["cold"]["open_ms"], stock["cold"]["open_ms"])
    lines += [
        "",
        f"Goals (default boot vs stock PyScript): warm ≤ {GOAL_WARM}x - "
        f"{_met(warm_ratio, GOAL_WARM)} ({_x(warm_ratio, 1.0)}); cold ≤ {GOAL_COLD}x - "
        f"{_met(cold_ratio, GOAL_COLD)} ({_x(cold_ratio, 1.0)}).",
        "",
    ]
    # Phases of the app's boot from its marks (warm medians) and the loader's own split.
    app = [w for w in contenders if w.startswith("zariz")]
    if app:
        mark_names = ("zariz:boot-start", "zariz:pyodide-ready", "zariz:app-mounted",
                      "zariz:sse-open")
        lines += [
            "Where the app's boot goes (medians, ms from navigation; `–`: the mark is not "
            "set yet):",
            "",
            "| contender | load | " + " | ".join(n.split(":", 1)[1] for n in mark_names)
            + " | `__zarizBoot` module / fetch / restore / total / heap copy |",
            "|---|---|" + "---:|" * len(mark_names) + "---|",
        ]
        for w in app:
            for load in ("cold", "warm"):
                ss = opens[w][load]
                marks = [_median([s["marks"].get(n) for s in ss]) for n in mark_names]
                boot = [_median([(s.get("boot") or {}).get(k) for s in ss])
                        for k in ("module_ms", "fetch_ms", "restore_ms", "total_ms",
                                  "heap_copy_ms")]
                lines.append(f"| {NAMES[w]} | {load} | " + " | ".join(_ms(v) for v in marks)
                             + f" | {' / '.join(_ms(v) for v in boot)} |")
        lines.append("")
    warm_all = [s for w in contenders for s in opens[w]["warm"]]
    if warm_all:
        lines += ["Files of 1 MB or more on the warm loads, and where they came from: "
                  + "; ".join(f"{w}: {_big_files(opens[w]['warm'])}" for w in contenders
                              if opens[w]["warm"] and w != "js") + ".", ""]

    # 2. orders table
    lines += [
        f"### 2. Navigation -> orders table rendered, {result.get('orders_total', 0):,} orders, "
        "warm (ms)",
        "",
        "*Rendered*: the first page of rows (50) is in the DOM and the \"All\" tab counts every "
        "order (the whole snapshot of orders is loaded, in pages of 2,500), then the next "
        "animation frame's callback - the frame that paints them.",
        "",
        "| contender | warm | warm runs | cold | × plain boot (warm) |",
        "|---|---:|---|---:|---:|",
    ]
    omed = {w: {load: _median([s["rendered_ms"] for s in orders[w][load]])
                for load in ("cold", "warm")} for w in result["orders_contenders"]}
    plain = omed.get("zariz-plain", {}).get("warm")
    for w in result["orders_contenders"]:
        lines.append(f"| {NAMES[w]} | {_ms(omed[w]['warm'])} | "
                     f"{', '.join(_ms(s['rendered_ms']) for s in orders[w]['warm'])} | "
                     f"{_ms(omed[w]['cold'])} | {_x(omed[w]['warm'], plain)} |")
    orders_ratio = _ratio(omed.get("zariz", {}).get("warm"), plain)
    lines += ["", f"Goal: default ≤ {GOAL_ORDERS}x the plain boot - "
              f"{_met(orders_ratio, GOAL_ORDERS)} ({_x(orders_ratio, 1.0)}).", ""]

    # 3. main thread
    lines += [
        "### 3. Main thread during boot (ms)",
        "",
        "Longest block: the longest gap of a `setTimeout(0)` heartbeat started by an init "
        "script, before the stream opened (the reference); the `longtask` observer's longest "
        "entry beside it.",
        "",
        "| contender | load | first paint | first contentful paint | longest block | "
        "longtask API |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for w in contenders:
        for load in ("cold", "warm"):
            x = med[w][load]
            lines.append(f"| {NAMES[w]} | {load} | {_ms(x['fp_ms'])} | {_ms(x['fcp_ms'])} | "
                         f"{_ms(x['block_ms'])} | {_ms(x['longtask_ms'])} |")
    paint = [med[w][load]["fp_ms"] for w in ("zariz",) if w in med for load in ("cold", "warm")]
    worst_paint = max((p for p in paint if p is not None), default=None)
    skeleton = all(s["fcp_ms"] is not None and s["marks"].get("zariz:app-mounted") is not None
                   and s["fcp_ms"] < s["marks"]["zariz:app-mounted"]
                   for w in app for load in ("cold", "warm") for s in opens[w][load])
    missed_longtask = sum(1 for w in app for load in ("cold", "warm") for s in opens[w][load]
                          if s["block_ms"] > 2 * max(s["longtask_ms"], BLOCK_MS))
    lines += [
        "",
        f"Goal: first paint of the skeleton ≤ {GOAL_PAINT_MS:.0f} ms (default boot, cold and "
        f"warm medians) - {_met(worst_paint, GOAL_PAINT_MS)} ({_ms(worst_paint)} ms at "
        "worst). " + ("The app's first contentful paint came before its mount on every load: "
                      "it is the HTML skeleton's. " if skeleton and app else "")
        + (f"The longtask observer missed the longest block (reported less than half of it) "
           f"on {missed_longtask} of the app's loads." if missed_longtask else ""),
        "",
    ]
    if result["traces"]:
        lines += ["What the longest task is, from a Chrome trace with the V8 sampling profiler "
                  "(one traced cold and warm load per app mode; tracing slows the page, so the "
                  "split matters here, not the totals):", ""]
        lines += [_trace_text(t) for t in result["traces"]]
        lines.append("")

    # 4. memory
    mmed = {w: {k: _median([x.get(k) for x in mems[w]])
                for k in ("uss_mb", "pss_mb", "rss_mb", "js_heap_total_mb", "js_heap_used_mb")}
            for w in contenders}
    stock_uss = mmed.get("stock", {}).get("uss_mb")
    lines += [
        "### 4. Memory per tab (MiB, the warm tab once quiet, after two forced GCs)",
        "",
        "| contender | renderer private (USS) | PSS | RSS | JS heap total / used | "
        "USS × stock |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for w in contenders:
        x = mmed[w]
        lines.append(f"| {NAMES[w]} | {_ms(x['uss_mb'])} | {_ms(x['pss_mb'])} | "
                     f"{_ms(x['rss_mb'])} | {_ms(x['js_heap_total_mb'])} / "
                     f"{_ms(x['js_heap_used_mb'])} | {_x(x['uss_mb'], stock_uss)} |")
    mem_ratio = _ratio(mmed.get("zariz", {}).get("uss_mb"), stock_uss)
    unsettled = sum(1 for w in contenders for x in mems[w] if not x.get("settled"))
    lines += [
        "",
        f"Goal: default ≤ stock PyScript - {_met(mem_ratio, 1.0)} ({_x(mem_ratio, 1.0)} by "
        "USS). The number is the tab's renderer process's private memory (USS): what the tab "
        "costs on its own and what closing it gives back; RSS also counts the Chromium "
        "binary's and fonts' pages every renderer shares, PSS splits them. V8's JS heap "
        "leaves out Pyodide's wasm linear memory (an ArrayBuffer's backing store), so it is "
        "far below the process's number for a Python tab."
        + (f" {unsettled} tabs were not quiet within 15 s and were measured anyway."
           if unsettled else ""),
        "",
    ]
    bounds = _bounds(result, warm_ratio, cold_ratio, orders_ratio, worst_paint, mem_ratio)
    if bounds:
        lines += ["### Where a goal is missed, and what bounds it", "", *bounds, ""]
    lines.append("No problems recorded." if not result["problems"]
                 else "Problems: " + "; ".join(result["problems"]))
    if not used:
        lines += ["", "The default boot is measured through the boot contract "
                  "(`globalThis.__zarizBoot`, the `zariz:*` marks, `?boot=plain`): once the "
                  "snapshot loader is in, the same command measures the snapshot against "
                  "the plain boot."]
    return "\n".join(lines)


def _bounds(result: dict[str, Any], warm_ratio: float | None, cold_ratio: float | None,
            orders_ratio: float | None, worst_paint: float | None,
            mem_ratio: float | None) -> list[str]:
    """One line per missed goal, from the traces and the marks of this run."""
    out: list[str] = []
    traced = {(t["who"], t["load"]): t for t in result["traces"] if "error" not in t}
    used, _ = snapshot_status(result)
    pending = "" if used else " (no snapshot: the default boot is plain)"

    def why(load: str) -> str:
        steps = [(name, ms, what) for name, ms, what in
                 mark_split(result["open"].get("zariz", {}).get(load, [])) if ms is not None]
        text = ""
        if steps:
            name, ms, what = max(steps, key=lambda step: step[1] or 0.0)
            text += (" Its boot marks (medians): " + ", ".join(
                f"{n} {m:,.0f} ms" for n, m, _ in steps)
                + f"; the largest step is {name} ({what}).")
        t = traced.get(("zariz", load))
        if t is not None and t.get("boot_ms"):
            idle = dict(t["boot_phases"]).get(IDLE, 0.0)
            text += (f" The {load} trace's main thread over its {t['boot_ms']:,.0f} ms boot "
                     f"is idle {idle:,.0f} ms"
                     + (" - the boot is bound by the main thread's CPU, not the network"
                        if idle < 0.2 * t["boot_ms"] else "")
                     + f"; busy: {_split([x for x in t['boot_phases'] if x[0] != IDLE], 4)}; "
                     f"longest task {t['task_ms']:,.0f} ms.")
        return text

    if warm_ratio is not None and warm_ratio > GOAL_WARM:
        out.append(f"- Warm stream open {warm_ratio:.2f}x stock > {GOAL_WARM}x{pending}."
                   + why("warm"))
    if cold_ratio is not None and cold_ratio > GOAL_COLD:
        out.append(f"- Cold stream open {cold_ratio:.2f}x stock > {GOAL_COLD}x{pending}."
                   + why("cold"))
    if orders_ratio is not None and orders_ratio > GOAL_ORDERS:
        loads = result["orders"].get("zariz", {}).get("warm", [])
        tail = _median([s["rendered_ms"] - s["marks"]["zariz:app-mounted"] for s in loads
                        if s.get("rendered_ms") and "zariz:app-mounted" in s["marks"]])
        fetch = _median([s.get("orders_fetch_ms") for s in loads])
        requests = _median([s.get("orders_requests") for s in loads])
        out.append(f"- Orders table {orders_ratio:.2f}x the plain boot > {GOAL_ORDERS}x"
                   f"{pending}: both load the same {result.get('orders_total', 0):,} orders "
                   "after the mount"
                   + (f" (mount -> rendered: {tail:,.0f} ms median on the default boot"
                      if tail is not None else "")
                   + (f", of it {fetch:,.0f} ms from the first to the last of "
                      f"{requests:.0f} sequential `GET /v1/orders` pages" if fetch else "")
                   + (")" if tail is not None else "")
                   + ", which a faster boot does not shorten.")
    if worst_paint is not None and worst_paint > GOAL_PAINT_MS:
        text = (f"- First paint {worst_paint:,.0f} ms > {GOAL_PAINT_MS:.0f} ms: the skeleton "
                "is static HTML that waits for one small script (early.js: the language's "
                "direction and the theme) and four stylesheets, each its own request on a "
                "cold load (a warm load has them from the cache: they are named by content); "
                "the stock and plain JS pages have none of them, and their first paints in "
                "the same run are the floor (table above).")
        for load in ("cold", "warm"):
            t = traced.get(("zariz", load))
            if t is not None and t.get("paint_ms") is not None:
                text += (f" {load.capitalize()} trace: first paint at {t['paint_ms']:,.0f} ms; "
                         f"the main thread before it: {_split(t['paint_phases'], 3)}.")
        out.append(text)
    if mem_ratio is not None and mem_ratio > 1.0:
        uss = {w: _median([x.get("uss_mb") for x in result["memory"].get(w, [])])
               for w in ("zariz", "zariz-plain", "stock")}
        text = f"- Memory {mem_ratio:.2f}x stock by USS{pending}."
        if uss["zariz-plain"] is not None and uss["stock"] is not None:
            text += (f" The plain-booted app tab is {uss['zariz-plain'] - uss['stock']:+,.0f} "
                     "MiB against stock (the app's modules, UI and data)")
            if used and uss["zariz"] is not None:
                snap = [f for s in result["open"]["zariz"]["warm"] for f in s.get("big") or []
                        if f["name"].endswith(".bin")]
                size = max((int(f.get("decoded") or 0) for f in snap), default=0) / 2**20
                text += (f"; the snapshot-booted one {uss['zariz'] - uss['zariz-plain']:+,.0f}"
                         " MiB against the plain one")
                extra = uss["zariz"] - uss["zariz-plain"]
                if size and extra >= 0.8 * size:
                    text += (f" - about the snapshot's {size:,.0f} MiB: a copy of its bytes "
                             "kept alive after the restore costs that much")
                elif size:
                    skipped = _median([(s.get("boot") or {}).get("heap_skipped")
                                       for s in result["open"]["zariz"]["warm"]])
                    left = (f" less its zero pages ({skipped / 2**20:,.0f} MiB), which the "
                            "loader leaves out" if skipped else "")
                    text += (" (a restored heap is resident as far as it was written: the "
                             f"snapshot's {size:,.0f} MiB{left}, every app module already "
                             "imported; a plain boot's heap holds what it has used)")
            text += "."
        out.append(text)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="samples per contender (>= 5)")
    parser.add_argument("--seed-orders", type=int, default=10_000,
                        help="orders in the database of row 2")
    parser.add_argument("--max-s", type=float, default=1200.0,
                        help="start no new run (or trace) once it would end after this")
    parser.add_argument("--no-trace", action="store_true", help="skip the Chrome traces")
    parser.add_argument("--trace-dir", type=pathlib.Path, default=None,
                        help="also save the traces here (open them in Chrome DevTools)")
    parser.add_argument("--root", type=pathlib.Path, default=None,
                        help="serve the app from this tree (e.g. a copy with its own "
                             "var/snapshot); default: the project")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; don't rewrite bench/RESULTS.md")
    parser.add_argument("--raw", type=pathlib.Path, default=None,
                        help="also save the raw result as JSON here")
    args = parser.parse_args(argv)
    if args.trace_dir is not None:
        args.trace_dir.mkdir(parents=True, exist_ok=True)
    result = run(args.runs, seed_orders=args.seed_orders,
                 trace_modes=() if args.no_trace else TRACE_MODES, max_s=args.max_s,
                 trace_dir=args.trace_dir, root=args.root,
                 log=lambda line: print(line, file=sys.stderr, flush=True))
    command = "make boot"
    extra: list[str] = []
    if args.runs != 5:
        extra.append(f"--runs {args.runs}")
    if args.seed_orders != 10_000:
        extra.append(f"--seed-orders {args.seed_orders}")
    if args.no_trace:
        extra.append("--no-trace")
    if args.root is not None:
        extra.append(f"--root {args.root}")
    if extra:
        command = "python -m bench.boot " + " ".join(extra)
    report(render(result, command), SECTION, write=not args.no_write, raw=result,
           raw_path=args.raw)


if __name__ == "__main__":
    main()
