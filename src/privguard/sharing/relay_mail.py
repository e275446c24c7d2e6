"""The relay mail plug-in: really relays mail through SMTP between a buyer and an order's parties.

Mail for ``o-<random>@relay.<domain>`` arrives at privguard's inbound SMTP front
(``privguard relay mail-serve``, an aiosmtpd server behind the relay domain's MX record), which
hands each message to :meth:`MailRelay.relay_message`. That decides (``relay.py``: the alias is
active, the sender is a party of the order or the buyer), rewrites the message so that neither
side sees the other's address, and sends it on with :mod:`smtplib` to the configured upstream
SMTP server (``PRIVGUARD_RELAY_SMTP_*``), which delivers it.

What the rewriting does, in both directions:

* headers are kept by an allow-list (subject, date, MIME structure, threading ids issued by the
  relay); everything else goes: From, Sender, Reply-To, Return-Path, the Received chain,
  To/Cc, Message-ID, DKIM/ARC signatures, X-Originating-IP, mailer names, list headers;
* From becomes the alias (``o-…@relay.…``; ``o-…+c@relay.…`` for a courier, so that the
  buyer's reply goes back to the courier), To the real destination, Message-ID a new one at the
  relay domain; the envelope sender is the alias too, so bounces come back to the relay;
* the sender's real address is replaced by the alias wherever it appears in the subject or a
  text part (a signature, a quoted header).

The content is never stored or logged; only the fact of the contact is (``relay_events`` and
the access log). The database transaction that decides and logs commits before the message is
sent, so nothing leaves before its log entry is durable, and no network round trip happens
while a transaction is open.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from privguard.actors.service import AuthenticationFailed, authenticate
from privguard.clock import utcnow
from privguard.policy.rules import ActorRef
from privguard.sharing.relay import PARTY_ROLES, MailRefused, MailRoute, Relays
from privguard.sharing.relay_rules import Direction
from privguard.store.uow import unit_of_work

log = logging.getLogger("privguard.relay")

# Headers that say nothing about who sent the message or from where.
KEEP_HEADERS = frozenset(
    {
        "subject",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "content-language",
        "content-id",
        "content-description",
        "in-reply-to",
        "references",
        "importance",
        "priority",
        "x-priority",
    }
)
_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class MailOutcome:
    """What the sending server is told: an SMTP reply, and whether the mail went on."""

    code: int
    reply: str  # the whole reply line, e.g. "550 5.7.1 this relay address has expired"
    delivered: bool
    direction: Direction | None = None


@dataclass(frozen=True)
class Upstream:
    """The SMTP server relayed mail is handed to (PRIVGUARD_RELAY_SMTP_*)."""

    host: str
    port: int = 25
    starttls: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Any) -> Upstream | None:
        if not settings.relay_smtp_host:
            return None
        return cls(
            host=settings.relay_smtp_host,
            port=settings.relay_smtp_port,
            starttls=settings.relay_smtp_starttls,
            username=settings.relay_smtp_username,
            password=settings.relay_smtp_password,
            timeout=settings.smtp_timeout_seconds,
        )


# --------------------------------------------------------------------------------------------
# Rewriting
# --------------------------------------------------------------------------------------------


def _scrub(text: str, hide: tuple[str, ...], replacement: str) -> str:
    for address in hide:
        if address:
            text = re.sub(re.escape(address), replacement, text, flags=re.IGNORECASE)
    return text


def rewrite(raw: bytes, route: MailRoute, relay_domain: str) -> EmailMessage:
    """The message as it leaves the relay (see the module docstring for what changes)."""
    msg = email.message_from_bytes(raw, _class=EmailMessage, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    threading = {
        name: " ".join(
            i for i in _MSGID.findall(str(msg.get(name, ""))) if i.lower().endswith(
                "@" + relay_domain.lower() + ">"
            )
        )
        for name in ("in-reply-to", "references")
    }
    subject = str(msg.get("subject", ""))
    for name in {k.lower() for k in msg}:
        if name not in KEEP_HEADERS or name in ("in-reply-to", "references", "subject"):
            del msg[name]
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if part.get_content_disposition() == "attachment":
            continue
        try:
            text = part.get_content()
        except (LookupError, UnicodeError):  # an unknown charset: left as it came
            continue
        scrubbed = _scrub(text, route.hide, route.envelope_from)
        if scrubbed != text:
            disposition = part.get_content_disposition()
            part.set_content(
                scrubbed,
                subtype=part.get_content_subtype(),
                disposition=disposition,
            )
    if subject:
        msg["Subject"] = _scrub(subject, route.hide, route.envelope_from)
    for name, ids in threading.items():
        if ids:
            msg[name] = ids
    msg["From"] = formataddr((route.from_display, route.envelope_from))
    msg["To"] = route.destination
    msg["Message-ID"] = make_msgid(domain=relay_domain)
    if "date" not in msg:
        msg["Date"] = email.utils.format_datetime(utcnow())
    if "mime-version" not in msg:
        msg["MIME-Version"] = "1.0"
    return msg


# --------------------------------------------------------------------------------------------
# The relay
# --------------------------------------------------------------------------------------------


class MailRelay:
    """Decides, rewrites and sends on relay mail; the SMTP front calls it for each message."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        relays: Relays,
        upstream: Upstream | None,
        *,
        smtp_factory: Callable[..., Any] = smtplib.SMTP,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.relays = relays
        self.upstream = upstream
        self._factory = smtp_factory
        self._context = ssl_context
        self._clock = clock

    @property
    def domain(self) -> str:
        return self.relays.config.mail_domain

    def check_recipient(self, envelope_to: str) -> MailOutcome | None:
        """A 550 for a recipient that is no relay address, so the client is told at RCPT TO
        before it sends the message; ``None`` when the address exists (the full decision,
        logged, is made on the message)."""
        try:
            with self.sessions() as session:
                self.relays.mail_alias(session, envelope_to)
        except MailRefused as exc:
            return MailOutcome(exc.smtp_code, exc.smtp_reply, False)
        return None

    def relay_message(
        self,
        raw: bytes,
        envelope_from: str,
        envelope_to: str,
        *,
        now: datetime | None = None,
        sender: ActorRef | None = None,
    ) -> MailOutcome:
        """Relay one message to one relay address; the outcome is the SMTP reply to give.

        ``sender`` is the actor the SMTP session authenticated as (API key), if any; else the
        envelope sender is matched against registered mailboxes and the buyer's own address.
        """
        now = now or self._clock()
        if self.upstream is None:
            return MailOutcome(
                451, "451 4.3.5 the relay has no upstream mail server configured", False
            )
        if not envelope_from:
            # A bounce (null sender) to an alias: nothing to relay it to without a loop.
            return MailOutcome(550, "550 5.7.1 bounces are not relayed", False)
        try:
            with unit_of_work(self.sessions, commit_on=(MailRefused,)) as session:
                route = self.relays.route_mail(
                    session, envelope_to, envelope_from, now=now, sender=sender
                )
        except MailRefused as exc:
            log.info("relay mail refused: %s", exc.rule)
            return MailOutcome(exc.smtp_code, exc.smtp_reply, False)
        try:
            message = rewrite(raw, route, self.domain)
        except (ValueError, TypeError, LookupError, UnicodeError) as exc:
            log.error("relay mail could not be rewritten: %s", type(exc).__name__)
            with unit_of_work(self.sessions) as session:
                self.relays.mark_failed(session, route.event_id)
            return MailOutcome(554, "554 5.6.0 the message could not be read", False)
        try:
            self._send(route, message)
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            # smtplib's errors quote the addresses: only the type is kept.
            log.error("relay mail not handed on: %s", type(exc).__name__)
            with unit_of_work(self.sessions) as session:
                self.relays.mark_failed(session, route.event_id)
            permanent = isinstance(exc, smtplib.SMTPRecipientsRefused) and all(
                code >= 500 for code, _ in exc.recipients.values()
            )
            if permanent:
                return MailOutcome(550, "550 5.1.1 the destination refused the message", False)
            return MailOutcome(
                451, "451 4.4.1 the relay could not hand the message on; try again later", False
            )
        return MailOutcome(250, "250 2.0.0 relayed", True, route.direction)

    def _send(self, route: MailRoute, message: EmailMessage) -> None:
        up = self.upstream
        assert up is not None
        data = message.as_bytes(policy=email.policy.SMTP)
        with self._factory(up.host, up.port, timeout=up.timeout) as smtp:
            if up.starttls:
                smtp.starttls(context=self._context or ssl.create_default_context())
            if up.username:
                smtp.login(up.username, up.password or "")
            smtp.sendmail(route.envelope_from, [route.destination], data)


# --------------------------------------------------------------------------------------------
# The inbound SMTP front (aiosmtpd)
# --------------------------------------------------------------------------------------------


class RelaySmtpHandler:
    """aiosmtpd handler: one relay recipient per message, decided and relayed at DATA."""

    def __init__(self, relay: MailRelay) -> None:
        self.relay = relay

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if envelope.rcpt_tos:
            # One relay address per transaction, so one reply fits the one decision; the
            # client sends the rest in another transaction (RFC 5321 4.5.3.1.10).
            return "452 4.5.3 one relay recipient per message"
        refused = await asyncio.to_thread(self.relay.check_recipient, address)
        if refused is not None:
            return refused.reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        sender = session.auth_data if isinstance(session.auth_data, ActorRef) else None
        raw = envelope.original_content or b""
        outcome = await asyncio.to_thread(
            self.relay.relay_message, raw, envelope.mail_from or "", envelope.rcpt_tos[0],
            sender=sender,
        )
        return outcome.reply


class ApiKeyAuthenticator:
    """SMTP AUTH (PLAIN/LOGIN) with a merchant's or courier's privguard API key as password:
    the authenticated actor is the sender, whatever the envelope says."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        try:
            with self.sessions() as db:
                actor = authenticate(db, auth_data.password.decode("utf-8", "replace"))
        except AuthenticationFailed:
            return AuthResult(success=False, handled=False)
        if actor.role not in PARTY_ROLES:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=actor)


def smtp_front(
    relay: MailRelay,
    host: str,
    port: int,
    *,
    tls_context: ssl.SSLContext | None = None,
    allow_auth: bool = False,
    auth_without_tls: bool = False,
    max_bytes: int = 10 * 1024 * 1024,
) -> Any:
    """An aiosmtpd ``Controller`` serving the relay (call ``start()`` / ``stop()``).

    With ``allow_auth``, merchants and couriers may submit with SMTP AUTH and their API key;
    AUTH is offered only after STARTTLS unless ``auth_without_tls`` (tests, or a loopback
    listener behind a TLS-terminating MTA).
    """
    from aiosmtpd.controller import Controller

    return Controller(
        RelaySmtpHandler(relay),
        hostname=host,
        port=port,
        server_hostname=relay.domain,
        data_size_limit=max_bytes,
        tls_context=tls_context,
        authenticator=ApiKeyAuthenticator(relay.sessions) if allow_auth else None,
        auth_require_tls=not auth_without_tls,
        decode_data=False,
    )
