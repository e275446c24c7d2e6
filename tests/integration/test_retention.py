"""Retention on SQLite and PostgreSQL (PIPL Art. 19, 47; E-Commerce Law Art. 31):

- live fields expire while the account exists (from collection, or from the last activity,
  which an order or a write resets), deleted or anonymised, the rest of the record readable;
- erasure keeps transaction records restricted, and only until their time is up;
- legal holds suspend all of it for a named subject until released or expired;
- a retention run killed half-way and run again deletes exactly what it should;
- the dry run changes nothing; the CLI and the officer's HTTP routes.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

from privguard.api.app import create_app
from privguard.audit.history import accesses_to
from privguard.audit.models import AccessLogEntry
from privguard.bootstrap import Runtime
from privguard.catalog.model import Catalog
from privguard.cli import app as cli
from privguard.clock import utcnow
from privguard.config import Settings
from privguard.marketplace.models import Organisation
from privguard.marketplace.service import last_transaction, place
from privguard.policy.rules import ActorRef, Role, View
from privguard.rights import retention as runs
from privguard.rights.holds import place_hold, release_hold
from privguard.rights.retention_models import AnonymisedCount, RetentionRun
from privguard.store.uow import unit_of_work
from privguard.vault import retention as sweep
from privguard.vault.errors import AccessDenied, SubjectNotFound
from privguard.vault.models import BlindIndex, RestrictedRecord, Subject
from privguard.vault.service import ErasureStatement, Vault

from .samples import CANONICAL, OTHER, RAW
from .world import add_order, build_world

OFFICER = ActorRef(actor_id=uuid.uuid4(), role=Role.PRIVACY_OFFICER)
AGENT = ActorRef(actor_id=uuid.uuid4(), role=Role.CUSTOMER_SERVICE)
T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)

# The shipped catalog, plus two fields whose retention runs from the last activity and one
# searchable field that expires from collection (so a blind index has to go too).
CHANGES = {
    "date_of_birth": (
        'retention: {keep_until: account_closure, days: 0, basis: "Age checks (minors under 14 '
        'need a guardian)"}',
        'retention: {keep_until: last_activity, days: 365, basis: "Age checks (minors under 14 '
        'need a guardian)", on_expiry: anonymise, generaliser: birth_year_band}',
    ),
    "gender": (
        'retention: {keep_until: account_closure, days: 0, basis: "Optional profile detail"}',
        'retention: {keep_until: last_activity, days: 365, basis: "Optional profile detail"}',
    ),
    "email": (
        'retention: {keep_until: account_closure, days: 0, basis: "PIPL Art. 19: account '
        'notices"}',
        'retention: {keep_until: collection, days: 400, basis: "PIPL Art. 19: account '
        'notices"}',
    ),
}


def test_catalog(directory: Path) -> Path:
    text = (
        Path(__file__).parents[2] / "src/privguard/catalog/catalog.yaml"
    ).read_text(encoding="utf-8")
    for old, new in CHANGES.values():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = directory / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    return path


test_catalog.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"catalog_path": test_catalog(tmp_path)})


def days(n: float) -> timedelta:
    return timedelta(days=n)


def register(runtime: Runtime, admin: ActorRef, pi: dict[str, Any], at: datetime) -> uuid.UUID:
    with unit_of_work(runtime.sessions) as session:
        return runtime.vault.register(session, admin, pi, now=at)


def merchant(runtime: Runtime) -> uuid.UUID:
    with unit_of_work(runtime.sessions) as session:
        org = Organisation(
            organisation_id=uuid.uuid4(), kind="merchant", name="m", created_at=T0
        )
        session.add(org)
        return org.organisation_id


def present(runtime: Runtime, sid: uuid.UUID, at: datetime) -> dict[str, Any]:
    """Every field the vault still holds, read plain by the protection officer."""
    with unit_of_work(runtime.sessions) as session:
        result = runtime.vault.read(
            session, OFFICER, sid, fields=None, purpose="legal_obligation", view=View.PLAIN,
            now=at,
        )
    return {n: v.value for n, v in result.values.items() if v.present}


def run_at(runtime: Runtime, admin: ActorRef, at: datetime, **kw: Any) -> runs.RunSummary:
    return runs.run_retention(runtime.sessions, runtime.vault, admin, now=lambda: at, **kw)


def retention_entries(runtime: Runtime, sid: uuid.UUID) -> list[dict[str, str]]:
    """The consumer's history entries written by retention, oldest first: field -> rule."""
    with unit_of_work(runtime.sessions) as session:
        records = accesses_to(session, sid, limit=500)
    return [
        {f.field: f.rule for f in r.fields}
        for r in reversed(records)
        if r.action == sweep.RETENTION_ACTION
    ]


def counts(runtime: Runtime) -> dict[tuple[str, str, str], int]:
    with unit_of_work(runtime.sessions) as session:
        rows = session.execute(select(AnonymisedCount)).scalars()
        return {(r.field, r.value, r.month): r.count for r in rows}


def held_names(runtime: Runtime, sid: uuid.UUID) -> set[str]:
    """Field names in the stored record (its layout is readable without the key)."""
    with unit_of_work(runtime.sessions) as session:
        sealed = session.get_one(Subject, sid).sealed
    assert sealed is not None
    return set(sweep.collected(sealed))


# --------------------------------------------------------------------------- live fields
def test_collection_fields_vanish_after_their_days_and_the_rest_stays_readable(
    runtime: Runtime, admin: ActorRef
) -> None:
    sid = register(runtime, admin, RAW, T0)
    with unit_of_work(runtime.sessions) as session:
        assert session.get_one(Subject, sid).next_expiry == T0 + days(30)

    result = run_at(runtime, admin, T0 + days(31))
    assert result.finished_at is not None and result.subjects == 1
    assert result.anonymised == {"precise_location": 1} and result.deleted == {}
    values = present(runtime, sid, T0 + days(31))
    assert "precise_location" not in values
    assert {n: CANONICAL[n] for n in values} == values  # everything else, intact
    assert set(values) == set(CANONICAL) - {"precise_location"}
    with unit_of_work(runtime.sessions) as session:
        assert session.get_one(Subject, sid).next_expiry == T0 + days(90)

    assert run_at(runtime, admin, T0 + days(91)).deleted == {
        "browsing_history": 1,
        "search_history": 1,
    }
    assert run_at(runtime, admin, T0 + days(181)).anonymised == {
        "device_id": 1,
        "ip_address": 1,
    }
    assert run_at(runtime, admin, T0 + days(366)).subjects == 1  # last_activity (below)
    # A searchable field: its blind index goes with it, so lookup finds nobody.
    with unit_of_work(runtime.sessions) as session:
        assert runtime.vault.lookup(
            session, admin, "email", RAW["email"], purpose="account_management", now=T0
        ) == [sid]
    assert run_at(runtime, admin, T0 + days(401)).deleted == {"email": 1}
    with unit_of_work(runtime.sessions) as session:
        assert runtime.vault.lookup(
            session, admin, "email", RAW["email"], purpose="account_management", now=T0
        ) == []
        indexed = session.execute(select(BlindIndex.field).where(BlindIndex.subject_id == sid))
        assert set(indexed.scalars()) == {"mobile_phone", "resident_id"}
        assert session.get_one(Subject, sid).next_expiry is None  # nothing left expires
    left = present(runtime, sid, T0 + days(401))
    assert set(left) == {
        "name", "mobile_phone", "landline", "shipping_addresses", "resident_id",
        "passport_number", "bank_card", "payment_account", "purchase_history",
    }
    assert left == {n: CANONICAL[n] for n in left}
    # The consumer sees each removal in their history: one entry per run, naming the fields.
    assert retention_entries(runtime, sid) == [
        {"precise_location": "retention.anonymise"},
        {"browsing_history": "retention.delete", "search_history": "retention.delete"},
        {"device_id": "retention.anonymise", "ip_address": "retention.anonymise"},
        {"date_of_birth": "retention.anonymise", "gender": "retention.delete"},
        {"email": "retention.delete"},
    ]
    # A run with nothing due changes nothing and logs nothing.
    assert run_at(runtime, admin, T0 + days(402)).subjects == 0
    assert len(retention_entries(runtime, sid)) == 5


def test_last_activity_fields_expire_after_inactivity_and_activity_resets_them(
    runtime: Runtime, admin: ActorRef
) -> None:
    buyer = register(runtime, admin, RAW, T0)
    edited = register(runtime, admin, RAW, T0)
    idle = register(runtime, admin, RAW, T0)
    shop = merchant(runtime)
    with unit_of_work(runtime.sessions) as session:  # checkout is activity
        place(session, buyer, shop, now=T0 + days(200), total_cents=990, item_count=1)
    with unit_of_work(runtime.sessions) as session:  # so is any write of the record
        runtime.vault.update(session, admin, edited, {"name": "欧阳娜"}, now=T0 + days(100))
    with unit_of_work(runtime.sessions) as session:
        assert session.get_one(Subject, buyer).last_active_at == T0 + days(200)

    run_at(runtime, admin, T0 + days(366))
    assert {"date_of_birth", "gender"} <= set(present(runtime, buyer, T0 + days(366)))
    assert {"date_of_birth", "gender"} <= set(present(runtime, edited, T0 + days(366)))
    assert not {"date_of_birth", "gender"} & set(present(runtime, idle, T0 + days(366)))
    with unit_of_work(runtime.sessions) as session:  # the sweep moved the date on
        assert session.get_one(Subject, buyer).next_expiry == T0 + days(400)  # email

    run_at(runtime, admin, T0 + days(466))
    assert not {"date_of_birth", "gender"} & set(present(runtime, edited, T0 + days(466)))
    assert {"date_of_birth", "gender"} <= set(present(runtime, buyer, T0 + days(466)))
    result = run_at(runtime, admin, T0 + days(566))
    assert result.anonymised == {"date_of_birth": 1} and result.deleted == {"gender": 1}
    assert not {"date_of_birth", "gender"} & set(present(runtime, buyer, T0 + days(566)))


def test_anonymise_leaves_a_count_without_a_subject_and_no_value(
    runtime: Runtime, admin: ActorRef
) -> None:
    a = register(runtime, admin, RAW, T0)
    b = register(runtime, admin, RAW, T0 + days(2))
    c = register(
        runtime, admin, {**OTHER, "precise_location": {"lat": 39.91, "lon": 116.39}}, T0
    )
    run_at(runtime, admin, T0 + days(33))
    assert counts(runtime) == {
        ("precise_location", "+22,+113", "2026-01"): 2,
        ("precise_location", "+39,+116", "2026-01"): 1,
    }
    for sid in (a, b, c):
        assert "precise_location" not in held_names(runtime, sid)
        assert "precise_location" not in present(runtime, sid, T0 + days(33))
    # The table has nothing to link a count back to a person.
    with runtime.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("anonymised_counts")}
    assert columns == {"field", "value", "month", "count"}
    run_at(runtime, admin, T0 + days(400))
    assert counts(runtime)[("date_of_birth", "1940-1949", "2026-01")] == 2
    assert counts(runtime)[("device_id", "uuid", "2026-01")] == 2
    assert counts(runtime)[("ip_address", "ipv6:private", "2026-01")] == 2


def test_changed_retention_rules_recompute_every_date_before_the_sweep(
    runtime: Runtime, admin: ActorRef
) -> None:
    sid = register(runtime, admin, RAW, T0)
    run_at(runtime, admin, T0 + days(1))  # records the rules' digest
    spec = runtime.catalog["browsing_history"]
    shorter = dataclasses.replace(spec, retention=dataclasses.replace(spec.retention, days=5))
    catalog = Catalog({**runtime.catalog.fields, "browsing_history": shorter}, "test")
    vault = Vault(catalog, runtime.keys, runtime.vault.access)
    result = runs.run_retention(runtime.sessions, vault, admin, now=lambda: T0 + days(6))
    assert result.deleted == {"browsing_history": 1}  # stored date said T0 + 30 days
    assert "browsing_history" not in held_names(runtime, sid)


# --------------------------------------------------------------------------- legal holds
def test_a_held_subject_survives_runs_until_the_hold_is_released_or_expires(
    runtime: Runtime, admin: ActorRef
) -> None:
    held = register(runtime, admin, RAW, T0)
    lapsing = register(runtime, admin, RAW, T0)
    free = register(runtime, admin, RAW, T0)
    with unit_of_work(runtime.sessions) as session:
        hold = place_hold(session, OFFICER, held, reason="Dispute 2026-0117 over order o-1",
                          until=T0 + days(400), now=T0)
        place_hold(session, OFFICER, lapsing, reason="Police request 88", until=T0 + days(40),
                   now=T0)
    result = run_at(runtime, admin, T0 + days(31))
    assert result.held == 2 and result.anonymised == {"precise_location": 1}
    assert "precise_location" in present(runtime, held, T0 + days(31))
    assert "precise_location" in present(runtime, lapsing, T0 + days(31))
    assert "precise_location" not in present(runtime, free, T0 + days(31))
    # The shorter hold has expired by the next run; the other is released.
    result = run_at(runtime, admin, T0 + days(41))
    assert result.held == 1 and result.anonymised == {"precise_location": 1}
    assert "precise_location" not in present(runtime, lapsing, T0 + days(41))
    with unit_of_work(runtime.sessions) as session:
        release_hold(session, OFFICER, hold.hold_id, reason="dispute settled", now=T0 + days(50))
    result = run_at(runtime, admin, T0 + days(50))
    assert result.held == 0 and result.anonymised == {"precise_location": 1}
    assert "precise_location" not in present(runtime, held, T0 + days(50))


def erase(runtime: Runtime, admin: ActorRef, sid: uuid.UUID, at: datetime) -> ErasureStatement:
    with unit_of_work(runtime.sessions) as session:
        return runtime.vault.erase(
            session, admin, sid, now=at, last_transaction=last_transaction(session, sid)
        )


def test_erasing_a_held_subject_shreds_the_key_but_keeps_everything_restricted(
    runtime: Runtime, admin: ActorRef
) -> None:
    now = utcnow()
    sid = register(runtime, admin, RAW, now - days(5))
    add_order(runtime, sid, merchant(runtime), status="completed", delivered_days_ago=3)
    with unit_of_work(runtime.sessions) as session:
        hold = place_hold(session, OFFICER, sid, reason="Dispute 2026-0117 over order o-1",
                          until=now + days(60), now=now)
    statement = erase(runtime, admin, sid, now)
    assert statement.deleted == []
    kept = {k.field: k for k in statement.kept}
    assert set(kept) == set(RAW)
    for name, k in kept.items():
        assert k.basis.startswith(f"Legal hold until {hold.expires_at.date().isoformat()}: "
                                  "Dispute 2026-0117 over order o-1"), name
        if name == "purchase_history":  # its own 3 years outlast the hold, and it says so
            assert k.until > hold.expires_at and "E-Commerce Law Art. 31" in k.basis
        else:
            assert k.until == hold.expires_at
    with unit_of_work(runtime.sessions) as session:
        assert runtime.vault.read_restricted(
            session, OFFICER, sid, purpose="legal_obligation", now=now
        ) == CANONICAL
        subject = session.get_one(Subject, sid)
        assert subject.status == "erased" and subject.sealed is None
    # Held: runs delete nothing (the restricted records' own retention ended at erasure).
    assert run_at(runtime, admin, now + days(1)).restricted == 0
    with unit_of_work(runtime.sessions) as session:
        assert runtime.vault.purge_restricted(session, now=now + days(1)) == 0
        release_hold(session, OFFICER, hold.hold_id, reason="settled", now=now + days(2))
    result = run_at(runtime, admin, now + days(2))
    assert result.restricted == len(RAW) - 1
    assert set(result.restricted_by_field) == set(RAW) - {"purchase_history"}
    with unit_of_work(runtime.sessions) as session:
        left = session.execute(select(RestrictedRecord.field)).scalars().all()
    assert left == ["purchase_history"]


def test_erasure_without_a_hold_deletes_what_the_law_does_not_keep(
    runtime: Runtime, admin: ActorRef
) -> None:
    now = utcnow()
    sid = register(runtime, admin, RAW, now)
    with unit_of_work(runtime.sessions) as session:
        hold = place_hold(session, OFFICER, sid, reason="Investigation 7", until=now + days(9),
                          now=now)
        release_hold(session, OFFICER, hold.hold_id, reason="closed", now=now)
    statement = erase(runtime, admin, sid, now)
    assert statement.kept == [] and set(statement.deleted) == set(RAW)


# --------------------------------------------------------------------------- restricted
def subject_with_orders(runtime: Runtime, admin: ActorRef, days_ago: float) -> uuid.UUID:
    sid = register(runtime, admin, RAW, utcnow())
    add_order(runtime, sid, merchant(runtime), status="completed", delivered_days_ago=days_ago)
    return sid


def test_transaction_records_survive_deletion_restricted_until_retention_ends(
    runtime: Runtime, admin: ActorRef
) -> None:
    sid = subject_with_orders(runtime, admin, days_ago=365)
    statement = erase(runtime, admin, sid, utcnow())
    assert [k.field for k in statement.kept] == ["purchase_history"]
    until = statement.kept[0].until
    assert timedelta(days=729) < until - utcnow() < timedelta(days=731)  # 3 years after the order
    assert "E-Commerce Law Art. 31" in statement.kept[0].basis
    assert "mobile_phone" in statement.deleted and "purchase_history" not in statement.deleted
    # The live record is gone; the kept history is readable only for legal duties.
    with unit_of_work(runtime.sessions) as session:
        kept = runtime.vault.read_restricted(session, OFFICER, sid, purpose="legal_obligation",
                                             now=utcnow())
    assert kept["purchase_history"] == RAW["purchase_history"]
    with pytest.raises(AccessDenied), unit_of_work(runtime.sessions, commit_on=(AccessDenied,)) \
            as session:
        runtime.vault.read_restricted(session, AGENT, sid, purpose="customer_support",
                                      now=utcnow())
    with pytest.raises(AccessDenied), unit_of_work(runtime.sessions) as session:
        runtime.vault.read_restricted(session, OFFICER, sid, purpose="fraud_detection",
                                      now=utcnow())
    # When the time is up, the retention run deletes it, key and all.
    with unit_of_work(runtime.sessions) as session:
        assert runtime.vault.purge_restricted(session, now=until - timedelta(seconds=1)) == 0
        assert runtime.vault.purge_restricted(session, now=until) == 1
    with pytest.raises(SubjectNotFound), unit_of_work(runtime.sessions) as session:
        runtime.vault.read_restricted(session, OFFICER, sid, purpose="legal_obligation",
                                      now=utcnow())


def test_nothing_is_kept_once_three_years_have_passed(runtime: Runtime, admin: ActorRef) -> None:
    sid = subject_with_orders(runtime, admin, days_ago=3 * 365 + 5)
    statement = erase(runtime, admin, sid, utcnow())
    assert statement.kept == [] and "purchase_history" in statement.deleted


def test_an_interrupted_purge_deletes_exactly_what_it_should(
    runtime: Runtime, admin: ActorRef
) -> None:
    ids = [subject_with_orders(runtime, admin, days_ago=100) for _ in range(5)]
    for sid in ids:
        erase(runtime, admin, sid, utcnow())
    keep = subject_with_orders(runtime, admin, days_ago=10)
    erase(runtime, admin, keep, utcnow())
    later = utcnow() + timedelta(days=3 * 365 - 50)  # the first five have ended, not the last
    with unit_of_work(runtime.sessions) as session:
        assert runtime.vault.purge_restricted(session, now=later, limit=2) == 2
    # "killed" here: a new run finishes the rest and touches nothing else
    with unit_of_work(runtime.sessions) as session:
        assert runtime.vault.purge_restricted(session, now=later, limit=2) == 2
        assert runtime.vault.purge_restricted(session, now=later, limit=2) == 1
        assert runtime.vault.purge_restricted(session, now=later, limit=2) == 0
        left = session.query(RestrictedRecord.subject_id).all()
    assert [r[0] for r in left] == [keep]


# --------------------------------------------------------------------------- runs
def snapshot(runtime: Runtime) -> dict[str, Any]:
    with unit_of_work(runtime.sessions) as session:
        return {
            "subjects": session.execute(
                select(Subject.subject_id, Subject.sealed, Subject.next_expiry, Subject.updated_at)
                .order_by(Subject.subject_id)
            ).all(),
            "indexes": session.execute(select(func.count()).select_from(BlindIndex)).scalar(),
            "restricted": session.execute(
                select(RestrictedRecord.record_id).order_by(RestrictedRecord.record_id)
            ).all(),
            "counts": session.execute(select(func.count()).select_from(AnonymisedCount)).scalar(),
            "log": session.execute(select(func.count()).select_from(AccessLogEntry)).scalar(),
            "runs": session.execute(select(func.count()).select_from(RetentionRun)).scalar(),
        }


def population(runtime: Runtime, admin: ActorRef, t0: datetime) -> dict[str, uuid.UUID]:
    """Five subjects at ``t0`` (one held), one registered now, one erased with kept history."""
    ids = {f"s{i}": register(runtime, admin, RAW, t0) for i in range(5)}
    ids["late"] = register(runtime, admin, RAW, utcnow())
    ids["gone"] = register(runtime, admin, RAW, t0)
    add_order(runtime, ids["gone"], merchant(runtime), status="completed",
              delivered_days_ago=3 * 365 - 10)
    erase(runtime, admin, ids["gone"], utcnow())
    with unit_of_work(runtime.sessions) as session:
        place_hold(session, OFFICER, ids["s0"], reason="Dispute 5", until=t0 + days(9999),
                   now=t0)
    return ids


def test_the_dry_run_changes_nothing_and_reports_what_the_run_then_does(
    runtime: Runtime, admin: ActorRef
) -> None:
    at = utcnow() + days(20)  # the erased subject's history has 10 days left: due by then
    population(runtime, admin, at - days(600))  # every live field of s0..s4 is due
    before = snapshot(runtime)
    with unit_of_work(runtime.sessions) as session:
        report = runs.preview(session, runtime.vault, now=at, batch_size=2)
    assert snapshot(runtime) == before
    assert report.rules_changed  # no run yet: every record checked
    assert report.subjects == 4 and report.held_subjects == 1
    assert report.deleted == {
        "browsing_history": 4, "search_history": 4, "email": 4, "gender": 4,
    }
    assert report.anonymised == {
        "precise_location": 4, "device_id": 4, "ip_address": 4, "date_of_birth": 4,
    }
    assert report.held_fields["precise_location"] == 1 and len(report.held_fields) == 8
    assert report.restricted == {"purchase_history": 1} and report.restricted_held == {}

    result = run_at(runtime, admin, at, batch_size=2)
    assert result.subjects == report.subjects and result.held == report.held_subjects
    assert result.deleted == dict(report.deleted)
    assert result.anonymised == dict(report.anonymised)
    assert result.restricted_by_field == report.restricted
    with unit_of_work(runtime.sessions) as session:  # now the dates are trusted
        again = runs.preview(session, runtime.vault, now=at, batch_size=2)
    assert not again.rules_changed and again.subjects == 0 and again.held_subjects == 1
    assert again.restricted == {}


def test_a_run_killed_half_way_and_run_again_deletes_exactly_what_it_should(
    runtime: Runtime, admin: ActorRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [register(runtime, admin, RAW, T0 + timedelta(minutes=i)) for i in range(11)]
    run_at(runtime, admin, T0)  # record the rules' digest: the run below is a pure sweep
    cutoff = T0 + days(30) + timedelta(minutes=5)  # subjects 0..5 are due, 6..10 not yet
    first = run_at(runtime, admin, cutoff, batch_size=2, max_batches=1)
    assert first.finished_at is None and first.subjects == 2
    # The next batch fails after it changed records (while adding the counts): all of that
    # batch rolls back with the failure.
    real = sweep.add_anonymised

    def fail(*args: Any, **kw: Any) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(sweep, "add_anonymised", fail)
    with pytest.raises(RuntimeError):
        run_at(runtime, admin, cutoff + days(1), batch_size=2)
    monkeypatch.setattr(sweep, "add_anonymised", real)
    # Rerun much later: it continues the same run with the same cut-off.
    done = run_at(runtime, admin, T0 + days(60), batch_size=2)
    assert done.run_id == first.run_id and done.cutoff == cutoff and done.resumed == 2
    assert done.finished_at is not None
    assert done.subjects == 6 and done.anonymised == {"precise_location": 6}
    assert counts(runtime) == {("precise_location", "+22,+113", "2026-01"): 6}
    for i, sid in enumerate(ids):
        entries = retention_entries(runtime, sid)
        if i < 6:
            assert "precise_location" not in held_names(runtime, sid)
            assert entries == [{"precise_location": "retention.anonymise"}], i
        else:  # due after the cut-off: left for the next run
            assert "precise_location" in held_names(runtime, sid) and entries == [], i
    nxt = run_at(runtime, admin, T0 + days(60))
    assert nxt.run_id != first.run_id and nxt.anonymised == {"precise_location": 5}


def test_an_altered_record_is_left_alone_and_does_not_stop_the_others(
    runtime: Runtime, admin: ActorRef
) -> None:
    ids = [register(runtime, admin, RAW, T0) for _ in range(3)]
    with unit_of_work(runtime.sessions) as session:
        subject = session.get_one(Subject, ids[1])
        assert subject.sealed is not None
        sealed = bytearray(subject.sealed)
        sealed[-40] ^= 1  # a ciphertext byte: the record's tag no longer matches
        subject.sealed = bytes(sealed)
    result = run_at(runtime, admin, T0 + days(31), batch_size=2)
    assert result.finished_at is not None and result.unreadable == 1
    assert result.subjects == 2 and result.anonymised == {"precise_location": 2}
    assert "precise_location" in held_names(runtime, ids[1])
    assert "precise_location" not in held_names(runtime, ids[0]) | held_names(runtime, ids[2])


# --------------------------------------------------------------------------- CLI
@pytest.fixture
def cli_env(runtime: Runtime) -> dict[str, str]:
    env = {
        "PRIVGUARD_HOME": str(runtime.settings.home),
        "PRIVGUARD_KEY_FILE": str(runtime.settings.key_file),
        "PRIVGUARD_CATALOG_PATH": str(runtime.settings.catalog_path),
    }
    if runtime.settings.database_url:
        env["PRIVGUARD_DATABASE_URL"] = runtime.settings.database_url
    return env


def invoke(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_retention_cli_reports_runs_and_holds(
    runtime: Runtime, admin: ActorRef, cli_env: dict[str, str]
) -> None:
    now = utcnow()
    due = register(runtime, admin, RAW, now - days(40))  # precise_location expired 10 days ago
    held = register(runtime, admin, RAW, now - days(40))
    fresh = register(runtime, admin, RAW, now)
    out = invoke(cli_env, "retention", "hold", "add", str(held), "--reason", "Dispute 9",
                 "--until", (now + days(30)).date().isoformat())
    hold_id = out.split()[2]
    assert f"on {held}" in out
    assert str(held) in invoke(cli_env, "retention", "hold", "list")

    out = invoke(cli_env, "retention", "run", "--dry-run")
    assert "dry run: 1 records would change (0 values deleted, 1 anonymised)" in out
    assert "1 subjects skipped because of legal holds" in out
    assert "precise_location" in out
    assert "precise_location" in held_names(runtime, due)

    out = invoke(cli_env, "retention", "run", "--batch-size", "1")
    assert "finished" in out and "1 records changed" in out and "1 subjects skipped" in out
    assert "precise_location" not in held_names(runtime, due)
    assert "precise_location" in held_names(runtime, held)
    assert "precise_location" in held_names(runtime, fresh)
    assert "finished" in invoke(cli_env, "retention", "status")

    assert "released" in invoke(cli_env, "retention", "hold", "release", hold_id, "--reason",
                                "settled")
    assert "no legal holds in force" in invoke(cli_env, "retention", "hold", "list")
    assert "released" in invoke(cli_env, "retention", "hold", "list", "--all")
    out = invoke(cli_env, "retention", "run")
    assert "1 records changed" in out and "0 subjects skipped" in out
    assert "precise_location" not in held_names(runtime, held)
    bad = CliRunner().invoke(cli, ["retention", "hold", "add", str(uuid.uuid4()), "--reason",
                                   "x", "--until", "2999-01-01"], env=cli_env)
    assert bad.exit_code == 1 and "no subject" in bad.output
    bad = CliRunner().invoke(cli, ["retention", "hold", "add", str(held), "--reason", " ",
                                   "--until", "2999-01-01"], env=cli_env)
    assert bad.exit_code == 1 and "reason" in bad.output


def test_retention_cli_deletes_kept_records_whose_time_is_up(
    runtime: Runtime, admin: ActorRef, cli_env: dict[str, str]
) -> None:
    sid = subject_with_orders(runtime, admin, days_ago=3 * 365 - 1)
    erase(runtime, admin, sid, utcnow())
    out = invoke(cli_env, "retention", "run", "--dry-run")
    assert "0 kept records have reached the end of their retention" in out
    with unit_of_work(runtime.sessions) as session:  # two days later it has ended
        session.query(RestrictedRecord).update(
            {RestrictedRecord.retention_ends: utcnow() - timedelta(days=1)})
    out = invoke(cli_env, "retention", "run", "--dry-run")
    assert "1 kept records have reached the end of their retention" in out
    out = invoke(cli_env, "retention", "run")
    assert "1 kept records deleted" in out


# --------------------------------------------------------------------------- HTTP
@pytest.fixture
def api(runtime: Runtime, admin: ActorRef) -> Iterator[tuple[Any, TestClient]]:
    world = build_world(runtime, admin)
    with TestClient(create_app(runtime)) as client:
        yield world, client


OFFICER_ROLES = {"privacy_officer", "platform_admin"}


def test_only_the_protection_officer_manages_legal_holds(api: tuple[Any, TestClient]) -> None:
    world, client = api
    subject = str(world.subjects["own"])
    until = (utcnow() + days(30)).isoformat()
    body = {"subject_id": subject, "reason": "Dispute 12", "until": until}
    r = client.post("/v1/legal-holds", json=body, headers=world.headers("privacy_officer"))
    assert r.status_code == 201, r.text
    hold = r.json()
    assert hold["state"] == "active" and hold["subject_id"] == subject
    refused = sorted(set(world.tokens) - OFFICER_ROLES)
    assert "consumer" in refused and "auditor" in refused and "customer_service" in refused
    for role in refused:
        h = world.headers(role)
        for r in (
            client.get("/v1/legal-holds", headers=h),
            client.post("/v1/legal-holds", json=body, headers=h),
            client.post(f"/v1/legal-holds/{hold['hold_id']}/release",
                        json={"reason": "x"}, headers=h),
        ):
            assert r.status_code == 403, (role, r.text)
            assert r.json()["error"]["rule"] == "retention.legal-holds"
    for role in sorted(OFFICER_ROLES):
        listed = client.get("/v1/legal-holds", headers=world.headers(role))
        assert listed.status_code == 200 and [h["hold_id"] for h in listed.json()] == [
            hold["hold_id"]
        ]
    h = world.headers("privacy_officer")
    r = client.post("/v1/legal-holds", json={**body, "reason": ""}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "reason"
    r = client.post("/v1/legal-holds", json={**body, "until": "2020-01-01T00:00:00Z"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["rule"] == (
        "legal_hold.until_past"
    )
    r = client.post("/v1/legal-holds", json={"subject_id": subject, "reason": "x"}, headers=h)
    assert r.status_code == 422  # an expiry is required
    r = client.post("/v1/legal-holds", json={**body, "subject_id": str(uuid.uuid4())}, headers=h)
    assert r.status_code == 404
    r = client.post(f"/v1/legal-holds/{hold['hold_id']}/release", json={"reason": "settled"},
                    headers=world.headers("platform_admin"))
    assert r.status_code == 200 and r.json()["state"] == "released"
    r = client.post(f"/v1/legal-holds/{hold['hold_id']}/release", json={"reason": "again"},
                    headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "legal_hold.released"
    r = client.post(f"/v1/legal-holds/{uuid.uuid4()}/release", json={"reason": "x"}, headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "legal_hold.not_found"
    assert client.get("/v1/legal-holds", headers=h).json() == []
    everything = client.get("/v1/legal-holds?active=false", headers=h).json()
    assert [x["state"] for x in everything] == ["released"]
