"""A tiny, independent SSE client on a raw socket: HTTP/1.1, chunked decoding and the
WHATWG event-stream parsing rules. It shares no code with httpx-sse or the server.

It can also shrink its receive buffer (``rcvbuf``) to play a client that stops reading.
"""

from __future__ import annotations

import codecs
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class WireEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class EventStreamParser:
    """Feed bytes, get events. ``last_id`` persists across events, as in the spec."""

    _buffer: str = ""
    _data: list[str] = field(default_factory=list)
    _event: str = ""
    _id: str | None = None
    _retry: int | None = None
    last_id: str | None = None

    def feed(self, text: str) -> list[WireEvent]:
        self._buffer += text.replace("\r\n", "\n").replace("\r", "\n")
        events: list[WireEvent] = []
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> WireEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
            self.last_id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> WireEvent | None:
        if not self._data and self._retry is None and not self._event and self._id is None:
            return None
        event = WireEvent(self._event or "message", "\n".join(self._data), self._id, self._retry)
        self._data, self._event, self._id, self._retry = [], "", None, None
        return event


class StreamEnded(Exception):
    """The server finished the response (or closed the connection)."""


class RawSSEClient:
    """``RawSSEClient(url, headers=...)``; ``status``/``headers``/``body`` after connect;
    ``next_event(timeout)`` returns the next event or raises :class:`StreamEnded`."""

    def __init__(
        self, url: str, headers: dict[str, str] | None = None, *, rcvbuf: int | None = None,
        timeout: float = 10,
    ) -> None:
        parts = urlsplit(url)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Before connect, so the advertised TCP window is small from the start.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._raw = b""
        self._chunked = False
        self._done = False
        self.parser = EventStreamParser()
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._events: list[WireEvent] = []
        self.status, self.headers = self._read_head()
        self.body = b""
        if self.status != 200:
            self.body = self._read_rest()

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise StreamEnded("connection closed")
        return data

    def _read_head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self._raw:
            self._raw += self._recv()
        head, self._raw = self._raw.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self._chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        return int(status_line.split()[1]), headers

    def _read_rest(self) -> bytes:
        length = int(self.headers.get("content-length", "0"))
        while len(self._raw) < length:
            self._raw += self._recv()
        return self._raw[:length]

    def _next_chunk(self) -> bytes:
        """One piece of the body; raises :class:`StreamEnded` at the terminating chunk."""
        if self._done:
            raise StreamEnded("response complete")
        if not self._chunked:
            if not self._raw:
                self._raw = self._recv()
            data, self._raw = self._raw, b""
            return data
        while b"\r\n" not in self._raw:
            self._raw += self._recv()
        size_line, rest = self._raw.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        while len(rest) < size + 2:
            rest += self._recv()
        self._raw = rest[size + 2:]
        if size == 0:
            self._done = True
            raise StreamEnded("response complete")
        return rest[:size]

    def next_event(self, timeout: float = 5) -> WireEvent:
        deadline = time.monotonic() + timeout
        while not self._events:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no SSE event in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self._next_chunk()
            except ConnectionResetError as exc:
                raise StreamEnded("connection reset") from exc
            except OSError as exc:
                if isinstance(exc, TimeoutError | socket.timeout):
                    raise TimeoutError("no SSE event in time") from exc
                raise
            self._events.extend(self.parser.feed(self._decoder.decode(chunk)))
        return self._events.pop(0)

    def read_until_end(self, timeout: float = 5) -> list[WireEvent]:
        """All events until the server ends the stream (TimeoutError if it doesn't)."""
        events: list[WireEvent] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                events.append(self.next_event(max(0.01, deadline - time.monotonic())))
            except StreamEnded:
                return events

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawSSEClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
