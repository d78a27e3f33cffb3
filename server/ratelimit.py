"""Login throttling: failed attempts per username and per client address, and a bound on
how many argon2 hashes run (and wait) at once.

Each failed login costs the server one argon2 hash (19 MiB, ~25 ms of a core, see
``server.security``), so an unbounded flood of wrong passwords is a memory and CPU
denial of service as much as a guessing attack. Three bounds, checked before any hashing:

* **per username** and **per client address**: ``limit`` failures per ``window`` seconds
  (a burst of ``limit``, then one more every ``window / limit`` seconds; GCRA, one float per
  key). An attempt reserves its slot up front - so 40 parallel guesses cannot all slip in
  before the first one fails - and a successful login gives it back, so users who type
  their password right are never throttled. Over the limit: 429 with ``Retry-After``.
  IPv6 clients are keyed by their /64, which one host usually owns whole.
* **hashing**: at most ``hash_concurrency`` argon2 calls run at once, in worker threads
  (argon2-cffi releases the GIL, so the event loop keeps serving), and at most
  ``queue`` more logins wait for a slot; beyond that 503 ``login_busy`` with
  ``Retry-After`` instead of an ever-growing queue.

Keys are kept in memory (bounded, least recently used dropped first); a restart forgets
them, which only gives an attacker back one burst.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


class RateLimiter:
    """GCRA: ``limit`` events per ``period`` seconds per key, as a burst of ``limit``
    followed by one every ``period / limit`` seconds."""

    def __init__(
        self, limit: int, period: float, *, max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.period = period
        self.interval = period / limit
        self.max_keys = max_keys
        self._clock = clock
        # key -> theoretical arrival time: the key is "full" while it is > now + period - interval.
        self._tat: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tat)

    def acquire(self, key: str) -> float:
        """Take one slot: ``0.0`` if allowed, else the seconds until one frees (and
        nothing is taken)."""
        now = self._clock()
        new_tat = max(self._tat.get(key, now), now) + self.interval
        allowed_at = new_tat - self.period
        if allowed_at > now:
            return allowed_at - now
        self._tat[key] = new_tat
        self._tat.move_to_end(key)
        while len(self._tat) > self.max_keys:
            self._tat.popitem(last=False)
        return 0.0

    def refund(self, key: str) -> None:
        """Give back one slot taken by :meth:`acquire`."""
        tat = self._tat.get(key)
        if tat is None:
            return
        tat -= self.interval
        if tat <= self._clock():
            del self._tat[key]  # back to a clean slate: no need to remember the key
        else:
            self._tat[key] = tat


def address_key(host: str | None) -> str:
    """The throttling key of a client address: IPv4 as is, IPv6 by its /64."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class LoginThrottled(Exception):
    """Too many failed logins for this username or address; retry in ``retry_after`` s."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.1f} s")
        self.retry_after = retry_after

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


class LoginBusy(Exception):
    """Every hashing slot and every queue place is taken."""


class LoginGuard:
    """The three bounds above, for one app."""

    def __init__(
        self, *, user_limit: int, addr_limit: int, window: float, hash_concurrency: int,
        queue: int, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = RateLimiter(user_limit, window, clock=clock)
        self.addresses = RateLimiter(addr_limit, window, clock=clock)
        self.hashing = anyio.CapacityLimiter(hash_concurrency)
        self.max_inflight = hash_concurrency + queue
        self.inflight = 0

    def reserve(self, username: str, address: str) -> None:
        """Count an attempt against both keys, or raise :class:`LoginThrottled`."""
        wait_user = self.users.acquire(username)
        wait_addr = self.addresses.acquire(address)
        if wait_user or wait_addr:
            if not wait_user:
                self.users.refund(username)
            if not wait_addr:
                self.addresses.refund(address)
            raise LoginThrottled(max(wait_user, wait_addr))

    def forgive(self, username: str, address: str) -> None:
        """The attempt does not count (the password was right, or the server was busy)."""
        self.users.refund(username)
        self.addresses.refund(address)

    async def run(self, func: Callable[..., T], *args: object) -> T:
        """``func(*args)`` in a worker thread once a hashing slot is free, or
        :class:`LoginBusy` when too many logins are already waiting."""
        if self.inflight >= self.max_inflight:
            raise LoginBusy
        self.inflight += 1
        try:
            return await anyio.to_thread.run_sync(func, *args, limiter=self.hashing)
        finally:
            self.inflight -= 1
