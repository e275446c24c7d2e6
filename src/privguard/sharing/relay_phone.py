"""Telephony for contact relays: a small :class:`Telephony` protocol registered by name.

Like the notifiers (notify/__init__.py), a provider is chosen by ``PRIVGUARD_RELAY_TELEPHONY``:
``disabled`` (the default: every call and SMS is refused with 503 before anything is read), or
a plug-in registered with :func:`register_telephony` or declared under the
``privguard.telephony`` entry-point group, so a carrier's or a cloud provider's privacy-number
API (the "AXB / AXN" binding products) can be added without touching privguard. The test double
is :class:`privguard.testing.RecordingTelephony`; docs/relays.md shows an adapter.

A provider is handed the buyer's real number for one connection, after the relay's checks and
the gate's read (whose access-log entry has committed by then). It must not log or store it,
and its errors must not carry it (design.md invariant 1). It returns the provider's id of the
call or message, which privguard hands back to the caller instead of any number.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from privguard.plugins import Registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "CallRequest",
    "SmsRequest",
    "Telephony",
    "TelephonyError",
    "TelephonyUnavailable",
    "build_telephony",
    "register_telephony",
    "telephony_factory",
]

ENTRY_POINT_GROUP = "privguard.telephony"


class TelephonyError(RuntimeError):
    """A call or SMS could not be handed to the provider. Never names a number."""


class TelephonyUnavailable(TelephonyError):
    """No provider is configured, or the configured one cannot be built."""


@dataclass(frozen=True)
class CallRequest:
    """Connect ``caller`` to the buyer behind the alias.

    ``number`` and ``extension`` are the alias the caller dialled or clicked (both sides see
    this number as the other's); ``destination`` is the buyer's real number, E.164, for this
    connection only; ``caller`` is the calling actor's id, which the provider maps to the
    line or app seat it rings first (privguard holds no staff phone numbers). ``reference`` is
    privguard's id of the contact (the relay event), for the provider's call records.
    """

    number: str
    extension: str
    destination: str
    caller: uuid.UUID
    reference: str

    def __repr__(self) -> str:  # the destination never reaches a log through repr()
        return f"CallRequest(number={self.number!r}, extension={self.extension!r}, ...)"


@dataclass(frozen=True)
class SmsRequest:
    """Send ``text`` to the buyer behind the alias, from the alias's number and extension."""

    number: str
    extension: str
    destination: str
    text: str
    sender: uuid.UUID
    reference: str

    def __repr__(self) -> str:
        return f"SmsRequest(number={self.number!r}, extension={self.extension!r}, ...)"


@runtime_checkable
class Telephony(Protocol):
    """A telephony provider: connects calls and sends SMS through platform numbers.

    Both methods return the provider's id of the call or message and raise
    :class:`TelephonyError` (without the number in it) when the provider refuses or fails.
    """

    name: str

    def connect_call(self, call: CallRequest) -> str: ...

    def send_sms(self, sms: SmsRequest) -> str: ...


TelephonyFactory = Callable[..., Telephony]
_PROVIDERS: Registry[TelephonyFactory] = Registry(
    ENTRY_POINT_GROUP, "PRIVGUARD_RELAY_TELEPHONY", "telephony provider", TelephonyUnavailable
)


def register_telephony(name: str, factory: TelephonyFactory) -> None:
    """Plug in a provider under a ``PRIVGUARD_RELAY_TELEPHONY`` name.

    Factories are called with the keyword ``settings`` (:class:`privguard.config.Settings`) for
    each connection, and take what they need (``**_``); one that holds a client should keep it
    itself rather than open one per call.
    """
    _PROVIDERS.register(name, factory)


def telephony_factory(name: str) -> TelephonyFactory:
    return _PROVIDERS.factory(name)


def build_telephony(settings: Any, **wiring: Any) -> Telephony:
    """The provider ``settings.relay_telephony`` names."""
    return telephony_factory(settings.relay_telephony)(settings=settings, **wiring)


def _disabled(**_: Any) -> Telephony:
    raise TelephonyUnavailable(
        "no telephony provider is configured (set PRIVGUARD_RELAY_TELEPHONY, docs/relays.md)"
    )


register_telephony("disabled", _disabled)
