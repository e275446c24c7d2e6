"""Data-subject requests end to end over the API (SQLite and PostgreSQL): filing with a
deadline, identity verification by a code to the contact on file, the officer's queue,
refusal with a reason the consumer sees, withdrawal, and a relative's request (PIPL Art. 49)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from privguard.api.app import create_app
from privguard.bootstrap import Runtime
from privguard.policy.rules import ActorRef
from privguard.testing import RecordingNotifier

from .world import World, build_world


@pytest.fixture
def world(
    runtime: Runtime, admin: ActorRef
) -> Iterator[tuple[World, TestClient, RecordingNotifier]]:
    w = build_world(runtime, admin)
    recorder = RecordingNotifier()
    runtime.verifier.notifier = recorder
    with TestClient(create_app(runtime)) as client:
        yield w, client, recorder


def file(client: TestClient, w: World, type: str, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/me/requests", headers=w.headers("consumer"),
                       json={"type": type, **body})


def test_a_request_is_filed_verified_worked_and_answered(
    world: tuple[World, TestClient, RecordingNotifier],
) -> None:
    w, client, recorder = world
    r = file(client, w, "access")
    assert r.status_code == 201, r.text
    req = r.json()
    assert req["state"] == "received" and req["jurisdiction"] == "CN"
    received = datetime.fromisoformat(req["received_at"])
    answer_by = datetime.fromisoformat(req["answer_by"])
    assert received < answer_by and (answer_by - received).days <= 30
    rid = req["request_id"]
    # The code goes to the phone on file, shown masked; the caller names only the channel.
    r = client.post(f"/v1/me/requests/{rid}/verify/start", headers=w.headers("consumer"),
                    json={"channel": "mobile_phone"})
    assert r.status_code == 200, r.text
    assert r.json()["masked_destination"] == "138****8000"
    challenge = r.json()["challenge_id"]
    assert recorder.sent[-1].channel == "mobile_phone"
    r = client.post(f"/v1/me/requests/{rid}/verify", headers=w.headers("consumer"),
                    json={"challenge_id": challenge, "code": "000000" if recorder.last_code()
                          != "000000" else "111111"})
    assert r.status_code == 403 and r.json()["error"]["rule"] == "verification.wrong_code"
    assert r.json()["error"]["attempts_left"] == 4  # of five: the form can say so
    r = client.post(f"/v1/me/requests/{rid}/verify", headers=w.headers("consumer"),
                    json={"challenge_id": challenge, "code": recorder.last_code()})
    assert r.status_code == 200 and r.json()["state"] == "in_progress"
    # The officer sees it in the queue, soonest deadline first, and completes it.
    queue = client.get("/v1/requests", headers=w.headers("privacy_officer")).json()
    assert [q["request_id"] for q in queue] == [rid] and queue[0]["urgency"] == "ok"
    assert client.get("/v1/requests", headers=w.headers("consumer")).status_code == 403
    r = client.post(f"/v1/requests/{rid}/complete", headers=w.headers("privacy_officer"),
                    json={"note": "副本已通过隐私中心提供"})
    assert r.status_code == 200 and r.json()["state"] == "completed"
    states = [(e["from_state"], e["to_state"], e["role"]) for e in r.json()["history"]]
    assert states == [
        (None, "received", "consumer"),
        ("received", "verifying", "consumer"),
        ("verifying", "in_progress", "platform_admin"),
        ("in_progress", "completed", "privacy_officer"),
    ]
    # Closed is closed.
    r = client.post(f"/v1/requests/{rid}/refuse", headers=w.headers("privacy_officer"),
                    json={"note": "x"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "request.transition"


def test_a_refusal_tells_the_consumer_why(
    world: tuple[World, TestClient, RecordingNotifier],
) -> None:
    w, client, _ = world
    rid = file(client, w, "deletion").json()["request_id"]
    officer = w.headers("privacy_officer")
    r = client.post(f"/v1/requests/{rid}/refuse", headers=officer, json={"note": ""})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["rule"] == "request.reason_required"
    reason = "订单尚在售后期内，售后结束后可删除（电子商务法第二十四条）"
    r = client.post(f"/v1/requests/{rid}/refuse", headers=officer, json={"note": reason})
    assert r.status_code == 200
    mine = client.get(f"/v1/requests/{rid}", headers=w.headers("consumer")).json()
    assert (mine["state"], mine["outcome"]) == ("refused", reason)
    # Another consumer cannot see it at all.
    assert client.get(f"/v1/requests/{rid}", headers=w.headers("consumer_b")).status_code == 404


def test_withdrawal_and_the_officer_only_steps(
    world: tuple[World, TestClient, RecordingNotifier],
) -> None:
    w, client, _ = world
    rid = file(client, w, "explanation").json()["request_id"]
    r = client.post(f"/v1/requests/{rid}/complete", headers=w.headers("consumer"), json={})
    assert r.status_code == 403 and r.json()["error"]["rule"] == "rights.officers-handle-requests"
    r = client.post(f"/v1/me/requests/{rid}/withdraw", headers=w.headers("consumer"))
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"
    assert client.get("/v1/requests", headers=w.headers("privacy_officer")).json() == []


def test_requests_store_no_free_text_or_unknown_details(
    world: tuple[World, TestClient, RecordingNotifier],
) -> None:
    w, client, _ = world
    # A correction names its fields by giving their values (test_fulfilment.py seals them).
    r = file(client, w, "correction", details={"fields": ["name"]})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "values"
    r = file(client, w, "correction", values={"name": "王小二", "shoe_size": "42"})
    assert r.status_code == 422 and "王小二" not in r.text
    r = file(client, w, "deletion", details={"note": "我的新名字是王小二"})
    assert r.status_code == 201
    assert "王小二" not in r.text
    r = file(client, w, "access", details={"new_name": "王小二"})
    assert r.status_code == 422 and "王小二" not in r.text


def test_a_close_relative_files_for_a_deceased_consumer(
    world: tuple[World, TestClient, RecordingNotifier],
) -> None:
    w, client, _ = world
    deceased = str(w.subjects["foreign"])
    r = file(client, w, "access", subject_id=deceased)
    assert r.status_code == 403  # only the deceased-relative type may name another person
    r = file(client, w, "deceased_relative", subject_id=deceased, details={"relation": "cousin"})
    assert r.status_code == 422
    r = file(client, w, "deceased_relative", subject_id=deceased, details={"relation": "child"})
    assert r.status_code == 201 and r.json()["subject_id"] == deceased


def test_deadlines_follow_the_jurisdiction(
    world: tuple[World, TestClient, RecordingNotifier],
) -> None:
    w, client, _ = world
    eu = file(client, w, "access", jurisdiction="EU").json()
    ca = file(client, w, "deletion", jurisdiction="US-CA").json()
    assert eu["confirm_by"] is None and eu["extended_answer_by"] is not None
    assert ca["confirm_by"] is not None
    received = datetime.fromisoformat(ca["received_at"]).astimezone(UTC)
    assert 44 <= (datetime.fromisoformat(ca["answer_by"]) - received).days <= 45
    r = file(client, w, "access", jurisdiction="XX")
    assert r.status_code == 422 and re.search("jurisdiction", r.text)


def test_too_many_codes_is_429_with_when_to_ask_again(
    world: tuple[World, TestClient, RecordingNotifier],
) -> None:
    """Three codes per person per hour (rights/verification.py); the fourth is refused the way
    the API's own rate limit refuses, so a client can wait and retry."""
    w, client, recorder = world
    rid = file(client, w, "access").json()["request_id"]
    for _ in range(3):
        r = client.post(f"/v1/me/requests/{rid}/verify/start", headers=w.headers("consumer"),
                        json={"channel": "email"})
        assert r.status_code == 200, r.text
    r = client.post(f"/v1/me/requests/{rid}/verify/start", headers=w.headers("consumer"),
                    json={"channel": "mobile_phone"})
    assert r.status_code == 429, r.text
    error = r.json()["error"]
    assert error["rule"] == "verification.rate_limited"
    wait = int(r.headers["retry-after"])
    assert 3500 < wait <= 3600
    retry_at = datetime.fromisoformat(error["retry_at"])
    assert abs((retry_at - datetime.now(UTC)).total_seconds() - wait) < 5
    assert len(recorder.sent) == 3  # nothing sent for the refused one


def test_a_verified_deletion_is_carried_out_with_a_statement(
    world: tuple[World, TestClient, RecordingNotifier],
) -> None:
    w, client, recorder = world
    rid = file(client, w, "deletion").json()["request_id"]
    challenge = client.post(f"/v1/me/requests/{rid}/verify/start", headers=w.headers("consumer"),
                            json={"channel": "email"}).json()["challenge_id"]
    client.post(f"/v1/me/requests/{rid}/verify", headers=w.headers("consumer"),
                json={"challenge_id": challenge, "code": recorder.last_code()})
    r = client.post(f"/v1/requests/{rid}/fulfil-deletion", headers=w.headers("privacy_officer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["request"]["state"] == "completed"
    assert [k["field"] for k in body["kept"]] == ["purchase_history"]  # the world's order
    assert "mobile_phone" in body["deleted"]
    assert "purchase_history until" in body["request"]["outcome"]
    # The consumer's data is gone from every read...
    r = client.get(f"/v1/subjects/{w.subjects['own']}", headers=w.headers("platform_admin"),
                   params={"purpose": "account_management", "fields": ["name"]})
    assert r.status_code == 410
