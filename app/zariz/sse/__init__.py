"""The SSE client package: one connection per tab, events fanned out to subscribers.

>>> from zariz.sse import SSEClient, get_client, SSEEvent, normalize  # doctest: +SKIP
"""

from __future__ import annotations

from zariz.sse.backoff import Backoff
from zariz.sse.client import LOGGER_NAME, AuthLike, SSEClient, set_log_level
from zariz.sse.normalize import SSEEvent, normalize
from zariz.sse.singleton import GLOBAL_NAME, get_client, reset_client

__all__ = [
    "GLOBAL_NAME",
    "LOGGER_NAME",
    "AuthLike",
    "Backoff",
    "SSEClient",
    "SSEEvent",
    "get_client",
    "normalize",
    "reset_client",
    "set_log_level",
]
