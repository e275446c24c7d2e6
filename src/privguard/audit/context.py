"""The request id of the work in progress, so every access-log entry can name its request.

The API middleware binds one per HTTP request (the caller's ``X-Request-ID`` if it is sane,
else a new one); CLI commands bind one per command. A context variable keeps it out of every
service signature while staying correct across threads and async tasks.

The middleware also binds the caller's network (``client_network``: the /24 of an IPv4
address, the /48 of an IPv6 one, never the address itself), which the access log keeps as
``detail.net`` so anomaly detection can notice access from a new network (cases/anomaly_rules.py).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache

_request_id: ContextVar[str | None] = ContextVar("privguard_request_id", default=None)
_network: ContextVar[str | None] = ContextVar("privguard_client_network", default=None)
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


def current_network() -> str | None:
    """The caller's network (see :func:`client_network`), or None outside an HTTP request."""
    return _network.get()


@lru_cache(maxsize=4096)  # parsing an address cost ~20 µs a request (benchmarks/load.py)
def client_network(host: str | None) -> str | None:
    """The network a caller's address belongs to: /24 for IPv4, /48 for IPv6 (an IPv4-mapped
    IPv6 address counts as IPv4). The full address is never kept: the network is enough to
    notice a new place of access, and an employee's exact address is their own personal
    information. None for anything that is not an IP address (a Unix socket, a test client)."""
    if not host:
        return None
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


@contextmanager
def request_scope(request_id: str | None = None, *, network: str | None = None) -> Iterator[str]:
    rid = new_request_id(request_id)
    token = _request_id.set(rid)
    net_token = _network.set(network)
    try:
        yield rid
    finally:
        _network.reset(net_token)
        _request_id.reset(token)


def bind_request_id(request_id: str | None = None) -> str:
    """Set the id for the rest of this context (a CLI command is one request)."""
    rid = new_request_id(request_id)
    _request_id.set(rid)
    return rid
