"""A per-API-key token bucket, in process: a runaway script or a stolen key is slowed to the
configured rate instead of taking the database with it.

Each key's bucket holds up to ``burst`` requests and refills at ``per_minute / 60`` a second; a
request finding it empty gets 429 with ``Retry-After`` (whole seconds until one token is back)
and never reaches the app, so it writes nothing. Keyed by the API key's id (the part before the
dot, which is not secret); requests without a key are not limited here. The
buckets are per process: with N worker processes (or N replicas) a key gets up to N times the
rate, which docs/operations.md tells operators to account for (or to enforce the limit at the
reverse proxy instead).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from privguard.actors.service import offered_token

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapers are never limited
MAX_BUCKETS = 100_000  # least recently used buckets beyond this are dropped (a full one again)


def retry_after(wait: float) -> int:
    """The ``Retry-After`` value for a wait of ``wait`` seconds: whole seconds, rounded up,
    at least 1 (a client told 0 would retry at once)."""
    return max(1, math.ceil(wait))


class TokenBuckets:
    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be positive and burst at least 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if a token was taken, else the seconds until one will be there."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                wait = 0.0
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
        return wait


def bucket_key(scope: Scope) -> str | None:
    """The API key id of the request, or None for a request without one (the web pages'
    cookie sessions, public pages): behind a proxy they would all share the proxy's address,
    so they are left to the proxy's own limits (docs/operations.md). The key is read as
    authentication reads it (actors/service.offered_token), so the key that authenticates a
    request is always the one whose bucket it takes."""
    token = offered_token(Headers(scope=scope))
    if token:
        return "key:" + token.partition(".")[0][:32]
    return None


class RateLimit:
    """ASGI middleware applying :class:`TokenBuckets` before the body is read."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = None if scope["type"] != "http" or scope.get("path") in EXEMPT else bucket_key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(key)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        scope["privguard_rejected"] = True
        retry = retry_after(wait)
        body = json.dumps(
            {
                "error": {
                    "code": "rate_limited",
                    "message": f"too many requests for this API key; retry in {retry} s",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
