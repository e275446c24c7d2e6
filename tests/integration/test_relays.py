"""Contact relays through the API: who gets an order's alias, who may call or text through it,
when it stops reaching the buyer, revocation, the consumer's view, and that the buyer's number
and address never reach a merchant, a courier or the database.

Covers the authorisation of GET /v1/me/relays, POST /v1/me/relays/{alias_id}/revoke,
GET /v1/orders/{order_id}/relay, POST /v1/relay/calls and POST /v1/relay/sms (declared in
test_authz_matrix.py NO_PI_ROUTES). Mail relaying end to end: test_relay_mail.py.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from privguard.api.app import create_app
from privguard.audit.entry import LogEntry
from privguard.audit.models import AccessLogEntry
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.marketplace.models import Order, SupportTicket
from privguard.marketplace.service import close_ticket, open_ticket
from privguard.policy.rules import ActorRef
from privguard.sharing import relay_rules
from privguard.sharing.relay import (
    RELAY_ACTOR_ID,
    RelayConfig,
    RelayPoolExhausted,
    Relays,
)
from privguard.sharing.relay_models import RelayAlias, RelayEvent
from privguard.sharing.relay_phone import TelephonyError, register_telephony
from privguard.store.uow import unit_of_work
from privguard.testing import RecordingTelephony

from .samples import CANONICAL, RAW
from .test_no_plaintext_at_rest import _database_bytes
from .world import World, add_order, build_world

PHONE = CANONICAL["mobile_phone"]  # +8613800138000
EMAIL = CANONICAL["email"]
POOL = ["+8695000", "+8695001"]
EMAIL_ALIAS = re.compile(r"o-[a-z2-7]{16}@relay\.privguard\.invalid")


@pytest.fixture
def phone() -> RecordingTelephony:
    double = RecordingTelephony()
    register_telephony("recording", lambda **_: double)
    return double


def relay_settings(runtime: Runtime, **extra: Any) -> None:
    runtime.settings = runtime.settings.model_copy(
        update={"relay_telephony": "recording", "relay_numbers": POOL, **extra}
    )


@pytest.fixture
def world(
    runtime: Runtime, admin: ActorRef, phone: RecordingTelephony
) -> Iterator[tuple[World, TestClient]]:
    relay_settings(runtime)
    w = build_world(runtime, admin)
    with TestClient(create_app(runtime)) as client:
        yield w, client


def own_order(w: World) -> uuid.UUID:
    with unit_of_work(w.runtime.sessions) as session:
        return session.execute(
            select(Order.order_id).where(Order.subject_id == w.subjects["own"])
        ).scalar_one()


def set_order(w: World, order_id: uuid.UUID, **values: Any) -> None:
    with unit_of_work(w.runtime.sessions) as session:
        session.execute(update(Order).where(Order.order_id == order_id).values(**values))


def entries(runtime: Runtime) -> list[LogEntry]:
    with unit_of_work(runtime.sessions) as session:
        texts = session.execute(
            select(AccessLogEntry.entry).order_by(AccessLogEntry.entry_id)
        ).scalars()
        return [LogEntry.from_json(t) for t in texts]


def events(runtime: Runtime) -> list[RelayEvent]:
    with unit_of_work(runtime.sessions) as session:
        return list(session.execute(select(RelayEvent).order_by(RelayEvent.event_id)).scalars())


def get_alias(w: World, client: TestClient, who: str, order_id: uuid.UUID) -> Any:
    return client.get(f"/v1/orders/{order_id}/relay", headers=w.headers(who))


def call(w: World, client: TestClient, who: str, alias: dict[str, Any], **kw: Any) -> Any:
    body = {"number": alias["phone_number"], "extension": alias["extension"], **kw}
    path = "/v1/relay/sms" if "text" in kw else "/v1/relay/calls"
    return client.post(path, json=body, headers=w.headers(who))


def alias_for(w: World, client: TestClient, order_id: uuid.UUID | None = None) -> dict[str, Any]:
    r = get_alias(w, client, "merchant_staff", order_id or own_order(w))
    assert r.status_code == 200, r.text
    return r.json()


def assert_no_contact(text: str) -> None:
    """Neither the buyer's number (any format) nor their address is in ``text``."""
    digits = re.sub(r"\D", "", text)
    assert "13800138000" not in digits
    assert EMAIL.lower() not in text.lower()


# --------------------------------------------------------------------------------------------
# Who gets an order's alias
# --------------------------------------------------------------------------------------------

ALIAS_OUTCOMES = {
    "merchant_staff": 200,  # staff of the order's merchant
    "courier": 200,  # the courier assigned to it
    "merchant_staff_b": 404,  # another merchant: the order reads as missing
    "courier_b": 404,  # same carrier, not assigned
    "consumer": 403,
    "consumer_b": 403,
    "customer_service": 403,
    "marketing": 403,
    "analyst": 403,
    "platform_admin": 403,
    "privacy_officer": 403,
    "auditor": 403,
    "partner": 403,
}


@pytest.mark.parametrize(("who", "status"), ALIAS_OUTCOMES.items(), ids=list(ALIAS_OUTCOMES))
def test_who_gets_an_orders_alias(world: tuple[World, TestClient], who: str, status: int) -> None:
    w, client = world
    order_id = own_order(w)
    r = get_alias(w, client, who, order_id)
    assert r.status_code == status, r.text
    assert_no_contact(r.text)
    if status == 404:
        missing = get_alias(w, client, who, uuid.uuid4())
        assert missing.status_code == 404
        assert r.json()["error"]["code"] == missing.json()["error"]["code"] == "order_not_found"
        assert str(w.subjects["own"]) not in r.text
    elif status == 403:
        assert r.json()["error"]["rule"] == relay_rules.RULE_PARTIES_ONLY
    if status != 200:
        with unit_of_work(w.runtime.sessions) as session:
            assert session.execute(select(RelayAlias)).first() is None  # none was created
        return
    body = r.json()
    assert r.headers["cache-control"] == "no-store"
    assert body["order_id"] == str(order_id)
    assert body["phone_number"] in POOL and re.fullmatch(r"[0-9]{4}", body["extension"])
    assert body["dial"] == f"{body['phone_number']},{body['extension']}"
    assert EMAIL_ALIAS.fullmatch(body["email"])
    assert body["status"] == "active" and body["ends_at"] is not None


def test_one_alias_per_order_shared_by_its_parties(world: tuple[World, TestClient]) -> None:
    w, client = world
    first = alias_for(w, client)
    assert get_alias(w, client, "courier", own_order(w)).json() == first
    assert alias_for(w, client) == first
    # The foreign buyer's order gets its own, from merchant B.
    (b_order,) = [o for o in orders(w, "foreign")]
    second = get_alias(w, client, "merchant_staff_b", b_order).json()
    assert second["alias_id"] != first["alias_id"] and second["email"] != first["email"]
    assert (second["phone_number"], second["extension"]) != (
        first["phone_number"], first["extension"]
    )


def orders(w: World, scenario: str) -> list[uuid.UUID]:
    with unit_of_work(w.runtime.sessions) as session:
        return list(session.execute(
            select(Order.order_id).where(Order.subject_id == w.subjects[scenario])
        ).scalars())


def test_aliases_are_unique_across_many_orders(world: tuple[World, TestClient]) -> None:
    w, client = world
    ids = [add_order(w.runtime, w.subjects["own"], w.orgs["merchant_a"]) for _ in range(120)]
    got = [alias_for(w, client, i) for i in ids]
    assert len({(a["phone_number"], a["extension"]) for a in got}) == 120
    assert len({a["email"] for a in got}) == 120
    assert {a["phone_number"] for a in got} == set(POOL)


def test_a_slot_is_held_until_its_alias_has_been_dead_for_the_quarantine(
    world: tuple[World, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """(number, extension) is unique among aliases that hold it; the database refuses a second
    holder even if the service were wrong."""
    w, _ = world
    monkeypatch.setattr(relay_rules, "pick_slot", lambda numbers: ("+8695000", "4321"))
    relays = Relays(w.runtime.vault, RelayConfig("privguard.invalid", tuple(POOL), 15,
                                                 timedelta(days=30)))
    first_order = add_order(w.runtime, w.subjects["own"], w.orgs["merchant_a"])
    second_order = add_order(w.runtime, w.subjects["own"], w.orgs["merchant_a"])
    merchant = w.actors["merchant_staff"]
    now = utcnow()
    with unit_of_work(w.runtime.sessions) as session:
        first = relays.order_alias(session, merchant, first_order, now=now)
    assert (first.phone_number, first.extension) == ("+8695000", "4321")
    with unit_of_work(w.runtime.sessions) as session, pytest.raises(RelayPoolExhausted):
        relays.order_alias(session, merchant, second_order, now=now)
    # Delivered 40 days ago: expired 25 days ago, still in quarantine (30 days).
    set_order(w, first_order, status="delivered", delivered_at=now - timedelta(days=40))
    with unit_of_work(w.runtime.sessions) as session, pytest.raises(RelayPoolExhausted):
        relays.order_alias(session, merchant, second_order, now=now)
    with unit_of_work(w.runtime.sessions) as session:
        second = relays.order_alias(session, merchant, second_order,
                                    now=now + timedelta(days=6))
    assert (second.phone_number, second.extension) == ("+8695000", "4321")
    with unit_of_work(w.runtime.sessions) as session:
        held = session.execute(
            select(RelayAlias.order_id, RelayAlias.slot_held).order_by(RelayAlias.created_at)
        ).all()
    assert {o: h for o, h in held} == {first_order: False, second_order: True}
    # The database itself: a second holder of a held slot is refused.
    from sqlalchemy.exc import IntegrityError

    third = add_order(w.runtime, w.subjects["own"], w.orgs["merchant_a"])
    with pytest.raises(IntegrityError), unit_of_work(w.runtime.sessions) as session:
        session.add(RelayAlias(
            alias_id=uuid.uuid4(), order_id=third, subject_id=w.subjects["own"],
            merchant_id=w.orgs["merchant_a"], phone_number="+8695000", extension="4321",
            slot_held=True, mail_local=relay_rules.new_mail_local(), created_at=now,
        ))
        session.flush()


# --------------------------------------------------------------------------------------------
# Calls and SMS
# --------------------------------------------------------------------------------------------


def test_a_call_reaches_the_buyer_and_is_logged_without_the_number(
    world: tuple[World, TestClient], phone: RecordingTelephony
) -> None:
    w, client = world
    alias = alias_for(w, client)
    before = len(entries(w.runtime))
    r = call(w, client, "merchant_staff", alias)
    assert r.status_code == 202, r.text
    assert r.json() == {"alias_id": alias["alias_id"], "order_id": alias["order_id"],
                        "provider_id": "call-1", "status": "connecting"}
    assert_no_contact(r.text)
    (placed,) = phone.calls
    assert placed.destination == PHONE  # the real number went to the provider, and only there
    assert (placed.number, placed.extension) == (alias["phone_number"], alias["extension"])
    assert placed.caller == w.actors["merchant_staff"].actor_id
    assert PHONE not in repr(placed)

    # One gate read, by the relay's own actor, for delivery (the parcel is on its way), with
    # who called in the detail; never the number.
    (read,) = entries(w.runtime)[before:]
    assert (read.actor_id, read.role, read.subject_id, read.action, read.purpose) == (
        RELAY_ACTOR_ID, "platform_admin", w.subjects["own"], "read", "delivery"
    )
    assert read.decisions == [{"field": "mobile_phone", "view": "plain", "rule": "relay.connect"}]
    assert read.detail == {
        "order_id": alias["order_id"], "alias_id": alias["alias_id"], "channel": "call",
        "use": "relay_call", "direction": "to_subject", "party": "merchant",
        "caller_actor_id": str(w.actors["merchant_staff"].actor_id),
        "caller_organisation_id": str(w.orgs["merchant_a"]),
    }
    (event,) = events(w.runtime)
    assert (event.channel, event.direction, event.party, event.outcome, event.actor_id,
            event.organisation_id) == ("call", "to_subject", "merchant", "connected",
                                       w.actors["merchant_staff"].actor_id, w.orgs["merchant_a"])

    # The courier texts: the text goes to the provider and nowhere else.
    r = call(w, client, "courier", alias, text="您的快递已到驿站，取件码 8-2-1033")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "sent" and r.json()["provider_id"] == "sms-1"
    (sms,) = phone.messages
    assert (sms.destination, sms.text) == (PHONE, "您的快递已到驿站，取件码 8-2-1033")

    # The consumer sees both, by organisation, never the content.
    mine = client.get("/v1/me/relays", headers=w.headers("consumer"))
    assert mine.status_code == 200
    (own,) = mine.json()["aliases"]
    assert own["alias_id"] == alias["alias_id"] and own["status"] == "active"
    assert [(c["channel"], c["party"], c["organisation_name"], c["outcome"])
            for c in own["contacts"]] == [
        ("call", "merchant", "甲果园旗舰店", "connected"),
        ("sms", "courier", "顺丰速运", "connected"),
    ]
    assert "取件码" not in mine.text


CALL_OUTCOMES = {
    "merchant_staff": 202,
    "courier": 202,
    "merchant_staff_b": 404,  # no party: the same answer as an unknown number
    "courier_b": 404,
    "consumer": 403,
    "consumer_b": 403,
    "customer_service": 403,
    "marketing": 403,
    "analyst": 403,
    "platform_admin": 403,
    "privacy_officer": 403,
    "auditor": 403,
    "partner": 403,
}


@pytest.mark.parametrize("sms", [False, True], ids=["call", "sms"])
@pytest.mark.parametrize(("who", "status"), CALL_OUTCOMES.items(), ids=list(CALL_OUTCOMES))
def test_who_may_call_or_text_through_an_alias(
    world: tuple[World, TestClient], phone: RecordingTelephony, who: str, status: int, sms: bool
) -> None:
    w, client = world
    alias = alias_for(w, client)
    kw = {"text": "您好"} if sms else {}
    r = call(w, client, who, alias, **kw)
    assert r.status_code == status, r.text
    assert_no_contact(r.text)
    sent = phone.messages if sms else phone.calls
    assert len(sent) == (1 if status == 202 else 0)
    if status == 404:
        other = f"{(int(alias['extension']) + 1) % 10000:04d}"
        unknown = call(w, client, who, {**alias, "extension": other}, **kw)
        assert unknown.status_code == 404
        assert r.json() == unknown.json()  # cannot tell a stranger's alias from no alias
        # The refusal of a non-party is logged as theirs, with the real reason.
        (refusal,) = [e for e in entries(w.runtime) if e.actor_id == w.actors[who].actor_id]
        assert refusal.decisions == [
            {"field": "mobile_phone", "view": "none", "rule": relay_rules.RULE_NOT_A_PARTY}
        ]
    elif status == 403:
        assert r.json()["error"]["rule"] == relay_rules.RULE_PARTIES_ONLY


def test_an_expired_alias_cannot_reach_the_buyer(
    world: tuple[World, TestClient], phone: RecordingTelephony
) -> None:
    w, client = world
    order_id = own_order(w)
    set_order(w, order_id, status="delivered", delivered_at=utcnow() - timedelta(days=14))
    alias = alias_for(w, client, order_id)
    assert call(w, client, "merchant_staff", alias).status_code == 202
    # Delivered 15 days and a minute ago: the alias stops (PRIVGUARD_RELAY_ALIAS_DAYS = 15).
    set_order(w, order_id, delivered_at=utcnow() - timedelta(days=15, minutes=1))
    before = len(entries(w.runtime))
    for kw in ({}, {"text": "还在吗"}):
        r = call(w, client, "merchant_staff", alias, **kw)
        assert r.status_code == 403, r.text
        assert r.json()["error"] == {
            "code": "relay_inactive", "rule": relay_rules.RULE_INACTIVE,
            "message": "this order's relay alias no longer works: its contact period is over "
            f"(rule {relay_rules.RULE_INACTIVE})",
        }
    assert len(phone.calls) == 1 and phone.messages == []
    new = entries(w.runtime)[before:]
    # Refused before the gate: no read of the number at all, only the refusals.
    assert [(e.actor_id, e.decisions) for e in new] == [
        (w.actors["merchant_staff"].actor_id,
         [{"field": "mobile_phone", "view": "none", "rule": relay_rules.RULE_EXPIRED}])
    ] * 2
    assert [(e.outcome, e.rule) for e in events(w.runtime)] == [
        ("connected", "relay.connect"),
        ("refused", relay_rules.RULE_EXPIRED),
        ("refused", relay_rules.RULE_EXPIRED),
    ]
    mine = client.get("/v1/me/relays", headers=w.headers("consumer")).json()["aliases"][0]
    assert mine["status"] == "expired"
    assert [c["outcome"] for c in mine["contacts"]] == ["connected", "refused", "refused"]
    # Asking for the alias again does not revive it.
    r = get_alias(w, client, "merchant_staff", order_id)
    assert (r.status_code, r.json()["error"]["rule"]) == (403, relay_rules.RULE_INACTIVE)


def test_after_sales_keeps_the_alias_working_until_it_closes_plus_the_window(
    world: tuple[World, TestClient], phone: RecordingTelephony
) -> None:
    w, client = world
    order_id = own_order(w)
    alias = alias_for(w, client, order_id)
    set_order(w, order_id, status="delivered", delivered_at=utcnow() - timedelta(days=40))
    assert call(w, client, "merchant_staff", alias).status_code == 403
    # A refund under way: reachable again, for after-sales.
    set_order(w, order_id, status="refunding")
    assert call(w, client, "merchant_staff", alias).status_code == 202
    assert entries(w.runtime)[-1].purpose == "after_sales"
    # A support ticket about the order, open: reachable; closed 16 days ago: not.
    set_order(w, order_id, status="completed")
    with unit_of_work(w.runtime.sessions) as session:
        ticket = open_ticket(session, w.subjects["own"], topic="refund", now=utcnow(),
                             order_id=order_id)
    assert call(w, client, "merchant_staff", alias).status_code == 202
    with unit_of_work(w.runtime.sessions) as session:
        close_ticket(session, ticket, now=utcnow() - timedelta(days=14))
    assert call(w, client, "merchant_staff", alias).status_code == 202
    with unit_of_work(w.runtime.sessions) as session:
        session.execute(update(SupportTicket).where(SupportTicket.ticket_id == ticket)
                        .values(closed_at=utcnow() - timedelta(days=16)))
    assert call(w, client, "merchant_staff", alias).status_code == 403
    assert len(phone.calls) == 3


def test_the_courier_only_within_the_courier_window(
    world: tuple[World, TestClient], phone: RecordingTelephony
) -> None:
    w, client = world
    order_id = own_order(w)
    alias = alias_for(w, client, order_id)
    set_order(w, order_id, status="delivered", delivered_at=utcnow() - timedelta(hours=25))
    r = call(w, client, "courier", alias)
    assert (r.status_code, r.json()["error"]["rule"]) == (403, relay_rules.RULE_INACTIVE)
    assert events(w.runtime)[-1].rule == relay_rules.RULE_COURIER_WINDOW
    assert get_alias(w, client, "courier", order_id).status_code == 403
    assert call(w, client, "merchant_staff", alias).status_code == 202  # after-sales goes on
    # Reassigned to courier 2: courier 1 is no party any more, courier 2 is.
    set_order(w, order_id, status="shipped", delivered_at=None,
              courier_id=w.actors["courier_b"].actor_id)
    assert call(w, client, "courier", alias).status_code == 404
    assert call(w, client, "courier_b", alias).status_code == 202
    assert [c.caller for c in phone.calls] == [
        w.actors["merchant_staff"].actor_id, w.actors["courier_b"].actor_id
    ]


def test_revocation_works_at_once_and_for_good(
    world: tuple[World, TestClient], phone: RecordingTelephony
) -> None:
    w, client = world
    order_id = own_order(w)
    alias = alias_for(w, client, order_id)
    path = f"/v1/me/relays/{alias['alias_id']}/revoke"
    # Only the buyer: another consumer gets "not found", other roles a refusal.
    r = client.post(path, headers=w.headers("consumer_b"))
    assert (r.status_code, r.json()["error"]["code"]) == (404, "relay_not_found")
    nobody = uuid.uuid4()
    unknown = client.post(f"/v1/me/relays/{nobody}/revoke", headers=w.headers("consumer_b"))
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        **r.json()["error"], "message": f"no relay alias {nobody}"
    }
    for who in ("merchant_staff", "courier", "customer_service", "platform_admin"):
        r = client.post(path, headers=w.headers(who))
        assert (r.status_code, r.json()["error"]["rule"]) == (403, "relay.consumers-only"), who
    assert call(w, client, "merchant_staff", alias).status_code == 202

    r = client.post(path, headers=w.headers("consumer"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked" and r.json()["revoked_at"] is not None
    revoked_at = r.json()["revoked_at"]
    for who in ("merchant_staff", "courier"):
        for kw in ({}, {"text": "hi"}):
            r = call(w, client, who, alias, **kw)
            assert (r.status_code, r.json()["error"]["rule"]) == (403, "relay.alias-inactive")
        assert get_alias(w, client, who, order_id).status_code == 403  # not replaced
    assert len(phone.calls) == 1 and phone.messages == []
    assert events(w.runtime)[-1].rule == relay_rules.RULE_REVOKED
    # Revoking again changes nothing; the revocation is in the access log, as the consumer's.
    again = client.post(path, headers=w.headers("consumer"))
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked_at
    revocations = [e for e in entries(w.runtime) if e.action == "relay_revoke"]
    assert len(revocations) == 1
    assert revocations[0].actor_id == w.actors["consumer"].actor_id
    assert revocations[0].detail == {"alias_id": alias["alias_id"], "order_id": str(order_id)}
    with unit_of_work(w.runtime.sessions) as session:
        assert session.execute(select(RelayAlias)).scalars().one().revoked_at is not None


MINE_OUTCOMES = {r: 403 for r in ALIAS_OUTCOMES} | {"consumer": 200, "consumer_b": 200}


@pytest.mark.parametrize(("who", "status"), MINE_OUTCOMES.items(), ids=list(MINE_OUTCOMES))
def test_only_consumers_list_their_aliases(
    world: tuple[World, TestClient], who: str, status: int
) -> None:
    w, client = world
    alias = alias_for(w, client)
    r = client.get("/v1/me/relays", headers=w.headers(who))
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["error"]["rule"] == "relay.consumers-only"
        return
    ids = [a["alias_id"] for a in r.json()["aliases"]]
    assert ids == ([alias["alias_id"]] if who == "consumer" else [])


def test_revoke_is_refused_to_every_other_role(world: tuple[World, TestClient]) -> None:
    w, client = world
    alias = alias_for(w, client)
    path = f"/v1/me/relays/{alias['alias_id']}/revoke"
    for who, status in MINE_OUTCOMES.items():
        if who == "consumer":
            continue
        r = client.post(path, headers=w.headers(who))
        assert r.status_code == (404 if status == 200 else 403), (who, r.text)
    with unit_of_work(w.runtime.sessions) as session:
        assert session.execute(select(RelayAlias.revoked_at)).scalar_one() is None
    assert client.post(path, headers=w.headers("consumer")).status_code == 200


def test_telephony_failures_and_a_missing_provider(
    world: tuple[World, TestClient], phone: RecordingTelephony
) -> None:
    w, client = world
    alias = alias_for(w, client)
    phone.fail = TelephonyError("provider down")
    r = call(w, client, "merchant_staff", alias)
    assert (r.status_code, r.json()["error"]["code"]) == (502, "telephony_failed")
    assert events(w.runtime)[-1].outcome == "failed"
    # No provider configured: refused before anything is read or recorded.
    relay_settings(w.runtime, relay_telephony="disabled")
    before = (len(entries(w.runtime)), len(events(w.runtime)))
    r = call(w, client, "merchant_staff", alias)
    assert (r.status_code, r.json()["error"]["code"]) == (503, "telephony_unavailable")
    assert (len(entries(w.runtime)), len(events(w.runtime))) == before


def test_a_buyer_without_a_phone_cannot_be_called(world: tuple[World, TestClient]) -> None:
    w, client = world
    # The "none" buyer has a phone; one with an e-mail only does not.
    with unit_of_work(w.runtime.sessions) as session:
        sid = w.runtime.vault.register(session, _admin(w), {"name": "王芳",
                                       "email": "wangfang@example.net"}, now=utcnow())
    order_id = add_order(w.runtime, sid, w.orgs["merchant_a"])
    alias = alias_for(w, client, order_id)
    r = call(w, client, "merchant_staff", alias)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "relay_unreachable")
    assert r.json()["error"]["fields"][0]["rule"] == relay_rules.RULE_NO_DESTINATION


def _admin(w: World) -> ActorRef:
    from privguard.actors.system import cli_actor

    with unit_of_work(w.runtime.sessions) as session:
        return cli_actor(session, now=utcnow())


def test_an_erased_buyer_is_not_reachable(
    world: tuple[World, TestClient], phone: RecordingTelephony
) -> None:
    w, client = world
    alias = alias_for(w, client)
    with unit_of_work(w.runtime.sessions) as session:
        w.runtime.vault.erase(session, _admin(w), w.subjects["own"], now=utcnow())
    r = call(w, client, "merchant_staff", alias)
    assert (r.status_code, r.json()["error"]["rule"]) == (403, relay_rules.RULE_INACTIVE)
    assert phone.calls == []


# --------------------------------------------------------------------------------------------
# Waybills print the relay number
# --------------------------------------------------------------------------------------------


def test_a_waybill_prints_the_relay_number_while_the_alias_works(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    order_id = own_order(w)
    before = client.get(f"/v1/orders/{order_id}/waybill", headers=w.headers("merchant_staff"))
    assert before.json()["recipient_phone"] == "*******8000"
    alias = alias_for(w, client, order_id)
    r = client.get(f"/v1/orders/{order_id}/waybill", headers=w.headers("merchant_staff"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["phone_is_relay"] is True
    assert body["recipient_phone"] == f"{alias['phone_number']}转{alias['extension']}"
    # The buyer's own number was not even read for this label.
    last = entries(w.runtime)[-1]
    assert {d["field"] for d in last.decisions} == {"name", "shipping_addresses"}
    client.post(f"/v1/me/relays/{alias['alias_id']}/revoke", headers=w.headers("consumer"))
    after = client.get(f"/v1/orders/{order_id}/waybill", headers=w.headers("merchant_staff"))
    assert after.json()["recipient_phone"] == "*******8000"


# --------------------------------------------------------------------------------------------
# Nothing of the buyer's contact at rest, nor in any answer to a merchant or courier
# --------------------------------------------------------------------------------------------


def test_the_database_never_holds_the_buyers_number_or_address(
    world: tuple[World, TestClient], phone: RecordingTelephony
) -> None:
    w, client = world
    order_id = own_order(w)
    texts = []
    alias = alias_for(w, client, order_id)
    for who in ("merchant_staff", "courier"):
        texts.append(get_alias(w, client, who, order_id).text)
        texts.append(call(w, client, who, alias).text)
        texts.append(call(w, client, who, alias, text="SMS-CONTENT-7741").text)
    for text in texts:
        assert_no_contact(text)
    assert {c.destination for c in phone.calls} == {PHONE}  # the provider did get it
    assert RAW["mobile_phone"]  # raw form "+86 138-0013-8000" is covered by digit matching
    dump = _database_bytes(w.runtime)
    lowered = dump.lower()
    assert alias["email"].split("@")[0].encode() in dump  # positive control: aliases are there
    assert alias["extension"].encode() in dump
    for needle in (PHONE, PHONE.removeprefix("+86"), "SMS-CONTENT-7741"):
        assert needle.encode() not in dump, needle
    assert EMAIL.lower().encode() not in lowered
