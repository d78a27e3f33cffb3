"""Exponential backoff with full jitter (the "Full Jitter" of AWS's backoff study).

``delay = random() * min(cap, base * 2 ** attempt)``: the ceiling doubles per failed
attempt up to ``cap``; the uniform draw spreads a fleet of tabs so that a server restart is
not met by every client at the same instant (anchors.md complaint 2).
"""

from __future__ import annotations

from collections.abc import Callable

# 2 ** 60 seconds is far beyond any sane cap; clamping the exponent keeps the float finite
# however many attempts pile up (``2.0 ** 1100`` would overflow).
_MAX_EXPONENT = 60


class Backoff:
    """Attempt counter plus the delay rule.

    >>> import random
    >>> b = Backoff(base=1.0, cap=30.0, rand=random.Random(1).random)
    >>> 0.0 <= b.next_delay() <= 1.0 and 0.0 <= b.next_delay() <= 2.0
    True
    >>> b.reset(); b.attempt
    0
    """

    def __init__(self, *, base: float, cap: float, rand: Callable[[], float]) -> None:
        if not isinstance(base, (int, float)) or isinstance(base, bool) or base <= 0:
            raise ValueError(f"backoff base must be a positive number of seconds, got {base!r}")
        if not isinstance(cap, (int, float)) or isinstance(cap, bool) or cap < base:
            raise ValueError(f"backoff cap must be a number >= base ({base}), got {cap!r}")
        if not callable(rand):
            raise TypeError("rand must be a callable returning a float in [0, 1)")
        self.base = float(base)
        self.cap = float(cap)
        self._rand = rand
        self.attempt = 0

    def ceiling(self, attempt: int | None = None) -> float:
        """The largest delay the given (default: current) attempt may draw."""
        n = self.attempt if attempt is None else attempt
        return min(self.cap, self.base * 2.0 ** min(n, _MAX_EXPONENT))

    def next_delay(self) -> float:
        """Draw the delay for the current attempt and count the attempt."""
        r = self._rand()
        # A platform random outside [0, 1) would break the cap guarantee; clamp it.
        r = 0.0 if r < 0.0 else min(r, 1.0)
        delay = r * self.ceiling()
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """After a successful open the next failure starts from ``base`` again."""
        self.attempt = 0


__all__ = ["Backoff"]
