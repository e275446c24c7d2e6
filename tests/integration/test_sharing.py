"""Third-party sharing end to end over the API, on SQLite and PostgreSQL (PIPL Art. 21, 23,
38-39, 47; GB/T 35273-2020 9.7): nothing leaves outside an agreement in force, each recipient
needs its own separate consent and, abroad, a consent to the transfer; every transfer is
recorded for "who has my data"; deletions, corrections and withdrawals reach the recipients
that received the data; an ended agreement opens a return-or-delete task."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from privguard.api.app import create_app
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.marketplace.models import Organisation
from privguard.policy.rules import ActorRef
from privguard.store.uow import unit_of_work

from .world import World, build_world, publish_stub_notice

AGREED = ["mobile_phone", "name"]


@pytest.fixture
def world(runtime: Runtime, admin: ActorRef) -> Iterator[tuple[World, TestClient]]:
    w = build_world(runtime, admin)
    publish_stub_notice(runtime, 1)
    with TestClient(create_app(runtime)) as client:
        yield w, client


def register(client: TestClient, w: World, org: uuid.UUID, country: str = "CN"):  # type: ignore[no-untyped-def]
    return client.post("/v1/recipients", headers=w.headers("privacy_officer"), json={
        "organisation_id": str(org), "legal_entity": "星云支付科技有限公司",
        "contact": "privacy@example.com", "country": country, "processor_role": "independent",
        "category": "advertising"})


def agree(client: TestClient, w: World, org: uuid.UUID, fields: list[str] = AGREED,  # type: ignore[no-untyped-def]
          purposes: tuple[str, ...] = ("third_party_sharing",), days: int = 365):
    now = utcnow()
    return client.post(f"/v1/recipients/{org}/agreements", headers=w.headers("privacy_officer"),
                       json={"reference": "DPA-2026-017", "purposes": list(purposes),
                             "fields": fields, "retention_days": 180, "sub_processing": False,
                             "starts_at": (now - timedelta(days=1)).isoformat(),
                             "ends_at": (now + timedelta(days=days)).isoformat()})


def consent(client: TestClient, w: World, kind: str, target: str, action: str = "grant") -> None:
    if action == "grant":
        r = client.post("/v1/me/consents", headers=w.headers("consumer"), json={
            "kind": kind, "target": target, "notice_version": 1, "text_shown": "同意提供给该公司"})
    else:
        r = client.post("/v1/me/consents/withdraw", headers=w.headers("consumer"),
                        json={"kind": kind, "target": target})
    assert r.status_code in (200, 201), r.text


def share(client: TestClient, w: World, org: uuid.UUID, fields: list[str],  # type: ignore[no-untyped-def]
          who: str = "partner", subjects: tuple[str, ...] = ("own",)):
    return client.post("/v1/transfers", headers=w.headers(who), json={
        "recipient_id": str(org), "purpose": "third_party_sharing", "fields": fields,
        "subject_ids": [str(w.subjects[s]) for s in subjects]})


def test_the_registry_checks_what_it_records(world: tuple[World, TestClient]) -> None:
    w, client = world
    partner = w.orgs["partner"]
    r = register(client, w, partner, country="ZZ")
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "country"
    r = client.post("/v1/recipients", headers=w.headers("merchant_staff"), json={
        "organisation_id": str(partner), "legal_entity": "x", "contact": "x", "country": "CN",
        "processor_role": "independent", "category": "advertising"})
    assert r.status_code == 403
    assert register(client, w, w.orgs["merchant_a"]).status_code == 422  # not a partner
    assert register(client, w, partner).status_code == 201
    assert register(client, w, partner).status_code == 422  # twice
    r = agree(client, w, partner, fields=["name", "shoe_size"], purposes=("gossip",))
    assert r.status_code == 422
    assert {f["field"] for f in r.json()["error"]["fields"]} == {"purposes", "fields"}
    assert agree(client, w, partner).status_code == 201
    listed = client.get("/v1/recipients", headers=w.headers("auditor")).json()
    assert [x["legal_entity"] for x in listed] == ["星云支付科技有限公司"]
    assert listed[0]["cross_border"] is False


def test_only_agreed_fields_leave_and_only_with_the_recipients_own_consent(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    partner = w.orgs["partner"]
    register(client, w, partner)
    agree(client, w, partner)
    # Nothing outside the agreement is even attempted, whoever asks; the refusal is logged.
    for field in ("email", "resident_id", "bank_card"):
        r = share(client, w, partner, ["name", field])
        assert r.status_code == 403 and r.json()["error"]["rule"] == "sharing.outside-agreement"
        assert field in r.json()["error"]["message"]
    # No separate consent to this recipient: nothing of the consumer leaves.
    r = share(client, w, partner, AGREED)
    assert r.status_code == 200, r.text
    assert r.json()["subjects"][0]["fields"] == {}
    assert r.json()["subjects"][0]["error"] == "consent.missing"
    consent(client, w, "third_party", str(partner))
    r = share(client, w, partner, AGREED, subjects=("own", "foreign"))
    own, foreign = r.json()["subjects"]
    assert set(own["fields"]) == set(AGREED) and own["views"] == {"mobile_phone": "masked",
                                                                   "name": "masked"}
    assert foreign["error"] == "consent.missing"  # another consumer did not agree
    # Another partner cannot receive for this recipient; a merchant cannot push.
    assert share(client, w, partner, AGREED, who="merchant_staff").status_code == 403
    # The gate refuses fields outside the agreement on every route, not only /v1/transfers.
    r = client.get(f"/v1/subjects/{w.subjects['own']}", headers=w.headers("partner"),
                   params={"purpose": "third_party_sharing", "fields": ["name", "email"]})
    assert r.status_code == 200
    assert set(r.json()["fields"]) == {"name"} and r.json()["fields"]["name"]["view"] == "masked"
    assert [(d["field"], d["rule"]) for d in r.json()["denied"]] == [
        ("email", "sharing.outside-agreement")]
    # Who has my data: the recipient, the purpose and the union of fields received.
    holders = client.get("/v1/me/recipients", headers=w.headers("consumer")).json()
    assert len(holders) == 1
    assert holders[0]["legal_entity"] == "星云支付科技有限公司"
    assert holders[0]["fields"] == AGREED and holders[0]["times"] == 2
    assert client.get("/v1/me/recipients", headers=w.headers("consumer_b")).json() == []
    assert client.get("/v1/me/recipients", headers=w.headers("partner")).status_code == 403


def test_a_recipient_abroad_needs_consent_to_the_transfer(
    runtime: Runtime, world: tuple[World, TestClient]
) -> None:
    w, client = world
    with unit_of_work(runtime.sessions) as session:
        org = Organisation(organisation_id=uuid.uuid4(), kind="partner", name="Nimbus Ads Inc.",
                           created_at=utcnow())
        session.add(org)
    abroad = org.organisation_id
    assert register(client, w, abroad, country="US").json()["cross_border"] is True
    agree(client, w, abroad)
    consent(client, w, "third_party", str(abroad))
    r = share(client, w, abroad, AGREED, who="privacy_officer")  # an officer pushes
    assert r.json()["subjects"][0]["error"] == "sharing.cross-border-consent"
    consent(client, w, "cross_border", str(abroad))
    r = share(client, w, abroad, AGREED, who="privacy_officer")
    assert set(r.json()["subjects"][0]["fields"]) == set(AGREED)
    holders = client.get("/v1/me/recipients", headers=w.headers("consumer")).json()
    assert holders[0]["cross_border"] is True and holders[0]["country"] == "US"


def test_recipients_hear_of_withdrawals_corrections_and_deletions(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    partner = w.orgs["partner"]
    register(client, w, partner)
    agree(client, w, partner, fields=["name"])
    consent(client, w, "third_party", str(partner))
    share(client, w, partner, ["name"])

    def notices() -> list[dict]:  # type: ignore[type-arg]
        r = client.get("/v1/recipient-notices", headers=w.headers("partner"))
        assert r.status_code == 200, r.text
        return r.json()

    assert notices() == []
    # A correction of a field it never received is none of its business; of one it did, is.
    r = client.patch(f"/v1/subjects/{w.subjects['own']}", headers=w.headers("consumer"),
                     json={"pi": {"email": "new@example.com"}})
    assert r.status_code == 200, r.text
    assert notices() == []
    client.patch(f"/v1/subjects/{w.subjects['own']}", headers=w.headers("consumer"),
                 json={"pi": {"name": "王小二"}})
    assert [(n["event"], n["fields"]) for n in notices()] == [("corrected", ["name"])]
    consent(client, w, "third_party", str(partner), action="withdraw")
    assert [n["event"] for n in notices()] == ["corrected", "consent_withdrawn"]
    ids = [n["notice_id"] for n in notices()]
    # Only the recipient's own partners see and acknowledge its notices.
    r = client.get("/v1/recipient-notices", headers=w.headers("merchant_staff"))
    assert r.status_code == 403
    r = client.post("/v1/recipient-notices/ack", headers=w.headers("partner"),
                    json={"notice_ids": ids})
    assert r.json() == {"acknowledged": 2} and notices() == []
    r = client.delete(f"/v1/subjects/{w.subjects['own']}", headers=w.headers("platform_admin"))
    assert r.status_code == 204, r.text
    assert [(n["event"], n["subject_id"]) for n in notices()] == [
        ("deleted", str(w.subjects["own"]))]


def test_an_ended_agreement_stops_sharing_and_opens_a_task(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    partner = w.orgs["partner"]
    register(client, w, partner)
    agreement = agree(client, w, partner).json()["agreement_id"]
    consent(client, w, "third_party", str(partner))
    assert share(client, w, partner, AGREED).json()["subjects"][0]["fields"]
    officer = w.headers("privacy_officer")
    assert client.get("/v1/agreement-tasks", headers=officer).json() == []
    r = client.post(f"/v1/agreements/{agreement}/terminate", headers=officer)
    assert r.status_code == 200 and r.json()["terminated_at"]
    r = share(client, w, partner, AGREED)
    assert r.status_code == 403 and r.json()["error"]["rule"] == "sharing.no-agreement"
    r = client.get(f"/v1/subjects/{w.subjects['own']}", headers=w.headers("partner"),
                   params={"purpose": "third_party_sharing", "fields": ["name"]})
    assert r.status_code in (403, 404)
    tasks = client.get("/v1/agreement-tasks", headers=officer).json()
    assert len(tasks) == 1 and tasks[0]["agreement_id"] == agreement
    task = tasks[0]["task_id"]
    r = client.post(f"/v1/agreement-tasks/{task}/close", headers=officer,
                    json={"outcome": "burned", "evidence": "x"})
    assert r.status_code == 422
    r = client.post(f"/v1/agreement-tasks/{task}/close", headers=officer,
                    json={"outcome": "deleted", "evidence": "certificate DEL-88"})
    assert r.status_code == 200 and r.json()["outcome"] == "deleted"
    assert client.get("/v1/agreement-tasks", headers=officer).json() == []
    assert client.get("/v1/agreement-tasks", headers=w.headers("partner")).status_code == 403


def test_no_field_outside_the_agreement_ever_leaves(
    runtime: Runtime, world: tuple[World, TestClient]
) -> None:
    """Every catalog field, asked alone and with the agreed ones, by pull and by push."""
    w, client = world
    partner = w.orgs["partner"]
    register(client, w, partner)
    agree(client, w, partner)
    consent(client, w, "third_party", str(partner))
    for name in runtime.catalog.names():
        for who in ("partner", "privacy_officer"):
            r = share(client, w, partner, [*AGREED, name], who=who)
            if name in AGREED:
                assert r.status_code == 200
                left = r.json()["subjects"][0]["fields"]
                assert set(left) <= set(AGREED), (name, left)
            else:
                assert r.status_code == 403, (name, r.text)
