"""The retention sweep over live records: values that expire while the account exists.

A record's fields expire one by one (catalog/retention.py: ``collection`` and ``last_activity``
starts). Every write of a record stores its earliest expiry in ``subjects.next_expiry``, so the
sweep pages through ``next_expiry <= cutoff`` on an index (keyset pagination, no OFFSET) instead
of opening every record. For each due subject, under its row lock, it decides again from the
verified record, then reseals the record without the expired fields, drops their blind indexes,
stores the new ``next_expiry`` and writes one access-log entry naming the fields, which the
consumer sees in their history. A field marked ``on_expiry: anonymise`` is first counted under
its generalisation in ``anonymised_counts`` (no subject id) and then deleted the same way.

Subjects under a legal hold are skipped. Every function takes the caller's session and never
commits: one batch is one short transaction (rights/retention.py runs them).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, not_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from privguard.audit.service import log_access
from privguard.catalog.generalisers import GeneraliseError, generalise
from privguard.catalog.model import OnExpiry
from privguard.catalog.retention import due_fields, month_of
from privguard.crypto.envelope import TAG_BYTES, field_aad
from privguard.crypto.errors import DecryptionError
from privguard.policy.rules import ActorRef, Decision, View
from privguard.rights.retention_models import AnonymisedCount, hold_active
from privguard.vault.record import SealedField, open_record, seal_record, unpack
from privguard.vault.service import (
    ACTIVE,
    BLIND_INDEXES,
    RESTRICTED,
    SUBJECT_KEYS,
    SUBJECTS,
    Vault,
    _decode,
)

RETENTION_ACTION = "retention"
RETENTION_PURPOSE = "legal_obligation"  # PIPL Art. 19: keep no longer than necessary
RULE_DELETE = "retention.delete"
RULE_ANONYMISE = "retention.anonymise"
UNCLASSIFIED = "unclassified"  # a stored value its generaliser did not take (never expected)
COUNTS = AnonymisedCount.__table__

Cursor = tuple[datetime | None, uuid.UUID]


@dataclass(frozen=True)
class DueSubject:
    subject_id: uuid.UUID
    next_expiry: datetime | None
    held: bool
    fields: tuple[str, ...] = ()  # with ``with_fields``: what is due (read, not verified)


@dataclass
class SweepOutcome:
    subjects: int = 0  # records changed
    held: int = 0  # due subjects skipped: a legal hold is in force
    rescheduled: int = 0  # visited, nothing due (activity postponed it): next_expiry moved on
    unreadable: int = 0  # record failed its integrity check: left as it is, counted
    deleted: Counter[str] = field(default_factory=Counter)
    anonymised: Counter[str] = field(default_factory=Counter)


def collected(sealed: bytes) -> dict[str, int]:
    """Field -> collected-at second, read from a record's layout without its key. Only for
    scheduling and reports: the sweep decides again from the verified record."""
    return {n: e.collected_at for n, e in unpack(sealed[:-TAG_BYTES]).items()}


def activity_start(row: Any) -> datetime:
    """Where last_activity retention runs from: the last activity, else the registration."""
    return row.last_active_at or row.created_at


def due_page(
    vault: Vault,
    session: Session,
    *,
    cutoff: datetime,
    after: Cursor | None,
    limit: int,
    every: bool = False,
    with_fields: bool = False,
) -> list[DueSubject]:
    """The next page of subjects with something due at ``cutoff``, by keyset.

    Normally by ``(next_expiry, subject_id)`` from the index. With ``every`` (the catalog's
    rules changed since the dates were computed), all active subjects by ``subject_id``.
    ``held`` says whether a legal hold is in force at ``cutoff``.
    """
    s = SUBJECTS.c
    held = hold_active(s.subject_id, cutoff).label("held")
    columns: list[Any] = [s.subject_id, s.next_expiry, held]
    if with_fields:
        columns += [s.sealed, s.last_active_at, s.created_at]
    stmt = select(*columns)
    if every:
        stmt = stmt.where(s.status == ACTIVE, s.sealed.is_not(None)).order_by(s.subject_id)
        if after is not None:
            stmt = stmt.where(s.subject_id > after[1])
    else:
        stmt = stmt.where(s.next_expiry <= cutoff).order_by(s.next_expiry, s.subject_id)
        if after is not None and after[0] is not None:
            stmt = stmt.where(tuple_(s.next_expiry, s.subject_id) > tuple_(after[0], after[1]))
    rows = session.execute(stmt.limit(limit)).all()
    out = []
    for row in rows:
        fields: tuple[str, ...] = ()
        if with_fields and row.sealed is not None:
            fields = tuple(
                due_fields(vault.catalog, collected(row.sealed), activity_start(row), cutoff)
            )
        out.append(DueSubject(row.subject_id, row.next_expiry, bool(row.held), fields))
    return out


_LOCKED = (
    select(
        SUBJECTS.c.subject_id,
        SUBJECTS.c.status,
        SUBJECTS.c.key_version,
        SUBJECTS.c.sealed,
        SUBJECTS.c.last_active_at,
        SUBJECTS.c.created_at,
        SUBJECTS.c.next_expiry,
        SUBJECT_KEYS.c.master_key_id,
        SUBJECT_KEYS.c.wrapped_key,
    )
    .select_from(SUBJECTS)
    .outerjoin(
        SUBJECT_KEYS,
        and_(
            SUBJECT_KEYS.c.subject_id == SUBJECTS.c.subject_id,
            SUBJECT_KEYS.c.version == SUBJECTS.c.key_version,
        ),
    )
    .order_by(SUBJECTS.c.subject_id)  # one lock order for every sweeper: no deadlocks
)
_SET_RECORD = (
    update(SUBJECTS)
    .where(SUBJECTS.c.subject_id == bindparam("b_sid"))
    .values(
        sealed=bindparam("b_sealed"),
        next_expiry=bindparam("b_next"),
        updated_at=bindparam("b_now"),
    )
)
_SET_NEXT = (
    update(SUBJECTS)
    .where(SUBJECTS.c.subject_id == bindparam("b_sid"))
    .values(next_expiry=bindparam("b_next"))
)


def expire(
    vault: Vault,
    session: Session,
    actor: ActorRef,
    subject_ids: Sequence[uuid.UUID],
    *,
    cutoff: datetime,
    now: datetime,
    run_id: uuid.UUID | None = None,
) -> SweepOutcome:
    """Remove from each subject's record the fields expired at ``cutoff``; skip held subjects.

    The rows are locked first and the holds read after, so a hold placed concurrently (it
    locks the same row, rights/holds.py) is either seen here or placed after this commits.
    Idempotent: a field already gone is not due, so a batch run twice changes nothing twice.
    """
    outcome = SweepOutcome()
    if not subject_ids:
        return outcome
    ids = sorted(set(subject_ids))
    rows = (
        session.connection()
        .execute(_LOCKED.where(SUBJECTS.c.subject_id.in_(ids)).with_for_update(of=SUBJECTS))
        .all()
    )
    held = set(
        session.execute(
            select(SUBJECTS.c.subject_id).where(
                SUBJECTS.c.subject_id.in_(ids), hold_active(SUBJECTS.c.subject_id, cutoff)
            )
        ).scalars()
    )
    records: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    dropped: list[tuple[uuid.UUID, list[str]]] = []
    counts: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        if row.status != ACTIVE or row.sealed is None:
            if row.next_expiry is not None:
                moved.append({"b_sid": row.subject_id, "b_next": None})
            continue
        start = activity_start(row)
        if row.subject_id in held:
            if due_fields(vault.catalog, collected(row.sealed), start, cutoff):
                outcome.held += 1
            continue
        try:
            change = _expire_one(vault, row, start, cutoff)
        except DecryptionError:
            # An altered record (or one whose key is gone) must not stop everyone else's
            # retention: it is left as it is and counted in the run (a read reports it too).
            outcome.unreadable += 1
            continue
        if change is None:  # activity postponed it since the date was stored: move it on
            outcome.rescheduled += 1
            moved.append({"b_sid": row.subject_id, "b_next": _schedule(vault, row.sealed, start)})
            continue
        sealed, next_at, due, anonymised_labels = change
        anonymised = [name for name, _label, _month in anonymised_labels]
        for key in anonymised_labels:
            counts[key] += 1
        outcome.anonymised.update(anonymised)
        outcome.deleted.update(n for n in due if n not in anonymised)
        outcome.subjects += 1
        records.append(
            {"b_sid": row.subject_id, "b_sealed": sealed, "b_next": next_at, "b_now": now}
        )
        indexed = [n for n in due if vault.catalog[n].searchable]
        if indexed:
            dropped.append((row.subject_id, indexed))
        _log(session, actor, row.subject_id, due, anonymised, now, run_id)
    conn = session.connection()
    if records:
        conn.execute(_SET_RECORD, records)
    if moved:
        conn.execute(_SET_NEXT, moved)
    for subject_id, names in dropped:
        conn.execute(
            delete(BLIND_INDEXES).where(
                BLIND_INDEXES.c.subject_id == subject_id, BLIND_INDEXES.c.field.in_(names)
            )
        )
    add_anonymised(session, counts)
    return outcome


def _expire_one(
    vault: Vault, row: Any, start: datetime, cutoff: datetime
) -> tuple[bytes, datetime | None, list[str], list[tuple[str, str, str]]] | None:
    """The record resealed without its fields due at ``cutoff``, its next expiry, the fields
    removed and the (field, label, month) of each anonymised one; None when nothing is due.
    Decided from the verified record: its tag is checked before anything else is read."""
    sealer = vault._open_key(row.subject_id, row)
    record = open_record(sealer, row.sealed)
    due = due_fields(vault.catalog, {n: e.collected_at for n, e in record.items()}, start, cutoff)
    if not due:
        return None
    sid = str(row.subject_id)
    labels = []
    for name in due:
        retention = vault.catalog[name].retention
        entry = record.pop(name)
        if retention.on_expiry is OnExpiry.ANONYMISE and retention.generaliser:
            value = _decode(sealer.open(entry.ciphertext, field_aad(sid, name, row.key_version)))
            try:
                label = generalise(retention.generaliser, value)
            except GeneraliseError:
                label = UNCLASSIFIED
            labels.append((name, label, month_of(entry.collected_at)))
    return seal_record(sealer, record), vault.schedule(record, start), due, labels


def _schedule(vault: Vault, sealed: bytes, start: datetime) -> datetime | None:
    record = {n: SealedField(t, b"") for n, t in collected(sealed).items()}
    return vault.schedule(record, start)


_DECISIONS: dict[tuple[str, bool], Decision] = {}


def _decision(name: str, anonymised: bool) -> Decision:
    """Shared per (field, how): a decision's log JSON is then encoded once, not per subject."""
    key = (name, anonymised)
    found = _DECISIONS.get(key)
    if found is None:
        rule = RULE_ANONYMISE if anonymised else RULE_DELETE
        found = _DECISIONS[key] = Decision(name, View.PLAIN, rule, "retention period ended")
    return found


def _log(
    session: Session,
    actor: ActorRef,
    subject_id: uuid.UUID,
    due: Iterable[str],
    anonymised: Sequence[str],
    now: datetime,
    run_id: uuid.UUID | None,
) -> None:
    """One entry per subject and run, naming every field removed and how: the consumer's
    history shows "deleted by retention" (design.md invariant 5: the change and its entry
    commit together)."""
    names = list(due)
    decisions = [_decision(n, n in anonymised) for n in names]
    detail: dict[str, Any] = {
        "deleted": [n for n in names if n not in anonymised],
        "anonymised": list(anonymised),
    }
    if run_id is not None:
        detail["run_id"] = str(run_id)
    log_access(
        session,
        actor=actor,
        subject_id=subject_id,
        action=RETENTION_ACTION,
        purpose=RETENTION_PURPOSE,
        decisions=decisions,
        now=now,
        detail=detail,
    )


def add_anonymised(session: Session, counts: Mapping[tuple[str, str, str], int]) -> None:
    """Add to the counts in one statement: insert, or add to the row already there."""
    if not counts:
        return
    rows = [
        {"field": f, "value": v, "month": m, "count": n} for (f, v, m), n in sorted(counts.items())
    ]
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(COUNTS)
        stmt = insert.on_conflict_do_update(
            index_elements=[COUNTS.c.field, COUNTS.c.value, COUNTS.c.month],
            set_={"count": COUNTS.c.count + insert.excluded["count"]},
        )
        conn.execute(stmt, rows)
        return
    for row in rows:  # any other database: read, then write (the batch holds the lock)
        key = (
            (COUNTS.c.field == row["field"])
            & (COUNTS.c.value == row["value"])
            & (COUNTS.c.month == row["month"])
        )
        found = conn.execute(select(COUNTS.c.count).where(key).with_for_update()).scalar()
        if found is None:
            conn.execute(COUNTS.insert(), row)
        else:
            conn.execute(update(COUNTS).where(key).values(count=found + row["count"]))


def reschedule(
    vault: Vault, session: Session, *, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """Recompute ``next_expiry`` of the next ``limit`` active subjects by id (after the
    catalog's retention rules changed). Reads record layouts only, never a key."""
    s = SUBJECTS.c
    stmt = (
        select(s.subject_id, s.sealed, s.last_active_at, s.created_at)
        .where(s.status == ACTIVE, s.sealed.is_not(None))
        .order_by(s.subject_id)
        .limit(limit)
        .with_for_update(of=SUBJECTS)
    )
    if after is not None:
        stmt = stmt.where(s.subject_id > after)
    rows = session.execute(stmt).all()
    if rows:
        session.connection().execute(
            _SET_NEXT,
            [
                {"b_sid": r.subject_id, "b_next": _schedule(vault, r.sealed, activity_start(r))}
                for r in rows
            ],
        )
    return [r.subject_id for r in rows]


def count_due_subjects(session: Session, cutoff: datetime) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(SUBJECTS).where(SUBJECTS.c.next_expiry <= cutoff)
        ).scalar_one()
    )


def count_active_subjects(session: Session) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(SUBJECTS).where(SUBJECTS.c.status == ACTIVE)
        ).scalar_one()
    )


def restricted_due(session: Session, cutoff: datetime) -> dict[str, tuple[int, int]]:
    """Kept records whose own retention ended by ``cutoff``, per field: (to delete, held)."""
    ended = RESTRICTED.c.retention_ends <= cutoff
    held = hold_active(RESTRICTED.c.subject_id, cutoff)
    by_field = select(RESTRICTED.c.field, func.count()).group_by(RESTRICTED.c.field)
    total: dict[str, int] = dict(session.execute(by_field.where(ended)).all())
    kept: dict[str, int] = dict(session.execute(by_field.where(ended, held)).all())
    return {name: (n - kept.get(name, 0), kept.get(name, 0)) for name, n in total.items()}


def count_restricted_due(session: Session, cutoff: datetime) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(RESTRICTED)
            .where(
                RESTRICTED.c.retention_ends <= cutoff,
                not_(hold_active(RESTRICTED.c.subject_id, cutoff)),
            )
        ).scalar_one()
    )
