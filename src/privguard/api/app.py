"""The FastAPI application. Built by :func:`create_app` from a runtime; nothing at import."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from sqlalchemy import text
from starlette.types import ASGIApp

from privguard import __version__
from privguard.actors.auth_listener import AuthChangeListener
from privguard.api.deps import SECURITY_SCHEMES, ActorDep, current_actor
from privguard.api.errors import ErrorResponse, install_error_handlers
from privguard.api.middleware import BodySizeLimit, RequestId
from privguard.api.threads import configure as configure_threads
from privguard.bootstrap import Runtime
from privguard.ops.metrics import RequestMetrics
from privguard.ops.ratelimit import RateLimit, TokenBuckets

STATIC = Path(__file__).parent / "static"

DESCRIPTION = """
privguard sits between customers' personal information and everyone who touches it.

* Authenticate with an API key: `Authorization: Bearer pgk_….<secret>` (or `X-API-Key`).
* Every read states a `purpose`; the policy decides per field and the decision is logged.
* Personal information never travels in a URL: lookups send the value in the body.
* Errors are `{"error": {"code": …, "message": …, "fields": [{"field", "rule", "message"}]}}`.
"""


class Me(BaseModel):
    actor_id: uuid.UUID | None
    role: str
    organisation_id: uuid.UUID | None
    display_name: str
    subject_id: uuid.UUID | None = None


class Health(BaseModel):
    status: str
    version: str


COMMON_RESPONSES: dict[int | str, dict[str, object]] = {
    # What any route may answer before or beside its own logic (api/middleware.py,
    # ops/ratelimit.py, api/errors.py): documented once for all, so clients and the schema
    # fuzzer (tests/integration/test_fuzz.py) know them.
    413: {"model": ErrorResponse, "description": "Request body larger than the limit."},
    429: {"model": ErrorResponse, "description": "Rate limit of this API key; see Retry-After."},
    503: {"model": ErrorResponse, "description": "Database unavailable; see Retry-After."},
}


def _auth_listener(runtime: Runtime) -> AuthChangeListener | None:
    """On PostgreSQL, the listener that keeps this process's authentication cache live
    (actors/auth_cache.py); none on SQLite or with PRIVGUARD_AUTH_CACHE_SECONDS=0."""
    if runtime.engine.dialect.name != "postgresql" or runtime.settings.auth_cache_seconds <= 0:
        return None
    listener = AuthChangeListener(runtime.engine, runtime.auth_cache)
    listener.start()
    return listener


def _serving_lifespan(
    runtime: Runtime,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """What runs beside the requests while this process serves: the access-log sequencer
    (design.md "Access log") and the authentication cache's listener.

    Every replica may run a sequencer; they take turns (audit/sequencer.py).
    PRIVGUARD_SEQUENCER_INTERVAL = 0 leaves it off, e.g. when `privguard audit sequence` runs
    from a scheduler instead.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from privguard.audit.sequencer import BackgroundSequencer

        interval = runtime.settings.sequencer_interval
        sequencer = None
        if interval > 0:
            sequencer = BackgroundSequencer(runtime.sessions, runtime.signer, interval)
        app.state.sequencer = sequencer
        if sequencer is not None:
            sequencer.start()
        listener = _auth_listener(runtime)
        app.state.auth_listener = listener
        try:
            yield
        finally:
            if listener is not None:
                await asyncio.to_thread(listener.stop)
            if sequencer is not None:
                await asyncio.to_thread(sequencer.stop)
            # Graceful shutdown (SIGTERM): the sequencer's batch has committed; close the pool.
            runtime.engine.dispose()

    return lifespan


def _authenticated(dependant: Dependant) -> bool:
    return any(d.call is current_actor or _authenticated(d) for d in dependant.dependencies)


def _document_security(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Names the API-key schemes in the OpenAPI document, on every operation that
    authenticates (those that depend on :func:`~privguard.api.deps.current_actor`), as FastAPI
    would for security dependencies, which current_actor no longer uses (api/deps.py).

    The routes are read from the routers as built (each route's path is final: they are
    included without a further prefix), not from the app, whose included routers FastAPI keeps
    in a private form."""
    generate = app.openapi
    authenticated = [
        (route.path_format, method.lower())
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        and _authenticated(route.dependant)
        for method in route.methods
    ]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            for path, method in authenticated:
                operation = schema["paths"][path][method]
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_fastapi(runtime: Runtime) -> FastAPI:
    from privguard.audit.api import router as audit_router
    from privguard.cases.anomaly_api import router as anomaly_router
    from privguard.cases.api import router as cases_router
    from privguard.catalog.api import router as catalog_router
    from privguard.consent.api import router as consent_router
    from privguard.consent.notice_api import router as notice_router
    from privguard.detect.api import router as detect_router
    from privguard.detect.messages_api import router as messages_router
    from privguard.marketplace.api import router as marketplace_router
    from privguard.policy.api import router as policy_router
    from privguard.reports.api import router as reports_router
    from privguard.rights.api import router as rights_router
    from privguard.rights.holds_api import router as holds_router
    from privguard.sharing.api import router as sharing_router
    from privguard.sharing.relay_api import router as relay_router
    from privguard.sharing.waybill_api import router as waybill_router
    from privguard.vault.api import router as vault_router
    from privguard.web.center import router as center_router
    from privguard.web.console import router as console_router
    from privguard.web.pages import STATIC as WEB_STATIC
    from privguard.web.pages import router as web_router

    app = FastAPI(
        title="privguard",
        version=__version__,
        description=DESCRIPTION,
        responses=COMMON_RESPONSES,
        docs_url=None,  # served below from our own copy of Swagger UI, not a CDN
        redoc_url=None,
        lifespan=_serving_lifespan(runtime),
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/web-static", StaticFiles(directory=WEB_STATIC), name="web-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="privguard API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    app.state.runtime = runtime
    install_error_handlers(app)
    routers = [
        vault_router,
        catalog_router,
        policy_router,
        audit_router,
        marketplace_router,
        consent_router,
        rights_router,
        holds_router,
        notice_router,
        waybill_router,
        sharing_router,
        relay_router,
        cases_router,
        messages_router,
        anomaly_router,
        detect_router,
        reports_router,
        # The pages after the API: routes are matched in order, one by one, and an API call
        # should not first be tried against forty page routes (benchmarks/load.py).
        web_router,
        center_router,  # the privacy center's pages (web/center.py)
        console_router,  # the compliance console's pages (web/console.py)
    ]
    for router in routers:
        app.include_router(router)

    @app.get("/healthz", response_model=Health, tags=["meta"], summary="Liveness")
    def healthz() -> Health:
        """The process answers. Use /readyz to know whether it can serve requests."""
        return Health(status="ok", version=__version__)

    @app.get(
        "/readyz",
        response_model=Health,
        tags=["meta"],
        summary="Readiness",
        responses={503: {"model": ErrorResponse, "description": "Database unavailable."}},
    )
    def readyz() -> Health:
        """The database answers; a load balancer should route here only when this is 200."""
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return Health(status="ready", version=__version__)

    if runtime.settings.metrics:

        @app.get(
            "/metrics",
            tags=["meta"],
            summary="Prometheus metrics",
            response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}}}},
        )
        def metrics() -> Response:
            """Requests by route template and status, latency, gate decisions by rule and view
            (ops/metrics.py). No label holds an id or a value."""
            from privguard.ops.metrics import exposition

            body, content_type = exposition()
            return Response(body, media_type=content_type)

    @app.get("/v1/me", response_model=Me, tags=["meta"], summary="Who am I")
    def me(actor: ActorDep) -> Me:
        return Me(
            actor_id=actor.actor_id,
            role=actor.role.value,
            organisation_id=actor.organisation_id,
            display_name=actor.display_name,
            subject_id=actor.subject_id,
        )

    _document_security(app, [*routers, app.router])
    return app


def create_app(runtime: Runtime) -> ASGIApp:
    """The ASGI app to serve: the API behind the body-size limit."""
    if runtime.settings.require_pia:
        # Refuse a policy whose PIA-needing processing lacks a signed assessment (docs/reports.md).
        from privguard.clock import utcnow
        from privguard.reports.service import require_activation

        require_activation(runtime, now=utcnow())
    settings = runtime.settings
    configure_threads(settings.api_threads)
    app = create_fastapi(runtime)
    inner: ASGIApp = BodySizeLimit(app, settings.max_body_bytes)
    if settings.rate_limit_per_minute > 0:
        # Before the body is read: a client over its rate costs no parsing and no database.
        inner = RateLimit(
            inner, TokenBuckets(settings.rate_limit_per_minute, settings.rate_limit_burst)
        )
    if settings.metrics:
        inner = RequestMetrics(inner)  # counts the 413s and 429s answered inside it too
    # The request id wraps everything, so even a 413 from the size limit carries one.
    limited = RequestId(inner)
    limited.fastapi = app  # type: ignore[attr-defined]  # tests and openapi export reach it
    return limited
