"""Notifiers: how privguard sends a short message (a verification code) to a phone or mailbox.

A notifier is a small :class:`Notifier` protocol registered by name, like the key providers
(crypto/providers.py): ``outbox`` (the default, for development and tests), ``smtp``, or a
plug-in declared under the ``privguard.notifiers`` entry-point group, so an SMS gateway can be
added without touching privguard (docs/identity-verification.md).

Messages are handed over only after the caller's transaction commits
(:func:`send_after_commit`), for two reasons: the access-log entry of the gate read that found
the destination is durable before anything leaves the building, and no network round trip to a
mail or SMS server happens while a database transaction (on SQLite: the one write lock) is open.

A notifier is given the destination in plaintext, for the one send; it must never log it or
store it (design.md invariant 1). Errors it raises must not carry it either.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import event
from sqlalchemy.orm import Session

from privguard.plugins import Registry

__all__ = [
    "CHANNELS",
    "ENTRY_POINT_GROUP",
    "Notifier",
    "NotifierError",
    "NotifierFactory",
    "build_notifier",
    "notifier_factory",
    "register_notifier",
    "send_after_commit",
]

log = logging.getLogger("privguard.notify")

# The catalog fields a message can go to: the channel *is* the field the destination is read from.
CHANNELS = ("mobile_phone", "email")
ENTRY_POINT_GROUP = "privguard.notifiers"


class NotifierError(RuntimeError):
    """A message could not be sent, or no notifier can be built. Never names the destination."""


@runtime_checkable
class Notifier(Protocol):
    """Delivers one text message to one destination on one channel.

    ``channel`` is ``mobile_phone`` or ``email``; ``destination`` is the canonical value on file
    (E.164 phone, e-mail address). ``subject_id`` says whose destination it is, for notifiers
    that keep a record (the outbox); transports may ignore it.
    """

    name: str

    def send(
        self,
        channel: str,
        destination: str,
        message: str,
        *,
        subject_id: uuid.UUID | None = None,
    ) -> None: ...


NotifierFactory = Callable[..., Notifier]
_NOTIFIERS: Registry[NotifierFactory] = Registry(
    ENTRY_POINT_GROUP, "PRIVGUARD_NOTIFIER", "notifier", NotifierError
)


def register_notifier(name: str, factory: NotifierFactory) -> None:
    """Plug in a notifier under a ``PRIVGUARD_NOTIFIER`` name.

    Factories are called with keywords ``settings`` (:class:`privguard.config.Settings`),
    ``sessions`` (a sessionmaker) and ``indexer`` (the keyring's
    :class:`~privguard.crypto.blind_index.BlindIndexer`) and take what they need (``**_``).
    """
    _NOTIFIERS.register(name, factory)


def notifier_factory(name: str) -> NotifierFactory:
    """A registered notifier, or one a package declares under ``privguard.notifiers``."""
    return _NOTIFIERS.factory(name)


def build_notifier(settings: Any, **wiring: Any) -> Notifier:
    """The notifier ``settings.notifier`` names, built with ``settings`` and the wiring."""
    return notifier_factory(settings.notifier)(settings=settings, **wiring)


def _outbox(*, sessions: Any, indexer: Any, **_: Any) -> Notifier:
    from privguard.notify.notifiers import OutboxNotifier

    return OutboxNotifier(sessions, indexer)


def _smtp(*, settings: Any, **_: Any) -> Notifier:
    from privguard.notify.notifiers import SmtpNotifier

    return SmtpNotifier.from_settings(settings)


register_notifier("outbox", _outbox)
register_notifier("smtp", _smtp)


# ------------------------------------------------------------------ sending after commit
_PENDING = "privguard.notify.pending"
_HOOKED = "privguard.notify.hooked"


@dataclass(frozen=True)
class _Outgoing:
    notifier: Notifier
    channel: str
    destination: str
    message: str
    subject_id: uuid.UUID | None


def send_after_commit(
    session: Session,
    notifier: Notifier,
    channel: str,
    destination: str,
    message: str,
    *,
    subject_id: uuid.UUID | None = None,
) -> None:
    """Send ``message`` once ``session``'s transaction has committed; drop it on rollback.

    The plaintext destination waits in this session's memory only (``session.info``), for the
    one request. If sending fails the error propagates from ``commit()``: the data is committed
    by then, and the caller learns the message did not go out.
    """
    session.info.setdefault(_PENDING, []).append(
        _Outgoing(notifier, channel, destination, message, subject_id)
    )
    if not session.info.get(_HOOKED):
        session.info[_HOOKED] = True
        event.listen(session, "after_commit", _deliver)
        event.listen(session, "after_rollback", _discard)


def _deliver(session: Session) -> None:
    pending: list[_Outgoing] = session.info.pop(_PENDING, [])
    for i, out in enumerate(pending):
        try:
            out.notifier.send(out.channel, out.destination, out.message, subject_id=out.subject_id)
        except Exception as exc:
            # A plug-in's own error may quote the address it was given (smtplib's do), so it is
            # replaced by one that names only the channel, the notifier and the error's type.
            name = getattr(out.notifier, "name", type(out.notifier).__name__)
            log.error(
                "could not send a %s message with the %s notifier: %s (%d more not attempted)",
                out.channel,
                name,
                type(exc).__name__,
                len(pending) - i - 1,
            )
            raise NotifierError(
                f"could not send a {out.channel} message with the {name} notifier "
                f"({type(exc).__name__})"
            ) from None


def _discard(session: Session) -> None:
    session.info.pop(_PENDING, None)
