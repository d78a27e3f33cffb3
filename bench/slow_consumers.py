"""Slow consumers: what SSE streams that never read cost the server, and whether the
streams that do read keep their latency. Against a real server (``LiveServer``).

    python -m bench.slow_consumers                   # 500 slow streams, 3 runs, RESULTS.md
    python -m bench.slow_consumers --slow 100 --runs 1 --no-write --loopback 0 --no-uncapped

One run (a fresh server each time; ``ZARIZ_SSE_QUEUE`` and ``ZARIZ_SSE_SNDBUF`` at their
defaults unless ``--queue`` / ``--sndbuf``):

1. **baseline**: ``--normal`` reading streams (``bench.loadgen`` in its own process), no
   slow ones; ``--events`` stamped events published one POST after the other.
2. ``--slow`` raw sockets connect, send ``GET /v1/events/sse`` with a Bearer token and
   never call ``recv``; wait until the server counts them as open streams.
3. **with slow**: publish the same way until the server reports every slow stream dropped
   (``zariz_sse_slow_consumers_dropped_total``), capped by ``--max-events``/``--max-s``.
   The normal streams' latency over these events is the "with slow consumers" figure.
4. **after the drop**: wait up to ``--settle`` s for the server to close the dropped
   sockets (server-side ESTABLISHED connections on its port back to the normal streams),
   then publish ``--events`` more and measure again.
5. The slow clients close their sockets; a last sample.

Sampled all along (every 0.2 s, from ``/proc``): server RSS (``VmRSS``), server fds
(``/proc/PID/fd``), TCP sockets on the server's port by state, the bytes queued in the
server side's kernel send queues (``tx_queue`` of ``/proc/net/tcp``) and in the slow
clients' receive queues (``rx_queue``). Every normal stream must receive every event.

Besides the ``--runs`` runs: one at loopback's MSS (``--loopback N`` slow streams, the
kernel's worst case) and, for comparison, one of the main configuration with
``ZARIZ_SSE_SNDBUF=0`` (the kernel's autotuning, as before the cap; ``--no-uncapped`` skips
it).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import os
import pathlib
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common import raise_nofile
from bench.results import report
from bench.server_fanout import LoadGen, percentile, rss_kb
from server.config import Settings
from tests.support.live_server import LiveServer

SECTION = "slow-consumers"
SSE_PATH = "/v1/events/sse"
DROPPED = "zariz_sse_slow_consumers_dropped_total"
OPEN_STREAMS = "zariz_sse_open_streams"
TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
    "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}


# -- observation ------------------------------------------------------------------------


@dataclass(frozen=True)
class SocketStats:
    """TCP sockets on the server's port, seen from both ends (all on loopback)."""

    server_states: dict[str, int]  # local port == server port (LISTEN excluded)
    client_states: dict[str, int]  # remote port == server port
    server_send_queue: int  # bytes, sum of tx_queue on the server's side
    client_recv_queue: int  # bytes, sum of rx_queue on the clients' side

    @property
    def server_established(self) -> int:
        return self.server_states.get("ESTABLISHED", 0)


def socket_stats(port: int) -> SocketStats:
    server: Counter[str] = Counter()
    client: Counter[str] = Counter()
    send_queue = recv_queue = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = pathlib.Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 5:
                continue
            local_port = int(parts[1].rsplit(":", 1)[1], 16)
            remote_port = int(parts[2].rsplit(":", 1)[1], 16)
            state = TCP_STATES.get(parts[3], parts[3])
            tx, rx = (int(x, 16) for x in parts[4].split(":"))
            if local_port == port and state != "LISTEN":
                server[state] += 1
                send_queue += tx
            elif remote_port == port:
                client[state] += 1
                recv_queue += rx
    return SocketStats(dict(server), dict(client), send_queue, recv_queue)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Sample:
    t: float
    rss_kb: int
    fds: int
    sockets: SocketStats

    def row(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 2), "rss_kb": self.rss_kb, "fds": self.fds,
            "server_established": self.sockets.server_established,
            "server_states": self.sockets.server_states,
            "client_states": self.sockets.client_states,
            "server_send_queue": self.sockets.server_send_queue,
            "client_recv_queue": self.sockets.client_recv_queue,
        }


def sample(pid: int, port: int, t0: float) -> Sample:
    return Sample(time.monotonic() - t0, rss_kb(pid), fd_count(pid), socket_stats(port))


class Sampler:
    """Samples the server every ``interval`` s in a thread; keeps the peaks."""

    def __init__(self, pid: int, port: int, t0: float, interval: float = 0.2) -> None:
        self.pid, self.port, self.t0, self.interval = pid, port, t0, interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(sample(self.pid, self.port, self.t0))
            except (OSError, RuntimeError):  # the server is gone: nothing left to sample
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def peak(self, since: float = 0.0) -> dict[str, int]:
        window = [s for s in self.samples if s.t >= since] or self.samples
        return {
            "rss_kb": max(s.rss_kb for s in window),
            "fds": max(s.fds for s in window),
            "server_established": max(s.sockets.server_established for s in window),
            "server_send_queue": max(s.sockets.server_send_queue for s in window),
            "client_recv_queue": max(s.sockets.client_recv_queue for s in window),
        }


def metric(http: httpx.Client, name: str) -> float:
    total = 0.0
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


# -- the clients ------------------------------------------------------------------------


class SlowClients:
    """Raw sockets that send an SSE request and never read. ``rcvbuf`` (bytes, set
    before connecting so the advertised window stays small) makes them fill up sooner."""

    def __init__(self, port: int, token: str, count: int, rcvbuf: int | None = None,
                 mss: int | None = None) -> None:
        self.sockets: list[socket.socket] = []
        request = (
            f"GET {SSE_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Accept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
        try:
            for _ in range(count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self.sockets.append(sock)
                if rcvbuf is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                if mss is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
                sock.settimeout(30)
                sock.connect(("127.0.0.1", port))
                sock.sendall(request)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass
        self.sockets.clear()


@dataclass
class _Target:
    """What :class:`bench.server_fanout.LoadGen` needs to know about a server."""

    port: int
    headers: list[str]
    sse_path: str = SSE_PATH


class Publisher:
    """Stamped ``POST /v1/orders``, one after the other (the stamp is what
    ``bench.loadgen`` times); ``notes_bytes`` pads each event."""

    def __init__(self, url: str, token: str, notes_bytes: int = 0) -> None:
        self.http = httpx.Client(base_url=url, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"})
        self.notes = "n" * notes_bytes if notes_bytes else None
        self.seq = 0
        self.post_ms: list[float] = []

    def publish(self) -> int:
        self.seq += 1
        sent = time.monotonic()
        response = self.http.post("/v1/orders", json={
            "customer": f"bench-seq={self.seq};t={sent:.6f}", "phone": "+972-50-123-4567",
            "address": "Herzl 1, Tel Aviv", "notes": self.notes,
        })
        self.post_ms.append((time.monotonic() - sent) * 1000)
        response.raise_for_status()
        return self.seq

    def close(self) -> None:
        self.http.close()


# -- one run ----------------------------------------------------------------------------


@dataclass
class Config:
    slow: int = 500
    normal: int = 5
    events: int = 200  # per measured phase (baseline, after the drop)
    max_events: int = 30_000  # cap on the "with slow" phase
    # bench.loadgen reports and exits 300 s after connecting: the whole run stays below.
    max_s: float = 200.0
    settle: float = 15.0
    queue: int | None = None  # ZARIZ_SSE_QUEUE; None = the server's default
    send_buffer: int | None = None  # ZARIZ_SSE_SNDBUF; None = the server's default, 0 = off
    # ~1.3 KB events (an order with a 1,000-character note): the slow streams' buffers
    # fill after ~1,000 events. With ~300 B events it takes ~13,000 and each loopback
    # socket's send buffer grows to 4 MB first (tcp_wmem max): 500 of them would push
    # the whole machine into TCP memory pressure.
    notes_bytes: int = 1000
    rcvbuf: int | None = None  # SO_RCVBUF of the slow sockets; None = kernel default
    # TCP_MAXSEG of the slow sockets: 1448 is an Ethernet path's MSS. Loopback's own
    # (~64 KB) lets the server's send buffer autotune to tcp_wmem's 4 MB per socket
    # before anything blocks; None keeps loopback's.
    mss: int | None = 1448
    env: dict[str, str] = field(default_factory=dict)


def _phase_latency(result: dict[str, Any], seqs: range) -> dict[str, float]:
    values = sorted(
        x for s in seqs for x in result["latency_ms"].get(str(s), [])
    )
    if not values:
        return {"p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan, "n": 0}
    return {"p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99),
            "max_ms": values[-1], "n": len(values)}


def _publish_phase(pub: Publisher, loadgen: LoadGen, count: int) -> range:
    first = pub.seq + 1
    for _ in range(count):
        pub.publish()
    loadgen.expect("complete", timeout=60, seq=pub.seq)
    return range(first, pub.seq + 1)


def run_once(cfg: Config, workdir: pathlib.Path, log: Any = print) -> dict[str, Any]:
    env = {"ZARIZ_ACCESS_TTL": "3600", "ZARIZ_PING_INTERVAL": "3600",
           "ZARIZ_LOG_LEVEL": "warning", **cfg.env}
    if cfg.queue is not None:
        env["ZARIZ_SSE_QUEUE"] = str(cfg.queue)
    if cfg.send_buffer is not None:
        env["ZARIZ_SSE_SNDBUF"] = str(cfg.send_buffer)
    folder = pathlib.Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    server = LiveServer(folder, env=env)
    server.start()
    loadgen: LoadGen | None = None
    slow: SlowClients | None = None
    pub: Publisher | None = None
    http = httpx.Client(base_url=server.url, timeout=30)
    t0 = time.monotonic()
    try:
        pid = server.pid
        token = server.login()["access_token"]
        pub = Publisher(server.url, token, cfg.notes_bytes)
        pub.publish()  # warm-up: imports, the first SQLite write
        target = _Target(server.port, [f"Authorization: Bearer {token}"])
        loadgen = LoadGen(target, cfg.normal, 10**9, folder / "loadgen.log")  # type: ignore[arg-type]
        connected = loadgen.expect("connected", timeout=60)
        if connected["ok"] != cfg.normal or metric(http, OPEN_STREAMS) != cfg.normal:
            raise RuntimeError(f"normal streams: {connected}")
        idle = sample(pid, server.port, t0)
        with Sampler(pid, server.port, t0) as sampler:
            baseline = _publish_phase(pub, loadgen, cfg.events)
            metric(http, OPEN_STREAMS)  # our /metrics connection is open from here on
            before_slow = sample(pid, server.port, t0)

            slow = SlowClients(server.port, token, cfg.slow, cfg.rcvbuf, cfg.mss)
            deadline = time.monotonic() + 60
            while metric(http, OPEN_STREAMS) < cfg.slow + cfg.normal:
                if time.monotonic() > deadline:
                    raise RuntimeError("the slow streams were not all opened within 60 s")
                time.sleep(0.1)
            slow_connected = sample(pid, server.port, t0)

            pressure_start = time.monotonic()
            first = pub.seq + 1
            dropped = 0.0
            while pub.seq - first + 1 < cfg.max_events:
                pub.publish()
                if (pub.seq - first) % 25 == 0:
                    dropped = metric(http, DROPPED)
                    if dropped >= cfg.slow or time.monotonic() - pressure_start > cfg.max_s:
                        break
            dropped = metric(http, DROPPED)
            pressure = range(first, pub.seq + 1)
            pressure_s = time.monotonic() - pressure_start
            drop_time = time.monotonic() - t0
            loadgen.expect("complete", timeout=60, seq=pub.seq)
            at_drop = sample(pid, server.port, t0)

            # Did the server let go of the dropped streams' sockets?
            # Before the slow ones: the normal streams + the publisher's and our /metrics
            # keep-alive connections.
            closed_after: float | None = None
            settle_end = time.monotonic() + cfg.settle
            while time.monotonic() < settle_end:
                now = sample(pid, server.port, t0)
                if now.sockets.server_established <= before_slow.sockets.server_established:
                    closed_after = now.t - drop_time
                    break
                time.sleep(0.1)
            after_drop = sample(pid, server.port, t0)

            after = _publish_phase(pub, loadgen, cfg.events)
            after_events = sample(pid, server.port, t0)
            slow.close()
            slow = None
            time.sleep(1.0)
            clients_closed = sample(pid, server.port, t0)
            peak = sampler.peak(since=slow_connected.t)
        loadgen.finish()
        result = loadgen.expect("result", timeout=60)
        open_streams = metric(http, OPEN_STREAMS)
    finally:
        if slow is not None:
            slow.close()
        if loadgen is not None:
            loadgen.stop()
        if pub is not None:
            pub.close()
        http.close()
        server.stop()
    expected = range(baseline.start, pub.seq + 1)  # seq 1 was the warm-up, before them
    missing = {s: result["received"].get(str(s), 0) for s in expected
               if result["received"].get(str(s), 0) != cfg.normal}
    out = {
        "slow": cfg.slow, "normal": cfg.normal, "queue": cfg.queue,
        "send_buffer": cfg.send_buffer, "mss": cfg.mss,
        "events_to_drop": len(pressure), "pressure_s": round(pressure_s, 2),
        "dropped": int(dropped), "normal_closed": result["closed_after_connect"],
        "all_delivered": not missing, "missing": dict(list(missing.items())[:10]),
        "closed_after_s": closed_after, "open_streams_end": open_streams,
        "latency": {
            "baseline": _phase_latency(result, baseline),
            "with_slow": _phase_latency(result, pressure),
            "after_drop": _phase_latency(result, after),
        },
        "samples": {
            "idle": idle.row(), "before_slow": before_slow.row(),
            "slow_connected": slow_connected.row(), "at_drop": at_drop.row(),
            "after_drop": after_drop.row(), "after_events": after_events.row(),
            "clients_closed": clients_closed.row(),
        },
        "peak": peak,
        "post_ms_median": statistics.median(pub.post_ms),
    }
    log(f"[slow={cfg.slow} sndbuf={cfg.send_buffer} mss={cfg.mss}] dropped "
        f"{out['dropped']}/{cfg.slow} after {len(pressure)} events "
        f"({pressure_s:.1f}s); sockets closed after "
        f"{'never' if closed_after is None else f'{closed_after:.2f}s'}; "
        f"peak send queue {peak['server_send_queue'] / 1e6:.1f} MB, "
        f"peak RSS {peak['rss_kb'] / 1024:.0f} MB; established after "
        f"{after_drop.sockets.server_established}; latency p50 "
        f"{out['latency']['baseline']['p50_ms']:.1f} -> {out['latency']['with_slow']['p50_ms']:.1f}"
        f" -> {out['latency']['after_drop']['p50_ms']:.1f} ms")
    return out


def run(cfg: Config, runs: int, loopback: int = 0, log: Any = print,
        uncapped: bool = False) -> dict[str, Any]:
    """``runs`` runs of ``cfg``; with ``loopback`` > 0 also one run of that many slow
    streams at loopback's MSS (the kernel's worst case: it autotunes a socket's send
    buffer the most there); with ``uncapped`` also one run of ``cfg`` without the
    server's send-buffer cap (``ZARIZ_SSE_SNDBUF=0``), the comparison for the cap."""
    raise_nofile()
    # Latency on 2 cores depends on whatever else runs: the report says how busy it was.
    out: dict[str, Any] = {"config": dataclasses.asdict(cfg), "load_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="zariz-slow-") as tmp:
        out["runs"] = [run_once(cfg, pathlib.Path(tmp), log) for _ in range(runs)]
        if loopback > 0:
            lo = dataclasses.replace(cfg, slow=loopback, mss=None)
            out["loopback"] = run_once(lo, pathlib.Path(tmp), log)
        if uncapped:
            off = dataclasses.replace(cfg, send_buffer=0)
            out["uncapped"] = run_once(off, pathlib.Path(tmp), log)
    out["load_end"] = os.getloadavg()[0]
    return out


# -- report -----------------------------------------------------------------------------


def _median(values: list[float | None]) -> float:
    real = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(real) if real else math.nan


def _mb(kb_or_bytes: float, unit: str = "B") -> str:
    if math.isnan(kb_or_bytes):
        return "-"
    return f"{kb_or_bytes / (1024 if unit == 'KB' else 1e6):.1f}"


def _sndbuf(value: int | None) -> str:
    if value is None:
        return f"default ({Settings().sse_send_buffer // 1024} KiB)"
    return "0 (off)" if value == 0 else f"{value // 1024} KiB"


def _tcp_wmem_max() -> str:
    try:
        wmem_max = int(pathlib.Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        return "unknown here"
    return f"{wmem_max / 2**20:g} MiB here"


def render(results: dict[str, Any], command: str) -> str:
    cfg, runs = results["config"], results["runs"]
    n = len(runs)

    def med(path: list[str]) -> float:
        values = []
        for r in runs:
            v: Any = r
            for key in path:
                v = v[key]
            values.append(v)
        return _median(values)

    phases = [("idle", f"{cfg['normal']} normal streams open"),
              ("slow_connected", f"{cfg['slow']} slow streams connected"),
              ("at_drop", "when the last slow stream was dropped"),
              ("after_drop", f"{cfg['settle']:g} s later (or when closed)"),
              ("clients_closed", "slow clients closed their sockets")]
    lines = [
        "## Slow consumers: streams that never read",
        "",
        f"Run {dt.date.today().isoformat()} on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} cores, Linux {platform.release()}, Python "
        f"{platform.python_version()}, everything on 127.0.0.1. `python -m server` "
        f"(LiveServer) with `ZARIZ_SSE_QUEUE={cfg['queue'] or 'default (256)'}`, "
        f"`ZARIZ_SSE_SNDBUF={_sndbuf(cfg.get('send_buffer'))}`, pings off; "
        f"{cfg['slow']} raw sockets (TCP_MAXSEG {cfg['mss'] or 'loopback'}) send "
        f"`GET {SSE_PATH}` with a Bearer token and never `recv`; {cfg['normal']} normal "
        f"streams read (`bench.loadgen`); every event is an order with a "
        f"{cfg['notes_bytes']:,}-character note (~{(cfg['notes_bytes'] + 330) / 1000:.1f} KB "
        f"on the wire). Medians of {n} run{'s' if n != 1 else ''}. Load average (1 min) "
        f"{results.get('load_start', math.nan):.1f} at the start, "
        f"{results.get('load_end', math.nan):.1f} at the end.",
        "",
        f"Rerun: `{command}`",
        "",
        "| moment | server RSS (MB) | server fds | server ESTABLISHED | server send queues "
        "(MB) | slow clients' receive queues (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in phases:
        lines.append(
            f"| {label} | {_mb(med(['samples', key, 'rss_kb']), 'KB')} "
            f"| {med(['samples', key, 'fds']):.0f} "
            f"| {med(['samples', key, 'server_established']):.0f} "
            f"| {_mb(med(['samples', key, 'server_send_queue']))} "
            f"| {_mb(med(['samples', key, 'client_recv_queue']))} |"
        )
    lines.append(
        f"| peak while slow streams were attached | {_mb(med(['peak', 'rss_kb']), 'KB')} "
        f"| {med(['peak', 'fds']):.0f} | {med(['peak', 'server_established']):.0f} "
        f"| {_mb(med(['peak', 'server_send_queue']))} "
        f"| {_mb(med(['peak', 'client_recv_queue']))} |"
    )
    closed = [r["closed_after_s"] for r in runs]
    closed_text = ("never (within the settle time) in " + f"{sum(c is None for c in closed)}/{n}"
                   if any(c is None for c in closed) else f"{_median(closed):.2f} s")
    lines += [
        "",
        f"- slow streams dropped: {med(['dropped']):.0f} of {cfg['slow']}, after "
        f"{med(['events_to_drop']):.0f} events ({med(['pressure_s']):.1f} s of publishing)",
        f"- dropped sockets closed by the server (server-side ESTABLISHED back to the "
        f"{cfg['normal']} normal streams): {closed_text}",
        f"- every normal stream got every event: "
        f"{'yes' if all(r['all_delivered'] for r in runs) else 'NO'}; normal streams "
        f"closed by the server: {sum(r['normal_closed'] for r in runs)}",
        "",
        f"Fan-out latency of the {cfg['normal']} normal streams (POST sent -> event read; "
        "events published one POST after the other):",
        "",
        "| phase | p50 (ms) | p99 (ms) | max (ms) | vs baseline p50 | vs baseline p99 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    base50, base99 = med(["latency", "baseline", "p50_ms"]), med(["latency", "baseline", "p99_ms"])
    for key, label in (("baseline", "baseline: no slow streams (same run)"),
                       ("with_slow", f"with {cfg['slow']} slow streams, until all dropped"),
                       ("after_drop", "after the drop")):
        p50, p99 = med(["latency", key, "p50_ms"]), med(["latency", key, "p99_ms"])
        lines.append(
            f"| {label} | {p50:.1f} | {p99:.1f} | {med(['latency', key, 'max_ms']):.1f} "
            f"| {p50 / base50:.2f}x | {p99 / base99:.2f}x |"
        )
    compare = [(f"the runs above (median of {n})", {
        "slow": cfg["slow"], "mss": cfg["mss"], "send_buffer": cfg.get("send_buffer"),
        "dropped": med(["dropped"]), "events_to_drop": med(["events_to_drop"]),
        "peak": {"server_send_queue": med(["peak", "server_send_queue"])},
        "latency": {"with_slow": {"p50_ms": med(["latency", "with_slow", "p50_ms"]),
                                  "p99_ms": med(["latency", "with_slow", "p99_ms"])}},
    })]
    if results.get("loopback") is not None:
        compare.append(("loopback's MSS (one run)", results["loopback"]))
    if results.get("uncapped") is not None:
        compare.append(("no cap: the kernel's autotuning, as before (one run)",
                        results["uncapped"]))
    lines += [
        "",
        "Kernel memory per slow stream: each SSE socket's send buffer is capped "
        "(`ZARIZ_SSE_SNDBUF`, SO_SNDBUF at stream start; Linux doubles the value), so a "
        "stream that never reads holds at most about twice the cap in the kernel. Without "
        "the cap the kernel autotunes each socket's buffer up to `tcp_wmem`'s maximum "
        f"({_tcp_wmem_max()}) - the most at loopback's MSS - and the hub's queue only "
        "starts to fill after that.",
        "",
        "| run | `ZARIZ_SSE_SNDBUF` | slow streams | slow clients' MSS | dropped | events to "
        "drop | peak server send queues (MB) | per slow stream (KB) | normal p50 / p99 "
        "with slow attached (ms) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for label, r in compare:
        peak_q = r["peak"]["server_send_queue"]
        with_slow = r["latency"]["with_slow"]
        lines.append(
            f"| {label} | {_sndbuf(r.get('send_buffer'))} | {r['slow']} "
            f"| {r['mss'] or 'loopback'} | {r['dropped']:.0f} | {r['events_to_drop']:,.0f} "
            f"| {_mb(peak_q)} | {peak_q / max(1, r['slow']) / 1e3:,.0f} "
            f"| {with_slow['p50_ms']:.1f} / {with_slow['p99_ms']:.1f} |"
        )
    lines += [
        "",
        "Server RSS is `VmRSS` of `/proc/PID/status`; send/receive queues are the sums of "
        "`tx_queue` (server side) and `rx_queue` (client side) in `/proc/net/tcp` for "
        "sockets on the server's port: kernel memory, not in RSS.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_consumers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow", type=int, default=500)
    parser.add_argument("--normal", type=int, default=5)
    parser.add_argument("--events", type=int, default=200,
                        help="events per measured phase (baseline, after the drop)")
    parser.add_argument("--max-events", type=int, default=30_000)
    parser.add_argument("--max-s", type=float, default=200.0,
                        help="cap on the publishing until every slow stream is dropped")
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--queue", type=int, help="ZARIZ_SSE_QUEUE (default: the server's)")
    parser.add_argument("--sndbuf", type=int,
                        help="ZARIZ_SSE_SNDBUF in bytes (default: the server's; 0: no cap)")
    parser.add_argument("--uncapped", action=argparse.BooleanOptionalAction, default=True,
                        help="also one run with ZARIZ_SSE_SNDBUF=0, for comparison")
    parser.add_argument("--notes-bytes", type=int, default=1000,
                        help="pad every event with a note this long (default 1000)")
    parser.add_argument("--mss", type=int, default=1448,
                        help="TCP_MAXSEG of the slow sockets (0: loopback's own)")
    parser.add_argument("--loopback", type=int, default=100, metavar="N",
                        help="also one run of N slow streams at loopback's MSS (0: skip)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    cfg = Config(slow=args.slow, normal=args.normal, events=args.events,
                 max_events=args.max_events, max_s=args.max_s, settle=args.settle,
                 queue=args.queue, send_buffer=args.sndbuf, notes_bytes=args.notes_bytes,
                 mss=args.mss or None)
    results = run(cfg, args.runs, loopback=args.loopback, uncapped=args.uncapped)
    command = " ".join(["python -m bench.slow_consumers", *(argv if argv is not None
                                                              else sys.argv[1:])])
    report(render(results, command.strip()), SECTION, write=not args.no_write, raw=results,
           raw_path=args.json)


if __name__ == "__main__":
    main()
