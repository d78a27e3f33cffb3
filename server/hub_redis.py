"""``RedisHub``: the event hub over Redis Streams, for several server processes.

``ZARIZ_HUB=redis://host:port/db?stream=zariz:events&maxlen=10000`` (``rediss://`` for
TLS; user and password in the URL's user part). ``stream`` is the stream's key (default
``zariz:events``), ``maxlen`` how many entries Redis keeps (``MAXLEN ~``, default 10000);
any other option is refused. Imported only when chosen (``create_hub``).

Per process, whatever the number of streams, three connections and two tasks:

- **The relay** publishes committed events: it reads the event table (the outbox) in id
  order with ``db.events_after(cursor)`` and XADDs each with the explicit id
  ``<event id>-0``. It wakes on ``publish(event)`` (called by the request after its
  commit) and polls every ``poll_interval`` s anyway, so an event whose instance died
  between commit and publish is published by any other instance, or by it once
  restarted. Every relay tries every event: Redis refuses an id equal to or below the
  stream's top ("ID equal or smaller"), which means another instance published it, so
  the relay moves on; nothing is published twice and nothing out of order. The event
  ids are one gap-free sequence (the storage's rule), so the stream is one too. Where a
  relay starts, on every (re)connection: the stream's last id; if the stream is empty or
  missing (Redis lost its data), the highest id this process's reader has read
  (republishing what followed), and at the very first start the database's newest id.
- **The reader** is one ``XREAD BLOCK`` loop on the event stream and on the control
  stream ``<stream>:control``, fanning events out to this process's streams
  (:class:`~server.events.LocalFanout`). It drops any id <= the last one it delivered,
  so an entry seen twice (a republish after Redis lost data) reaches no stream twice.
- **Commands** (replay, logout messages) share a small pool.

Logout: ``disconnect_session`` closes this process's streams of the session at once and
XADDs ``{op: disconnect_session}`` to the control stream; every reader closes its own.

Replay (``subscribe(after_id)``, same seam rule as ``MemoryHub``): XRANGE from Redis when
the stream still holds ``after_id`` (or ``after_id + 1``) and everything after it, up to at
least what the reader had delivered when the stream registered; else the database
(``events_after``); ``reset`` ``too_old`` only when the database no longer has it either,
``unknown_id`` beyond its newest id.

Redis down: the reader (or the relay) loses Redis, every stream of this process ends with
``hub_unavailable`` and :attr:`RedisHub.available` is False (new streams get 503, the
client retries with backoff and resumes by id). Nothing is buffered meanwhile: no stream
exists and the relay holds no batch while it cannot reach Redis. Writes still commit;
the relay publishes them, in order, when Redis is back, and the reader continues from its
last id. A Redis that is down when the app starts does not stop it: the hub logs it and
keeps retrying.

Limits:

- The stream key belongs to this hub: entries whose id is not ``<n>-0`` are skipped.
- After Redis lost its data, the new stream starts where the first relay to reconnect
  resumed; ids below that are served from the database (replay falls back), but a
  stream whose reader kept its connection through the loss would miss them live. Every
  reader loses its connection when Redis restarts, so that needs the key deleted by hand
  while Redis runs: don't.
- A process that starts and finds the stream missing publishes what is committed from
  then on; events committed before it started and never published stay unpublished
  (no stream can be waiting for them: every stream ended when Redis lost the stream;
  a client gets them by replay from the database).
- Redis persistence is not needed for correctness (the database is the log); without it
  a restart costs a replay from the database for streams resuming from before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError
from redis.retry import Retry

from server.db import Database, Event
from server.events import Feed, LocalFanout, ReplayResult, replay_from_log
from server.metrics import Metrics
from server.storage import run_db

log = logging.getLogger("zariz.hub.redis")

DEFAULT_STREAM = "zariz:events"
DEFAULT_MAXLEN = 10_000
CONTROL_MAXLEN = 1_000
OPTIONS = ("stream", "maxlen")
Entries = list[tuple[str, dict[str, str]]]  # XRANGE's answer (decode_responses=True)


@dataclass(frozen=True)
class RedisHubConfig:
    """A parsed ``ZARIZ_HUB`` Redis URL: the connection URL (without our options), the
    stream's key and its MAXLEN."""

    url: str
    stream: str = DEFAULT_STREAM
    maxlen: int = DEFAULT_MAXLEN

    @property
    def safe_url(self) -> str:
        """The connection URL without its password (for logs)."""
        return redacted(self.url)

    @classmethod
    def parse(cls, url: str) -> RedisHubConfig:
        """``redis[s]://[user:password@]host[:port][/db][?stream=key&maxlen=n]``; anything
        else is a ``ValueError`` saying what is wrong."""
        where = f"ZARIZ_HUB={redacted(url)!r}"
        parts = urlsplit(url)
        if parts.scheme not in {"redis", "rediss"}:
            raise ValueError(f"{where}: the scheme must be redis:// or rediss://")
        if not parts.hostname:
            raise ValueError(f"{where}: no host (redis://host:port/db)")
        try:
            parts.port  # noqa: B018 - urlsplit checks the port when asked for it
        except ValueError as exc:
            raise ValueError(f"{where}: bad port ({exc})") from exc
        db = parts.path.strip("/")
        if db and not (db.isascii() and db.isdigit()):
            raise ValueError(f"{where}: the path must be a database number, got {db!r}")
        if parts.fragment:
            raise ValueError(f"{where}: no #fragment allowed")
        options: dict[str, str] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name not in OPTIONS:
                raise ValueError(
                    f"{where}: unknown option {name!r}; supported: {', '.join(OPTIONS)}"
                )
            if name in options:
                raise ValueError(f"{where}: option {name!r} given twice")
            options[name] = value
        stream = options.get("stream", DEFAULT_STREAM)
        if not stream or not stream.isprintable() or " " in stream:
            raise ValueError(f"{where}: stream must be a non-empty key without spaces")
        raw_maxlen = options.get("maxlen", str(DEFAULT_MAXLEN))
        if not (raw_maxlen.isascii() and raw_maxlen.isdigit()) or int(raw_maxlen) < 1:
            raise ValueError(f"{where}: maxlen must be a positive integer, got {raw_maxlen!r}")
        connection = urlunsplit((parts.scheme, parts.netloc, f"/{db or 0}", "", ""))
        return cls(connection, stream, int(raw_maxlen))


def redacted(url: str) -> str:
    """``url`` with the password of its user part replaced by ``***`` (for messages)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}"


def entry_event_id(entry_id: str) -> int | None:
    """The event id of a stream entry id ``<n>-0``; None for an id this hub never writes."""
    number, _, sequence = entry_id.partition("-")
    if sequence != "0" or not number.isdigit():
        return None
    return int(number)


class Backoff:
    """Capped exponential delays: ``first``, twice that, ... up to ``cap``; ``reset()``
    after a success."""

    def __init__(self, first: float, cap: float) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.first


class RedisHub(LocalFanout):
    """The event hub over Redis Streams (see the module docstring)::

        hub = RedisHub.from_url("redis://127.0.0.1:6379/0?stream=zariz:events", db,
                                queue_size=256, metrics=Metrics())
        await hub.start()            # never fails for Redis: available says whether
        ...
        await hub.aclose()
    """

    def __init__(
        self, db: Database, config: RedisHubConfig, *, queue_size: int, metrics: Metrics,
        poll_interval: float = 0.25, block_ms: int = 2_000, connect_timeout: float = 2.0,
        command_timeout: float = 5.0, backoff_first: float = 0.05, backoff_cap: float = 2.0,
        batch_size: int = 1_000, command_connections: int = 8,
    ) -> None:
        super().__init__(queue_size=queue_size, metrics=metrics)
        self.db = db
        self.config = config
        self.stream = config.stream
        self.control_stream = f"{config.stream}:control"
        self.poll_interval = poll_interval
        self.block_ms = block_ms
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.backoff_first = backoff_first
        self.backoff_cap = backoff_cap
        self.batch_size = batch_size
        self.command_connections = command_connections
        self.instance = uuid.uuid4().hex  # the origin of our control messages

        self._available = False
        self._reader_ok = False
        self._relay_ok = True  # until it fails: the reader alone decides at first
        self._closing = False
        # The highest event id the reader delivered (None before its first sync): the
        # seam of every stream registered now, and where a lost stream is republished from.
        self._last_id: int | None = None
        self._read_cursor = "0-0"
        self._control_cursor = "0-0"
        self._relay_batch: list[Event] = []
        self._wake = asyncio.Event()
        self._synced = asyncio.Event()  # the reader's first successful sync
        self._first_attempt = asyncio.Event()  # the reader's first sync, either way
        self._tasks: list[asyncio.Task[None]] = []
        self._control_tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._clients: list[Redis] = []
        self._reader: Redis | None = None
        self._relay: Redis | None = None
        self._commands: Redis | None = None
        self._down_since: float | None = None
        self._boot_newest = 0

    MAX_PENDING_CONTROL = 1_000
    CONTROL_DEADLINE = 10.0  # seconds a logout message keeps retrying

    @classmethod
    def from_url(
        cls, url: str, db: Database, *, queue_size: int, metrics: Metrics, **options: Any
    ) -> RedisHub:
        return cls(db, RedisHubConfig.parse(url), queue_size=queue_size, metrics=metrics,
                   **options)

    # -- lifecycle -------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._available

    def _client(self, name: str, connections: int, socket_timeout: float) -> Redis:
        pool = BlockingConnectionPool.from_url(
            self.config.url, max_connections=connections, timeout=self.command_timeout,
            decode_responses=True, protocol=2, socket_connect_timeout=self.connect_timeout,
            socket_timeout=socket_timeout, retry=Retry(NoBackoff(), 0),
            client_name=f"zariz-{name}-{self.instance[:8]}",
        )
        client = Redis.from_pool(pool)
        self._clients.append(client)
        return client

    async def start(self) -> None:
        """Start the reader and the relay; wait for the reader's first attempt (bounded),
        so a reachable Redis is available when the app starts serving. An unreachable
        one is logged, not raised: streams get 503 until it answers."""
        if self._tasks:
            raise RuntimeError("RedisHub.start(): already started")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        # Before any request of this process commits: if Redis turns out to have no
        # stream, publishing starts after this id (what this process commits is
        # published, whenever Redis answers).
        self._boot_newest = (await run_db(self.db, self.db.event_bounds))[1]
        self._reader = self._client("reader", 1, self.block_ms / 1000 + self.command_timeout)
        self._relay = self._client("relay", 1, self.command_timeout)
        self._commands = self._client("commands", self.command_connections,
                                      self.command_timeout)
        self._tasks = [
            asyncio.create_task(self._read_loop(), name="zariz-redis-reader"),
            asyncio.create_task(self._relay_loop(), name="zariz-redis-relay"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), self.connect_timeout * 2 + 1)
        if not self._available:
            log.error(
                "Redis hub %s unreachable at start: serving without live events (new "
                "streams get 503 hub_unavailable); retrying", self.config.safe_url,
            )

    async def aclose(self) -> None:
        """Stop the tasks (logout messages in flight get a second), close the streams
        and the connections.

        The loops also stop on ``_closing``, and the connections are closed before the
        second wait: redis-py's asyncio client can swallow a task's cancellation when it
        lands in a command (redis/redis-py#2028, #2551), and the task would go on."""
        self._closing = True
        if self._control_tasks:
            await asyncio.wait(set(self._control_tasks), timeout=1.0)
        tasks = [*self._tasks, *self._control_tasks]
        for task in tasks:
            task.cancel()
        pending: set[asyncio.Task[None]] = set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=1.0)
        for client in self._clients:
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()  # a blocked XREAD fails now, its loop sees _closing
        self._clients = []
        for task in pending:
            task.cancel()
        if pending:
            _, pending = await asyncio.wait(pending, timeout=1.0)
        if pending:
            log.error("Redis hub: %d tasks did not stop", len(pending))
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("Redis hub task %s failed", task.get_name(),
                          exc_info=task.exception())
        self._tasks = []
        self._available = False
        self.close_all("shutdown")

    def buffered(self) -> dict[str, int]:
        """What this hub holds in memory now (for tests and debugging): streams, events
        queued for them, the relay's batch in hand, logout messages in flight."""
        return {
            "streams": len(self._subscriptions),
            "queued": sum(s.queued for s in self._subscriptions),
            "relay_batch": len(self._relay_batch),
            "control_tasks": len(self._control_tasks),
        }

    # -- health ----------------------------------------------------------------------

    def _set_health(self, *, reader: bool | None = None, relay: bool | None = None,
                    error: BaseException | None = None) -> None:
        if self._closing:
            return  # aclose() ends the streams with "shutdown"
        if reader is not None:
            self._reader_ok = reader
        if relay is not None:
            self._relay_ok = relay
        available = self._reader_ok and self._relay_ok and not self._closing
        if available == self._available:
            return
        self._available = available
        if available:
            if self._down_since is None:
                log.info("Redis hub %s connected (stream %r)", self.config.safe_url,
                         self.stream)
            else:
                log.warning("Redis hub %s available again after %.1f s",
                            self.config.safe_url, time.monotonic() - self._down_since)
            self._down_since = None
            return
        self._down_since = time.monotonic()
        closed = self.close_all("hub_unavailable")
        log.error(
            "Redis hub %s unavailable (%s: %s): closed %d streams; new streams get 503 "
            "until it is back", self.config.safe_url, type(error).__name__, error, closed,
        )

    # -- the reader ------------------------------------------------------------------

    async def _stream_top(self, client: Redis, key: str) -> str | None:
        """The id of the newest entry of ``key``, None when it is empty or missing."""
        entries = await client.xrevrange(key, "+", "-", count=1)
        return str(entries[0][0]) if entries else None

    async def _sync_reader(self, reader: Redis) -> None:
        """On every (re)connection: where to read from."""
        top_entry = await self._stream_top(reader, self.stream)
        top = entry_event_id(top_entry) if top_entry is not None else None
        if self._last_id is None:
            newest = self._boot_newest
            if top is not None and top > (await run_db(self.db, self.db.event_bounds))[1]:
                log.error(
                    "Redis stream %r holds id %d, beyond the database's newest id: it "
                    "belongs to another database (delete the key or use another stream)",
                    self.stream, top,
                )
            self._last_id = top if top is not None else newest
            self._read_cursor = top_entry if top_entry is not None else f"{newest}-0"
        elif top is None or top < self._last_id:
            log.warning(
                "Redis stream %r lost entries (newest now %s, this process read up to "
                "%d): events after %d are published again", self.stream, top,
                self._last_id, self._last_id,
            )
        # Control messages from before this connection are moot: every stream of this
        # process ended when it was lost (or none existed yet).
        self._control_cursor = await self._stream_top(reader, self.control_stream) or "0-0"

    async def _read_loop(self) -> None:
        assert self._reader is not None
        reader = self._reader
        backoff = Backoff(self.backoff_first, self.backoff_cap)
        failures = 0
        while not self._closing:
            try:
                await self._sync_reader(reader)
                self._set_health(reader=True)
                self._synced.set()
                self._first_attempt.set()
                backoff.reset()
                failures = 0
                while not self._closing:
                    response = await reader.xread(
                        {self.stream: self._read_cursor,
                         self.control_stream: self._control_cursor},
                        # At most half a queue per read: a read is offered to every
                        # stream at once, and more than a queue holds would drop them
                        # all as slow consumers (a bulk commit did).
                        count=min(self.batch_size, max(1, self.queue_size // 2)),
                        block=self.block_ms,
                    )
                    await self._dispatch(response)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closing:
                    return
                failures += 1
                if not isinstance(exc, RedisError | OSError):
                    log.exception("Redis hub reader failed")
                elif failures == 1:
                    log.warning("Redis hub reader lost Redis: %s: %s",
                                type(exc).__name__, exc)
                self._set_health(reader=False, error=exc)
                self._first_attempt.set()
                await asyncio.sleep(backoff.next())

    async def _dispatch(self, response: Any) -> None:
        for key, entries in response or ():
            if key == self.stream:
                for entry_id, fields in entries:
                    self._read_cursor = entry_id
                    event_id = entry_event_id(entry_id)
                    if (event_id is not None and self._last_id is not None
                            and event_id > self._last_id + 1):
                        await self._fill_gap(event_id)
                    self._deliver(entry_id, fields)
            elif key == self.control_stream:
                for entry_id, fields in entries:
                    self._control_cursor = entry_id
                    self._on_control(fields)

    async def _fill_gap(self, next_id: int) -> None:
        """The stream jumps from the last id delivered here to ``next_id``: a relay
        skipped ids the database had trimmed (it was behind by more than the retention),
        or Redis lost its data and another instance restarted the stream above this
        reader. Never fan out across a hole: deliver the missing events from the database
        when it still has them all, else end every stream here, so each replays from its
        last id (and gets ``too_old`` if that is gone)."""
        assert self._last_id is not None
        last = self._last_id
        missing = await run_db(self.db, self.db.events_after, last, next_id - last - 1)
        if [event.id for event in missing] == list(range(last + 1, next_id)):
            for event in missing:
                if self._last_id is not None and event.id <= self._last_id:
                    continue
                self._last_id = event.id
                self._fan_out(event)
            return
        log.warning("Redis stream %r skips ids %d-%d, which the database no longer holds: "
                    "ending this process's streams so they replay", self.stream, last + 1,
                    next_id - 1)
        self.close_all("reset")
        self._last_id = next_id - 1

    def _deliver(self, entry_id: str, fields: dict[str, str]) -> None:
        event_id = entry_event_id(entry_id)
        wire = fields.get("wire")
        if event_id is None or wire is None:
            log.warning("Redis stream %r: skipping foreign entry %s", self.stream, entry_id)
            return
        if self._last_id is not None and event_id <= self._last_id:
            return  # seen already (a republish after Redis lost data): delivered once
        self._last_id = event_id
        self._fan_out(Event(event_id, fields.get("type", ""), wire))

    def _on_control(self, fields: dict[str, str]) -> None:
        if fields.get("origin") == self.instance:
            return  # ours: closed locally when sent
        if fields.get("op") == "disconnect_session" and fields.get("session"):
            closed = LocalFanout.disconnect_session(self, fields["session"])
            if closed:
                log.info("closed %d streams of a session revoked elsewhere", closed)
        else:
            log.warning("Redis control stream: unknown message %r", fields)

    # -- the relay (outbox publisher) ------------------------------------------------

    def publish(self, event: Event) -> None:
        """Wake the relay: ``event`` is committed, it publishes it from the event table
        (this or another instance, whichever comes first)."""
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._wake.set)
        else:
            self._wake.set()

    async def _relay_loop(self) -> None:
        assert self._relay is not None
        relay = self._relay
        await self._synced.wait()
        backoff = Backoff(self.backoff_first, self.backoff_cap)
        cursor: int | None = None  # None: (re)connecting, find where the stream is
        failures = 0
        while not self._closing:
            try:
                self._wake.clear()
                top_entry = await self._stream_top(relay, self.stream)
                top = entry_event_id(top_entry) if top_entry is not None else None
                if self._closing:
                    return
                if cursor is None:
                    assert self._last_id is not None
                    cursor = top if top is not None else self._last_id
                elif top is not None and top > cursor:
                    cursor = top  # published by another instance
                self._set_health(relay=True)
                failures = 0
                backoff.reset()
                cursor, full = await self._publish_batch(relay, cursor)
                if full:
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval):
                        await self._wake.wait()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self._closing:
                    return
                failures += 1
                if failures == 1:
                    log.warning("Redis hub relay lost Redis: %s: %s", type(exc).__name__, exc)
                cursor = None  # an XADD may or may not have landed: ask the stream
                self._relay_batch = []
                self._set_health(relay=False, error=exc)
                await asyncio.sleep(backoff.next())
            except Exception:
                if self._closing:
                    return
                # The database (the outbox) failed: nothing to publish until it answers.
                log.exception("Redis hub relay: reading the event table failed")
                self._relay_batch = []
                await asyncio.sleep(backoff.next())

    async def _publish_batch(self, relay: Redis, cursor: int) -> tuple[int, bool]:
        """XADD the committed events after ``cursor`` (one batch, one round trip);
        returns the new cursor and whether the batch was full (more may follow)."""
        batch = self._relay_batch = await run_db(
            self.db, self.db.events_after, cursor, self.batch_size
        )
        if not batch:
            return cursor, False
        pipe = relay.pipeline(transaction=False)
        for event in batch:
            pipe.xadd(self.stream, {"type": event.type, "wire": event.wire},
                      id=f"{event.id}-0", maxlen=self.config.maxlen, approximate=True)
        results = await pipe.execute(raise_on_error=False)
        published = 0
        for event, result in zip(batch, results, strict=True):
            if isinstance(result, ResponseError) and "equal or smaller" in str(result):
                pass  # another instance published it first
            elif isinstance(result, BaseException):
                raise result
            else:
                published += 1
            cursor = event.id
        if published:
            self.metrics.events_published.inc(published)
        self._relay_batch = []
        return cursor, len(batch) == self.batch_size

    # -- logout ----------------------------------------------------------------------

    def disconnect_session(self, session_id: str) -> int:
        """Close this process's streams of ``session_id`` now, and tell every other
        instance through the control stream (sent by a task: this is called from
        synchronous code)."""
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self.disconnect_session, session_id)
            return 0
        closed = super().disconnect_session(session_id)
        if self._commands is None or self._closing:
            return closed
        if len(self._control_tasks) >= self.MAX_PENDING_CONTROL:
            log.error("Redis hub: %d logout messages in flight; not announcing one more "
                      "(streams of that session elsewhere end when its token expires)",
                      len(self._control_tasks))
            return closed
        self._spawn(self._announce_logout(session_id))
        return closed

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._control_tasks.add(task)
        task.add_done_callback(self._control_tasks.discard)

    async def _announce_logout(self, session_id: str) -> None:
        assert self._commands is not None
        deadline = time.monotonic() + self.CONTROL_DEADLINE
        backoff = Backoff(self.backoff_first, 1.0)
        while True:
            try:
                await self._commands.xadd(
                    self.control_stream,
                    {"op": "disconnect_session", "session": session_id,
                     "origin": self.instance},
                    maxlen=CONTROL_MAXLEN, approximate=True,
                )
                return
            except (RedisError, OSError) as exc:
                if self._closing or time.monotonic() + backoff.first > deadline:
                    log.error(
                        "Redis hub: could not announce a logout for %.0f s (%s: %s); that "
                        "session's streams on other instances end when its token expires",
                        self.CONTROL_DEADLINE, type(exc).__name__, exc,
                    )
                    return
                await asyncio.sleep(backoff.next())

    # -- replay and subscribe --------------------------------------------------------

    async def replay(self, after_id: int, *, floor: int | None = None) -> ReplayResult:
        """The events after ``after_id``: from Redis when it holds them all, up to at
        least ``floor`` (what the reader had delivered when the stream registered,
        default: now); else from the database, with its resets."""
        floor = (self._last_id or 0) if floor is None else floor
        try:
            events = await self._replay_from_stream(after_id)
        except (RedisError, OSError) as exc:
            log.info("replay from Redis failed (%s); reading the database", exc)
            events = None
        if events is not None and (events[-1].id if events else after_id) >= floor:
            return ReplayResult(events)
        return await run_db(self.db, self._replay_from_db, after_id)

    def _replay_from_db(self, after_id: int) -> ReplayResult:
        return replay_from_log(after_id, *self.db.event_bounds(), self.db.events_after)

    async def _replay_from_stream(self, after_id: int) -> list[Event] | None:
        """Redis's entries after ``after_id``, or None when it cannot prove it has them
        all: its first entry must be ``after_id`` itself (the seam) or ``after_id + 1``,
        and the ids contiguous."""
        assert self._commands is not None
        events: list[Event] = []
        expected = after_id  # the id of the last event known: the next must be + 1
        seam = False
        start = f"{after_id}-0"
        while True:
            entries = cast(Entries, await self._commands.xrange(
                self.stream, start, "+", count=self.batch_size))
            for entry_id, fields in entries:
                event_id = entry_event_id(entry_id)
                if event_id == after_id and not seam and not events:
                    seam = True  # Redis still holds the client's own last event
                    continue
                if event_id != expected + 1 or "wire" not in fields:
                    return None  # trimmed, or a gap: the database has them
                events.append(Event(event_id, fields.get("type", ""), fields["wire"]))
                expected = event_id
            if len(entries) < self.batch_size:
                break
            start = f"{expected + 1}-0"
        return events if seam or events else None

    @contextlib.asynccontextmanager
    async def subscribe(
        self, after_id: int | None, *, session_id: str | None = None
    ) -> AsyncIterator[Feed]:
        # Register before replaying, and note what the reader had delivered by then:
        # every later event reaches this stream live, so the replay must reach that far.
        subscription = self._register(session_id)
        floor = self._last_id
        if not self._available:
            # Redis is away (the route checks first, but it can go meanwhile): the
            # stream ends after its position frame and the client retries.
            subscription.close("hub_unavailable")
        try:
            feed = Feed(subscription, metrics=self.metrics)
            if subscription.closed_reason is not None:
                # Ends unread; its position frame must still be a true one.
                if after_id is not None:
                    floor = after_id
                elif floor is None:
                    floor = (await run_db(self.db, self.db.event_bounds))[1]
                feed.last_id = feed.start_id = floor
            elif after_id is None:
                if floor is None:
                    floor = (await run_db(self.db, self.db.event_bounds))[1]
                feed.last_id = feed.start_id = floor
            else:
                self._replayed(feed, after_id, await self.replay(after_id, floor=floor or 0))
            yield feed
        finally:
            self._release(subscription)
