"""HTTP hardening between uvicorn and the app: security headers, read timeouts for slow
clients, and an access log that never shows credentials.

* :class:`SecurityHeadersMiddleware` (ASGI) - the Content-Security-Policy and friends on
  every response, ``Cache-Control: no-store`` on API answers (tokens, tickets, personal
  data). CORS stays closed: no response carries ``Access-Control-Allow-*``, so a page on
  another origin can neither read our answers nor get a preflight granted.
* :class:`GuardedH11Protocol` (uvicorn ``http=``) - uvicorn's ``timeout_keep_alive`` only
  runs *between* requests, and any byte cancels it: a client that opens a connection and
  sends nothing, or headers one byte at a time, or a body that never ends, held its socket
  forever. This protocol closes such connections after ``header_timeout`` /
  ``body_timeout`` seconds, measured from the start of the phase, not from the last byte.
* :class:`RedactingAccessLogFilter` - uvicorn logs the request target with its query;
  ``?ticket=``, a refused ``?token=`` and anything shaped like a JWT are redacted.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

import h11
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("zariz.http")

# -- headers -----------------------------------------------------------------------------

CSP_DIRECTIVES: tuple[tuple[str, str, str], ...] = (
    ("default-src", "'none'",
     "Anything not named below is refused (fonts, frames, media, manifests...), so a new "
     "kind of load shows up as a violation - the browser test fails on any - instead of "
     "being allowed silently."),
    ("script-src", "'self' 'unsafe-eval'",
     "Scripts from our origin only: PyScript and Pyodide are vendored under /static/vendor "
     "and the app's Python is fetched, never inlined. 'unsafe-eval' is required, measured: "
     "PyScript's core calls Function(), and 'wasm-unsafe-eval' alone (enough for Pyodide's "
     "WebAssembly) does not allow that. No 'unsafe-inline': an injected <script> or on*= "
     "attribute never runs."),
    ("style-src", "'self'",
     "Our stylesheets (/static/css/app.css, PyScript's core.css). No 'unsafe-inline': the "
     "app sets styles through the DOM, which CSP does not restrict, never style= markup."),
    ("img-src", "'self' data:",
     "data: for the page's empty favicon (<link rel=icon href=\"data:,\">)."),
    ("connect-src", "'self'",
     "fetch() and EventSource to our API and stream, and Pyodide loading its stdlib, lock "
     "file, wasm and the app bundle - all our origin, so no token can be sent elsewhere."),
    ("worker-src", "'self'",
     "One worker, from our origin: the boot loader downloads and checks the Pyodide memory "
     "snapshot in it (static/boot/snapshot-fetch.mjs), off the main thread. Stated rather "
     "than left to script-src's fallback: no blob: or data: worker."),
    ("base-uri", "'none'",
     "An injected <base href> cannot redirect the relative URLs the app loads."),
    ("form-action", "'none'",
     "The app handles its forms in Python; a native submission (say, before Python booted) "
     "would put the password in a URL, so it is refused."),
    ("frame-ancestors", "'none'",
     "No other site may frame the admin (clickjacking); X-Frame-Options: DENY says the same "
     "to browsers that predate this directive."),
    ("object-src", "'none'",
     "Implied by default-src; stated because scanners and reviewers look for it."),
)
"""The page's Content-Security-Policy: ``(directive, sources, why)``."""

CONTENT_SECURITY_POLICY = "; ".join(f"{name} {value}" for name, value, _why in CSP_DIRECTIVES)

API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
"""For JSON and metrics: nothing may load or run if an answer is opened as a document.
Static files get no CSP: a worker script would run under it."""

SECURITY_HEADERS: tuple[tuple[str, str, str], ...] = (
    ("X-Content-Type-Options", "nosniff",
     "Scripts and styles only run with their declared type (no JSON sniffed as a script)."),
    ("X-Frame-Options", "DENY", "frame-ancestors 'none' for older browsers."),
    ("Referrer-Policy", "no-referrer",
     "The admin's URLs (order ids, SSE tickets) are never sent to another site."),
    ("Cross-Origin-Opener-Policy", "same-origin",
     "A window of another site that this page opens, or that opens it, gets no handle on "
     "it."),
    ("Cross-Origin-Resource-Policy", "same-origin",
     "Other sites cannot embed our responses (<script src>, <img>) to read them through "
     "side channels."),
)
"""Sent on every response: ``(header, value, why)``."""

NO_STORE = "no-store"
API_PREFIXES = ("/v1/", "/metrics", "/healthz", "/openapi.json")


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every response; the page CSP to HTML, the API CSP
    and ``Cache-Control: no-store`` (unless the route chose one) to API answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = str(scope.get("path", "")).startswith(API_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value, _why in SECURITY_HEADERS:
                    headers.setdefault(name, value)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                elif api:
                    headers.setdefault("Content-Security-Policy", API_CONTENT_SECURITY_POLICY)
                if api:
                    # Login, refresh and ticket answers carry credentials; the others
                    # carry customers' names and phones: no cache keeps any of them.
                    headers.setdefault("Cache-Control", NO_STORE)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- read timeouts -----------------------------------------------------------------------


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines on reading a request.

    * ``header_timeout``: from the connection's opening (or from the first byte after a
      keep-alive idle) to the end of the request's headers;
    * ``body_timeout``: from the end of the headers to the end of the body.

    A deadline is armed once per phase and never pushed back by more bytes, so trickling
    does not keep a connection alive. When it passes, the connection is closed (the app,
    if it was reading the body, sees a disconnect). Idle keep-alive connections stay
    uvicorn's business (``timeout_keep_alive``). Use :func:`guarded_h11` to set the timeouts.
    """

    header_timeout: float = 5.0
    body_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_deadline: asyncio.TimerHandle | None = None
        self._read_phase: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_read()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_read()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_read()

    def connection_lost(self, exc: Exception | None) -> None:
        self._set_read_phase(None)
        super().connection_lost(exc)

    def _watch_read(self) -> None:
        if self.transport is None or self.transport.is_closing():
            self._set_read_phase(None)
            return
        state = self.conn.their_state
        phase: str | None = None
        if state is h11.IDLE and self.timeout_keep_alive_task is None:
            # Waiting for a request, and uvicorn's keep-alive timer is not watching:
            # a new connection, or bytes of the next request have started to arrive.
            phase = "headers"
        elif state is h11.SEND_BODY:
            phase = "body"
        self._set_read_phase(phase)

    def _set_read_phase(self, phase: str | None) -> None:
        if phase == self._read_phase:
            return  # same phase: keep the deadline it started with
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None
        self._read_phase = phase
        if phase is not None:
            timeout = self.header_timeout if phase == "headers" else self.body_timeout
            self._read_deadline = self.loop.call_later(timeout, self._read_timed_out)

    def _read_timed_out(self) -> None:
        phase, self._read_phase, self._read_deadline = self._read_phase, None, None
        if self.transport.is_closing():
            return
        timeout = self.header_timeout if phase == "headers" else self.body_timeout
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        log.info("closing connection from %s: request %s not received within %g s",
                 client, phase, timeout)
        if self.transport.get_write_buffer_size():
            # close() would wait for a client that may never read what is queued.
            self.transport.abort()
        else:
            self.transport.close()


def guarded_h11(header_timeout: float, body_timeout: float) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass with these timeouts, for ``uvicorn.Config(http=)``."""
    return type(
        "GuardedH11Protocol", (GuardedH11Protocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )


# -- access log ----------------------------------------------------------------------------

SENSITIVE_QUERY_PARAMS = frozenset({
    "ticket", "token", "access_token", "refresh_token", "id_token", "jwt", "authorization",
    "password", "secret", "api_key", "key", "code",
})
REDACTED = "[redacted]"
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def redact_target(target: str) -> str:
    """The request target with credential-like query values (and any JWT anywhere)
    replaced by ``[redacted]``; names and other values stay, for debugging."""
    path, sep, query = target.partition("?")
    path = _JWT.sub(REDACTED, path)
    if not sep:
        return path
    items = []
    for item in query.split("&"):
        name, eq, value = item.partition("=")
        if eq and (unquote_plus(name).strip().lower() in SENSITIVE_QUERY_PARAMS
                   or _JWT.search(unquote_plus(value))):
            value = REDACTED
        items.append(f"{name}{eq}{value}")
    return f"{path}?{'&'.join(items)}"


class RedactingAccessLogFilter(logging.Filter):
    """For ``uvicorn.access``, whose records are ``'%s - "%s %s HTTP/%s" %d'`` with the
    target (path and query) as the third argument."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_target(args[2]), *args[3:])
        return True


def install_access_log_redaction(logger_name: str = "uvicorn.access") -> None:
    """Idempotent: add :class:`RedactingAccessLogFilter` to the access logger."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactingAccessLogFilter) for f in logger.filters):
        logger.addFilter(RedactingAccessLogFilter())
