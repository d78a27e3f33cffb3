"""Prometheus metrics, one ``CollectorRegistry`` per app so in-process tests don't collide.

``GET /metrics`` is open unless ``ZARIZ_METRICS_TOKEN`` is set - intended: it serves
counters and gauges only (streams, events, auth failures; no names, ids or credentials),
and Prometheus scrapes without credentials by default. Set the token when the port is
reachable by anyone who should not see traffic volumes; then the scraper sends
``Authorization: Bearer <token>`` (Prometheus: ``authorization: {credentials: ...}``) and
everything else gets 401. The server warns at start-up when it listens beyond loopback
with metrics open.
"""

from __future__ import annotations

import hmac

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from server.errors import unauthorized


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.open_streams = Gauge(
            "zariz_sse_open_streams", "SSE streams currently open", registry=r
        )
        self.streams_opened = Counter(
            "zariz_sse_streams_opened", "SSE streams opened", registry=r
        )
        self.events_published = Counter(
            "zariz_events_published", "Events published to the hub after commit", registry=r
        )
        self.events_replayed = Counter(
            "zariz_events_replayed", "Events sent from the log on resume", registry=r
        )
        self.slow_consumers_dropped = Counter(
            "zariz_sse_slow_consumers_dropped",
            "SSE streams ended because their bounded queue was full",
            registry=r,
        )
        self.auth_failures = Counter(
            "zariz_auth_failures", "Rejected credentials", ["endpoint"], registry=r
        )


def metrics_authorized(request: Request, token: str | None) -> bool:
    if not token:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Constant time: the comparison must not tell how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


async def metrics_endpoint(request: Request) -> Response:
    if not metrics_authorized(request, request.app.state.settings.metrics_token):
        raise unauthorized("GET /metrics needs the Bearer token set in ZARIZ_METRICS_TOKEN.")
    metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
