"""Anomaly rules over plain entries (cases/anomaly_rules.py): no database, time from the entries."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from privguard.audit.entry import entry_json
from privguard.cases.anomaly_rules import (
    Access,
    ActorState,
    AnomalyConfig,
    AnomalyConfigError,
    AnomalyRules,
    BulkConfig,
    Finding,
    OffHoursConfig,
    Rule,
    load_anomaly_config,
    parse_anomaly_config,
    parse_entry,
    shipped_config_text,
)

# 2026-11-30 is a Monday; 02:00 UTC is 10:00 in Shanghai.
DAY = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
CS = str(uuid.uuid4())
PLATFORM = str(uuid.uuid4())


class Replay:
    """Feeds entries for one or more actors through the rules, as the scanner does."""

    def __init__(self, config: AnomalyConfig = AnomalyConfig()) -> None:
        self.rules = AnomalyRules(config)
        self.states: dict[str, ActorState] = {}
        self.findings: list[Finding] = []
        self.next_id = 1

    def entry(
        self,
        at: datetime,
        *,
        actor: str = CS,
        role: str = "customer_service",
        org: str | None = PLATFORM,
        subject: str | None = "new",
        action: str = "read",
        allowed: bool = True,
        rule: str = "support.masked-contact",
        size: int | None = None,
        net: str | None = None,
    ) -> list[Finding]:
        access = Access(
            entry_id=self.next_id,
            at=at,
            actor_id=actor,
            organisation_id=org,
            role=role,
            subject_id=str(uuid.uuid4()) if subject == "new" else subject,
            action=action,
            allowed=allowed,
            denial_rules=frozenset() if allowed else frozenset({rule}),
            size=size,
            net=net,
        )
        self.next_id += 1
        state = self.states.get(actor)
        if state is None:
            state = self.states[actor] = ActorState.new(access)
        found = self.rules.apply(state, access)
        self.findings.extend(found)
        return found

    def fired(self, rule: Rule | None = None) -> list[Finding]:
        return [f for f in self.findings if not f.extends and (rule is None or f.rule is rule)]


def spread(start: datetime, count: int, over: timedelta) -> list[datetime]:
    step = over / count
    return [start + step * i for i in range(count)]


# ---------------------------------------------------------------------------- configuration


def test_the_shipped_yaml_documents_exactly_the_defaults() -> None:
    shipped = load_anomaly_config(None)
    assert replace(shipped, source="defaults") == AnomalyConfig()


def test_an_override_changes_only_the_keys_it_names(tmp_path: Path) -> None:
    path = tmp_path / "anomalies.yaml"
    path.write_text(
        "rules:\n  bulk_access: {floor: 50}\n  off_hours: {working_hours: '09:00-18:00', "
        "working_days: [1, 2, 3, 4, 5]}\n"
    )
    config = load_anomaly_config(path)
    assert config.bulk_access.floor == 50
    assert config.bulk_access.window_minutes == 10
    assert config.off_hours.days == frozenset({1, 2, 3, 4, 5})
    assert config.off_hours.start.hour == 9
    assert config.source == str(path)


@pytest.mark.parametrize(
    ("doc", "names"),
    [
        ({"rules": {"bulk_access": {"flor": 3}}}, "rules.bulk_access"),
        ({"rules": {"bulk_access": {"floor": 0}}}, "rules.bulk_access.floor"),
        ({"rules": {"bulk_access": {"window_minutes": 90}}}, "rules.bulk_access.window_minutes"),
        ({"rules": {"off_hours": {"working_hours": "8-20"}}}, "rules.off_hours.working_hours"),
        ({"rules": {"off_hours": {"working_days": [0]}}}, "rules.off_hours.working_days"),
        ({"rules": {"spam": {}}}, "rules.spam"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"rules": {"bulk_access": {"hour_multiplier": 1}}}, "rules.bulk_access.hour_multiplier"),
    ],
)
def test_a_bad_value_is_refused_naming_the_key(doc: dict[str, Any], names: str) -> None:
    with pytest.raises(AnomalyConfigError, match=names.replace(".", r"\.")):
        parse_anomaly_config(doc, "test.yaml")


def test_the_shipped_file_parses_as_yaml_with_every_rule() -> None:
    doc = yaml.safe_load(shipped_config_text())
    assert set(doc["rules"]) == {r.value for r in Rule}


# ---------------------------------------------------------------------------- entries


def test_parse_entry_reads_the_canonical_log_json() -> None:
    text = entry_json(
        at=DAY, actor_id=uuid.UUID(CS), role="merchant_staff", organisation_id=None,
        subject_id=None, action="list", purpose="order_fulfilment", request_id=None,
        decision_fragments=['{"field":"*","rule":"merchant.own-customer-list","view":"masked"}'],
        detail={"merchant": "m", "count": 37, "net": "203.0.113.0/24"},
    )
    access = parse_entry(41, text)
    assert access.entry_id == 41
    assert access.at == DAY
    assert access.actor_id == CS
    assert access.allowed and access.denial_rules == frozenset()
    assert access.size == 37
    assert access.net == "203.0.113.0/24"


# ---------------------------------------------------------------------------- bulk access


def test_a_new_account_reading_500_customers_in_ten_minutes_raises_one_alert() -> None:
    r = Replay()
    for at in spread(DAY, 500, timedelta(minutes=9, seconds=50)):
        r.entry(at)
    fired = r.fired()
    assert [f.rule for f in fired] == [Rule.BULK_ACCESS]
    first = fired[0]
    assert first.trigger_entry_id == 200  # the floor
    assert first.evidence["basis"] == "floor"
    last = r.findings[-1]
    assert last.extends and last.trigger_entry_id == 200
    assert last.evidence["accesses"] == 500
    assert last.first_entry_id == 1 and last.last_entry_id == 500


def test_below_the_floor_and_without_history_nothing_fires() -> None:
    r = Replay()
    for at in spread(DAY, 199, timedelta(minutes=10)):
        r.entry(at)
    # The same count spread over an hour is never 200 within ten minutes either.
    for at in spread(DAY + timedelta(hours=1), 400, timedelta(minutes=59)):
        r.entry(at)
    assert r.fired() == []


def test_refused_reads_do_not_count_as_bulk_access() -> None:
    r = Replay()
    for at in spread(DAY, 300, timedelta(minutes=5)):
        r.entry(at, allowed=False, action="read", role="merchant_staff")
    assert r.fired(Rule.BULK_ACCESS) == []


def _history(r: Replay, days: int, per_hour: int) -> None:
    for d in range(days, 0, -1):
        start = DAY - timedelta(days=d)
        for at in spread(start, per_hour, timedelta(minutes=50)):
            r.entry(at)


def test_an_hour_far_above_the_actors_own_busiest_hour_fires() -> None:
    r = Replay()
    _history(r, days=5, per_hour=20)
    assert r.fired() == []
    for at in spread(DAY, 70, timedelta(minutes=55)):  # > 3 x 20 and >= 60, never 200 in 10 min
        r.entry(at)
    fired = r.fired(Rule.BULK_ACCESS)
    assert len(fired) == 1
    assert fired[0].evidence["basis"] == "baseline"
    assert fired[0].evidence["baseline_busiest_hour"] == 20


def test_an_hour_within_the_baseline_or_below_the_minimum_does_not_fire() -> None:
    r = Replay()
    _history(r, days=5, per_hour=30)
    for at in spread(DAY, 85, timedelta(minutes=55)):  # below 3 x 30
        r.entry(at)
    quiet = Replay()
    _history(quiet, days=5, per_hour=5)
    for at in spread(DAY, 55, timedelta(minutes=55)):  # 11 x the baseline but below hour_min
        quiet.entry(at)
    assert r.fired() == [] and quiet.fired() == []


def test_the_baseline_needs_enough_days_of_history() -> None:
    r = Replay()
    _history(r, days=2, per_hour=5)  # baseline_min_days is 3
    for at in spread(DAY, 100, timedelta(minutes=55)):
        r.entry(at)
    assert r.fired() == []


def test_after_the_cooldown_a_new_burst_is_a_new_alert() -> None:
    r = Replay()
    for at in spread(DAY, 250, timedelta(minutes=5)):
        r.entry(at)
    for at in spread(DAY + timedelta(minutes=90), 250, timedelta(minutes=5)):
        r.entry(at)
    assert len(r.fired(Rule.BULK_ACCESS)) == 2


def test_consumers_are_not_watched() -> None:
    r = Replay()
    for at in spread(DAY, 300, timedelta(minutes=5)):
        r.entry(at, role="consumer", org=None)
    assert r.fired() == []
    assert not r.rules.watches("consumer")
    assert r.rules.watches("customer_service")


# ---------------------------------------------------------------------------- off hours


def test_access_outside_working_hours_in_shanghai_fires_once_per_night() -> None:
    r = Replay()
    night = datetime(2026, 11, 30, 18, 30, tzinfo=UTC)  # 02:30 in Shanghai
    r.entry(DAY)  # 10:00 Shanghai
    assert r.fired() == []
    r.entry(night)
    r.entry(night + timedelta(minutes=5))
    fired = r.fired(Rule.OFF_HOURS)
    assert len(fired) == 1
    assert fired[0].evidence["first_local_time"] == "2026-12-01 02:30"
    assert r.findings[-1].extends and r.findings[-1].evidence["accesses"] == 2


def test_couriers_are_not_held_to_office_hours() -> None:
    r = Replay()
    r.entry(datetime(2026, 11, 30, 18, 30, tzinfo=UTC), role="courier")
    assert r.fired() == []


def test_working_days_can_exclude_weekends() -> None:
    config = replace(
        AnomalyConfig(), off_hours=replace(OffHoursConfig(), days=frozenset({1, 2, 3, 4, 5}))
    )
    r = Replay(config)
    sunday_morning = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # Sunday 10:00 Shanghai
    r.entry(sunday_morning)
    assert [f.rule for f in r.fired()] == [Rule.OFF_HOURS]
    assert r.rules.working(DAY)


# ---------------------------------------------------------------------------- enumeration


def test_twenty_refused_or_unmatched_lookups_in_ten_minutes_fire() -> None:
    r = Replay()
    times = spread(DAY, 20, timedelta(minutes=8))
    for n, at in enumerate(times):
        if n % 2:
            r.entry(at, action="lookup", subject=None)  # matched no one
        else:
            r.entry(at, action="lookup", allowed=False, rule="default.deny")
    fired = r.fired(Rule.ENUMERATION)
    assert len(fired) == 1
    assert fired[0].evidence["refused_or_unmatched"] == 20


def test_refusals_spread_over_an_hour_are_not_enumeration() -> None:
    r = Replay()
    for at in spread(DAY, 40, timedelta(minutes=60)):
        r.entry(at, action="lookup", subject=None)
    assert r.fired(Rule.ENUMERATION) == []


# ---------------------------------------------------------------------------- no relationship


def test_refused_reads_of_five_unrelated_customers_fire() -> None:
    r = Replay()
    merchant = str(uuid.uuid4())
    for at in spread(DAY, 5, timedelta(minutes=30)):
        r.entry(at, role="merchant_staff", org=merchant, allowed=False, rule="default.deny")
    fired = r.fired(Rule.NO_RELATIONSHIP)
    assert len(fired) == 1
    assert fired[0].evidence["distinct_customers"] == 5
    assert fired[0].evidence["entry_ids"] == [1, 2, 3, 4, 5]


def test_the_same_customer_again_or_a_consent_refusal_is_not_a_pattern() -> None:
    r = Replay()
    merchant = str(uuid.uuid4())
    same = str(uuid.uuid4())
    for at in spread(DAY, 10, timedelta(minutes=30)):
        r.entry(at, role="merchant_staff", org=merchant, subject=same, allowed=False,
                rule="default.deny")
    for at in spread(DAY, 10, timedelta(minutes=30)):
        r.entry(at, role="merchant_staff", org=merchant, allowed=False, rule="consent.missing")
    assert r.fired(Rule.NO_RELATIONSHIP) == []


# ---------------------------------------------------------------------------- large exports


def test_an_export_above_the_floor_fires_at_once() -> None:
    r = Replay()
    r.entry(DAY, action="list", subject=None, size=6000, role="merchant_staff")
    fired = r.fired(Rule.LARGE_EXPORT)
    assert len(fired) == 1 and fired[0].evidence["size"] == 6000


def test_an_export_far_larger_than_the_actors_usual_fires() -> None:
    r = Replay()
    for d in (3, 2, 1):
        r.entry(DAY - timedelta(days=d), action="list", subject=None, size=100,
                role="merchant_staff")
    r.entry(DAY, action="list", subject=None, size=250, role="merchant_staff")
    assert r.fired() == []
    r.entry(DAY + timedelta(hours=2), action="list", subject=None, size=400, role="merchant_staff")
    fired = r.fired(Rule.LARGE_EXPORT)
    assert len(fired) == 1
    assert fired[0].evidence == {
        "basis": "baseline", "size": 400, "baseline_largest": 100, "baseline_days": 3,
        "multiplier": 3.0, "action": "list",
    }


# ---------------------------------------------------------------------------- new networks


def test_a_network_new_after_the_learning_period_fires_once() -> None:
    r = Replay()
    r.entry(DAY - timedelta(days=10), net="198.51.100.0/24")
    r.entry(DAY - timedelta(days=9), net="192.0.2.0/24")  # still learning: no alert
    r.entry(DAY, net="198.51.100.0/24")
    assert r.fired() == []
    r.entry(DAY + timedelta(minutes=1), net="203.0.113.0/24")
    r.entry(DAY + timedelta(minutes=2), net="203.0.113.0/24")
    fired = r.fired(Rule.NEW_NETWORK)
    assert len(fired) == 1
    assert fired[0].evidence == {"network": "203.0.113.0/24", "known_networks": 2}


# ---------------------------------------------------------------------------- state


def test_a_state_saved_and_loaded_mid_stream_gives_the_same_alerts() -> None:
    """The scanner stores states between batches: a reload must not change what fires."""
    times = spread(DAY - timedelta(days=4), 400, timedelta(days=4)) + spread(
        DAY, 300, timedelta(minutes=9)
    )
    straight = Replay()
    for at in times:
        straight.entry(at, net="198.51.100.0/24")
    resumed = Replay()
    for n, at in enumerate(times):
        if n % 97 == 0 and CS in resumed.states:
            s = resumed.states[CS]
            raw = json.loads(json.dumps(s.dump()))
            resumed.states[CS] = ActorState.load(CS, s.organisation_id, s.role, raw)
        resumed.entry(at, net="198.51.100.0/24")
    assert [(f.rule, f.trigger_entry_id, f.extends) for f in resumed.findings] == [
        (f.rule, f.trigger_entry_id, f.extends) for f in straight.findings
    ]
    assert straight.fired(Rule.BULK_ACCESS)


def test_the_stored_state_stays_small() -> None:
    r = Replay()
    for at in spread(DAY - timedelta(days=14), 5000, timedelta(days=14)):
        r.entry(at, net="198.51.100.0/24")
    assert len(json.dumps(r.states[CS].dump())) < 2000


def test_a_custom_floor_applies() -> None:
    config = replace(AnomalyConfig(), bulk_access=replace(BulkConfig(), floor=10))
    r = Replay(config)
    for at in spread(DAY, 10, timedelta(minutes=2)):
        r.entry(at)
    assert len(r.fired(Rule.BULK_ACCESS)) == 1
