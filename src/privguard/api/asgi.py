"""ASGI factory for ``uvicorn --factory privguard.api.asgi:app`` (multi-worker serving).

Each worker process builds its own runtime from the environment, as any stateless replica
behind a load balancer would.
"""

from __future__ import annotations

import gc

from starlette.types import ASGIApp

from privguard.api.app import create_app
from privguard.bootstrap import Runtime, build_runtime
from privguard.config import load_settings


def app() -> ASGIApp:
    return serving(build_runtime(load_settings()))


def serving(runtime: Runtime) -> ASGIApp:
    """The app for a server process (``privguard serve``), its start-up heap frozen.

    Everything built so far (routes, models, metadata, the catalog, the policy) lives as long
    as the process: frozen, the collector's full passes stop walking it again and again, which
    showed as stalls of 100 ms and more in the p99 of benchmarks/load.py. Not for tests, which
    build many apps in one process (what is frozen is never collected).
    """
    served = create_app(runtime)
    gc.collect()
    gc.freeze()
    return served
