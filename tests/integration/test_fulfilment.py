"""Carrying out verified requests over the API, on SQLite and PostgreSQL: a correction applied
through the gate with its values sealed meanwhile, an account cancellation that waits only for
unsettled orders, a consent withdrawal recorded in the ledger, and an explanation of processing
(PIPL Art. 15, 24, 46-48; E-Commerce Law Art. 24)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from privguard.api.app import create_app
from privguard.bootstrap import Runtime
from privguard.marketplace.models import Order
from privguard.policy.rules import ActorRef
from privguard.rights.models import SubjectRequest
from privguard.store.uow import unit_of_work
from privguard.testing import RecordingNotifier

from .world import World, build_world, publish_stub_notice

NEW_NAME = "王小二"


@pytest.fixture
def world(
    runtime: Runtime, admin: ActorRef
) -> Iterator[tuple[World, TestClient, RecordingNotifier]]:
    w = build_world(runtime, admin)
    publish_stub_notice(runtime, 1)
    recorder = RecordingNotifier()
    runtime.verifier.notifier = recorder
    with TestClient(create_app(runtime)) as client:
        yield w, client, recorder


def file(client: TestClient, w: World, type: str, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/me/requests", headers=w.headers("consumer"),
                       json={"type": type, **body})


def verify(client: TestClient, w: World, recorder: RecordingNotifier, rid: str) -> None:
    challenge = client.post(f"/v1/me/requests/{rid}/verify/start", headers=w.headers("consumer"),
                            json={"channel": "mobile_phone"}).json()["challenge_id"]
    r = client.post(f"/v1/me/requests/{rid}/verify", headers=w.headers("consumer"),
                    json={"challenge_id": challenge, "code": recorder.last_code()})
    assert r.json()["state"] == "in_progress", r.text


def officer(client: TestClient, w: World, path: str):  # type: ignore[no-untyped-def]
    return client.post(path, headers=w.headers("privacy_officer"))


def own_name(client: TestClient, w: World) -> str:
    r = client.get(f"/v1/subjects/{w.subjects['own']}", headers=w.headers("consumer"),
                   params={"purpose": "account_management", "fields": ["name"], "view": "plain"})
    assert r.status_code == 200, r.text
    return str(r.json()["fields"]["name"]["value"])


def test_a_correction_is_sealed_until_the_officer_applies_it(
    runtime: Runtime, world: tuple[World, TestClient, RecordingNotifier]
) -> None:
    w, client, recorder = world
    # Bad values are refused at once, naming the field and the rule; nothing is filed.
    r = file(client, w, "correction", values={"mobile_phone": "12345"})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "mobile_phone"
    assert file(client, w, "correction").status_code == 422  # no values
    assert file(client, w, "access", values={"name": NEW_NAME}).status_code == 422
    assert client.get("/v1/me/requests", headers=w.headers("consumer")).json() == []

    r = file(client, w, "correction", values={"name": NEW_NAME})
    assert r.status_code == 201, r.text
    assert r.json()["fields"] == ["name"] and NEW_NAME not in r.text
    rid = r.json()["request_id"]
    with unit_of_work(runtime.sessions) as session:
        row = session.execute(select(SubjectRequest)).scalar_one()
        assert row.sealed_values and NEW_NAME.encode() not in row.sealed_values
        assert NEW_NAME not in str(row.details)

    # Nothing is applied before the consumer's identity is verified, nor by anyone else.
    r = officer(client, w, f"/v1/requests/{rid}/fulfil-correction")
    assert r.status_code == 409 and r.json()["error"]["code"] == "request.not_verified"
    verify(client, w, recorder, rid)
    r = client.post(f"/v1/requests/{rid}/fulfil-correction", headers=w.headers("customer_service"))
    assert r.status_code in (403, 404)
    assert own_name(client, w) != NEW_NAME

    r = officer(client, w, f"/v1/requests/{rid}/fulfil-correction")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "completed" and r.json()["outcome"] == "corrected: name"
    assert own_name(client, w) == NEW_NAME
    with unit_of_work(runtime.sessions) as session:
        assert session.get(SubjectRequest, row.request_id).sealed_values is None  # type: ignore[union-attr]
    # The change went through the gate: the consumer's access history shows the officer's update.
    log = client.get("/v1/me/access-log", headers=w.headers("consumer")).json()
    assert any(e["action"] == "update" and e["role"] == "privacy_officer" for e in log["accesses"])


def test_a_cancellation_waits_only_for_unsettled_orders(
    runtime: Runtime, world: tuple[World, TestClient, RecordingNotifier]
) -> None:
    w, client, recorder = world
    rid = file(client, w, "account_cancellation").json()["request_id"]
    r = officer(client, w, f"/v1/requests/{rid}/fulfil-cancellation")
    assert r.status_code == 409  # identity first
    verify(client, w, recorder, rid)
    # The world's order is still on its way: the account waits, and the consumer is told why.
    r = officer(client, w, f"/v1/requests/{rid}/fulfil-cancellation")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["closed"] is False and body["unsettled_orders"] == 1
    assert body["request"]["state"] == "in_progress"
    mine = client.get(f"/v1/requests/{rid}", headers=w.headers("consumer")).json()
    assert "waiting for 1 order" in mine["history"][-1]["note"]
    assert own_name(client, w)  # nothing erased yet

    with unit_of_work(runtime.sessions) as session:
        session.execute(update(Order).where(Order.subject_id == w.subjects["own"])
                        .values(status="refunding"))
    assert officer(client, w, f"/v1/requests/{rid}/fulfil-cancellation").json()["closed"] is False
    with unit_of_work(runtime.sessions) as session:
        session.execute(update(Order).where(Order.subject_id == w.subjects["own"])
                        .values(status="completed"))
    r = officer(client, w, f"/v1/requests/{rid}/fulfil-cancellation")
    body = r.json()
    assert body["closed"] is True and body["request"]["state"] == "completed"
    assert "mobile_phone" in body["deleted"]
    # The account is closed: its key no longer signs anyone in; the statement stays on record.
    assert client.get("/v1/me", headers=w.headers("consumer")).status_code == 401
    seen = client.get(f"/v1/requests/{rid}", headers=w.headers("privacy_officer")).json()
    assert "mobile_phone" in seen["statement"]["deleted"]
    assert {k["field"] for k in seen["statement"]["kept"]} == {"purchase_history"}


def test_a_consent_withdrawal_request_is_recorded_in_the_ledger(
    world: tuple[World, TestClient, RecordingNotifier],
) -> None:
    w, client, recorder = world
    for purpose in ("marketing_sms", "analytics"):
        r = client.post("/v1/me/consents", headers=w.headers("consumer"), json={
            "kind": "purpose", "target": purpose, "notice_version": 1, "text_shown": "同意"})
        assert r.status_code == 201, r.text
    r = file(client, w, "consent_withdrawal", details={"topics": ["marketing_sms"]})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "details.topics"
    rid = file(client, w, "consent_withdrawal",
               details={"topics": ["purpose:marketing_sms"]}).json()["request_id"]
    verify(client, w, recorder, rid)

    def allowed(purpose: str) -> bool:
        asker = "marketing" if purpose.startswith("marketing") else "analyst"
        r = client.post("/v1/consent/check", headers=w.headers(asker),
                        json={"purpose": purpose, "subject_ids": [str(w.subjects["own"])]})
        assert r.status_code == 200, r.text
        return bool(r.json()["allowed"][str(w.subjects["own"])])

    assert allowed("marketing_sms") and allowed("analytics")
    r = officer(client, w, f"/v1/requests/{rid}/fulfil-consent-withdrawal")
    assert r.status_code == 200, r.text
    assert r.json()["withdrawn"] == ["purpose:marketing_sms"]
    assert not allowed("marketing_sms") and allowed("analytics")  # only what was named
    states = client.get("/v1/me/consents", headers=w.headers("consumer")).json()["consents"]
    sms = next(c for c in states if c["target"] == "marketing_sms")
    assert sms["state"] == "withdrawn"


def test_an_explanation_says_what_applies_to_this_consumer(
    world: tuple[World, TestClient, RecordingNotifier],
) -> None:
    w, client, recorder = world
    client.post("/v1/me/consents", headers=w.headers("consumer"), json={
        "kind": "purpose", "target": "personalised_recommendation", "notice_version": 1,
        "text_shown": "同意"})
    rid = file(client, w, "explanation").json()["request_id"]
    r = client.get(f"/v1/requests/{rid}/explanation", headers=w.headers("consumer"))
    assert r.status_code == 409  # after identity is verified
    verify(client, w, recorder, rid)
    r = client.get(f"/v1/requests/{rid}/explanation", headers=w.headers("consumer"))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert "name" in doc["fields_held"] and "mobile_phone" in doc["fields_held"]
    purposes = {p["purpose"]: p for p in doc["purposes"]}
    assert purposes["order_fulfilment"]["applies"] and purposes["order_fulfilment"]["necessary"]
    assert purposes["personalised_recommendation"]["consent"]["state"] == "granted"
    assert purposes["marketing_sms"]["applies"] is False
    automated = {a["purpose"]: a for a in doc["automated_decisions"]}
    assert set(automated) == {"fraud_detection", "personalised_recommendation"}
    assert automated["personalised_recommendation"]["opt_out"] is not None
    assert automated["fraud_detection"]["opt_out"] is None  # necessary: a person reviews instead
    assert "en" in automated["fraud_detection"]["how_it_works"]
    # Nobody else's request is readable.
    r = client.get(f"/v1/requests/{rid}/explanation", headers=w.headers("consumer_b"))
    assert r.status_code == 404


def test_the_officer_works_the_queue_from_the_command_line(
    runtime: Runtime, world: tuple[World, TestClient, RecordingNotifier]
) -> None:
    from typer.testing import CliRunner

    from privguard.cli import app as cli

    w, client, recorder = world
    env = {"PRIVGUARD_HOME": str(runtime.settings.home),
           "PRIVGUARD_KEY_FILE": str(runtime.settings.key_file)}
    if runtime.settings.database_url:
        env["PRIVGUARD_DATABASE_URL"] = runtime.settings.database_url
    officer_id = str(w.actors["privacy_officer"].actor_id)

    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, ["requests", *args, "--officer", officer_id], env=env)

    fix = file(client, w, "correction", values={"name": NEW_NAME}).json()["request_id"]
    refuse = file(client, w, "access").json()["request_id"]
    result = run("queue", "--json")
    assert result.exit_code == 0, result.output
    listed = [json.loads(line) for line in result.output.splitlines()]
    assert {r["request_id"] for r in listed} == {fix, refuse}
    assert all(r["urgency"] == "ok" for r in listed)
    # Someone who is not an officer cannot act through the CLI either.
    result = CliRunner().invoke(cli, ["requests", "queue", "--officer",
                                      str(w.actors["customer_service"].actor_id)], env=env)
    assert result.exit_code != 0 and "privacy_officer" in result.output
    # Refusing needs a reason; the consumer then sees it.
    assert run("refuse", refuse, "--reason", " ").exit_code == 1
    assert run("refuse", refuse, "--reason", "同一内容的请求已在处理中").exit_code == 0
    mine = client.get(f"/v1/requests/{refuse}", headers=w.headers("consumer")).json()
    assert mine["state"] == "refused" and mine["outcome"] == "同一内容的请求已在处理中"
    # Fulfil before verification is refused, after it applies the correction.
    result = run("fulfil", fix)
    assert result.exit_code == 1 and "verified" in result.output
    verify(client, w, recorder, fix)
    result = run("fulfil", fix)
    assert result.exit_code == 0 and "corrected: name" in result.output, result.output
    assert NEW_NAME not in result.output
    assert own_name(client, w) == NEW_NAME
    result = run("show", fix)
    assert "in_progress -> completed" in result.output
