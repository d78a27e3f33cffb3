"""uvicorn's httptools protocol with the read deadlines of
:class:`server.middleware.GuardedH11Protocol`. A module of its own so that importing the
server never needs httptools (``ZARIZ_HTTP=h11`` works without it)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.middleware import GuardedH11Protocol


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`GuardedH11Protocol`'s read deadlines:
    ``header_timeout`` from the connection's opening (or from the first byte of the next
    request) to the end of the headers, ``body_timeout`` from there to the end of the
    body. httptools reports those moments as parser callbacks; the deadline bookkeeping
    is the h11 protocol's own. Use :func:`guarded_http`."""

    header_timeout: float = GuardedH11Protocol.header_timeout
    body_timeout: float = GuardedH11Protocol.body_timeout

    # The bookkeeping is GuardedH11Protocol's: it uses only what both protocols have
    # (loop, transport, client, the two timeouts and these two attributes).
    def _set_read_phase(self, phase: str | None) -> None:
        GuardedH11Protocol._set_read_phase(cast(GuardedH11Protocol, self), phase)

    def _read_timed_out(self) -> None:
        GuardedH11Protocol._read_timed_out(cast(GuardedH11Protocol, self))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_deadline: asyncio.TimerHandle | None = None
        self._read_phase: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._set_read_phase("headers")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._set_read_phase("headers")  # kept, if armed at the opening

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._set_read_phase("body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._set_read_phase(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._set_read_phase(None)
        super().connection_lost(exc)
