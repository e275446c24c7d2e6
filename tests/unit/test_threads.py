"""Where the hot routes' blocking work runs (api/threads.py): a small pool, or inline."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator

import pytest

from privguard.api import threads

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


@pytest.fixture(autouse=True)
def restore_default() -> Iterator[None]:
    yield
    threads.configure(4)


def where() -> tuple[str, str]:
    return threading.current_thread().name, request_id.get()


async def in_request() -> tuple[str, str]:
    request_id.set("r-1")
    return await threads.run_sync(where)


def test_pool_threads_carry_the_request_context() -> None:
    threads.configure(2)
    name, rid = asyncio.run(in_request())
    assert name.startswith("privguard-api") and rid == "r-1"


def test_zero_threads_runs_on_the_event_loop() -> None:
    threads.configure(0)
    loop_thread = threading.current_thread().name
    assert asyncio.run(in_request()) == (loop_thread, "r-1")


def test_negative_threads_are_refused() -> None:
    with pytest.raises(ValueError, match="threads"):
        threads.configure(-1)
