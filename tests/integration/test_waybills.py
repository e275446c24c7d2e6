"""Privacy waybills end to end: who may print a label, what it shows, who may resolve its code.

Covers the authorisation of GET /v1/orders/{order_id}/waybill, GET /v1/orders/{order_id}/
waybill.pdf and POST /v1/waybills/resolve (declared in test_authz_matrix.py NO_PI_ROUTES), and
the GB/T 41833-2022 property over generated and demo personal information through the real gate.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from sqlalchemy import select

from privguard.actors.models import Actor
from privguard.api.app import create_app
from privguard.audit.entry import LogEntry
from privguard.audit.models import AccessLogEntry
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.crypto.tokens import LinkSigner
from privguard.marketplace.demo import CARRIERS, MERCHANTS, DemoSize, seed_demo
from privguard.marketplace.models import Order
from privguard.policy.rules import Action, ActorRef, Facts, Relationship, Role, View
from privguard.sharing.waybill import (
    RULE_COURIERS_ONLY,
    RULE_TOKEN_EXPIRED,
    RULE_TOKEN_INVALID,
    OrderNotFound,
    WaybillIncomplete,
    Waybills,
)
from privguard.sharing.waybill_render import render_pdf
from privguard.sharing.waybill_rules import Claim, check_payload
from privguard.store.uow import unit_of_work
from privguard.vault.errors import InvalidPI

from ..conftest import NOW
from ..unit.test_waybill_rules import (
    BACKGROUND,
    Detail,
    addresses,
    assert_label_text_safe,
    mobiles,
    names,
    national_digits,
    payload_text,
    pdf_text,
)
from .samples import CANONICAL
from .world import World, add_order, build_world


@pytest.fixture
def world(runtime: Runtime, admin: ActorRef) -> Iterator[tuple[World, TestClient]]:
    w = build_world(runtime, admin)
    with TestClient(create_app(runtime)) as client:
        yield w, client


def orders_of(w: World, scenario: str) -> list[uuid.UUID]:
    with unit_of_work(w.runtime.sessions) as session:
        return list(
            session.execute(
                select(Order.order_id)
                .where(Order.subject_id == w.subjects[scenario])
                .order_by(Order.placed_at)
            ).scalars()
        )


def entries(runtime: Runtime) -> list[LogEntry]:
    with unit_of_work(runtime.sessions) as session:
        texts = session.execute(
            select(AccessLogEntry.entry).order_by(AccessLogEntry.entry_id)
        ).scalars()
        return [LogEntry.from_json(t) for t in texts]


def label(w: World, client: TestClient, who: str, order_id: uuid.UUID, pdf: bool = False) -> Any:
    suffix = "waybill.pdf" if pdf else "waybill"
    return client.get(f"/v1/orders/{order_id}/{suffix}", headers=w.headers(who))


def resolve(w: World, client: TestClient, who: str, token: str) -> Any:
    return client.post("/v1/waybills/resolve", json={"token": token}, headers=w.headers(who))


def token_for(w: World, client: TestClient, order_id: uuid.UUID) -> str:
    r = label(w, client, "merchant_staff", order_id)
    assert r.status_code == 200, r.text
    return r.json()["qr_token"]


# --------------------------------------------------------------------------------------------
# Printing a label
# --------------------------------------------------------------------------------------------

# The "own" buyer's parcel: sold by merchant A, carried by the carrier's courier 1, in transit.
LABEL_OUTCOMES = {
    "merchant_staff": 200,  # the order's merchant (merchant.order-contact, delivery)
    "courier": 200,  # the assigned courier (courier.delivery-*)
    "customer_service": 200,  # agents see masked contact details for delivery
    "merchant_staff_b": 404,  # another tenant: the order reads as missing
    "courier_b": 404,  # same carrier, not assigned
    "consumer": 403,  # no consumer rule for delivery
    "consumer_b": 403,
    "analyst": 403,
    "marketing": 403,
    "platform_admin": 403,
    "privacy_officer": 403,
    "auditor": 403,
    "partner": 403,
}


@pytest.mark.parametrize("pdf", [False, True], ids=["json", "pdf"])
@pytest.mark.parametrize(("who", "status"), LABEL_OUTCOMES.items(), ids=list(LABEL_OUTCOMES))
def test_who_may_print_a_label(
    world: tuple[World, TestClient], who: str, status: int, pdf: bool
) -> None:
    w, client = world
    (order_id,) = orders_of(w, "own")
    r = label(w, client, who, order_id, pdf=pdf)
    assert r.status_code == status, r.text
    if status == 200:
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["content-type"] == ("application/pdf" if pdf else "application/json")
        return
    error = r.json()["error"]
    if status == 404:
        # Exactly what an order that does not exist gets: nothing names the buyer.
        missing = label(w, client, who, uuid.UUID(int=order_id.int ^ 1), pdf=pdf)
        assert missing.status_code == 404
        assert error == {**missing.json()["error"], "message": f"no order {order_id}"}
        assert str(w.subjects["own"]) not in r.text
    else:
        assert error["rule"] == "default.deny"
    # The refusal is in the access log, with the rule that made it.
    refused = [e for e in entries(w.runtime) if e.actor_id == w.actors[who].actor_id]
    assert refused and all(d["view"] == "none" for d in refused[-1].decisions)


def test_the_label_shows_only_waybill_masked_details(world: tuple[World, TestClient]) -> None:
    w, client = world
    (order_id,) = orders_of(w, "own")
    r = label(w, client, "merchant_staff", order_id)
    body = r.json()
    assert {k: body[k] for k in ("recipient_name", "recipient_phone", "recipient_address")} == {
        "recipient_name": "欧阳**",
        "recipient_phone": "*******8000",
        "recipient_address": "广东省深圳市南山区科技园路****",
    }
    assert (body["carrier_name"], body["sender_name"]) == ("顺丰速运", "甲果园旗舰店")
    assert body["phone_is_relay"] is False and body["return_address"] is None
    text = pdf_text(label(w, client, "merchant_staff", order_id, pdf=True).content)
    for shown in ("欧阳**", "*******8000", "广东省深圳市南山区科技园路****", str(order_id)):
        assert shown in text
    for hidden in ("欧阳娜娜", "13800138000", "1号", "A栋", "1201室", "518057"):
        assert hidden not in text and hidden not in r.text

    # One gated read per label (JSON, then PDF), in the waybill view, for delivery.
    mine = [e for e in entries(w.runtime) if e.actor_id == w.actors["merchant_staff"].actor_id]
    assert len(mine) == 2
    facts = Facts(frozenset({Relationship.MERCHANT_ORDER}))
    fields = ("name", "mobile_phone", "shipping_addresses")
    policy = w.runtime.policy
    rules = [
        policy.decide(Role.MERCHANT_STAFF, Action.READ, "delivery", f, View.WAYBILL, facts).rule
        for f in fields
    ]
    for entry in mine:
        assert (entry.action, entry.purpose, entry.subject_id) == (
            "read", "delivery", w.subjects["own"]
        )
        assert entry.decisions == [
            {"field": f, "view": "waybill", "rule": r} for f, r in zip(fields, rules, strict=True)
        ]
        assert entry.detail == {"order_id": str(order_id), "use": "waybill_label"}


def test_a_label_is_decided_on_its_own_order(world: tuple[World, TestClient]) -> None:
    """Merchant A and courier 1 also have an order with the "foreign" buyer; that does not open
    merchant B's order, carried by courier 2, to them."""
    w, client = world
    (b_order,) = orders_of(w, "foreign")
    add_order(w.runtime, w.subjects["foreign"], w.orgs["merchant_a"], carrier_id=w.orgs["carrier"],
              courier_id=w.actors["courier"].actor_id)
    for who in ("merchant_staff", "courier"):
        assert label(w, client, who, b_order).status_code == 404
    assert resolve(w, client, "courier", mint(w, b_order)).status_code == 403
    refusals = [
        e for e in entries(w.runtime)
        if e.subject_id == w.subjects["foreign"] and e.detail.get("order_id") == str(b_order)
    ]
    assert [d["rule"] for e in refusals for d in e.decisions] == [
        "default.deny", "default.deny", "default.deny",  # merchant A: no merchant_order here
        "default.deny", "default.deny", "default.deny",  # courier 1: not assigned to it
        "default.deny",  # courier 1 scanning it
    ]


def mint(w: World, order_id: uuid.UUID) -> str:
    """A valid code for ``order_id``, as a label printed now would carry."""
    claim = Claim(order_id, (utcnow() + timedelta(days=1)).replace(microsecond=0))
    return LinkSigner(w.runtime.keys.blind_index_root(), "waybill-qr").make(claim.text())


def test_orders_without_a_carrier_or_without_an_address(world: tuple[World, TestClient]) -> None:
    w, client = world
    unshipped = add_order(w.runtime, w.subjects["own"], w.orgs["merchant_a"])
    r = label(w, client, "merchant_staff", unshipped)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "shipment_not_found")
    # The "none" buyer has no address on record: the label names the missing field.
    no_address = add_order(w.runtime, w.subjects["none"], w.orgs["merchant_a"],
                           carrier_id=w.orgs["carrier"])
    r = label(w, client, "merchant_staff", no_address)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "waybill_incomplete"
    assert r.json()["error"]["fields"] == [
        {"field": "shipping_addresses", "rule": "waybill.missing",
         "message": "the recipient has none on record"}
    ]
    # The read happened, so its log entry was kept although no label was made.
    last = entries(w.runtime)[-1]
    assert last.subject_id == w.subjects["none"] and last.detail["order_id"] == str(no_address)


def test_a_label_refused_in_part_is_refused_whole(
    runtime: Runtime, admin: ActorRef, tmp_path: Any
) -> None:
    """Under a policy that shows couriers no phone, a courier's label is refused: nothing is
    decrypted for a label that cannot be made, and the log names the field refused."""
    from privguard.bootstrap import build_runtime
    from privguard.policy.loader import shipped_policy_text

    text = shipped_policy_text()
    rule = "  - id: courier.delivery-phone\n    roles: [courier]\n"
    assert rule in text, "the shipped policy changed; update this test"
    strict = tmp_path / "strict.yaml"
    strict.write_text(text.replace(rule, rule.replace("[courier]", "[auditor]"), 1))
    rt = build_runtime(runtime.settings.model_copy(update={"policy_path": strict}))
    try:
        w = build_world(rt, admin)
        (order_id,) = orders_of(w, "own")
        with TestClient(create_app(rt)) as client:
            r = label(w, client, "courier", order_id)
        assert (r.status_code, r.json()["error"]["rule"]) == (403, "default.deny")
        entry = entries(rt)[-1]
        assert entry.actor_id == w.actors["courier"].actor_id
        assert entry.decisions == [
            {"field": "mobile_phone", "view": "none", "rule": "default.deny"}
        ]
    finally:
        rt.close()


def test_relay_number_and_return_address(world: tuple[World, TestClient]) -> None:
    w, _ = world
    (order_id,) = orders_of(w, "own")
    waybills = Waybills(w.runtime.vault, w.runtime.keys)
    merchant = w.actors["merchant_staff"]
    with unit_of_work(w.runtime.sessions) as session:
        payload = waybills.label(
            session, merchant, order_id, now=utcnow(), relay="95013,1234",
            return_address={"province": "浙江省", "city": "杭州市", "district": "西湖区",
                            "detail": "文三路8号2单元"},
        )
    assert (payload.recipient_phone, payload.phone_is_relay) == ("95013,1234", True)
    assert payload.return_address == "浙江省杭州市西湖区文三路****"
    assert check_payload(payload) == []
    # With a relay the recipient's own number is not even read.
    fields = {d["field"] for d in entries(w.runtime)[-1].decisions}
    assert fields == {"name", "shipping_addresses"}
    with unit_of_work(w.runtime.sessions) as session, pytest.raises(WaybillIncomplete) as err:
        waybills.label(session, merchant, order_id, now=utcnow(), relay="call 欧阳娜娜")
    assert [(e.field, e.rule) for e in err.value.errors] == [
        ("recipient_phone", "waybill.relay-format")
    ]


# --------------------------------------------------------------------------------------------
# Resolving the QR code
# --------------------------------------------------------------------------------------------

FULL_ADDRESS = CANONICAL["shipping_addresses"][0]


def test_the_assigned_courier_resolves_the_full_address(world: tuple[World, TestClient]) -> None:
    w, client = world
    (order_id,) = orders_of(w, "own")
    token = token_for(w, client, order_id)
    r = resolve(w, client, "courier", token)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["order_id"] == str(order_id)
    assert body["address"] == FULL_ADDRESS
    entry = entries(w.runtime)[-1]
    assert (entry.actor_id, entry.subject_id, entry.purpose) == (
        w.actors["courier"].actor_id, w.subjects["own"], "delivery"
    )
    assert entry.decisions == [
        {"field": "shipping_addresses", "view": "plain", "rule": "courier.delivery-address"}
    ]
    assert entry.detail == {"order_id": str(order_id), "use": "waybill_resolve"}
    # The token is no personal information and names none.
    assert "欧阳" not in token and "8000" not in token and "518057" not in token


REFUSED = {
    "courier_b": "default.deny",  # a courier, not assigned: the gate refuses
    "merchant_staff": RULE_COURIERS_ONLY,
    "merchant_staff_b": RULE_COURIERS_ONLY,
    "customer_service": RULE_COURIERS_ONLY,  # even with the buyer's ticket open
    "consumer": RULE_COURIERS_ONLY,  # the buyer too: the privacy center shows them their data
    "analyst": RULE_COURIERS_ONLY,
    "platform_admin": RULE_COURIERS_ONLY,
}


@pytest.mark.parametrize(("who", "rule"), REFUSED.items(), ids=list(REFUSED))
def test_anyone_else_gets_the_answer_a_forged_code_gets(
    world: tuple[World, TestClient], who: str, rule: str
) -> None:
    w, client = world
    (order_id,) = orders_of(w, "own")
    token = token_for(w, client, order_id)
    r = resolve(w, client, who, token)
    forged = resolve(w, client, who, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert r.status_code == forged.status_code == 403
    assert r.json() == forged.json()
    assert r.json()["error"]["rule"] == "waybill.not-resolvable"
    assert "欧阳" not in r.text and "科技园" not in r.text
    mine = [
        e for e in entries(w.runtime)
        if e.actor_id == w.actors[who].actor_id and e.detail.get("use") == "waybill_resolve"
    ]
    # The valid code's refusal: logged for the buyer, with the real rule; the forged one too.
    assert [(e.subject_id, e.decisions[0]["rule"], e.decisions[0]["view"]) for e in mine] == [
        (w.subjects["own"], rule, "none"),
        (None, RULE_TOKEN_INVALID, "none"),
    ]


def test_codes_signed_for_something_else_or_expired_do_not_resolve(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    (order_id,) = orders_of(w, "own")
    root = w.runtime.keys.blind_index_root()
    past = Claim(order_id, (utcnow() - timedelta(seconds=5)).replace(microsecond=0))
    future = Claim(order_id, (utcnow() + timedelta(days=1)).replace(microsecond=0))
    cases = {
        "expired": (LinkSigner(root, "waybill-qr").make(past.text()), RULE_TOKEN_EXPIRED),
        # A valid unsubscribe-link signature is not a waybill code.
        "other purpose": (LinkSigner(root, "unsubscribe").make(future.text()), RULE_TOKEN_INVALID),
        "garbage": ("not a token", RULE_TOKEN_INVALID),
    }
    good = resolve(w, client, "courier", LinkSigner(root, "waybill-qr").make(future.text()))
    assert good.status_code == 200
    for name, (token, rule) in cases.items():
        r = resolve(w, client, "courier", token)
        assert r.status_code == 403, name
        assert r.json() == resolve(w, client, "courier_b", token).json()
        assert entries(w.runtime)[-2].decisions[0]["rule"] == rule, name


@pytest.mark.parametrize(
    ("status", "delivered_days_ago", "resolves"),
    [
        ("shipped", None, True),
        ("delivered", 0.5, True),  # within the courier's 24-hour grace period
        ("delivered", 1.1, False),  # after it
        ("completed", 3.0, False),
    ],
)
def test_the_code_works_while_the_shipment_is_active(
    world: tuple[World, TestClient], status: str, delivered_days_ago: float | None, resolves: bool
) -> None:
    """The "own" buyer has another parcel in transit with the same courier: that one does not
    keep this one's code alive."""
    w, client = world
    order_id = add_order(
        w.runtime, w.subjects["own"], w.orgs["merchant_a"], carrier_id=w.orgs["carrier"],
        courier_id=w.actors["courier"].actor_id, status=status,
        delivered_days_ago=delivered_days_ago,
    )
    token = token_for(w, client, order_id)  # the merchant's after-sales window is still open
    r = resolve(w, client, "courier", token)
    assert (r.status_code == 200) is resolves, r.text
    if not resolves:
        assert r.json() == resolve(w, client, "courier", "forged.code").json()
        refusal = [e for e in entries(w.runtime) if e.detail.get("use") == "waybill_resolve"][-2]
        assert refusal.decisions == [
            {"field": "shipping_addresses", "view": "none", "rule": "default.deny"}
        ]


def test_a_code_for_an_erased_buyer_does_not_resolve(
    world: tuple[World, TestClient], admin: ActorRef
) -> None:
    w, client = world
    (order_id,) = orders_of(w, "own")
    token = token_for(w, client, order_id)
    with unit_of_work(w.runtime.sessions) as session:
        w.runtime.vault.erase(session, admin, w.subjects["own"], now=utcnow())
    r = resolve(w, client, "courier", token)
    assert r.status_code == 403 and r.json()["error"]["rule"] == "waybill.not-resolvable"
    assert label(w, client, "merchant_staff", order_id).status_code == 404


def test_service_refuses_unknown_orders_alike(world: tuple[World, TestClient]) -> None:
    w, _ = world
    waybills = Waybills(w.runtime.vault, w.runtime.keys)
    with unit_of_work(w.runtime.sessions) as session, pytest.raises(OrderNotFound):
        waybills.label(session, w.actors["merchant_staff"], uuid.uuid4(), now=utcnow())


# --------------------------------------------------------------------------------------------
# The property through the gate: generated personal information, and the demo marketplace's
# --------------------------------------------------------------------------------------------


@settings(
    max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=names, phone=mobiles, address=addresses())
def test_gated_labels_never_print_the_name_the_phone_or_a_room(
    world: tuple[World, TestClient],
    admin: ActorRef,
    name: str,
    phone: str,
    address: tuple[dict[str, Any], Detail],
) -> None:
    w, _ = world
    raw_address, detail = address
    pi = {"name": name, "mobile_phone": phone, "shipping_addresses": [raw_address]}
    try:
        canonical = w.runtime.vault.validate(pi, today=NOW.date())
    except InvalidPI:
        assume(False)
    with unit_of_work(w.runtime.sessions) as session:
        sid = w.runtime.vault.register(session, admin, pi, now=utcnow())
    order_id = add_order(w.runtime, sid, w.orgs["merchant_a"], carrier_id=w.orgs["carrier"],
                         courier_id=w.actors["courier"].actor_id)
    waybills = Waybills(w.runtime.vault, w.runtime.keys)
    for who in ("merchant_staff", "courier"):
        with unit_of_work(w.runtime.sessions) as session:
            payload = waybills.label(session, w.actors[who], order_id, now=utcnow())
        expected = {
            "name": canonical["name"],
            "phone": national_digits(canonical["mobile_phone"]),
            "numbered": detail.numbered,
            "background": BACKGROUND,
        }
        assert_label_text_safe(payload_text(payload), payload, **expected)
        assert_label_text_safe(pdf_text(render_pdf(payload)), payload, **expected)


def test_demo_marketplace_labels_never_print_the_name_the_phone_or_a_room(
    runtime: Runtime, admin: ActorRef
) -> None:
    """`privguard demo` data (marketplace/demo_data.py) as seeded, every order's label printed
    by its merchant's staff through the gate, and checked in JSON and PDF."""
    assert seed_demo(runtime, DemoSize(consumers=40, orders=80, seed=41), now=NOW)
    waybills = Waybills(runtime.vault, runtime.keys)
    with unit_of_work(runtime.sessions) as session:
        orders = session.execute(select(Order).order_by(Order.placed_at)).scalars().all()
        staff = {
            a.organisation_id: ActorRef(a.actor_id, Role(a.role), a.organisation_id)
            for a in session.execute(
                select(Actor).where(Actor.role == Role.MERCHANT_STAFF.value)
            ).scalars()
        }
    assert len(orders) == 80
    for order in orders:
        # Printed an hour after the order was placed, when the merchant's window is open.
        when = order.placed_at + timedelta(hours=1)
        with unit_of_work(runtime.sessions) as session:
            payload = waybills.label(session, staff[order.merchant_id], order.order_id, now=when)
            pi = runtime.vault.read(
                session, admin, order.subject_id, fields=["name", "mobile_phone",
                "shipping_addresses"], purpose="account_management", view=View.PLAIN, now=NOW,
            ).values
        detail = pi["shipping_addresses"].value[0]["detail"]
        numbered = tuple(re.findall(r"\d+号|\d+栋|\d+单元|\d+室", detail))
        assert len(numbered) == 4
        expected = {
            "name": pi["name"].value,
            "phone": national_digits(pi["mobile_phone"].value),
            "numbered": numbered,
            "background": " ".join([BACKGROUND, *MERCHANTS, *CARRIERS]),
        }
        assert_label_text_safe(payload_text(payload), payload, **expected)
        assert_label_text_safe(pdf_text(render_pdf(payload)), payload, **expected)


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------


def test_cli_prints_a_label_as_the_key_holder(
    world: tuple[World, TestClient], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from privguard.cli import app

    w, _ = world
    settings = w.runtime.settings
    monkeypatch.setenv("PRIVGUARD_HOME", str(settings.home))
    monkeypatch.setenv("PRIVGUARD_KEY_FILE", str(settings.resolved_key_file))
    if settings.database_url:
        monkeypatch.setenv("PRIVGUARD_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("PRIVGUARD_DATABASE_URL", raising=False)
    (order_id,) = orders_of(w, "own")
    out = tmp_path / "label.pdf"
    runner = CliRunner()
    monkeypatch.setenv("PRIVGUARD_API_KEY", w.tokens["merchant_staff"])
    result = runner.invoke(app, ["waybill", str(order_id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = pdf_text(out.read_bytes())
    assert "欧阳**" in text and "*******8000" in text and "欧阳娜娜" not in text
    assert entries(w.runtime)[-1].actor_id == w.actors["merchant_staff"].actor_id

    monkeypatch.setenv("PRIVGUARD_API_KEY", w.tokens["courier_b"])
    refused = runner.invoke(app, ["waybill", str(order_id), "--out", str(tmp_path / "b.pdf")])
    assert refused.exit_code == 1 and f"no order {order_id}" in refused.output
    assert not (tmp_path / "b.pdf").exists()
