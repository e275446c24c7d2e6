"""The privacy center's and the console's pages over HTTP (no browser), on SQLite and
PostgreSQL: every page behind sign-in and its roles, every form behind its CSRF token, typed
markup shown as text, and each page doing what its service does (consents recorded one at a
time with the words shown, requests verified and downloaded, complaints worked, the access
log searched and verified, holds placed) as the signed-in actor.

The pages are not in the OpenAPI document (``include_in_schema=False``), so the authorisation
matrix (test_authz_matrix.py) does not list them: this file is their authorisation test.
"""

from __future__ import annotations

import html
import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.routing import Route

from privguard.api.app import create_app
from privguard.audit.entry import LogEntry
from privguard.audit.models import AccessLogEntry
from privguard.audit.sequencer import sequence_all
from privguard.bootstrap import Runtime
from privguard.cases.models import Case
from privguard.cases.rules import Category
from privguard.clock import utcnow
from privguard.consent.models import ConsentEvent
from privguard.consent.notices import current_document, publish_notice
from privguard.policy.rules import ActorRef, View
from privguard.rights.models import SubjectRequest
from privguard.rights.retention_models import LegalHold
from privguard.store.uow import unit_of_work
from privguard.testing import RecordingNotifier
from privguard.vault.errors import AccessDenied

from .samples import RAW
from .world import World, build_world

PASSWORD = "correct horse battery"
SECRET = pyotp.random_base32()
ACCOUNTS = ("consumer", "consumer_b", "privacy_officer", "auditor", "merchant_staff",
            "platform_admin")
STAFF = frozenset(ACCOUNTS) - {"consumer", "consumer_b"}


@dataclass
class Web:
    world: World
    runtime: Runtime
    app: Any
    notifier: RecordingNotifier
    steps: dict[str, int]

    def client(self, login: str | None = None) -> TestClient:
        """A browser of its own (its own cookies), signed in as ``login`` if given."""
        client = TestClient(self.app, base_url="https://testserver")
        if login is not None:
            token = csrf_of(client.get("/login").text)
            data = {"csrf": token, "login": login, "password": PASSWORD}
            if login in STAFF:
                step = max(int(utcnow().timestamp()) // 30, self.steps.get(login, -1) + 1)
                self.steps[login] = step
                data["code"] = pyotp.TOTP(SECRET).at(step * 30)
            r = client.post("/login", data=data, follow_redirects=False)
            assert r.status_code == 303, r.text
        return client


@pytest.fixture
def web(runtime: Runtime, admin: ActorRef) -> Iterator[Web]:
    w = build_world(runtime, admin)
    notifier = RecordingNotifier()
    runtime.verifier.notifier = notifier
    with unit_of_work(runtime.sessions) as session:
        publish_notice(session, current_document(runtime.catalog, runtime.policy,
                                                 runtime.settings.notice_path), now=utcnow())
        for key in ACCOUNTS:
            runtime.web_auth.create_account(session, w.actors[key].actor_id, key, PASSWORD,
                                            now=utcnow(), totp_secret=SECRET)
    yield Web(w, runtime, create_app(runtime), notifier, {})


def csrf_of(text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found, text[:2000]
    return found.group(1)


def page_routes() -> list[tuple[str, str]]:
    """(method, path) of every privacy-center and console page, ids filled in."""
    from privguard.web import center, console, pages

    out = []
    for route in [*pages.router.routes, *center.router.routes, *console.router.routes]:
        if not isinstance(route, Route) or not route.path.startswith(("/center", "/console")):
            continue
        path = re.sub(r"\{alert_id\}", "1", route.path)
        path = re.sub(r"\{[a-z_]+\}", lambda m: "start" if m.group(0) == "{step}"
                      else str(uuid.uuid4()), path)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                out.append((method, path))
    return out


def test_every_page_needs_sign_in_and_its_role(web: Web) -> None:
    routes = page_routes()
    center = [r for r in routes if r[1].startswith("/center")]
    console = [r for r in routes if r[1].startswith("/console")]
    assert len(center) >= 15 and len(console) >= 20  # the pages this file is about exist

    anonymous = web.client()
    for method, path in routes:
        r = anonymous.request(method, path, data={"csrf": "x"}, follow_redirects=False)
        assert (r.status_code, r.headers.get("location")) == (303, "/login"), (method, path)

    def refused(login: str, pages: list[tuple[str, str]]) -> None:
        client = web.client(login)
        token = csrf_of(client.get("/login", follow_redirects=True).text)
        for method, path in pages:
            r = client.request(method, path, data={"csrf": token}, follow_redirects=False)
            assert r.status_code == 403, (login, method, path, r.status_code)
            assert "你的账号无权访问此页面" in r.text

    # Merchant staff have no privacy center at all, nor the console.
    refused("merchant_staff", routes)
    refused("consumer", console)
    refused("privacy_officer", center)
    # The auditor reads the console but acts on nothing (checking the log is reading it).
    acts = [r for r in console if r[0] == "POST" and r[1] != "/console/access-log/verify"]
    refused("auditor", acts)


def test_every_form_needs_its_token(web: Web) -> None:
    consumer = web.client("consumer")
    officer = web.client("privacy_officer")
    foreign = csrf_of(web.client("consumer_b").get("/center").text)  # another session's
    w = web.world
    for client, path, data in (
        (consumer, "/center/consents", {"kind": "purpose", "target": "marketing_sms",
                                        "answer": "grant", "notice_version": "1"}),
        (consumer, "/center/complaints", {"category": "pi_leak", "description": "x"}),
        (consumer, "/center/requests", {"type": "access"}),
        (consumer, "/center/reveal", {"password": PASSWORD}),
        (officer, "/console/holds", {"subject_id": str(w.subjects["own"]), "reason": "x",
                                     "until": "2099-01-01"}),
    ):
        for token in (None, foreign, "forged"):
            sent = dict(data) if token is None else {**data, "csrf": token}
            r = client.post(path, data=sent, follow_redirects=False)
            assert r.status_code == 400, (path, token)
    with unit_of_work(web.runtime.sessions) as session:
        for table in (ConsentEvent, Case, SubjectRequest, LegalHold):
            assert session.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_markup_typed_into_a_case_is_shown_as_text(web: Web) -> None:
    consumer = web.client("consumer")
    token = csrf_of(consumer.get("/center/complaints").text)
    typed = "<script>alert(1)</script> 乱发短信"
    r = consumer.post("/center/complaints", data={
        "csrf": token, "category": "marketing_without_consent", "description": typed,
    }, follow_redirects=False)
    assert r.status_code == 303
    case_path = r.headers["location"].split("?")[0]
    case_id = case_path.rsplit("/", 1)[-1]
    officer = web.client("privacy_officer")
    token_o = csrf_of(officer.get("/console").text)
    note = '<img src=x onerror="alert(2)">'
    r = officer.post(f"/console/complaints/{case_id}/note", data={"csrf": token_o, "note": note},
                     follow_redirects=False)
    assert r.status_code == 303
    r = consumer.post(f"{case_path}/info", data={"csrf": token, "text": "<b>more</b>"},
                      follow_redirects=False)
    assert r.status_code == 303
    for page in (consumer.get(case_path).text, officer.get(f"/console/complaints/{case_id}").text):
        assert "<script>alert(1)</script>" not in page and html.escape(typed) in page
        assert "<b>more</b>" not in page and "&lt;b&gt;more&lt;/b&gt;" in page
    assert note not in officer.get(f"/console/complaints/{case_id}").text
    # Another consumer cannot follow it.
    assert web.client("consumer_b").get(case_path).status_code == 404


def test_consent_switches_record_one_answer_with_the_words_shown(web: Web) -> None:
    w, runtime = web.world, web.runtime
    with unit_of_work(runtime.sessions) as session:  # a partner abroad, with an agreement
        now = utcnow()
        officer = w.actors["privacy_officer"]
        runtime.sharing.register(session, officer, organisation_id=w.orgs["partner"],
                                 legal_entity="星云支付有限公司", contact="p@example.com",
                                 country="SG", processor_role="independent",
                                 category="advertising", now=now)
        runtime.sharing.add_agreement(session, officer, w.orgs["partner"], reference="A-1",
                                      purposes=["third_party_sharing"], fields=["name"],
                                      retention_days=30, sub_processing=False,
                                      starts_at=now - timedelta(days=1),
                                      ends_at=now + timedelta(days=30), now=now)
    consumer = web.client("consumer")
    page = consumer.get("/center/consents").text
    token = csrf_of(page)
    shown = re.search(r"我同意：短信营销。[^<]*", page)
    assert shown, page
    r = consumer.post("/center/consents", data={
        "csrf": token, "kind": "purpose", "target": "marketing_sms", "answer": "grant",
        "notice_version": "1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("ok=consent_granted")
    # A form drawn under an older notice is refused: the answer would not be informed.
    r = consumer.post("/center/consents", data={
        "csrf": token, "kind": "purpose", "target": "marketing_email", "answer": "grant",
        "notice_version": "0"})
    assert r.status_code == 422 and "notice_version" in r.text
    # The recipient abroad has two separate switches: provision, and transfer abroad.
    page = consumer.get("/center/consents").text
    assert page.count(f'name="target" value="{w.orgs["partner"]}"') == 2
    r = consumer.post("/center/consents", data={
        "csrf": token, "kind": "third_party", "target": str(w.orgs["partner"]),
        "answer": "grant", "notice_version": "1"}, follow_redirects=False)
    assert r.status_code == 303
    with unit_of_work(runtime.sessions) as session:
        events = list(session.execute(select(ConsentEvent).order_by(ConsentEvent.event_id))
                      .scalars())
        states = runtime.consent.states(session, w.subjects["own"], utcnow())
    assert [(e.kind, e.target, e.action, e.channel) for e in events] == [
        ("purpose", "marketing_sms", "granted", "web"),
        ("third_party", str(w.orgs["partner"]), "granted", "web")]
    assert events[0].text_shown == html.unescape(shown.group(0)).strip()
    assert events[0].notice_version == 1 and events[0].notice_hash
    assert "星云支付有限公司" in events[1].text_shown
    assert sorted(s.topic for s in states.values() if s.current) == [
        "purpose:marketing_sms", f"third_party:{w.orgs['partner']}"]
    r = consumer.post("/center/consents", data={
        "csrf": token, "kind": "purpose", "target": "marketing_sms", "answer": "withdraw"},
        follow_redirects=False)
    assert r.status_code == 303
    assert not runtime.consent_cache.may_use(w.subjects["own"], "marketing_sms")
    assert "开启<span class=\"visually-hidden\"> 短信营销" in consumer.get("/center/consents").text


def test_a_request_is_verified_downloaded_and_worked_by_the_officer(web: Web) -> None:
    w = web.world
    consumer = web.client("consumer")
    token = csrf_of(consumer.get("/center/requests").text)
    assert consumer.post("/center/requests", data={"csrf": token, "type": "access"},
                         follow_redirects=False).status_code == 303
    rid = re.search(r"/center/requests/([0-9a-f-]{36})/verify/start",
                    consumer.get("/center/requests").text).group(1)
    # Not yet verified: nothing to download.
    assert consumer.get(f"/center/requests/{rid}/export").status_code == 409
    r = consumer.post(f"/center/requests/{rid}/verify/start",
                      data={"csrf": token, "channel": "mobile_phone"})
    assert r.status_code == 200 and "138****8000" in r.text
    challenge = re.search(r'name="challenge_id" value="([^"]+)"', r.text).group(1)
    code = web.notifier.last_code()
    wrong = "000000" if code != "000000" else "111111"
    r = consumer.post(f"/center/requests/{rid}/verify",
                      data={"csrf": token, "challenge_id": challenge, "code": wrong})
    assert r.status_code == 403 and "4 attempts left" in r.text
    assert f'value="{challenge}"' in r.text  # the code form stays for another try
    r = consumer.post(f"/center/requests/{rid}/verify",
                      data={"csrf": token, "challenge_id": challenge, "code": code},
                      follow_redirects=False)
    assert r.status_code == 303
    r = consumer.get(f"/center/requests/{rid}/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "no-store" in r.headers["cache-control"]
    personal = json.loads(zipfile.ZipFile(io.BytesIO(r.content)).read("personal_information.json"))
    assert RAW["name"] in json.dumps(personal, ensure_ascii=False)
    # Nobody else downloads it: another consumer, or staff.
    assert web.client("consumer_b").get(f"/center/requests/{rid}/export").status_code == 404
    # The officer sees it in the queue and completes it; the consumer sees the answer.
    officer = web.client("privacy_officer")
    assert rid[:8] in officer.get("/console/requests").text
    token_o = csrf_of(officer.get(f"/console/requests/{rid}").text)
    r = officer.post(f"/console/requests/{rid}/complete",
                     data={"csrf": token_o, "note": "已提供副本"}, follow_redirects=False)
    assert r.status_code == 303
    assert "已提供副本" in consumer.get("/center/requests").text
    # A correction: filed with its value, applied by the officer through the gate.
    consumer.post("/center/requests", data={"csrf": token, "type": "correction",
                                            "field": "name", "value": "欧阳娜"})
    with unit_of_work(web.runtime.sessions) as session:
        corr = session.execute(select(SubjectRequest.request_id).where(
            SubjectRequest.type == "correction")).scalar_one()
    for step in ("verifying", "start", "fulfil-correction"):
        r = officer.post(f"/console/requests/{corr}/{step}", data={"csrf": token_o},
                         follow_redirects=False)
        assert r.status_code == 303, (step, r.text)
    with unit_of_work(web.runtime.sessions) as session:
        value = web.runtime.vault.read(session, w.actors["consumer"], w.subjects["own"],
                                       fields=["name"], purpose="account_management",
                                       view=View.PLAIN, now=utcnow()).values["name"].value
    assert value == "欧阳娜"


def test_who_accessed_my_data_filters_the_timeline(web: Web) -> None:
    w, runtime = web.world, web.runtime
    now = utcnow()
    with unit_of_work(runtime.sessions) as session:
        runtime.vault.read(session, w.actors["merchant_staff"], w.subjects["own"],
                           fields=["name"], purpose="order_fulfilment", view=View.MASKED,
                           now=now)
    with pytest.raises(AccessDenied), unit_of_work(runtime.sessions,
                                                   commit_on=(AccessDenied,)) as session:
        runtime.vault.read(session, w.actors["merchant_staff_b"], w.subjects["own"],
                           fields=["name"], purpose="order_fulfilment", view=View.MASKED,
                           now=now)
    consumer = web.client("consumer")
    everything = consumer.get("/center/access").text
    assert "甲果园旗舰店" in everything and "乙数码专营店" in everything
    refused = consumer.get("/center/access?outcome=refused").text
    assert "乙数码专营店" in refused and "甲果园旗舰店" not in refused
    merchants = consumer.get("/center/access?kind=merchant&purpose=order_fulfilment").text
    assert merchants.count('class="entry ') == 2
    later = (now + timedelta(days=2)).date().isoformat()
    assert "没有符合条件的访问记录" in consumer.get(f"/center/access?from={later}").text
    # Staff are named by organisation and role, never by name.
    assert "merchant_staff 张伟" not in everything


def test_the_officer_searches_and_verifies_the_log(web: Web) -> None:
    w, runtime = web.world, web.runtime
    with unit_of_work(runtime.sessions) as session:
        runtime.vault.read(session, w.actors["merchant_staff"], w.subjects["own"],
                           fields=["name"], purpose="order_fulfilment", view=View.MASKED,
                           now=utcnow())
    sequence_all(runtime.sessions, runtime.signer)
    auditor = web.client("auditor")
    r = auditor.get(f"/console/access-log?subject={w.subjects['own']}&purpose=order_fulfilment")
    assert r.status_code == 200 and r.text.count("order_fulfilment") >= 2  # option + entry
    assert "name=masked (merchant.order-contact)" in r.text
    r = auditor.get(f"/console/access-log?subject={w.subjects['own']}&outcome=refused")
    assert "没有符合条件的记录" in r.text
    assert auditor.get("/console/access-log?subject=not-an-id").status_code == 422
    with unit_of_work(runtime.sessions) as session:
        searches = [LogEntry.from_json(e) for e in session.execute(
            select(AccessLogEntry.entry)).scalars()]
    searched = [e for e in searches if e.action == "access_log.search"]
    assert searched and searched[0].actor_id == w.actors["auditor"].actor_id
    assert searched[0].detail["subject_id"] == str(w.subjects["own"])
    r = auditor.post("/console/access-log/verify",
                     data={"csrf": csrf_of(auditor.get("/console/access-log").text)})
    assert r.status_code == 200
    result = re.search(r'id="verify-result"[^>]*>(.*?)</p>', r.text, re.S).group(1)
    assert "完整" in result and "不完整" not in result


def test_the_auditor_reads_what_the_officer_acts_on(web: Web) -> None:
    w, runtime = web.world, web.runtime
    with unit_of_work(runtime.sessions) as session:
        case = runtime.cases.file(session, w.actors["consumer"], category=Category.PI_LEAK,
                                  description="泄露", now=utcnow())
    auditor = web.client("auditor")
    page = auditor.get(f"/console/complaints/{case.case_id}").text
    assert "泄露" in page and 'action="/console/complaints/' not in page
    r = auditor.post(f"/console/complaints/{case.case_id}/triaged",
                     data={"csrf": csrf_of(page), "note": ""})
    assert r.status_code == 403
    officer = web.client("privacy_officer")
    page = officer.get(f"/console/complaints/{case.case_id}").text
    assert f'action="/console/complaints/{case.case_id}/triaged"' in page
    r = officer.post(f"/console/complaints/{case.case_id}/investigating",
                     data={"csrf": csrf_of(page)})
    assert r.status_code == 409  # received -> investigating skips triage: the service says no
    # Legal holds: placed and released through the console, with their reasons.
    token = csrf_of(officer.get("/console/retention").text)
    r = officer.post("/console/holds", data={"csrf": token, "subject_id": str(w.subjects["own"]),
                                             "reason": "诉讼保全", "until": "2099-12-31"},
                     follow_redirects=False)
    assert r.status_code == 303
    page = officer.get("/console/retention").text
    assert "诉讼保全" in page
    hold = re.search(r'/console/holds/([0-9a-f-]{36})/release', page).group(1)
    assert officer.post(f"/console/holds/{hold}/release", data={"csrf": token, "reason": "结案"},
                        follow_redirects=False).status_code == 303
    assert "released" in officer.get("/console/retention").text
    assert "由个人信息保护负责人和运营人员管理" in auditor.get("/console/retention").text
    # The dashboard counts what is open; the data map says what each role may see.
    assert re.search(r'<span class="num">1</span> 件投诉待处理', auditor.get("/console").text)
    data_map = auditor.get("/console/data-map?lang=en").text
    row = re.search(r"<th scope=\"row\">Mobile phone</th>(.*?)</tr>", data_map, re.S)
    assert row and "as on a waybill" in row.group(1) and "masked*" in row.group(1)

