"""The fault-injecting proxy against a plain echo server (CPython, no browser)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.fault_proxy import FaultProxy
from tests.support.live_server import free_port


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:
            pass  # reset by the proxy: what cut() is for


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo() -> Iterator[int]:
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def proxy(echo: int) -> Iterator[FaultProxy]:
    with FaultProxy(echo) as p:
        yield p


def connect(proxy: FaultProxy, timeout: float = 5) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)
    return sock


def roundtrip(sock: socket.socket, payload: bytes = b"hello") -> bytes:
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def eventually(predicate: Callable[[], bool], within: float = 5) -> bool:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def closed_by_peer(sock: socket.socket, within: float = 5) -> bool:
    """True when the peer closed (EOF or reset) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_forwards_both_ways_and_counts_connections_with_timestamps(proxy: FaultProxy) -> None:
    t0, w0 = time.monotonic(), time.time()
    with connect(proxy) as a, connect(proxy) as b:
        assert roundtrip(a, b"one") == b"one"
        assert roundtrip(b, b"two" * 50_000) == b"two" * 50_000
        assert proxy.open_connections == 2
    seen = proxy.attempts(since=t0)
    assert [c.number for c in seen] == [1, 2]
    assert all(c.outcome == "forwarded" and t0 <= c.opened_at <= time.monotonic()
               and w0 - 1 <= c.opened_wall <= time.time() for c in seen)
    # The counters move on the proxy's thread, just after the bytes went out.
    assert eventually(lambda: seen[1].bytes_up == seen[1].bytes_down == 150_000)
    assert eventually(lambda: proxy.open_connections == 0)
    assert all(c.closed_at is not None for c in seen)
    assert proxy.attempts(since=time.monotonic() + 1) == []


def test_cut_resets_every_open_connection_and_new_ones_still_work(proxy: FaultProxy) -> None:
    a, b = connect(proxy), connect(proxy)
    try:
        assert roundtrip(a) == roundtrip(b) == b"hello"
        assert proxy.cut() == 2
        assert closed_by_peer(a) and closed_by_peer(b)
        assert all(c.cut for c in proxy.connections)
    finally:
        a.close()
        b.close()
    with connect(proxy) as c:
        assert roundtrip(c, b"after") == b"after"
    assert eventually(lambda: proxy.open_connections == 0)
    assert proxy.cut() == 0


def test_stall_holds_bytes_on_old_and_new_connections_until_resume(proxy: FaultProxy) -> None:
    with connect(proxy) as old:
        assert roundtrip(old) == b"hello"
        proxy.stall()
        assert proxy.stalled
        old.sendall(b"held")
        with connect(proxy) as new:  # accepted, but nothing moves
            new.sendall(b"also held")
            for sock in (old, new):
                sock.settimeout(0.5)
                with pytest.raises(TimeoutError):
                    sock.recv(100)
            assert not closed_by_peer(old, within=0.2)  # kept open
            proxy.resume()
            old.settimeout(5)
            new.settimeout(5)
            assert old.recv(100) == b"held"
            assert roundtrip(new, b"") == b"" and new.recv(100) == b"also held"


def test_latency_delays_each_direction_and_turns_off(proxy: FaultProxy) -> None:
    with connect(proxy) as sock:
        roundtrip(sock)  # the connection is up: only the added delay is measured
        proxy.latency(0.3)
        started = time.monotonic()
        assert roundtrip(sock, b"slow") == b"slow"
        slow = time.monotonic() - started
        proxy.latency(0)
        started = time.monotonic()
        assert roundtrip(sock, b"fast") == b"fast"
        fast = time.monotonic() - started
    assert slow >= 0.6, slow  # 0.3 s out + 0.3 s back
    assert fast < 0.3, fast
    with pytest.raises(ValueError):
        proxy.latency(-1)


def test_refuse_closes_new_connections_at_once_and_counts_them(proxy: FaultProxy) -> None:
    with connect(proxy) as kept:
        assert roundtrip(kept) == b"hello"  # accepted by the proxy before it refuses
        proxy.refuse()
        t0 = time.monotonic()
        for _ in range(3):
            try:
                sock = connect(proxy)
            except ConnectionResetError:
                continue  # the reset can beat connect()'s return: refused all the same
            with sock:
                assert closed_by_peer(sock, within=2)
        assert time.monotonic() - t0 < 2
        assert len(proxy.attempts(since=t0, outcome="refused")) == 3
        assert roundtrip(kept) == b"hello"  # refusing new ones leaves the old alone
        proxy.accept()
        with connect(proxy) as sock:
            assert roundtrip(sock) == b"hello"


def test_heal_undoes_every_fault(proxy: FaultProxy) -> None:
    proxy.stall()
    proxy.refuse()
    proxy.latency(5)
    proxy.heal()
    with connect(proxy) as sock:
        started = time.monotonic()
        assert roundtrip(sock) == b"hello"
        assert time.monotonic() - started < 1


def test_upstream_down_resets_the_client() -> None:
    with FaultProxy(free_port()) as proxy:
        try:
            with connect(proxy) as sock:
                assert closed_by_peer(sock, within=2)
        except ConnectionResetError:
            pass  # the reset beat connect()'s return
        assert eventually(lambda: bool(proxy.attempts(outcome="upstream_down")))
        assert [c.outcome for c in proxy.connections] == ["upstream_down"]


def test_stop_closes_connections_and_control_afterwards_is_an_error(echo: int) -> None:
    proxy = FaultProxy(echo).start()
    sock = connect(proxy)
    try:
        assert roundtrip(sock) == b"hello"
        proxy.stop()
        assert closed_by_peer(sock)
        proxy.stop()  # idempotent
        with pytest.raises(RuntimeError, match="not running"):
            proxy.cut()
    finally:
        sock.close()


def test_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy(1, host="0.0.0.0")
