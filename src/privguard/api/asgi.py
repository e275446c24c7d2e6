"""ASGI factory for ``uvicorn --factory privguard.api.asgi:app`` (multi-worker serving).

Each worker process builds its own runtime from the environment, as any stateless replica
behind a load balancer would.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from privguard.api.app import create_app
from privguard.bootstrap import build_runtime
from privguard.config import load_settings


def app() -> ASGIApp:
    return create_app(build_runtime(load_settings()))
