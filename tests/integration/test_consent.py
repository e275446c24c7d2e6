"""Consent as PIPL writes it, end to end through the API, on SQLite and PostgreSQL:
no bundling, separate consent per recipient, withdrawal takes effect at once, a material notice
change asks again, refusing optional purposes never blocks checkout, and children under 14
consent through a guardian."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from privguard.api.app import create_app
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.policy.rules import ActorRef, Role
from privguard.store.uow import unit_of_work

from .world import World, build_world, publish_stub_notice

SMS_TEXT = "我同意接收短信营销信息，可随时回复“退订”取消。"


@pytest.fixture
def world(runtime: Runtime, admin: ActorRef) -> Iterator[tuple[World, TestClient]]:
    w = build_world(runtime, admin)
    publish_stub_notice(runtime, 1)
    with TestClient(create_app(runtime)) as client:
        yield w, client


def grant(client: TestClient, w: World, purpose: str, *, who: str = "consumer",
          kind: str = "purpose", version: int = 1, **extra: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/me/consents", headers=w.headers(who), json={
        "kind": kind, "target": purpose, "notice_version": version, "text_shown": SMS_TEXT,
        **extra})


def marketing_read(client: TestClient, w: World, scenario: str = "own") -> tuple[int, str]:
    r = client.get(f"/v1/subjects/{w.subjects[scenario]}", headers=w.headers("marketing"),
                   params={"purpose": "marketing_sms", "fields": ["mobile_phone"]})
    body = r.json()
    if r.status_code != 200:
        return r.status_code, body["error"]["rule"]
    return 200, body["fields"]["mobile_phone"]["view"]


def test_withdrawal_takes_effect_for_the_next_decision(world: tuple[World, TestClient]) -> None:
    w, client = world
    assert marketing_read(client, w) == (403, "consent.missing")
    r = grant(client, w, "marketing_sms")
    assert r.status_code == 201, r.text
    assert r.json()["state"]["state"] == "granted"
    assert marketing_read(client, w) == (200, "masked")
    r = client.post("/v1/me/consents/withdraw", headers=w.headers("consumer"),
                    json={"kind": "purpose", "target": "marketing_sms"})
    assert r.status_code == 200 and r.json()["state"]["state"] == "withdrawn"
    assert marketing_read(client, w) == (403, "consent.missing")
    # Consent to one purpose is not consent to another.
    grant(client, w, "marketing_email")
    assert marketing_read(client, w) == (403, "consent.missing")


def test_one_request_is_one_consent(world: tuple[World, TestClient]) -> None:
    w, client = world
    bundled = client.post("/v1/me/consents", headers=w.headers("consumer"), json=[
        {"kind": "purpose", "target": "marketing_sms", "notice_version": 1, "text_shown": "x"},
        {"kind": "purpose", "target": "analytics", "notice_version": 1, "text_shown": "x"}])
    assert bundled.status_code == 422
    riding = grant(client, w, "marketing_sms", also=["third_party_sharing", "analytics"])
    assert riding.status_code == 422
    assert riding.json()["error"]["fields"][0]["field"] == "also"
    # Necessary purposes are not consented to at all: they need no consent and cannot be
    # smuggled into the consent record.
    r = grant(client, w, "order_fulfilment")
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["rule"] == "consent.not_optional"
    states = client.get("/v1/me/consents", headers=w.headers("consumer")).json()
    assert all(c["state"] == "never_asked" for c in states["consents"])
    assert set(states["optional_purposes"]) == {
        "marketing_sms", "marketing_email", "marketing_phone", "marketing_push",
        "personalised_recommendation", "analytics", "history_collection", "third_party_sharing"}


def test_separate_consent_names_one_recipient(world: tuple[World, TestClient]) -> None:
    w, client = world
    partner = str(w.orgs["partner"])
    r = grant(client, w, partner, kind="third_party")
    assert r.status_code == 201
    ledger, sid = w.runtime.consent, w.subjects["own"]
    with unit_of_work(w.runtime.sessions) as session:
        now = utcnow()
        purposes = frozenset({"third_party_sharing"})
        assert ledger.granted(session, sid, purposes, now, w.orgs["partner"]) == purposes
        assert ledger.granted(session, sid, purposes, now, w.orgs["merchant_b"]) == frozenset()
        assert ledger.granted(session, sid, purposes, now, None) == frozenset()
    # A general "share my data" grant is not a consent for any recipient...
    grant(client, w, "third_party_sharing")
    with unit_of_work(w.runtime.sessions) as session:
        assert ledger.granted(session, sid, purposes, utcnow(), w.orgs["merchant_b"]) == set()
    # ...and an unknown recipient cannot be consented to.
    r = grant(client, w, str(uuid.uuid4()), kind="third_party")
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["rule"] == "consent.unknown_recipient"


def test_a_material_notice_change_suspends_consent_until_answered_again(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    grant(client, w, "marketing_sms")
    grant(client, w, "marketing_email")
    assert marketing_read(client, w) == (200, "masked")
    publish_stub_notice(w.runtime, 2, affected=("purpose:marketing_sms",))
    assert marketing_read(client, w) == (403, "consent.missing")
    states = {c["target"]: c["state"] for c in
              client.get("/v1/me/consents", headers=w.headers("consumer")).json()["consents"]}
    assert states["marketing_sms"] == "suspended"
    assert states["marketing_email"] == "granted"  # not affected by the change
    stale = grant(client, w, "marketing_sms", version=1)
    assert stale.status_code == 422
    assert stale.json()["error"]["fields"][0]["rule"] == "notice.not_current"
    assert grant(client, w, "marketing_sms", version=2).status_code == 201
    assert marketing_read(client, w) == (200, "masked")


def test_refusing_every_optional_purpose_never_blocks_checkout(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    for purpose in client.get("/v1/me/consents",
                              headers=w.headers("consumer")).json()["optional_purposes"]:
        r = client.post("/v1/me/consents/withdraw", headers=w.headers("consumer"),
                        json={"kind": "purpose", "target": purpose})
        assert r.status_code == 200
    # Having refused everything optional, the consumer still buys...
    r = client.post("/v1/orders", headers=w.headers("consumer"),
                    json={"merchant_id": str(w.orgs["merchant_a"]), "total_cents": 5990,
                          "item_count": 1})
    assert r.status_code == 201 and r.json()["status"] == "placed"
    # ...and the merchant can fulfil it: what the transaction needs needs no consent.
    r = client.get(f"/v1/subjects/{w.subjects['own']}", headers=w.headers("merchant_staff"),
                   params={"purpose": "order_fulfilment", "fields": ["name", "shipping_addresses"]})
    assert r.status_code == 200
    assert {v["view"] for v in r.json()["fields"].values()} == {"masked"}
    assert marketing_read(client, w) == (403, "consent.missing")


def test_a_child_under_14_consents_only_through_a_guardian(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    runtime = w.runtime
    today = utcnow().date()
    child_birth = today.replace(year=today.year - 10).isoformat()
    with unit_of_work(runtime.sessions) as session:
        from privguard.actors.service import create_actor, issue_api_key
        from privguard.actors.system import cli_actor

        admin = cli_actor(session, now=utcnow())
        child = runtime.vault.register(
            session, admin, {"name": "小明", "date_of_birth": child_birth}, now=utcnow())
        kid = create_actor(session, display_name="kid", role=Role.CONSUMER, now=utcnow(),
                           subject_id=child)
        kid_token = issue_api_key(session, kid.actor_id, now=utcnow()).token
    kid_h = {"Authorization": f"Bearer {kid_token}"}
    body = {"kind": "purpose", "target": "marketing_sms", "notice_version": 1,
            "text_shown": SMS_TEXT}
    r = client.post("/v1/me/consents", headers=kid_h, json=body)
    assert r.status_code == 403 and r.json()["error"]["rule"] == "consent.guardian-required"
    # A parent who is not (yet) recorded as guardian cannot answer either.
    r = client.post("/v1/me/consents", headers=w.headers("consumer"),
                    json={**body, "subject_id": str(child)})
    assert r.status_code == 403 and r.json()["error"]["rule"] == "consent.self-or-guardian"
    r = client.post(f"/v1/subjects/{child}/guardians", headers=w.headers("privacy_officer"),
                    json={"guardian_subject_id": str(w.subjects["own"]), "relation": "parent"})
    assert r.status_code == 201
    r = client.post("/v1/me/consents", headers=w.headers("consumer"),
                    json={**body, "subject_id": str(child)})
    assert r.status_code == 201, r.text
    with unit_of_work(runtime.sessions) as session:
        assert runtime.consent.granted(
            session, child, frozenset({"marketing_sms"}), utcnow()) == {"marketing_sms"}
    # The child can still withdraw what the guardian gave.
    r = client.post("/v1/me/consents/withdraw", headers=kid_h,
                    json={"kind": "purpose", "target": "marketing_sms"})
    assert r.status_code == 200 and r.json()["state"]["state"] == "withdrawn"


def test_withdrawals_arrive_by_phone_unsubscribe_and_gpc_but_grants_never_do(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    sid = w.subjects["own"]
    grant(client, w, "marketing_sms")
    url = f"/v1/subjects/{sid}/consents/withdraw"
    sms = {"kind": "purpose", "target": "marketing_sms", "channel": "sms", "text_shown": "TD"}
    assert client.post(url, headers=w.headers("marketing"), json=sms).status_code == 403
    r = client.post(url, headers=w.headers("platform_admin"), json=sms)
    assert r.status_code == 200 and r.json()["state"]["state"] == "withdrawn"
    grant(client, w, "marketing_sms")
    phone = {**sms, "channel": "support", "text_shown": "客户来电要求不再发送营销短信"}
    r = client.post(url, headers=w.headers("customer_service"), json=phone)
    assert r.status_code == 200 and r.json()["state"]["state"] == "withdrawn"
    # No channel of this route can grant, and consumers cannot use it to grant either.
    r = client.post("/v1/me/consents", headers=w.headers("consumer"), json={
        "kind": "purpose", "target": "marketing_sms", "notice_version": 1, "text_shown": "x",
        "channel": "sms"})
    assert r.status_code == 422  # sms is not a channel a consent can be given through


def test_expired_consent_is_not_consent(world: tuple[World, TestClient]) -> None:
    w, client = world
    soon = (utcnow() + timedelta(seconds=1)).isoformat()
    assert grant(client, w, "marketing_sms", expires_at=soon).status_code == 201
    with unit_of_work(w.runtime.sessions) as session:
        later = utcnow() + timedelta(seconds=2)
        states = w.runtime.consent.states(session, w.subjects["own"], later)
    assert states["purpose:marketing_sms"].state.value == "expired"


def test_services_ask_in_batches_and_see_withdrawals(world: tuple[World, TestClient]) -> None:
    w, client = world
    ids = [str(w.subjects[s]) for s in ("own", "foreign", "none")]
    grant(client, w, "personalised_recommendation")
    r = client.post("/v1/consent/check", headers=w.headers("analyst"),
                    json={"purpose": "personalised_recommendation", "subject_ids": ids})
    assert r.status_code == 200
    assert r.json()["allowed"] == {ids[0]: True, ids[1]: False, ids[2]: False}
    # Withdrawal through this process drops the cached answer at once.
    client.post("/v1/me/consents/withdraw", headers=w.headers("consumer"),
                json={"kind": "purpose", "target": "personalised_recommendation"})
    r = client.post("/v1/consent/check", headers=w.headers("analyst"),
                    json={"purpose": "personalised_recommendation", "subject_ids": ids})
    assert r.json()["allowed"][ids[0]] is False
    # Only roles that work for a purpose may ask about it.
    r = client.post("/v1/consent/check", headers=w.headers("merchant_staff"),
                    json={"purpose": "personalised_recommendation", "subject_ids": ids})
    assert r.status_code == 403 and r.json()["error"]["rule"] == "consent.check-not-your-purpose"
    r = client.post("/v1/consent/check", headers=w.headers("analyst"),
                    json={"subject_ids": [str(uuid.uuid4())] * 1001, "purpose": "analytics"})
    assert r.status_code == 422


def test_in_process_answers_follow_changes_made_elsewhere_within_the_ttl(
    world: tuple[World, TestClient],
) -> None:
    from privguard.consent.decisions import ConsentCache

    w, client = world
    sid = w.subjects["own"]
    ticks = [0.0]
    cache = ConsentCache(w.runtime.consent, w.runtime.sessions, ttl=1.0,
                         clock=lambda: ticks[0])
    cache.ledger.listeners.remove(cache.invalidate)  # behave like another process's cache
    assert cache.may_personalize(sid) is False
    grant(client, w, "personalised_recommendation")
    assert cache.may_personalize(sid) is False  # cached for up to a second...
    ticks[0] = 1.0
    assert cache.may_personalize(sid) is True  # ...then the change is seen
    assert cache.may_contact(sid, "sms") is False
    assert cache.may_use(sid, "personalised_recommendation") is True


def test_a_change_during_a_cache_load_is_not_hidden_for_the_ttl(
    world: tuple[World, TestClient],
) -> None:
    """A consent recorded while the cache reads a subject's events may be missing from what it
    read: that answer is given once, then the next question reads again."""
    from privguard.consent.decisions import ConsentCache

    w, client = world
    sid = w.subjects["own"]
    cache = ConsentCache(w.runtime.consent, w.runtime.sessions, ttl=60.0)
    real_load = cache._load
    granted = []

    def load_then_grant(ids: list[uuid.UUID]) -> Any:
        events = real_load(ids)  # read before the grant commits
        if not granted:
            grant(client, w, "personalised_recommendation")  # invalidates this cache
            granted.append(True)
        return events

    cache._load = load_then_grant  # type: ignore[method-assign]
    assert cache.may_personalize(sid) is False  # the read that raced the grant
    assert cache.may_personalize(sid) is True  # not the stale answer for 60 s


def test_sends_without_consent_are_refused_and_logged(world: tuple[World, TestClient]) -> None:
    from sqlalchemy import select

    from privguard.audit.entry import LogEntry
    from privguard.audit.models import AccessLogEntry

    w, client = world
    grant(client, w, "marketing_sms")
    own, foreign = str(w.subjects["own"]), str(w.subjects["foreign"])
    r = client.post("/v1/contact/sends", headers=w.headers("marketing"), json={
        "channel": "sms", "campaign": "double11", "subject_ids": [own, foreign]})
    assert r.status_code == 200
    assert (r.json()["accepted"], r.json()["refused"]) == ([own], [foreign])
    with unit_of_work(w.runtime.sessions) as session:
        entries = [LogEntry.from_json(t) for t in session.execute(
            select(AccessLogEntry.entry)).scalars()]
    sends = {str(e.subject_id): e for e in entries if e.action == "contact.send"}
    assert sends[foreign].decisions[0]["rule"] == "consent.missing"
    assert sends[own].detail == {"channel": "sms", "campaign": "double11"}
    r = client.post("/v1/contact/sends", headers=w.headers("analyst"), json={
        "channel": "sms", "campaign": "x", "subject_ids": [own]})
    assert r.status_code == 403


def test_history_is_collected_only_while_allowed(world: tuple[World, TestClient]) -> None:
    w, client = world
    sid = w.subjects["own"]
    event = {"kind": "search", "query": "蓝牙耳机", "at": "2026-11-29T08:00:00+00:00"}
    url = f"/v1/subjects/{sid}/history"
    r = client.post(url, headers=w.headers("platform_admin"), json=event)
    assert r.status_code == 403 and r.json()["error"]["rule"] == "consent.missing"
    grant(client, w, "history_collection")
    assert client.post(url, headers=w.headers("platform_admin"), json=event).status_code == 204
    history = client.get(f"/v1/subjects/{sid}", headers=w.headers("consumer"), params={
        "purpose": "account_management", "fields": ["search_history"], "view": "plain"}).json()
    assert history["fields"]["search_history"]["value"][-1]["query"] == "蓝牙耳机"
    client.post("/v1/me/consents/withdraw", headers=w.headers("consumer"),
                json={"kind": "purpose", "target": "history_collection"})
    r = client.post(url, headers=w.headers("platform_admin"), json=event)
    assert r.status_code == 403


def test_a_consumer_gets_a_receipt_for_each_answer(world: tuple[World, TestClient]) -> None:
    w, client = world
    event_id = grant(client, w, "marketing_sms").json()["event_id"]
    r = client.get(f"/v1/me/consents/{event_id}/receipt", headers=w.headers("consumer"),
                   params={"locale": "en"})
    assert r.status_code == 200
    receipt = r.json()
    assert (receipt["what"], receipt["action"], receipt["notice_version"]) == (
        "Marketing by SMS", "granted", 1)
    assert receipt["notice_hash"] == f"{1:064x}"
    assert receipt["text_shown"] == SMS_TEXT
    assert receipt["withdraw"]["body"] == {"kind": "purpose", "target": "marketing_sms"}
    page = client.get(f"/v1/me/consents/{event_id}/receipt", headers=w.headers("consumer"),
                      params={"format": "html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "同意回执" in page.text and "短信营销" in page.text and "如何撤回" in page.text
    # Someone else's receipt is not found, not forbidden: ids reveal nothing.
    other = client.get(f"/v1/me/consents/{event_id}/receipt", headers=w.headers("consumer_b"))
    assert other.status_code == 404 and other.json()["error"]["code"] == "receipt_not_found"


def test_sec_gpc_is_recorded_once_as_opting_out_of_sharing(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    partner = w.orgs["partner"]
    grant(client, w, str(partner), kind="third_party")
    with unit_of_work(w.runtime.sessions) as session:
        assert w.runtime.consent.granted(
            session, w.subjects["own"], frozenset({"third_party_sharing"}), utcnow(), partner
        ) == {"third_party_sharing"}
    gpc = {**w.headers("consumer"), "Sec-GPC": "1"}
    for _ in range(2):
        assert client.get("/v1/me/consents", headers=gpc).status_code == 200
    states = {(c["kind"], c["target"]): c["state"] for c in
              client.get("/v1/me/consents", headers=w.headers("consumer")).json()["consents"]}
    assert states[("purpose", "third_party_sharing")] == "withdrawn"
    with unit_of_work(w.runtime.sessions) as session:
        assert w.runtime.consent.granted(
            session, w.subjects["own"], frozenset({"third_party_sharing"}), utcnow(), partner
        ) == frozenset()
        from sqlalchemy import func, select

        from privguard.consent.models import ConsentEvent

        gpc_events = session.execute(
            select(func.count()).select_from(ConsentEvent).where(ConsentEvent.channel == "gpc")
        ).scalar_one()
    assert gpc_events == 1  # recorded once, not on every request
    # Staff requests carrying the header record nothing for anyone.
    client.get("/v1/me", headers={**w.headers("marketing"), "Sec-GPC": "1"})


def test_unsubscribe_by_sms_reply(world: tuple[World, TestClient]) -> None:
    w, client = world
    grant(client, w, "marketing_sms")
    phone = w.pi["own"]["mobile_phone"]
    r = client.post("/v1/inbound/sms", headers=w.headers("platform_admin"),
                    json={"phone": phone, "text": "好的，谢谢"})
    assert r.json() == {"unsubscribe": False, "withdrawn": []}
    assert marketing_read(client, w) == (200, "masked")
    r = client.post("/v1/inbound/sms", headers=w.headers("platform_admin"),
                    json={"phone": phone, "text": " ＴＤ "})
    assert r.json() == {"unsubscribe": True, "withdrawn": [str(w.subjects["own"])]}
    assert marketing_read(client, w) == (403, "consent.missing")
    r = client.post("/v1/inbound/sms", headers=w.headers("marketing"),
                    json={"phone": phone, "text": "退订"})
    assert r.status_code == 403


def test_unsubscribe_by_email_link(world: tuple[World, TestClient]) -> None:
    w, client = world
    grant(client, w, "marketing_email")
    sid = str(w.subjects["own"])
    sent = client.post("/v1/contact/sends", headers=w.headers("marketing"), json={
        "channel": "email", "campaign": "newsletter", "subject_ids": [sid]}).json()
    link = sent["unsubscribe_links"][sid]
    assert client.get(link).status_code == 200  # the page; a mail scanner's GET changes nothing

    def email_allowed() -> bool:
        r = client.post("/v1/consent/check", headers=w.headers("marketing"),
                        json={"channel": "email", "subject_ids": [sid]})
        return r.json()["allowed"][sid]

    w.runtime.consent_cache.invalidate()
    assert email_allowed() is True
    forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert client.post(forged).status_code == 404
    assert email_allowed() is True
    r = client.post(link)
    assert r.status_code == 200 and "已退订" in r.text
    assert email_allowed() is False
