"""Alerts and security incidents over HTTP (issue 8, Deliver 4-5): who may do what, dismissing
and escalating alerts, the affected set computed from the log and transfers, the notification
drafts with the PIPL Art. 57 content in zh-CN and en, the GDPR 72-hour deadline, and a logged
decision not to notify individuals."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from privguard.api.app import create_app
from privguard.audit.entry import LogEntry
from privguard.audit.models import AccessLogEntry
from privguard.bootstrap import Runtime
from privguard.cases.anomalies import count_alerts
from privguard.cases.anomaly_models import AccessAlert
from privguard.cases.incident_models import IncidentEvent, IncidentSubject
from privguard.cases.incidents import build_incidents
from privguard.clock import utcnow
from privguard.policy.rules import ActorRef, View
from privguard.sharing.models import Recipient, Transfer
from privguard.store.uow import unit_of_work

from ..conftest import NOW
from .samples import OTHER, RAW
from .traffic import insider, read, scan_now
from .world import THIRD, World, build_world

ACTORS = ("privacy_officer", "platform_admin")
READERS = (*ACTORS, "auditor")
EVERY_ROLE = (
    "consumer", "merchant_staff", "customer_service", "courier", "marketing", "analyst",
    "platform_admin", "privacy_officer", "auditor", "partner",
)


@pytest.fixture
def world(runtime: Runtime, admin: ActorRef) -> World:
    return build_world(runtime, admin)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.runtime)) as c:
        yield c


_TRIGGERS = itertools.count(1)


def synthetic_alert(runtime: Runtime, actor: ActorRef, rule: str = "off_hours") -> int:
    """An alert row as the scanner writes it, for tests of who may act on alerts."""
    with unit_of_work(runtime.sessions) as session:
        alert = AccessAlert(
            rule=rule, actor_id=actor.actor_id, organisation_id=actor.organisation_id,
            role=actor.role.value, fired_at=NOW, window_start=NOW - timedelta(minutes=5),
            window_end=NOW, first_entry_id=1, last_entry_id=2,
            trigger_entry_id=next(_TRIGGERS),
            evidence={"accesses": 2}, state="open",
        )
        session.add(alert)
        session.flush()
        return alert.alert_id


def incident_body(world: World, **changes: Any) -> dict[str, Any]:
    body = {
        "title": "客服账号批量查询客户信息",
        "description": "一名客服人员在十分钟内查看了大量客户的联系方式。",
        "cause": "客服账号被用于与工单无关的批量查询。",
        "categories": ["unauthorised_access", "leak"],
        "discovered_at": NOW.isoformat(),
        "window_start": (NOW - timedelta(hours=3)).isoformat(),
        "window_end": (NOW + timedelta(hours=1)).isoformat(),
        "organisation_ids": [str(world.orgs["merchant_a"])],
    }
    body.update(changes)
    return body


# ---------------------------------------------------------------------------- who may


@pytest.mark.parametrize("role", EVERY_ROLE)
def test_officers_act_auditors_read_everyone_else_is_refused(
    world: World, client: TestClient, role: str
) -> None:
    rt = world.runtime
    officer = world.headers("privacy_officer")
    made = client.post("/v1/incidents", json=incident_body(world), headers=officer)
    assert made.status_code == 201, made.text
    iid = made.json()["incident_id"]
    to_dismiss = synthetic_alert(rt, world.actors["customer_service"])
    to_escalate = synthetic_alert(rt, world.actors["customer_service"])
    h = world.headers(role)
    may_read, may_act = role in READERS, role in ACTORS

    reads = [
        client.get("/v1/alerts", headers=h),
        client.get("/v1/incidents", headers=h),
        client.get(f"/v1/incidents/{iid}", headers=h),
        client.get(f"/v1/incidents/{iid}/notifications", headers=h),
    ]
    for r in reads:
        assert r.status_code == (200 if may_read else 403), (r.request.url, r.text)
    acts = [
        (client.post("/v1/incidents", json=incident_body(world), headers=h), 201),
        (client.post(f"/v1/incidents/{iid}/actions", json={"text": "账号已停用"}, headers=h), 200),
        (client.post(f"/v1/alerts/{to_dismiss}/dismiss", json={"reason": "夜班排班"},
                     headers=h), 200),
        (client.post(f"/v1/alerts/{to_escalate}/escalate", json={}, headers=h), 200),
        (client.post(f"/v1/incidents/{iid}/no-notify", json={"reason": "数据已加密且密钥未泄露"},
                     headers=h), 200),
    ]
    for r, ok in acts:
        assert r.status_code == (ok if may_act else 403), (r.request.url, r.text)
        if not may_act:
            assert r.json()["error"]["code"] == "access_denied"
    with unit_of_work(rt.sessions) as session:
        states = set(session.execute(
            select(AccessAlert.state).where(AccessAlert.alert_id.in_([to_dismiss, to_escalate]))
        ).scalars())
    assert states == ({"dismissed", "escalated"} if may_act else {"open"})


def test_unknown_ids_are_404(world: World, client: TestClient) -> None:
    h = world.headers("privacy_officer")
    assert client.post("/v1/alerts/999/dismiss", json={"reason": "x"}, headers=h).status_code \
        == 404
    r = client.get(f"/v1/incidents/{uuid.uuid4()}", headers=h)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "incident_not_found")


# ---------------------------------------------------------------------------- alerts


def test_a_dismissed_alert_keeps_its_reason_redacted_and_stops_counting(
    world: World, client: TestClient
) -> None:
    rt = world.runtime
    agent = world.actors["customer_service"]
    alert_id = synthetic_alert(rt, agent)
    h = world.headers("privacy_officer")
    missing = client.post(f"/v1/alerts/{alert_id}/dismiss", json={"reason": "  "}, headers=h)
    assert missing.status_code == 422
    assert missing.json()["error"]["fields"][0]["field"] == "reason"
    with unit_of_work(rt.sessions) as session:
        assert count_alerts(session, agent.organisation_id, NOW - timedelta(days=1)) == 1  # type: ignore[arg-type]

    r = client.post(f"/v1/alerts/{alert_id}/dismiss",
                    json={"reason": "夜班值守，已与主管 13800138000 核实"}, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["state"] == "dismissed"
    assert out["decided_by"] == str(world.actors["privacy_officer"].actor_id)
    assert "13800138000" not in out["reason"] and "<PHONE_NUMBER>" in out["reason"]
    again = client.post(f"/v1/alerts/{alert_id}/dismiss", json={"reason": "x"}, headers=h)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "alert.decided")
    assert client.post(f"/v1/alerts/{alert_id}/escalate", json={}, headers=h).status_code == 409
    listed = client.get("/v1/alerts", params={"state": "dismissed"}, headers=h).json()
    assert [a["alert_id"] for a in listed] == [alert_id]
    with unit_of_work(rt.sessions) as session:
        assert count_alerts(session, agent.organisation_id, NOW - timedelta(days=1)) == 0  # type: ignore[arg-type]
        logged = [LogEntry.from_json(t) for t in session.execute(
            select(AccessLogEntry.entry).order_by(AccessLogEntry.entry_id)).scalars()]
    (entry,) = [e for e in logged if e.action == "alert.dismiss"]
    assert entry.actor_id == world.actors["privacy_officer"].actor_id
    assert entry.detail == {"alert": alert_id, "rule": "off_hours"}


def test_escalating_the_insiders_alert_opens_an_incident_with_the_customers_read(
    world: World, client: TestClient, admin: ActorRef
) -> None:
    rt = world.runtime
    agent = world.actors["customer_service"]
    with unit_of_work(rt.sessions) as session:
        targets = rt.vault.insert_validated(
            session, admin,
            [rt.vault.validate({"name": f"客{chr(0x4E00 + n)}", "mobile_phone": f"1390000{n:04d}"},
                               today=NOW.date()) for n in range(220)],
            now=NOW,
        )
    insider(rt, agent, targets, NOW - timedelta(minutes=30))
    scan_now(rt, NOW)
    h = world.headers("privacy_officer")
    (alert,) = client.get("/v1/alerts", params={"state": "open"}, headers=h).json()
    assert alert["rule"] == "bulk_access"

    r = client.post(f"/v1/alerts/{alert['alert_id']}/escalate", json={}, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["alert"]["state"] == "escalated"
    incident = out["incident"]
    assert out["alert"]["incident_id"] == incident["incident_id"]
    assert incident["alerts"] == [alert["alert_id"]]
    assert incident["scope_actors"] == [str(agent.actor_id)]
    assert incident["affected"]["subjects"] == 220
    assert incident["affected"]["fields"] == {"mobile_phone": 220, "name": 220}
    assert [e["kind"] for e in incident["events"]] == [
        "opened", "alert_attached", "affected_computed"
    ]
    with unit_of_work(rt.sessions) as session:
        rows = session.execute(
            select(IncidentSubject.subject_id, IncidentSubject.fields).where(
                IncidentSubject.incident_id == uuid.UUID(incident["incident_id"])
            )
        ).all()
    assert {r.subject_id for r in rows} == set(targets)
    assert {tuple(sorted(r.fields.items())) for r in rows} == {
        (("mobile_phone", "masked"), ("name", "masked"))
    }

    # A later alert on another actor joins the same incident and widens it.
    other = synthetic_alert(rt, world.actors["merchant_staff"], rule="no_relationship")
    read(rt, world.actors["merchant_staff"], world.subjects["own"], NOW - timedelta(minutes=1),
         purpose="order_fulfilment")
    joined = client.post(f"/v1/alerts/{other}/escalate",
                         json={"incident_id": incident["incident_id"]}, headers=h)
    assert joined.status_code == 200, joined.text
    widened = joined.json()["incident"]
    assert set(widened["scope_actors"]) == {
        str(agent.actor_id), str(world.actors["merchant_staff"].actor_id)
    }
    assert widened["affected"]["subjects"] == 221
    assert sorted(widened["alerts"]) == sorted([alert["alert_id"], other])


# ---------------------------------------------------------------------------- the affected set


def _transfer(rt: Runtime, world: World, subject: uuid.UUID, fields: list[str], at: Any) -> None:
    with unit_of_work(rt.sessions) as session:
        if session.get(Recipient, world.orgs["partner"]) is None:
            session.add(Recipient(
                recipient_id=world.orgs["partner"], legal_entity="星云支付", contact="p@x.example",
                country="CN", processor_role="independent", category="payment",
                registered_at=NOW - timedelta(days=30), registered_by=None,
            ))
            session.flush()
        session.add(Transfer(
            subject_id=subject, recipient_id=world.orgs["partner"], agreement_id=None,
            purpose="payment_processing", fields=fields, cross_border=False, at=at,
            actor_id=None,
        ))


def affected_world(world: World) -> None:
    """In the window: merchant A's clerk reads its own customer (masked contact) and tries a
    customer of merchant B (refused); merchant B's clerk reads its own; the partner receives a
    third customer's name and phone. Outside the window: merchant A reads its customer again."""
    rt = world.runtime
    a, b = world.actors["merchant_staff"], world.actors["merchant_staff_b"]
    assert read(rt, a, world.subjects["own"], NOW - timedelta(hours=2), purpose="delivery",
                view=View.PLAIN)
    assert not read(rt, a, world.subjects["foreign"], NOW - timedelta(hours=2),
                    purpose="order_fulfilment")
    assert read(rt, b, world.subjects["foreign"], NOW - timedelta(hours=1),
                purpose="order_fulfilment")
    _transfer(rt, world, world.subjects["none"], ["name", "mobile_phone"],
              NOW - timedelta(minutes=30))
    assert read(rt, a, world.subjects["own"], NOW - timedelta(hours=5),
                purpose="order_fulfilment", fields=["name"])


def test_the_affected_set_is_what_the_log_and_transfers_show(
    world: World, client: TestClient
) -> None:
    affected_world(world)
    body = incident_body(world, organisation_ids=[str(world.orgs["merchant_a"]),
                                                  str(world.orgs["partner"])])
    r = client.post("/v1/incidents", json=body, headers=world.headers("privacy_officer"))
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["affected"]["subjects"] == 2
    assert out["affected"]["entries"] == 2
    with unit_of_work(world.runtime.sessions) as session:
        rows = {
            r.subject_id: r
            for r in session.execute(
                select(IncidentSubject).where(
                    IncidentSubject.incident_id == uuid.UUID(out["incident_id"])
                )
            ).scalars()
        }
    own, none = world.subjects["own"], world.subjects["none"]
    assert set(rows) == {own, none}  # not the refused read, not merchant B's, not the old read
    # merchant.ship-to lets the address out plain for delivery; the contact stays masked.
    assert rows[own].fields == {
        "mobile_phone": "masked", "name": "masked", "shipping_addresses": "plain"
    }
    assert rows[own].sources == ["access_log"]
    assert rows[none].fields == {"mobile_phone": "plain", "name": "plain"}
    assert rows[none].sources == ["transfers"]
    assert out["affected"]["fields"] == {"mobile_phone": 2, "name": 2, "shipping_addresses": 1}


# ---------------------------------------------------------------------------- notifications


def test_notification_drafts_carry_the_art_57_content_in_both_languages(
    world: World, client: TestClient
) -> None:
    affected_world(world)
    h = world.headers("privacy_officer")
    body = incident_body(world, organisation_ids=[str(world.orgs["merchant_a"]),
                                                  str(world.orgs["partner"])],
                         jurisdictions=["CN", "EU"])
    iid = client.post("/v1/incidents", json=body, headers=h).json()["incident_id"]
    note = "已停用该账号并重置密钥；值班经理电话 13912345678"
    action = client.post(f"/v1/incidents/{iid}/actions", json={"text": note}, headers=h)
    assert action.status_code == 200, action.text
    r = client.get(f"/v1/incidents/{iid}/notifications", params={"channel": "sms"}, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [a["jurisdiction"] for a in out["authority"]] == ["CN", "EU"]
    zh, en = out["authority"][0]["drafts"]["zh-CN"], out["authority"][0]["drafts"]["en"]
    # PI types, cause, possible harm, remedial steps, what individuals can do, contact.
    for text, words in (
        (zh, ["手机号码", "姓名", "收货地址", "客服账号被用于与工单无关的批量查询",
              "骚扰电话", "已停用该账号并重置密钥", "96110", "dpo@example.com", "涉及个人 2 人"]),
        (en, ["Mobile phone", "Name", "客服账号被用于与工单无关的批量查询", "scam calls",
              "已停用该账号并重置密钥", "96110", "dpo@example.com", "People concerned: 2"]),
    ):
        for word in words:
            assert word in text, (word, text)
    for text in (zh, en):
        assert "13912345678" not in text  # the officer's note was redacted before storage
    assert "GDPR Art. 33" in out["authority"][1]["basis"]

    individuals = out["individuals"]
    assert individuals["decision"] == "pending" and individuals["affected_subjects"] == 2
    drafts = {d["subject_id"]: d for d in individuals["drafts"]}
    own = drafts[str(world.subjects["own"])]
    assert own["channel"] == "sms"
    assert own["fields"] == {"mobile_phone": "masked", "name": "masked",
                             "shipping_addresses": "plain"}
    zh_own, en_own = own["drafts"]["zh-CN"], own["drafts"]["en"]
    assert f"用户 {world.subjects['own']}" in zh_own and "短信" in zh_own
    assert f"account {world.subjects['own']}" in en_own
    for word in ("收货地址（完整）", "手机号码（部分遮掩）", "客服账号被用于", "96110",
                 "已停用该账号并重置密钥", "dpo@example.com", "第五十七条"):
        assert word in zh_own, word
    for word in ("Shipping address", "in full", "partly masked", "PIPL Art. 57",
                 "dpo@example.com", "scam calls"):
        assert word in en_own, word
    none = drafts[str(world.subjects["none"])]["drafts"]["en"]
    assert "Shipping address" not in none  # only their own kinds of information
    every = "".join(d["drafts"][loc] for d in individuals["drafts"] for loc in ("zh-CN", "en"))
    every += zh + en
    for sample in (RAW, OTHER, THIRD):  # no one's personal information in any draft
        digits = "".join(c for c in sample["mobile_phone"] if c.isdigit())
        for value in (sample["name"], digits[-8:], sample["email"].lower()):
            assert value not in every.lower()


def test_gdpr_gives_the_authority_72_hours_and_china_4(world: World, client: TestClient) -> None:
    h = world.headers("privacy_officer")
    found = utcnow() - timedelta(hours=5)
    body = incident_body(world, discovered_at=found.isoformat(), jurisdictions=["EU", "CN"])
    out = client.post("/v1/incidents", json=body, headers=h).json()
    duties = {d["jurisdiction"]: d for d in out["duties"]}
    assert _at(duties["EU"]["authority_by"]) == found + timedelta(hours=72)
    assert duties["EU"]["individuals_by"] is None  # GDPR Art. 34: without undue delay
    assert _at(duties["CN"]["authority_by"]) == found + timedelta(hours=4)
    assert _at(duties["CN"]["individuals_by"]) == found + timedelta(hours=72)
    assert duties["CN"]["authority_overdue"] and not duties["EU"]["authority_overdue"]

    told = client.post(f"/v1/incidents/{out['incident_id']}/actions", headers=h, json={
        "kind": "authority_notified", "jurisdiction": "EU", "text": "已通过监管机构门户报送",
        "taken_at": (found + timedelta(hours=2)).isoformat()})
    assert told.status_code == 200, told.text
    duties = {d["jurisdiction"]: d for d in told.json()["duties"]}
    assert _at(duties["EU"]["authority_notified_at"]) == found + timedelta(hours=2)
    assert duties["CN"]["authority_notified_at"] is None

    # The deadline itself does not move with the clock: 73 hours on, unmet, EU is overdue.
    incidents = build_incidents(world.runtime)
    with unit_of_work(world.runtime.sessions) as session:
        later = incidents.view(session, world.actors["auditor"], uuid.UUID(out["incident_id"]),
                               now=found + timedelta(hours=73))
    eu = next(d for d in later.duties if d.deadlines.jurisdiction == "EU")
    assert not eu.authority_overdue  # it was met at hour 2
    body2 = incident_body(world, discovered_at=found.isoformat(), jurisdictions=["EU"])
    second = client.post("/v1/incidents", json=body2, headers=h).json()
    with unit_of_work(world.runtime.sessions) as session:
        late = incidents.view(session, world.actors["auditor"], uuid.UUID(second["incident_id"]),
                              now=found + timedelta(hours=73))
        early = incidents.view(session, world.actors["auditor"],
                               uuid.UUID(second["incident_id"]),
                               now=found + timedelta(hours=71))
    assert late.duties[0].authority_overdue and not early.duties[0].authority_overdue


def _at(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_decision_not_to_notify_individuals_is_logged_with_its_reason(
    world: World, client: TestClient
) -> None:
    affected_world(world)
    h = world.headers("privacy_officer")
    body = incident_body(world, organisation_ids=[str(world.orgs["merchant_a"])])
    iid = client.post("/v1/incidents", json=body, headers=h).json()["incident_id"]
    assert client.post(f"/v1/incidents/{iid}/no-notify", json={"reason": ""},
                       headers=h).status_code == 422
    reason = "读取的均为遮掩后的信息，且账号已在十分钟内停用，不会对个人造成危害"
    r = client.post(f"/v1/incidents/{iid}/no-notify", json={"reason": reason}, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["individuals"] == "not_notified"
    (event,) = [e for e in out["events"] if e["kind"] == "no_notify"]
    assert event["text"] == reason
    assert event["actor_id"] == str(world.actors["privacy_officer"].actor_id)
    with unit_of_work(world.runtime.sessions) as session:
        logged = [LogEntry.from_json(t) for t in session.execute(
            select(AccessLogEntry.entry).order_by(AccessLogEntry.entry_id)).scalars()]
        stored = session.execute(select(IncidentEvent.kind).where(
            IncidentEvent.incident_id == uuid.UUID(iid))).scalars().all()
    (entry,) = [e for e in logged if e.action == "incident.no_notify"]
    assert entry.actor_id == world.actors["privacy_officer"].actor_id
    assert entry.detail == {"incident": iid}
    assert "no_notify" in stored

    notes = client.get(f"/v1/incidents/{iid}/notifications", headers=h).json()
    assert notes["individuals"]["decision"] == "not_notified"
    assert notes["individuals"]["reason"] == reason
    assert notes["individuals"]["drafts"] == []
    assert reason in notes["authority"][0]["drafts"]["zh-CN"]
    assert "not notified" in notes["authority"][0]["drafts"]["en"]

    # The authority may still require notice (PIPL Art. 57): notifying later is recorded...
    told = client.post(f"/v1/incidents/{iid}/actions", headers=h,
                       json={"kind": "individuals_notified", "text": "应监管要求已逐一通知"})
    assert told.json()["individuals"] == "notified"
    # ...and once told, people cannot be "not notified" any more.
    late = client.post(f"/v1/incidents/{iid}/no-notify", json={"reason": reason}, headers=h)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "incident.individuals")


def test_bad_incident_input_names_the_field(world: World, client: TestClient) -> None:
    h = world.headers("privacy_officer")
    r = client.post("/v1/incidents", headers=h, json=incident_body(
        world, categories=["meteor"], window_end=(NOW - timedelta(days=1)).isoformat(),
        jurisdictions=["XX"]))
    assert r.status_code == 422
    fields = {f["field"]: f["rule"] for f in r.json()["error"]["fields"]}
    assert fields == {"categories": "incident.category", "window_end": "incident.window",
                      "jurisdictions": "incident.jurisdiction"}
    future = client.post("/v1/incidents", headers=h, json=incident_body(
        world, discovered_at=(utcnow() + timedelta(days=1)).isoformat()))
    assert future.json()["error"]["fields"][0]["field"] == "discovered_at"
