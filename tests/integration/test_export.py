"""The access / portability package over the API (SQLite and PostgreSQL): one zip with every
file, the PI read through the gate (and logged), the orders as stored, and only for the
requester's own verified access or portability request."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from privguard.api.app import create_app
from privguard.audit.history import accesses_to
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.marketplace.models import Order
from privguard.policy.rules import ActorRef
from privguard.rights.export import MEMBERS, ORDER_COLUMNS
from privguard.rights.lifecycle import RequestState
from privguard.store.uow import unit_of_work

from .world import World, add_order, build_world


@pytest.fixture
def world(runtime: Runtime, admin: ActorRef) -> Iterator[tuple[World, TestClient]]:
    w = build_world(runtime, admin)
    add_order(runtime, w.subjects["own"], w.orgs["merchant_b"], status="delivered",
              delivered_days_ago=3)
    with TestClient(create_app(runtime)) as client:
        yield w, client


def _file(client: TestClient, w: World, type: str, role: str = "consumer") -> str:
    r = client.post("/v1/me/requests", headers=w.headers(role), json={"type": type})
    assert r.status_code == 201, r.text
    return str(r.json()["request_id"])


def _verified(w: World, request_id: str) -> None:
    """Into work as identity verification would leave it (test_requests.py covers the codes)."""
    rights, now = w.runtime.rights, utcnow()
    rid = uuid.UUID(request_id)
    with unit_of_work(w.runtime.sessions) as session:
        rights.move(session, w.actors["consumer"], rid, RequestState.VERIFYING, now=now)
        rights.move(session, w.actors["privacy_officer"], rid, RequestState.IN_PROGRESS,
                    note="identity verified", now=now)


def _export_reads(w: World) -> list[Any]:
    with unit_of_work(w.runtime.sessions) as session:
        return [
            a for a in accesses_to(session, w.subjects["own"], limit=1000)
            if a.role == "consumer" and a.purpose == "legal_obligation"
        ]


@pytest.mark.parametrize("type", ["access", "portability"])
def test_the_package_holds_everything_read_through_the_gate(
    world: tuple[World, TestClient], type: str
) -> None:
    w, client = world
    rid = _file(client, w, type)
    _verified(w, rid)
    before = _export_reads(w)

    r = client.get(f"/v1/me/requests/{rid}/export", headers=w.headers("consumer"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == (
        f'attachment; filename="privguard-export-{utcnow().date().isoformat()}.zip"'
    )
    package = zipfile.ZipFile(io.BytesIO(r.content))
    assert package.namelist() == list(MEMBERS)
    assert package.testzip() is None

    # Personal information: exactly the canonical values, every field plain.
    pi = json.loads(package.read("personal_information.json"))
    assert pi["subject_id"] == str(w.subjects["own"]) and pi["purpose"] == "legal_obligation"
    canonical = w.runtime.vault.validate(w.pi["own"], today=utcnow().date())
    held = {f["field"]: f["value"] for f in pi["fields"] if f["present"]}
    assert held == json.loads(json.dumps(canonical))
    assert {f["view"] for f in pi["fields"]} == {"plain"}
    assert {f["rule"] for f in pi["fields"]} == {"self.copy-of-own-data"}
    assert [f["field"] for f in pi["fields"]] == w.runtime.catalog.names()

    # Orders: every one of the subject's orders, as stored, in CSV and JSON alike.
    with unit_of_work(w.runtime.sessions) as session:
        stored = session.execute(
            select(Order).where(Order.subject_id == w.subjects["own"])
            .order_by(Order.placed_at, Order.order_id)
        ).scalars().all()
        expected = [
            (str(o.order_id), o.status, f"{o.total_cents / 100:.2f}", str(o.item_count),
             o.placed_at.isoformat(), o.delivered_at.isoformat() if o.delivered_at else "")
            for o in stored
        ]
    text = package.read("orders.csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == ORDER_COLUMNS
    assert [
        (r["order_id"], r["status"], r["total"], r["item_count"], r["placed_at"],
         r["delivered_at"]) for r in rows
    ] == expected
    # The delivered order (merchant B) was placed days before the one in transit (merchant A).
    assert [r["merchant"] for r in rows] == ["乙数码专营店", "甲果园旗舰店"]
    as_json = json.loads(package.read("orders.json"))
    assert [o["order_id"] for o in as_json] == [r["order_id"] for r in rows]
    assert as_json[0]["item_count"] == 1 and as_json[1]["delivered_at"] is None

    # The export itself is a logged gate read, and appears in the package's access history.
    after = _export_reads(w)
    assert len(after) == len(before) + 1
    assert all(f.view == "plain" for f in after[0].fields)
    history = list(csv.DictReader(io.StringIO(package.read("access_history.csv")
                                              .decode("utf-8-sig"))))
    last = history[-1]
    assert (last["role"], last["action"], last["purpose"]) == ("consumer", "read",
                                                               "legal_obligation")
    assert last["fields"].split(";") == w.runtime.catalog.names()
    assert "self.copy-of-own-data" in last["rules"]

    assert isinstance(json.loads(package.read("consents.json")), list)
    readme = package.read("README.md").decode()
    for column in (*ORDER_COLUMNS, "text_shown", "purpose_label"):
        assert f"`{column}`" in readme
    assert "手机号码" in readme and "Mobile phone" in readme
    # No personal information leaks into the README.
    assert w.pi["own"]["name"] not in readme


def test_only_the_requesters_verified_request_has_a_package(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    rid = _file(client, w, "access")
    url = f"/v1/me/requests/{rid}/export"
    # Not yet verified: the request exists but has no package yet.
    r = client.get(url, headers=w.headers("consumer"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "request.export_not_ready"
    before = _export_reads(w)
    _verified(w, rid)
    # Someone else's request reads as missing, to consumers and to the officer's key alike.
    assert client.get(url, headers=w.headers("consumer_b")).status_code == 404
    assert client.get(url, headers=w.headers("privacy_officer")).status_code == 404
    assert _export_reads(w) == before
    # A request of another type has no package.
    other = _file(client, w, "explanation")
    assert client.get(f"/v1/me/requests/{other}/export",
                      headers=w.headers("consumer")).status_code == 404
    # A completed request keeps its package.
    with unit_of_work(w.runtime.sessions) as session:
        w.runtime.rights.move(session, w.actors["privacy_officer"], uuid.UUID(rid),
                              RequestState.COMPLETED, note="副本已提供", now=utcnow())
    assert client.get(url, headers=w.headers("consumer")).status_code == 200
