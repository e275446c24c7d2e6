"""Relay mail end to end, over real SMTP: a client sends to privguard's inbound front (aiosmtpd,
as ``privguard relay mail-serve`` runs it), which relays through an upstream SMTP server (a
second aiosmtpd that records what it is handed, standing in for the platform's MTA).

What a user relies on: a merchant's mail arrives at the buyer's real address; the merchant's
copy of the buyer's reply shows only the relay address; an expired or revoked alias, a stranger
and a foreign merchant are bounced with a clear SMTP error and nothing reaches the buyer.
"""

from __future__ import annotations

import email
import email.policy
import os
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from privguard.actors.service import issue_api_key
from privguard.api.app import create_app
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.marketplace.models import Order
from privguard.policy.rules import ActorRef
from privguard.sharing import relay_rules
from privguard.sharing.relay import RELAY_ACTOR_ID, Relays
from privguard.sharing.relay_mail import MailRelay, Upstream, smtp_front
from privguard.sharing.relay_models import RelayEvent
from privguard.store.uow import unit_of_work

from .samples import CANONICAL
from .test_no_plaintext_at_rest import _database_bytes
from .test_relays import entries
from .world import World, build_world

EMAIL = CANONICAL["email"]  # ZhangSan@example.com
SHOP = "service@jiaguoyuan.example"  # merchant A's inbox
SHOP_B = "service@yishuma.example"  # merchant B's inbox
COURIER = "courier1@sf-express.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Upstream_:
    """The platform's MTA as the relay sees it: records every message handed to it."""

    mails: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos),
                           envelope.original_content))
        return "250 2.0.0 queued"


@dataclass
class Mail:
    world: World
    client: TestClient
    upstream: Upstream_
    front_port: int
    relays: Relays
    relay: MailRelay

    def send(self, sender: str, to: str, msg: EmailMessage, port: int | None = None) -> None:
        with smtplib.SMTP("127.0.0.1", port or self.front_port, timeout=30) as smtp:
            smtp.sendmail(sender, [to], msg.as_bytes())

    def alias(self, who: str = "merchant_staff", order_id: uuid.UUID | None = None) -> str:
        order_id = order_id or own_order(self.world)
        r = self.client.get(f"/v1/orders/{order_id}/relay", headers=self.world.headers(who))
        assert r.status_code == 200, r.text
        return str(r.json()["email"])

    def delivered(self, i: int = -1) -> tuple[str, list[str], EmailMessage, bytes]:
        mail_from, rcpt, raw = self.upstream.mails[i]
        msg = email.message_from_bytes(raw, _class=EmailMessage, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return mail_from, rcpt, msg, raw


def own_order(w: World) -> uuid.UUID:
    with unit_of_work(w.runtime.sessions) as session:
        return session.execute(
            select(Order.order_id).where(Order.subject_id == w.subjects["own"])
        ).scalar_one()


def add_mailboxes(w: World, relays: Relays, admin: ActorRef) -> None:
    now = utcnow()
    with unit_of_work(w.runtime.sessions) as session:
        relays.add_mailbox(session, admin, SHOP, w.orgs["merchant_a"], now=now)
        relays.add_mailbox(session, admin, SHOP_B, w.orgs["merchant_b"], now=now)
        relays.add_mailbox(session, admin, COURIER, w.orgs["carrier"], now=now,
                           mailbox_actor=w.actors["courier"].actor_id)


@pytest.fixture
def mail(runtime: Runtime, admin: ActorRef) -> Iterator[Mail]:
    upstream = Upstream_()
    up = Controller(upstream, hostname="127.0.0.1", port=free_port())
    up.start()
    runtime.settings = runtime.settings.model_copy(update={
        "relay_smtp_host": "127.0.0.1", "relay_smtp_port": up.port,
        "relay_smtp_starttls": False,
    })
    w = build_world(runtime, admin)
    relays = Relays.from_settings(runtime.vault, runtime.settings)
    add_mailboxes(w, relays, admin)
    upstream_cfg = Upstream.from_settings(runtime.settings)
    relay = MailRelay(runtime.sessions, relays, upstream_cfg)
    front = smtp_front(relay, "127.0.0.1", free_port(), allow_auth=True, auth_without_tls=True)
    front.start()
    try:
        with TestClient(create_app(runtime)) as client:
            yield Mail(w, client, upstream, front.port, relays, relay)
    finally:
        front.stop()
        up.stop()


def message(sender: str, to: str, subject: str, body: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def events(m: Mail) -> list[tuple[str, str, str]]:
    with unit_of_work(m.world.runtime.sessions) as session:
        return [(e.direction, e.party, e.outcome) for e in session.execute(
            select(RelayEvent).order_by(RelayEvent.event_id)).scalars()]


# --------------------------------------------------------------------------------------------


def test_merchant_mail_reaches_the_buyer_and_the_reply_shows_only_the_alias(mail: Mail) -> None:
    m = mail
    alias = m.alias()
    m.send(SHOP, alias, message(
        f"甲果园客服 <{SHOP}>", alias, "您的订单已发货",
        f"您好，您的橙子已发出。如有问题请回复本邮件或写信到 {SHOP}。",
        Message_ID="<m1@jiaguoyuan.example>", Reply_To=SHOP,
        Received="from office-pc [10.1.2.3] by mail.jiaguoyuan.example",
    ))
    mail_from, rcpt, to_buyer, raw = m.delivered()
    # Delivered to the buyer's real address, from the alias.
    assert rcpt == [EMAIL] and mail_from == alias
    (sender,) = to_buyer["From"].addresses
    assert sender.addr_spec == alias and sender.display_name == "甲果园旗舰店 via privguard relay"
    assert to_buyer["Subject"] == "您的订单已发货"
    assert "您的橙子已发出" in to_buyer.get_content()
    assert SHOP not in raw.decode() and "10.1.2.3" not in raw.decode()
    relay_id = to_buyer["Message-ID"]
    assert relay_id.endswith("@relay.privguard.invalid>")

    # The buyer answers from their mail client, to the alias.
    reply = message(
        f"欧阳娜娜 <{EMAIL}>", alias, "Re: 您的订单已发货",
        f"收到，谢谢！\n\n{EMAIL} 的签名\n> 您好，您的橙子已发出。",
        In_Reply_To=relay_id, References=f"<m1@jiaguoyuan.example> {relay_id}",
        Message_ID="<CAF-77@mail.example.com>", Reply_To=EMAIL,
        Received="from [192.168.31.7] (home.example.net [203.0.113.9]) by mx.example.com",
        X_Originating_IP="[203.0.113.9]",
    )
    m.send(EMAIL.lower(), alias, reply)  # the envelope sender's case does not matter
    mail_from, rcpt, to_shop, raw = m.delivered()
    assert rcpt == [SHOP] and mail_from == alias
    text = raw.decode("utf-8", "replace").lower()
    # The merchant's copy: the relay address, and nothing of the buyer's.
    for gone in (EMAIL.lower(), "zhangsan", "欧阳娜娜", "203.0.113.9", "192.168.31.7",
                 "home.example.net", "mx.example.com", "caf-77"):
        assert gone not in text, gone
    addresses = [a.addr_spec for h in ("From", "Reply-To", "Sender", "Cc")
                 for a in (to_shop[h].addresses if to_shop[h] else ())]
    assert addresses == [alias]
    assert to_shop["To"].addresses[0].addr_spec == SHOP
    assert to_shop["In-Reply-To"] == relay_id  # threads on the merchant's side
    assert "收到，谢谢！" in to_shop.get_content()
    assert f"{alias} 的签名" in to_shop.get_content()

    # Logged: two gate reads by the relay (to the buyer; the buyer's reply checked), and the
    # consumer sees both contacts.
    reads = [e for e in entries(m.world.runtime) if e.actor_id == RELAY_ACTOR_ID]
    assert [(e.purpose, e.detail["direction"], e.decisions[0]["view"]) for e in reads] == [
        ("delivery", "to_subject", "plain"), ("delivery", "from_subject", "plain")
    ]
    assert all(e.detail["caller_organisation_id"] == str(m.world.orgs["merchant_a"])
               for e in reads[:1])
    assert events(m) == [("to_subject", "merchant", "connected"),
                         ("from_subject", "merchant", "connected")]
    mine = m.client.get("/v1/me/relays", headers=m.world.headers("consumer")).json()
    assert [c["channel"] for c in mine["aliases"][0]["contacts"]] == ["mail", "mail"]

    # Nothing of either message, and not the buyer's address, is stored.
    dump = _database_bytes(m.world.runtime)
    assert EMAIL.lower().encode() not in dump.lower()
    for content in ("您的橙子已发出", "收到，谢谢"):
        assert content.encode() not in dump


def test_the_courier_writes_and_the_reply_goes_back_to_the_courier(mail: Mail) -> None:
    m = mail
    alias = m.alias("courier")
    m.send(COURIER, alias, message(COURIER, alias, "快递到了", "放门口可以吗？"))
    mail_from, rcpt, to_buyer, _ = m.delivered()
    courier_alias = alias.replace("@", "+c@")
    assert rcpt == [EMAIL] and mail_from == courier_alias
    assert to_buyer["From"].addresses[0].addr_spec == courier_alias
    assert to_buyer["From"].addresses[0].display_name == "顺丰速运 via privguard relay"
    m.send(EMAIL, courier_alias, message(EMAIL, courier_alias, "Re: 快递到了", "可以，谢谢"))
    mail_from, rcpt, to_courier, raw = m.delivered()
    assert rcpt == [COURIER] and mail_from == alias
    assert to_courier["From"].addresses[0].addr_spec == alias
    assert EMAIL.lower() not in raw.decode().lower()
    assert events(m) == [("to_subject", "courier", "connected"),
                         ("from_subject", "courier", "connected")]


def bounce(m: Mail, sender: str, to: str, *, port: int | None = None) -> tuple[int, str]:
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPRecipientsRefused)) as caught:
        m.send(sender, to, message(sender, to, "hello", "是我"), port=port)
    exc = caught.value
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        ((code, text),) = exc.recipients.values()
        return code, text.decode()
    return exc.smtp_code, exc.smtp_error.decode()


def test_an_expired_or_revoked_alias_bounces_and_nothing_reaches_the_buyer(mail: Mail) -> None:
    m = mail
    alias = m.alias()
    order_id = own_order(m.world)
    with unit_of_work(m.world.runtime.sessions) as session:
        session.execute(update(Order).where(Order.order_id == order_id).values(
            status="delivered", delivered_at=utcnow() - timedelta(days=15, minutes=1)))
    assert bounce(m, SHOP, alias) == (550, "5.7.1 this relay address has expired")
    assert bounce(m, EMAIL, alias) == (550, "5.7.1 this relay address has expired")
    assert m.upstream.mails == []
    refusals = [e for e in entries(m.world.runtime) if e.detail.get("use") == "relay_mail"]
    assert [e.decisions[0]["rule"] for e in refusals] == [relay_rules.RULE_EXPIRED] * 2
    # The buyer's address was not read for either: refused before the gate.
    assert not [e for e in entries(m.world.runtime)
                if e.actor_id == RELAY_ACTOR_ID and e.decisions[0]["view"] == "plain"]

    # Revoked: a fresh order, its alias works, the consumer revokes it, the next mail bounces.
    with unit_of_work(m.world.runtime.sessions) as session:
        session.execute(update(Order).where(Order.order_id == order_id).values(
            status="shipped", delivered_at=None))
    m.send(SHOP, alias, message(SHOP, alias, "1", "first"))
    assert len(m.upstream.mails) == 1
    alias_id = m.client.get("/v1/me/relays", headers=m.world.headers("consumer")).json()[
        "aliases"][0]["alias_id"]
    r = m.client.post(f"/v1/me/relays/{alias_id}/revoke", headers=m.world.headers("consumer"))
    assert r.status_code == 200
    assert bounce(m, SHOP, alias) == (550, "5.7.1 this relay address was revoked by its owner")
    assert bounce(m, COURIER, alias) == (550, "5.7.1 this relay address was revoked by its owner")
    assert len(m.upstream.mails) == 1
    assert events(m)[-2:] == [("to_subject", "merchant", "refused"),
                              ("to_subject", "courier", "refused")]


def test_unknown_addresses_strangers_and_other_merchants_are_refused(mail: Mail) -> None:
    m = mail
    alias = m.alias()
    assert bounce(m, SHOP, "o-aaaaaaaaaaaaaaaa@relay.privguard.invalid") == (
        550, "5.1.1 no such relay address")
    assert bounce(m, SHOP, alias.replace("relay.privguard.invalid", "example.com")) == (
        550, "5.1.1 no such relay address")
    assert bounce(m, SHOP, alias.replace("@", "+x@")) == (550, "5.1.1 no such relay address")
    before = len(entries(m.world.runtime))
    # Merchant B's registered inbox: known, but no party of this order. Refused unread.
    assert bounce(m, SHOP_B, alias) == (550, "5.7.1 the sender is not a party of this order")
    (refusal,) = entries(m.world.runtime)[before:]
    assert refusal.decisions == [
        {"field": "email", "view": "none", "rule": relay_rules.RULE_NOT_A_PARTY}
    ]
    assert refusal.detail["caller_organisation_id"] == str(m.world.orgs["merchant_b"])
    # A stranger: compared with the buyer's address through the gate, then refused.
    assert bounce(m, "spam@evil.example", alias) == (
        550, "5.7.1 the sender is not a party of this order")
    assert [e.decisions[0]["rule"] for e in entries(m.world.runtime)[before + 1:]] == [
        "relay.connect", relay_rules.RULE_SENDER_UNKNOWN,
    ]
    # More than one relay recipient in one transaction: the second is deferred (452).
    with smtplib.SMTP("127.0.0.1", m.front_port) as smtp:
        refused = smtp.sendmail(SHOP, [alias, "o-bbbbbbbbbbbbbbbb@relay.privguard.invalid"],
                                message(SHOP, alias, "2", "two").as_bytes())
    assert {k: v[0] for k, v in refused.items()} == {
        "o-bbbbbbbbbbbbbbbb@relay.privguard.invalid": 452}
    assert m.upstream.mails[-1][1] == [EMAIL] and len(m.upstream.mails) == 1


def test_an_authenticated_merchant_or_courier_may_write_from_any_address(mail: Mail) -> None:
    m = mail
    alias = m.alias()
    tokens = {}
    with unit_of_work(m.world.runtime.sessions) as session:
        for who in ("merchant_staff", "courier_b", "consumer"):
            tokens[who] = issue_api_key(session, m.world.actors[who].actor_id, now=utcnow()).token
    with smtplib.SMTP("127.0.0.1", m.front_port) as smtp:
        smtp.login("staff", tokens["merchant_staff"])
        smtp.sendmail("zhang.wei@personal.example", [alias],
                      message("zhang.wei@personal.example", alias, "hi", "您好").as_bytes())
    mail_from, rcpt, to_buyer, raw = m.delivered()
    assert rcpt == [EMAIL] and "zhang.wei@personal.example" not in raw.decode()
    assert mail_from == alias == to_buyer["From"].addresses[0].addr_spec
    for who in ("consumer",):  # only merchants' staff and couriers log in
        with smtplib.SMTP("127.0.0.1", m.front_port) as smtp, pytest.raises(
            smtplib.SMTPAuthenticationError
        ):
            smtp.login("x", tokens[who])
    with smtplib.SMTP("127.0.0.1", m.front_port) as smtp:
        smtp.login("courier", tokens["courier_b"])  # a courier, but not this parcel's
        with pytest.raises(smtplib.SMTPDataError) as caught:
            smtp.sendmail("c@x.example", [alias], message("c@x.example", alias, "x", "y")
                          .as_bytes())
    assert caught.value.smtp_code == 550
    assert len(m.upstream.mails) == 1


def test_an_unreachable_upstream_is_a_temporary_failure(mail: Mail) -> None:
    m = mail
    alias = m.alias()
    dead = Upstream("127.0.0.1", free_port(), starttls=False, timeout=2)
    m.relay.upstream = dead
    outcome = m.relay.relay_message(message(SHOP, alias, "x", "y").as_bytes(), SHOP, alias)
    assert (outcome.code, outcome.delivered) == (451, False)
    assert outcome.reply.startswith("451 4.4.1")
    assert events(m) == [("to_subject", "merchant", "failed")]
    m.relay.upstream = None
    outcome = m.relay.relay_message(message(SHOP, alias, "x", "y").as_bytes(), SHOP, alias)
    assert outcome.code == 451 and "no upstream" in outcome.reply


def test_privguard_relay_mail_serve_relays_mail(mail: Mail, runtime: Runtime) -> None:
    """The shipped command: a real process, reading the same settings from the environment."""
    m = mail
    alias = m.alias()
    port = free_port()
    s = runtime.settings
    env = {
        **os.environ,
        "PRIVGUARD_HOME": str(s.home),
        "PRIVGUARD_KEY_FILE": str(s.key_file),
        "PRIVGUARD_RELAY_SMTP_HOST": "127.0.0.1",
        "PRIVGUARD_RELAY_SMTP_PORT": str(s.relay_smtp_port),
        "PRIVGUARD_RELAY_SMTP_STARTTLS": "false",
    }
    if s.database_url:
        env["PRIVGUARD_DATABASE_URL"] = s.database_url
    else:
        env.pop("PRIVGUARD_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from privguard.cli import app; app()", "relay", "mail-serve",
         "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out, err = proc.communicate(timeout=5)
                    pytest.fail(f"mail-serve did not start: {err.decode()[-2000:]}")
                time.sleep(0.2)
        m.send(SHOP, alias, message(SHOP, alias, "来自命令行", "您好"), port=port)
        _, rcpt, to_buyer, _ = m.delivered()
        assert rcpt == [EMAIL] and to_buyer["Subject"] == "来自命令行"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"relaying mail for *@relay.privguard.invalid" in out


def test_mailboxes_are_checked_and_registered_by_operators(
    mail: Mail, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from privguard.cli import app
    from privguard.vault.errors import AccessDenied, InvalidPI

    m = mail
    w = m.world
    now = utcnow()

    def rules_of(address: str, org: uuid.UUID, actor: uuid.UUID | None = None) -> list[str]:
        with pytest.raises(InvalidPI) as caught, unit_of_work(runtime.sessions) as session:
            m.relays.add_mailbox(session, w.actors["platform_admin"], address, org, now=now,
                                 mailbox_actor=actor)
        return [f"{e.field}:{e.rule}" for e in caught.value.errors]

    assert rules_of("not an address", w.orgs["merchant_a"]) == ["address:relay.mailbox-format"]
    assert rules_of(SHOP.upper(), w.orgs["merchant_a"]) == ["address:relay.mailbox-taken"]
    assert rules_of("x@relay.privguard.invalid", w.orgs["merchant_a"]) == [
        "address:relay.mailbox-loop"]
    assert rules_of("ops@platform.example", w.orgs["platform"]) == [
        "organisation_id:relay.mailbox-organisation"]
    assert rules_of("depot@sf.example", w.orgs["carrier"]) == ["actor_id:relay.mailbox-actor"]
    assert rules_of("z@shop.example", w.orgs["merchant_a"],
                    w.actors["merchant_staff_b"].actor_id) == ["actor_id:relay.mailbox-actor"]
    with pytest.raises(AccessDenied), unit_of_work(runtime.sessions) as session:
        m.relays.add_mailbox(session, w.actors["merchant_staff"], "me@shop.example",
                             w.orgs["merchant_a"], now=now)

    # From the command line, as the CLI operator; then the address may write to the buyer.
    s = runtime.settings
    monkeypatch.setenv("PRIVGUARD_HOME", str(s.home))
    monkeypatch.setenv("PRIVGUARD_KEY_FILE", str(s.key_file))
    if s.database_url:
        monkeypatch.setenv("PRIVGUARD_DATABASE_URL", s.database_url)
    else:
        monkeypatch.delenv("PRIVGUARD_DATABASE_URL", raising=False)
    staff = "Zhang.Wei@JiaGuoYuan.example"
    result = CliRunner().invoke(app, ["relay", "mailbox-add", staff, "--organisation",
                                      str(w.orgs["merchant_a"]), "--actor",
                                      str(w.actors["merchant_staff"].actor_id)])
    assert result.exit_code == 0, result.output
    alias = m.alias()
    m.send(staff.lower(), alias, message(staff, alias, "hi", "您好"))
    assert m.delivered()[1] == [EMAIL]
    result = CliRunner().invoke(app, ["relay", "mailbox-remove", staff])
    assert result.exit_code == 0, result.output
    assert bounce(m, staff.lower(), alias)[0] == 550
    result = CliRunner().invoke(app, ["relay", "mailbox-remove", staff])
    assert result.exit_code == 1 and "no such relay mailbox" in result.output
