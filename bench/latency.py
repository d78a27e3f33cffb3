"""Server publish -> handler and -> row painted, at a steady event rate: the zariz orders
page against a plain JS page that renders the same row, on the same server, in one run.

    python -m bench.latency                      # 5 runs x 10 s at 500 events/s; RESULTS.md
    python -m bench.latency --runs 1 --seconds 2 --no-write --no-profile

Each sample is a fresh ``bench.server`` (the real app; ``--seed`` orders already in the
database) and a fresh browser context on the page under test, logged in:

* **zariz**: ``/dashboard/orders`` (the whole app: shared stream, leader tab, the orders
  store, the table rendered once per animation frame: a new row is cloned from a prototype
  row and prepended, the rows already there are patched in place), plus one subscriber
  that stamps ``order.created`` events;
* **plain JS** (baseline): ``bench/pages/js_rows.html``, the newest 50 orders and then, per
  event, ``JSON.parse`` and the row prepended at once (same cells and classes);
* **control**: the zariz orders page filtered to delivered orders, so the run's new orders
  reach the same client, store and subscribers but never make a row: handler latency only,
  to tell what the new rows cost from what the rest of the app costs.

A load process (``python -m bench.latency loadgen``, raw keep-alive HTTP/1.1 on loopback)
sends real ``POST /v1/orders`` at ``--rate`` per second on an open-loop schedule, for
``--warmup`` + ``--seconds`` seconds (bounded in time and count); the server stamps each
event as it logs it (``ts`` of the event row: wall-clock ms, read back from the database).
In the page, on the same machine's wall clock (``performance.timeOrigin +
performance.now()``):

* **handler**: the subscriber's (JS: ``onmessage``'s) first statement;
* **painted, the goal's definition** ("read with requestAnimationFrame after the row is in
  the DOM"): a probe (the same for both pages) notes each row when it enters the DOM
  (``MutationObserver``) and stamps it in the next callback of its ``requestAnimationFrame``
  loop, which runs first in every frame. A row inserted between frames (the JS page) is
  stamped before the paint that shows it; a row inserted inside a rAF callback (the zariz
  page renders there) a frame after the paint that showed it;
* **painted, the frame probe**: the same row stamped in the first task after the frame that
  painted it (the loop posts a user-blocking task that runs once the frame's update - the
  other rAF callbacks, style, layout, paint - is over). Printed beside the goal's reading:
  it charges both pages the same way.

Orders of the warm-up are left out. Per sample p50/p95/p99/max; per contender the median
of each over the runs; contenders interleaved and their order alternated run by run. Then
(unless ``--no-profile``) one more sample of each table page under a Chrome trace with the
V8 sampler: where its main thread's time goes per event (:func:`analyse`).

The browser is driven over the DevTools pipe (``bench.__main__.Chrome``), not Playwright:
Playwright's Network domain reports every SSE message to the driver, which adds main-thread
work per event to both pages and keeps the browser process busy enough to delay frames.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime as dt
import itertools
import json
import os
import pathlib
import platform as pyplatform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from bench.__main__ import TASK_EVENTS, BenchServer, Chrome, Tab, _marks, chrome, samples
from bench.common import ROOT
from bench.results import report

SECTION = "latency"
CONTENDERS = ("js", "ours", "ours_norows")
NAMES = {"js": "plain JS page (baseline)", "ours": "zariz orders page (/dashboard/orders)",
         "ours_norows": "zariz orders page, filter that new orders miss (control)"}
# The control: the same page, client and subscribers, filtered to delivered orders, so that
# the run's new orders change the store and the counts but never add a row. Its handler
# latency against the orders page's is what the new rows cost the stream's events.
CONTROL_PATH = "/dashboard/orders?status=delivered"
HANDLER_BUDGET_MS = 5.0
FRAME_MS = 1000 / 60
TIMEOUT_MS = 120_000
MAX_LAG_MS = 50.0  # a load that fell further behind its schedule: the machine was busy
PROFILE_S = 5.0  # measured seconds of a profiled sample (its trace holds every sample)

# The paint probe (see the module doc). ``painted`` maps an order id to
# [painted, next rAF, in DOM] stamps; only a row's first entry into the DOM counts (both
# pages insert a new row once and patch the table in place; a row pushed off the 50-row
# page and back would enter again). A row taken out of the DOM again before a frame painted
# it (a burst pushed it off the 50-row page) was never painted: -1.
PROBE = """() => {
  const wall = () => performance.timeOrigin + performance.now();
  const painted = new Map();
  const counts = {inFrame: 0, between: 0};
  let inFrame = false, thisFrame = [], waiting = [], nextRaf = [];
  const afterFrame = () => {
    inFrame = false;
    const t = wall();
    for (const [id, row] of thisFrame) painted.get(id)[0] = row.isConnected ? t : -1;
    thisFrame = [];
  };
  const loop = () => {
    requestAnimationFrame(loop);
    const t = wall();
    for (const id of nextRaf) painted.get(id)[1] = t;
    nextRaf = [];
    inFrame = true;
    for (const entry of waiting) thisFrame.push(entry);
    waiting = [];
    // The first task after this frame's update: user-blocking, so that it does not wait
    // behind the tasks already queued (the pages' own event handling).
    scheduler.postTask(afterFrame, {priority: "user-blocking"});
  };
  requestAnimationFrame(loop);
  const seen = (row) => {
    const id = row.dataset.orderId;
    if (id === undefined || painted.has(id)) return;
    painted.set(id, [0, 0, wall()]);
    counts[inFrame ? "inFrame" : "between"]++;
    (inFrame ? thisFrame : waiting).push([id, row]);
    nextRaf.push(id);
  };
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1) continue;
      if (n.matches("tr[data-order-id]")) seen(n);
      else for (const row of n.querySelectorAll("tr[data-order-id]")) seen(row);
    }
  }).observe(document.body, {childList: true, subtree: true});
  window.__probe = {painted, counts};
}"""

PAINTED = """ids => ids.map(id => { const p = window.__probe.painted.get(String(id));
  return p ? p : null; })"""

# Every row of the run either painted or dropped, and its next rAF seen. A row that never
# entered the DOM (the page skipped it) leaves this false: the wait times out (bounded).
ALL_PAINTED = """ids => ids.every(id => { const p = window.__probe.painted.get(String(id));
  return p && p[0] !== 0 && p[1] > 0; })"""

# The zariz page's handler stamp: a subscriber of the app's client, moved ahead of the
# app's own (the JS page stamps in onmessage's first statement, before its own work), on
# the page's clock (performance.timeOrigin + performance.now(); time.monotonic() is
# performance.now() in Pyodide, and the offset is read once).
OUR_STAMPS = """
import builtins, time
import js
from zariz.boot import runtime
_offset = float(js.performance.timeOrigin) + float(js.performance.now()) - time.monotonic() * 1000
_handled = []
def _stamp(ev, _now=time.monotonic, _offset=_offset, _out=_handled.append):
    at = _offset + _now() * 1000
    if ev.event == "order.created":
        _out([ev.data.get("id"), at])
_client = runtime().client
_off = _client.subscribe(_stamp)
_fanout = _client._fanout  # bench only: the stamp first, as in the JS page
_fanout._subs.insert(0, _fanout._subs.pop())
_fanout._snapshot = None
builtins.__latency = (_handled, _off)
"""
OUR_DUMP = """
import builtins, json
import js
js.window.__handled = js.JSON.parse(json.dumps(builtins.__latency[0]))
"""

# For the profiled zariz sample: each subscriber of the app's client and each render the
# frame scheduler runs, timed (time.perf_counter: performance.now(), 0.1 ms steps with
# jitter in a page that is not cross-origin isolated, so only sums over thousands of calls
# mean anything), to name what the batches and the frames spend their Python on.
OUR_ATTRIBUTION = """
import builtins, time
from zariz.boot import runtime
from zariz.ui.scheduler import FrameScheduler
_acc = {}
def _timed(name, fn, _now=time.perf_counter):
    def run(*args, **kwargs):
        started = _now()
        try:
            return fn(*args, **kwargs)
        finally:
            spent = _acc.setdefault(name, [0.0, 0])
            spent[0] += _now() - started
            spent[1] += 1
    return run
_fanout = runtime().client._fanout
for _sub in list(_fanout._subs):
    _h = _sub.handler
    _sub.handler = _timed(
        f"subscriber {getattr(_h, '__module__', '?')}.{getattr(_h, '__qualname__', _h)}", _h)
_fanout._snapshot = None
_frame_run = FrameScheduler._run
def _run(self):
    for key, fn in list(self._pending.items()):
        self._pending[key] = _timed(f"render {key[1] if isinstance(key, tuple) else key}", fn)
    _frame_run(self)
FrameScheduler._run = _run
builtins.__attribution = _acc
"""
OUR_ATTRIBUTION_DUMP = """
import builtins, json
import js
js.window.__attribution = json.dumps(builtins.__attribution)
"""

RUN_PY = """code => { const s = document.createElement('script'); s.type = 'py';
  s.textContent = code + '\\nimport js as __js\\n__js.window.__pyDone = True';
  window.__pyDone = false; document.body.appendChild(s); }"""


# --- the load process ------------------------------------------------------------------
async def _load(url: str, token: str, rate: float, count: int, connections: int,
                max_s: float) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.2
    indexes = itertools.count()
    created: list[list[Any]] = []  # [index, order id, lag s, round trip s]
    errors: list[str] = []

    def request(i: int) -> bytes:
        body = json.dumps({"customer": f"Latency {i}", "phone": "+972-50-000-0000",
                           "address": f"{i} Herzl St, Tel Aviv"}).encode()
        return (f"POST /v1/orders HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while True:
                i = next(indexes)
                due = t0 + i / rate
                if i >= count or due - t0 > max_s:
                    return
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                sent = loop.time()
                writer.write(request(i))
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                               if line.lower().startswith("content-length:")), 0)
                body = await reader.readexactly(length)
                if status == 201:
                    created.append([i, json.loads(body)["id"], sent - due, loop.time() - sent])
                else:
                    errors.append(f"{status}: {body[:200]!r}")
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    took = loop.time() - t0
    return {"created": sorted(created), "errors": errors, "seconds": took}


def loadgen_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.latency loadgen")
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--max-s", type=float, required=True)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    args = parser.parse_args(argv)
    result = asyncio.run(_load(args.url, args.token, args.rate, args.count, args.connections,
                               args.max_s))
    args.out.write_text(json.dumps(result))


def run_load(server: BenchServer, rate: float, seconds: float) -> dict[str, Any]:
    """``rate`` POST /v1/orders a second for ``seconds``, from another process."""
    token = json.loads(server.session())["access_token"]
    with tempfile.TemporaryDirectory(prefix="zariz-latency-") as tmp:
        out = pathlib.Path(tmp) / "load.json"
        count = int(rate * seconds)
        subprocess.run(
            [sys.executable, "-m", "bench.latency", "loadgen", "--url", server.url,
             "--token", token, "--rate", str(rate), "--count", str(count),
             "--max-s", str(seconds), "--out", str(out)],
            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True,
            timeout=seconds + 60,
        )
        return json.loads(out.read_text())  # type: ignore[no-any-return]


def last_event_id(db: pathlib.Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT MAX(id) FROM events").fetchone()[0] or 0)


def server_stamps(db: pathlib.Path, ids: set[int]) -> dict[int, int]:
    """order id -> the ``ts`` (wall-clock ms) of its ``order.created`` event row."""
    out: dict[int, int] = {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        for ts, payload in conn.execute(
                "SELECT ts, payload FROM events WHERE type = 'order.created'"):
            oid = json.loads(payload)["data"]["id"]
            if oid in ids:
                out[oid] = int(ts)
    return out


# --- one sample --------------------------------------------------------------------------
def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": _pct(values, 0.5), "p95": _pct(values, 0.95),
            "p99": _pct(values, 0.99), "max": max(values)}


def _open(browser: Chrome, server: BenchServer, who: str, min_rows: int) -> Tab:
    auth = f"localStorage.setItem('zariz.auth', {json.dumps(server.session())})"
    tab = Tab(browser, [auth])
    try:
        if who in ("ours", "ours_norows"):
            tab.goto(server.url + ("/dashboard/orders" if who == "ours" else CONTROL_PATH))
            tab.wait("window.__zarizSSEClient && __zarizSSEClient.status === 'connected'")
            tab.wait("n => document.querySelectorAll('[data-testid=order-row]').length >= n"
                     " || document.querySelector('[data-testid=orders-empty]')",
                     min_rows if who == "ours" else 1)
            tab.call(RUN_PY, OUR_STAMPS)
            tab.wait("window.__pyDone === true")
        else:
            tab.goto(f"{server.url}/bench/pages/js_rows.html")
            tab.wait("window.__ready === true")
            tab.wait("n => document.querySelectorAll('[data-testid=order-row]').length >= n",
                     min_rows)
        tab.call(PROBE)
    except BaseException:
        tab.close()
        raise
    return tab


def clock_offset(tab: Tab) -> float:
    """The page's wall clock minus this process's (ms; ~0 on one machine): sanity only."""
    before = time.time() * 1000
    theirs = float(tab.eval("performance.timeOrigin + performance.now()"))
    after = time.time() * 1000
    return theirs - (before + after) / 2


def sample(browser: Chrome, who: str, *, rate: float, seconds: float, warmup: float,
           seed: int, profile: bool = False) -> dict[str, Any]:
    """One page under ``rate`` POSTs a second; with ``profile``, its main thread under a
    trace (V8 sampler included) over the measured seconds, analysed by :func:`analyse`."""
    profiled: dict[str, Any] | None = None
    with BenchServer(0, ("--seed-orders", str(seed), "--event-retention", "1000000")) as server:
        tab = _open(browser, server, who, min(50, seed))
        try:
            offset = clock_offset(tab)
            if profile and who == "ours":
                tab.call(RUN_PY, OUR_ATTRIBUTION)
                tab.wait("window.__pyDone === true")
            if profile:
                stop = browser.trace(PROFILE_CATEGORIES)
                tab.eval("performance.mark('bench:profile')")
            try:
                load = run_load(server, rate, warmup + seconds)
            finally:
                if profile:
                    tab.eval("performance.mark('bench:profile-end')")
                    profiled = analyse(stop(), warmup)
            skip = int(rate * warmup)
            ids = [oid for i, oid, _lag, _rtt in load["created"] if i >= skip]
            lag = [lg * 1000 for i, _oid, lg, _rtt in load["created"] if i >= skip]
            rows = who != "ours_norows"
            try:
                if rows:
                    tab.wait(ALL_PAINTED, ids, timeout=15, every=0.1)
                else:  # no row to wait for: the client at the log's last event is the end
                    tab.wait("n => Number(window.__zarizSSEClient.stats.last_event_id) >= n",
                             last_event_id(server.db), timeout=15, every=0.1)
            except TimeoutError:  # rows the page never showed: counted below, never silently
                pass
            if who != "js":
                tab.call(RUN_PY, OUR_DUMP)
                tab.wait("window.__pyDone === true")
            handled = {int(oid): float(at) for oid, at in tab.eval("window.__handled")}
            if profiled is not None:
                profiled["events"] = len(ids)
                if who == "ours":
                    tab.call(RUN_PY, OUR_ATTRIBUTION_DUMP)
                    tab.wait("window.__pyDone === true")
                    profiled["attribution"] = {  # name -> [ms, calls], warm-up included
                        name: [spent * 1000, calls] for name, (spent, calls)
                        in json.loads(tab.eval("window.__attribution")).items()}
                    profiled["attributed_events"] = len(load["created"])
            painted = tab.call(PAINTED, ids)
        finally:
            tab.close()
        stamps = server_stamps(server.db, set(ids))
    to_handler: list[float] = []
    to_paint: list[float] = []
    to_raf: list[float] = []
    unhandled = unpainted = 0
    for oid, p in zip(ids, painted, strict=True):
        ts = stamps[oid]
        if oid in handled:
            to_handler.append(handled[oid] - ts)
        else:
            unhandled += 1
        if not rows:
            continue
        if p is None or p[0] <= 0 or p[1] <= 0:
            unpainted += 1  # never in the DOM, or out of it again before a frame
            continue
        to_paint.append(p[0] - ts)
        to_raf.append(p[1] - ts)
    return {
        "who": who, "orders": len(ids), "unhandled": unhandled, "unpainted": unpainted,
        "errors": load["errors"][:5],
        "load_seconds": load["seconds"], "clock_offset_ms": offset,
        "send_lag_ms": summary(lag) if lag else None,
        "handler": summary(to_handler) if to_handler else None,
        "painted": summary(to_paint) if to_paint else None,
        "next_raf": summary(to_raf) if to_raf else None,
        **({"profile": profiled} if profiled is not None else {}),
    }


# --- where the main thread's time goes (a profiled sample) ------------------------------
PROFILE_CATEGORIES = ["toplevel", "blink.user_timing", "devtools.timeline",
                      "disabled-by-default-v8.cpu_profiler"]
# A main-thread task by where it was posted from: a frame, a scheduler.postTask task (the
# zariz client's event batch), the stream's data arriving (EventSource parsing and
# dispatch: the JS page builds and inserts its rows in it), a timer.
TASK_KINDS = {"ScheduledActionSendBeginMainFrame": "frame", "DOMTask": "batch",
              "Notify": "stream", "PostTaskToMainThread": "stream", "DOMTimer": "timer"}
KIND_NAMES = {
    "stream": "stream data: EventSource parse + dispatch (JS page: its handler builds and "
              "inserts the row)",
    "batch": "scheduler.postTask tasks (zariz: the event batch: client, orders store, "
             "subscribers; both: the frame probe's)",
    "frame": "frames",
    "timer": "timers",
    "other": "other tasks",
}
# Inside a frame, by its timeline events.
FRAME_PARTS = {"FireAnimationFrame": "rAF callbacks (zariz: the table render)",
               "UpdateLayoutTree": "style", "Layout": "layout", "PrePaint": "paint",
               "Paint": "paint", "Layerize": "paint", "Commit": "paint"}


def analyse(events: list[dict[str, Any]], skip_s: float) -> dict[str, Any]:
    """The page's main thread between the profile marks (less the first ``skip_s``): CPU
    ms per kind of task and per part of a frame (the thread clock: the machine is shared),
    what the V8 sampler saw inside each kind, and the tasks' wall durations (what an
    event that arrives meanwhile waits behind)."""
    begin, end = _marks(events, "bench:profile"), _marks(events, "bench:profile-end")
    if not begin or not end:
        return {"error": "no profile marks in the trace"}
    pid, tid = begin[0]["pid"], begin[0]["tid"]
    t0, t1 = float(begin[0]["ts"]) + skip_s * 1e6, float(end[0]["ts"])
    mine = [e for e in events if e.get("pid") == pid and e.get("tid") == tid
            and e.get("ph") == "X" and t0 <= float(e["ts"]) <= t1]
    tasks: list[tuple[float, float, str]] = []  # outermost tasks: start, end, kind
    cpu: defaultdict[str, float] = defaultdict(float)
    walls: dict[str, list[float]] = {}
    for e in sorted((e for e in mine if e["name"] in TASK_EVENTS), key=lambda e: float(e["ts"])):
        a, b = float(e["ts"]), float(e["ts"]) + float(e.get("dur", 0))
        if tasks and a < tasks[-1][1]:
            continue  # nested in the task before
        kind = TASK_KINDS.get((e.get("args") or {}).get("src_func", ""), "other")
        tasks.append((a, b, kind))
        cpu[kind] += float(e.get("tdur", e.get("dur", 0))) / 1000
        walls.setdefault(kind, []).append((b - a) / 1000)
    # A frame's parts by their own time (a forced layout inside a rAF callback is layout,
    # not the callback's), in CPU: each event's wall time scaled by its tdur/dur.
    parts: defaultdict[str, float] = defaultdict(float)
    stack: list[list[Any]] = []  # [end, part, cpu per wall µs, own wall µs]

    def close(item: list[Any]) -> None:
        parts[item[1]] += item[3] * item[2] / 1000

    for e in sorted((e for e in mine if e["name"] in FRAME_PARTS),
                    key=lambda e: (float(e["ts"]), -float(e.get("dur", 0)))):
        a, dur = float(e["ts"]), float(e.get("dur", 0))
        while stack and stack[-1][0] <= a:
            close(stack.pop())
        if stack:
            stack[-1][3] -= min(dur, stack[-1][0] - a)  # the parent's own time loses it
        ratio = float(e.get("tdur", dur)) / dur if dur > 0 else 1.0
        stack.append([a + dur, FRAME_PARTS[e["name"]], ratio, dur])
    while stack:
        close(stack.pop())
    starts = [t[0] for t in tasks]
    seen: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
    for t, ms, group in samples(events, pid, tid, t0, t1):
        i = bisect.bisect_right(starts, t) - 1
        kind = tasks[i][2] if i >= 0 and t < tasks[i][1] else "idle"
        seen[kind][group] += ms
    return {
        "seconds": (t1 - t0) / 1e6,
        "cpu_ms": dict(cpu),
        "frame_parts_ms": dict(parts),
        "sampled_ms": {k: dict(v) for k, v in seen.items()},
        "tasks": {k: {"n": len(v), "p99_ms": _pct(v, 0.99), "max_ms": max(v)}
                  for k, v in walls.items()},
    }


def _lag_p99(s: dict[str, Any]) -> float:
    return float(s["send_lag_ms"]["p99"]) if s["send_lag_ms"] else 0.0


def run(runs: int = 5, rate: float = 500.0, seconds: float = 10.0, warmup: float = 2.0,
        seed: int = 1000, max_lag_ms: float = MAX_LAG_MS, retries: int = 3,
        profile: bool = True, profile_apart: bool = True,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """``runs`` sets of samples. A set in which the load process fell behind its schedule
    (send lag p99 > ``max_lag_ms``: the machine, shared, was busy elsewhere and the server
    could not take 500 POSTs a second) is measured again, up to ``retries`` times per run,
    and counted; the last attempt is kept whatever its lag. With ``profile``, one more
    sample of the JS and of the zariz page, traced (:func:`analyse`); or, without
    ``profile_apart`` (a smoke run: fewer pages), the last run's samples of them traced."""
    samples: dict[str, list[dict[str, Any]]] = {w: [] for w in CONTENDERS}
    profiled: dict[str, Any] = {}
    traced = ("js", "ours") if profile else ()
    repeated = 0
    with chrome() as browser:
        for r in range(runs):
            # Interleaved, and the order alternates: drift falls on all alike.
            order = CONTENDERS if r % 2 == 0 else tuple(reversed(CONTENDERS))
            in_run = () if profile_apart or r < runs - 1 else traced
            for attempt in range(retries + 1):
                pair = {who: sample(browser, who, rate=rate, seconds=seconds, warmup=warmup,
                                    seed=seed, profile=who in in_run) for who in order}
                lag = max(_lag_p99(s) for s in pair.values())
                if lag <= max_lag_ms or attempt == retries:
                    break
                repeated += 1
                log(f"[latency] run {r + 1}: the load fell {lag:.0f} ms behind, again")
            for who, s in pair.items():
                if "profile" in s:
                    profiled[who] = s.pop("profile")
                samples[who].append(s)
                log(f"[latency] run {r + 1} {who}: " + ", ".join(
                    f"{k} p99 {s[k]['p99']:.1f} ms" for k in ("handler", "painted")
                    if s[k]) + f", never painted {s['unpainted']}")
        for who in traced if profile_apart else ():
            got = sample(browser, who, rate=rate, seconds=min(seconds, PROFILE_S),
                         warmup=warmup, seed=seed, profile=True)
            profiled[who] = got["profile"]
            log(f"[latency] profiled {who}")
        version = browser.version
    return {"runs": runs, "rate": rate, "seconds": seconds, "warmup": warmup, "seed": seed,
            "max_lag_ms": max_lag_ms, "repeated": repeated, "chromium": version,
            "samples": samples, "profile": profiled}


def medians(result: dict[str, Any], who: str, metric: str) -> dict[str, float] | None:
    got = [s[metric] for s in result["samples"][who] if s[metric]]
    if not got:
        return None
    return {k: statistics.median(g[k] for g in got) for k in ("p50", "p95", "p99", "max")}


LABELS = {"handler": "publish -> handler",
          "next_raf": "publish -> row painted: next rAF after the row is in the DOM (the "
                      "goal's definition)",
          "painted": "publish -> row painted: first task after the frame that painted it "
                     "(frame probe)"}


def _goal_line(result: dict[str, Any], metric: str, budget: float, goal: str) -> str:
    ours, js = medians(result, "ours", metric), medians(result, "js", metric)
    if ours is None or js is None:
        return f"- {LABELS[metric]}: no samples."
    diff = ours["p99"] - js["p99"]
    return (f"- {LABELS[metric]}, p99: zariz {ours['p99']:.1f} ms vs JS {js['p99']:.1f} ms "
            f"= JS {diff:+.1f} ms; goal ≤ {goal}: **{'met' if diff <= budget else 'not met'}**.")


def render_profile(result: dict[str, Any]) -> list[str]:
    """The profiled samples: CPU per event by kind of task and part of a frame, the
    sampler's view inside them, the longest tasks; and what bounds the misses."""
    prof = {w: p for w, p in (result.get("profile") or {}).items() if "cpu_ms" in p}
    if not prof:
        return []
    whos = [w for w in ("js", "ours") if w in prof]

    def per_event(p: dict[str, Any], ms: float) -> float:
        return ms * 1000 / max(int(p.get("events") or 1), 1)

    lines = [
        f"### Where the main thread's time goes at {result['rate']:.0f} events/s",
        "",
        "One more sample per page under a Chrome trace (V8 sampler, task and frame events), "
        "after the runs: main-thread CPU (the thread clock) per event, by the task it ran in, "
        "in brackets the part of it the sampler saw in Python (wasm) + in Pyodide's JS glue "
        "(the calls between Python and JS: DOM calls, proxies); the longest tasks (wall clock: "
        "what an event arriving meanwhile waits behind), p99 / max.",
        "",
        "| where | " + " | ".join(f"{SHORT[w]}: CPU µs/event (Python + glue) | {SHORT[w]}: "
                                   "tasks p99 / max ms" for w in whos) + " |",
        "|---|" + "---:|---:|" * len(whos),
    ]
    for kind, label in KIND_NAMES.items():
        if not any(prof[w]["cpu_ms"].get(kind) for w in whos):
            continue
        cells = []
        for w in whos:
            p = prof[w]
            cpu = p["cpu_ms"].get(kind, 0.0)
            seen = p["sampled_ms"].get(kind) or {}
            busy = sum(v for g, v in seen.items() if g != "idle") or 1.0
            py, glue = (per_event(p, cpu * seen.get(g, 0.0) / busy) for g in ("python", "glue"))
            t = p["tasks"].get(kind)
            cells.append(f"{per_event(p, cpu):.0f}" + (f" ({py:.0f} + {glue:.0f})"
                                                       if py + glue >= 0.5 else ""))
            cells.append(f"{t['p99_ms']:.1f} / {t['max_ms']:.1f}" if t else "–")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        if kind == "frame":
            for part in dict.fromkeys(FRAME_PARTS.values()):
                cells = []
                for w in whos:
                    cells += [f"{per_event(prof[w], prof[w]['frame_parts_ms'].get(part, 0)):.0f}",
                              ""]
                lines.append(f"| &nbsp;&nbsp;of which {part} | " + " | ".join(cells) + " |")
    cells = []
    for w in whos:
        p = prof[w]
        total = per_event(p, sum(p["cpu_ms"].values()))
        cells += [f"**{total:.0f}**", f"{total * result['rate'] / 1e6:.0%} of a core"]
    lines += ["| **main thread, all tasks** | " + " | ".join(cells) + " |", ""]
    attribution = (prof.get("ours") or {}).get("attribution") or {}
    n = max(int((prof.get("ours") or {}).get("attributed_events") or 1), 1)
    if attribution:
        top = sorted(attribution.items(), key=lambda kv: -kv[1][0])[:8]
        lines += [
            "The zariz page's event subscribers and frame renders in that sample, each timed "
            "in the page around its call (warm-up included; the page's clock: only sums over "
            "thousands of calls count), wall µs per event:",
            "",
            "| subscriber / render | calls per event | µs per event |",
            "|---|---:|---:|",
            *(f"| `{name}` | {calls / n:.2f} | {ms * 1000 / n:.0f} |"
              for name, (ms, calls) in top),
            "",
        ]
    return lines


SHORT = {"js": "plain JS", "ours": "zariz", "ours_norows": "zariz control"}


def bounds(result: dict[str, Any]) -> list[str]:
    """The misses, from the profile: the extra main-thread CPU per event and where it
    runs; the longest tasks the events wait behind."""
    prof = result.get("profile") or {}
    ours, js = prof.get("ours") or {}, prof.get("js") or {}
    if "cpu_ms" not in ours or "cpu_ms" not in js:
        return []

    def us(p: dict[str, Any], ms: float) -> float:
        return ms * 1000 / max(int(p.get("events") or 1), 1)

    def python(p: dict[str, Any], kind: str) -> float:
        seen = p["sampled_ms"].get(kind) or {}
        busy = sum(v for g, v in seen.items() if g != "idle") or 1.0
        return us(p, p["cpu_ms"].get(kind, 0.0) * (seen.get("python", 0.0)
                                                   + seen.get("glue", 0.0)) / busy)

    o_total, j_total = us(ours, sum(ours["cpu_ms"].values())), us(js, sum(js["cpu_ms"].values()))
    o_frame = us(ours, ours["cpu_ms"].get("frame", 0))
    j_frame = us(js, js["cpu_ms"].get("frame", 0))
    raf = us(ours, ours["frame_parts_ms"].get(FRAME_PARTS["FireAnimationFrame"], 0))
    render_o = o_frame - raf
    render_j = j_frame - us(js, js["frame_parts_ms"].get(FRAME_PARTS["FireAnimationFrame"], 0))
    batch = us(ours, ours["cpu_ms"].get("batch", 0))
    def p99(p: dict[str, Any], kind: str) -> float:
        return float((p["tasks"].get(kind) or {}).get("p99_ms", 0.0))

    rate = result["rate"]
    return [
        f"- **What bounds the misses (from the profile):** at {rate:.0f} events/s the main "
        f"thread is busy {o_total * rate / 1e6:.0%} of a core on the zariz page and "
        f"{j_total * rate / 1e6:.0%} on the JS page ({o_total:.0f} vs {j_total:.0f} µs of "
        f"CPU per event). The zariz page's: the table render in rAF callbacks {raf:.0f} µs "
        f"(Python and its JS glue {python(ours, 'frame'):.0f} µs), the event batch (client, "
        f"orders store, subscribers) {batch:.0f} µs (Python and glue "
        f"{python(ours, 'batch'):.0f} µs), the frames' style, layout and paint "
        f"{render_o:.0f} µs (the JS page's {render_j:.0f} µs: the same table and CSS, "
        "more frames). An event waits behind the task running when it arrives: the zariz "
        f"page runs its work in long tasks, frames of {p99(ours, 'frame'):.0f} ms and "
        f"batches of {p99(ours, 'batch'):.0f} ms at p99 (every row and event since the "
        "last one at once), where the JS page handles each event in a task of its own "
        f"({p99(js, 'stream'):.0f} ms at p99) between frames of {p99(js, 'frame'):.0f} ms."
        + _named(ours),
        "",
    ]


def _named(ours: dict[str, Any]) -> str:
    """The biggest Python costs per event in the profiled zariz sample, by name."""
    attribution = ours.get("attribution") or {}
    n = max(int(ours.get("attributed_events") or 1), 1)

    def top(kind: str, k: int) -> str:
        got = sorted(((ms, name) for name, (ms, _calls) in attribution.items()
                      if name.startswith(kind)), reverse=True)[:k]
        return ", ".join(f"`{name.split(' ', 1)[1].removeprefix('zariz.')}` "
                         f"{ms * 1000 / n:.0f} µs" for ms, name in got)

    if not attribution:
        return ""
    return (" Inside a batch each event runs every subscriber before the next event's "
            "first one, so a batch lasts its events times their cost; per event (wall, timed "
            f"in the page) the subscribers cost most: {top('subscriber ', 3)}; the frames' "
            f"renders: {top('render ', 2)}.")


def render(result: dict[str, Any], command: str) -> str:
    lines = [
        "## Latency: server publish -> handler and -> row painted",
        "",
        f"Measured {dt.date.today().isoformat()} on this project's machine "
        f"({os.cpu_count()} cores, {pyplatform.machine()}, Chromium {result['chromium']} "
        f"headless, 60 Hz frames), shared with other work: compare within this run. Rerun: "
        f"`{command}`. Real `POST /v1/orders` at {result['rate']:.0f}/s from a load process "
        f"for {result['warmup']:g} s (warm-up, left out) + {result['seconds']:g} s, on a "
        f"fresh server with {result['seed']:,} orders per sample; publish = the event row's "
        "`ts` (server wall clock, ms), read on the page's wall clock (`performance.timeOrigin "
        f"+ performance.now()`). Medians over {result['runs']} runs of each run's "
        "percentile, contenders interleaved (order alternating). The browser is driven over "
        "the DevTools pipe without the Network domain (Playwright's reports every SSE "
        "message to the driver, which no user's tab pays).",
        "",
        "Painted, two readings (the same probe in both pages): **the goal's definition**, "
        "the next `requestAnimationFrame` callback after the row is in the DOM; and **the "
        "frame probe**, the first task after the frame that painted the row. They differ by "
        "where a page inserts its rows: the JS page between frames (its next rAF callback "
        "comes before the paint that shows the row: the goal's reading stops before the "
        "paint), the zariz page inside a rAF callback (its next rAF callback comes a frame "
        "after the paint: the goal's reading adds up to a frame). The verdict is by the "
        "goal's definition; the frame probe is beside it.",
        "",
        "| metric | contender | p50 ms | p95 ms | p99 ms | max ms | runs' p99 |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for metric, label in LABELS.items():
        for who in CONTENDERS:
            if who == "ours_norows" and metric != "handler":
                continue
            m = medians(result, who, metric)
            runs = ", ".join(f"{s[metric]['p99']:.1f}" if s[metric] else "–"
                             for s in result["samples"][who])
            if m is None:
                lines.append(f"| {label} | {NAMES[who]} | – | – | – | – | {runs} |")
                continue
            lines.append(f"| {label} | {NAMES[who]} | {m['p50']:.1f} | {m['p95']:.1f} | "
                         f"{m['p99']:.1f} | {m['max']:.1f} | {runs} |")
    lines += [
        "",
        _goal_line(result, "handler", HANDLER_BUDGET_MS, "JS p99 + 5 ms"),
        _goal_line(result, "next_raf", FRAME_MS, "JS page p99 + 16.7 ms (one frame)"),
        "  - " + _goal_line(result, "painted", FRAME_MS, "JS page p99 + 16.7 ms")[2:]
        .replace("**met**", "met").replace("**not met**", "not met")
        + " (the frame probe, for comparison)",
    ]
    control, ours, js = (medians(result, w, "handler") for w in CONTENDERS[::-1])
    if control and ours and js:
        lines.append(
            f"- What the new rows cost the events: the control (same page, client and "
            f"subscribers; the new orders never make a row) handles them at p99 "
            f"{control['p99']:.1f} ms (JS {control['p99'] - js['p99']:+.1f} ms), the orders "
            f"page at {ours['p99']:.1f} ms.")
    lines += bounds(result) or [""]
    lines += render_profile(result)
    checks = []
    for who in CONTENDERS:
        ss = result["samples"][who]
        lags = [s["send_lag_ms"]["p99"] for s in ss if s["send_lag_ms"]]
        checks.append(f"{NAMES[who]}: {sum(s['orders'] for s in ss):,} orders, "
                      f"{sum(s['unhandled'] for s in ss)} never handled, "
                      f"{sum(s['unpainted'] for s in ss)} never painted, "
                      f"{sum(len(s['errors']) for s in ss)} failed POSTs, load send lag p99 "
                      f"{statistics.median(lags) if lags else 0:.1f} ms (median of runs), "
                      "page clock - bench clock "
                      f"{statistics.median(s['clock_offset_ms'] for s in ss):+.1f} ms")
    lines += ["Checks: " + "; ".join(checks) + ". Pairs measured again because the "
              f"load process fell more than {result['max_lag_ms']:.0f} ms behind its schedule "
              f"(the shared machine was busy elsewhere): {result['repeated']}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["loadgen"]:
        loadgen_main(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=500.0, help="events (POSTs) a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured, per sample")
    parser.add_argument("--warmup", type=float, default=2.0, help="left out, per sample")
    parser.add_argument("--seed", type=int, default=1000, help="orders in the database")
    parser.add_argument("--max-lag-ms", type=float, default=MAX_LAG_MS,
                        help="measure a pair again when the load fell further behind")
    parser.add_argument("--retries", type=int, default=3, help="per run, at most")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the profiled samples (Chrome trace, V8 sampler)")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; don't rewrite bench/RESULTS.md")
    parser.add_argument("--raw", type=pathlib.Path, default=None,
                        help="also save the raw result as JSON here")
    args = parser.parse_args(argv)
    result = run(args.runs, args.rate, args.seconds, args.warmup, args.seed,
                 args.max_lag_ms, args.retries, profile=not args.no_profile,
                 log=lambda line: print(line, file=sys.stderr, flush=True))
    command = "python -m bench.latency"
    defaults = (5, 500.0, 10.0, 2.0, 1000, MAX_LAG_MS, 3)
    if (args.runs, args.rate, args.seconds, args.warmup, args.seed, args.max_lag_ms,
            args.retries) != defaults:
        command += (f" --runs {args.runs} --rate {args.rate:g} --seconds {args.seconds:g}"
                    f" --warmup {args.warmup:g} --seed {args.seed}"
                    f" --max-lag-ms {args.max_lag_ms:g} --retries {args.retries}")
    report(render(result, command), SECTION, write=not args.no_write, raw=result,
           raw_path=args.raw)


if __name__ == "__main__":
    main()
