"""``python -m server [--host H] [--port P] [--db PATH_OR_URL] [--demo/--no-demo] [--demo-traffic S]
[--dev [--no-dev-strict]]``.

Environment variables (see ``server.config``) give the defaults; flags override them.
uvicorn runs one process on httptools + uvloop when they are installed (``ZARIZ_HTTP`` /
``ZARIZ_LOOP``, see :func:`resolve_stack`), with read deadlines on either HTTP parser.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import gc
import importlib.util
import logging
import pathlib
import socket
import sys
from collections.abc import Sequence
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from server.app import create_app
from server.config import ConfigError, Settings, is_db_url, is_loopback
from server.middleware import guarded_h11, install_access_log_redaction

GRACEFUL_SHUTDOWN_S = 3


class Server(uvicorn.Server):
    """uvicorn, plus: on SIGTERM/SIGINT end every SSE stream at once (``hub.close_all``
    closes their subscriptions; each stream then ends its body), so shutdown with open
    streams is quick."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self._app = app
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and not self._loop.is_closed():
            # Signal handlers are not loop callbacks: hand the work to the loop.
            self._loop.call_soon_threadsafe(self._app.state.hub.close_all, "shutdown")


def guarded_http(http: str, header_timeout: float, body_timeout: float) -> type[asyncio.Protocol]:
    """The protocol class for ``uvicorn.Config(http=)``: ``http`` ("h11" or "httptools")
    with the read deadlines."""
    if http == "h11":
        return guarded_h11(header_timeout, body_timeout)
    # Imported here: without httptools installed, h11 must still work.
    from server.httptools_guard import GuardedHttpToolsProtocol

    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,),
                {"header_timeout": header_timeout, "body_timeout": body_timeout})


def resolve_stack(settings: Settings) -> tuple[str, str]:
    """``(http, loop)`` for uvicorn: "auto" picks httptools and uvloop when installed.

    Measured (bench/RESULTS.md, server fan-out): the pair cut the server's CPU per
    delivered event by about a quarter against h11 on asyncio; the memory per stream
    barely moved. Explicit, never uvicorn's own "auto": the stack is logged at start-up
    and stays the same whatever else gets installed."""
    http = settings.http
    if http == "auto":
        http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    elif http == "httptools" and not importlib.util.find_spec("httptools"):
        raise ConfigError("ZARIZ_HTTP=httptools, but httptools is not installed; use h11")
    loop = settings.loop
    if loop == "auto":
        loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    elif loop == "uvloop" and not importlib.util.find_spec("uvloop"):
        raise ConfigError("ZARIZ_LOOP=uvloop, but uvloop is not installed; use asyncio")
    return http, loop


def parse_args(argv: Sequence[str] | None, base: Settings) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m server",
        description="The Zariz reference backend. Flags override HOST, PORT and ZARIZ_* env.",
    )
    parser.add_argument("--host", default=base.host, help="bind address (HOST)")
    parser.add_argument("--port", type=int, default=base.port, help="port (PORT)")
    parser.add_argument("--db", default=None, metavar="PATH_OR_URL",
                        help="SQLite file or postgresql:// URL (ZARIZ_DB, default "
                             "var/zariz.db)")
    parser.add_argument("--demo", action=argparse.BooleanOptionalAction, default=base.demo,
                        help="user demo/demo (ZARIZ_DEMO; default: on iff host is loopback)")
    parser.add_argument("--demo-traffic", type=float, default=base.demo_traffic,
                        metavar="SECONDS",
                        help="create/advance demo orders every SECONDS (ZARIZ_DEMO_TRAFFIC)")
    parser.add_argument("--seed-orders", type=int, default=base.seed_orders,
                        help="fill an empty database with N demo orders (ZARIZ_SEED_ORDERS)")
    parser.add_argument("--dev", action=argparse.BooleanOptionalAction, default=base.dev,
                        help="hot reload: watch app/ and static/css/ and tell open pages "
                             "(ZARIZ_DEV)")
    parser.add_argument("--dev-strict", action=argparse.BooleanOptionalAction,
                        default=base.dev_strict,
                        help="in dev mode, pages mount every component twice to catch "
                             "missing cleanups (ZARIZ_DEV_STRICT, default on)")
    args = parser.parse_args(argv)
    if args.db is not None:  # the flag names the database, whichever kind ZARIZ_DB named
        base = dataclasses.replace(
            base, db_url=args.db if is_db_url(args.db) else None,
            db_path=base.db_path if is_db_url(args.db) else pathlib.Path(args.db),
        )
    return dataclasses.replace(
        base, host=args.host, port=args.port, demo=args.demo,
        demo_traffic=args.demo_traffic, seed_orders=args.seed_orders, dev=args.dev,
        dev_strict=args.dev_strict,
    )


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything says where to go: a port in use is
    reported as such, not after "serving on ..." (uvicorn binds late). Raises OSError."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = parse_args(argv, Settings.from_env()).validated()
        http, loop = resolve_stack(settings)
    except ConfigError as exc:
        print(f"zariz server: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = f" (another server? stop it, or use PORT={settings.port + 1})"
        print(f"zariz server: cannot listen on {settings.host}:{settings.port}: "
              f"{exc.strerror}{hint}", file=sys.stderr)
        return 1
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, lifespan="on",
        loop=loop,
        # Slow-open connections are closed (uvicorn alone has no header/body deadline).
        http=guarded_http(http, settings.header_timeout, settings.body_timeout),
        # X-Forwarded-For only from the proxies named in ZARIZ_TRUSTED_PROXIES. uvicorn's
        # default (on, trusting 127.0.0.1) let any loopback client - every client of a
        # same-host proxy that passes the header through - pick its request.client, and
        # so a fresh per-address login bucket for every attempt.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
    )
    # After Config: it (re)configures uvicorn's loggers. Tickets never reach the log.
    install_access_log_redaction()
    log = logging.getLogger("zariz")
    if not settings.metrics_token and not is_loopback(settings.host):
        log.warning("GET /metrics is open to anyone who can reach %s; set "
                    "ZARIZ_METRICS_TOKEN to require a Bearer token", settings.host)
    log.info(
        "serving on http://%s:%d (db=%s, demo=%s, X-Forwarded-For trusted from: %s, "
        "%s on %s)", settings.host, settings.port, settings.db_label, settings.demo_enabled,
        ", ".join(settings.trusted_proxies) or "nobody", http, loop,
    )
    if not (settings.root / "static" / "vendor" / "pyodide" / "pyodide.mjs").is_file():
        # The API works without it, but the page cannot boot Python.
        log.warning("static/vendor/ is missing: run `make setup` (npm ci) to serve the app")
    if settings.dev:
        log.info("dev mode on (strict double mounts %s): watching %s/app and %s/static/css "
                 "for hot reload", "on" if settings.dev_strict else "off",
                 settings.root, settings.root)
    if settings.demo_enabled:
        log.info("open http://%s:%d/dashboard/orders and log in as demo / %s",
                 settings.host, settings.port,
                 "demo" if not settings.demo_password else "<ZARIZ_DEMO_PASSWORD>")
    # Every open stream holds a couple of hundred GC-tracked objects (connection, request
    # cycle, frames, subscription); at thousands of streams a full collection paused
    # fan-out for 1-3 s (bench/RESULTS.md). Freeze what start-up built and collect young
    # objects less often; the older generations keep their default pace so garbage of
    # closed streams (token expiry makes every stream reconnect) does not pile up between
    # full passes.
    gc.freeze()
    gc.set_threshold(100_000, 10, 10)
    Server(config, app).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
