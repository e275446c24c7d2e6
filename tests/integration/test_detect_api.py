"""The detect routes: who may scan, redact and tokenise, and the token gate (issue 7).

Each role that must be refused is refused (403, rule ``detect.role``), each that may, may;
tokens are sealed at rest and come back only through the policy, logged either way."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from privguard.api.app import create_app
from privguard.audit.entry import LogEntry
from privguard.audit.models import AccessLogEntry
from privguard.bootstrap import Runtime
from privguard.detect.models import DetectToken
from privguard.policy.rules import ActorRef, Role
from privguard.store.uow import unit_of_work

from .world import World, build_world

TEXT = "收货人张伟，电话13812345678，身份证11010519491231002X"
SCANNERS = {"customer_service", "platform_admin", "privacy_officer", "analyst"}
TOKENISERS = {"customer_service", "platform_admin", "privacy_officer"}
ROLES = [r.value for r in Role]


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


def test_scan_and_redact_by_role(world: tuple[World, TestClient]) -> None:
    w, client = world
    calls = [
        ("/v1/detect/scan", {"text": TEXT}),
        ("/v1/detect/scan/batch", {"texts": [TEXT, "没有个人信息"]}),
        ("/v1/detect/redact", {"text": TEXT, "operator": "mask"}),
        ("/v1/detect/redact/batch", {"texts": [TEXT], "operator": "hash"}),
    ]
    for role in ROLES:
        for path, body in calls:
            r = client.post(path, json=body, headers=w.headers(role))
            if role in SCANNERS:
                assert r.status_code == 200, (role, path, r.text)
            else:
                assert r.status_code == 403, (role, path, r.text)
                assert r.json()["error"]["rule"] == "detect.role"
    assert client.post("/v1/detect/scan", json={"text": TEXT}).status_code == 401


def test_scan_returns_positions_not_values(world: tuple[World, TestClient]) -> None:
    w, client = world
    body = client.post("/v1/detect/scan", json={"text": TEXT},
                       headers=w.headers("analyst")).json()
    assert [(f["entity_type"], TEXT[f["start"]:f["end"]]) for f in body["findings"]] == [
        ("PERSON", "张伟"), ("PHONE_NUMBER", "13812345678"),
        ("CN_RESIDENT_ID", "11010519491231002X"),
    ]
    assert "13812345678" not in str(body)
    batch = client.post("/v1/detect/scan/batch", json={"texts": [TEXT, "好的"], "lang": "zh"},
                        headers=w.headers("analyst")).json()
    assert [len(r["findings"]) for r in batch["results"]] == [3, 0]
    red = client.post("/v1/detect/redact", json={"text": TEXT},
                      headers=w.headers("analyst")).json()
    assert red["text"] == "收货人<PERSON>，电话<PHONE_NUMBER>，身份证<CN_RESIDENT_ID>"


def test_tokenise_roles_and_purpose(world: tuple[World, TestClient]) -> None:
    w, client = world
    body = {"text": TEXT, "operator": "tokenise", "purpose": "customer_support"}
    for role in ROLES:
        r = client.post("/v1/detect/redact", json=body, headers=w.headers(role))
        assert r.status_code == (200 if role in TOKENISERS else 403), (role, r.text)
    r = client.post("/v1/detect/redact", json={**body, "purpose": None},
                    headers=w.headers("customer_service"))
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "purpose"


def test_tokens_are_sealed_and_revealed_only_through_the_gate(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    r = client.post(
        "/v1/detect/redact/batch",
        json={"texts": [TEXT, "备用电话 138 1234 5678"], "operator": "tokenise",
              "purpose": "customer_support"},
        headers=w.headers("customer_service"),
    )
    assert r.status_code == 200, r.text
    first, second = (x["text"] for x in r.json()["results"])
    m = re.fullmatch(
        r"收货人<PERSON:(tk_[0-9a-f]{32})>，电话<PHONE_NUMBER:(tk_[0-9a-f]{32})>，"
        r"身份证<CN_RESIDENT_ID:(tk_[0-9a-f]{32})>",
        first,
    )
    assert m is not None, first
    phone_token = m.group(2)
    # the same number, spelled differently, gets the same token
    assert second == f"备用电话 <PHONE_NUMBER:{phone_token}>"
    with unit_of_work(w.runtime.sessions) as session:
        sealed = session.execute(select(DetectToken.sealed)).scalars().all()
    assert len(sealed) == 3
    assert not any(b"13812345678" in s or "张伟".encode() in s for s in sealed)

    def reveal(role: str, purpose: str, view: str = "plain") -> tuple[int, dict]:
        resp = client.post("/v1/detect/detokenise",
                           json={"token": phone_token, "purpose": purpose, "view": view},
                           headers=w.headers(role))
        return resp.status_code, resp.json()

    assert reveal("privacy_officer", "legal_obligation") == (200, {
        "token": phone_token, "entity_type": "PHONE_NUMBER", "view": "plain",
        "value": "13812345678", "rule": "legal.officer"})
    status, masked = reveal("customer_service", "customer_support")
    assert status == 200 and masked["view"] == "masked"
    assert masked["value"] != "13812345678" and masked["value"].endswith("5678")
    status, refused = reveal("merchant_staff", "customer_support")
    assert status == 403 and refused["error"]["rule"] == "default.deny"
    status, refused = reveal("marketing", "marketing_sms")
    assert status == 403
    logged = [e for e in _entries(w.runtime) if e.action == "detokenise"]
    assert [(e.role, e.decisions[0]["view"]) for e in logged] == [
        ("privacy_officer", "plain"), ("customer_service", "masked"),
        ("merchant_staff", "none"), ("marketing", "none"),
    ]
    assert [e.action for e in _entries(w.runtime)].count("tokenise") == 1
    r = client.post("/v1/detect/detokenise",
                    json={"token": "tk_" + "0" * 32, "purpose": "legal_obligation"},
                    headers=w.headers("privacy_officer"))
    assert r.status_code == 422
