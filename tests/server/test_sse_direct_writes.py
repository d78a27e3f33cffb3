"""Direct writes: the hub's fan-out writes an event straight to an idle stream's transport
(``EventStreamResponse._write_direct``) instead of waking the stream's task.

A real uvicorn (httptools, as ``make serve``) runs in the test's own event loop, so a test
can publish, queue a ping or close a stream between two loop steps and see exactly which
path each frame took. The clients are raw sockets that decode the chunked body strictly
(hex size, CRLF), so a direct write's framing is checked byte for byte.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import dataclasses
import json
import logging
import pathlib
import re
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import uvicorn

import server.sse as sse
from server.__main__ import guarded_http
from server.app import create_app
from server.config import ConfigError, Settings
from server.db import Event
from server.events import LocalFanout, Notice, Subscription
from server.metrics import Metrics
from tests.server.sse_wire import EventStreamParser, WireEvent
from tests.support.live_server import free_port

SSE = "/v1/events/sse"
CHUNK_SIZE = re.compile(rb"[0-9a-f]+")  # uvicorn's "%x": lower-case hex, no extensions


class Ended(Exception):
    """The server ended the body (terminating chunk), closed or reset the connection."""


class Stream:
    """One raw SSE client on asyncio streams, decoding the chunked body strictly."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = EventStreamParser()
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._events: list[WireEvent] = []

    async def _chunk(self) -> bytes:
        try:
            size_line = await self.reader.readuntil(b"\r\n")
            assert CHUNK_SIZE.fullmatch(size_line[:-2]), size_line
            size = int(size_line[:-2], 16)
            body = await self.reader.readexactly(size + 2)
        except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
            raise Ended(repr(exc)) from exc
        assert body.endswith(b"\r\n"), body[-10:]
        if size == 0:
            raise Ended("terminating chunk")
        return body[:-2]

    async def next(self, timeout: float = 5) -> WireEvent:
        async with asyncio.timeout(timeout):
            while not self._events:
                chunk = await self._chunk()
                self._events.extend(self.parser.feed(self._decoder.decode(chunk)))
        return self._events.pop(0)

    async def until_end(self, timeout: float = 5) -> list[WireEvent]:
        events: list[WireEvent] = []
        with contextlib.suppress(Ended):
            while True:
                events.append(await self.next(timeout))
        return events

    def close(self) -> None:
        self.writer.close()


@dataclasses.dataclass
class InLoop:
    """The app served by uvicorn in this loop; ``direct_ids`` lists the event ids the
    fan-out wrote directly (one entry per stream)."""

    app: Any
    port: int
    token: str
    direct_ids: list[int]
    streams: list[Stream] = dataclasses.field(default_factory=list)

    @property
    def hub(self) -> Any:
        return self.app.state.hub

    async def open(self, last_event_id: int | None = None, *, token: str | None = None,
                   rcvbuf: int | None = None) -> Stream:
        sock = socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        head = f"GET {SSE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token or self.token}\r\n"
        if last_event_id is not None:
            head += f"Last-Event-ID: {last_event_id}\r\n"
        writer.write((head + "\r\n").encode())
        status = await reader.readuntil(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 200"), status
        assert b"transfer-encoding: chunked" in status.lower()
        stream = Stream(reader, writer)
        self.streams.append(stream)
        retry = await stream.next()
        assert retry.retry is not None
        return stream

    def subscriptions(self) -> list[Subscription]:
        return list(self.hub._subscriptions)

    def publish(self, event_id: int) -> Event:
        event = Event(event_id, "order.created",
                      json.dumps({"type": "order.created", "data": {"id": event_id}}))
        self.hub.publish(event)
        return event


async def parked(subscription: Subscription, timeout: float = 5) -> None:
    """Until the stream's task waits for the next event with nothing queued."""
    async with asyncio.timeout(timeout):
        while not (subscription._waiter is not None and not subscription._waiter.done()
                   and not subscription._items):
            await asyncio.sleep(0.001)


async def opened(server: InLoop, count: int = 1, **kwargs: Any) -> list[tuple[Stream, int]]:
    """``count`` streams past their position frame, parked; (stream, position id) each."""
    out = []
    for _ in range(count):
        stream = await server.open(**kwargs)
        position = await stream.next()
        assert position.event in {"position", "reset"}
        out.append((stream, int(position.id or 0)))
    for subscription in server.subscriptions():
        await parked(subscription)
    return out


@contextlib.asynccontextmanager
async def serving(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, *,
                  http: str = "httptools", direct: bool | None = None,
                  **overrides: Any) -> AsyncIterator[InLoop]:
    settings = dataclasses.replace(
        Settings(db_path=tmp_path / "zariz.db", root=tmp_path / "root", ping_interval=0,
                 log_level="warning"), **overrides)
    if direct is not None:
        settings = dataclasses.replace(settings, sse_direct=direct)
    app = create_app(settings)
    direct_ids: list[int] = []
    real_chunk = sse._chunk

    def counting_chunk(event: Event) -> bytes:
        direct_ids.append(event.id)  # _chunk is only asked for on the direct path
        return real_chunk(event)

    monkeypatch.setattr(sse, "_chunk", counting_chunk)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, loop="none", lifespan="on",
                            http=guarded_http(http, 5, 10), log_level="warning",
                            access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    streams: list[Stream] = []
    try:
        async with asyncio.timeout(10):
            while not server.started:
                assert not task.done(), task
                await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            login = await client.post("/v1/auth/login",
                                      json={"username": "demo", "password": "demo"})
        yield InLoop(app, port, login.json()["access_token"], direct_ids, streams)
    finally:
        app.state.hub.close_all("shutdown")
        await asyncio.sleep(0.05)
        for stream in streams:
            stream.close()
        server.should_exit = True
        await asyncio.wait_for(task, 10)


Serve = Callable[..., contextlib.AbstractAsyncContextManager[InLoop]]


@pytest.fixture
def serve(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Serve:
    """``serve(**settings)``: an async context manager serving a fresh app (its own
    database) in this loop; ``http=``/``direct=`` pick the stack and the switch."""
    counter = iter(range(1000))

    def factory(**kwargs: Any) -> contextlib.AbstractAsyncContextManager[InLoop]:
        root = tmp_path / f"s{next(counter)}"
        root.mkdir()
        return serving(root, monkeypatch, **kwargs)

    return factory


# -- the direct path and its switch ------------------------------------------------------


async def test_idle_streams_get_each_event_written_by_the_fan_out_itself(serve: Serve) -> None:
    async with serve() as server:
        opened_streams = await opened(server, 5)
        start = opened_streams[0][1]
        for n in range(1, 4):
            server.publish(start + n)
            for stream, _ in opened_streams:
                event = await stream.next()
                assert (event.id, event.json()["data"]["id"]) == (str(start + n), start + n)
        # No task woke for them: every frame went out from the publish call.
        assert sorted(server.direct_ids) == sorted([start + n for n in range(1, 4)] * 5)


@pytest.mark.parametrize("how", ["settings", "env"])
async def test_the_switch_turns_direct_writes_off(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    if how == "env":
        assert Settings.from_env({"ZARIZ_SSE_DIRECT": "0"}).validated().sse_direct is False
        assert Settings.from_env({}).validated().sse_direct is True
        with pytest.raises(ConfigError):
            Settings.from_env({"ZARIZ_SSE_DIRECT": "maybe"})
    async with serve(direct=False) as server:
        [(stream, start)] = await opened(server)
        for n in range(1, 4):
            server.publish(start + n)
            assert (await stream.next()).id == str(start + n)
        assert server.direct_ids == []


async def test_h11_keeps_the_task_path(serve: Serve) -> None:
    async with serve(http="h11") as server:
        [(stream, start)] = await opened(server)
        server.publish(start + 1)
        assert (await stream.next()).id == str(start + 1)
        assert server.direct_ids == []


# -- order and exactly once --------------------------------------------------------------


async def test_nothing_overtakes_a_queued_frame_and_direct_writes_resume_after_it(
    serve: Serve,
) -> None:
    """A ping queued for the stream's task (it is woken, not yet run): the events after
    it queue behind it; once the task has written them and waits again, the next event
    is direct."""
    async with serve() as server:
        [(stream, start)] = await opened(server)
        [subscription] = server.subscriptions()
        server.publish(start + 1)                          # direct
        subscription.notify(Notice(sse.PING, '{"ts":1}'))  # queued, the task is woken
        server.publish(start + 2)                          # queued behind the ping
        server.publish(start + 3)
        await parked(subscription)
        server.publish(start + 4)                          # direct again
        seen = [(e.event, e.id) for e in [await stream.next() for _ in range(5)]]
        assert seen == [("message", str(start + 1)), ("ping", None),
                        ("message", str(start + 2)), ("message", str(start + 3)),
                        ("message", str(start + 4))]
        assert server.direct_ids == [start + 1, start + 4]


async def test_mixed_direct_and_queued_writes_deliver_every_id_once_in_order(
    serve: Serve,
) -> None:
    """Bursts with pings and dev-style notices interleaved at random points: each of 3
    streams sees every id once, in order, and both paths were used."""
    import random

    rng = random.Random(13)
    async with serve() as server:
        opened_streams = await opened(server, 3)
        start = opened_streams[0][1]
        ids = list(range(start + 1, start + 301))
        for event_id in ids:
            server.publish(event_id)
            roll = rng.random()
            if roll < 0.1:
                for subscription in server.subscriptions():
                    subscription.notify_if_idle(Notice(sse.PING, '{"ts":1}'))
            elif roll < 0.15:
                for subscription in server.subscriptions():
                    subscription.notify(Notice(sse.DEV_RELOAD, '{"version":"x"}'))
            if rng.random() < 0.3:
                await asyncio.sleep(0)
        for stream, _ in opened_streams:
            got: list[int] = []
            while len(got) < len(ids):
                event = await stream.next()
                if event.event == "message":
                    got.append(int(event.id or 0))
            assert got == ids
        direct = len(server.direct_ids)
        assert 0 < direct < 3 * len(ids), direct


async def test_nothing_is_written_directly_before_the_streams_first_frame(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event committed while a new stream is still checking its session (subscribed,
    its position frame not written yet: a database off the loop takes a while) waits for
    the stream's task and comes after the position."""
    checking, release = asyncio.Event(), asyncio.Event()
    real_run_db = sse.run_db

    async def slow_session_check(db: Any, fn: Callable[..., Any], *args: Any) -> Any:
        if getattr(fn, "__name__", "") == "session_active":
            checking.set()
            await release.wait()
        return await real_run_db(db, fn, *args)

    monkeypatch.setattr(sse, "run_db", slow_session_check)
    async with serve() as server:
        newest = server.app.state.db.event_bounds()[1]
        opening = asyncio.ensure_future(server.open())
        await asyncio.wait_for(checking.wait(), 5)
        server.publish(newest + 1)
        release.set()
        stream = await asyncio.wait_for(opening, 5)
        first, second = await stream.next(), await stream.next()
        assert (first.event, first.id) == ("position", str(newest))
        assert (second.event, second.id) == ("message", str(newest + 1))
        [subscription] = server.subscriptions()
        await parked(subscription)
        server.publish(newest + 2)
        assert (await stream.next()).id == str(newest + 2)
        assert server.direct_ids == [newest + 2]


async def test_the_replay_seam_drops_a_live_duplicate_on_the_direct_path(serve: Serve) -> None:
    async with serve() as server:
        db = server.app.state.db
        for n in range(5):
            db.insert_order({"customer": f"c{n}", "phone": "050-1234567", "address": "a"},
                            "order.created")
        stream = await server.open(last_event_id=2)
        assert (await stream.next()).event == "position"
        assert [int((await stream.next()).id or 0) for _ in range(3)] == [3, 4, 5]
        [subscription] = server.subscriptions()
        await parked(subscription)
        server.publish(4)  # a late live copy of a replayed event (a broker's redelivery)
        server.publish(6)
        assert (await stream.next()).id == "6"
        server.publish(7)
        assert (await stream.next()).id == "7"
        assert server.direct_ids == [6, 7]


# -- ends: slow client, disconnect, logout, expiry, shutdown, failures ---------------------


async def test_a_client_that_stops_reading_is_dropped_as_before(serve: Serve) -> None:
    """The direct path writes only into an empty transport buffer, so a stalled client's
    events go to its queue, which overflows: dropped as a slow consumer, connection
    reset, and the user-space buffer stayed at uvicorn's high-water mark."""
    async with serve(sse_queue=4, sse_send_buffer=4096) as server:
        [(stream, start)] = await opened(server, rcvbuf=2048)
        [subscription] = server.subscriptions()
        response = subscription.direct.__self__  # type: ignore[union-attr]
        transport = response._transport
        # The user-space buffer before each direct write: always empty.
        before_direct: list[int] = []
        real_write, seen = transport.write, [0]

        def write(data: bytes) -> None:
            if len(server.direct_ids) > seen[0]:  # _chunk was just asked: a direct write
                seen[0] = len(server.direct_ids)
                before_direct.append(transport.get_write_buffer_size())
            real_write(data)

        transport.write = write
        biggest = 0
        for n in range(1, 400):
            server.hub.publish(Event(start + n, "order.created", "x" * 10_000))
            biggest = max(biggest, transport.get_write_buffer_size())
            if subscription.closed_reason is not None:
                break
            await asyncio.sleep(0.002)
        assert subscription.closed_reason == "slow_consumer"
        assert server.app.state.metrics.slow_consumers_dropped._value.get() == 1
        assert biggest < 64 * 1024 + 2 * 10_100, biggest  # high water + about one frame
        assert before_direct and set(before_direct) == {0}, before_direct
        with pytest.raises(Ended):
            while True:
                await stream.next(timeout=5)


async def test_a_disconnected_client_is_never_written_to(serve: Serve) -> None:
    async with serve() as server:
        [(stream, start)] = await opened(server)
        [subscription] = server.subscriptions()
        response = subscription.direct.__self__  # type: ignore[union-attr]
        transport = response._transport
        writes: list[bytes] = []
        real_write = transport.write

        def write(data: bytes) -> None:
            writes.append(data)
            real_write(data)

        transport.write = write
        server.publish(start + 1)
        assert (await stream.next()).id == str(start + 1) and len(writes) == 1
        stream.writer.transport.abort()  # the client goes (RST)
        # Publish at every loop step from the moment the server sees it go until its
        # stream has ended: before the listener closes the subscription, then after.
        n = 1
        async with asyncio.timeout(5):
            while not transport.is_closing():
                await asyncio.sleep(0)
            while subscription.closed_reason is None or response._cycle is not None:
                n += 1
                server.publish(start + n)
                await asyncio.sleep(0)
        for _ in range(3):
            n += 1
            server.publish(start + n)
        await asyncio.sleep(0.05)
        assert writes[1:] == []
        assert server.direct_ids == [start + 1]
        assert subscription.closed_reason == "client_gone"


@pytest.mark.parametrize("reason", ["session_revoked", "shutdown", "token_expired"])
async def test_a_closed_stream_ends_and_gets_nothing_after_its_close(
    serve: Serve, reason: str
) -> None:
    async with serve(access_ttl=2.0 if reason == "token_expired" else 900.0) as server:
        [(other, start)] = await opened(server, token=await _login(server))
        [theirs] = server.subscriptions()
        [(stream, _)] = await opened(server)
        [mine] = [s for s in server.subscriptions() if s is not theirs]
        server.publish(start + 1)
        assert (await stream.next()).id == str(start + 1)
        assert (await other.next()).id == str(start + 1)
        assert server.direct_ids == [start + 1] * 2
        if reason == "session_revoked":
            assert mine.session_id is not None
            assert server.hub.disconnect_session(mine.session_id) == 1
        elif reason == "shutdown":
            server.hub.close_all("shutdown")
        else:  # the token lives 2 s: its stream's timer closes it
            async with asyncio.timeout(5):
                while mine.closed_reason is None:
                    await asyncio.sleep(0.01)
        theirs_open = theirs.closed_reason is None  # (its token expires about now too)
        server.publish(start + 2)  # right after the close: not for the closed stream
        assert await stream.until_end(timeout=5) == []
        assert mine.closed_reason == reason
        assert server.direct_ids == [start + 1] * 2 + [start + 2] * theirs_open
        if reason == "session_revoked":  # the other session's stream goes on
            assert (await other.next()).id == str(start + 2)


async def _login(server: InLoop) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        login = await client.post("/v1/auth/login", json={"username": "demo", "password": "demo"})
    return str(login.json()["access_token"])


async def test_an_encode_failure_ends_the_streams_and_the_publish_goes_on(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    async with serve() as server:
        opened_streams = await opened(server, 2)
        start = opened_streams[0][1]

        def broken(event: Event) -> bytes:
            raise ValueError("cannot encode")

        monkeypatch.setattr(sse, "_chunk", broken)
        with caplog.at_level(logging.ERROR, "zariz.sse"):
            server.publish(start + 1)  # does not raise
        for stream, _ in opened_streams:
            assert await stream.until_end() == []
        assert [s.closed_reason for s in server.subscriptions()] in ([], ["encode_failed"] * 2)
        assert caplog.text.count("could not be encoded") == 1, "once per event, not per stream"


async def test_a_transport_error_ends_that_stream_only(
    serve: Serve, caplog: pytest.LogCaptureFixture,
) -> None:
    async with serve() as server:
        opened_streams = await opened(server, 3)
        start = opened_streams[0][1]
        subscriptions = server.subscriptions()
        broken = subscriptions[1]
        transport = broken.direct.__self__._transport  # type: ignore[union-attr]

        def failing_write(data: bytes) -> None:
            raise OSError("the socket went away")

        transport.write = failing_write
        with caplog.at_level(logging.ERROR, "zariz.sse"):
            server.publish(start + 1)
            server.publish(start + 2)
        assert broken.closed_reason == "write_failed"
        assert "SSE direct write failed" in caplog.text
        broken_port = transport.get_extra_info("peername")[1]
        for stream, _ in opened_streams:
            if stream.writer.get_extra_info("sockname")[1] == broken_port:
                assert await stream.until_end() == []
            else:
                assert [(await stream.next()).id for _ in range(2)] == [
                    str(start + 1), str(start + 2)]


async def test_a_raising_direct_writer_closes_its_subscription_not_the_fan_out() -> None:
    """The hub's safety net around any direct writer."""
    fanout = LocalFanout(queue_size=4, metrics=Metrics())
    subs = [fanout._register(None) for _ in range(3)]
    written: list[tuple[int, int]] = []

    def writer(index: int) -> Callable[[Event], bool]:
        def write(event: Event) -> bool:
            if index == 1:
                raise RuntimeError("boom")
            written.append((index, event.id))
            return True
        return write

    readers = [asyncio.ensure_future(s.get(None)) for s in subs]
    await asyncio.sleep(0)  # each reader waits: the direct path is open
    for index, subscription in enumerate(subs):
        subscription.direct = writer(index)
    fanout._fan_out(Event(1, "t", "{}"))
    assert written == [(0, 1), (2, 1)] or sorted(written) == [(0, 1), (2, 1)]
    assert subs[1].closed_reason == "direct_write_failed" and subs[1].direct is None
    assert [s.closed_reason for s in (subs[0], subs[2])] == [None, None]
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


def test_the_direct_chunk_is_uvicorns_framing_of_the_shared_frame() -> None:
    event = Event(41, "order.created", '{"type":"order.created","data":{"n":"\u05e9"}}')
    wire = sse._frame(event).wire
    chunk = sse._chunk(event)
    assert chunk == b"%x\r\n" % len(wire) + wire + b"\r\n"  # httptools_impl's "%x\r\n"
    assert sse._chunk(event) is chunk  # once per event, not once per stream
    other = Event(42, "order.created", "{}")
    assert sse._chunk(other).startswith(b"%x\r\nid: 42\r\n" % len(sse._frame(other).wire))


def test_only_a_started_chunked_httptools_cycle_with_the_known_state_is_written_to() -> None:
    """The direct path reads uvicorn's request-cycle state; a cycle without it (another
    uvicorn) or a response that is not chunked keeps the stream's task path."""
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    class Flow:
        write_paused = False

    cycle: Any = object.__new__(RequestResponseCycle)
    cycle.__dict__.update(response_started=True, chunked_encoding=True, disconnected=False,
                          response_complete=False, flow=Flow())
    assert sse._chunked_httptools_cycle(cycle.receive) is cycle
    for name, value in (("chunked_encoding", False), ("response_started", False),
                        ("disconnected", True), ("flow", None)):
        changed: Any = object.__new__(RequestResponseCycle)
        changed.__dict__.update({**cycle.__dict__, name: value})
        assert sse._chunked_httptools_cycle(changed.receive) is None, name
    del cycle.__dict__["response_complete"]
    assert sse._chunked_httptools_cycle(cycle.receive) is None

    async def not_uvicorn() -> dict[str, Any]:
        return {}

    assert sse._chunked_httptools_cycle(not_uvicorn) is None
