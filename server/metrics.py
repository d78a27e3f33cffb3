"""Prometheus metrics, one ``CollectorRegistry`` per app so in-process tests don't collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response


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


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
