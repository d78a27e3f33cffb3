"""Server fan-out benchmark: the zariz server against sse-starlette's broadcast example,
both measured in the same run on the same machine.

    python -m bench.server_fanout          # 1000,5000 streams, 3 runs, writes RESULTS.md
    python -m bench.server_fanout --streams 1000,5000,10000 --runs 3
    python -m bench.server_fanout --streams 50 --runs 1 --no-write

Contenders (each a fresh server subprocess per run, uvicorn, one process, 127.0.0.1):

* **baseline** - ``bench.baseline_broadcast``: sse-starlette's ``02_broadcasting.py``
  (one bounded ``asyncio.Queue`` per stream behind ``EventSourceResponse``); events are
  published with ``POST /send``.
* **zariz** - ``python -m server`` with ``ZARIZ_ACCESS_TTL=86400``,
  ``ZARIZ_PING_INTERVAL=3600``, ``ZARIZ_LOG_LEVEL=warning``, ``ZARIZ_SSE_QUEUE`` at its
  default; one login, the same Bearer token on every stream; events are published with
  ``POST /v1/orders`` (validation + the SQLite insert of the order and its event row +
  ``hub.publish``), i.e. the latency includes the write path.

Per run: start the server, one warm-up publish, read idle RSS, start ``bench.loadgen`` (a
separate process) which opens N streams, read RSS with N streams, then publish
``--events`` events one at a time: each is sent 0.5 s after the previous one reached every
stream. Each event carries ``bench-seq=<n>;t=<monotonic send time>``; the load process
computes latency = receive time - send time for every (event, stream).

Reported (median of ``--runs`` runs): connect time of all N, fan-out latency p50/p99/max
over all (event, stream) pairs, the slowest stream's latency per event (median of the
per-event maxima is the "max" column's companion), RSS per stream = (VmRSS with N streams
after the events - VmRSS idle) / N, and the POST round trip.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import pathlib
import platform
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import httpx

from bench.common import ROOT, raise_nofile
from bench.results import report
from tests.support.live_server import free_port

SECTION = "server-fanout"
CONTENDERS = ("baseline", "zariz")
SPACING_S = 0.5


# -- helpers ---------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZARIZ_")}
    env.pop("HOST", None)
    env.pop("PORT", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


class Server:
    """One contender's server subprocess plus its publish call."""

    def __init__(self, contender: str, workdir: pathlib.Path) -> None:
        self.contender = contender
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{contender}-{self.port}.log"
        env = child_env()
        if contender == "zariz":
            env.update({
                "ZARIZ_ACCESS_TTL": "86400",
                "ZARIZ_PING_INTERVAL": "3600",
                "ZARIZ_LOG_LEVEL": "warning",
                "ZARIZ_ROOT": str(ROOT),
            })
            command = [sys.executable, "-m", "server", "--host", "127.0.0.1",
                       "--port", str(self.port), "--db", str(workdir / f"zariz-{self.port}.db")]
            self.sse_path = "/v1/events/sse"
        elif contender == "baseline":
            env["BASELINE_PING"] = "3600"
            command = [sys.executable, "-m", "bench.baseline_broadcast", "--port", str(self.port)]
            self.sse_path = "/events"
        else:
            raise ValueError(contender)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.headers: list[str] = []
        self._token: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.contender} exited:\n{self.log_path.read_text()}")
            try:
                if self.client.get("/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{self.contender} not healthy:\n{self.log_path.read_text()}")
        if self.contender == "zariz":
            response = self.client.post("/v1/auth/login",
                                        json={"username": "demo", "password": "demo"})
            response.raise_for_status()
            self._token = response.json()["access_token"]
            self.headers = [f"Authorization: Bearer {self._token}"]

    def publish(self, seq: int) -> tuple[float, float]:
        """Send one stamped event; returns (send time, POST round trip in ms)."""
        sent = time.monotonic()
        stamp = f"bench-seq={seq};t={sent:.6f}"
        if self.contender == "zariz":
            response = self.client.post(
                "/v1/orders", headers={"Authorization": f"Bearer {self._token}"},
                json={"customer": stamp, "phone": "+972-50-123-4567",
                      "address": "Herzl 1, Tel Aviv"},
            )
        else:
            # A payload of the same shape and size as zariz's order.created wire JSON.
            message = json.dumps({
                "type": "order.created", "data": {
                    "id": seq, "customer": stamp, "phone": "+972-50-123-4567",
                    "address": "Herzl 1, Tel Aviv", "notes": None, "status": "new",
                    "courier_id": None, "created_at": "2026-01-01T00:00:00.000Z",
                    "updated_at": "2026-01-01T00:00:00.000Z"},
                "ts": int(time.time() * 1000)}, separators=(",", ":"))
            response = self.client.post("/send", json={"message": message})
        round_trip = (time.monotonic() - sent) * 1000
        response.raise_for_status()
        return sent, round_trip

    def open_streams(self) -> int:
        if self.contender == "zariz":
            for line in self.client.get("/metrics").text.splitlines():
                if line.startswith("zariz_sse_open_streams "):
                    return int(float(line.split()[1]))
            return -1
        return int(self.client.get("/status").json()["connected_clients"])

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class LoadGen:
    """``bench.loadgen`` in a subprocess; its JSON lines arrive on a queue."""

    def __init__(self, server: Server, streams: int, events: int,
                 log_path: pathlib.Path) -> None:
        command = [sys.executable, "-m", "bench.loadgen", "--port", str(server.port),
                   "--path", server.sse_path, "--streams", str(streams),
                   "--events", str(events)]
        for header in server.headers:
            command += ["--header", header]
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=child_env(), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, text=True,
            )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip():
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def expect(self, phase: str, timeout: float, seq: int | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if msg is None:
                err = self.log_path.read_text(errors="replace")
                raise RuntimeError(f"loadgen exited before {phase!r}:\n{err}")
            if msg["phase"] == phase and (seq is None or msg.get("seq") == seq):
                return msg
        raise TimeoutError(f"loadgen: no {phase!r} (seq={seq}) within {timeout:.0f}s")

    def finish(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            try:
                self.process.stdin.write("finish\n")
                self.process.stdin.flush()
            except BrokenPipeError:
                pass

    def stop(self) -> None:
        self.finish()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._pump_thread.join(5)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass


# -- one run ---------------------------------------------------------------------------


def run_once(contender: str, streams: int, events: int, workdir: pathlib.Path) -> dict[str, Any]:
    server = Server(contender, workdir)
    loadgen: LoadGen | None = None
    try:
        server.wait_healthy()
        server.publish(0)  # warm-up: imports, first SQLite write, first broadcast
        time.sleep(0.3)
        rss_idle = rss_kb(server.pid)
        loadgen = LoadGen(server, streams, events, workdir / f"loadgen-{server.port}.log")
        connected = loadgen.expect("connected", timeout=240)
        time.sleep(1.0)
        rss_connected = rss_kb(server.pid)
        server_count = server.open_streams()
        post_ms: list[float] = []
        incomplete: list[int] = []
        for seq in range(1, events + 1):
            _, round_trip = server.publish(seq)
            post_ms.append(round_trip)
            try:
                loadgen.expect("complete", timeout=60, seq=seq)
            except TimeoutError:
                incomplete.append(seq)
            time.sleep(SPACING_S)
        loadgen.finish()
        result = loadgen.expect("result", timeout=60)
        rss_after = rss_kb(server.pid)
    finally:
        if loadgen is not None:
            loadgen.stop()
        server.stop()
    latencies = sorted(x for v in result["latency_ms"].values() for x in v)
    per_event_max = [max(v) for v in result["latency_ms"].values() if v]
    ok = connected["ok"]
    return {
        "contender": contender, "streams": streams, "connected": ok,
        "failed": connected["failed"], "errors": connected["errors"],
        "server_open_streams": server_count, "closed_after_connect":
        result["closed_after_connect"], "incomplete_events": incomplete,
        "received": result["received"], "expected_per_event": ok,
        "connect_s": connected["connect_s"],
        "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else math.nan,
        "per_event_max_ms": per_event_max,
        "rss_idle_kb": rss_idle, "rss_connected_kb": rss_connected, "rss_after_kb": rss_after,
        "kb_per_stream": (rss_after - rss_idle) / ok if ok else math.nan,
        "kb_per_stream_before_events": (rss_connected - rss_idle) / ok if ok else math.nan,
        "post_ms_median": statistics.median(post_ms),
    }


def run(stream_counts: list[int], runs: int, events: int = 5,
        contenders: tuple[str, ...] = CONTENDERS, log: Any = print) -> dict[str, Any]:
    raise_nofile()
    results: dict[str, Any] = {"runs": [], "events": events, "runs_per_cell": runs}
    with tempfile.TemporaryDirectory(prefix="zariz-fanout-") as tmp:
        workdir = pathlib.Path(tmp)
        for n in stream_counts:
            for i in range(runs):
                # Alternate the order so neither contender always runs on a warmer machine.
                order = contenders if i % 2 == 0 else tuple(reversed(contenders))
                for contender in order:
                    started = time.monotonic()
                    r = run_once(contender, n, events, workdir)
                    r["run"] = i
                    r["wall_s"] = round(time.monotonic() - started, 1)
                    results["runs"].append(r)
                    log(f"[{contender:8s} n={n:<6d} run {i + 1}/{runs}] "
                        f"connect {r['connect_s']:.2f}s  p50 {r['p50_ms']:.1f}ms  "
                        f"p99 {r['p99_ms']:.1f}ms  max {r['max_ms']:.1f}ms  "
                        f"{r['kb_per_stream']:.1f} KB/stream  "
                        f"ok {r['connected']}/{n}  wall {r['wall_s']}s")
    results["summary"] = summarize(results["runs"])
    return results


METRICS = ("connect_s", "p50_ms", "p99_ms", "max_ms", "kb_per_stream",
           "kb_per_stream_before_events", "post_ms_median")


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """{streams: {contender: {metric: median over runs}}}."""
    cells: dict[str, dict[str, dict[str, float]]] = {}
    for r in runs:
        cells.setdefault(str(r["streams"]), {}).setdefault(r["contender"], {})
    for n, per in cells.items():
        for contender in per:
            mine = [r for r in runs if str(r["streams"]) == n and r["contender"] == contender]
            per[contender] = {m: statistics.median(r[m] for r in mine) for m in METRICS}
            per[contender]["runs"] = len(mine)
            per[contender]["all_delivered"] = all(
                not r["incomplete_events"] and r["failed"] == 0
                and all(c == r["expected_per_event"] for c in r["received"].values())
                for r in mine
            )
    return cells


# -- report ----------------------------------------------------------------------------


def _ratio(ours: float, base: float) -> str:
    if not base or math.isnan(base) or math.isnan(ours):
        return "-"
    return f"{ours / base:.2f}x"


def render(results: dict[str, Any], command: str) -> str:
    summary = results["summary"]
    lines = [
        "## Server fan-out: zariz vs sse-starlette's broadcast example",
        "",
        f"Run {dt.date.today().isoformat()} on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} cores, Linux {platform.release()}, Python "
        f"{platform.python_version()}; server, load process and publisher all on 127.0.0.1 "
        "(the load process shares the 2 cores with the server, as in the anchor). "
        f"Medians of {results['runs_per_cell']} runs; {results['events']} events per run.",
        "",
        f"Rerun: `{command}`",
        "",
        "| streams | contender | connect all (s) | fan-out p50 (ms) | p99 (ms) | max (ms) "
        "| RSS/stream (KB) | POST (ms) | all delivered |",
        "|---:|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for n in sorted(summary, key=int):
        for contender in CONTENDERS:
            cell = summary[n].get(contender)
            if cell is None:
                continue
            lines.append(
                f"| {int(n):,} | {contender} | {cell['connect_s']:.2f} | {cell['p50_ms']:.1f} "
                f"| {cell['p99_ms']:.1f} | {cell['max_ms']:.1f} | {cell['kb_per_stream']:.1f} "
                f"| {cell['post_ms_median']:.1f} | {'yes' if cell['all_delivered'] else 'NO'} |"
            )
    lines += ["", "Ratios zariz / baseline (lower is better; 1.00x = same):", "",
              "| streams | connect | p50 | p99 | max | RSS/stream |",
              "|---:|---:|---:|---:|---:|---:|"]
    for n in sorted(summary, key=int):
        base, ours = summary[n].get("baseline"), summary[n].get("zariz")
        if base is None or ours is None:
            continue
        lines.append(
            f"| {int(n):,} | " + " | ".join(
                _ratio(ours[m], base[m])
                for m in ("connect_s", "p50_ms", "p99_ms", "max_ms", "kb_per_stream")
            ) + " |"
        )
    lines += [
        "",
        "What the numbers mean:",
        "",
        "- **connect all**: from the load process's first connection attempt to the last "
        "`200` response head, N streams, at most 256 handshakes in flight.",
        "- **fan-out p50 / p99 / max**: latency from the publisher sending the POST "
        "(`time.monotonic()` stamped into the event) to the load process reading the event "
        "off each stream, over every (event, stream) pair of a run. Events are sent one at a "
        f"time, each {SPACING_S} s after the previous one reached every stream. It includes "
        "the POST handling (zariz: `POST /v1/orders` = body validation + SQLite insert of "
        "the order and its event row + `hub.publish`; baseline: `POST /send` = JSON body + "
        "`put_nowait` into every queue), the server writing N chunks, and the load process "
        "reading N sockets on the same 2 cores.",
        "- **RSS/stream**: (server VmRSS with N streams open, after the events - VmRSS idle "
        "after one warm-up publish) / N, from `/proc/<pid>/status`; user-space memory only "
        "(kernel socket buffers are not in RSS).",
        "- **POST**: round trip of the publishing request (median), measured by the "
        "publisher; for zariz it returns after the SQLite commit and the hub's offer loop.",
        "- Both servers: uvicorn (h11, asyncio loop; no uvloop/httptools installed), one "
        "process, keep-alive pings pushed out of the window (zariz `ZARIZ_PING_INTERVAL="
        "3600`, baseline `ping=3600`); zariz with `ZARIZ_LOG_LEVEL=warning` (no access log, "
        "like the baseline), its default `ZARIZ_SSE_QUEUE`/`ZARIZ_SEND_TIMEOUT`, Bearer auth "
        "on every stream (one token), `id:` on every event; the baseline sends no ids.",
    ]
    notes = results.get("notes")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server_fanout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1000,5000",
                        help="comma-separated stream counts (default 1000,5000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--no-write", action="store_true",
                        help="print only; don't touch bench/RESULTS.md")
    parser.add_argument("--json", type=pathlib.Path, help="also write raw results here")
    parser.add_argument("--note", action="append", default=[],
                        help="a line to append to the RESULTS section")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.streams.split(",") if x.strip()]
    results = run(counts, args.runs, args.events)
    results["notes"] = args.note
    command = (f"python -m bench.server_fanout --streams {','.join(map(str, counts))} "
               f"--runs {args.runs}" + (f" --events {args.events}" if args.events != 5 else ""))
    report(render(results, command), SECTION, write=not args.no_write, raw=results,
           raw_path=args.json)


if __name__ == "__main__":
    main()
