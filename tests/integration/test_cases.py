"""Complaints, the investigation view and merchant supervision end to end over the API, on
SQLite and PostgreSQL (PIPL Art. 50; E-Commerce Law Art. 29): a consumer reports harassment
after an order; the investigator sees who read what; the case is upheld and the merchant's
sanction takes effect at the gate for its very next read."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from privguard.api.app import create_app
from privguard.audit.sequencer import sequence_all
from privguard.bootstrap import Runtime
from privguard.cases.models import Case, CaseAttachment
from privguard.marketplace.models import Order
from privguard.policy.rules import ActorRef
from privguard.sharing.relay_phone import register_telephony
from privguard.store.uow import unit_of_work
from privguard.testing import RecordingTelephony

from .world import World, build_world, publish_stub_notice

PHONE = "13912345678"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def world(runtime: Runtime, admin: ActorRef) -> Iterator[tuple[World, TestClient]]:
    register_telephony("recording", lambda **_: RecordingTelephony())
    runtime.settings = runtime.settings.model_copy(
        update={"relay_telephony": "recording", "relay_numbers": ["+8695000"]})
    w = build_world(runtime, admin)
    publish_stub_notice(runtime, 1)
    with TestClient(create_app(runtime)) as client:
        yield w, client


def own_order(runtime: Runtime, w: World) -> str:
    with unit_of_work(runtime.sessions) as session:
        return str(session.execute(select(Order.order_id).where(
            Order.subject_id == w.subjects["own"])).scalar_one())


def merchant_reads_address(client: TestClient, w: World) -> dict:  # type: ignore[type-arg]
    r = client.get(f"/v1/subjects/{w.subjects['own']}", headers=w.headers("merchant_staff"),
                   params={"purpose": "delivery", "fields": ["shipping_addresses"],
                           "view": "plain"})
    assert r.status_code == 200, r.text
    return r.json()["fields"]["shipping_addresses"]  # type: ignore[no-any-return]


def test_a_harassment_report_is_investigated_upheld_and_sanctioned(
    runtime: Runtime, world: tuple[World, TestClient], tmp_path: Path
) -> None:
    w, client = world
    officer = w.headers("privacy_officer")
    # The merchant reads the buyer's address plain to ship the order (allowed, logged).
    assert merchant_reads_address(client, w)["view"] == "plain"
    # The courier calls the buyer through the order's relay alias (connected, logged).
    order = own_order(runtime, w)
    alias = client.get(f"/v1/orders/{order}/relay", headers=w.headers("courier"))
    assert alias.status_code == 200, alias.text
    r = client.post("/v1/relay/calls", headers=w.headers("courier"), json={
        "number": alias.json()["phone_number"], "extension": alias.json()["extension"]})
    assert r.status_code == 202, r.text

    r = client.post("/v1/cases", headers=w.headers("consumer"), json={
        "category": "harassment", "order_id": order,
        "description": f"下单后商家客服用 {PHONE} 反复给我打电话推销，我的身份证号 "
                       "11010519491231002X 也被念出来了"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["queue"] == "privacy" and case["merchant_id"] == str(w.orgs["merchant_a"])
    assert PHONE not in case["description"] and "11010519491231002X" not in case["description"]
    assert "<PHONE_NUMBER>" in case["description"] and case["redactions"] >= 2
    cid = case["case_id"]
    with unit_of_work(runtime.sessions) as session:
        stored = session.get(Case, uuid.UUID(cid))
        assert stored is not None and PHONE not in stored.description

    # The consumer adds a screenshot; a file that is not what it claims is refused.
    r = client.post(f"/v1/cases/{cid}/attachments", headers={**w.headers("consumer"),
                    "content-type": "image/png"}, content=b"GIF89a not a png")
    assert r.status_code == 422
    r = client.post(f"/v1/cases/{cid}/attachments", headers={**w.headers("consumer"),
                    "content-type": "image/png"}, content=PNG)
    assert r.status_code == 201, r.text
    attachment = r.json()["attachment_id"]
    with unit_of_work(runtime.sessions) as session:
        row = session.execute(select(CaseAttachment)).scalar_one()
        assert PNG not in row.sealed  # sealed under its own key
    assert client.get(f"/v1/cases/attachments/{attachment}",
                      headers=w.headers("consumer")).status_code == 404
    r = client.get(f"/v1/cases/attachments/{attachment}", headers=officer)
    assert r.status_code == 200 and r.content == PNG

    # Only the privacy queue's handlers work it; customer service may not.
    r = client.post(f"/v1/cases/{cid}/triage", headers=w.headers("customer_service"), json={})
    assert r.status_code == 404  # not their queue: they do not even see it
    assert client.post(f"/v1/cases/{cid}/resolve", headers=officer, json={
        "upheld": True, "finding": "x", "corrective_action": "y"}).status_code == 409
    assert client.post(f"/v1/cases/{cid}/triage", headers=officer, json={}).status_code == 200
    assert client.post(f"/v1/cases/{cid}/investigate", headers=officer,
                       json={}).status_code == 200

    # The investigation view: the merchant staff member's plain read, by whom and why.
    r = client.get(f"/v1/cases/{cid}/evidence", headers=officer)
    assert r.status_code == 200, r.text
    ev = r.json()
    reads = [a for a in ev["accesses"] if a["role"] == "merchant_staff" and a["allowed"]]
    assert reads and reads[0]["actor_id"] == str(w.actors["merchant_staff"].actor_id)
    assert reads[0]["organisation"] == "甲果园旗舰店"
    assert reads[0]["fields"] == [{"field": "shipping_addresses", "view": "plain",
                                   "rule": "merchant.ship-to"}]
    assert ev["consumer"]["mobile_phone"] != w.pi["own"]["mobile_phone"]  # masked
    calls = [c for c in ev["relay_contacts"] if c["party"] == "courier"]
    assert calls and calls[0]["channel"] == "call" and calls[0]["outcome"] == "connected"
    assert calls[0]["organisation"] == "顺丰速运"
    assert calls[0]["actor_id"] == str(w.actors["courier"].actor_id)
    # Opening the evidence was itself a gated, logged read the consumer can see.
    log = client.get("/v1/me/access-log", headers=w.headers("consumer")).json()["accesses"]
    assert log[0]["purpose"] == "complaint_investigation"
    # The bundle proves each access entry against the signed tree head, with the stdlib tool.
    sequence_all(runtime.sessions, runtime.signer)
    r = client.get(f"/v1/cases/{cid}/evidence/bundle", headers=officer)
    assert r.status_code == 200, r.text
    proof = r.json()["proof"]
    assert proof["tree_head"] and len(proof["entries"]) >= 1
    path = tmp_path / "bundle-proof.json"
    path.write_text(json.dumps(proof))
    script = Path(__file__).resolve().parents[2] / "docs" / "verify_proof.py"
    ok = subprocess.run([sys.executable, "-I", "-S", str(script), str(path),
                         runtime.signer.public_key_bytes.hex()], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
        # Others cannot open it.
    for role in ("merchant_staff", "customer_service", "consumer"):
        assert client.get(f"/v1/cases/{cid}/evidence",
                          headers=w.headers(role)).status_code in (403, 404), role

    # Upheld: the merchant's record drops, a sanction is imposed, and it bites at once.
    before = client.get(f"/v1/merchants/{w.orgs['merchant_a']}/privacy-rating",
                        headers=w.headers("consumer")).json()
    assert before["grade"] == "A" and before["score"] is None  # consumers see the grade only
    for n in range(2):  # two upheld complaints cross the masked-only threshold
        if n:
            cid = client.post("/v1/cases", headers=w.headers("consumer"), json={
                "category": "merchant_misuse", "merchant_id": str(w.orgs["merchant_a"]),
                "description": "商家把我的地址给了别人"}).json()["case_id"]
            client.post(f"/v1/cases/{cid}/triage", headers=officer, json={})
            client.post(f"/v1/cases/{cid}/investigate", headers=officer, json={})
        r = client.post(f"/v1/cases/{cid}/resolve", headers=officer, json={
            "upheld": True, "finding": "商家员工违规使用消费者联系方式",
            "corrective_action": "限制该商家查看明文个人信息"})
        assert r.status_code == 200 and r.json()["state"] == "resolved", r.text
    rating = client.get(f"/v1/merchants/{w.orgs['merchant_a']}/privacy-rating",
                        headers=officer).json()
    assert rating["record"]["upheld_complaints"] == 2 and rating["sanction"] == "masked_only"
    assert rating["grade"] in ("C", "D")
    # The merchant's next plain read is masked, with the sanction's rule.
    after = merchant_reads_address(client, w)
    assert (after["view"], after["rule"]) == ("masked", "sanction.masked-only")
    # The consumer follows the case to its finding.
    mine = client.get(f"/v1/cases/{cid}", headers=w.headers("consumer")).json()
    assert mine["state"] == "resolved" and mine["upheld"] is True and mine["finding"]

    # The merchant appeals; the officer lifts it; plain again.
    sanctions = client.get(f"/v1/merchants/{w.orgs['merchant_a']}/sanctions",
                           headers=w.headers("merchant_staff")).json()
    masked = next(s for s in sanctions if s["level"] == "masked_only")
    assert client.get(f"/v1/merchants/{w.orgs['merchant_a']}/sanctions",
                      headers=w.headers("merchant_staff_b")).status_code == 403
    r = client.post(f"/v1/sanctions/{masked['sanction_id']}/appeal",
                    headers=w.headers("merchant_staff"), json={"text": "已整改并培训员工"})
    assert r.status_code == 200 and r.json()["appealed_at"]
    r = client.post(f"/v1/sanctions/{masked['sanction_id']}/decide",
                    headers=w.headers("merchant_staff"), json={"lift": True, "reason": "x"})
    assert r.status_code == 403
    for s in sanctions:
        client.post(f"/v1/sanctions/{s['sanction_id']}/decide", headers=officer,
                    json={"lift": True, "reason": "整改完成"})
    assert merchant_reads_address(client, w)["view"] == "plain"


def test_cases_are_routed_rejected_with_a_reason_and_limited_to_their_filers(
    runtime: Runtime, world: tuple[World, TestClient]
) -> None:
    w, client = world
    r = client.post("/v1/cases", headers=w.headers("consumer"), json={
        "category": "counterfeit", "description": "收到的是假货"})
    assert r.status_code == 201 and r.json()["queue"] == "commerce"
    commerce = r.json()["case_id"]
    # Customer service works commerce cases; they do not appear in the privacy queue.
    queue = client.get("/v1/cases", headers=w.headers("customer_service"),
                       params={"queue": "commerce"}).json()
    assert [c["case_id"] for c in queue] == [commerce]
    assert client.get("/v1/cases", headers=w.headers("customer_service"),
                      params={"queue": "privacy"}).status_code == 403
    # Someone else's order cannot be named; staff can only report, not complain.
    with unit_of_work(runtime.sessions) as session:
        foreign = str(session.execute(select(Order.order_id).where(
            Order.subject_id == w.subjects["foreign"])).scalar_one())
    r = client.post("/v1/cases", headers=w.headers("consumer"), json={
        "category": "after_sales", "order_id": foreign, "description": "x"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "order_id"
    r = client.post("/v1/cases", headers=w.headers("courier"), json={
        "category": "after_sales", "description": "x"})
    assert r.status_code == 403
    r = client.post("/v1/cases", headers=w.headers("courier"), json={
        "category": "pi_leak", "description": "发现一个网站在卖用户手机号"})
    assert r.status_code == 201
    leak = r.json()["case_id"]
    # A rejection needs a reason, which the filer reads.
    officer = w.headers("privacy_officer")
    assert client.post(f"/v1/cases/{leak}/reject", headers=officer, json={}).status_code == 422
    r = client.post(f"/v1/cases/{leak}/reject", headers=officer,
                    json={"note": "未能核实：请提供网站地址"})
    assert r.json()["state"] == "rejected"
    mine = client.get(f"/v1/cases/{leak}", headers=w.headers("courier")).json()
    assert mine["finding"] == "未能核实：请提供网站地址"
    assert client.get(f"/v1/cases/{leak}", headers=w.headers("consumer")).status_code == 404
    # The filer adds information while a case is open, not after.
    r = client.post(f"/v1/cases/{commerce}/info", headers=w.headers("consumer"),
                    json={"text": f"商家电话 {PHONE} 打不通"})
    assert r.status_code == 200 and PHONE not in r.text
    assert client.post(f"/v1/cases/{leak}/info", headers=w.headers("courier"),
                       json={"text": "x"}).status_code == 422
