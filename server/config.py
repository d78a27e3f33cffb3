"""Settings from the environment, overridable by CLI flags (see ``server.__main__``)."""

from __future__ import annotations

import ipaddress
import math
import os
import pathlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit, urlunsplit

ROOT_DEFAULT = pathlib.Path(__file__).resolve().parent.parent
MAX_TICKET_TTL = 30.0
MIN_SEND_BUFFER = 4096  # below this the kernel rounds SO_SNDBUF up to its own minimum
HTTP_CHOICES = ("auto", "httptools", "h11")
LOOP_CHOICES = ("auto", "uvloop", "asyncio")
DB_URL_SCHEMES = ("postgresql", "postgres")


class ConfigError(ValueError):
    """The configuration cannot be used; the message says what to change."""


def is_loopback(host: str) -> bool:
    """``True`` for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_trusted_proxies(value: str) -> tuple[str, ...]:
    """``ZARIZ_TRUSTED_PROXIES``: comma-separated IP addresses and CIDR networks, each
    normalised. Strict, because uvicorn is not: it takes an entry it cannot parse (a typo,
    a network with host bits set) as a literal that matches nothing, silently."""
    entries: list[str] = []
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        try:
            entries.append(
                str(ipaddress.ip_network(item)) if "/" in item else str(ipaddress.ip_address(item))
            )
        except ValueError as exc:
            raise ValueError(
                f"expected IP addresses and CIDR networks (like 10.0.0.0/8), comma-separated; "
                f"{exc}"
            ) from exc
    return tuple(entries)


def is_db_url(value: str) -> bool:
    """``ZARIZ_DB`` / ``--db`` is a URL (``scheme://...``) rather than a SQLite file path."""
    return "://" in value


def redact_url(url: str) -> str:
    """``url`` with its password masked (for log lines and error messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"expected 1/0 (or true/false), got {value!r}")


_SSE_CLIENT_PAIRS = (("shared", "per-tab"), ("always", "lazy"))
MAX_SSE_IDLE_S = 3600.0


def parse_sse_client(value: str) -> str:
    """``ZARIZ_SSE_CLIENT``: how the app's tabs hold the stream by default, in the words
    of the browser's ``zariz.sse.config`` (``shared|per-tab``, ``always|lazy``,
    ``idle=N``), written into ``index.html`` as ``<meta name="zariz-sse">``; a tab's
    ``?sse=`` or ``localStorage['zariz.sse']`` still wins. The page ignores a word it does
    not know (an address typo must not stop it); the server refuses one, so a deployment's
    typo is seen at start, not as a silently ignored setting. Returns the words, spaced.

    >>> parse_sse_client("lazy, idle=10")
    'lazy idle=10'
    """
    words = [w for w in re.split(r"[\s,;]+", value.strip()) if w]
    for word in words:
        if any(word in pair for pair in _SSE_CLIENT_PAIRS):
            continue
        if word.startswith("idle="):
            try:
                seconds = float(word[5:])
            except ValueError:
                seconds = math.nan
            if math.isfinite(seconds) and 0 < seconds <= MAX_SSE_IDLE_S:
                continue
        raise ConfigError(
            f"unknown word {word!r}: use shared|per-tab, always|lazy and idle=N "
            f"(seconds, 0 < N <= {MAX_SSE_IDLE_S:g})"
        )
    for pair in _SSE_CLIENT_PAIRS:
        if all(choice in words for choice in pair):
            raise ConfigError(f"{pair[0]!r} and {pair[1]!r} contradict each other")
    if sum(word.startswith("idle=") for word in words) > 1:
        raise ConfigError("idle=N is given more than once")
    return " ".join(words)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    db_path: pathlib.Path = pathlib.Path("var/zariz.db")
    # A postgresql:// URL (ZARIZ_DB=postgresql://user:pass@host:5432/db) puts the storage
    # on PostgreSQL (server.db_pg) and ``db_path`` is unused; None is SQLite at db_path.
    db_url: str | None = None
    # None means "decide from host" (on iff loopback); resolved by ``validated()``.
    demo: bool | None = None
    demo_password: str | None = None
    access_ttl: float = 900.0
    refresh_ttl: float = 30 * 24 * 3600.0
    refresh_reuse_grace: float = 5.0
    ticket_ttl: float = 30.0
    ping_interval: float = 15.0
    retry_ms: int = 1000
    sse_queue: int = 256
    # SO_SNDBUF of every SSE socket, in bytes (Linux doubles it for its bookkeeping and
    # clamps it to net.core.wmem_max); 0 leaves the kernel's autotuning, which grows a
    # socket's buffer up to tcp_wmem's maximum (4 MB) - per stream that never reads.
    sse_send_buffer: int = 128 * 1024
    send_timeout: float = 10.0
    event_retention: int = 10_000
    max_body: int = 65_536
    demo_traffic: float = 0.0
    seed_orders: int = 0
    jwt_secret: str | None = None
    hub_url: str = "memory://"
    log_level: str = "info"
    root: pathlib.Path = field(default_factory=lambda: ROOT_DEFAULT)
    # A connection must deliver a request's headers within ``header_timeout`` seconds of
    # opening (or of its first byte after a keep-alive idle) and its body within
    # ``body_timeout`` seconds of the headers; slowloris-style clients are cut off.
    header_timeout: float = 5.0
    body_timeout: float = 10.0
    # argon2 runs at most this many hashes at once (memory: this x ARGON2 memory_cost);
    # at most ``login_queue`` more logins wait for a slot, later ones get 503.
    hash_concurrency: int = 2
    login_queue: int = 32
    # Failed logins allowed per username and per client address in ``login_window``
    # seconds (a burst of that many, then one per window/limit seconds); then 429.
    login_user_limit: int = 10
    login_addr_limit: int = 50
    login_window: float = 300.0
    # When set, ``GET /metrics`` needs ``Authorization: Bearer <token>``.
    metrics_token: str | None = None
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (uvicorn's
    # ``forwarded_allow_ips``). Empty: those headers are ignored, so no client can pick
    # the address that the per-address login limit counts. Set it to the reverse
    # proxy's address(es) when there is one: the client is then the rightmost
    # X-Forwarded-For entry that is not a trusted proxy, so whatever a client put in the
    # header before the proxy appended its address is ignored.
    trusted_proxies: tuple[str, ...] = ()
    # Dev mode: watch app/ and static/css/, announce changes on the event stream
    # (``dev.reload``) and serve ``GET /__dev/manifest``; the page hot-reloads. Strict:
    # the page mounts every component twice, so a missing cleanup shows at once.
    dev: bool = False
    dev_strict: bool = True
    # The HTTP parser and event loop under uvicorn: "auto" takes httptools and uvloop
    # when installed (the measured faster pair: bench/RESULTS.md, server fan-out), else
    # h11 and asyncio. Either parser gets the header/body read deadlines above.
    http: str = "auto"
    loop: str = "auto"
    # The page's default for holding the event stream (``parse_sse_client``): e.g.
    # "lazy idle=30" or "per-tab"; empty leaves the app's own (shared, always).
    sse_client: str = ""
    # The hub writes an event straight to an idle SSE stream's socket (httptools stack;
    # server.sse.EventStreamResponse); off, every event goes through the stream's task.
    sse_direct: bool = True

    @property
    def demo_enabled(self) -> bool:
        return is_loopback(self.host) if self.demo is None else self.demo

    @property
    def db_label(self) -> str:
        """Where the data lives, fit for a log line (a URL's password masked)."""
        return redact_url(self.db_url) if self.db_url is not None else str(self.db_path)

    def validated(self) -> Settings:
        """Resolve defaults and refuse unsafe or impossible combinations."""
        if self.db_url is not None and urlsplit(self.db_url).scheme not in DB_URL_SCHEMES:
            raise ConfigError(
                f"ZARIZ_DB: unsupported database URL {redact_url(self.db_url)!r}; give a "
                "SQLite file path or a postgresql://user:password@host:port/dbname URL"
            )
        if self.ticket_ttl <= 0 or self.ticket_ttl > MAX_TICKET_TTL:
            raise ConfigError(f"ZARIZ_TICKET_TTL must be in (0, {MAX_TICKET_TTL:g}] seconds")
        if self.access_ttl <= 0 or self.refresh_ttl <= 0:
            raise ConfigError("ZARIZ_ACCESS_TTL and ZARIZ_REFRESH_TTL must be positive")
        if self.seed_orders < 0:
            raise ConfigError("ZARIZ_SEED_ORDERS must be >= 0")
        if self.sse_queue < 1 or self.event_retention < 1 or self.max_body < 1:
            raise ConfigError("ZARIZ_SSE_QUEUE, ZARIZ_EVENT_RETENTION, ZARIZ_MAX_BODY must be >= 1")
        if self.header_timeout <= 0 or self.body_timeout <= 0 or self.login_window <= 0:
            raise ConfigError(
                "ZARIZ_HEADER_TIMEOUT, ZARIZ_BODY_TIMEOUT and ZARIZ_LOGIN_WINDOW must be positive"
            )
        if min(self.hash_concurrency, self.login_user_limit, self.login_addr_limit) < 1:
            raise ConfigError(
                "ZARIZ_HASH_CONCURRENCY, ZARIZ_LOGIN_USER_LIMIT and ZARIZ_LOGIN_ADDR_LIMIT "
                "must be >= 1"
            )
        try:  # normalised and checked again: Settings can be built without from_env
            trusted_proxies = parse_trusted_proxies(",".join(self.trusted_proxies))
        except ValueError as exc:
            raise ConfigError(f"ZARIZ_TRUSTED_PROXIES: {exc}") from exc
        if self.sse_send_buffer != 0 and self.sse_send_buffer < MIN_SEND_BUFFER:
            raise ConfigError(
                f"ZARIZ_SSE_SNDBUF must be 0 (the kernel's autotuning) or >= {MIN_SEND_BUFFER}"
            )
        if self.login_queue < 0:
            raise ConfigError("ZARIZ_LOGIN_QUEUE must be >= 0")
        if (self.ping_interval < 0 or self.demo_traffic < 0 or self.retry_ms < 0
                or self.refresh_reuse_grace < 0):
            raise ConfigError("intervals must not be negative")
        if self.http not in HTTP_CHOICES or self.loop not in LOOP_CHOICES:
            raise ConfigError(
                f"ZARIZ_HTTP must be one of {', '.join(HTTP_CHOICES)} and ZARIZ_LOOP one of "
                f"{', '.join(LOOP_CHOICES)}"
            )
        try:  # checked again: Settings can be built without from_env
            sse_client = parse_sse_client(self.sse_client)
        except ConfigError as exc:
            raise ConfigError(f"ZARIZ_SSE_CLIENT={self.sse_client!r}: {exc}") from exc
        demo = self.demo_enabled
        # A well-known password on a reachable interface would be an open door.
        if demo and not is_loopback(self.host) and not self.demo_password:
            raise ConfigError(
                f"demo mode on non-loopback host {self.host!r} needs ZARIZ_DEMO_PASSWORD "
                "(or turn demo mode off with ZARIZ_DEMO=0 / --no-demo)"
            )
        return replace(self, demo=demo, trusted_proxies=trusted_proxies, sse_client=sse_client)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``HOST``, ``PORT`` and ``ZARIZ_*`` variables (unset ones keep defaults)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        converters: dict[str, tuple[str, type | object]] = {
            "HOST": ("host", str),
            "PORT": ("port", int),
            "ZARIZ_DEMO": ("demo", _flag),
            "ZARIZ_DEMO_PASSWORD": ("demo_password", str),
            "ZARIZ_ACCESS_TTL": ("access_ttl", float),
            "ZARIZ_REFRESH_TTL": ("refresh_ttl", float),
            "ZARIZ_REFRESH_REUSE_GRACE": ("refresh_reuse_grace", float),
            "ZARIZ_TICKET_TTL": ("ticket_ttl", float),
            "ZARIZ_PING_INTERVAL": ("ping_interval", float),
            "ZARIZ_RETRY_MS": ("retry_ms", int),
            "ZARIZ_SSE_QUEUE": ("sse_queue", int),
            "ZARIZ_SSE_SNDBUF": ("sse_send_buffer", int),
            "ZARIZ_SSE_DIRECT": ("sse_direct", _flag),
            "ZARIZ_SEND_TIMEOUT": ("send_timeout", float),
            "ZARIZ_EVENT_RETENTION": ("event_retention", int),
            "ZARIZ_MAX_BODY": ("max_body", int),
            "ZARIZ_DEMO_TRAFFIC": ("demo_traffic", float),
            "ZARIZ_SEED_ORDERS": ("seed_orders", int),
            "ZARIZ_JWT_SECRET": ("jwt_secret", str),
            "ZARIZ_HUB": ("hub_url", str),
            "ZARIZ_LOG_LEVEL": ("log_level", str),
            "ZARIZ_ROOT": ("root", pathlib.Path),
            "ZARIZ_HEADER_TIMEOUT": ("header_timeout", float),
            "ZARIZ_BODY_TIMEOUT": ("body_timeout", float),
            "ZARIZ_HASH_CONCURRENCY": ("hash_concurrency", int),
            "ZARIZ_LOGIN_QUEUE": ("login_queue", int),
            "ZARIZ_LOGIN_USER_LIMIT": ("login_user_limit", int),
            "ZARIZ_LOGIN_ADDR_LIMIT": ("login_addr_limit", int),
            "ZARIZ_LOGIN_WINDOW": ("login_window", float),
            "ZARIZ_METRICS_TOKEN": ("metrics_token", str),
            "ZARIZ_TRUSTED_PROXIES": ("trusted_proxies", parse_trusted_proxies),
            "ZARIZ_DEV": ("dev", _flag),
            "ZARIZ_DEV_STRICT": ("dev_strict", _flag),
            "ZARIZ_HTTP": ("http", str),
            "ZARIZ_LOOP": ("loop", str),
            "ZARIZ_SSE_CLIENT": ("sse_client", parse_sse_client),
        }
        database = env.get("ZARIZ_DB")
        if database:  # a path (SQLite) or a URL (PostgreSQL), told apart by "://"
            if is_db_url(database):
                values["db_url"] = database
            else:
                values["db_path"] = pathlib.Path(database)
        for var, (attr, convert) in converters.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            try:
                values[attr] = convert(raw)  # type: ignore[operator]
            except ValueError as exc:
                raise ConfigError(f"{var}={raw!r}: {exc}") from exc
        return cls(**values)  # type: ignore[arg-type]
