"""Retention runs: everything whose time is up, deleted or anonymised, in short batches.

A run has a cut-off fixed when it starts and three phases, each a series of batches of one short
transaction apiece (so no table is locked for long):

1. ``reschedule`` - only when the catalog's retention rules changed since the dates in
   ``subjects.next_expiry`` were computed (or were never computed): recompute them all;
2. ``live`` - subjects whose ``next_expiry`` is at or before the cut-off, by keyset: expired
   fields deleted or anonymised (vault/retention.py); subjects under a legal hold skipped;
3. ``restricted`` - kept records (restricted after erasure) whose own retention ended, unless
   a legal hold on the subject is in force.

Every batch commits its changes with the run's counts and position in ``retention_runs``. A run
that is killed leaves an unfinished row; the next ``privguard retention run`` continues it with
the same cut-off, so it deletes exactly what the first would have, nothing twice, nothing more.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from privguard.audit.service import log_operation
from privguard.catalog.model import OnExpiry
from privguard.catalog.retention import rules_digest
from privguard.policy.rules import ActorRef
from privguard.rights.retention_models import RetentionRun
from privguard.store.meta import get_meta, set_meta
from privguard.store.uow import unit_of_work
from privguard.vault import retention as sweep
from privguard.vault.service import Vault

RULES_DIGEST_KEY = "retention_rules_digest"
RULE_RUN = "retention.run"
RESCHEDULE, LIVE, RESTRICTED, DONE = "reschedule", "live", "restricted", "done"
PHASES = (RESCHEDULE, LIVE, RESTRICTED)


def _counts() -> dict[str, dict[str, int]]:
    return {"deleted": {}, "anonymised": {}, "restricted": {}}


def _add(counts: Mapping[str, Any], key: str, more: Mapping[str, int]) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in counts.items()}
    bucket = out.setdefault(key, {})
    for name, n in more.items():
        bucket[name] = bucket.get(name, 0) + n
    return out


def rules_current(session: Session, vault: Vault) -> bool:
    """Were the stored expiry dates computed under the catalog's present rules?"""
    return get_meta(session, RULES_DIGEST_KEY) == rules_digest(vault.catalog)


def unfinished_run(session: Session, *, lock: bool = False) -> RetentionRun | None:
    stmt = (
        select(RetentionRun)
        .where(RetentionRun.finished_at.is_(None))
        .order_by(RetentionRun.started_at.desc())
        .limit(1)
    )
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def begin(
    session: Session, vault: Vault, actor: ActorRef, *, now: datetime
) -> tuple[RetentionRun, bool]:
    """The unfinished run to continue (its cut-off unchanged), or a new one cut off at ``now``.
    Returns the run and whether it is a continuation."""
    run = unfinished_run(session, lock=True)
    if run is not None:
        run.resumed += 1
        session.flush()
        return run, True
    run = RetentionRun(
        run_id=uuid.uuid4(),
        cutoff=now,
        started_at=now,
        phase=LIVE if rules_current(session, vault) else RESCHEDULE,
        batches=0,
        resumed=0,
        subjects=0,
        held=0,
        restricted=0,
        counts=_counts(),
    )
    session.add(run)
    session.flush()
    log_operation(
        session,
        actor=actor,
        action="retention_run.start",
        rule=RULE_RUN,
        reason="retention run started",
        now=now,
        detail={"run_id": str(run.run_id), "cutoff": now.isoformat()},
    )
    return run, False


@dataclass(frozen=True)
class Step:
    phase: str  # the phase this batch worked in
    done: int  # subjects or records it went through
    finished: bool  # the run is complete


def step(
    session: Session,
    vault: Vault,
    actor: ActorRef,
    run_id: uuid.UUID,
    *,
    batch_size: int,
    now: datetime,
) -> Step:
    """One batch of the run, in the caller's transaction (which must commit it alone)."""
    run = session.execute(
        select(RetentionRun).where(RetentionRun.run_id == run_id).with_for_update()
    ).scalar_one()
    phase = run.phase
    if run.finished_at is not None:
        return Step(DONE, 0, True)
    done = 0
    if phase == RESCHEDULE:
        ids = sweep.reschedule(vault, session, after=run.cursor_subject, limit=batch_size)
        done = len(ids)
        if done < batch_size:
            set_meta(session, RULES_DIGEST_KEY, rules_digest(vault.catalog))
            run.phase, run.cursor_subject = LIVE, None
        else:
            run.cursor_subject = ids[-1]
    elif phase == LIVE:
        after = (run.cursor_expiry, run.cursor_subject) if run.cursor_subject else None
        page = sweep.due_page(vault, session, cutoff=run.cutoff, after=after, limit=batch_size)
        outcome = sweep.expire(
            vault,
            session,
            actor,
            [p.subject_id for p in page],
            cutoff=run.cutoff,
            now=now,
            run_id=run.run_id,
        )
        done = len(page)
        run.subjects += outcome.subjects
        run.held += outcome.held
        counts = _add(run.counts, "deleted", outcome.deleted)
        counts = _add(counts, "anonymised", outcome.anonymised)
        if outcome.unreadable:
            counts["unreadable"] = int(counts.get("unreadable", 0)) + outcome.unreadable
        run.counts = counts
        if done < batch_size:
            run.phase, run.cursor_expiry, run.cursor_subject = RESTRICTED, None, None
        else:
            run.cursor_expiry, run.cursor_subject = page[-1].next_expiry, page[-1].subject_id
    elif phase == RESTRICTED:
        purged = vault.purge_restricted_fields(session, cutoff=run.cutoff, limit=batch_size)
        done = sum(purged.values())
        run.restricted += done
        run.counts = _add(run.counts, "restricted", purged)
        if done:
            log_operation(
                session,
                actor=actor,
                action="retention_run.restricted",
                rule=RULE_RUN,
                reason="kept records deleted: their retention ended",
                now=now,
                detail={"run_id": str(run.run_id), "deleted": purged},
            )
        if done < batch_size:
            _finish(session, run, actor, now)
    run.batches += 1
    session.flush()
    return Step(phase, done, run.finished_at is not None)


def _finish(session: Session, run: RetentionRun, actor: ActorRef, now: datetime) -> None:
    held = sum(h for _due, h in sweep.restricted_due(session, run.cutoff).values())
    run.counts = {**run.counts, "restricted_held": held}
    run.phase, run.finished_at = DONE, now
    log_operation(
        session,
        actor=actor,
        action="retention_run.finish",
        rule=RULE_RUN,
        reason="retention run finished",
        now=now,
        detail={
            "run_id": str(run.run_id),
            "subjects": run.subjects,
            "held": run.held,
            "restricted": run.restricted,
            "counts": run.counts,
        },
    )


@dataclass(frozen=True)
class RunSummary:
    run_id: uuid.UUID
    cutoff: datetime
    started_at: datetime
    finished_at: datetime | None
    phase: str
    batches: int
    resumed: int
    subjects: int
    held: int
    restricted: int
    deleted: dict[str, int]
    anonymised: dict[str, int]
    restricted_by_field: dict[str, int]
    restricted_held: int
    unreadable: int  # records that failed their integrity check, left untouched

    @property
    def fields_deleted(self) -> int:
        return sum(self.deleted.values())

    @property
    def fields_anonymised(self) -> int:
        return sum(self.anonymised.values())


def summary(run: RetentionRun) -> RunSummary:
    counts = run.counts or {}
    return RunSummary(
        run_id=run.run_id,
        cutoff=run.cutoff,
        started_at=run.started_at,
        finished_at=run.finished_at,
        phase=run.phase,
        batches=run.batches,
        resumed=run.resumed,
        subjects=run.subjects,
        held=run.held,
        restricted=run.restricted,
        deleted=dict(counts.get("deleted", {})),
        anonymised=dict(counts.get("anonymised", {})),
        restricted_by_field=dict(counts.get("restricted", {})),
        restricted_held=int(counts.get("restricted_held", 0)),
        unreadable=int(counts.get("unreadable", 0)),
    )


def recent_runs(session: Session, limit: int = 10) -> list[RunSummary]:
    runs = session.execute(
        select(RetentionRun).order_by(RetentionRun.started_at.desc()).limit(limit)
    ).scalars()
    return [summary(r) for r in runs]


def totals(session: Session, vault: Vault, run: RetentionRun) -> dict[str, int]:
    """Rough sizes of the phases still ahead, for a progress bar (not for the counts)."""
    return {
        RESCHEDULE: sweep.count_active_subjects(session) if run.phase == RESCHEDULE else 0,
        LIVE: sweep.count_due_subjects(session, run.cutoff),
        RESTRICTED: sweep.count_restricted_due(session, run.cutoff),
    }


def run_retention(
    sessions: sessionmaker[Session],
    vault: Vault,
    actor: ActorRef,
    *,
    now: Callable[[], datetime],
    batch_size: int = 1000,
    on_start: Callable[[RunSummary, bool, dict[str, int]], None] | None = None,
    on_batch: Callable[[Step], None] | None = None,
    max_batches: int | None = None,
) -> RunSummary:
    """Start or continue the run and work through it, one transaction per batch.

    ``now`` is called per batch for the time stamped on changes (the cut-off stays fixed);
    ``max_batches`` stops early and leaves the run unfinished, as a kill would.
    """
    with unit_of_work(sessions) as session:
        run, resumed = begin(session, vault, actor, now=now())
        run_id = run.run_id
        if on_start is not None:
            on_start(summary(run), resumed, totals(session, vault, run))
    batches = 0
    while max_batches is None or batches < max_batches:
        with unit_of_work(sessions) as session:
            result = step(session, vault, actor, run_id, batch_size=batch_size, now=now())
        batches += 1
        if on_batch is not None:
            on_batch(result)
        if result.finished:
            break
    with unit_of_work(sessions) as session:
        return summary(session.get_one(RetentionRun, run_id))


# --------------------------------------------------------------------------- dry run
@dataclass
class Preview:
    """What a run would do now, computed without changing anything."""

    cutoff: datetime
    resuming: uuid.UUID | None  # the unfinished run whose cut-off a run would keep
    rules_changed: bool  # stored dates are stale: every record was checked
    deleted: Counter[str] = field(default_factory=Counter)
    anonymised: Counter[str] = field(default_factory=Counter)
    held_subjects: int = 0
    held_fields: Counter[str] = field(default_factory=Counter)
    subjects: int = 0  # records that would change
    restricted: dict[str, int] = field(default_factory=dict)
    restricted_held: dict[str, int] = field(default_factory=dict)


def preview(session: Session, vault: Vault, *, now: datetime, batch_size: int = 1000) -> Preview:
    """The dry run: per field, how many values a run would delete or anonymise, how many kept
    records it would delete, and what legal holds would spare. Reads only record layouts
    (field names and collection times), never a key or a value."""
    run = unfinished_run(session)
    cutoff = run.cutoff if run is not None else now
    every = not rules_current(session, vault)
    out = Preview(cutoff, run.run_id if run else None, every)
    after: sweep.Cursor | None = None
    while True:
        page = sweep.due_page(
            vault,
            session,
            cutoff=cutoff,
            after=after,
            limit=batch_size,
            every=every,
            with_fields=True,
        )
        for due in page:
            if not due.fields:
                continue
            if due.held:
                out.held_subjects += 1
                out.held_fields.update(due.fields)
                continue
            out.subjects += 1
            for name in due.fields:
                anonymise = vault.catalog[name].retention.on_expiry is OnExpiry.ANONYMISE
                (out.anonymised if anonymise else out.deleted)[name] += 1
        if len(page) < batch_size:
            break
        after = (page[-1].next_expiry, page[-1].subject_id)
    for name, (due_n, held_n) in sweep.restricted_due(session, cutoff).items():
        if due_n:
            out.restricted[name] = due_n
        if held_n:
            out.restricted_held[name] = held_n
    return out
