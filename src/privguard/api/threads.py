"""Where the API's blocking work (SQLAlchemy, psycopg, the vault) runs: a plain thread pool.

FastAPI runs a ``def`` route in AnyIO's worker threads. For the hot routes (a gated read, a
lookup, a consent check, a registration) that hand-off cost more than the route's own work:
measured with benchmarks/load.py on 2 cores, a gated read took about 1.8 ms of a worker's CPU
through AnyIO's ``to_thread`` and about 1.1 ms through ``loop.run_in_executor`` on a
``ThreadPoolExecutor``, and the throughput rose by half. Those routes are ``async def`` and
call :func:`run_sync`; the others stay plain ``def`` routes, which is simpler to read and fine
where a request is rare or slow anyway.

The context (the request id and the caller's network for the access log, audit/context.py) is
copied into the thread, as FastAPI does. A client that disconnects does not stop the work: the
transaction finishes (or rolls back) in its thread, the same as with FastAPI's own pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_threads = 4
_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def configure(threads: int) -> None:
    """Set the pool's size (``PRIVGUARD_API_THREADS``) before the first request.

    Few threads are faster than many here: every thread runs Python under one interpreter lock,
    so threads beyond what the database round trips can overlap only take turns at the lock.
    Measured with benchmarks/load.py on 2 cores (PostgreSQL on the same machine, 16 clients):
    2 to 4 threads gave about 1,180 gated reads/s, 6 threads 830/s, 16 threads 940/s, and
    AnyIO's 40 about 900/s. A request waiting for a thread holds no database connection.

    0 runs that work on the event loop itself, one request at a time per process, as a
    synchronous server would: no hand-off between threads, whose cost depends on the machine
    (on a VM where waking a thread is slow it was a fifth of a read's CPU, benchmarks/
    read_cpu.py), but a process then waits idle through each database round trip, so serve
    with more worker processes than cores.
    """
    global _threads, _executor
    if threads < 0:
        raise ValueError("threads must be 0 (inline) or more")
    with _lock:
        if _executor is not None and threads != _threads:
            _executor.shutdown(wait=False)
            _executor = None
        _threads = threads


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(_threads, thread_name_prefix="privguard-api")
    return _executor


async def run_sync(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a worker thread, with this request's context; with 0
    threads, here on the event loop (see :func:`configure`)."""
    if _threads == 0:
        return fn(*args, **kwargs)
    context = contextvars.copy_context()
    call = functools.partial(context.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_pool(), call)
