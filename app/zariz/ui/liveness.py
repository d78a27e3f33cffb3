"""Is what the operator sees live? The connection indicator's phase and the stale banner.

A small pure model the shell feeds with the client's state (on every status change, event
and tick); it never touches the DOM or the client.

* **Phase** (the indicator's ``data-phase``): the first connect is a neutral
  ``connecting`` ("Connecting…"), for at most :data:`FIRST_CONNECT_S` and only until an
  attempt fails; then ``reconnecting`` (with the retry countdown), ``offline`` when the
  client is disconnected (no network, or it gave up), ``live`` when connected.
* **Stale banner**: "Not live — data as of 14:05" from :data:`GRACE_S` after the data
  stopped being current (a token rotation's reconnect is shorter and shows nothing) until
  the stream is back *and caught up* (the client's ``caught_up``: the new stream stated
  its position, and what it replays follows in order). ``as_of_ms`` is the wall-clock
  moment the data was last known current: when the stream stopped being connected, or —
  for a tab that has not been live yet — when this model was made (the page's data was
  loaded at or after that moment).

>>> clock = [0.0]
>>> live = Liveness(lambda: clock[0], lambda: 1_000_000 + clock[0] * 1000,
...                 status="connected", caught_up=True)
>>> live.observe("connecting", False); clock[0] = 1.0
>>> live.phase("connecting", failed=True), live.banner_as_of()
('reconnecting', None)
>>> clock[0] = 2.0; live.banner_as_of()
1000000.0
>>> live.observe("connected", True); live.banner_as_of() is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

GRACE_S = 1.5
"""A drop shorter than this shows no banner (a soft reconnect takes a few hundred ms)."""
FIRST_CONNECT_S = 5.0
"""The first connect reads "Connecting…" this long at most (unless an attempt fails),
and a tab that has not been live yet shows the banner from then on."""
CATCH_UP_FALLBACK_S = 3.0
"""Connected this long without the client saying it caught up (a server or a leader tab
that does not tell): the stream delivers, so the data counts as live."""

Phase = Literal["connecting", "live", "reconnecting", "offline"]


class Liveness:
    """See the module docstring. ``now``: a monotonic clock in seconds; ``wall_ms``:
    epoch milliseconds (for the "as of" time)."""

    def __init__(
        self,
        now: Callable[[], float],
        wall_ms: Callable[[], float],
        *,
        status: str,
        caught_up: bool,
        grace_s: float = GRACE_S,
        first_connect_s: float = FIRST_CONNECT_S,
        catch_up_fallback_s: float = CATCH_UP_FALLBACK_S,
    ) -> None:
        self._now = now
        self._wall = wall_ms
        self.grace_s = grace_s
        self.first_connect_s = first_connect_s
        self.catch_up_fallback_s = catch_up_fallback_s
        t = now()
        connected = status == "connected"
        self.ever_connected = connected
        self._connected_since: float | None = t if connected else None
        self._down_since: float | None = None if connected else t
        self.not_live_since: float | None = None
        self.as_of_ms: float | None = None
        if not (connected and caught_up):
            self.not_live_since = t
            self.as_of_ms = float(wall_ms())

    @property
    def live(self) -> bool:
        return self.not_live_since is None

    def observe(self, status: str, caught_up: bool) -> None:
        """The client's state now (idempotent: call it as often as convenient)."""
        t = self._now()
        if status == "connected":
            self.ever_connected = True
            self._down_since = None
            if self._connected_since is None:
                self._connected_since = t
            if caught_up or t - self._connected_since >= self.catch_up_fallback_s:
                self.not_live_since = None
                self.as_of_ms = None
                return
        else:
            self._connected_since = None
            if self._down_since is None:
                self._down_since = t
        if self.not_live_since is None:
            self.not_live_since = t
            self.as_of_ms = float(self._wall())

    def rest(self) -> None:
        """The stream is closed on purpose (the client's lazy mode, nothing on the page
        needs it): nothing is stale, and the next connect is a first one again."""
        t = self._now()
        self.ever_connected = False
        self._connected_since = None
        self._down_since = t
        self.not_live_since = None
        self.as_of_ms = None

    def phase(self, status: str, *, failed: bool) -> Phase:
        """What the indicator says. ``failed``: an attempt failed since the stream was
        last open (a retry is pending, or the backoff counted one)."""
        if status == "connected":
            return "live"
        if status != "connecting":
            return "offline"
        if self.ever_connected or failed:
            return "reconnecting"
        down = self._down_since
        if down is not None and self._now() - down >= self.first_connect_s:
            return "reconnecting"
        return "connecting"

    def banner_in(self) -> float | None:
        """Seconds until the banner is due (0: it is); None while live."""
        if self.not_live_since is None:
            return None
        grace = self.grace_s if self.ever_connected else self.first_connect_s
        return max(0.0, self.not_live_since + grace - self._now())

    def banner_as_of(self) -> float | None:
        """The "data as of" time (epoch ms) when the banner shows, else None."""
        if self.banner_in() == 0.0:
            return self.as_of_ms
        return None


__all__ = ["CATCH_UP_FALLBACK_S", "FIRST_CONNECT_S", "GRACE_S", "Liveness", "Phase"]
