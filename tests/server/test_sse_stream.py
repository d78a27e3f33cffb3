"""The lean stream path: one shared ping timer, frames encoded once, disconnects closing
the subscription, and the stream on both HTTP stacks (httptools + uvloop, the default,
and h11 + asyncio) with the slow-open guard on each."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import pytest

from server.__main__ import resolve_stack
from server.config import ConfigError, Settings
from server.db import Event
from server.events import Notice, Subscription
from server.sse import PING, Heartbeat, _frame
from tests.server.sse_wire import RawSSEClient
from tests.support.live_server import LiveServer

SSE = "/v1/events/sse"


# -- the shared heartbeat ---------------------------------------------------------------


async def test_one_timer_pings_every_idle_stream_once_per_interval() -> None:
    interval = 0.2
    heartbeat = Heartbeat(interval)
    subs = [Subscription(8, None) for _ in range(25)]
    undos = [heartbeat.add(s) for s in subs]
    await asyncio.sleep(interval * 1.5)  # every slice had its turn at least once
    counts = [len(s._items) for s in subs]
    # Idle streams got exactly one ping each (a second one waits while the first is
    # unread), all with the ping event and a fresh timestamp.
    assert counts == [1] * len(subs)
    item = subs[0]._items[0]
    assert isinstance(item, Notice) and item.event == PING
    assert abs(json.loads(item.data)["ts"] - time.time() * 1000) < 5_000
    for undo in undos:
        undo()
        undo()  # idempotent
    assert heartbeat._timer is None and heartbeat._members == 0


async def test_a_busy_stream_gets_no_ping_and_pings_resume_after_it_drains() -> None:
    heartbeat = Heartbeat(0.1)
    sub = Subscription(8, None)
    sub.offer(Event(1, "order.created", "{}"))
    undo = heartbeat.add(sub)
    await asyncio.sleep(0.25)
    assert [type(i).__name__ for i in sub._items] == ["Event"]
    await sub.get(timeout=0)
    await asyncio.sleep(0.25)
    assert [getattr(i, "event", None) for i in sub._items] == [PING]
    undo()


async def test_interval_zero_means_no_pings_and_no_timer() -> None:
    heartbeat = Heartbeat(0)
    sub = Subscription(8, None)
    heartbeat.add(sub)()
    assert heartbeat._timer is None and not sub._items


def test_a_fan_out_encodes_each_event_once() -> None:
    event = Event(7, "order.created", '{"type":"order.created"}')
    first, again = _frame(event), _frame(Event(7, "order.created", '{"type":"order.created"}'))
    assert first is again  # one object (and one encoding) for every stream
    assert first.encode() == b'id: 7\r\ndata: {"type":"order.created"}\r\n\r\n'
    notice = _frame(Notice("dev.reload", "{}"))
    assert notice.id is None and notice.encode() == b"event: dev.reload\r\ndata: {}\r\n\r\n"


# -- the stack setting ------------------------------------------------------------------


def test_stack_settings_default_to_auto_and_refuse_unknown_values() -> None:
    settings = Settings.from_env({})
    assert (settings.http, settings.loop) == ("auto", "auto")
    assert resolve_stack(settings) == ("httptools", "uvloop")  # both installed here
    pinned = Settings.from_env({"ZARIZ_HTTP": "h11", "ZARIZ_LOOP": "asyncio"}).validated()
    assert resolve_stack(pinned) == ("h11", "asyncio")
    for env in ({"ZARIZ_HTTP": "hyper"}, {"ZARIZ_LOOP": "trio"}):
        with pytest.raises(ConfigError, match="ZARIZ_HTTP must be one of"):
            Settings.from_env(env).validated()


# -- live, on both stacks ---------------------------------------------------------------

STACKS = {"httptools+uvloop": {"ZARIZ_HTTP": "httptools", "ZARIZ_LOOP": "uvloop"},
          "h11+asyncio": {"ZARIZ_HTTP": "h11", "ZARIZ_LOOP": "asyncio"}}


@pytest.fixture(scope="module", params=list(STACKS))
def stack_server(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {**STACKS[request.param], "ZARIZ_PING_INTERVAL": "0.3", "ZARIZ_HEADER_TIMEOUT": "1"}
    with LiveServer(tmp_path_factory.mktemp("stack"), env=env) as server:
        yield server


def test_the_stream_and_its_pings_on_each_stack(stack_server: LiveServer) -> None:
    token = stack_server.login()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    with RawSSEClient(stack_server.url + SSE, headers) as raw:
        assert raw.status == 200
        assert raw.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert raw.headers["cache-control"] == "no-store"
        assert raw.next_event().retry == 1000
        position = raw.next_event()
        assert position.event == "position"
        order = stack_server.create_order(token, customer="stack")
        seen: list[str] = []
        deadline = time.monotonic() + 5
        while "message" not in seen or seen.count("ping") < 2:
            assert time.monotonic() < deadline, seen
            event = raw.next_event()
            seen.append(event.event)
            if event.event == "message":
                assert event.json()["data"]["id"] == order["id"]
                assert int(event.id or 0) == int(position.id or 0) + 1
    assert stack_server.metric("zariz_sse_open_streams") in (0, 1)  # closing


def test_a_client_that_leaves_frees_its_stream_on_each_stack(stack_server: LiveServer) -> None:
    token = stack_server.login()["access_token"]
    clients = [RawSSEClient(stack_server.url + SSE, {"Authorization": f"Bearer {token}"})
               for _ in range(3)]
    for client in clients:
        client.next_event()
    deadline = time.monotonic() + 5
    while stack_server.metric("zariz_sse_open_streams") < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for client in clients:
        client.close()
    while stack_server.metric("zariz_sse_open_streams") != 0:
        assert time.monotonic() < deadline, "a closed client's stream stayed open"
        time.sleep(0.05)


def test_a_slow_opening_is_closed_on_each_stack(stack_server: LiveServer) -> None:
    """The header deadline holds on httptools as on h11 (a connection that sends
    half a request head is closed after ZARIZ_HEADER_TIMEOUT, 1 s here)."""
    with socket.create_connection(("127.0.0.1", stack_server.port), timeout=15) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            while sock.recv(4096):
                pass
        except ConnectionResetError:
            pass
        took = time.monotonic() - started
    assert 0.9 <= took < 4.0, took


# -- a stream the server ends, to a client that stopped reading --------------------------


def test_an_ended_stream_to_a_client_that_stopped_reading_is_reset_not_kept() -> None:
    """Regression (review of the lean path): a stream ended by the server (here a logout)
    while its client had stopped reading answered its end gracefully, and uvicorn then
    kept the connection, its file descriptor and its queues for as long as the client
    stayed; with sse-starlette it went within seconds. Now the connection is reset."""
    import tempfile

    env = {"ZARIZ_SSE_SNDBUF": "4096", "ZARIZ_PING_INTERVAL": "0", "ZARIZ_SEND_TIMEOUT": "60"}
    with tempfile.TemporaryDirectory() as tmp, LiveServer(__import__("pathlib").Path(tmp),
                                                          env=env) as server:
        token = server.login()["access_token"]
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        try:
            sock.sendall(f"GET {SSE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}"
                         "\r\n\r\n".encode())
            other = server.login()["access_token"]
            for _ in range(60):  # ~60 KB: more than both kernel buffers hold
                server.create_order(other, notes="n" * 1000)
            import httpx

            httpx.post(f"{server.url}/v1/auth/logout", timeout=10,
                       headers={"Authorization": f"Bearer {token}"}).raise_for_status()
            deadline = time.monotonic() + 10
            while server.metric("zariz_sse_open_streams") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.metric("zariz_sse_open_streams") == 0
            time.sleep(0.5)
            # Read what arrived: the connection was reset (the end could never be sent
            # gracefully). Kept open, reads would drain the data and then wait (no EOF)
            # until uvicorn's keep-alive timeout, seconds after the response completed.
            sock.settimeout(2.0)
            with pytest.raises(ConnectionResetError):
                while sock.recv(65536):
                    pass
        finally:
            sock.close()


def test_h11_works_without_httptools_and_an_explicit_missing_stack_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess
    import sys

    # Importing the server must not need httptools (the auto choice falls back to h11).
    code = ("import sys; sys.modules['httptools'] = None; import server.__main__ as m; "
            "print(m.guarded_http('h11', 5, 10).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert out.returncode == 0 and out.stdout.strip() == "GuardedH11Protocol", out.stderr
    import importlib.util

    real = importlib.util.find_spec
    missing = ("httptools", "uvloop")
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in missing else real(name, *a))
    assert resolve_stack(Settings.from_env({})) == ("h11", "asyncio")
    for env, what in (({"ZARIZ_HTTP": "httptools"}, "httptools is not installed"),
                      ({"ZARIZ_LOOP": "uvloop"}, "uvloop is not installed")):
        with pytest.raises(ConfigError, match=what):
            resolve_stack(Settings.from_env(env).validated())
