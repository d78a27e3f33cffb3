"""The page's choice of how to hold the event stream, from a few short words.

Three sources, in priority order: the page address (``?sse=lazy``), the browser
(``localStorage['zariz.sse']``, every tab of the origin) and the deployment
(``<meta name="zariz-sse" content="lazy idle=30">``, which the server writes from
``ZARIZ_SSE_CLIENT``, or an embedding page writes itself). Each says any of:

* ``shared`` (one stream per browser, the default) or ``per-tab``;
* ``always`` (connected while logged in, the default) or ``lazy`` (connected while a
  live widget needs it, closed ``idle`` seconds after the last one left);
* ``idle=N``: that delay in seconds (default 30, at most an hour).

Words are separated by commas, semicolons or spaces; each aspect comes from the first
source that names it, so ``?sse=per-tab`` keeps a deployment's ``lazy``. Unknown words and
bad numbers are ignored (and logged): a typo in an address never stops the app.

>>> parse_options("lazy", None, "per-tab idle=10")
StreamOptions(sharing='per-tab', mode='lazy', idle_close_s=10.0)
>>> parse_options("idle=2,lazy")
StreamOptions(sharing='shared', mode='lazy', idle_close_s=2.0)
>>> parse_options(None, "bogus idle=-1")
StreamOptions(sharing='shared', mode='always', idle_close_s=30.0)
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Literal

from zariz.sse.client import DEFAULT_IDLE_CLOSE_S, Mode

log = logging.getLogger("zariz.sse")

Sharing = Literal["shared", "per-tab"]
MAX_IDLE_CLOSE_S = 3600.0
META_NAME = "zariz-sse"
STORAGE_KEY = "zariz.sse"
QUERY_NAME = "sse"
_SEPARATORS = re.compile(r"[\s,;]+")
_SHARING: dict[str, Sharing] = {"shared": "shared", "per-tab": "per-tab"}
_MODES: dict[str, Mode] = {"always": "always", "lazy": "lazy"}


@dataclass(frozen=True)
class StreamOptions:
    sharing: Sharing = "shared"
    mode: Mode = "always"
    idle_close_s: float = DEFAULT_IDLE_CLOSE_S


def _idle(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_IDLE_CLOSE_S:
        return None
    return seconds


def parse_options(*sources: str | None) -> StreamOptions:
    """The options named by ``sources`` (highest priority first; ``None``: not set)."""
    sharing: Sharing | None = None
    mode: Mode | None = None
    idle: float | None = None
    for source in sources:
        if not isinstance(source, str):
            continue
        for word in _SEPARATORS.split(source.strip().lower()[:200]):
            if not word:
                continue
            if word in _SHARING:
                sharing = sharing or _SHARING[word]
            elif word in _MODES:
                mode = mode or _MODES[word]
            elif word.startswith("idle="):
                seconds = _idle(word[5:])
                if seconds is None:
                    log.warning("[SSE] options: ignoring %r (idle=N, 0 < N <= 3600)", word)
                elif idle is None:
                    idle = seconds
            else:
                log.warning("[SSE] options: ignoring unknown word %r", word)
    return StreamOptions(
        sharing=sharing or "shared",
        mode=mode or "always",
        idle_close_s=DEFAULT_IDLE_CLOSE_S if idle is None else idle,
    )


__all__ = [
    "MAX_IDLE_CLOSE_S",
    "META_NAME",
    "QUERY_NAME",
    "STORAGE_KEY",
    "Sharing",
    "StreamOptions",
    "parse_options",
]
