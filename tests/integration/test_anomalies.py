"""Anomaly detection over the real access log (issue 8, Deliver 4): the injected insider, normal
demo traffic, incremental scanning, the rules against entries the gate wrote, the caller's
network in the log, and `privguard cases scan`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from privguard.api.app import create_app
from privguard.audit.context import client_network, request_scope
from privguard.audit.entry import LogEntry
from privguard.audit.models import AccessLogEntry
from privguard.audit.sequencer import sequence_all
from privguard.audit.verify import verify_log
from privguard.bootstrap import Runtime
from privguard.cases.anomalies import (
    Scanner,
    count_alerts,
    cursor_position,
)
from privguard.cases.anomaly_models import AccessAlert, AnomalyActorState
from privguard.cases.anomaly_rules import load_anomaly_config
from privguard.config import Settings
from privguard.marketplace.demo import DemoSize, seed_demo
from privguard.policy.rules import ActorRef, Role, View
from privguard.store.uow import unit_of_work
from privguard.vault.errors import AccessDenied, SubjectNotFound

from ..conftest import NOW
from .traffic import demo_day, insider, log_size, new_actor, read, scan_now, subjects
from .world import World, build_world

# The day after the fixtures' NOW, from 09:00 to 19:00 in Shanghai (01:00-11:00 UTC): working
# hours, so the off-hours rule stays quiet unless a test means it not to.
DAY = NOW + timedelta(hours=17)
INSIDER_AT = DAY + timedelta(hours=10, minutes=30)  # 19:30 Shanghai


def alerts(runtime: Runtime) -> list[AccessAlert]:
    with unit_of_work(runtime.sessions) as session:
        return list(session.execute(select(AccessAlert).order_by(AccessAlert.alert_id)).scalars())


@pytest.fixture
def demo(runtime: Runtime) -> Runtime:
    """The demo marketplace, small enough to seed in seconds, with 520 customers."""
    assert seed_demo(runtime, DemoSize(consumers=520, orders=600, seed=7), now=NOW)
    return runtime


# ---------------------------------------------------------------------------- must show


def test_normal_demo_traffic_raises_no_alert(demo: Runtime) -> None:
    steps = demo_day(demo, DAY)
    report = scan_now(demo, DAY + timedelta(hours=11))
    assert steps > 300  # a real day's work, not a handful of reads
    assert report.entries == log_size(demo)  # every entry was looked at
    with unit_of_work(demo.sessions) as session:
        watched = session.execute(select(AnomalyActorState.role)).scalars().all()
    assert {"merchant_staff", "courier", "customer_service"} <= set(watched)
    assert alerts(demo) == []


def test_a_customer_service_account_reading_500_customers_in_ten_minutes_is_alerted(
    demo: Runtime,
) -> None:
    demo_day(demo, DAY)
    agent = new_actor(demo, Role.CUSTOMER_SERVICE, "客服 新人", DAY)
    targets = subjects(demo)[:500]
    insider(demo, agent, targets, INSIDER_AT)
    scan_now(demo, INSIDER_AT + timedelta(minutes=11))
    found = alerts(demo)
    assert [(a.rule, a.actor_id, a.role) for a in found] == [
        ("bulk_access", agent.actor_id, "customer_service")
    ]
    alert = found[0]
    assert alert.evidence["accesses"] == 500
    assert alert.evidence["basis"] == "floor"
    assert alert.state == "open"
    assert alert.window_start >= INSIDER_AT
    assert alert.window_end < INSIDER_AT + timedelta(minutes=10)
    with unit_of_work(demo.sessions) as session:
        span = session.execute(
            select(AccessLogEntry.actor_id, AccessLogEntry.subject_id).where(
                AccessLogEntry.entry_id.between(alert.first_entry_id, alert.last_entry_id)
            )
        ).all()
        # The alert names the entries: all 500 reads of the insider are in its span.
        assert {s for a, s in span if a == agent.actor_id} == set(targets)
        # The evidence holds counts and entry ids, never a customer.
        assert not any(str(t) in str(alert.evidence) for t in targets)
        assert count_alerts(session, alert.organisation_id, DAY) == 1  # type: ignore[arg-type]


def test_the_scan_is_incremental_and_never_fires_twice(demo: Runtime) -> None:
    demo_day(demo, DAY)
    first = scan_now(demo, DAY + timedelta(hours=11))
    assert first.entries == log_size(demo) and first.fired == 0

    agent = new_actor(demo, Role.CUSTOMER_SERVICE, "客服 新人", DAY)
    targets = subjects(demo)[:500]
    insider(demo, agent, targets[:250], INSIDER_AT, over=timedelta(minutes=4, seconds=45))
    # A new scanner each time, as a new `privguard cases scan` process: the state is stored.
    second = scan_now(demo, INSIDER_AT + timedelta(minutes=5))
    assert (second.entries, second.fired) == (250, 1)
    (alert,) = alerts(demo)
    assert alert.evidence["accesses"] == 250

    insider(demo, agent, targets[250:], INSIDER_AT + timedelta(minutes=4, seconds=50),
            over=timedelta(minutes=4, seconds=45))
    third = scan_now(demo, INSIDER_AT + timedelta(minutes=10))
    assert (third.entries, third.fired) == (250, 0)
    assert third.extended == 250
    (same,) = alerts(demo)
    assert same.alert_id == alert.alert_id
    assert same.evidence["accesses"] == 500  # brought up to date while open
    assert same.last_entry_id > alert.last_entry_id

    fourth = scan_now(demo, INSIDER_AT + timedelta(minutes=11))
    assert (fourth.entries, fourth.fired, fourth.extended) == (0, 0, 0)
    with unit_of_work(demo.sessions) as session:
        position, processed = cursor_position(session)
    assert processed == log_size(demo)
    assert position == processed - 1  # leaf indexes start at 0


def test_small_batches_give_the_same_alerts(demo: Runtime) -> None:
    agent = new_actor(demo, Role.CUSTOMER_SERVICE, "客服 新人", DAY)
    insider(demo, agent, subjects(demo)[:300], INSIDER_AT)
    scanner = Scanner(load_anomaly_config(None))
    report = scan_now(demo, INSIDER_AT + timedelta(minutes=11), scanner=scanner, batch=7)
    assert report.batches > 40
    assert [a.rule for a in alerts(demo)] == ["bulk_access"]
    assert alerts(demo)[0].evidence["accesses"] == 300


# ---------------------------------------------------------------------------- the rules, live


@pytest.fixture
def world(runtime: Runtime, admin: ActorRef) -> World:
    return build_world(runtime, admin)


def test_off_hours_reads_are_alerted(world: World) -> None:
    rt = world.runtime
    agent = world.actors["customer_service"]
    night = NOW + timedelta(hours=10, minutes=15)  # 02:15 in Shanghai
    for n, scenario in enumerate(("own", "foreign", "none")):
        read(rt, agent, world.subjects[scenario], night + timedelta(minutes=n),
             purpose="customer_support", fields=["name"])
    scan_now(rt, night + timedelta(minutes=5))
    (alert,) = alerts(rt)
    assert alert.rule == "off_hours"
    assert alert.actor_id == agent.actor_id
    assert alert.evidence["accesses"] == 3
    assert alert.evidence["first_local_time"].endswith("02:15")


def test_probing_lookups_are_enumeration(world: World) -> None:
    rt = world.runtime
    clerk = world.actors["merchant_staff"]
    for n in range(25):
        with unit_of_work(rt.sessions, commit_on=(AccessDenied,)) as session:
            rt.vault.lookup(session, clerk, "mobile_phone", f"+8613900{n:06d}",
                            purpose="customer_support", now=NOW + timedelta(seconds=20 * n))
    scan_now(rt, NOW + timedelta(minutes=10))
    found = [a for a in alerts(rt) if a.rule == "enumeration"]
    assert len(found) == 1
    assert found[0].evidence["refused_or_unmatched"] == 25


def test_guessing_subject_ids_is_enumeration(world: World) -> None:
    """Reads of ids that do not exist are refusals in the log (rule subject.unknown), so a
    merchant clerk walking random ids is caught like one walking phone numbers."""
    import uuid

    rt = world.runtime
    clerk = world.actors["merchant_staff"]
    for n in range(25):
        with pytest.raises(SubjectNotFound), unit_of_work(
            rt.sessions, commit_on=(AccessDenied,)
        ) as session:
            rt.vault.read(session, clerk, uuid.uuid4(), fields=["name"],
                          purpose="customer_support", view=View.MASKED,
                          now=NOW + timedelta(seconds=20 * n))
    scan_now(rt, NOW + timedelta(minutes=10))
    found = [a for a in alerts(rt) if a.rule == "enumeration"]
    assert len(found) == 1
    assert found[0].evidence["refused_or_unmatched"] == 25


def test_reading_customers_of_no_relationship_is_alerted(world: World, admin: ActorRef) -> None:
    rt = world.runtime
    clerk = world.actors["merchant_staff"]
    strangers = []
    with unit_of_work(rt.sessions) as session:
        for n in range(5):
            pi = {"name": f"路人{'甲乙丙丁戊'[n]}", "mobile_phone": f"1370000{n:04d}"}
            strangers.append(rt.vault.register(session, admin, pi, now=NOW))
    for n, sid in enumerate(strangers):
        # The clerk is told "no such customer" (tenant isolation); the log keeps the truth.
        assert not read(rt, clerk, sid, NOW + timedelta(minutes=n), purpose="order_fulfilment")
    scan_now(rt, NOW + timedelta(minutes=10))
    (alert,) = [a for a in alerts(rt) if a.rule == "no_relationship"]
    assert alert.actor_id == clerk.actor_id
    assert alert.organisation_id == world.orgs["merchant_a"]
    assert alert.evidence["distinct_customers"] == 5
    with unit_of_work(rt.sessions) as session:
        cited = session.execute(
            select(AccessLogEntry.subject_id).where(
                AccessLogEntry.entry_id.in_(alert.evidence["entry_ids"])
            )
        ).scalars().all()
    assert set(cited) == set(strangers)


def test_a_customer_list_far_larger_than_usual_is_alerted(world: World) -> None:
    from privguard.audit.service import log_access
    from privguard.policy.rules import Decision

    rt = world.runtime
    clerk = world.actors["merchant_staff"]
    ok = Decision("*", View.MASKED, "merchant.own-customer-list", "own list")
    for days, count in ((4, 40), (3, 50), (2, 45), (0, 400)):
        with unit_of_work(rt.sessions) as session:
            log_access(session, actor=clerk, subject_id=None, action="list",
                       purpose="order_fulfilment", decisions=[ok],
                       now=NOW - timedelta(days=days),
                       detail={"merchant": str(clerk.organisation_id), "count": count})
    scan_now(rt, NOW)
    (alert,) = alerts(rt)
    assert alert.rule == "large_export"
    assert alert.evidence["size"] == 400 and alert.evidence["baseline_largest"] == 50


def test_access_from_a_new_network_is_alerted(world: World) -> None:
    rt = world.runtime
    agent = world.actors["customer_service"]
    own = world.subjects["own"]
    with request_scope(network="198.51.100.0/24"):
        for days in (20, 15, 10, 1):
            read(rt, agent, own, NOW - timedelta(days=days), purpose="customer_support")
    with request_scope(network=client_network("2001:db8:abcd:12::7")):
        read(rt, agent, own, NOW, purpose="customer_support")
    scan_now(rt, NOW + timedelta(minutes=1))
    (alert,) = alerts(rt)
    assert alert.rule == "new_network"
    assert alert.evidence == {"network": "2001:db8:abcd::/48", "known_networks": 1}


# ------------------------------------------------------------------------ the network in the log


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(world.runtime)
    with TestClient(app, client=("203.0.113.77", 50123)) as c:
        yield c


def test_the_log_keeps_the_callers_network_not_the_address(
    world: World, client: TestClient
) -> None:
    rt = world.runtime
    sid = world.subjects["own"]
    r = client.get(f"/v1/subjects/{sid}", params={"purpose": "customer_support"},
                   headers=world.headers("customer_service"))
    assert r.status_code == 200, r.text
    with unit_of_work(rt.sessions) as session:
        text = session.execute(
            select(AccessLogEntry.entry).order_by(AccessLogEntry.entry_id.desc()).limit(1)
        ).scalar_one()
    entry = LogEntry.from_json(text)
    assert entry.detail["net"] == "203.0.113.0/24"
    assert "203.0.113.77" not in text
    # Entries written outside a request (CLI, jobs) carry no network, as before.
    first = LogEntry.from_json(_first_entry(rt))
    assert "net" not in first.detail
    # The log still verifies with the new detail.
    sequence_all(rt.sessions, rt.signer)
    with unit_of_work(rt.sessions) as session:
        report = verify_log(session, rt.signer.public_key_bytes)
    assert report.ok, report.problem


def _first_entry(rt: Runtime) -> str:
    with unit_of_work(rt.sessions) as session:
        return session.execute(
            select(AccessLogEntry.entry).order_by(AccessLogEntry.entry_id).limit(1)
        ).scalar_one()


@pytest.mark.parametrize(
    ("host", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1::/48"),
        ("testclient", None),
        ("", None),
        (None, None),
    ],
)
def test_client_network(host: str | None, network: str | None) -> None:
    assert client_network(host) == network


# ---------------------------------------------------------------------------- two scanners


@pytest.mark.postgres
def test_a_second_scanner_skips_while_the_first_holds_the_cursor(
    world: World, settings: Settings
) -> None:
    if not settings.database_url:
        pytest.skip("SQLite serialises scanners with its write lock instead")
    rt = world.runtime
    read(rt, world.actors["customer_service"], world.subjects["own"], NOW,
         purpose="customer_support")
    sequence_all(rt.sessions, rt.signer)
    scan_now(rt, NOW)  # creates the cursor row
    read(rt, world.actors["customer_service"], world.subjects["own"], NOW,
         purpose="customer_support")
    sequence_all(rt.sessions, rt.signer)
    config = load_anomaly_config(None)
    with unit_of_work(rt.sessions) as first:
        got = Scanner(config).scan_batch(first, clock=lambda: NOW)
        assert got.entries == 1
        with unit_of_work(rt.sessions) as second:
            assert Scanner(config).scan_batch(second, clock=lambda: NOW).busy


# ---------------------------------------------------------------------------- the command


def test_privguard_cases_scan(cli_settings: Settings) -> None:
    from privguard.bootstrap import build_runtime
    from privguard.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    rt = build_runtime(cli_settings)
    try:
        with unit_of_work(rt.sessions) as session:
            from privguard.actors.system import cli_actor

            admin = cli_actor(session, now=NOW)
        world = build_world(rt, admin)
        agent = world.actors["customer_service"]
        targets = []
        with unit_of_work(rt.sessions) as session:
            targets = rt.vault.insert_validated(
                session, admin,
                [rt.vault.validate({"name": f"客{chr(0x4E00 + n)}"}, today=NOW.date())
                 for n in range(210)],
                now=NOW,
            )
        insider(rt, agent, targets, NOW + timedelta(minutes=1))
    finally:
        rt.close()
    result = runner.invoke(app, ["cases", "scan", "--batch", "100"])
    assert result.exit_code == 0, result.output
    assert "1 new alerts" in result.output
    assert "bulk_access" in result.output and str(agent.actor_id) in result.output
    again = runner.invoke(app, ["cases", "scan"])
    assert again.exit_code == 0, again.output
    assert "scanned 0 entries" in again.output and "0 new alerts" in again.output


@pytest.fixture
def cli_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    from ..conftest import empty_postgres

    if settings.database_url:
        empty_postgres(settings.database_url)
        monkeypatch.setenv("PRIVGUARD_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("PRIVGUARD_DATABASE_URL", raising=False)
    monkeypatch.setenv("PRIVGUARD_HOME", str(settings.home))
    monkeypatch.delenv("PRIVGUARD_KEY_FILE", raising=False)
    monkeypatch.setenv("PRIVGUARD_SEQUENCER_INTERVAL", "0")
    return settings
