"""The HTTP API end to end (FastAPI TestClient over the real store)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from privguard.actors.service import create_actor, issue_api_key, revoke_api_key
from privguard.api.app import create_app
from privguard.api.threads import configure as configure_threads
from privguard.audit.entry import LogEntry
from privguard.audit.models import AccessLogEntry
from privguard.bootstrap import Runtime
from privguard.marketplace.models import Order, Organisation
from privguard.policy.rules import Role
from privguard.store.uow import unit_of_work
from privguard.vault.models import Subject

from ..conftest import NOW
from .samples import CANONICAL, OTHER, RAW


@dataclass
class Api:
    client: TestClient
    runtime: Runtime
    keys: dict[str, str]
    actors: dict[str, uuid.UUID]

    def h(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture
def api(runtime: Runtime) -> Iterator[Api]:
    keys, actors = {}, {}
    with unit_of_work(runtime.sessions) as session:
        for role in (Role.PLATFORM_ADMIN, Role.CUSTOMER_SERVICE, Role.COURIER):
            actor = create_actor(session, display_name=role.value, role=role, now=NOW)
            keys[role.value] = issue_api_key(session, actor.actor_id, now=NOW).token
            actors[role.value] = actor.actor_id
    with TestClient(create_app(runtime)) as client:
        yield Api(client, runtime, keys, actors)


def subject_count(runtime: Runtime) -> int:
    with unit_of_work(runtime.sessions) as session:
        return session.execute(select(func.count()).select_from(Subject)).scalar_one()


def create(api: Api, pi: dict) -> str:
    r = api.client.post("/v1/subjects", json={"pi": pi}, headers=api.h("platform_admin"))
    assert r.status_code == 201, r.text
    return r.json()["subject_id"]


def test_register_and_read_plain_as_admin(api: Api) -> None:
    subject_id = create(api, RAW)
    r = api.client.get(
        f"/v1/subjects/{subject_id}",
        params={"purpose": "legal_obligation", "view": "plain"},
        headers=api.h("platform_admin"),
    )
    assert r.status_code == 200
    body = r.json()
    assert {k: v["value"] for k, v in body["fields"].items()} == CANONICAL
    assert body["denied"] == []
    assert all(v["rule"] == "legal.admin" for v in body["fields"].values())


def test_staff_get_masked_values_and_a_reasoned_refusal_beyond_their_purposes(api: Api) -> None:
    subject_id = create(api, RAW)
    url = f"/v1/subjects/{subject_id}"
    params = {"purpose": "customer_support", "fields": ["name", "mobile_phone"]}
    for view in ("masked", "plain"):  # plain is more than the rule grants: masked it is
        r = api.client.get(url, params={**params, "view": view},
                           headers=api.h("customer_service"))
        assert r.status_code == 200
        assert {k: (v["value"], v["view"]) for k, v in r.json()["fields"].items()} == {
            "name": ("欧阳**", "masked"), "mobile_phone": ("138****8000", "masked")
        }
    refused = api.client.get(url, params={**params, "purpose": "marketing_sms"},
                             headers=api.h("customer_service"))
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "access_denied"
    assert error["rule"] == "default.deny"
    # The refusal is in the access log (it committed although the request failed).
    with unit_of_work(api.runtime.sessions) as session:
        texts = session.execute(
            select(AccessLogEntry.entry).order_by(AccessLogEntry.entry_id)
        ).scalars().all()
    last = LogEntry.from_json(texts[-1])
    assert (last.role, last.action, last.purpose) == ("customer_service", "read", "marketing_sms")
    assert {d["view"] for d in last.decisions} == {"none"}
    assert refused.headers["x-request-id"] == last.request_id


def test_request_id_is_echoed_and_logged_but_never_carries_pi(api: Api) -> None:
    subject_id = create(api, RAW)
    rid = "5f0c6a34-9a1e-4c35-8d59-7b1f4e2a9c10"
    r = api.client.get(f"/v1/subjects/{subject_id}", headers={
        **api.h("customer_service"), "X-Request-ID": rid},
        params={"purpose": "customer_support", "fields": ["name"]})
    assert r.headers["x-request-id"] == rid
    # Anything but a UUID is replaced: a phone number offered as a request id must not end up
    # in the access log (or in the proofs consumers are given).
    for offered in ("13800138000", "6222021234567890128", "ticket-4711", "x" * 300):
        r = api.client.get(f"/v1/subjects/{subject_id}", headers={
            **api.h("customer_service"), "X-Request-ID": offered},
            params={"purpose": "customer_support", "fields": ["name"]})
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]), offered
    with unit_of_work(api.runtime.sessions) as session:
        texts = session.execute(select(AccessLogEntry.entry)).scalars().all()
    assert rid in {LogEntry.from_json(t).request_id for t in texts}
    assert not any("13800138000" in t or "6222021234567890128" in t for t in texts)
    # Even the size limit's 413 says which request it was.
    big = api.client.post("/v1/subjects/lookup", content=b"x" * 2_000_000,
                          headers={**api.h("customer_service"), "content-type": "application/json"})
    assert big.status_code == 413 and re.fullmatch(r"[0-9a-f]{32}", big.headers["x-request-id"])


def test_courier_sees_only_assigned_parcels_in_the_waybill_view(api: Api) -> None:
    subject_id = create(api, RAW)
    url = f"/v1/subjects/{subject_id}"
    params = {"purpose": "delivery", "view": "plain", "fields": ["name", "mobile_phone"]}
    # Not (yet) this courier's parcel: the courier cannot even tell the customer exists.
    r = api.client.get(url, params=params, headers=api.h("courier"))
    assert r.status_code == 404
    missing = api.client.get(f"/v1/subjects/{uuid.uuid4()}", params=params,
                             headers=api.h("courier"))
    assert r.json()["error"]["code"] == missing.json()["error"]["code"] == "subject_not_found"
    assert set(r.json()["error"]) == set(missing.json()["error"])
    with unit_of_work(api.runtime.sessions) as session:
        merchant = Organisation(organisation_id=uuid.uuid4(), kind="merchant", name="m",
                                created_at=NOW)
        session.add(merchant)
        session.flush()
        session.add(Order(order_id=uuid.uuid4(), subject_id=uuid.UUID(subject_id),
                          merchant_id=merchant.organisation_id,
                          courier_id=api.actors["courier"], status="shipped", total_cents=1,
                          item_count=1, placed_at=NOW))
    r = api.client.get(url, params=params, headers=api.h("courier"))
    assert r.status_code == 200
    assert {k: (v["value"], v["view"]) for k, v in r.json()["fields"].items()} == {
        "name": ("欧阳**", "masked"), "mobile_phone": ("*******8000", "waybill")
    }


def test_invalid_pi_gets_field_level_422_without_values_and_writes_nothing(api: Api) -> None:
    bad = {"name": "李四", "mobile_phone": "1380013", "resident_id": "110108199001011234",
           "bank_card": "4111 1111 1111 1112", "email": "lisi@@example.org"}
    r = api.client.post("/v1/subjects", json={"pi": bad}, headers=api.h("platform_admin"))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation_failed"
    assert {(f["field"], f["rule"]) for f in error["fields"]} == {
        ("mobile_phone", "phone.invalid"),
        ("resident_id", "ric.checksum"),
        ("bank_card", "card.luhn"),
        ("email", "email.invalid"),
    }
    for value in ("1380013", "110108199001011234", "4111 1111 1111 1112", "lisi@@"):
        assert value not in r.text
    assert subject_count(api.runtime) == 0


def test_malformed_request_422_does_not_echo_input(api: Api) -> None:
    r = api.client.post("/v1/subjects", json={"pii": {"mobile_phone": "13800138000"}},
                        headers=api.h("platform_admin"))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"
    assert "13800138000" not in r.text


def test_lookup_by_phone_email_and_id_in_the_body(api: Api) -> None:
    subject_id = create(api, RAW)
    create(api, OTHER)
    for field, value in [("mobile_phone", "138 0013 8000"), ("email", "zhangsan@example.COM"),
                         ("resident_id", "11010519491231002x")]:
        r = api.client.post(
            "/v1/subjects/lookup",
            json={"field": field, "value": value, "purpose": "customer_support"},
            headers=api.h("customer_service"),
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"subject_ids": [subject_id]}


def test_update_and_erase(api: Api) -> None:
    subject_id = create(api, OTHER)
    r = api.client.patch(f"/v1/subjects/{subject_id}", json={"pi": {"landline": "021-62345678"}},
                         headers=api.h("platform_admin"))
    assert r.status_code == 200 and r.json()["fields"] == ["landline"]
    r = api.client.delete(f"/v1/subjects/{subject_id}", headers=api.h("platform_admin"))
    assert r.status_code == 204
    r = api.client.get(f"/v1/subjects/{subject_id}", params={"purpose": "account_management"},
                       headers=api.h("platform_admin"))
    assert r.status_code == 410 and r.json()["error"]["code"] == "subject_erased"


def test_writes_need_platform_admin(api: Api) -> None:
    r = api.client.post("/v1/subjects", json={"pi": OTHER}, headers=api.h("customer_service"))
    assert r.status_code == 403
    assert subject_count(api.runtime) == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer pgk_0000.secret"},
     {"X-API-Key": "pgk_1234.x"}],
)
def test_requests_without_a_valid_key_are_401(api: Api, headers: dict[str, str]) -> None:
    r = api.client.get("/v1/catalog", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"


def test_revoked_and_tampered_keys_stop_working(api: Api) -> None:
    token = api.keys["customer_service"]
    assert api.client.get("/v1/me", headers={"X-API-Key": token}).status_code == 200
    key_id, secret = token.split(".")
    forged = f"{key_id}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    assert api.client.get("/v1/me", headers={"X-API-Key": forged}).status_code == 401
    with unit_of_work(api.runtime.sessions) as session:
        assert revoke_api_key(session, key_id, now=NOW)
    assert api.client.get("/v1/me", headers={"X-API-Key": token}).status_code == 401


def test_read_needs_a_purpose(api: Api) -> None:
    subject_id = create(api, OTHER)
    r = api.client.get(f"/v1/subjects/{subject_id}", headers=api.h("platform_admin"))
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "purpose"


def test_oversized_body_is_413_before_parsing(api: Api) -> None:
    limit = api.runtime.settings.max_body_bytes
    body = json.dumps({"pi": {"name": "x" * (limit + 10)}})
    r = api.client.post("/v1/subjects", content=body, headers={
        **api.h("platform_admin"), "content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: streamed, still cut off
        for _ in range(limit // 1000 + 2):
            yield b" " * 1000

    r = api.client.post("/v1/subjects", content=chunks(), headers={
        **api.h("platform_admin"), "content-type": "application/json"})
    assert r.status_code == 413
    assert subject_count(api.runtime) == 0


def test_catalog_and_openapi(api: Api) -> None:
    r = api.client.get("/v1/catalog", headers=api.h("courier"))
    assert r.status_code == 200
    fields = {f["name"]: f for f in r.json()}
    assert fields["resident_id"]["sensitivity"] == "sensitive"
    schema = api.client.get("/openapi.json").json()
    assert "/v1/subjects/lookup" in schema["paths"]
    read_op = schema["paths"]["/v1/subjects/{subject_id}"]["get"]
    assert read_op["description"] and "purpose" in {p["name"] for p in read_op["parameters"]}
    # Every authenticated operation names both ways to send the key; public ones none.
    schemes = schema["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert schemes["APIKeyHeader"] == {**schemes["APIKeyHeader"], "in": "header",
                                       "name": "X-API-Key"}
    both = [{"HTTPBearer": []}, {"APIKeyHeader": []}]
    assert read_op["security"] == both
    assert schema["paths"]["/v1/me"]["get"]["security"] == both
    assert schema["paths"]["/v1/subjects/lookup"]["post"]["security"] == both
    assert "security" not in schema["paths"]["/healthz"]["get"]
    documented = sum("security" in op for ops in schema["paths"].values() for op in ops.values())
    assert documented > 90
    docs = api.client.get("/docs")
    assert docs.status_code == 200
    # Self-hosted: the page loads nothing from another origin (no CDN sees who uses the docs).
    assert re.findall(r'(?:src|href)="(https?:)?//', docs.text) == []
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', docs.text):
        assert api.client.get(asset).status_code == 200, asset
    assert len(re.findall(r'"/static/[^"]+"', docs.text)) == 2


def test_view_none_is_not_a_request(api: Api) -> None:
    subject_id = create(api, OTHER)
    r = api.client.get(f"/v1/subjects/{subject_id}", params={"purpose": "support", "view": "none"},
                       headers=api.h("platform_admin"))
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "view"


def test_roles_without_a_basis_yet_see_nothing_and_cannot_probe(api: Api) -> None:
    subject_id = create(api, RAW)
    with unit_of_work(api.runtime.sessions) as session:
        actor = create_actor(session, display_name="m", role=Role.MARKETING, now=NOW)
        marketing = {"X-API-Key": issue_api_key(session, actor.actor_id, now=NOW).token}
    r = api.client.get(f"/v1/subjects/{subject_id}", params={"purpose": "marketing_sms"},
                       headers=marketing)
    assert r.status_code == 403  # no consent on record
    assert r.json()["error"]["rule"] == "consent.missing"
    assert "consent missing for purpose marketing_sms" in r.json()["error"]["message"]
    r = api.client.get(f"/v1/subjects/{subject_id}", params={"purpose": "marketing"},
                       headers=marketing)
    assert r.json()["error"]["rule"] == "default.unknown-purpose"
    for headers in (marketing, api.h("courier")):
        r = api.client.post("/v1/subjects/lookup", headers=headers, json={
            "field": "mobile_phone", "value": "13800138000", "purpose": "delivery"})
        assert r.status_code == 403
        assert "subject_ids" not in r.text


def test_unknown_field_names_are_echoed_only_when_they_cannot_be_pi(api: Api) -> None:
    r = api.client.post("/v1/subjects", headers=api.h("platform_admin"),
                        json={"pi": {"shoe_size": "42", "13800138000": "x"}})
    assert r.status_code == 422
    fields = [f["field"] for f in r.json()["error"]["fields"]]
    assert fields == ["shoe_size", "(unrecognised field name)"]
    assert "13800138000" not in r.text


def test_invalid_json_body_is_a_body_error(api: Api) -> None:
    r = api.client.post("/v1/subjects", content=b'{"pi": {"name": ', headers={
        **api.h("platform_admin"), "content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "body"


def test_readiness_checks_the_database(api: Api) -> None:
    assert api.client.get("/readyz").json()["status"] == "ready"


def test_with_no_api_threads_the_hot_routes_work_on_the_event_loop(api: Api) -> None:
    """PRIVGUARD_API_THREADS=0 (api/threads.py): registrations, reads and lookups run on the
    event loop, and still carry the request's context (the request id in the access log)."""
    previous = api.runtime.settings.api_threads
    api.runtime.settings.api_threads = 0
    try:
        with TestClient(create_app(api.runtime)) as client:
            r = client.post("/v1/subjects", json={"pi": RAW}, headers=api.h("platform_admin"))
            assert r.status_code == 201, r.text
            subject_id = r.json()["subject_id"]
            rid = "0e6f4c1a-3b2d-4e5f-8a9b-c0d1e2f3a4b5"
            read = client.get(f"/v1/subjects/{subject_id}",
                              params={"purpose": "customer_support", "fields": ["name"]},
                              headers={**api.h("customer_service"), "X-Request-ID": rid})
            assert read.json()["fields"]["name"]["value"] == "欧阳**"
            found = client.post("/v1/subjects/lookup", headers=api.h("customer_service"), json={
                "field": "mobile_phone", "value": RAW["mobile_phone"],
                "purpose": "customer_support"})
            assert found.json()["subject_ids"] == [subject_id]
    finally:
        api.runtime.settings.api_threads = previous
        configure_threads(previous)
    with unit_of_work(api.runtime.sessions) as session:
        texts = session.execute(select(AccessLogEntry.entry)).scalars().all()
    assert rid in {LogEntry.from_json(t).request_id for t in texts}
