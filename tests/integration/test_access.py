"""Purpose-bound access end to end: relationship windows, tickets, tenant isolation, the
consumer's own access history, explanations, and key operations in the log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from typer.testing import CliRunner

from privguard.api.app import create_app
from privguard.audit.entry import LogEntry
from privguard.audit.models import AccessLogEntry
from privguard.bootstrap import Runtime
from privguard.cli import app as cli
from privguard.policy.rules import ActorRef
from privguard.store.uow import unit_of_work

from .world import World, add_order, build_world

READ_CONTACT = {"purpose": "after_sales", "fields": ["name", "mobile_phone"], "view": "plain"}


@pytest.fixture
def world(runtime: Runtime, admin: ActorRef) -> Iterator[tuple[World, TestClient]]:
    w = build_world(runtime, admin)
    with TestClient(create_app(runtime)) as client:
        yield w, client


def _entries(runtime: Runtime) -> list[LogEntry]:
    with unit_of_work(runtime.sessions) as session:
        texts = session.execute(
            select(AccessLogEntry.entry).order_by(AccessLogEntry.entry_id)
        ).scalars()
        return [LogEntry.from_json(t) for t in texts]


@pytest.mark.parametrize(
    ("days_since_delivery", "visible"), [(None, True), (14.9, True), (15.1, False)]
)
def test_merchant_access_ends_with_the_after_sales_window(
    world: tuple[World, TestClient], days_since_delivery: float | None, visible: bool
) -> None:
    w, client = world
    sid = w.subjects["none"]
    add_order(w.runtime, sid, w.orgs["merchant_a"],
              status="delivered" if days_since_delivery else "shipped",
              delivered_days_ago=days_since_delivery)
    r = client.get(f"/v1/subjects/{sid}", params=READ_CONTACT, headers=w.headers("merchant_staff"))
    assert r.status_code == (200 if visible else 404)
    if visible:
        assert {k: v["view"] for k, v in r.json()["fields"].items()} == {
            "name": "masked", "mobile_phone": "masked"
        }
    last = _entries(w.runtime)[-1]
    assert last.subject_id == sid and last.role == "merchant_staff"
    expected_rule = "merchant.order-contact" if visible else "default.deny"
    assert {d["rule"] for d in last.decisions} == {expected_rule}


@pytest.mark.parametrize(("hours", "visible"), [(23, True), (25, False)])
def test_courier_access_ends_after_the_grace_period(
    world: tuple[World, TestClient], hours: int, visible: bool
) -> None:
    w, client = world
    sid = w.subjects["none"]
    add_order(w.runtime, sid, w.orgs["merchant_a"], courier_id=w.actors["courier"].actor_id,
              status="delivered", delivered_days_ago=hours / 24)
    r = client.get(f"/v1/subjects/{sid}", headers=w.headers("courier"),
                   params={"purpose": "delivery", "fields": ["mobile_phone"]})
    assert r.status_code == (200 if visible else 404)


def test_customer_service_sees_plain_only_while_a_ticket_is_open(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    sid = w.subjects["none"]
    cs = w.headers("customer_service")
    params = {"purpose": "customer_support", "fields": ["mobile_phone"], "view": "plain"}

    def phone_view() -> str:
        return client.get(f"/v1/subjects/{sid}", params=params, headers=cs).json()[
            "fields"]["mobile_phone"]["view"]

    assert phone_view() == "masked"
    ticket = client.post("/v1/tickets", headers=w.headers("customer_service"),
                         json={"subject_id": str(sid), "topic": "refund"})
    assert ticket.status_code == 201
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(w.runtime.engine, "before_cursor_execute", seen)
    try:
        assert phone_view() == "plain"
    finally:
        event.remove(w.runtime.engine, "before_cursor_execute", seen)
    # The ticket is asked in the same statement that loads the record (a round trip fewer).
    asking = [s for s in statements if "support_tickets" in s]
    assert len(asking) == 1 and "subject_keys" in asking[0]
    closed = client.post(f"/v1/tickets/{ticket.json()['ticket_id']}/close", headers=cs)
    assert closed.status_code == 200 and closed.json()["closed_at"] is not None
    assert phone_view() == "masked"
    again = client.post(f"/v1/tickets/{ticket.json()['ticket_id']}/close", headers=cs)
    assert again.json()["closed_at"] == closed.json()["closed_at"]
    assert [e.action for e in _entries(w.runtime) if e.action.startswith("ticket.")] == [
        "ticket.open", "ticket.close"
    ]
    # A ticket can only name an order of that same customer.
    foreign_order = add_order(w.runtime, w.subjects["foreign"], w.orgs["merchant_b"])
    for order_id in (foreign_order, uuid.uuid4()):
        bad = client.post("/v1/tickets", headers=cs, json={
            "subject_id": str(sid), "topic": "refund", "order_id": str(order_id)})
        assert bad.status_code == 422
        assert bad.json()["error"]["fields"] == [{
            "field": "order_id", "rule": "ticket.order",
            "message": "is not an order of this customer"}]
    # A consumer cannot close someone else's ticket; the answer does not reveal it exists.
    other = client.post(f"/v1/tickets/{ticket.json()['ticket_id']}/close",
                        headers=w.headers("consumer"))
    assert other.status_code == 404


def test_merchants_cannot_tell_other_merchants_customers_from_nobody(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    h = w.headers("merchant_staff")
    foreign, unknown = w.subjects["foreign"], uuid.uuid4()
    # by id
    a = client.get(f"/v1/subjects/{foreign}", params=READ_CONTACT, headers=h)
    b = client.get(f"/v1/subjects/{unknown}", params=READ_CONTACT, headers=h)
    assert a.status_code == b.status_code == 404
    assert a.json() == {"error": {"code": "subject_not_found", "message": f"no subject {foreign}"}}
    assert b.json() == {"error": {"code": "subject_not_found", "message": f"no subject {unknown}"}}
    # erased customers of another merchant answer the same as unknown ones too
    # by blind-index lookup: another merchant's customer and a phone nobody has look alike
    for phone in (w.pi["foreign"]["mobile_phone"], "13600000000"):
        r = client.post("/v1/subjects/lookup", headers=h, json={
            "field": "mobile_phone", "value": phone, "purpose": "after_sales"})
        assert (r.status_code, r.json()) == (200, {"subject_ids": []})
    mine = client.post("/v1/subjects/lookup", headers=h, json={
        "field": "mobile_phone", "value": w.pi["own"]["mobile_phone"], "purpose": "after_sales"})
    assert mine.json() == {"subject_ids": [str(w.subjects["own"])]}
    # by customer list: another merchant's list looks like a merchant that does not exist
    c = client.get(f"/v1/merchants/{w.orgs['merchant_b']}/customers", headers=h,
                   params={"purpose": "after_sales"})
    d = client.get(f"/v1/merchants/{unknown}/customers", headers=h,
                   params={"purpose": "after_sales"})
    assert c.status_code == d.status_code == 404
    assert c.json()["error"]["code"] == d.json()["error"]["code"] == "merchant_not_found"
    own = client.get(f"/v1/merchants/{w.orgs['merchant_a']}/customers", headers=h,
                     params={"purpose": "after_sales"})
    assert [x["subject_id"] for x in own.json()["customers"]] == [str(w.subjects["own"])]
    # ...while the log keeps the truth: the refused lookup names the customer it refused,
    # and the refused listing names the merchant it was about.
    entries = _entries(w.runtime)
    refused = [e for e in entries if e.action == "lookup" and e.subject_id == foreign]
    assert refused and refused[-1].decisions[0]["view"] == "none"
    listed = [e for e in entries if e.action == "list" and e.role == "merchant_staff"]
    assert [(e.detail["merchant"], e.decisions[0]["view"] != "none") for e in listed] == [
        (str(w.orgs["merchant_b"]), False), (str(w.orgs["merchant_a"]), True)
    ]  # (asking about a merchant that does not exist touches no one's data: not kept)


def test_platform_staff_reach_customer_lists_only_for_audited_purposes(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    url = f"/v1/merchants/{w.orgs['merchant_b']}/customers"
    r = client.get(url, headers=w.headers("platform_admin"), params={"purpose": "analytics"})
    assert r.status_code == 403 and r.json()["error"]["rule"] == "default.deny"
    r = client.get(url, headers=w.headers("platform_admin"),
                   params={"purpose": "fraud_detection"})
    assert r.status_code == 200
    listing = [e for e in _entries(w.runtime) if e.action == "list"]
    assert [(e.purpose, e.decisions[0]["view"] != "none") for e in listing[-2:]] == [
        ("analytics", False), ("fraud_detection", True)
    ]
    assert listing[-1].detail == {"merchant": str(w.orgs["merchant_b"]), "count": 1}


def test_a_consumer_sees_who_saw_their_data(world: tuple[World, TestClient]) -> None:
    w, client = world
    sid = w.subjects["own"]
    client.get(f"/v1/subjects/{sid}", params=READ_CONTACT, headers=w.headers("merchant_staff"))
    client.get(f"/v1/subjects/{sid}", headers=w.headers("marketing"),
               params={"purpose": "marketing_sms", "fields": ["mobile_phone"]})  # refused
    r = client.get("/v1/me/access-log", headers=w.headers("consumer"),
                   params={"locale": "en", "limit": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["subject_id"] == str(sid)
    marketing, merchant = body["accesses"]
    assert merchant["role"] == "merchant_staff"
    assert merchant["organisation"]["name"] == "甲果园旗舰店"
    assert merchant["organisation"]["kind"] == "merchant"
    assert (merchant["purpose"], merchant["purpose_label"]) == (
        "after_sales", "After-sales service"
    )
    assert merchant["allowed"] is True
    assert {(f["field"], f["label"], f["view"]) for f in merchant["fields"]} == {
        ("name", "Name", "masked"), ("mobile_phone", "Mobile phone", "masked")
    }
    assert marketing["role"] == "marketing" and marketing["allowed"] is False
    assert marketing["fields"] == [{"field": "mobile_phone", "label": "Mobile phone",
                                    "view": "none", "rule": "consent.missing"}]
    # Staff are named by organisation and role only: no employee's identity is disclosed.
    for actor in ("merchant_staff", "marketing"):
        assert str(w.actors[actor].actor_id) not in r.text
        assert w.actors[actor].display_name not in r.text
    # Older pages continue where this one stopped.
    older = client.get("/v1/me/access-log", headers=w.headers("consumer"),
                       params={"before": body["next_before"], "limit": 200}).json()
    assert older["accesses"] and all(
        a["entry_id"] < merchant["entry_id"] for a in older["accesses"]
    )
    # Another consumer sees none of it.
    theirs = client.get("/v1/me/access-log", headers=w.headers("consumer_b")).json()
    assert all(a["entry_id"] not in {marketing["entry_id"], merchant["entry_id"]}
               for a in theirs["accesses"])


def test_explain_shows_the_rule_chain(world: tuple[World, TestClient]) -> None:
    w, client = world
    h = w.headers("auditor")
    base = {"role": "customer_service", "purpose": "customer_support", "field": "mobile_phone"}
    r = client.get("/v1/policy/explain", headers=h, params=base)
    assert r.status_code == 200
    chain = [(s["rule"], s["view"], s["conditions"]) for s in r.json()["chain"]]
    assert chain == [
        ("support.open-ticket-contact", "plain", "relationship open_ticket"),
        ("support.masked-contact", "masked", "always"),
    ]
    assert r.json()["view"] is None
    with_ticket = client.get("/v1/policy/explain", headers=h,
                             params={**base, "facts": ["open_ticket"]}).json()
    assert (with_ticket["view"], with_ticket["rule"]) == ("plain", "support.open-ticket-contact")
    nothing = client.get("/v1/policy/explain", headers=h, params={
        **base, "role": "marketing", "purpose": "marketing_sms", "facts": ["open_ticket"]}).json()
    assert nothing["rule"] == "consent.missing" and nothing["view"] == "none"
    bad = client.get("/v1/policy/explain", headers=h, params={**base, "role": "ceo"})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "role"


def test_key_operations_are_in_the_access_log(runtime: Runtime, admin: ActorRef) -> None:
    from .samples import RAW

    with unit_of_work(runtime.sessions) as session:
        runtime.vault.register(session, admin, RAW, now=runtime_now())
    env = {"PRIVGUARD_HOME": str(runtime.settings.home),
           "PRIVGUARD_KEY_FILE": str(runtime.settings.key_file)}
    if runtime.settings.database_url:
        env["PRIVGUARD_DATABASE_URL"] = runtime.settings.database_url
    result = CliRunner().invoke(cli, ["keys", "rotate"], env=env)
    assert result.exit_code == 0, result.output
    ops = [e for e in _entries(runtime) if e.action.startswith("key.")]
    assert [e.action for e in ops] == ["key.add", "key.rewrap"]
    assert ops[1].detail["data_keys"] == 1
    assert ops[0].request_id and ops[0].request_id == ops[1].request_id  # one command
    assert all(e.decisions[0]["rule"] == "keys.operator" for e in ops)


def runtime_now():  # type: ignore[no-untyped-def]
    from privguard.clock import utcnow

    return utcnow()


def test_a_consumer_can_prove_their_history_with_the_public_key_alone(
    world: tuple[World, TestClient], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import json
    import subprocess
    import sys
    from pathlib import Path

    from privguard.audit.sequencer import sequence_all

    w, client = world
    sid = w.subjects["own"]
    client.get(f"/v1/subjects/{sid}", params=READ_CONTACT, headers=w.headers("merchant_staff"))
    sequence_all(w.runtime.sessions, w.runtime.signer)
    r = client.get("/v1/me/access-log/proof", headers=w.headers("consumer"))
    assert r.status_code == 200
    proof = r.json()
    assert proof["subject_id"] == str(sid)
    history = client.get("/v1/me/access-log", headers=w.headers("consumer"),
                         params={"limit": 200}).json()["accesses"]
    assert {e["leaf_index"] for e in proof["entries"]} == {
        a["leaf_index"] for a in history if a["leaf_index"] is not None
    }
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    script = Path(__file__).resolve().parents[2] / "docs" / "verify_proof.py"
    key = w.runtime.signer.public_key_bytes.hex()
    ok = subprocess.run([sys.executable, "-I", "-S", str(script), str(path), key],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # Someone else's key does not vouch for it.
    wrong = subprocess.run([sys.executable, "-I", "-S", str(script), str(path), "11" * 32],
                           capture_output=True, text=True)
    assert wrong.returncode == 1
