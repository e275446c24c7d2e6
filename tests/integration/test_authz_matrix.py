"""The authorisation matrix: every role x every personal-information endpoint x own tenant /
foreign tenant / no relationship, against a reviewed golden file.

The cases are generated from the policy (its roles and purposes) and from the app's routes;
the expected outcomes are NOT computed from the policy but read from ``authz_matrix.json``,
which a person reviews when it changes. Loosening any rule changes an outcome and fails here.
Regenerate deliberately with ``PRIVGUARD_UPDATE_AUTHZ_MATRIX=1 pytest tests/integration/
test_authz_matrix.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from privguard.api.app import create_app
from privguard.bootstrap import Runtime
from privguard.catalog.masking import MASKERS
from privguard.policy.rules import ActorRef, Role
from privguard.vault.service import Vault

from ..conftest import NOW
from .world import SCENARIOS, World, build_world, publish_stub_notice

GOLDEN = Path(__file__).with_name("authz_matrix.json")
UPDATE = os.environ.get("PRIVGUARD_UPDATE_AUTHZ_MATRIX") == "1"

# Every route of the app is either covered here or declared free of personal information.
PI_ROUTES = {
    ("GET", "/v1/subjects/{subject_id}"),
    ("POST", "/v1/subjects/lookup"),
    ("POST", "/v1/subjects"),
    ("PATCH", "/v1/subjects/{subject_id}"),
    ("DELETE", "/v1/subjects/{subject_id}"),
    ("GET", "/v1/merchants/{merchant_id}/customers"),
    ("GET", "/v1/me/access-log"),
    ("GET", "/v1/me/access-log/proof"),
    ("POST", "/v1/tickets"),
    ("GET", "/v1/me/consents"),
    ("POST", "/v1/me/consents"),
    ("POST", "/v1/me/consents/withdraw"),
    ("POST", "/v1/subjects/{subject_id}/consents/withdraw"),
    ("POST", "/v1/subjects/{subject_id}/guardians"),
    ("POST", "/v1/consent/check"),
    ("POST", "/v1/contact/sends"),
    ("POST", "/v1/subjects/{subject_id}/history"),
    ("POST", "/v1/me/requests"),
    ("GET", "/v1/me/requests"),
    ("GET", "/v1/requests"),
    ("GET", "/v1/requests/{request_id}"),
    ("POST", "/v1/requests/{request_id}/refuse"),
}
NO_PI_ROUTES = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),  # counts by route template, rule and view; scanned for PI: test_ops.py
    ("GET", "/v1/me"),
    ("GET", "/v1/catalog"),
    ("GET", "/v1/policy"),
    ("GET", "/v1/policy/explain"),
    ("GET", "/v1/notice"),  # public: readable before sign-up
    ("GET", "/v1/unsubscribe"),  # public page, changes nothing: test_consent.py
    ("POST", "/v1/unsubscribe"),  # the signed token is the authority: test_consent.py
    ("POST", "/v1/inbound/sms"),  # platform SMS gateway only: test_consent.py
    # Request steps whose outcome depends on the request's state: test_requests.py
    ("POST", "/v1/me/requests/{request_id}/verify/start"),
    ("POST", "/v1/me/requests/{request_id}/verify"),
    ("POST", "/v1/me/requests/{request_id}/withdraw"),
    ("GET", "/v1/me/requests/{request_id}/export"),  # own verified access request: test_export
    ("POST", "/v1/requests/{request_id}/start"),
    ("POST", "/v1/requests/{request_id}/complete"),
    ("POST", "/v1/requests/{request_id}/complete-partly"),
    ("POST", "/v1/requests/{request_id}/assign"),
    ("POST", "/v1/requests/{request_id}/fulfil-deletion"),
    # Fulfilment steps, refused to all but the officer and only for verified requests:
    # test_fulfilment.py
    ("POST", "/v1/requests/{request_id}/fulfil-correction"),
    ("POST", "/v1/requests/{request_id}/fulfil-cancellation"),
    ("POST", "/v1/requests/{request_id}/fulfil-consent-withdrawal"),
    ("GET", "/v1/requests/{request_id}/explanation"),
    # Sharing: registry and tasks (officer, operators; auditors read), transfers decided by the
    # gate as the recipient, who-has-my-data (consumers), notices (the recipient's partners):
    # test_sharing.py
    ("POST", "/v1/recipients"),
    ("GET", "/v1/recipients"),
    ("POST", "/v1/recipients/{recipient_id}/agreements"),
    ("GET", "/v1/recipients/{recipient_id}/agreements"),
    ("POST", "/v1/agreements/{agreement_id}/terminate"),
    ("GET", "/v1/agreement-tasks"),
    ("POST", "/v1/agreement-tasks/{task_id}/close"),
    ("POST", "/v1/transfers"),
    ("GET", "/v1/me/recipients"),
    ("GET", "/v1/recipient-notices"),
    ("POST", "/v1/recipient-notices/ack"),
    ("POST", "/v1/recipients/{recipient_id}/datasets"),  # test_datasets.py
    # Complaints and supervision: filers, each queue's handlers, auditors; the evidence view is
    # a gated read: test_cases.py
    ("POST", "/v1/cases"),
    ("GET", "/v1/me/cases"),
    ("GET", "/v1/cases"),
    ("GET", "/v1/cases/{case_id}"),
    ("POST", "/v1/cases/{case_id}/triage"),
    ("POST", "/v1/cases/{case_id}/investigate"),
    ("POST", "/v1/cases/{case_id}/reject"),
    ("POST", "/v1/cases/{case_id}/resolve"),
    ("POST", "/v1/cases/{case_id}/info"),
    ("POST", "/v1/cases/{case_id}/assign"),
    ("POST", "/v1/cases/{case_id}/attachments"),
    ("GET", "/v1/cases/attachments/{attachment_id}"),
    ("GET", "/v1/cases/{case_id}/evidence"),
    ("GET", "/v1/cases/{case_id}/evidence/bundle"),
    ("GET", "/v1/merchants/{merchant_id}/privacy-rating"),
    ("GET", "/v1/merchants/{merchant_id}/sanctions"),
    ("POST", "/v1/merchants/{merchant_id}/evaluate"),
    ("POST", "/v1/sanctions/{sanction_id}/appeal"),
    ("POST", "/v1/sanctions/{sanction_id}/decide"),
    # Order chats and notes: the order's parties; originals for their owner: test_messages.py
    ("POST", "/v1/orders/{order_id}/messages"),
    ("GET", "/v1/orders/{order_id}/messages"),
    ("GET", "/v1/notice/{version}"),
    ("POST", "/v1/tickets/{ticket_id}/close"),  # needs an existing ticket id: test_access.py
    ("POST", "/v1/orders"),  # creates an order for the caller's own account: test_consent.py
    ("GET", "/v1/me/consents/{event_id}/receipt"),  # own events only: test_consent.py
    # Legal holds, protection officer only (subject ids and reasons, no PI): test_retention.py
    ("GET", "/v1/legal-holds"),
    ("POST", "/v1/legal-holds"),
    ("POST", "/v1/legal-holds/{hold_id}/release"),
    # Privacy waybills, decided per order (merchant, assigned courier, agents print a label;
    # only the assigned courier resolves its code): test_waybills.py
    ("GET", "/v1/orders/{order_id}/waybill"),
    ("GET", "/v1/orders/{order_id}/waybill.pdf"),
    ("POST", "/v1/waybills/resolve"),
    # Contact relays: aliases only (never the buyer's number or address), per order for its
    # merchant and assigned courier, own aliases for consumers; calls/SMS by parties only:
    # test_relays.py (mail: test_relay_mail.py)
    ("GET", "/v1/me/relays"),
    ("POST", "/v1/me/relays/{alias_id}/revoke"),
    ("GET", "/v1/orders/{order_id}/relay"),
    ("POST", "/v1/relay/calls"),
    ("POST", "/v1/relay/sms"),
    # Free text the caller sends; roles and the token gate: test_detect_api.py
    ("POST", "/v1/detect/scan"),
    ("POST", "/v1/detect/scan/batch"),
    ("POST", "/v1/detect/redact"),
    ("POST", "/v1/detect/redact/batch"),
    ("POST", "/v1/detect/detokenise"),
    # Access alerts and security incidents (entry ids, counts, subject ids, field names and
    # redacted text; no PI values): officer and administrators act, auditors read, every other
    # role refused: test_incidents.py
    ("GET", "/v1/alerts"),
    ("POST", "/v1/alerts/{alert_id}/dismiss"),
    ("POST", "/v1/alerts/{alert_id}/escalate"),
    ("POST", "/v1/incidents"),
    ("GET", "/v1/incidents"),
    ("GET", "/v1/incidents/{incident_id}"),
    ("POST", "/v1/incidents/{incident_id}/actions"),
    ("GET", "/v1/incidents/{incident_id}/notifications"),
    ("POST", "/v1/incidents/{incident_id}/no-notify"),
    # Records of processing (the data map, no customer's data); officer, operators, auditors
    # only: test_reports.py
    ("GET", "/v1/reports/ropa"),
}
# The actor that stands for each role: the "own" side of every scenario.
ROLES = [r.value for r in Role]


@pytest.fixture
def world(runtime: Runtime, admin: ActorRef) -> Iterator[tuple[World, TestClient]]:
    w = build_world(runtime, admin)
    publish_stub_notice(runtime, 1)
    with TestClient(create_app(runtime)) as client:
        yield w, client


def _routes(client: TestClient) -> set[tuple[str, str]]:
    """Every operation the app documents (OpenAPI lists exactly the routes it serves)."""
    paths = client.get("/openapi.json").json()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def _expected_value(vault: Vault, field: str, view: str, canonical: Any) -> Any:
    spec = vault.catalog[field]
    if view == "plain":
        return canonical
    if view == "waybill" and spec.waybill_masking:
        return MASKERS[spec.waybill_masking](canonical)
    return MASKERS[spec.masking](canonical)


def _error(r: Any) -> str:
    error = r.json()["error"]
    return f"{r.status_code} {error['code']}" + (f" {error['rule']}" if error.get("rule") else "")


def test_every_route_is_classified(world: tuple[World, TestClient]) -> None:
    _, client = world
    assert _routes(client) == PI_ROUTES | NO_PI_ROUTES


def test_authorisation_matrix(world: tuple[World, TestClient]) -> None:
    w, client = world
    actual = collect(w, client, ROLES, erase=True)
    if UPDATE:
        GOLDEN.write_text(json.dumps(actual, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    changed = _differences(json.loads(GOLDEN.read_text()), actual)
    assert not changed, (
        f"{len(changed)} outcomes differ from the reviewed matrix (expected, actual):\n"
        + "\n".join(f"{k}: {v}" for k, v in list(changed.items())[:40])
    )


def _differences(expected: dict[str, str], actual: dict[str, str]) -> dict[str, tuple]:
    return {
        k: (expected.get(k), actual.get(k))
        for k in sorted(set(expected) | set(actual))
        if expected.get(k) != actual.get(k)
    }


LOOSENINGS = [
    # (role whose cases change, text in the shipped policy, replacement)
    ("merchant_staff", "    when: {relationship: merchant_order}\n    reason: \"the merchant needs",
     "    reason: \"the merchant needs"),
    ("courier", "fields: [mobile_phone]\n    view: waybill",
     "fields: [mobile_phone]\n    view: masked"),
    ("customer_service", "categories: [user.name, user.contact]\n    view: plain\n"
     "    when: {relationship: open_ticket}", "categories: [user.name, user.contact]\n"
     "    view: plain"),
    ("auditor", "roles: [auditor]\n    purposes: [legal_obligation]\n    categories: [user]\n"
     "    view: masked", "roles: [auditor]\n    purposes: [legal_obligation]\n"
     "    categories: [user]\n    view: plain"),
]


@pytest.mark.parametrize(("role", "old", "new"), LOOSENINGS, ids=[x[0] for x in LOOSENINGS])
def test_a_loosened_rule_fails_the_matrix(
    runtime: Runtime, admin: ActorRef, tmp_path: Path, role: str, old: str, new: str
) -> None:
    """Mutation check of the matrix itself: loosen one rule, and its role's cases change."""
    from privguard.bootstrap import build_runtime
    from privguard.policy.loader import shipped_policy_text

    text = shipped_policy_text()
    assert old in text, "the shipped policy changed; update this mutation"
    loose = tmp_path / "loose.yaml"
    loose.write_text(text.replace(old, new, 1))
    loosened = build_runtime(runtime.settings.model_copy(update={"policy_path": loose}))
    try:
        w = build_world(loosened, admin)
        publish_stub_notice(loosened, 1)
        with TestClient(create_app(loosened)) as client:
            actual = collect(w, client, [role], erase=False)
    finally:
        loosened.close()
    golden = {k: v for k, v in json.loads(GOLDEN.read_text()).items() if k in actual}
    assert _differences(golden, actual), "loosening the rule went unnoticed"


def collect(w: World, client: TestClient, roles: list[str], *, erase: bool) -> dict[str, str]:
    """Run every case for these roles; returns outcome by case key."""
    vault = w.runtime.vault
    purposes = list(w.runtime.policy.purposes)
    canonical = {
        s: vault.validate(w.pi[s], today=NOW.date()) for s in SCENARIOS
    }
    actual: dict[str, str] = {}

    for role in roles:
        h = w.headers(role)
        for scenario in SCENARIOS:
            sid = w.subjects[scenario]
            # --- read, every purpose, asking for the most (plain) and for masked
            for purpose in purposes:
                for view in ("plain", "masked"):
                    r = client.get(
                        f"/v1/subjects/{sid}", params={"purpose": purpose, "view": view},
                        headers=h,
                    )
                    key = f"read|{role}|{scenario}|{purpose}|{view}"
                    if r.status_code != 200:
                        actual[key] = _error(r)
                        continue
                    body = r.json()
                    granted = []
                    for name, out in sorted(body["fields"].items()):
                        granted.append(f"{name}={out['view']}")
                        if name in canonical[scenario]:
                            assert out["present"] is True
                            assert out["value"] == _expected_value(
                                vault, name, out["view"], canonical[scenario][name]
                            ), key
                        else:
                            assert out["present"] is False and out["value"] is None
                    denied = {d["field"] for d in body["denied"]}
                    assert denied | set(body["fields"]) == set(vault.catalog.names())
                    actual[key] = "200 " + ",".join(granted)
            # --- lookup by each searchable field, every purpose
            for fname in vault.catalog.searchable():
                for purpose in purposes:
                    r = client.post(
                        "/v1/subjects/lookup", headers=h,
                        json={"field": fname, "value": w.pi[scenario][fname], "purpose": purpose},
                    )
                    key = f"lookup|{role}|{scenario}|{fname}|{purpose}"
                    if r.status_code != 200:
                        actual[key] = _error(r)
                    else:
                        ids = r.json()["subject_ids"]
                        assert set(ids) <= {str(sid)}, key  # never anyone else's customer
                        actual[key] = "200 found" if ids else "200 nothing"
            # --- correct a field (same value back, so the world stays as it is)
            r = client.patch(
                f"/v1/subjects/{sid}", headers=h, json={"pi": {"name": w.pi[scenario]["name"]}}
            )
            actual[f"update|{role}|{scenario}"] = (
                str(r.status_code) if r.status_code == 200 else _error(r)
            )
            # --- open a support ticket for the customer
            r = client.post("/v1/tickets", headers=h, json={"subject_id": str(sid),
                                                              "topic": "other"})
            actual[f"ticket|{role}|{scenario}"] = (
                str(r.status_code) if r.status_code == 201 else _error(r)
            )
        # --- customer lists: own merchant, other merchant, no such merchant
        for scenario, merchant in (
            ("own", w.orgs["merchant_a"]), ("foreign", w.orgs["merchant_b"]),
            ("none", uuid.uuid4()),
        ):
            for purpose in purposes:
                r = client.get(f"/v1/merchants/{merchant}/customers", headers=h,
                               params={"purpose": purpose})
                key = f"list|{role}|{scenario}|{purpose}"
                if r.status_code != 200:
                    actual[key] = _error(r)
                else:
                    ids = {c["subject_id"] for c in r.json()["customers"]}
                    expected = {"own": {str(w.subjects["own"])},
                                "foreign": {str(w.subjects["foreign"])}}[scenario]
                    assert ids == expected, key
                    actual[key] = "200"
        # --- who saw my data
        r = client.get("/v1/me/access-log", headers=h)
        actual[f"history|{role}"] = str(r.status_code) if r.status_code == 200 else _error(r)
        r = client.get("/v1/me/access-log/proof", headers=h)
        actual[f"proof|{role}"] = str(r.status_code) if r.status_code == 200 else _error(r)
        # --- register a new customer
        r = client.post("/v1/subjects", headers=h, json={"pi": {"name": "新客户"}})
        actual[f"register|{role}"] = str(r.status_code) if r.status_code == 201 else _error(r)

    # --- consent: each role's use of the consent routes, then every consent-gated read again
    # with the consumers' consents given, then withdrawn (the "none" customer has no account,
    # so its consents stay never_asked).
    optional = [p for p, spec in w.runtime.policy.purposes.items() if not spec.necessary]
    for role in roles:
        h = w.headers(role)
        r = client.get("/v1/me/consents", headers=h)
        actual[f"consents|{role}"] = str(r.status_code) if r.status_code == 200 else _error(r)
        for scenario in SCENARIOS:
            sid = w.subjects[scenario]
            r = client.post(f"/v1/subjects/{sid}/consents/withdraw", headers=h, json={
                "kind": "purpose", "target": "marketing_sms", "channel": "support"})
            actual[f"relay-withdraw|{role}|{scenario}"] = (
                str(r.status_code) if r.status_code == 200 else _error(r)
            )
            r = client.post("/v1/me/consents", headers=h, json={
                "kind": "purpose", "target": "analytics", "notice_version": 1,
                "text_shown": "同意", "subject_id": str(sid)})
            actual[f"grant|{role}|{scenario}"] = (
                str(r.status_code) if r.status_code == 201 else _error(r)
            )
            r = client.post(f"/v1/subjects/{sid}/history", headers=h, json={
                "kind": "browsing", "item": "item-1", "at": "2026-11-29T08:00:00+00:00"})
            actual[f"history-collect|{role}|{scenario}"] = (
                str(r.status_code) if r.status_code == 204 else _error(r)
            )
            r = client.post(f"/v1/subjects/{sid}/guardians", headers=h, json={
                "guardian_subject_id": str(w.subjects["foreign"]), "relation": "parent"})
            actual[f"guardian|{role}|{scenario}"] = (
                str(r.status_code) if r.status_code == 201 else _error(r)
            )
    every = [str(w.subjects[s]) for s in SCENARIOS]
    for role in roles:
        for purpose in optional:
            r = client.post("/v1/consent/check", headers=w.headers(role),
                            json={"purpose": purpose, "subject_ids": every})
            actual[f"check|{role}|{purpose}"] = str(r.status_code) if r.status_code == 200 \
                else _error(r)
        r = client.post("/v1/contact/sends", headers=w.headers(role),
                        json={"channel": "sms", "campaign": "c1", "subject_ids": every})
        actual[f"send|{role}"] = str(r.status_code) if r.status_code == 200 else _error(r)
    for state, path in (("granted", "/v1/me/consents"), ("withdrawn", "/v1/me/consents/withdraw")):
        for who in ("consumer", "consumer_b"):
            for purpose in optional:
                body = {"kind": "purpose", "target": purpose}
                if state == "granted":
                    body |= {"notice_version": 1, "text_shown": "我同意"}
                r = client.post(path, headers=w.headers(who), json=body)
                assert r.status_code in (200, 201), r.text
        for role in roles:
            for scenario in SCENARIOS:
                sid = w.subjects[scenario]
                for purpose in optional:
                    r = client.get(f"/v1/subjects/{sid}", headers=w.headers(role),
                                   params={"purpose": purpose, "view": "plain"})
                    key = f"read-{state}|{role}|{scenario}|{purpose}"
                    if r.status_code != 200:
                        actual[key] = _error(r)
                    else:
                        actual[key] = "200 " + ",".join(
                            f"{n}={o['view']}" for n, o in sorted(r.json()["fields"].items())
                        )

    # --- data-subject requests: who may file, see the queue, see and refuse one request
    own_request = client.post("/v1/me/requests", headers=w.headers("consumer"),
                              json={"type": "access"}).json()["request_id"]
    for role in roles:
        h = w.headers(role)
        r = client.post("/v1/me/requests", headers=h, json={"type": "explanation"})
        actual[f"request-file|{role}"] = str(r.status_code) if r.status_code == 201 else _error(r)
        r = client.get("/v1/me/requests", headers=h)
        actual[f"request-mine|{role}"] = str(r.status_code) if r.status_code == 200 else _error(r)
        r = client.get("/v1/requests", headers=h)
        actual[f"request-queue|{role}"] = str(r.status_code) if r.status_code == 200 else _error(r)
        r = client.get(f"/v1/requests/{own_request}", headers=h)
        actual[f"request-see|{role}"] = str(r.status_code) if r.status_code == 200 else _error(r)
        r = client.post(f"/v1/requests/{own_request}/refuse", headers=h,
                        json={"note": "测试"})
        actual[f"request-refuse|{role}"] = (
            str(r.status_code) if r.status_code == 200 else _error(r)
        )
        if r.status_code == 200:  # the next role finds it refused: file a fresh one
            own_request = client.post("/v1/me/requests", headers=w.headers("consumer"),
                                      json={"type": "access"}).json()["request_id"]

    # --- erase last (it destroys data): each role on fresh copies of every scenario
    for role in roles if erase else []:
        for scenario in SCENARIOS:
            sid = _fresh_copy(w, scenario)
            r = client.delete(f"/v1/subjects/{sid}", headers=w.headers(role))
            actual[f"erase|{role}|{scenario}"] = (
                str(r.status_code) if r.status_code == 204 else _error(r)
            )
    return actual


def _fresh_copy(w: World, scenario: str) -> uuid.UUID:
    """A new subject in the same relationships as ``scenario`` (erase cannot reuse one)."""
    from privguard.actors.system import cli_actor
    from privguard.store.uow import unit_of_work

    from .world import add_order

    runtime = w.runtime
    with unit_of_work(runtime.sessions) as session:
        admin = cli_actor(session, now=NOW)
        sid = runtime.vault.register(session, admin, w.pi[scenario], now=NOW)
    if scenario == "own":
        add_order(runtime, sid, w.orgs["merchant_a"], carrier_id=w.orgs["carrier"],
                  courier_id=w.actors["courier"].actor_id)
    elif scenario == "foreign":
        add_order(runtime, sid, w.orgs["merchant_b"], carrier_id=w.orgs["carrier"],
                  courier_id=w.actors["courier_b"].actor_id)
    return sid
