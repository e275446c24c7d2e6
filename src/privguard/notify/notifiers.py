"""The notifiers privguard ships: the development outbox, SMTP e-mail, and an SMS adapter.

None of them writes a phone number, an e-mail address or a message text to the database or a
log (design.md invariant 1). The outbox in particular stores only *keyed* hashes: a plain
SHA-256 of a Chinese mobile number is reversed by trying the ~10^10 possible numbers, and one of
a message holding a 6-digit code by trying 10^6 codes, so an unkeyed hash would be plaintext in
disguise. The key is derived from the keyring's index root (as blind indexes are), so a copy of
the database without the keyring reveals neither.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from privguard.clock import utcnow
from privguard.crypto.blind_index import BlindIndexer
from privguard.notify import Notifier, NotifierError
from privguard.store.base import Base, UTCDateTime
from privguard.store.uow import unit_of_work

log = logging.getLogger("privguard.notify")


class OutboxMessage(Base):
    """One message the ``outbox`` notifier accepted: who and when, never what or where.

    ``destination_hash`` and ``body_hash`` are HMAC-SHA256 (truncated to 128 bits, hex) under
    keys derived from the keyring, so an operator holding the keyring can confirm that a given
    address received a given text, and a reader of the database alone learns nothing.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(16))
    destination_hash: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("subjects.subject_id"), nullable=True, index=True
    )
    body_hash: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class SentMessage:
    """A message as the outbox keeps it in memory: the text, but not the destination."""

    channel: str
    destination_hash: str
    subject_id: uuid.UUID | None
    message: str
    created_at: datetime


def _normalise_destination(channel: str, destination: str) -> str:
    text = destination.strip()
    return text.lower() if channel == "email" else text


class OutboxNotifier:
    """Development and test notifier: records each message instead of delivering it.

    The row (keyed hashes only) is written in its own short transaction; the message text is
    kept in this process's memory, newest ``keep`` only, so a developer or a test can read the
    code with :meth:`messages_to`. Nothing is delivered: a deployment that leaves
    ``PRIVGUARD_NOTIFIER=outbox`` verifies nobody, which fails safe.
    """

    name = "outbox"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        indexer: BlindIndexer,
        *,
        keep: int = 100,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._indexer = indexer
        self._clock = clock
        self.sent: deque[SentMessage] = deque(maxlen=keep)

    def destination_hash(self, channel: str, destination: str) -> str:
        return self._indexer.digest(
            f"notify.outbox.{channel}", _normalise_destination(channel, destination)
        ).hex()

    def body_hash(self, message: str) -> str:
        return self._indexer.digest("notify.outbox.body", message).hex()

    def send(
        self,
        channel: str,
        destination: str,
        message: str,
        *,
        subject_id: uuid.UUID | None = None,
    ) -> None:
        now = self._clock()
        dest = self.destination_hash(channel, destination)
        with unit_of_work(self._sessions) as session:
            session.add(
                OutboxMessage(
                    created_at=now,
                    channel=channel,
                    destination_hash=dest,
                    subject_id=subject_id,
                    body_hash=self.body_hash(message),
                )
            )
        self.sent.append(SentMessage(channel, dest, subject_id, message, now))

    def messages_to(self, channel: str, destination: str) -> list[str]:
        """The texts still in memory that were sent to ``destination``, oldest first."""
        dest = self.destination_hash(channel, destination)
        return [m.message for m in self.sent if m.channel == channel and m.destination_hash == dest]


class SmtpNotifier:
    """E-mail through an SMTP submission server (standard library only).

    STARTTLS is on by default and the server's certificate is verified; credentials are never
    sent over a connection that was not upgraded. The recipient's address is not logged, and
    smtplib's errors (which quote it) are replaced by one naming only the error's type.
    """

    name = "smtp"

    def __init__(
        self,
        host: str,
        sender: str,
        *,
        port: int = 587,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        subject: str = "Your verification code",
        timeout: float = 10.0,
        smtp_factory: Callable[..., Any] = smtplib.SMTP,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not host or not sender:
            raise NotifierError(
                "the smtp notifier needs PRIVGUARD_SMTP_HOST and PRIVGUARD_SMTP_FROM"
            )
        if username and not starttls:
            raise NotifierError(
                "refusing to send SMTP credentials without STARTTLS "
                "(set PRIVGUARD_SMTP_STARTTLS=true)"
            )
        self.host = host
        self.port = port
        self.sender = sender
        self.starttls = starttls
        self.subject = subject
        self.timeout = timeout
        self._username = username
        self._password = password
        self._factory = smtp_factory
        self._context = ssl_context

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpNotifier:
        return cls(
            settings.smtp_host or "",
            settings.smtp_from or "",
            port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            subject=settings.smtp_subject,
            timeout=settings.smtp_timeout_seconds,
        )

    def __repr__(self) -> str:  # no password, ever
        return f"SmtpNotifier(host={self.host!r}, port={self.port}, starttls={self.starttls})"

    def send(
        self,
        channel: str,
        destination: str,
        message: str,
        *,
        subject_id: uuid.UUID | None = None,
    ) -> None:
        if channel != "email":
            raise NotifierError(f"the smtp notifier sends e-mail only, not {channel}")
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = destination
        mail["Subject"] = self.subject
        mail.set_content(message)
        try:
            with self._factory(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=self._context or ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(mail)
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            raise NotifierError(f"e-mail delivery failed ({type(exc).__name__})") from None
        log.info("sent an e-mail notification through %s:%d", self.host, self.port)


@runtime_checkable
class SmsGateway(Protocol):
    """Hands one text to an SMS provider (Aliyun, Tencent Cloud, a carrier's API ...).

    ``phone`` is E.164 (``+8613800138000``). Raise on failure, without the number in the error.
    """

    def send_sms(self, phone: str, text: str) -> None: ...


class CallableSmsGateway:
    """An :class:`SmsGateway` made from one function, typically a thin call into a vendor SDK.

    There is deliberately no default: privguard does not guess a provider, so an SMS deployment
    must say which function delivers (docs/identity-verification.md shows one).
    """

    def __init__(self, send: Callable[[str, str], None]) -> None:
        if not callable(send):
            raise NotifierError("CallableSmsGateway needs a function send(phone, text)")
        self._send = send

    def send_sms(self, phone: str, text: str) -> None:
        self._send(phone, text)


class SmsNotifier:
    """Sends ``mobile_phone`` messages through an :class:`SmsGateway`."""

    name = "sms"

    def __init__(self, gateway: SmsGateway) -> None:
        self.gateway = gateway

    def send(
        self,
        channel: str,
        destination: str,
        message: str,
        *,
        subject_id: uuid.UUID | None = None,
    ) -> None:
        if channel != "mobile_phone":
            raise NotifierError(f"the sms notifier sends to mobile phones only, not {channel}")
        self.gateway.send_sms(destination, message)


class RoutingNotifier:
    """One notifier per channel, e.g. SMS for ``mobile_phone`` and SMTP for ``email``."""

    name = "routing"

    def __init__(self, routes: Mapping[str, Notifier]) -> None:
        self.routes = dict(routes)

    def send(
        self,
        channel: str,
        destination: str,
        message: str,
        *,
        subject_id: uuid.UUID | None = None,
    ) -> None:
        route = self.routes.get(channel)
        if route is None:
            raise NotifierError(f"no notifier is configured for {channel}")
        route.send(channel, destination, message, subject_id=subject_id)
