"""Prometheus metrics (prometheus-client): requests by route template and status, their
latency, and the gate's decisions by rule and view.

Labels never hold a raw path, an id or a value: the route is the template FastAPI matched
(``/v1/subjects/{subject_id}``), or ``unmatched`` / ``rejected`` when no route was reached, so
neither a subject id nor a phone number typed into a URL can become a label (design.md
invariant 1, "metrics labels").

The metric objects live at module level, as prometheus-client expects: its multi-process mode
(several uvicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` set before start) picks where values are
kept when the library is imported, and one set of metrics per process is what is scraped.
"""

from __future__ import annotations

import os
import time
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "privguard_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "privguard_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
GATE_DECISIONS = Counter(
    "privguard_gate_decisions_total",
    "Decisions of the access gate written to the access log, by action, rule and view "
    "(view none = refused).",
    ["action", "rule", "view"],
)

GROUP_COMMIT_ROWS = Histogram(
    "privguard_access_log_group_commit_rows",
    "Access-log rows of concurrent API reads written by one statement (store/group_commit.py): "
    "the batches grow with the load.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)

UNMATCHED = "unmatched"  # no route: a 404 or 405 for a path that is not the API's
REJECTED = "rejected"  # answered before routing (body too large, rate limit)


def count_decisions(action: str, decisions: Iterable[tuple[str, str]]) -> None:
    """Count one access-log entry's decisions, given as (rule, view) pairs."""
    for (rule, view), n in Tally(decisions).items():
        GATE_DECISIONS.labels(action, rule, view).inc(n)


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("privguard_rejected"):
        return REJECTED
    return UNMATCHED


class RequestMetrics:
    """ASGI middleware counting every HTTP response by (method, route template, status)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = []

        async def send_counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            code = status[0] if status else 500
            method = scope.get("method", "GET")
            if method not in _METHODS:
                method = "other"  # the method is caller-chosen text: keep the label set closed
            route = _route_label(scope)
            REQUESTS.labels(method, route, str(code)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def registry() -> CollectorRegistry:
    """What /metrics exposes: this process's metrics, or with several worker processes
    (``PROMETHEUS_MULTIPROC_DIR`` set) the sum over all of them."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return merged
    return DEFAULT_REGISTRY


def exposition() -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST
