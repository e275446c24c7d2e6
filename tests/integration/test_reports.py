"""Compliance reports against a real store, on SQLite and PostgreSQL (GDPR Art. 30; PIPL Art.
51, 55-56; GB/T 35273-2020 11.3):

- the records of processing follow the data map: a registered recipient and its agreement
  appear; a rule removed from the policy takes its fields and roles out of the report;
- GET /v1/reports/ropa is for the protection officer, operators and auditors only (the
  authorisation matrix declares it in NO_PI_ROUTES and points here), as JSON, HTML, Markdown
  or PDF;
- impact assessments are pre-filled, answered and signed by the officer, frozen with a
  content hash, and kept three years;
- the activation gate refuses a policy until every processing activity that needs an
  assessment links a signed one, and PRIVGUARD_REQUIRE_PIA stops a server serving it;
- ``privguard doctor`` finds a readable key file (and no longer once fixed), demo keys,
  unsigned assessments, overdue requests and late retention runs;
- ``privguard report checklist`` runs the tests it names.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select, update
from typer.testing import CliRunner

from privguard.actors.service import create_actor, issue_api_key
from privguard.api.app import create_app
from privguard.audit.models import AccessLogEntry
from privguard.bootstrap import Runtime, build_runtime
from privguard.cli import app as cli
from privguard.clock import utcnow
from privguard.policy.loader import shipped_policy_text
from privguard.policy.rules import ActorRef, Role
from privguard.reports import rules
from privguard.reports.models import ImpactAssessment
from privguard.reports.service import (
    AssessmentRefused,
    PolicyNotActivatable,
    Reports,
    view,
)
from privguard.rights.lifecycle import RequestType
from privguard.rights.retention_models import RetentionRun
from privguard.store.uow import unit_of_work
from privguard.vault.errors import AccessDenied, InvalidPI
from privguard.vault.models import Subject

from .world import World, build_world, publish_stub_notice

runner = CliRunner()


@pytest.fixture
def world(runtime: Runtime, admin: ActorRef) -> Iterator[tuple[World, TestClient]]:
    w = build_world(runtime, admin)
    publish_stub_notice(runtime, 1)
    with TestClient(create_app(runtime)) as client:
        yield w, client


def cli_env(runtime: Runtime, **extra: str) -> dict[str, str]:
    env = {"PRIVGUARD_HOME": str(runtime.settings.home),
           "PRIVGUARD_KEY_FILE": str(runtime.settings.key_file),
           "PRIVGUARD_SEQUENCER_INTERVAL": "0", **extra}
    if runtime.settings.database_url:
        env["PRIVGUARD_DATABASE_URL"] = runtime.settings.database_url
    return env


def invoke(runtime: Runtime, *args: str, **env: str) -> Any:
    return runner.invoke(cli, list(args), env=cli_env(runtime, **env))


def register(client: TestClient, w: World, country: str = "CN") -> uuid.UUID:
    org = w.orgs["partner"]
    r = client.post("/v1/recipients", headers=w.headers("privacy_officer"), json={
        "organisation_id": str(org), "legal_entity": "星云支付科技有限公司",
        "contact": "privacy@nebula.example", "country": country,
        "processor_role": "independent", "category": "advertising"})
    assert r.status_code == 201, r.text
    return org


def agree(client: TestClient, w: World, org: uuid.UUID, *, days: int = 180,
          purposes: tuple[str, ...] = ("third_party_sharing",)) -> None:
    now = utcnow()
    r = client.post(f"/v1/recipients/{org}/agreements", headers=w.headers("privacy_officer"),
                    json={"reference": "DPA-2026-017", "purposes": list(purposes),
                          "fields": ["name", "mobile_phone", "browsing_history"],
                          "retention_days": days, "sub_processing": False,
                          "starts_at": (now - timedelta(days=1)).isoformat(),
                          "ends_at": (now + timedelta(days=365)).isoformat()})
    assert r.status_code == 201, r.text


def ropa(client: TestClient, w: World, role: str = "privacy_officer") -> dict[str, Any]:
    r = client.get("/v1/reports/ropa", headers=w.headers(role))
    assert r.status_code == 200, r.text
    return r.json()


def activity(doc: dict[str, Any], purpose: str) -> dict[str, Any]:
    return next(a for a in doc["activities"] if a["purpose"] == purpose)


# ------------------------------------------------------------------------------ RoPA
def test_a_registered_recipient_and_agreement_appear_in_the_ropa(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    before = ropa(client, w)
    assert activity(before, "third_party_sharing")["recipients"] == []
    assert before["recipients"] == []
    org = register(client, w, country="SG")
    registered = ropa(client, w)
    # Registered without an agreement: in the registry, under no purpose yet.
    assert [r["legal_entity"] for r in registered["recipients"]] == ["星云支付科技有限公司"]
    assert registered["recipients"][0]["agreements"] == []
    assert activity(registered, "third_party_sharing")["recipients"] == []
    agree(client, w, org)
    after = activity(ropa(client, w, "auditor"), "third_party_sharing")
    [listed] = after["recipients"]
    assert listed["recipient_id"] == str(org) and listed["country"] == "SG"
    assert listed["cross_border"] is True and listed["processor_role"] == "independent"
    [terms] = listed["agreements"]
    assert terms["reference"] == "DPA-2026-017" and terms["in_force"] is True
    assert terms["fields"] == ["browsing_history", "mobile_phone", "name"]
    assert {c["case"] for c in after["pia"]["cases"]} >= {"cross_border",
                                                          "entrust_provide_disclose"}
    assert activity(ropa(client, w), "delivery")["recipients"] == []
    # The rendered report names it too, in both languages.
    for lang in ("zh-CN", "en"):
        r = client.get("/v1/reports/ropa", headers=w.headers("platform_admin"),
                       params={"format": "md", "lang": lang})
        assert r.status_code == 200
        assert "DPA-2026-017" in r.text and "星云支付科技有限公司" in r.text


def test_removing_a_rule_changes_the_purposes_fields_and_roles(
    runtime: Runtime, admin: ActorRef, tmp_path: Path
) -> None:
    shipped = invoke(runtime, "report", "ropa", "--format", "json")
    assert shipped.exit_code == 0, shipped.output
    push = activity(json.loads(shipped.stdout), "marketing_push")
    assert {f["name"] for f in push["fields"]} == {"name", "device_id"}
    assert push["roles"] == ["marketing"]
    text = shipped_policy_text()
    rule = text[text.index("  - id: marketing.push\n"):text.index("  - id: history.collect\n")]
    copy = tmp_path / "policy.yaml"
    copy.write_text(text.replace(rule, ""), "utf-8")
    changed = invoke(runtime, "report", "ropa", "--format", "json",
                     PRIVGUARD_POLICY_PATH=str(copy))
    assert changed.exit_code == 0, changed.output
    doc = json.loads(changed.stdout)
    push = activity(doc, "marketing_push")
    assert push["fields"] == [] and push["roles"] == [] and push["access"] == []
    # Everything else is as it was.
    before = {a["purpose"]: a["fields"] for a in json.loads(shipped.stdout)["activities"]}
    after = {a["purpose"]: a["fields"] for a in doc["activities"]}
    assert {p for p in before if before[p] != after[p]} == {"marketing_push"}


def test_the_ropa_route_is_for_the_officer_operators_and_auditors(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    for role in (r.value for r in Role):
        r = client.get("/v1/reports/ropa", headers=w.headers(role))
        if role in ("privacy_officer", "auditor", "platform_admin"):
            assert r.status_code == 200, (role, r.text)
        else:
            assert r.status_code == 403, role
            assert r.json()["error"]["rule"] == "reports.readers"
    assert client.get("/v1/reports/ropa").status_code == 401
    headers = w.headers("auditor")
    html = client.get("/v1/reports/ropa", headers=headers, params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html")
    assert "<h1>个人信息处理活动记录</h1>" in html.text
    md = client.get("/v1/reports/ropa", headers=headers, params={"format": "md", "lang": "en"})
    assert md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith("# Records of processing activities")
    pdf = client.get("/v1/reports/ropa", headers=headers, params={"format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert len(PdfReader(io.BytesIO(pdf.content)).pages) > 3
    bad = client.get("/v1/reports/ropa", headers=headers, params={"format": "docx"})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "format"


def test_report_cli_writes_the_ropa_in_every_format(runtime: Runtime, tmp_path: Path) -> None:
    for fmt in ("md", "html", "pdf", "json"):
        out = tmp_path / f"ropa.{fmt}"
        result = invoke(runtime, "report", "ropa", "--format", fmt, "--lang", "en",
                        "--out", str(out))
        assert result.exit_code == 0, result.output
        data = out.read_bytes()
        assert data.startswith({"md": b"# Records", "html": b"<!DOCTYPE html>",
                                "pdf": b"%PDF", "json": b"{"}[fmt])
    result = invoke(runtime, "report", "ropa", "--format", "docx")
    assert result.exit_code == 1 and "--format must be" in result.output


# ------------------------------------------------------------------------------ PIA
def _officer(runtime: Runtime, role: Role = Role.PRIVACY_OFFICER) -> ActorRef:
    with unit_of_work(runtime.sessions) as session:
        a = create_actor(session, display_name="个人信息保护负责人 李静", role=role, now=utcnow())
        return ActorRef(a.actor_id, role, None, a.display_name)


def _answer_all(document: dict[str, Any]) -> dict[str, str]:
    return {q["id"]: f"已评估：{q['id']}" for q in document["questions"]}


def sign(runtime: Runtime, officer: ActorRef, purposes: list[str], *,
         outcome: str = "approved") -> dict[str, str]:
    reports = Reports.from_runtime(runtime)
    signed = {}
    for purpose in purposes:
        with unit_of_work(runtime.sessions) as session:
            row = reports.pia_create(session, officer, purpose, now=utcnow())
            reports.pia_answer(session, officer, row.assessment_id, _answer_all(row.document),
                               now=utcnow())
            reports.pia_sign(session, officer, row.assessment_id, outcome, now=utcnow())
            signed[purpose] = str(row.assessment_id)
    return signed


def needing(runtime: Runtime) -> list[str]:
    with unit_of_work(runtime.sessions) as session:
        dm = Reports.from_runtime(runtime).data_map(session, now=utcnow())
    return list(rules.purposes_needing_pia(dm))


def linked_policy(path: Path, links: dict[str, str], text: str | None = None) -> Path:
    doc = yaml.safe_load(text or shipped_policy_text())
    for purpose, pia in links.items():
        doc["purposes"][purpose]["pia"] = pia
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def test_a_pia_is_prefilled_answered_signed_and_frozen(
    world: tuple[World, TestClient], runtime: Runtime
) -> None:
    w, client = world
    org = register(client, w, country="US")
    agree(client, w, org, days=400, purposes=("third_party_sharing",))
    reports = Reports.from_runtime(runtime)
    officer, admin = w.actors["privacy_officer"], w.actors["platform_admin"]
    with unit_of_work(runtime.sessions) as session:
        with pytest.raises(AccessDenied):
            reports.pia_create(session, w.actors["marketing"], "third_party_sharing",
                               now=utcnow())
        with pytest.raises(InvalidPI, match="purpose"):
            reports.pia_create(session, admin, "gossip", now=utcnow())
        row = reports.pia_create(session, admin, "third_party_sharing", now=utcnow())
        aid, document = row.assessment_id, row.document
    # Pre-filled from the data map: the cases and the risks this recipient brings.
    assert {c["case"] for c in document["cases"]} == {"entrust_provide_disclose",
                                                      "cross_border"}
    risks = {r["id"]: r for r in document["risks"]}
    assert risks[f"cross_border_unconsented:{org}"]["level"] == "high"
    assert risks["retention_longer:DPA-2026-017:browsing_history"]["params"]["field_days"] == 90
    assert f"risk.cross_border_unconsented:{org}" in [q["id"] for q in document["questions"]]
    answers = _answer_all(document)
    with unit_of_work(runtime.sessions) as session:
        # Only the officer answers and signs; nothing is signed half-answered.
        with pytest.raises(AccessDenied):
            reports.pia_answer(session, admin, aid, answers, now=utcnow())
        with pytest.raises(AccessDenied):
            reports.pia_sign(session, admin, aid, "approved", now=utcnow())
        with pytest.raises(InvalidPI) as unanswered:
            reports.pia_sign(session, officer, aid, "approved", now=utcnow())
        assert {e.field for e in unanswered.value.errors} == set(answers)
        with pytest.raises(InvalidPI, match="not a question of this assessment"):
            reports.pia_answer(session, officer, aid, {"general.vibes": "good"}, now=utcnow())
        reports.pia_answer(session, officer, aid, dict(list(answers.items())[:2]), now=utcnow())
        reports.pia_answer(session, officer, aid, dict(list(answers.items())[2:]), now=utcnow())
        with pytest.raises(InvalidPI, match="outcome"):
            reports.pia_sign(session, officer, aid, "maybe", now=utcnow())
        signed = reports.pia_sign(session, officer, aid, "approved", now=utcnow())
        assert signed.status == "signed" and len(signed.content_hash or "") == 64
        shown = view(signed)
        assert shown["intact"] is True and shown["unanswered"] == []
    with unit_of_work(runtime.sessions) as session:
        assert view(reports.pia_get(session, w.actors["auditor"], aid))["intact"] is True
        with pytest.raises(AccessDenied):
            reports.pia_get(session, w.actors["merchant_staff"], aid)
        with pytest.raises(AssessmentRefused, match="signed and can no longer change"):
            reports.pia_answer(session, officer, aid, answers, now=utcnow())
        with pytest.raises(AssessmentRefused, match="already signed"):
            reports.pia_sign(session, officer, aid, "rejected", now=utcnow())
    # Changed behind privguard's back: the stored hash no longer matches.
    with unit_of_work(runtime.sessions) as session:
        session.execute(update(ImpactAssessment)
                        .where(ImpactAssessment.assessment_id == aid)
                        .values(answers={**answers, "conclusion": "随便"}))
    with unit_of_work(runtime.sessions) as session:
        assert view(reports.pia_get(session, officer, aid))["intact"] is False
        assert reports.assessments(session)[str(aid)].intact is False
        logged = [json.loads(e) for e in session.execute(
            select(AccessLogEntry.entry).order_by(AccessLogEntry.entry_id)).scalars()]
    actions = [e["action"] for e in logged if e.get("detail", {}).get("assessment") == str(aid)]
    assert actions == ["pia.create", "pia.answer", "pia.answer", "pia.sign"]


def test_a_signed_pia_is_kept_three_years(runtime: Runtime) -> None:
    reports = Reports.from_runtime(runtime)
    officer = _officer(runtime)
    signed_at = utcnow()
    with unit_of_work(runtime.sessions) as session:
        row = reports.pia_create(session, officer, "fraud_detection", now=signed_at)
        reports.pia_answer(session, officer, row.assessment_id, _answer_all(row.document),
                           now=signed_at)
        reports.pia_sign(session, officer, row.assessment_id, "approved", now=signed_at)
        draft = reports.pia_create(session, officer, "delivery", now=signed_at)
        aid, draft_id = row.assessment_id, draft.assessment_id
        keep = row.keep_until
    assert keep is not None and keep.year == signed_at.year + 3
    for later in (timedelta(days=1), timedelta(days=3 * 365 - 1)):
        with unit_of_work(runtime.sessions) as session:
            with pytest.raises(AssessmentRefused) as refused:
                reports.pia_delete(session, officer, aid, now=signed_at + later)
            assert f"kept until {keep:%Y-%m-%d}" in str(refused.value)
            assert "PIPL Art. 56" in str(refused.value)
    operator = _officer(runtime, Role.PLATFORM_ADMIN)
    with unit_of_work(runtime.sessions) as session:
        assert reports.pia_get(session, officer, aid).status == "signed"
        with pytest.raises(AccessDenied):  # not even an operator
            reports.pia_delete(session, operator, aid, now=keep + timedelta(days=1))
        reports.pia_delete(session, officer, draft_id, now=signed_at)  # a draft: discarded
    with unit_of_work(runtime.sessions) as session:
        reports.pia_delete(session, officer, aid, now=keep)
    with unit_of_work(runtime.sessions) as session:
        assert reports.pia_list(session, officer) == []
    # From the command line the refusal reads the same.
    officer2 = _officer(runtime)
    [kept] = sign(runtime, officer2, ["fraud_detection"]).values()
    result = invoke(runtime, "report", "pia", "delete", kept, "--officer",
                    str(officer2.actor_id))
    assert result.exit_code == 1 and "must be kept until" in result.output


def test_pia_cli_round_trip(runtime: Runtime, tmp_path: Path) -> None:
    officer = str(_officer(runtime).actor_id)
    result = invoke(runtime, "report", "pia", "new", "fraud_detection", "--officer", officer)
    assert result.exit_code == 0, result.output
    assert "cases: sensitive, automated" in result.output
    listed = invoke(runtime, "report", "pia", "list", "--json")
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    aid = row["assessment_id"]
    assert row["status"] == "draft" and len(row["unanswered"]) == 8
    refused = invoke(runtime, "report", "pia", "sign", aid, "--officer", officer)
    assert refused.exit_code == 1 and "general.necessity: answer it before signing" in (
        refused.output)
    shown = json.loads(invoke(runtime, "report", "pia", "show", aid, "--format", "json").stdout)
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(_answer_all(shown["document"]), allow_unicode=True))
    result = invoke(runtime, "report", "pia", "answer", aid, "--officer", officer,
                    "--file", str(answers))
    assert result.exit_code == 0 and "0 questions left" in result.output, result.output
    result = invoke(runtime, "report", "pia", "sign", aid, "--officer", officer)
    assert result.exit_code == 0 and f"pia: {aid}" in result.output, result.output
    md = invoke(runtime, "report", "pia", "show", aid, "--lang", "en")
    assert "Signed by" in md.stdout and "The content is as signed." in md.stdout
    pdf = tmp_path / "pia.pdf"
    assert invoke(runtime, "report", "pia", "show", aid, "--format", "pdf", "--out",
                  str(pdf)).exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF")


# ------------------------------------------------------------------------------ the gate
def test_the_activation_gate_refuses_then_accepts_after_signing(
    runtime: Runtime, tmp_path: Path
) -> None:
    officer = _officer(runtime)
    plain = tmp_path / "plain.yaml"
    plain.write_text(shipped_policy_text(), "utf-8")
    result = invoke(runtime, "policy", "activate", str(plain))
    assert result.exit_code == 1
    purposes = needing(runtime)
    assert {"fraud_detection", "payment_processing", "third_party_sharing"} <= set(purposes)
    for purpose in purposes:
        assert f"purposes.{purpose}: needs an impact assessment" in result.output
    assert "purposes.marketing_email" not in result.output

    last, rest = purposes[-1], purposes[:-1]
    links = sign(runtime, officer, rest)
    with unit_of_work(runtime.sessions) as session:
        draft = Reports.from_runtime(runtime).pia_create(session, officer, last, now=utcnow())
        links[last] = str(draft.assessment_id)
    policy = linked_policy(tmp_path / "linked.yaml", links)
    result = invoke(runtime, "policy", "activate", str(policy))
    assert result.exit_code == 1
    assert f"purposes.{last}: pia {links[last]} is not signed" in result.output
    for purpose in rest:  # signed and linked: no longer named
        assert f"purposes.{purpose}:" not in result.output

    reports = Reports.from_runtime(runtime)
    with unit_of_work(runtime.sessions) as session:
        reports.pia_answer(session, officer, draft.assessment_id, _answer_all(draft.document),
                           now=utcnow())
        reports.pia_sign(session, officer, draft.assessment_id, "approved", now=utcnow())
    result = invoke(runtime, "policy", "activate", str(policy))
    assert result.exit_code == 0, result.output
    assert "activated" in result.output
    with unit_of_work(runtime.sessions) as session:
        record = reports.last_activation(session)
    assert record is not None
    assert record["sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()

    # The processing grows (fraud review now sees precise locations, masked): assess again.
    grown = policy.read_text("utf-8").replace(
        "- user.device\n  - user.behavior.purchase_history\n  view: masked\n  reason: fraud",
        "- user.device\n  - user.behavior.purchase_history\n  - user.location\n  view: masked\n"
        "  reason: fraud", 1)
    assert grown != policy.read_text("utf-8"), "the linked policy's layout changed"
    bigger = tmp_path / "bigger.yaml"
    bigger.write_text(grown, "utf-8")
    result = invoke(runtime, "policy", "activate", str(bigger))
    assert result.exit_code == 1
    assert "purposes.fraud_detection: pia" in result.output
    assert "does not cover what the purpose does now (fields precise_location)" in (
        result.output.replace("\n", " "))


def test_require_pia_refuses_to_serve_an_unassessed_policy(
    runtime: Runtime, tmp_path: Path
) -> None:
    strict = runtime.settings.model_copy(update={"require_pia": True})
    unassessed = build_runtime(strict)
    try:
        with pytest.raises(PolicyNotActivatable) as refused:
            create_app(unassessed)
        assert any(p.where == "purposes.fraud_detection" for p in refused.value.problems)
    finally:
        unassessed.close()
    result = invoke(runtime, "serve", "--port", "1", PRIVGUARD_REQUIRE_PIA="1")
    assert result.exit_code == 1
    assert "PRIVGUARD_REQUIRE_PIA is on" in result.output
    assert "purposes.fraud_detection" in result.output
    # Without the setting nothing changes: servers start as before.
    with TestClient(create_app(runtime)) as client:
        assert client.get("/healthz").status_code == 200

    links = sign(runtime, _officer(runtime), needing(runtime))
    policy = linked_policy(tmp_path / "linked.yaml", links)
    assessed = build_runtime(strict.model_copy(update={"policy_path": policy}))
    try:
        with TestClient(create_app(assessed)) as client:
            assert client.get("/healthz").status_code == 200
    finally:
        assessed.close()


# ------------------------------------------------------------------------------ doctor
def doctor(runtime: Runtime, *args: str, **env: str) -> tuple[int, dict[str, list[dict]]]:
    result = invoke(runtime, "doctor", "--json", *args, **env)
    by: dict[str, list[dict]] = {}
    for f in json.loads(result.stdout):
        by.setdefault(f["check"], []).append(f)
    return result.exit_code, by


def test_doctor_flags_a_readable_key_file_until_it_is_fixed(runtime: Runtime) -> None:
    key = runtime.settings.key_file
    assert key is not None
    os.chmod(key, 0o644)
    code, found = doctor(runtime)
    assert code == 1
    [finding] = found["key_file"]
    assert finding["severity"] == "high" and finding["fix"] == f"chmod 600 {key.resolve()}"
    os.chmod(key, 0o600)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    code, found = doctor(runtime, "--verify")
    assert [f["severity"] for f in found["key_file"]] == ["ok"]
    assert code == 0, found
    assert any(f["severity"] == "ok" and "verified now" in f["title"] for f in found["audit"])
    # Human-readable output names the same finding and its fix.
    os.chmod(key, 0o640)
    result = invoke(runtime, "doctor")
    assert result.exit_code == 1 and "chmod 600" in result.output
    os.chmod(key, 0o600)


def test_doctor_finds_demo_keys_drafts_overdue_requests_and_late_retention(
    world: tuple[World, TestClient], runtime: Runtime
) -> None:
    w, _ = world
    now = utcnow()
    code, found = doctor(runtime)
    assert [f["severity"] for f in found["credentials"]] == ["ok"]
    assert [f["severity"] for f in found["requests"]] == ["ok"]
    assert [f["severity"] for f in found["retention"]] == ["medium"]  # never run
    with unit_of_work(runtime.sessions) as session:
        issue_api_key(session, w.actors["analyst"].actor_id, now=now, label="demo")
        runtime.rights.file(session, w.actors["consumer"], subject_id=None,
                            type=RequestType.ACCESS, details={}, now=now - timedelta(days=60))
        session.add(RetentionRun(run_id=uuid.uuid4(), cutoff=now - timedelta(days=3),
                                 started_at=now - timedelta(days=3),
                                 finished_at=now - timedelta(days=3), phase="done", batches=1,
                                 resumed=0, subjects=0, held=0, restricted=0, counts={}))
        session.execute(update(Subject).where(Subject.subject_id == w.subjects["none"])
                        .values(next_expiry=now - timedelta(days=2)))
        draft = Reports.from_runtime(runtime).pia_create(
            session, w.actors["privacy_officer"], "delivery", now=now)
    code, found = doctor(runtime)
    assert code == 1
    assert [f["severity"] for f in found["credentials"]] == ["high"]
    assert [f["severity"] for f in found["requests"]] == ["high"]
    assert "1 data-subject requests are past their deadline" in found["requests"][0]["title"]
    retention = {f["severity"]: f["title"] for f in found["retention"]}
    assert "1 customers hold values" in retention["high"]
    assert "finished 3 days ago" in retention["medium"]
    unsigned = [f for f in found["pia"] if str(draft.assessment_id) in f["title"]]
    assert unsigned and unsigned[0]["severity"] == "medium"
    # PRIVGUARD_REQUIRE_PIA makes the missing assessments a high finding.
    _, strict = doctor(runtime, PRIVGUARD_REQUIRE_PIA="1")
    assert "high" in [f["severity"] for f in strict["pia"]]
    # Where clients reach it: https is what it should be.
    _, tls = doctor(runtime, PRIVGUARD_PUBLIC_URL="https://privacy.example.com")
    assert [f["severity"] for f in tls["tls"]] == ["ok"]
    _, tls = doctor(runtime, PRIVGUARD_PUBLIC_URL="http://privacy.example.com")
    assert [f["severity"] for f in tls["tls"]] == ["high"]


# ------------------------------------------------------------------------------ checklist
def test_checklist_cli_shows_open_requirements_and_runs_the_named_tests(
    runtime: Runtime,
) -> None:
    listed = invoke(runtime, "report", "checklist", "--law", "PIPL", "--format", "json")
    assert listed.exit_code == 0, listed.output
    rows = {r["item"]: r for r in json.loads(listed.stdout)}
    assert rows["Art. 25"]["status"] == "open" and rows["Art. 55"]["status"] == "covered"
    assert rows["Art. 57"]["status"] == "covered"
    ran = invoke(runtime, "report", "checklist", "--law", "CCPA", "--format", "json", "--run")
    assert ran.exit_code == 0, ran.output
    rows = json.loads(ran.stdout)
    assert [r["item"] for r in rows] == ["45 days", "10 business days to confirm receipt",
                                         "Sec-GPC: 1 as opt-out of sale/share"]
    for row in rows:
        assert row["status"] == "pass", row
        assert set(row["results"]) == set(row["tests"])
        assert set(row["results"].values()) == {"pass"}
    table = invoke(runtime, "report", "checklist", "--law", "CCPA")
    assert table.exit_code == 0 and "Sec-GPC" in table.output
    assert invoke(runtime, "report", "checklist", "--law", "HIPAA").exit_code == 1
