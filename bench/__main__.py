"""Browser benchmarks, each against its baselines in the same run (medians of N runs).

    python -m bench                 # full run (5 runs), rewrites bench/RESULTS.md
    python -m bench --runs 3 --no-write
    python -m bench --parts stream --no-write     # throughput only (a quick check)

1. **Navigation -> SSE stream open** (a fresh browser context each run: cold cache): plain
   JS page, stock PyScript page (a Python handler written the obvious way), and the zariz
   app (``/dashboard``: PyScript + our client + the whole UI).
2. **Event throughput, client-bound**: the page's main thread is held (a busy-wait in the
   stream's ``open`` listener, installed before any page script by wrapping
   ``EventSource``) while ``bench.server`` writes all N ``order.updated`` events of
   ``/bench/stream`` into the socket. N (2,500 events, ~0.7 MB) fits in what the browser
   buffers meanwhile (it stops reading at ~1 MB). Then the thread is released and the drain
   is timed: from the release to the N-th event in the first of 1 or 10 subscribers. A
   Chrome trace of every page (categories ``toplevel`` and ``blink.user_timing``: one
   event per task, two marks per drain) gives the main thread's CPU time over the drain
   (its thread clock at the release and last-event marks) and its idle time (no task
   running): an idle share near 0 shows the drain was bound by the client, not by the
   stream. **Events/s by CPU** (10^6 / main-thread CPU µs per event) is what a client
   sustains with the thread to itself: the goal is read by it, the wall-clock rate (on a
   shared machine the thread also waits for a core) is beside it. Same three contenders;
   ours runs the full client (batch crossing -> normalize -> dedupe -> fan-out) on the
   whole app's page. Three drains (a new stream each) per page, the page's median is its
   run's number.
3. **Where the time goes** (unless ``--no-profile``): in the last run, each page takes one
   more drain under Chrome's V8 sampling profiler (trace category
   ``disabled-by-default-v8.cpu_profiler``), its main-thread samples split by what ran
   (Blink's C++, JS, Pyodide's JS<->wasm glue, Python in wasm, GC); then, in the zariz
   page, each stage of the client's per-event path runs alone over the same events, its
   main-thread CPU read from a trace.

The browser is driven over Chrome's DevTools pipe by a minimal client (:class:`Chrome`), not
Playwright: Playwright enables the DevTools Network domain on every page, and with it each
SSE message is also reported to the driver (``Network.eventSourceMessageReceived``, one per
message): measured here, 1.5-2 µs more main-thread CPU per event in the JS page (a third of
its cost), and a browser process so busy relaying them that the zariz page (which renders in
animation frames) waited hundreds of ms for frames. No user's tab pays either. Hosts other
than 127.0.0.1 do not resolve.

Everything is served by ``bench.server`` (the real app + bench pages) on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import os
import pathlib
import platform as pyplatform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx

from bench.common import ROOT, v8_profiles
from bench.results import report
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support.live_server import free_port

TIMEOUT_S = 120.0
EVENTS = 2_500  # all of them fit in what the browser buffers while the page is held
HOLD_MS = 500  # long enough for the server to write them all, on a busy machine too
ROUNDS = 3
# Names outside loopback do not resolve: the pages may only reach the bench server.
BROWSER_ARGS = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


# --- a minimal DevTools client --------------------------------------------------------------
class Chrome:
    """Chromium with ``--remote-debugging-pipe``: commands go to its fd 3, replies and
    events come from its fd 4, NUL-separated JSON. Only the domains the benchmarks call are
    enabled (Target, Page, Runtime, Tracing, IO): no Network domain."""

    def __init__(self, exe: str = CHROMIUM, args: Sequence[str] = BROWSER_ARGS) -> None:
        self._profile = tempfile.mkdtemp(prefix="zariz-bench-chrome-")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()

        def child_fds() -> None:  # runs in the child before exec: its fds 3 and 4
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._proc = subprocess.Popen(
            [exe, *args, "--remote-debugging-pipe", f"--user-data-dir={self._profile}",
             "about:blank"],
            preexec_fn=child_fds, pass_fds=(3, 4), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._out = os.fdopen(to_chrome_w, "wb", buffering=0)
        self._in = os.fdopen(from_chrome_r, "rb", buffering=0)
        self._lock = threading.Lock()
        self._next = 0
        self._pending: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._reader = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._reader.start()
        self.version = str(self.send("Browser.getVersion")["product"]).split("/", 1)[-1]

    def _read(self) -> None:
        buffer = b""
        while chunk := self._in.read(1 << 16):
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    waiting = self._pending.pop(message["id"], None)
                    if waiting is not None:
                        waiting.put(message)
                else:
                    for listener in list(self._listeners):
                        listener(message)

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = TIMEOUT_S) -> dict[str, Any]:
        reply: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            self._next += 1
            message: dict[str, Any] = {"id": self._next, "method": method,
                                       "params": params or {}}
            if session is not None:
                message["sessionId"] = session
            self._pending[self._next] = reply
            self._out.write(json.dumps(message).encode() + b"\0")
        try:
            got = reply.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no reply to {method} in {timeout:g} s") from None
        if "error" in got:
            raise RuntimeError(f"{method}: {got['error']}")
        result: dict[str, Any] = got.get("result", {})
        return result

    def trace(self, categories: Sequence[str]) -> Callable[[], list[dict[str, Any]]]:
        """Start a browser-wide trace; returns the function that stops it and returns its
        events."""
        complete: queue.Queue[dict[str, Any]] = queue.Queue()

        def on_event(message: dict[str, Any]) -> None:
            if message.get("method") == "Tracing.tracingComplete":
                complete.put(message["params"])

        self._listeners.append(on_event)
        self.send("Tracing.start", {"transferMode": "ReturnAsStream", "traceConfig": {
            "includedCategories": list(categories), "recordMode": "recordAsMuchAsPossible"}})

        def stop() -> list[dict[str, Any]]:
            self.send("Tracing.end")
            try:
                handle = complete.get(timeout=60)["stream"]
            finally:
                self._listeners.remove(on_event)
            chunks: list[bytes] = []
            while True:
                part = self.send("IO.read", {"handle": handle, "size": 4 << 20})
                data = part.get("data", "")
                chunks.append(base64.b64decode(data) if part.get("base64Encoded")
                              else data.encode())
                if part.get("eof"):
                    break
            self.send("IO.close", {"handle": handle})
            parsed = json.loads(b"".join(chunks))
            events: list[dict[str, Any]] = (parsed["traceEvents"] if isinstance(parsed, dict)
                                            else parsed)
            return events

        return stop

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=10)
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(10)
        self._out.close()
        self._reader.join(10)  # it ends at the pipe's end, once Chromium has exited
        self._in.close()
        shutil.rmtree(self._profile, ignore_errors=True)


@contextlib.contextmanager
def chrome() -> Iterator[Chrome]:
    browser = Chrome()
    try:
        yield browser
    finally:
        browser.close()


class Tab:
    """A page in a fresh browser context (its own storage and an empty cache) of
    ``viewport`` CSS px, with ``init_scripts`` run before any script of every document it
    loads."""

    def __init__(self, browser: Chrome, init_scripts: Sequence[str] = (),
                 viewport: tuple[int, int] = (1280, 800)) -> None:
        self.browser = browser
        self._context = browser.send("Target.createBrowserContext",
                                     {"disposeOnDetach": True})["browserContextId"]
        target = browser.send("Target.createTarget", {
            "url": "about:blank", "browserContextId": self._context})["targetId"]
        self._session = browser.send("Target.attachToTarget",
                                     {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride", {
            "width": viewport[0], "height": viewport[1], "deviceScaleFactor": 1,
            "mobile": False})
        for source in init_scripts:
            self.send("Page.addScriptToEvaluateOnNewDocument", {"source": source})

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self._session)

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})

    def eval(self, expression: str) -> Any:
        """``expression``'s value (awaited), as JSON."""
        got = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True})
        if "exceptionDetails" in got:
            details = got["exceptionDetails"]
            raise RuntimeError(str(details.get("exception", {}).get("description")
                                   or details.get("text"))[:500])
        return got["result"].get("value")

    def call(self, function: str, *args: Any) -> Any:
        """``function`` (JS source) called with ``args`` (as JSON), its value awaited."""
        return self.eval(f"({function})(...{json.dumps(list(args))})")

    def wait(self, condition: str, *args: Any, timeout: float = TIMEOUT_S,
             every: float = 0.05) -> Any:
        """Poll until truthy: ``condition`` an expression, or with ``args`` a function called
        with them (a page still navigating counts as not yet)."""
        value = f"({condition})(...{json.dumps(list(args))})" if args else f"({condition})"
        # JS decides what is truthy (an element is; it would arrive here as {}).
        check = f"(v => [!!v, v instanceof Node ? true : v])({value})"
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(RuntimeError):
                truthy, got = self.eval(check)
                if truthy:
                    return got
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:g} s for {condition[:120]}")
            time.sleep(every)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.browser.send("Target.disposeBrowserContext",
                              {"browserContextId": self._context})


# Installed before any page script: every EventSource on /bench/stream holds the page's
# main thread in its first ``open`` listener (added at construction, so it runs before the
# page's own) for ``ms``, then marks the release. The events the server writes meanwhile
# wait in the socket and the browser's buffers; none is dispatched before the release.
HOLD = """(() => {
  const Source = window.EventSource;
  const hold = window.__hold = {ms: HOLD_MS, rounds: []};
  function Held(url, init) {
    const source = new Source(url, init);
    if (String(url).includes("/bench/stream")) {
      source.addEventListener("open", () => {
        const opened = performance.now();
        while (performance.now() - opened < hold.ms) {}
        const release = performance.now();
        performance.mark("bench:release");
        hold.rounds.push([opened, release]);
      });
    }
    return source;
  }
  Held.prototype = Source.prototype;
  Object.setPrototypeOf(Held, Source);
  window.EventSource = Held;
})();"""

# Our contender: a second SSEClient on the app's runtime and platform, pointed at
# /bench/stream; ``__benchRound(n, subs)`` disposes the previous one and connects a new one
# with ``subs`` subscribers, the first of which counts and stamps.
OUR_STREAM = """
import js
from pyodide.ffi import create_proxy
from zariz.boot import runtime
from zariz.sse.client import SSEClient
rt = runtime()
bench = js.Object.new()
bench.rounds = js.Array.new()
js.window.__bench = bench
current = []
def counter():
    seen = [0]
    def on_event(ev):
        seen[0] += 1
    return on_event
def start_round(n, subs):
    n, subs = int(n), int(subs)
    while current:
        current.pop().dispose()
    record = js.Object.new()
    record.count = 0
    bench.rounds.push(record)
    state = [0]
    def on_event(ev):
        state[0] += 1
        c = state[0]
        if c == 1:
            record.first = js.performance.now()
        if c == n:
            record.last = js.performance.now()
            js.performance.mark("bench:last")
            record.count = c
    client = SSEClient(rt.platform, rt.auth, sse_path="/bench/stream")
    client.subscribe(on_event, events=["order.updated"])
    for _ in range(subs - 1):
        client.subscribe(counter(), events=["order.updated"])
    current.append(client)
    client.connect()
js.window.__benchRound = create_proxy(start_round)
js.window.__benchReady = True
"""

# The client's per-event path, stage by stage, on the stream's own events (``FRAMES``: the
# fields of every event, as the batcher hands them over), each stage run alone over all of
# them, REPEAT times, between two marks: a trace reads the main thread's CPU time between
# them (its thread clock; the page's clock is the wall's, and the machine is shared). Uses
# the client's internals: a stage whose internals moved reports its error instead.
STAGES = """
import json
import js
def stages():
    from zariz.boot import runtime
    from zariz.sse.client import SSEClient
    from zariz.sse.normalize import event_id, json_depth_exceeds, normalize, parse_json
    from zariz.sse.position import Position
    from zariz.types import SSEEvent, make_event
    rt = runtime()
    items = json.loads(FRAMES)
    n = len(items) // 3
    blob = js.TextEncoder.new().encode("\\r".join(items))
    datas, ids = items[1::3], items[2::3]
    evs = [normalize("message", d, i, 0.0, "source") for d, i in zip(datas, ids)]
    mark = js.performance.mark
    clients = []
    def made(subs):
        c = SSEClient(rt.platform, rt.auth, sse_path="/bench/none")
        for _ in range(subs):
            seen = [0]
            def on_event(ev, seen=seen):
                seen[0] += 1
            c.subscribe(on_event, events=["order.updated"])
        clients.append(c)
        return c
    def loop(_):
        for d in datas:
            pass
    def crossing(_):
        blob.to_bytes().decode("utf-8").split("\\r")
    def each(f):
        def body(_):
            for d in datas:
                f(d)
        return body
    def ids_each(_):
        for i in ids:
            event_id(i)
    parsed = [parse_json(d) for d in datas]
    def event_objects(_):
        for d, i, p in zip(datas, ids, parsed):
            make_event("order.updated", p, i, 0.0, d, "source")
    def frozen_inits(_):
        for d, i, p in zip(datas, ids, parsed):
            SSEEvent("order.updated", p, i, 0.0, d, "source")
    def normalizing(_):
        for d, i in zip(datas, ids):
            normalize("message", d, i, 0.0, "source")
    def accept(p):
        f = p.accept
        for d, i in zip(datas, ids):
            f("message", i, d, "source")
    def dispatch(c):
        f = c._fanout.dispatch
        for ev in evs:
            f(ev)
    def full(c):
        c._on_source_events(c._gen, items)
    out = {}
    for name, setup, body in (
        ("loop", lambda: None, loop),
        ("crossing", lambda: None, crossing),
        ("depth_guard", lambda: None, each(json_depth_exceeds)),
        ("parse_json", lambda: None, each(parse_json)),
        ("json_loads", lambda: None, each(json.loads)),
        ("event_id", lambda: None, ids_each),
        ("event_object", lambda: None, event_objects),
        ("event_object_init", lambda: None, frozen_inits),
        ("normalize", lambda: None, normalizing),
        ("accept", Position, accept),
        ("dispatch_1", lambda: made(1), dispatch),
        ("dispatch_10", lambda: made(10), dispatch),
        ("full_1", lambda: made(1), full),
        ("full_10", lambda: made(10), full),
    ):
        try:
            for _ in range(REPEAT):
                arg = setup()
                mark("bench:stage:" + name)
                body(arg)
                mark("bench:stage-end:" + name)
            out[name] = n
        except Exception as e:
            out[name] = f"{type(e).__name__}: {e}"
    for c in clients:
        c.dispose()
    return out
try:
    js.window.__stages = json.dumps(stages())
except Exception as e:
    js.window.__stages = json.dumps({"error": f"{type(e).__name__}: {e}"})
"""

RUN_PY = """code => { const s = document.createElement('script'); s.type = 'py';
  s.textContent = code; document.body.appendChild(s); }"""

# Trace categories: the timed runs need the marks (with their thread clock) and one event
# per task; the profile adds the V8 sampler.
TIMED_CATEGORIES = ["toplevel", "blink.user_timing"]
PROFILE_CATEGORIES = [*TIMED_CATEGORIES, "disabled-by-default-v8.cpu_profiler"]
TASK_EVENTS = ("ThreadControllerImpl::RunTask", "RunTask")


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


def _tab(browser: Chrome, server: BenchServer, *scripts: str) -> Tab:
    auth = f"localStorage.setItem('zariz.auth', {json.dumps(server.session())})"
    return Tab(browser, [auth, *scripts])


def measure_open(browser: Chrome, server: BenchServer, who: str) -> float:
    """ms from navigation start to the stream's open event."""
    tab = _tab(browser, server)
    try:
        if who == "ours":
            tab.goto(server.url + "/dashboard")
            return float(tab.wait(
                "performance.getEntriesByName('zariz:sse-open')[0]?.startTime"))
        tab.goto(f"{server.url}/bench/pages/{who}.html?mode=open")
        return float(tab.wait("window.__bench && window.__bench.opened"))
    finally:
        tab.close()


# --- traces -----------------------------------------------------------------------------
def _marks(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return sorted((e for e in events if e.get("name") == name
                   and e.get("cat") == "blink.user_timing"), key=lambda e: float(e["ts"]))


def _busy_us(tasks: list[tuple[float, float]], t0: float, t1: float) -> float:
    """µs of [t0, t1] covered by at least one of ``tasks`` (sorted; nested ones count once)."""
    total, end = 0.0, t0
    for a, b in tasks:
        a, b = max(a, end), min(b, t1)
        if b > a:
            total += b - a
            end = b
    return total


def drains(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per drain (release mark -> last-event mark, paired in order): wall ms, the main
    thread's CPU ms (its thread clock, ``tts``, at the two marks) and busy ms (covered by a
    task); and its window (trace µs) and thread, for the profile."""
    releases, lasts = _marks(events, "bench:release"), _marks(events, "bench:last")
    if not releases or len(releases) != len(lasts):
        raise RuntimeError(f"{len(releases)} release marks and {len(lasts)} last-event marks")
    pid, tid = releases[0]["pid"], releases[0]["tid"]
    tasks = sorted((float(e["ts"]), float(e["ts"]) + float(e.get("dur", 0))) for e in events
                   if e.get("ph") == "X" and e.get("name") in TASK_EVENTS
                   and e.get("pid") == pid and e.get("tid") == tid)
    out = []
    for a, b in zip(releases, lasts, strict=True):
        t0, t1 = float(a["ts"]), float(b["ts"])
        cpu = (float(b["tts"]) - float(a["tts"])) / 1000 if "tts" in a and "tts" in b else None
        out.append({"wall_ms": (t1 - t0) / 1000, "cpu_ms": cpu,
                    "busy_ms": _busy_us(tasks, t0, t1) / 1000 if tasks else None,
                    "window": (t0, t1), "pid": pid, "tid": tid})
    return out


# What the sampler saw on the main thread, by the stack's innermost frame.
GROUPS = {
    "native": "Blink/V8 C++: EventSource parsing, MessageEvent creation and dispatch, "
              "loading (and V8 runtime calls such as JSON.parse's)",
    "js": "JS: the JS page's handler; ours: the batcher (listener, join, TextEncoder)",
    "glue": "Pyodide's JS glue, JS<->wasm wrappers (proxy calls, conversions)",
    "pyscript": "PyScript's JS",
    "python": "Python (wasm): interpreter, json, the handler / the client",
    "gc": "V8 garbage collection",
}


def _group(frames: list[dict[str, Any]]) -> str:
    if not frames:
        return "idle"
    name, url = frames[-1]["functionName"], frames[-1].get("url", "")
    if name == "(idle)":
        return "idle"
    if name == "(program)":
        return "native"
    if name == "(garbage collector)":
        return "gc"
    if name.startswith("wasm-function[") or url.endswith(".wasm"):
        return "python"
    if name.startswith(("js-to-wasm", "wasm-to-js")) or "/pyodide/" in url:
        return "glue"
    if "/pyscript/" in url:
        return "pyscript"
    return "js"


def samples(events: list[dict[str, Any]], pid: Any, tid: Any, t0: float,
            t1: float) -> list[tuple[float, float, str]]:
    """The V8 sampler's samples of thread ``pid/tid`` in [t0, t1] (trace µs) as (time,
    ms it stands for, group). A sample stands for the time to the next one; samples are
    sorted by time first (a chunk's deltas may run backwards)."""
    profiles = v8_profiles(events, pid, tid)
    out: list[tuple[float, float, str]] = []
    for p in profiles.values():
        t, timed = p["t"], []
        for node_id, delta in zip(p["samples"], p["deltas"], strict=False):
            t += delta
            timed.append((t, node_id))
        timed.sort()
        for (t, node_id), (t_next, _) in zip(timed, timed[1:], strict=False):
            if not t0 <= t < t1:
                continue
            frames = []
            node = p["nodes"].get(node_id)
            while node is not None:
                frames.append(node["callFrame"])
                node = p["nodes"].get(node.get("parent"))
            frames = [f for f in reversed(frames) if f["functionName"] != "(root)"]
            out.append((t, (min(t_next, t1) - t) / 1000, _group(frames)))
    return out


def sampled(events: list[dict[str, Any]], pid: Any, tid: Any, t0: float,
            t1: float) -> dict[str, float]:
    """ms per group of the V8 sampler's samples of thread ``pid/tid`` in [t0, t1]."""
    out: defaultdict[str, float] = defaultdict(float)
    for _t, ms, group in samples(events, pid, tid, t0, t1):
        out[group] += ms
    return out


# --- throughput ---------------------------------------------------------------------------
def _open_stream_page(browser: Chrome, server: BenchServer, who: str, hold_ms: int) -> Tab:
    tab = _tab(browser, server, HOLD.replace("HOLD_MS", str(int(hold_ms))))
    try:
        if who == "ours":
            tab.goto(server.url + "/dashboard")
            tab.wait("window.__zarizSSEClient && __zarizSSEClient.status === 'connected'")
            tab.call(RUN_PY, OUR_STREAM)
        else:
            tab.goto(f"{server.url}/bench/pages/{who}.html?mode=stream")
        tab.wait("window.__benchReady === true")
    except BaseException:
        tab.close()
        raise
    return tab


def _drain(tab: Tab, r: int, n: int, subs: int) -> None:
    tab.call("(n, subs) => { window.__benchRound(n, subs); }", n, subs)
    tab.wait("(r, n) => { const x = window.__bench.rounds[r];"
             " return x !== undefined && x.count >= n; }", r, n)


def visit(browser: Chrome, server: BenchServer, who: str, subs: int, *, rounds: int = ROUNDS,
          hold_ms: int = HOLD_MS, profile: bool = False,
          stages: bool = False) -> dict[str, Any]:
    """One page, ``rounds`` held drains of ``server.events`` events under one trace: per
    drain events/s (the page's clock), main-thread CPU µs per event and idle share (the
    trace). With ``profile``, one more drain after them under the V8 sampler (its own
    trace): the split of its main-thread time. With ``stages`` (ours), then the client's
    path stage by stage (:func:`run_stages`)."""
    n = server.events
    tab = _open_stream_page(browser, server, who, hold_ms)
    try:
        stop = browser.trace(TIMED_CATEGORIES)
        try:
            for r in range(rounds):
                _drain(tab, r, n, subs)
        finally:
            events = stop()
        holds, counted = tab.eval("""[window.__hold.rounds,
            window.__bench.rounds.map(x => [x.first, x.last])]""")
        profiled = None
        if profile:
            stop = browser.trace(PROFILE_CATEGORIES)
            try:
                _drain(tab, rounds, n, subs)
            finally:
                profiled = stop()
        staged = run_stages(tab, n) if stages else None
    finally:
        tab.close()
    traced = drains(events)
    if not len(holds) == len(counted) == len(traced) == rounds:
        raise RuntimeError(f"{who}: {len(holds)} holds, {len(counted)} drains counted, "
                           f"{len(traced)} traced; {rounds} expected")
    out: dict[str, Any] = {"rounds": []}
    for (_opened, release), (first, last), tr in zip(holds, counted, traced, strict=True):
        wall = float(last) - float(release)
        out["rounds"].append({
            "events_per_s": n / max(wall / 1000, 1e-9),
            "first_after_ms": float(first) - float(release),
            "cpu_us_per_event": tr["cpu_ms"] * 1000 / n if tr["cpu_ms"] is not None else None,
            "idle_share": (1 - tr["busy_ms"] / tr["wall_ms"]) if tr["busy_ms"] is not None
            and tr["wall_ms"] > 0 else None,
        })
    if profiled is not None:
        (drain,) = drains(profiled)
        groups = sampled(profiled, drain["pid"], drain["tid"], *drain["window"])
        out["profile"] = {"ms": dict(groups), "wall_ms": drain["wall_ms"],
                          "cpu_ms": drain["cpu_ms"], "events": n}
    if staged is not None:
        out["stages"] = staged
    return out


def run_stages(tab: Tab, n: int, repeat: int = 5) -> dict[str, Any]:
    """µs of main-thread CPU per event of each stage of the client's path (see STAGES), in
    ``tab``'s runtime, over the same ``n`` events the stream sends; the median of
    ``repeat`` runs. A stage that failed: its error."""
    from bench.server import build_events

    items: list[str] = []
    for frame in build_events(n).decode().split("\n\n")[:-1]:
        fields = dict(line.split(": ", 1) for line in frame.split("\n"))
        items += ["message", fields["data"], fields["id"]]
    code = STAGES.replace("FRAMES", repr(json.dumps(items))).replace("REPEAT", str(repeat))
    tab.eval("window.__stages = null")
    stop = tab.browser.trace(["blink.user_timing"])
    try:
        tab.call(RUN_PY, code)
        got: dict[str, Any] = json.loads(tab.wait("window.__stages"))
    finally:
        events = stop()
    out: dict[str, Any] = {}
    for name, value in got.items():
        if not isinstance(value, int):
            out[name] = value
            continue
        starts = _marks(events, f"bench:stage:{name}")
        ends = _marks(events, f"bench:stage-end:{name}")
        cpu = sorted((float(b["tts"]) - float(a["tts"])) / value
                     for a, b in zip(starts, ends, strict=True) if "tts" in a and "tts" in b)
        out[name] = cpu[len(cpu) // 2] if cpu else "no thread clock in the trace"
    return out


def _median_of(values: Sequence[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def measure_stream(browser: Chrome, server: BenchServer, who: str, subs: int = 1,
                   rounds: int = ROUNDS, hold_ms: int = HOLD_MS, *, profile: bool = False,
                   stages: bool = False) -> dict[str, Any]:
    """One run of one contender: the medians of one page's drains (and, as asked, the
    profiled drain and the stages, see :func:`visit`)."""
    got = visit(browser, server, who, subs, rounds=rounds, hold_ms=hold_ms, profile=profile,
                stages=stages)
    out: dict[str, Any] = {key: _median_of([r[key] for r in got["rounds"]])
                           for key in ("events_per_s", "cpu_us_per_event", "idle_share",
                                       "first_after_ms")}
    out.update({k: got[k] for k in ("profile", "stages") if k in got})
    return out


CONTENDERS = ("js", "stock", "ours")
SUBSCRIBERS = (1, 10)
PARTS = ("open", "stream")


def run(runs: int = 5, events: int = EVENTS, parts: tuple[str, ...] = PARTS, *,
        rounds: int = ROUNDS, hold_ms: int = HOLD_MS, profile: bool = True,
        subscribers: Sequence[int] = SUBSCRIBERS, open_contenders: Sequence[str] = CONTENDERS,
        log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """The parts asked for, ``runs`` times, contenders interleaved; with ``profile``, the
    last run's pages also profile one more drain each, and ours times the client's stages."""
    out: dict[str, Any] = {"runs": runs, "events": events, "rounds": rounds,
                           "hold_ms": hold_ms, "subscribers": [str(k) for k in subscribers],
                           "open_ms": {}, "stream": {}, "profile": {}, "stages": {}}
    with BenchServer(events) as server, chrome() as browser:
        open_ms: dict[str, list[float]] = {w: [] for w in open_contenders}
        stream: dict[str, dict[str, list[dict[str, float | None]]]] = {
            str(k): {w: [] for w in CONTENDERS} for k in subscribers}
        for r in range(runs):  # interleaved, the order alternating: drift hits all alike
            for who in CONTENDERS if r % 2 == 0 else CONTENDERS[::-1]:
                if "open" in parts and who in open_contenders:
                    open_ms[who].append(measure_open(browser, server, who))
                if "stream" not in parts:
                    continue
                for i, k in enumerate(subscribers):
                    last = profile and r == runs - 1
                    got = measure_stream(browser, server, who, k, rounds, hold_ms,
                                         profile=last, stages=last and who == "ours" and i == 0)
                    if "profile" in got:
                        out["profile"].setdefault(str(k), {})[who] = got.pop("profile")
                    if "stages" in got:
                        out["stages"] = got.pop("stages")
                    stream[str(k)][who].append(got)
                    log(f"[bench] run {r + 1} {who} {k} sub: {got['events_per_s']:,.0f}"
                        f" events/s, {got['cpu_us_per_event']:.1f} µs CPU/event")
        if "open" in parts:
            out["open_ms"] = open_ms
        if "stream" in parts:
            out["stream"] = stream
        out["chromium"] = browser.version
    return out


def median(values: list[float]) -> float:
    return statistics.median(values)


NAMES = {"js": "plain JS page (baseline)", "stock": "stock PyScript page (baseline)",
         "ours": "zariz app (/dashboard, whole UI)"}
SHORT = {"js": "plain JS", "stock": "stock PyScript", "ours": "zariz"}
GOAL_RATIO = 0.9
STAGE_NAMES = {
    "crossing": "the batch's crossing: UTF-8 bytes -> `bytes` -> `str` -> fields",
    "depth_guard": "JSON depth guard (`json_depth_exceeds`)",
    "parse_json": "JSON parse as the client does it (`parse_json`: guard + C scanner)",
    "json_loads": "(`json.loads`, for comparison)",
    "event_id": "id check (`event_id`)",
    "event_object": "the event object (`make_event`: a frozen `SSEEvent`, its fields "
                    "written on a twin class without the frozen `__setattr__`)",
    "event_object_init": "(`SSEEvent(...)`: the frozen dataclass's own `__init__`, "
                         "for comparison)",
    "normalize": "`normalize` (parse_json + id + the event object)",
    "accept": "dedupe (`Position.accept`)",
    "dispatch_1": "fan-out, 1 subscriber (`dispatch`)",
    "dispatch_10": "fan-out, 10 subscribers",
    "full_1": "**the whole path** (`_on_source_events`), 1 subscriber",
    "full_10": "**the whole path**, 10 subscribers",
    "loop": "(an empty Python loop over the events)",
}


def _col(runs: list[dict[str, float | None]], key: str) -> list[float]:
    return [float(v) for r in runs if (v := r.get(key)) is not None]


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def _subs(k: str) -> str:
    return f"{k} subscriber{'' if k == '1' else 's'}"


def stream_medians(result: dict[str, Any]) -> dict[str, dict[str, dict[str, float | None]]]:
    """subscribers -> contender -> the medians over runs of events/s, CPU µs per event,
    idle share."""
    return {k: {w: {key: _median_of(_col(runs, key))
                    for key in ("events_per_s", "cpu_us_per_event", "idle_share",
                                "first_after_ms")}
                for w, runs in table.items()}
            for k, table in result["stream"].items()}


def per_event(p: dict[str, Any]) -> dict[str, float]:
    """A profiled drain's groups in µs per event: the sampler's shares of the busy (not
    idle) samples times the drain's main-thread CPU per event (the sampler's clock is the
    wall's; the thread clock is the CPU's)."""
    ms = {g: v for g, v in (p.get("ms") or {}).items() if g != "idle"}
    busy = sum(ms.values())
    if not busy:
        return {}
    cpu_us = (p.get("cpu_ms") or busy) * 1000 / max(int(p.get("events") or 1), 1)
    return {g: v / busy * cpu_us for g, v in ms.items()}


def _by_cpu(m: dict[str, float | None]) -> float | None:
    cpu = m["cpu_us_per_event"]
    return 1e6 / cpu if cpu else None


def render_stream(result: dict[str, Any]) -> list[str]:
    med = stream_medians(result)
    lines = [
        f"### 2. Event throughput, client-bound: {result['events']:,} events drained after "
        f"the page's main thread was held {result['hold_ms']} ms (events/s: higher is "
        "better)",
        "",
        "The stream's `open` listener busy-waits while the server writes all the events into "
        "the socket (the browser buffers them all); the drain runs from the release to the "
        "last event in the first subscriber. A Chrome trace of every page gives the main "
        "thread's CPU time over the drain (its thread clock at the two marks) and its idle "
        "time (no task running). **Events/s by CPU** = 10⁶ / main-thread CPU µs per event: "
        "what the client sustains with the thread to itself, the number the goal is read "
        "by. The wall-clock rate is beside it: on this shared machine the thread also waits "
        f"for a core (last column). A run: the median of {result['rounds']} drains on one "
        "page.",
        "",
        "| subscribers | contender | main-thread CPU µs/event | events/s by CPU | vs plain JS "
        "| vs stock PyScript | events/s, wall clock: median (runs) | vs plain JS "
        "| drain: idle / waiting for a core |",
        "|---:|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for k, table in result["stream"].items():
        m = med[k]
        for w in CONTENDERS:
            rate, cpu, idle = (m[w]["events_per_s"], m[w]["cpu_us_per_event"],
                               m[w]["idle_share"])
            by_cpu = _by_cpu(m[w])
            runs = ", ".join(f"{x:,.0f}" for x in _col(table[w], "events_per_s"))
            ran = cpu * rate / 1e6 if cpu and rate else None  # the share the thread ran
            waiting = 1 - ran - idle if ran is not None and idle is not None else None
            lines.append(
                f"| {k} | {NAMES[w]} | {'–' if cpu is None else f'{cpu:.1f}'} | "
                f"{by_cpu or 0:,.0f} | {_ratio(by_cpu, _by_cpu(m['js']))} | "
                f"{_ratio(by_cpu, _by_cpu(m['stock']))} | {rate or 0:,.0f} ({runs}) | "
                f"{_ratio(rate, m['js']['events_per_s'])} | {_pct(idle)} / "
                f"{_pct(None if waiting is None else max(waiting, 0.0))} |")
    lines.append("")
    for k in result["stream"]:
        m = med[k]
        by_cpu, js_by_cpu = _by_cpu(m["ours"]), _by_cpu(m["js"])
        ok = by_cpu is not None and js_by_cpu is not None and by_cpu >= GOAL_RATIO * js_by_cpu
        lines.append(
            f"- {_subs(k)}: the zariz client sustains {_ratio(by_cpu, js_by_cpu)} plain JS's "
            f"events/s by main-thread CPU ({_ratio(by_cpu, _by_cpu(m['stock']))} stock "
            f"PyScript's; by the wall clock "
            f"{_ratio(m['ours']['events_per_s'], m['js']['events_per_s'])}); goal ≥ "
            f"{GOAL_RATIO:g}x plain JS: **{'met' if ok else 'not met'}**.")
    lines.append("")
    return lines


def render_profile(result: dict[str, Any]) -> list[str]:
    prof = result.get("profile") or {}
    lines: list[str] = []
    if prof:
        lines += [
            "### 3. Where the main thread's time goes in a drain (µs per event)",
            "",
            "One more drain per contender under Chrome's V8 sampling profiler, each sample "
            "counted for its innermost frame; the shares (in brackets) scaled to that drain's "
            "main-thread CPU per event. The split between Blink's C++ and the JS it calls is "
            "loose (a listener's entry is counted either way); Python's share is not.",
            "",
        ]
        for k, by_who in prof.items():
            cols = {w: per_event(by_who.get(w) or {}) for w in CONTENDERS}
            lines += [f"{_subs(k)}:", "",
                      "| what runs | " + " | ".join(SHORT[w] for w in CONTENDERS) + " |",
                      "|---|" + "---:|" * len(CONTENDERS)]
            for g, label in GROUPS.items():
                if not any(cols[w].get(g, 0) >= 0.05 for w in CONTENDERS):
                    continue
                cells = []
                for w in CONTENDERS:
                    total = sum(cols[w].values()) or 1.0
                    v = cols[w].get(g, 0.0)
                    cells.append(f"{v:.1f} ({v / total:.0%})")
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            lines.append("| **main-thread CPU per event** | " + " | ".join(
                f"**{sum(cols[w].values()):.1f}**" for w in CONTENDERS) + " |")
            lines.append("")
    stages = result.get("stages") or {}
    if stages:
        lines += [
            "The zariz client's per-event path, stage by stage, in the same page: each stage "
            f"run alone over the drain's {result['events']:,} events (median of 5), µs per "
            "event. Stages overlap (`normalize` includes the JSON parse); the whole path is "
            "measured as one.",
            "",
            "| stage | µs/event |",
            "|---|---:|",
        ]
        for key, label in STAGE_NAMES.items():
            got = stages.get(key)
            if got is not None:
                lines.append(f"| {label} | "
                             f"{f'{got:.2f}' if isinstance(got, float | int) else got} |")
        lines.append("")
    return lines


def _stage(stages: dict[str, Any], key: str) -> float:
    v = stages.get(key)
    return float(v) if isinstance(v, float | int) else 0.0


def bounds(result: dict[str, Any]) -> list[str]:
    """A missed throughput goal in numbers from the profile: the extra main-thread time per
    event over plain JS, by what runs, and the Python stages that make it up."""
    med = stream_medians(result)
    lines = []
    for k in result["stream"]:
        m, prof = med[k], (result.get("profile") or {}).get(k) or {}
        rate, js_rate = _by_cpu(m["ours"]), _by_cpu(m["js"])
        if rate is None or js_rate is None or rate >= GOAL_RATIO * js_rate:
            continue
        if "ours" not in prof or "js" not in prof:
            continue
        ours, js = per_event(prof["ours"]), per_event(prof["js"])
        # Blink's C++ and the JS it calls together: the sampler splits them loosely.
        merged = {"browser": "Blink C++ and JS", "glue": GROUPS["glue"].split(":")[0],
                  "pyscript": "PyScript's JS", "python": "Python (wasm)", "gc": "GC"}

        def merge(cols: dict[str, float]) -> dict[str, float]:
            out = {g: v for g, v in cols.items() if g not in ("native", "js")}
            out["browser"] = cols.get("native", 0.0) + cols.get("js", 0.0)
            return out

        o, j = merge(ours), merge(js)
        extra = sorted(((o.get(g, 0) - j.get(g, 0), g) for g in merged), reverse=True)
        parts = [f"{merged[g]} {d:+.1f} µs" for d, g in extra if abs(d) >= 0.3]
        lines.append(
            f"- **What bounds it ({_subs(k)}):** per event, plain JS's main thread spends "
            f"{sum(js.values()):.1f} µs, the zariz page {sum(ours.values()):.1f} µs; the "
            "difference: " + ", ".join(parts) + ".")
        parse = _stage(result.get("stages") or {}, "parse_json")
        if k == "1" and parse:
            floor = sum(js.values()) / (sum(ours.values()) - ours.get("python", 0.0) + parse)
            lines.append(
                f"- Were the client's Python only the JSON parse it needs ({parse:.1f} µs: "
                f"CPython's scanner in wasm), the page would run at {floor:.2f}x plain JS: "
                "the parse alone keeps a client that parses each event in Python under "
                f"{GOAL_RATIO:g}x.")
    stages = result.get("stages") or {}
    if lines and stages:
        parse, norm = _stage(stages, "parse_json"), _stage(stages, "normalize")
        rest = (_stage(stages, "full_1") - norm - _stage(stages, "accept")
                - _stage(stages, "dispatch_1"))
        lines.append(
            f"- The Python, by stage (1 subscriber, {_stage(stages, 'full_1'):.1f} µs/event "
            f"in all): `normalize` {norm:.1f} µs (of it the JSON parse {parse:.1f} µs: the "
            f"depth guard {_stage(stages, 'depth_guard'):.1f} µs + the C scanner; plain "
            f"`json.loads` {_stage(stages, 'json_loads'):.1f} µs; the event object "
            f"{_stage(stages, 'event_object'):.1f} µs, where the frozen dataclass's own "
            f"`__init__` takes {_stage(stages, 'event_object_init'):.1f} µs), dedupe "
            f"{_stage(stages, 'accept'):.1f} µs, fan-out {_stage(stages, 'dispatch_1'):.1f} "
            f"µs (10 subscribers: {_stage(stages, 'dispatch_10'):.1f} µs), the batch's "
            f"crossing {_stage(stages, 'crossing'):.1f} µs; the client's own bookkeeping "
            "around them (counts, checks, the loop) is the rest: "
            f"{rest:.1f} µs.")
    return [*lines, ""] if lines else []


def render(result: dict[str, Any]) -> str:
    o = result["open_ms"]
    lines = [
        "## Browser: the zariz app vs plain JS vs stock PyScript",
        "",
        f"Measured {dt.date.today().isoformat()} on this project's machine "
        f"({os.cpu_count()} cores, {pyplatform.machine()}, Chromium {result.get('chromium')} "
        "headless, PyScript 0.7.31, Pyodide 314.0.7), shared with other work: compare the "
        "ratios within this run. Rerun: `make bench` (= `python -m bench`). Medians of "
        f"{result['runs']} runs, contenders interleaved (order alternating) within each run, "
        "every page in a fresh browser context (cold cache). The browser is driven over the "
        "DevTools pipe without the Network domain (Playwright's would report every SSE "
        "message to the driver: 1.5-2 µs more main-thread CPU per event in the JS page, "
        "and delayed frames).",
        "",
    ]
    if o:
        mo: dict[str, float | None] = {w: median(v) if v else None for w, v in o.items()}
        lines += [
            "### 1. Navigation -> SSE stream open (ms, lower is better)",
            "",
            "| contender | median | runs | vs plain JS | vs stock PyScript |",
            "|---|---:|---|---:|---:|",
        ]
        for w in CONTENDERS:
            if not o.get(w):
                continue
            runs = ", ".join(f"{x:.0f}" for x in o[w])
            lines.append(f"| {NAMES[w]} | {mo[w]:.0f} | {runs} | "
                         f"{_ratio(mo[w], mo.get('js'))} | {_ratio(mo[w], mo.get('stock'))} |")
        lines.append("")
    if result["stream"]:
        lines += render_stream(result)
        lines += bounds(result)
        lines += render_profile(result)
        lines += [
            "Ours runs the full client per event: the batch's crossing from JS (one per task, "
            "as UTF-8), JSON parse, `{event, data}` normalization, id dedupe, fan-out with "
            "error isolation, on the dashboard with the whole UI running. The stock page does "
            "`json.loads` and a dict in a proxied handler per event; the JS page `JSON.parse` "
            "and an object. Each subscriber counts the events it gets.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--events", type=int, default=EVENTS,
                        help="per drain; past what the browser buffers (~3,500) the drain "
                             "waits for the stream again")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="drains per page")
    parser.add_argument("--hold-ms", type=int, default=HOLD_MS)
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="which parts to run: open, stream (comma-separated)")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the profiled drains (V8 sampler, the client's stages)")
    parser.add_argument("--no-write", action="store_true", help="print, don't rewrite RESULTS.md")
    args = parser.parse_args()
    parts = tuple(p for p in args.parts.split(",") if p)
    if not parts or set(parts) - set(PARTS):
        parser.error(f"--parts takes {', '.join(PARTS)}")
    result = run(args.runs, args.events, parts, rounds=args.rounds, hold_ms=args.hold_ms,
                 profile=not args.no_profile,
                 log=lambda line: print(line, file=sys.stderr, flush=True))
    # RESULTS.md's section holds every part: a partial run is printed, never written. The
    # raw JSON is committed beside RESULTS.md, so it is rewritten only with it.
    write = not args.no_write and set(parts) == set(PARTS) and not args.no_profile
    if not write and not args.no_write:
        print("(a partial run: bench/RESULTS.md left as it is)")
    report(render(result), "browser", write=write, raw=result,
           raw_path=ROOT / "bench" / "results-browser.json" if write else None)


if __name__ == "__main__":
    main()
