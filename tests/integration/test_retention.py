"""Deletion keeps what the law requires, restricted, and only until its time is up
(PIPL Art. 47; E-Commerce Law Art. 31), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from privguard.bootstrap import Runtime
from privguard.cli import app as cli
from privguard.clock import utcnow
from privguard.policy.rules import ActorRef, Role
from privguard.store.uow import unit_of_work
from privguard.vault.errors import AccessDenied, SubjectNotFound
from privguard.vault.models import RestrictedRecord

from .samples import RAW
from .world import add_order

OFFICER = ActorRef(actor_id=uuid.uuid4(), role=Role.PRIVACY_OFFICER)
AGENT = ActorRef(actor_id=uuid.uuid4(), role=Role.CUSTOMER_SERVICE)


def _subject_with_orders(runtime: Runtime, admin: ActorRef, days_ago: float) -> uuid.UUID:
    with unit_of_work(runtime.sessions) as session:
        from privguard.marketplace.models import Organisation

        merchant = Organisation(organisation_id=uuid.uuid4(), kind="merchant", name="m",
                                created_at=utcnow())
        session.add(merchant)
        sid = runtime.vault.register(session, admin, RAW, now=utcnow())
    add_order(runtime, sid, merchant.organisation_id, status="completed",
              delivered_days_ago=days_ago)
    return sid


def _erase(runtime: Runtime, actor: ActorRef, sid: uuid.UUID):  # type: ignore[no-untyped-def]
    from privguard.marketplace.service import last_transaction

    with unit_of_work(runtime.sessions) as session:
        return runtime.vault.erase(session, actor, sid, now=utcnow(),
                                   last_transaction=last_transaction(session, sid))


def test_transaction_records_survive_deletion_restricted_until_retention_ends(
    runtime: Runtime, admin: ActorRef
) -> None:
    sid = _subject_with_orders(runtime, admin, days_ago=365)
    statement = _erase(runtime, admin, sid)
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
    sid = _subject_with_orders(runtime, admin, days_ago=3 * 365 + 5)
    statement = _erase(runtime, admin, sid)
    assert statement.kept == [] and "purchase_history" in statement.deleted


def test_an_interrupted_retention_run_deletes_exactly_what_it_should(
    runtime: Runtime, admin: ActorRef
) -> None:
    ids = [_subject_with_orders(runtime, admin, days_ago=100) for _ in range(5)]
    for sid in ids:
        _erase(runtime, admin, sid)
    keep = _subject_with_orders(runtime, admin, days_ago=10)
    _erase(runtime, admin, keep)
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


def test_retention_cli_reports_then_deletes(runtime: Runtime, admin: ActorRef) -> None:
    sid = _subject_with_orders(runtime, admin, days_ago=3 * 365 - 1)
    _erase(runtime, admin, sid)
    env = {"PRIVGUARD_HOME": str(runtime.settings.home),
           "PRIVGUARD_KEY_FILE": str(runtime.settings.key_file)}
    if runtime.settings.database_url:
        env["PRIVGUARD_DATABASE_URL"] = runtime.settings.database_url
    result = CliRunner().invoke(cli, ["retention", "run", "--dry-run"], env=env)
    assert result.exit_code == 0 and "dry run: 0 kept records" in result.output
    with unit_of_work(runtime.sessions) as session:  # two days later it has ended
        session.query(RestrictedRecord).update(
            {RestrictedRecord.keep_until: utcnow() - timedelta(days=1)})
    result = CliRunner().invoke(cli, ["retention", "run", "--dry-run"], env=env)
    assert "dry run: 1 kept records" in result.output
    result = CliRunner().invoke(cli, ["retention", "run"], env=env)
    assert result.exit_code == 0 and "deleted 1 kept records" in result.output
