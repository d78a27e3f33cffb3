"""One stream per browser: a leader tab holds it, every other tab follows over a channel.

::

    tab A (leader)                          tabs B, C, ... (followers)
    Web Lock "zariz-sse-leader" held        queued for the lock
    EventSource ─► SSEClient ─► subscribers
                     │ every event (type, data, id), status, heartbeat
                     ▼
             BroadcastChannel("zariz-sse") ─────► SSEClient.feed(raw, "relay") ─► subscribers
                                                  status: the leader's (shown "via another tab")

* **Election.** Every tab asks for the exclusive Web Lock; the holder is the leader. A
  lock is released by the browser when its tab closes, reloads, navigates or is discarded,
  and passes to the next tab in the queue, which connects with the newest id *it* has seen
  (relayed events move a follower's position): the server replays what came after, and
  ids dedupe the seam — every subscriber in every tab gets each event once.
* **Heartbeat.** The leader posts a beat every ``beat_interval`` s and on every event of its
  stream, pings included. Network events keep arriving in a hidden tab whose timers Chrome
  throttles (to once a minute after 5 minutes hidden), so a hidden but live leader keeps
  beating at least once per ping interval and is not deposed.
* **Zombies.** A follower that hears nothing for ``takeover_after`` s takes the lock with
  ``steal``: 2.5 ping intervals when the leader last said it was connected (it would have
  relayed a ping), else ``idle_takeover_after`` (> a throttled tab's one-minute timer
  cadence) — plus up to 2 s of jitter per tab, so followers do not all steal at once.
  The deposed leader (``on_lost``, at once, or when a frozen tab thaws) closes its source
  immediately and queues again as a follower.
* **Lazy mode** (the client's ``mode="lazy"``). The leader closes the stream only when no
  tab needs it. A follower with a ``keep_open`` subscriber tells the leader (a ``demand``
  message) once it holds its own Web Lock ``zariz-sse-leader:demand:<tab>``; the leader
  queues for that lock, so the browser itself tells the leader when the follower is gone —
  it unsubscribed (it also says so), or its tab closed, crashed or was discarded without a
  word. A new leader asks for nothing: its ``leader`` message makes every follower with
  demand say so again. Followers report demand only to a lazy leader (its messages carry
  ``lazy``), so ``always`` mode takes no extra locks.
* **Fallback.** Without Web Locks or BroadcastChannel — or with ``?sse=per-tab`` — the
  client keeps its own stream (``role = "per-tab"``).

>>> # boot: SharedStream(platform, client, tab_id=...).start()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any

from zariz.platform import Platform, RawEvent
from zariz.sse.client import SSEClient
from zariz.sse.position import parse_relay
from zariz.types import CONNECTION_STATUSES, Status, Undo

LOCK_NAME = "zariz-sse-leader"
CHANNEL_NAME = "zariz-sse"


class SharedStream:
    """Leader election and relay around one tab's :class:`SSEClient` (see module doc)."""

    def __init__(
        self,
        platform: Platform,
        client: SSEClient,
        *,
        tab_id: str,
        lock_name: str = LOCK_NAME,
        channel_name: str = CHANNEL_NAME,
        beat_interval: float = 5.0,
        idle_takeover_after: float = 75.0,
        logger: logging.Logger | None = None,
    ) -> None:
        if beat_interval <= 0 or idle_takeover_after <= beat_interval:
            raise ValueError("need 0 < beat_interval < idle_takeover_after")
        self._platform = platform
        self._client = client
        self.tab_id = tab_id
        self._lock_name = lock_name
        self._channel_name = channel_name
        self.beat_interval = float(beat_interval)
        self.idle_takeover_after = float(idle_takeover_after)
        self._log = logger or logging.getLogger("zariz.sse")
        self._jitter = platform.random() * 2.0
        self.leader_id: str | None = None
        self._post: Any = None
        self._undos: list[Undo] = []
        self._release_lock: Undo | None = None
        self._beat_undo: Undo | None = None
        self._watch_undo: Undo | None = None
        self._last_heard = 0.0
        self._watch_armed_at = 0.0
        self._leader_connected = False
        # The leader's stall window (its server's ping interval x 2.5): a follower has no
        # ticket answer of its own to learn the ping interval from.
        self._leader_window: float | None = None
        self.started = False
        self.handovers = 0
        # Lazy mode. Follower side: whether the leader is lazy, our demand lock request
        # and whether it is held (only then is the demand announced). Leader side: per
        # follower with demand, our queued request for its demand lock.
        self._leader_lazy = False
        self._demand_undo: Undo | None = None
        self._demand_held = False
        self._remote: dict[str, Undo] = {}
        # Each leadership's term: one more than any this tab has heard of. Followers ignore
        # a lower term — a deposed leader's last words (say, a frozen tab thawing before it
        # learns it was replaced) are not the stream's status.
        self.term = 0

    @property
    def role(self) -> str:
        return self._client.role

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> bool:
        """Join the election; False (and the client keeps its own stream) when the
        browser lacks Web Locks or BroadcastChannel."""
        if self.started:
            return True
        missing = [f for f in ("locks", "channel") if not self._platform.supports(f)]
        if missing:
            self._log.warning(
                "[SSE] one stream per browser needs %s: this tab keeps its own stream",
                " and ".join(missing),
            )
            return False
        self.started = True
        self._post, close = self._platform.open_channel(self._channel_name, self._on_message)
        self._undos.append(close)
        self._undos.append(self._client.on_status(self._on_status))
        # Relaying pings is not a reason to hold the stream open (lazy mode).
        self._undos.append(
            self._client.subscribe(self._on_own_ping, events=["ping"], keep_open=False)
        )
        self._undos.append(self._client.on_demand(self._on_local_demand))
        self._become_follower(None)
        self._ask_for_lock(steal=False)
        self._send("hello")  # the leader answers at once: no stale status until its beat
        return True

    def dispose(self) -> None:
        """Leave the election (the lock passes on) and give the client its own stream."""
        if not self.started:
            return
        self.started = False
        self._stop_timers()
        self._drop_remote()
        self._sync_demand()  # not started: our demand lock is released
        if self._release_lock is not None:
            self._release_lock()
            self._release_lock = None
        for undo in reversed(self._undos):
            undo()
        self._undos.clear()
        self._post = None
        self._client.lead(None)  # per-tab from here (connects if started and logged in)

    # --- election -------------------------------------------------------------------------
    def _ask_for_lock(self, *, steal: bool) -> None:
        if self._release_lock is not None:
            self._release_lock()
        self._release_lock = self._platform.hold_lock(
            self._lock_name, self._on_acquired, self._on_lost, steal=steal
        )

    def _on_acquired(self) -> None:
        if not self.started:
            return
        self._stop_timers()
        self.leader_id = self.tab_id
        self.term += 1
        self.handovers += 1
        self._log.info("[SSE] this tab is the leader: it holds the stream for every tab")
        self._drop_remote()  # the followers say it again on our "leader" message
        self._client.lead(self._relay)
        self._sync_demand()  # a leader needs no demand lock of its own
        self._send("leader")
        self._beat_undo = self._platform.schedule(self.beat_interval, self._beat)

    def _on_lost(self) -> None:
        """Another tab stole the lock (we were frozen, throttled, or thought dead)."""
        if not self.started:
            return
        self._log.warning("[SSE] leadership taken over by another tab: closing our stream")
        self._release_lock = None
        self._become_follower(None)
        self._ask_for_lock(steal=False)

    def _become_follower(self, leader_id: str | None) -> None:
        self._stop_timers()
        self.leader_id = leader_id
        self._last_heard = self._platform.now()
        self._leader_connected = False
        self._leader_lazy = False
        self._drop_remote()
        self._client.follow(leader_id, ask_leader=self._ask_leader)
        self._sync_demand()
        self._arm_watch()

    # --- leader side ------------------------------------------------------------------------
    def _relay(self, message: dict[str, str]) -> None:
        self._send("event", **message)

    def _on_own_ping(self, _ev: Any) -> None:
        if self._client.role == "leader":
            self._send("beat")

    def _on_status(self, _status: Status) -> None:
        if self._client.role == "leader":
            self._send("status")

    def _beat(self) -> None:
        self._beat_undo = None
        if not self.started or self._client.role != "leader":
            return
        self._send("beat")
        self._beat_undo = self._platform.schedule(self.beat_interval, self._beat)

    def _send(self, kind: str, **extra: str) -> None:
        if self._post is None:
            return
        window = self._client.stall_window
        message: dict[str, Any] = {
            "kind": kind, "tab": self.tab_id, "status": self._client.status,
            "last_id": self._client.last_event_id,
            "window": None if window == float("inf") else window,
            "retry_in": self._client.retry_in(), "waiting_for": self._client.waiting_for,
            "caught_up": self._client.caught_up,
            "idle": self._client.idle, "lazy": self._client.mode == "lazy",
            "term": self.term, **extra,
        }
        self._post(message)

    # --- follower side ----------------------------------------------------------------------
    def _on_message(self, message: Any) -> None:
        if not isinstance(message, dict) or not self.started:
            return
        kind, tab = message.get("kind"), message.get("tab")
        if not isinstance(tab, str) or tab == self.tab_id:
            return
        if kind == "demand":
            if self._client.role == "leader":
                self._on_remote_demand(tab, message.get("demand") is True)
            return
        if kind in ("ask", "hello"):
            if self._client.role == "leader":
                what = message.get("what")
                if what == "reconnect":
                    self._client.reconnect("asked by another tab")
                elif what == "reconnect_now" and not self._client.reconnect_now() and (
                    self._client.status == "disconnected"
                ):
                    # What a click on our own indicator would do: the stream gave up.
                    self._client.reconnect("a user asked in another tab")
                elif what in ("nudge", "wake"):
                    # A sign seen in another tab (a REST answer, the tab shown): ours too.
                    self._client.nudge(f"{what} from another tab", spread=what == "nudge")
                elif kind == "hello":
                    self._send("status")
            return
        term = message.get("term")
        if isinstance(term, int) and not isinstance(term, bool):
            if term < self.term:
                return  # a deposed leader's last words
            self.term = term
        if self._client.role != "follower":
            return  # a deposed leader's last words, or a second leader before its on_lost
        if kind == "event":
            parsed = parse_relay(message)
            if parsed is not None:
                self._client.feed(RawEvent(*parsed), origin="relay")
        # After the event: its message's last_id already counts it, and a follower that
        # adopted it first would drop the event itself as a duplicate.
        self._heard(tab, message)
        lazy = message.get("lazy") is True
        if lazy != self._leader_lazy:
            self._leader_lazy = lazy
            self._sync_demand()
        elif kind == "leader" and self._demand_held:
            self._announce_demand(True)  # a new leader starts knowing no one's demand

    def _heard(self, tab: str, message: dict[str, Any]) -> None:
        self._last_heard = self._platform.now()
        window = message.get("window")
        if isinstance(window, int | float) and not isinstance(window, bool) and window > 0:
            self._leader_window = float(window)
        status = message.get("status")
        if isinstance(status, str) and status in CONNECTION_STATUSES:
            self._leader_connected = status == "connected"
            retry_in, waiting_for = message.get("retry_in"), message.get("waiting_for")
            caught_up = message.get("caught_up")
            self._client.show_leader_status(
                status, tab,
                retry_in=float(retry_in) if isinstance(retry_in, int | float)
                and not isinstance(retry_in, bool) and retry_in >= 0 else None,
                waiting_for=waiting_for if isinstance(waiting_for, str) else None,
                # A leader that does not say (an older version) is taken at its status.
                caught_up=caught_up if isinstance(caught_up, bool) else True,
                idle=message.get("idle") is True,
            )
        last_id = message.get("last_id")
        self._client.adopt_position(last_id if isinstance(last_id, str) else None)
        self.leader_id = tab

    # --- lazy mode: which tabs need the stream ---------------------------------------------
    def _demand_lock(self, tab: str) -> str:
        return f"{self._lock_name}:demand:{tab}"

    def _on_local_demand(self, _wants: bool) -> None:
        self._sync_demand()

    def _sync_demand(self) -> None:
        """Follower side: hold our demand lock (and say so) exactly while a lazy leader
        should keep the stream open for this tab."""
        wanted = (
            self.started and self._client.role == "follower" and self._leader_lazy
            and self._client.wants_stream
        )
        if wanted and self._demand_undo is None:
            self._demand_undo = self._platform.hold_lock(
                self._demand_lock(self.tab_id), self._on_demand_held, self._on_demand_lost
            )
        elif not wanted and self._demand_undo is not None:
            undo, self._demand_undo = self._demand_undo, None
            held, self._demand_held = self._demand_held, False
            undo()
            if held:
                self._announce_demand(False)

    def _on_demand_held(self) -> None:
        # Announced only now: the leader's request for this lock must queue behind ours,
        # or it would be granted at once and read as "that tab is gone".
        self._demand_held = True
        self._announce_demand(True)

    def _on_demand_lost(self) -> None:
        self._demand_undo = None  # nobody steals a demand lock; ask again if it happens
        self._demand_held = False
        self._sync_demand()

    def _announce_demand(self, demand: bool) -> None:
        if self._post is not None:
            self._post({"kind": "demand", "tab": self.tab_id, "demand": demand})

    def _on_remote_demand(self, tab: str, demand: bool) -> None:
        """Leader side: a follower says it needs the stream (or no longer does)."""
        if demand and tab not in self._remote:
            self._remote[tab] = self._platform.hold_lock(
                self._demand_lock(tab), lambda: self._remote_gone(tab), lambda: None
            )
        elif not demand and tab in self._remote:
            self._remote.pop(tab)()
        else:
            return
        self._client.set_remote_demand(len(self._remote))

    def _remote_gone(self, tab: str) -> None:
        # Granted its lock: the follower released it (no more demand, or its tab is gone).
        undo = self._remote.pop(tab, None)
        if undo is None:
            return
        undo()
        self._log.info("[SSE] tab %s no longer needs the stream", tab)
        self._client.set_remote_demand(len(self._remote))

    def _drop_remote(self) -> None:
        remote, self._remote = self._remote, {}
        for undo in remote.values():
            undo()
        if remote:
            self._client.set_remote_demand(0)

    @property
    def remote_demand(self) -> int:
        """Leader: how many other tabs need the stream now (lazy mode)."""
        return len(self._remote)

    def _ask_leader(self, what: str) -> None:
        if self._post is not None:
            self._post({"kind": "ask", "tab": self.tab_id, "what": what})

    def takeover_after(self) -> float:
        """Silence after which a follower steals the lock (see the module doc)."""
        window = self._leader_window
        if self._leader_connected and window is not None:
            return min(window, self.idle_takeover_after)
        return self.idle_takeover_after

    def _arm_watch(self) -> None:
        self._watch_armed_at = self._platform.now()
        self._watch_undo = self._platform.schedule(self.beat_interval, self._watch)

    def _watch(self) -> None:
        self._watch_undo = None
        if not self.started or self._client.role != "follower":
            return
        now = self._platform.now()
        if now - self._watch_armed_at > 2 * self.beat_interval:
            # This timer fired late: the machine slept or this tab was frozen, and the
            # leader's messages are still queued behind it. Listen before judging.
            self._last_heard = now
            self._arm_watch()
            return
        silent = now - self._last_heard
        if silent >= self.takeover_after() + self._jitter:
            self._log.warning(
                "[SSE] the leader tab is silent for %.0f s (frozen?): taking over", silent
            )
            self._last_heard = self._platform.now()  # one steal per silence
            self._ask_for_lock(steal=True)
        self._arm_watch()

    def _stop_timers(self) -> None:
        for name in ("_beat_undo", "_watch_undo"):
            undo = getattr(self, name)
            setattr(self, name, None)
            if undo is not None:
                undo()


__all__ = ["CHANNEL_NAME", "LOCK_NAME", "SharedStream"]
