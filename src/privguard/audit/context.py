"""The request id of the work in progress, so every access-log entry can name its request.

The API middleware binds one per HTTP request (the caller's ``X-Request-ID`` if it is sane,
else a new one); CLI commands bind one per command. A context variable keeps it out of every
service signature while staying correct across threads and async tasks.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("privguard_request_id", default=None)
# Only a UUID is taken from the caller: anything freer (digits, tokens) could be a phone, card
# or ID number, and the request id is stored in the access log and handed out in proofs.
_SANE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def current_request_id() -> str | None:
    return _request_id.get()


def new_request_id(offered: str | None = None) -> str:
    """The caller's id when it is a UUID (it lands in the log), else a fresh one."""
    if offered and _SANE.match(offered):
        return offered
    return uuid.uuid4().hex


@contextmanager
def request_scope(request_id: str | None = None) -> Iterator[str]:
    rid = new_request_id(request_id)
    token = _request_id.set(rid)
    try:
        yield rid
    finally:
        _request_id.reset(token)


def bind_request_id(request_id: str | None = None) -> str:
    """Set the id for the rest of this context (a CLI command is one request)."""
    rid = new_request_id(request_id)
    _request_id.set(rid)
    return rid
