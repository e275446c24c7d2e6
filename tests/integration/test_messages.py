"""Order chats and notes stored through privguard (issue 7, ingestion), on SQLite and
PostgreSQL: what merchants and agents read is redacted; the original is sealed under the
consumer's key, shown only to the consumer (and the officer for legal duties), logged, and gone
when the consumer is erased."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from privguard.api.app import create_app
from privguard.bootstrap import Runtime
from privguard.detect.message_models import OrderMessage
from privguard.marketplace.models import Order
from privguard.policy.rules import ActorRef
from privguard.store.uow import unit_of_work

from .world import World, build_world

PHONE = "13912345678"
ID = "11010519491231002X"


@pytest.fixture
def world(runtime: Runtime, admin: ActorRef) -> Iterator[tuple[World, TestClient]]:
    w = build_world(runtime, admin)
    with TestClient(create_app(runtime)) as client:
        yield w, client


def test_messages_are_redacted_for_the_parties_and_whole_for_their_owner(
    runtime: Runtime, world: tuple[World, TestClient]
) -> None:
    w, client = world
    with unit_of_work(runtime.sessions) as session:
        order = str(session.execute(select(Order.order_id).where(
            Order.subject_id == w.subjects["own"])).scalar_one())
    url = f"/v1/orders/{order}/messages"
    said = f"请改送到朝阳区建国路88号，电话{PHONE}，身份证{ID}"
    r = client.post(url, headers=w.headers("consumer"), json={"kind": "chat", "text": said})
    assert r.status_code == 201, r.text
    body = r.json()
    assert PHONE not in body["text"] and ID not in body["text"]
    assert {"PHONE_NUMBER", "CN_RESIDENT_ID"} <= set(body["found"])
    r = client.post(url, headers=w.headers("merchant_staff"),
                    json={"kind": "chat", "text": "好的，已备注"})
    assert r.status_code == 201 and r.json()["redacted"] is False
    # Nothing of the original is stored in plain text.
    with unit_of_work(runtime.sessions) as session:
        rows = session.execute(select(OrderMessage)).scalars().all()
        blob = b"".join((m.sealed_original or b"") + m.redacted.encode() for m in rows)
        assert PHONE.encode() not in blob and ID.encode() not in blob
    # The merchant, the courier and customer service read the redacted text.
    for role in ("merchant_staff", "courier", "customer_service"):
        r = client.get(url, headers=w.headers(role))
        assert r.status_code == 200, (role, r.text)
        assert PHONE not in r.text and "<PHONE_NUMBER>" in r.text, role
        r = client.get(url, headers=w.headers(role), params={"originals": True})
        assert r.status_code == 403, role
    # Another merchant, courier or consumer does not even find the order.
    for role in ("merchant_staff_b", "courier_b", "consumer_b", "marketing"):
        assert client.get(url, headers=w.headers(role)).status_code == 404, role
        assert client.post(url, headers=w.headers(role),
                           json={"text": "hi"}).status_code == 404, role
    # The consumer sees their own words; the officer, for legal duties only; both logged.
    mine = client.get(url, headers=w.headers("consumer"), params={"originals": True}).json()
    assert mine[0]["text"] == said
    r = client.get(url, headers=w.headers("privacy_officer"), params={"originals": True})
    assert r.status_code == 403
    r = client.get(url, headers=w.headers("privacy_officer"),
                   params={"originals": True, "purpose": "legal_obligation"})
    assert r.json()[0]["text"] == said
    log = client.get("/v1/me/access-log", headers=w.headers("consumer")).json()["accesses"]
    assert [a["role"] for a in log if a["action"] == "read_messages"][:2] == [
        "privacy_officer", "privacy_officer"]
    # Erasing the consumer takes their messages with them.
    r = client.delete(f"/v1/subjects/{w.subjects['own']}", headers=w.headers("platform_admin"))
    assert r.status_code == 204
    with unit_of_work(runtime.sessions) as session:
        left = session.execute(text("SELECT count(*) FROM order_messages")).scalar_one()
    assert left == 0


def test_bad_messages_are_refused_by_field(
    world: tuple[World, TestClient], runtime: Runtime
) -> None:
    w, client = world
    with unit_of_work(runtime.sessions) as session:
        order = str(session.execute(select(Order.order_id).where(
            Order.subject_id == w.subjects["own"])).scalar_one())
    r = client.post(f"/v1/orders/{order}/messages", headers=w.headers("consumer"),
                    json={"kind": "chat", "text": "   "})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "text"
    r = client.post(f"/v1/orders/{order}/messages", headers=w.headers("privacy_officer"),
                    json={"text": "x"})
    assert r.status_code == 403
