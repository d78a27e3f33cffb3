"""The SSE client: one resilient EventSource per tab, shared by every subscriber.

A pure state machine over an injected :class:`~zariz.platform.Platform` (no ``js`` here).
Phases and the status they show::

    idle ──connect()──► ticket ──200──► opening ──on_open──► open          (connected)
     ▲   (disconnected)   │  (connecting)   │                  │
     │                    │ 5xx/network     │ error            │ error / stall
     │                    ▼                 ▼                  ▼
     └─ no session ── waiting (backoff timer, connecting) ◄────┘
                      offline (disconnected; no attempts burnt until ``online``)

Leaving a wait early: a user's :meth:`reconnect_now` tries at once *and* starts the backoff
over (a failure right after waits at most ``backoff_base``, not the grown ceiling). A sign
that the network or the server may be back — :meth:`nudge`: ``online``, the tab shown
again, a REST call that got an answer — skips the wait without resetting the backoff (a
sign that lies must not become a retry loop); ``online`` and REST answers come to every
tab at once, so those retry after a random spread of up to ``signal_spread`` s (the storm
rule, as the full-jitter backoff is for blind retries).

``caught_up`` tells the UI whether the data is current: connected, and the stream has
stated its position (the ``position``/``reset`` frame every stream opens with; its replay
follows in order) — in a follower tab, the leader's stream has.

Every attempt gets a generation number; callbacks of an older generation (a closed source,
a cancelled ticket request, a stale timer) are ignored, which is what keeps ``disconnect()``
during a backoff wait or an in-flight ticket request closed for good.

**When the stream is open** (``mode``). ``"always"`` (the default, the ticket's Option A):
connected while authenticated once :meth:`start` was called, with or without
subscribers. ``"lazy"`` (Option B): connected while authenticated *and* something needs
events — a :meth:`subscribe` with ``keep_open=True`` (the default) in this tab, or, for the
leader tab of one stream per browser, in another tab (:meth:`set_remote_demand`). When the
last one leaves, the stream stays open ``idle_close_s`` more seconds (a page change or a
strict double mount subscribes again well within that: same stream, no reconnect), then
closes cleanly: status ``disconnected``, :attr:`idle` True (closed on purpose, not an
outage), the last id kept so that the next open resumes where this one stopped.
``keep_open=False`` subscribers (a connection indicator, toasts) get events while the
stream is open but never hold it open.

Usage::

    client = SSEClient(platform, auth)
    off = client.subscribe(lambda ev: print(ev.event, ev.data), events=["order.created"])
    client.start()          # Option A: stay connected while authenticated
    ...
    off(); client.stop()

    lazy = SSEClient(platform, auth, mode="lazy", idle_close_s=30)
    off = lazy.subscribe(handler)   # connects (when logged in)
    off()                           # closes 30 s later unless a subscriber comes back
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import urlencode

from zariz.listeners import Listeners
from zariz.platform import HttpResponse, NetworkError, Platform, RawEvent
from zariz.sse.backoff import Backoff
from zariz.sse.fanout import Fanout, event_names
from zariz.sse.normalize import DEFAULT_EVENT_TYPE, SSEEvent, normalize
from zariz.sse.position import (
    POSITION_EVENTS,
    Position,
    as_position,
    parse_relay,
    relay_message,
)
from zariz.types import Handler, Origin, Status, StatusListener, Undo

LOGGER_NAME = "zariz.sse"
# The server's named events (the rest come as the default ``message``): an EventSource
# delivers a named event only to a listener for that name. ``dev.reload`` comes only from
# a server in dev mode (``python -m server --dev``), and never carries an id.
NAMED_EVENTS = ("ping", "reset", "position", "dev.reload")

Phase = Literal["idle", "ticket", "opening", "open", "waiting", "offline"]
IDLE: Phase = "idle"
TICKET: Phase = "ticket"
OPENING: Phase = "opening"
OPEN: Phase = "open"
WAITING: Phase = "waiting"
OFFLINE: Phase = "offline"
WAITING_FOR_CONNECTION = "connection"
BACKOFF_BASE_S = 2.0
"""The first blind retry after a drop waits ``random() * 2 s``, the next ``random() * 4 s``,
... up to 30 s (full jitter). Two seconds rather than one: after a server restart the first
retries of N tabs spread over 2 s, at most ~5 % of them per 100 ms on average (1 s gave
19 % peaks: bench/RESULTS.md, reconnect storm); a tab that can tell the network or the
server is back (``online``, visible again, a REST answer, a user's click) does not wait."""
RESTART_AFTER_S = 1.0
"""A user's reconnect restarts an attempt in flight this long (a fresh one is let be)."""
"""``waiting_for`` when a ticket request timed out: no free connection (too many tabs?)."""
Mode = Literal["always", "lazy"]
MODES: tuple[Mode, ...] = ("always", "lazy")
"""``always``: connected while authenticated (Option A); ``lazy``: only while a subscriber
needs events, closed ``idle_close_s`` after the last one left (Option B)."""
DEFAULT_IDLE_CLOSE_S = 30.0
Role = Literal["per-tab", "leader", "follower"]
"""``per-tab``: this tab's own stream; ``leader``: ours, relayed to the other tabs;
``follower``: no stream of ours, events and status relayed by the leader tab."""
_WINDOW_EVENTS = ("online", "offline", "visibilitychange", "pageshow")
# A follower has no stream to retry, but its tab being shown is the leader's cue too.
_FOLLOWER_EVENTS = ("visibilitychange", "pageshow")


@runtime_checkable
class AuthLike(Protocol):
    """What the client needs from :class:`zariz.auth.AuthClient`."""

    @property
    def access_token(self) -> str | None: ...

    @property
    def is_authenticated(self) -> bool: ...

    async def refresh(self) -> bool: ...

    def subscribe(self, fn: Callable[[Any], Any]) -> Undo: ...


def set_log_level(level: int | str, *, console: bool = True) -> None:
    """Switch the ``zariz.sse`` log level (``"DEBUG"`` shows every message).

    With ``console`` and no handler configured anywhere, a stream handler is added so
    the lines reach the browser console (Pyodide maps stderr to ``console.error``).

    >>> set_log_level("WARNING", console=False)
    """
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level.upper() if isinstance(level, str) else level)
    if console and not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


class _SourceHandlers:
    """Binds one source's callbacks to the generation that opened it."""

    __slots__ = ("_client", "_gen")

    def __init__(self, client: SSEClient, gen: int) -> None:
        self._client, self._gen = client, gen

    def on_open(self) -> None:
        self._client._on_open(self._gen)

    def on_event(self, event: RawEvent) -> None:
        self._client._on_source_event(self._gen, event)

    def on_events(self, items: Sequence[str]) -> None:
        """A platform's batch: ``[type, data, id, type, data, id, ...]``, handled as
        ``on_event`` for each in order (a platform may call either)."""
        self._client._on_source_events(self._gen, items)

    def on_error(self, closed: bool) -> None:
        self._client._on_error(self._gen, closed)


class SSEClient:
    """See the module docstring. Public state: ``status``, ``stats``, ``last_event_id``,
    ``next_retry_at`` / ``retry_in()``."""

    # Duck-typed marker for the singleton: after ``importlib.reload`` the class object is
    # new, so ``isinstance`` against it would reject the live instance.
    __zariz_sse_client__ = True

    def __init__(
        self,
        platform: Platform,
        auth: AuthLike,
        *,
        base_url: str = "",
        sse_path: str = "/v1/events/sse",
        ticket_path: str = "/v1/events/ticket",
        named_events: Iterable[str] = NAMED_EVENTS,
        backoff_base: float = BACKOFF_BASE_S,
        backoff_cap: float = 30.0,
        ping_interval: float = 15.0,
        stall_factor: float = 2.5,
        ticket_timeout: float = 10.0,
        signal_spread: float = 1.0,
        relay: bool = False,
        channel_name: str = "zariz-sse",
        logger: logging.Logger | None = None,
        mode: Mode = "always",
        idle_close_s: float = DEFAULT_IDLE_CLOSE_S,
    ) -> None:
        # The protocols are the lists of what is needed (a hand-kept copy fell behind).
        if not isinstance(platform, Platform):
            raise TypeError("platform must implement zariz.platform.Platform")
        if not isinstance(auth, AuthLike):
            raise TypeError("auth must implement AuthLike (a zariz.auth.AuthClient)")
        for name, value in (("base_url", base_url), ("sse_path", sse_path),
                            ("ticket_path", ticket_path), ("channel_name", channel_name)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str")
        if logger is not None and not isinstance(logger, logging.Logger):
            raise TypeError("logger must be a logging.Logger")
        names = event_names(named_events, "named_events")
        if DEFAULT_EVENT_TYPE in names:
            raise ValueError("'message' is the default event; it is always received")
        if _positive("stall_factor", stall_factor) < 1:
            raise ValueError("stall_factor must be >= 1 (a multiple of the ping interval)")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode: Mode = mode
        self.idle_close_s = _positive("idle_close_s", idle_close_s)

        self._platform = platform
        self._auth = auth
        self._base = base_url.rstrip("/")
        self._sse_path, self._ticket_path = sse_path, ticket_path
        self.named_events = names
        self._backoff = Backoff(
            base=_positive("backoff_base", backoff_base),
            cap=_positive("backoff_cap", backoff_cap),
            rand=platform.random,
        )
        self._stall_factor = float(stall_factor)
        self.ticket_timeout = _positive("ticket_timeout", ticket_timeout)
        if isinstance(signal_spread, bool) or not isinstance(signal_spread, int | float) or (
            not 0 <= signal_spread <= 60
        ):
            raise ValueError(f"signal_spread must be 0..60 seconds, got {signal_spread!r}")
        self.signal_spread = float(signal_spread)
        self.stall_window = _positive("ping_interval", ping_interval) * self._stall_factor
        self._log = logger or logging.getLogger(LOGGER_NAME)

        self._phase: Phase = IDLE
        self._status: Status = "disconnected"
        self._gen = 0
        self._close_source: Undo | None = None
        self._ticket_undo: Undo | None = None
        self._retry_undo: Undo | None = None
        self._watchdog_undo: Undo | None = None
        self._ticket_timer_undo: Undo | None = None
        self._window_offs: list[Undo] = []
        self._follower_offs: list[Undo] = []
        # This stream stated its position since it opened (a follower: the leader's did).
        self._synced = False
        self._open_started = 0.0
        self._last_activity = 0.0
        self._position = Position()
        self.next_retry_at: float | None = None
        self._fanout = Fanout(self._log, platform.spawn)
        # Lazy mode follows the session by itself: its subscribers are what opens it.
        self._autoconnect = mode == "lazy"
        # Lazy mode: the subscriptions that need the stream here, the tabs that need it
        # elsewhere (told by zariz.sse.shared), and the pending idle close.
        self._local_demand = 0
        self._remote_demand = 0
        self._idle_undo: Undo | None = None
        self._attempt_started = 0.0  # platform time of the current attempt's start
        self._idle_at: float | None = None
        self._leader_idle = False
        self._demand_listeners = Listeners[bool](self._log, "[SSE] demand listener")
        self.role: Role = "per-tab"
        self.waiting_for: str | None = None  # why a connect is taking long, for the UI
        self.leader_id: str | None = None
        self._ask_leader: Callable[[str], None] | None = None
        self._own_refresh = False
        self._disposed = False
        self._counts = dict.fromkeys(
            ("connect_calls", "connects", "opens", "errors", "reconnects", "events",
             "duplicates_dropped", "stalls",
             "relayed_in", "relayed_out", "idle_closes"), 0)
        self._seen_token = getattr(auth, "access_token", None)
        self._auth_off: Undo | None = auth.subscribe(self._on_auth)
        self._relay_post: Callable[[Any], None] | None = None
        self._relay_close: Undo | None = None
        if relay:
            self._relay_post, self._relay_close = platform.open_channel(
                channel_name, self._on_channel
            )

    # --- public state ---------------------------------------------------------------------
    @property
    def status(self) -> Status:
        return self._status

    @property
    def phase(self) -> Phase:
        """The finer internal phase (idle/ticket/opening/open/waiting/offline)."""
        return self._phase

    @property
    def last_event_id(self) -> str | None:
        return self._position.last

    @property
    def caught_up(self) -> bool:
        """Connected and current: the stream stated its position since it opened (what
        it replays follows that frame in order), or in a follower, the leader's did."""
        return self._status == "connected" and self._synced

    @property
    def idle(self) -> bool:
        """Lazy mode: closed on purpose because nothing needs live events (no subscriber
        here or, for the leader, in another tab) — not an outage: the UI shows neither
        "Reconnecting" nor stale data for it. A follower tells the leader's."""
        if self.role == "follower":
            return self._leader_idle
        return (
            self.mode == "lazy" and self._autoconnect and self._phase == IDLE
            and not self._needed()
        )

    @property
    def wants_stream(self) -> bool:
        """This tab needs the stream: ``always`` mode once started, or a ``keep_open``
        subscriber in ``lazy`` mode (what a follower tells the leader tab)."""
        return self._autoconnect and (self.mode == "always" or self._local_demand > 0)

    def idle_close_in(self) -> float | None:
        """Seconds until the pending idle close (lazy mode); None when none is pending."""
        if self._idle_at is None:
            return None
        return max(0.0, self._idle_at - self._platform.now())

    def retry_in(self) -> float | None:
        """Seconds until the pending retry (for a UI countdown); None when none is pending."""
        if self.next_retry_at is None:
            return None
        return max(0.0, self.next_retry_at - self._platform.now())

    @property
    def stats(self) -> dict[str, Any]:
        """A fresh plain dict of counters and state (safe to hand to JS)."""
        out: dict[str, Any] = dict(self._counts)
        out.update(
            handler_errors=self._fanout.handler_errors,
            status_errors=self._fanout.status_errors,
            subscribers=self._fanout.subscribers,
            status_listeners=self._fanout.status_listeners,
            live_proxies=self._platform.live_proxies(),
            last_event_id=self._position.last,
            status=self._status,
            phase=self._phase,
            caught_up=self.caught_up,
            open_sources=0 if self._close_source is None else 1,
            role=self.role,
            leader=self.leader_id,
            waiting_for=self.waiting_for,
            attempt=self._backoff.attempt,
            retry_in=self.retry_in(),
            mode=self.mode,
            idle=self.idle,
            idle_close_in=self.idle_close_in(),
            idle_close_s=self.idle_close_s,
            keep_open_subscribers=self._local_demand,
            remote_demand=self._remote_demand,
        )
        return out

    # --- subscriptions --------------------------------------------------------------------
    def subscribe(
        self, handler: Handler, events: Iterable[str] | None = None, *, keep_open: bool = True
    ) -> Undo:
        """Receive every normalized event (or only those whose ``event`` is in ``events``).

        ``keep_open`` (lazy mode): this subscriber needs the stream, so it opens (when
        logged in) and stays open while it is subscribed. ``False``: receive what arrives
        while something else holds the stream open (an indicator, toasts). In ``always``
        mode it changes nothing.

        >>> off = client.subscribe(print, events=["order.created"])  # doctest: +SKIP
        >>> off(); off()  # idempotent  # doctest: +SKIP
        """
        self._check_alive("subscribe")
        off = self._fanout.subscribe(handler, events)
        if not keep_open:
            return off
        self._local_demand += 1
        self._demand_changed()
        done = False

        def unsubscribe() -> None:
            nonlocal done
            if done:
                return
            done = True
            off()
            self._local_demand -= 1
            if not self._disposed:
                self._demand_changed()

        return unsubscribe

    def on_demand(self, fn: Callable[[bool], Any]) -> Undo:
        """Call ``fn(wants_stream)`` whenever a ``keep_open`` subscriber comes or goes
        (how :mod:`zariz.sse.shared` learns what to tell the leader tab)."""
        self._check_alive("on_demand")
        return self._demand_listeners.add(fn)

    def set_remote_demand(self, tabs: int) -> None:
        """Leader tab, lazy mode: how many other tabs need the stream now. The stream
        stays open while any does, and closes ``idle_close_s`` after none does."""
        self._remote_demand = max(0, int(tabs))
        if not self._disposed:
            self._apply_demand()

    def on_status(self, fn: StatusListener) -> Undo:
        """Call ``fn(status)`` on every status change; returns an idempotent ``off``."""
        self._check_alive("on_status")
        return self._fanout.on_status(fn)

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Follow the session from here on (login connects, logout disconnects). Option
        A (``always``): connect now if authenticated, even with zero subscribers; ``lazy``:
        connect when (and while) a subscriber needs the stream. Idempotent."""
        self._check_alive("start")
        self._autoconnect = True
        if self._auth.is_authenticated and self._needed():
            self.connect()

    def stop(self) -> None:
        """Undo :meth:`start`: no more automatic connects, and disconnect."""
        self._autoconnect = False
        self.disconnect()

    def connect(self) -> None:
        """Open the stream unless already connecting/connected (then: no side effect)."""
        self._check_alive("connect")
        self._counts["connect_calls"] += 1
        if self.role == "follower":
            self._log.debug("[SSE] connect() ignored: the leader tab holds the stream")
            return
        if self._phase != IDLE:
            self._log.debug("[SSE] connect() ignored: already %s", self._phase)
            return
        self._listen_window()
        self._begin_attempt()
        if self.mode == "lazy" and not self._needed():
            self._arm_idle()  # opened by hand (a user's click): closes again if unused

    def disconnect(self) -> None:
        """Close the source and cancel every timer and pending request; stays closed."""
        self._cancel_idle()
        if self._phase == IDLE and not self._window_offs:
            return
        self._teardown()
        for off in self._window_offs:
            off()
        self._window_offs.clear()
        self._phase = IDLE
        self.waiting_for = None
        self._log.info("[SSE] cleanup: disconnected, timers and listeners released")
        self._set_status("disconnected")

    def reconnect(self, reason: str = "requested") -> None:
        """Soft reconnect: close the old source *before* opening the new one; subscribers
        and the last event id are kept, the backoff starts over. Idle -> ``connect()``."""
        self._check_alive("reconnect")
        if self.role == "follower":
            self._request_leader("reconnect")
            return
        if self._phase == IDLE:
            self.connect()
            return
        self._counts["reconnects"] += 1
        self._log.info("[SSE] reconnect now (%s)", reason)
        self._teardown()
        self._backoff.reset()
        self._begin_attempt()

    def reconnect_now(self) -> bool:
        """A user's "reconnect now": skip a pending backoff (or offline) wait, try at once
        and start the backoff over. An attempt in flight for :data:`RESTART_AFTER_S` or
        more (a ticket request or a stream that hangs: up to ``ticket_timeout`` before the
        client gives up on it) is started over too, so a click is never ignored. False when
        nothing was waiting and no attempt was worth restarting."""
        self._check_alive("reconnect_now")
        if self.role == "follower":
            return self._request_leader("reconnect_now")
        if (
            self._phase in (TICKET, OPENING)
            and self._platform.now() - self._attempt_started >= RESTART_AFTER_S
        ):
            self._counts["reconnects"] += 1
            self._log.info("[SSE] reconnect now (user): restarting a hanging attempt")
            self._teardown()
            self._backoff.reset()
            self._begin_attempt()
            return True
        return self._skip_wait("reconnect now (user)", reset=True)

    def nudge(self, reason: str = "signal", *, spread: bool = True) -> bool:
        """A sign the stream may be possible again (``online``, the tab shown, a REST
        call answered): if waiting, retry now — after a random ``signal_spread`` when
        ``spread`` (a sign every tab gets at once) — without resetting the backoff.
        False when nothing was waiting (or the retry was due sooner anyway). A follower
        passes it to the leader tab."""
        self._check_alive("nudge")
        if self.role == "follower":
            return self._request_leader("nudge" if spread else "wake")
        return self._skip_wait(reason, spread=self.signal_spread if spread else 0.0)

    def _skip_wait(self, why: str, *, spread: float = 0.0, reset: bool = False) -> bool:
        if self._phase not in (WAITING, OFFLINE):
            return False
        if not reset and self._close_if_unneeded(why):
            return True  # the wait ended: closed, not retried (a user's click does retry)
        if reset:
            self._backoff.reset()
        elif self._phase == OFFLINE and not self._platform.is_online():
            return False  # still no network: an attempt now would pause again
        delay = self._platform.random() * spread if spread > 0 else 0.0
        now = self._platform.now()
        if (delay > 0 and self._phase == WAITING and self.next_retry_at is not None
                and self.next_retry_at <= now + delay):
            return False
        self._teardown()
        if delay <= 0:
            self._log.info("[SSE] %s: skipping the wait", why)
            self._begin_attempt()
            return True
        self._log.info("[SSE] %s: retrying in %d ms", why, round(delay * 1000))
        self._phase = WAITING
        self.next_retry_at = now + delay
        gen = self._gen
        self._retry_undo = self._platform.schedule(delay, lambda: self._retry_due(gen))
        self._set_status("connecting")
        return True

    # --- roles (one stream per browser: see zariz.sse.shared) ------------------------------
    def follow(self, leader_id: str | None, status: Status = "connecting",
               ask_leader: Callable[[str], None] | None = None) -> None:
        """Another tab holds the stream: close ours at once (if any), own no EventSource
        and no ticket request, and show the leader's ``status``. Relayed events arrive
        through :meth:`feed`. ``ask_leader(what)`` forwards a user's reconnect."""
        self._check_alive("follow")
        # The role first: a deposed leader's own "disconnected" is not the stream's status
        # (the new leader has it), so it must not be relayed to the other tabs.
        self.role, self.leader_id = "follower", leader_id
        self._relay_post = None
        self._leader_idle = False
        self._remote_demand = 0
        self._cancel_idle()
        if self._phase != IDLE or self._window_offs:
            self.disconnect()
        self._ask_leader = ask_leader
        self._relay_post = None
        self._synced = False
        self._listen_as_follower()
        self._set_status(status)

    def show_leader_status(
        self, status: Status, leader_id: str | None, *, retry_in: float | None = None,
        waiting_for: str | None = None, caught_up: bool = True, idle: bool = False,
    ) -> None:
        """A follower's view of the stream: the leader tab's real status, its retry
        countdown, why it waits, whether it caught up and whether it closed the stream
        on purpose (``idle``, lazy mode) — shown as if they were ours."""
        if self.role == "follower":
            self.leader_id = leader_id
            self.waiting_for = waiting_for
            self._leader_idle = idle
            self._synced = caught_up
            self.next_retry_at = (
                None if retry_in is None else self._platform.now() + max(0.0, retry_in)
            )
            self._set_status(status)

    def adopt_position(self, last_id: str | None) -> None:
        """A follower that has seen no event yet takes the leader's position, so that if
        it must take over it resumes from there (not "from now": what was committed in
        between would be lost)."""
        if self._position.last is None and as_position(last_id) is not None:
            self._position.last = last_id

    def lead(self, relay_post: Callable[[dict[str, str]], None] | None) -> None:
        """This tab holds the stream now (``relay_post`` hands every event of it to the
        other tabs; None: ``per-tab``). Connects when started and logged in, resuming
        from the newest id this tab has seen — relayed ones included."""
        self._check_alive("lead")
        self._unlisten_follower()
        self.role = "per-tab" if relay_post is None else "leader"
        self.leader_id = None
        self._ask_leader = None
        self._relay_post = relay_post
        self.next_retry_at = None
        self.waiting_for = None
        self._leader_idle = False
        if relay_post is None:
            self._remote_demand = 0  # no other tab relies on this one's stream now
        if self._autoconnect and self._auth.is_authenticated and self._needed():
            self.connect()
        elif self._phase == IDLE:
            self._set_status("disconnected")  # the leader's status was shown until now

    def _request_leader(self, what: str) -> bool:
        if self._ask_leader is None:
            return False
        self._log.info("[SSE] asking the leader tab to %s", what.replace("_", " "))
        self._ask_leader(what)
        return True

    def dispose(self) -> None:
        """Stop for good: disconnect, drop the auth subscription, relay and listeners."""
        if self._disposed:
            return
        self.stop()
        self._unlisten_follower()
        if self._auth_off is not None:
            self._auth_off()
            self._auth_off = None
        if self._relay_close is not None:
            self._relay_close()
            self._relay_close = self._relay_post = None
        self._fanout.clear()
        self._demand_listeners.clear()
        self._disposed = True
        self._log.info("[SSE] cleanup: client disposed")

    def _check_alive(self, what: str) -> None:
        if self._disposed:
            raise RuntimeError(
                f"SSEClient.{what}() after dispose(); get the live client from "
                "zariz.sse.get_client() instead of keeping a reference"
            )

    # --- lazy mode: demand and the idle close -------------------------------------------------
    def _needed(self) -> bool:
        """Should the stream be open (given a session)? Always in ``always`` mode once
        started; in ``lazy`` mode while a subscriber here, or in another tab we lead for,
        needs it."""
        if not self._autoconnect:
            return False
        if self.mode == "always" or self._local_demand > 0:
            return True
        return self.role == "leader" and self._remote_demand > 0

    def _demand_changed(self) -> None:
        self._demand_listeners.emit(self.wants_stream)
        self._apply_demand()

    def _apply_demand(self) -> None:
        if self.mode != "lazy" or self.role == "follower":
            return  # a follower's demand goes to the leader (on_demand)
        if self._needed():
            if self._idle_undo is not None:
                self._cancel_idle()
                self._log.info("[SSE] idle: a subscriber is back, keeping the stream")
            if self._phase == IDLE and self._auth.is_authenticated:
                self.connect()
        elif self._phase != IDLE:
            self._arm_idle()

    def _arm_idle(self) -> None:
        if self._idle_undo is not None:
            return
        delay = self.idle_close_s
        self._idle_at = self._platform.now() + delay
        self._log.info("[SSE] idle: no subscribers, closing in %g s unless one comes", delay)
        self._idle_undo = self._platform.schedule(delay, self._idle_due)

    def _cancel_idle(self) -> None:
        self._idle_at = None
        self._cancel("_idle_undo")

    def _idle_due(self) -> None:
        self._idle_undo = None
        self._idle_at = None
        if self._disposed or self._needed() or self._phase == IDLE:
            return
        self._counts["idle_closes"] += 1
        self._log.info("[SSE] idle: closing after %g s with no subscribers", self.idle_close_s)
        self._backoff.reset()  # a closed stream has no failure streak: the next open is fresh
        self.disconnect()  # the position stays: the next open resumes from it

    def _close_if_unneeded(self, why: str) -> bool:
        """Lazy mode while nothing needs the stream (its idle delay running): a drop, a
        stall or a due retry is not worth a new stream that would only be closed at the
        delay's end (and would join a server restart's reconnect storm for nobody).
        Close now instead; the position stays, the next subscriber opens from it."""
        if self.mode != "lazy" or self.role == "follower" or self._needed():
            return False
        self._counts["idle_closes"] += 1
        self._log.info("[SSE] idle: %s with no subscribers: closing now", why)
        self._backoff.reset()
        self.disconnect()
        return True

    # --- attempts ---------------------------------------------------------------------------
    def _begin_attempt(self) -> None:
        if not self._platform.is_online():
            self._pause_offline()
            return
        self._gen += 1
        self._phase = TICKET
        self._attempt_started = self._platform.now()
        self.next_retry_at = None
        self._counts["connects"] += 1
        self._log.info("[SSE] connecting")
        self._set_status("connecting")
        gen = self._gen
        # A ticket request on a half-open pooled connection can hang for minutes (the
        # stall watchdog only watches a stream): give up on it and try a new one.
        self._ticket_timer_undo = self._platform.schedule(
            self.ticket_timeout, lambda: self._ticket_timed_out(gen)
        )
        self._ticket_undo = self._platform.spawn(self._attempt(gen))

    def _ticket_timed_out(self, gen: int) -> None:
        if gen != self._gen or self._phase != TICKET:
            return
        self._ticket_timer_undo = None
        # Over HTTP/1.1 the likeliest cause is the browser's six connections per origin,
        # all pinned by other tabs' streams (per-tab mode): say so rather than "opening".
        self.waiting_for = WAITING_FOR_CONNECTION
        self._fail(gen, f"ticket request timed out after {self.ticket_timeout:g} s")

    async def _attempt(self, gen: int) -> None:
        try:
            await self._fetch_ticket_and_open(gen)
        except Exception:
            # A bug or an unexpected platform error must not leave us "connecting" forever.
            self._log.exception("[SSE] error: connection attempt crashed")
            self._fail(gen, "attempt crashed")

    async def _fetch_ticket_and_open(self, gen: int) -> None:
        token = self._auth.access_token
        if not token:
            self._give_up(gen, "no session (log in first)")
            return
        resp = await self._request_ticket(token)
        if gen != self._gen:
            return
        if resp is not None and resp.status == 401:
            self._log.info("[SSE] ticket refused (401): refreshing the session once")
            self._own_refresh = True  # our own refresh must not trigger a soft reconnect
            try:
                refreshed = await self._auth.refresh()
            finally:
                self._own_refresh = False
            if gen != self._gen:
                return
            token = self._auth.access_token
            if not refreshed or not token:
                if self._auth.is_authenticated:  # transient: server unreachable, keep trying
                    self._fail(gen, "session refresh failed")
                else:
                    self._give_up(gen, "session expired and could not be refreshed")
                return
            resp = await self._request_ticket(token)
            if gen != self._gen:
                return
            if resp is not None and resp.status == 401:
                self._give_up(gen, "ticket refused again right after a refresh")
                return
        if resp is None:
            self._fail(gen, "ticket request failed: network error")
            return
        ticket = resp.body.get("ticket") if isinstance(resp.body, dict) else None
        if not resp.ok or not isinstance(ticket, str) or not ticket:
            self._fail(gen, f"ticket request answered {resp.status}")
            return
        self._adopt_ping_interval(resp.body.get("ping_interval"))
        self._ticket_undo = None
        self._cancel("_ticket_timer_undo")
        self._open_source(gen, ticket)

    def _adopt_ping_interval(self, value: Any) -> None:
        """The server says how often it pings (ticket answer): size the stall watchdog
        from that rather than from a guess, or a slower server gets a reconnect every
        2.5 x 15 s. 0 means no pings: no watchdog (a quiet stream is not a dead one)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return
        if value <= 0:
            self.stall_window = float("inf")
        else:
            self.stall_window = float(value) * self._stall_factor

    async def _request_ticket(self, token: str) -> HttpResponse | None:
        try:
            return await self._platform.request(
                "POST",
                self._base + self._ticket_path,
                headers={"Authorization": f"Bearer {token}"},
            )
        except NetworkError as exc:
            self._log.warning("[SSE] error: ticket request failed: %s", exc)
            return None

    def _stream_url(self, ticket: str) -> str:
        params = {"ticket": ticket}
        if self._position.last is not None:
            # The browser resends Last-Event-ID only on its own retries, never for a new
            # EventSource: carry it in the URL or events are lost between sources.
            params["lastEventId"] = self._position.last
        sep = "&" if "?" in self._sse_path else "?"
        return f"{self._base}{self._sse_path}{sep}{urlencode(params)}"

    def _open_source(self, gen: int, ticket: str) -> None:
        self._close_current_source()  # belt and braces: never two sources at once
        self._phase = OPENING
        self._synced = False
        self._open_started = self._last_activity = self._platform.now()
        self._close_source = self._platform.open_event_source(
            self._stream_url(ticket), _SourceHandlers(self, gen), self.named_events
        )
        self._arm_watchdog(self.stall_window)

    def _on_open(self, gen: int) -> None:
        if gen != self._gen or self._phase != OPENING:
            return
        now = self._platform.now()
        self._phase = OPEN
        self._last_activity = now
        self._backoff.reset()
        self.waiting_for = None
        self._counts["opens"] += 1
        self._log.info("[SSE] open in %d ms", round((now - self._open_started) * 1000))
        self._set_status("connected")

    def _on_source_event(self, gen: int, raw: RawEvent) -> None:
        if gen != self._gen:
            return
        self._last_activity = self._platform.now()
        self._ingest(raw, "source")

    def _on_source_events(self, gen: int, items: Sequence[str]) -> None:
        # What is the same for every event of one batch (one JS task) is read once: the
        # clocks, the log level. Per event, a handler may close the source (a reconnect
        # from a subscriber): the rest of the batch is then dropped, as the platform drops
        # the events of a closed source. A failure in one event is isolated, as one
        # platform call per event would isolate it.
        if gen != self._gen:
            return
        self._last_activity = self._platform.now()
        received_at = float(self._platform.wall_ms())
        debug = self._log.isEnabledFor(logging.DEBUG)
        ingest = self._ingest_fields
        for i in range(0, len(items) - 2, 3):
            if gen != self._gen:
                return
            try:
                ingest(items[i], items[i + 1], items[i + 2], "source", received_at, debug)
            except Exception:
                self._log.exception("[SSE] event handler failed (id=%s)", items[i + 2])

    def _on_error(self, gen: int, closed: bool) -> None:
        if gen != self._gen:
            return
        self._counts["errors"] += 1
        self._log.warning(
            "[SSE] error: stream %s (%s)", "failed" if closed else "dropped", self._phase
        )
        self._fail(gen, "stream error")

    def _fail(self, gen: int, reason: str) -> None:
        """Close everything of this attempt and schedule the next one with backoff."""
        if gen != self._gen:
            return
        if self._close_if_unneeded(reason):
            return
        self._teardown()
        if not self._platform.is_online():
            self._pause_offline()
            return
        delay = self._backoff.next_delay()
        self._phase = WAITING
        self.next_retry_at = self._platform.now() + delay
        self._counts["reconnects"] += 1
        self._log.info(
            "[SSE] reconnect in %d ms (attempt %d): %s",
            round(delay * 1000), self._backoff.attempt, reason,
        )
        wait_gen = self._gen
        self._retry_undo = self._platform.schedule(delay, lambda: self._retry_due(wait_gen))
        self._set_status("connecting")

    def _retry_due(self, gen: int) -> None:
        if gen != self._gen or self._phase != WAITING:
            return
        self._retry_undo = None
        if self._close_if_unneeded("retry due"):
            return
        self._teardown()
        self._begin_attempt()

    def _give_up(self, gen: int, reason: str) -> None:
        if gen != self._gen:
            return
        self._log.warning("[SSE] not connecting: %s", reason)
        self.disconnect()

    def _pause_offline(self) -> None:
        self._teardown()
        self._phase = OFFLINE
        self._log.info("[SSE] offline: waiting for the network (no attempts spent)")
        self._set_status("disconnected")

    def _close_current_source(self) -> None:
        close, self._close_source = self._close_source, None
        if close is not None:
            close()
            self._log.info("[SSE] close")

    def _teardown(self) -> None:
        """End the current attempt: new generation, source closed, timers and the ticket
        request cancelled. Window listeners stay (see ``disconnect``)."""
        self._gen += 1
        self._close_current_source()
        for name in ("_ticket_undo", "_ticket_timer_undo", "_retry_undo", "_watchdog_undo"):
            self._cancel(name)
        self.next_retry_at = None

    def _cancel(self, name: str) -> None:
        undo = getattr(self, name)
        setattr(self, name, None)
        if undo is not None:
            undo()

    # --- watchdog and window events ------------------------------------------------------
    def _arm_watchdog(self, delay: float) -> None:
        if delay == float("inf"):  # the server sends no pings: nothing to watch
            return
        gen = self._gen
        self._watchdog_undo = self._platform.schedule(delay, lambda: self._watchdog(gen))

    def _watchdog(self, gen: int) -> None:
        if gen != self._gen or self._phase not in (OPENING, OPEN):
            return
        # Re-arming once per window instead of per event keeps busy streams cheap.
        idle = self._platform.now() - self._last_activity
        if idle + 1e-9 >= self.stall_window:
            self._stalled(idle)
        else:
            self._arm_watchdog(self.stall_window - idle)

    def _stalled(self, idle: float) -> None:
        if self._close_if_unneeded("stalled"):
            return
        self._counts["stalls"] += 1
        self._counts["reconnects"] += 1
        self._log.warning("[SSE] stalled: no message or ping for %.1f s, reconnecting", idle)
        self._teardown()
        self._begin_attempt()

    def _listen_window(self) -> None:
        if self._window_offs:
            return
        actions: dict[str, Callable[[], None]] = {
            "online": self._on_online,
            "offline": self._on_offline,
            "visibilitychange": self._on_visibility,
            "pageshow": lambda: self._wake("pageshow"),
        }
        self._window_offs = [self._platform.on_window_event(n, actions[n]) for n in _WINDOW_EVENTS]

    def _on_online(self) -> None:
        if self._phase in (WAITING, OFFLINE):
            self._log.info("[SSE] back online")
            self._skip_wait("online", spread=self.signal_spread)

    def _on_offline(self) -> None:
        if self._phase != IDLE and self._phase != OFFLINE:
            self._pause_offline()

    def _on_visibility(self) -> None:
        if self._platform.is_visible():
            self._wake("visible")

    def _wake(self, why: str) -> None:
        """The tab came back (visible, bfcache restore): retry now if waiting, and check
        for a stall the sleeping timers could not see."""
        if self._phase in (WAITING, OFFLINE):
            self._skip_wait(why)
        elif self._phase in (OPENING, OPEN):
            idle = self._platform.now() - self._last_activity
            if idle + 1e-9 >= self.stall_window:
                self._stalled(idle)

    def _listen_as_follower(self) -> None:
        if self._follower_offs:
            return
        self._follower_offs = [
            self._platform.on_window_event(name, self._follower_wake) for name in _FOLLOWER_EVENTS
        ]

    def _unlisten_follower(self) -> None:
        offs, self._follower_offs = self._follower_offs, []
        for off in offs:
            off()

    def _follower_wake(self) -> None:
        # The user looks at this tab: the leader (maybe hidden, its timers throttled)
        # should not keep them waiting out its backoff.
        if self.role == "follower" and self._platform.is_visible() and (
            self._status != "connected"
        ):
            self._request_leader("wake")

    # --- auth ---------------------------------------------------------------------------
    def _on_auth(self, state: Any) -> None:
        token = getattr(state, "access_token", None) if state is not None else None
        changed, self._seen_token = token != self._seen_token, token
        if self.role == "follower":
            return  # the leader tab follows the session (storage reaches every tab)
        if token is None:
            if self._phase != IDLE:
                self._log.info("[SSE] logged out: disconnecting")
                self.disconnect()
            return
        if self._phase == IDLE:
            if self._autoconnect and self._needed():
                self.connect()
        elif changed and not self._own_refresh:
            if self.mode == "lazy" and not self._needed():
                # Waiting out the idle delay: a new stream for nobody would only be closed
                # again; the next subscriber opens one with the new token.
                self._counts["idle_closes"] += 1
                self._log.info("[SSE] idle: token changed with no subscribers: closing now")
                self.disconnect()
            else:
                self.reconnect("token changed")

    # --- events -------------------------------------------------------------------------
    def feed(self, raw: RawEvent, origin: Origin = "relay") -> SSEEvent | None:
        """Run a raw event through normalize -> dedupe -> fan-out, as the source's own
        events do. Returns the dispatched event, or None when dropped as a duplicate.

        >>> client.feed(RawEvent("message", '{"type": "x"}', "9"))  # doctest: +SKIP
        """
        if not isinstance(raw, RawEvent):
            raise TypeError("feed() takes a zariz.platform.RawEvent")
        return self._ingest(raw, origin)

    def _ingest(self, raw: RawEvent, origin: Origin) -> SSEEvent | None:
        return self._ingest_fields(
            raw.type, raw.data, raw.last_event_id, origin, float(self._platform.wall_ms()),
            self._log.isEnabledFor(logging.DEBUG),
        )

    def _ingest_fields(
        self, raw_type: str, data: str, raw_id: str, origin: Origin, received_at: float,
        debug: bool,
    ) -> SSEEvent | None:
        # The per-event path (thousands a second in a burst): ``debug`` is the logger's
        # verdict for the batch, so a disabled debug line costs no call per event.
        sse_type = raw_type or DEFAULT_EVENT_TYPE
        ev_id = raw_id or None
        position = self._position
        before = position.last
        if not position.accept(
            sse_type, ev_id, data, origin, relay_is_our_stream=self.role == "follower",
        ):
            self._counts["duplicates_dropped"] += 1
            if debug:
                self._log.debug("[SSE] duplicate id=%s from %s dropped", raw_id, origin)
            return None
        if sse_type in POSITION_EVENTS:
            # The stream (ours, or the leader's relayed to us) stated where it continues:
            # from here on it delivers in order what we missed, then what is new.
            if origin == "source" or self.role == "follower":
                self._synced = True
            if position.last != before:
                self._log.info(
                    "[SSE] %s: resuming from id %s (was %s)", sse_type, position.last, before
                )
        # The reset itself is never a duplicate and names no event of its own.
        ev = normalize(
            sse_type, data, None if sse_type == "reset" else ev_id, received_at, origin
        )
        counts = self._counts
        counts["events"] += 1
        if origin == "relay":
            counts["relayed_in"] += 1
        if debug:
            self._log.debug("[SSE] message %s id=%s", ev.event, ev.id)
        if origin == "source" and self._relay_post is not None and sse_type != "ping":
            counts["relayed_out"] += 1
            try:
                self._relay_post(relay_message(sse_type, data, raw_id))
            except Exception:
                # The position has moved past this event: if the relay's failure stopped
                # it here, this tab's subscribers would never get it (the stream will not
                # replay it). The other tabs recover by their own gap check.
                self._log.exception("[SSE] relaying id=%s to other tabs failed", raw_id)
        self._fanout.dispatch(ev)
        return ev

    def _on_channel(self, message: Any) -> None:
        parsed = parse_relay(message)
        if parsed is None:
            self._log.debug("[SSE] malformed relay message ignored")
            return
        self._ingest(RawEvent(*parsed), "relay")

    def _set_status(self, status: Status) -> None:
        if status == self._status:
            return
        self._status = status
        self._log.debug("[SSE] status %s", status)
        self._fanout.notify_status(status)


__all__ = [
    "BACKOFF_BASE_S",
    "DEFAULT_IDLE_CLOSE_S",
    "LOGGER_NAME",
    "MODES",
    "NAMED_EVENTS",
    "WAITING_FOR_CONNECTION",
    "AuthLike",
    "Mode",
    "SSEClient",
    "set_log_level",
]
