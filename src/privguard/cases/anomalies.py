"""Anomaly detection as a service: the incremental scanner over the access log, and the alerts.

The scanner reads only what is new. A cursor row (``anomaly_cursor``) holds the last leaf index
processed; each batch, in one transaction, locks the cursor, reads the next entries in leaf
order, runs the rules (cases/anomaly_rules.py) with each actor's stored state, writes the alerts
and the changed states, and moves the cursor. The alerts and the cursor commit together, so a
batch that fails is simply done again and nothing fires twice. Two scanners never interleave:
on PostgreSQL the second skips a locked cursor (its turn comes at the next tick), on SQLite the
write lock every unit of work takes serialises them.

Why leaf order and not ``entry_id``: ids are handed out when a row is inserted, but rows become
visible when their transaction commits, so a slow transaction's entry can appear *behind* a
cursor that already passed its id, and would never be scanned. The sequencer numbers entries
only once they are committed, one batch at a time, so nothing can appear behind a leaf-index
cursor. The price is the sequencer's interval (one second by default) in the alert delay.

Services take the caller's session and never commit; :func:`scan` is the loop the CLI runs,
one unit of work per batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from privguard.audit.models import AccessLogEntry
from privguard.audit.service import log_operation
from privguard.cases.anomaly_models import AccessAlert, AnomalyActorState, AnomalyCursor
from privguard.cases.anomaly_rules import (
    Access,
    ActorState,
    AnomalyConfig,
    AnomalyRules,
    Finding,
    Rule,
    parse_entry,
)
from privguard.marketplace.errors import MarketplaceNotFound
from privguard.policy.rules import ActorRef, Role
from privguard.rights.lifecycle import TransitionRefused
from privguard.store.uow import unit_of_work
from privguard.vault.errors import AccessDenied, FieldError, InvalidPI

LOG = AccessLogEntry.__table__
ALERTS = AccessAlert.__table__
STATES = AnomalyActorState.__table__
CURSOR_NAME = "access_log"
RULE_ANOMALIES = "cases.anomalies"
OFFICERS = frozenset({Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN})  # act on alerts, incidents
READERS = OFFICERS | {Role.AUDITOR}  # see them
MAX_REASON = 1000
CACHE_LIMIT = 50_000  # actor states kept in memory between batches of one scanning process
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a new cursor's "updated_at" until its first batch


class AlertState(StrEnum):
    OPEN = "open"
    DISMISSED = "dismissed"
    ESCALATED = "escalated"


class AlertNotFound(MarketplaceNotFound):
    code = "alert_not_found"

    def __init__(self, alert_id: int) -> None:
        super().__init__(f"no alert {alert_id}")


class AlertDecided(TransitionRefused):
    """An alert is dismissed or escalated once; answered 409."""

    code = "alert.decided"

    def __init__(self, alert_id: int, state: str) -> None:
        ValueError.__init__(self, f"alert {alert_id} is already {state}")


def require(actor: ActorRef, roles: frozenset[Role], what: str) -> None:
    if actor.role not in roles:
        raise AccessDenied(RULE_ANOMALIES, what)


def clean_text(value: str | None, field_name: str, *, required: bool, limit: int) -> str | None:
    """Whitespace-normalised, with the personal information the detector finds replaced by its
    type (``<PHONE_NUMBER>``): an officer's note about a case must not become a copy of it."""
    from privguard.detect import redact

    text = " ".join((value or "").split())
    if not text:
        if required:
            raise InvalidPI([FieldError(field_name, "text.required", "is required")])
        return None
    redacted = redact(text)
    # The stored (redacted) text must fit too: a type tag can be longer than what it replaces.
    if max(len(text), len(redacted)) > limit:
        raise InvalidPI(
            [FieldError(field_name, "text.too_long", f"must be at most {limit} characters")]
        )
    return redacted


# ---------------------------------------------------------------------------- the scanner


@dataclass
class BatchResult:
    entries: int = 0
    fired: int = 0
    extended: int = 0
    last_seq: int = -1
    last_entry_id: int | None = None
    busy: bool = False  # another scanner holds the cursor


@dataclass
class ScanReport:
    entries: int = 0
    fired: int = 0
    extended: int = 0
    batches: int = 0
    last_seq: int = -1
    busy: bool = False
    alerts: list[int] = field(default_factory=list)  # ids of the alerts raised


class Scanner:
    """The rules plus the actor states of the last batches, so a scanning process does not read
    and decode every active actor's state again for each batch. The cache is trusted only while
    the cursor is where this scanner left it (no other scanner ran in between)."""

    def __init__(self, config: AnomalyConfig) -> None:
        self.config = config
        self.rules = AnomalyRules(config)
        self._cache: dict[str, ActorState] = {}
        self._stored: set[str] = set()  # actors whose state row exists
        self._cache_seq: int | None = None
        self._pending_seq: int | None = None
        self.last_fired: list[int] = []

    def reset(self) -> None:
        self._cache.clear()
        self._stored.clear()
        self._cache_seq = None
        self._pending_seq = None

    def committed(self) -> None:
        """The batch's transaction committed: the cache now matches the database."""
        self._cache_seq = self._pending_seq
        if len(self._cache) > CACHE_LIMIT:
            self._cache.clear()
            self._stored.clear()

    # ------------------------------------------------------------------ one batch
    def scan_batch(
        self, session: Session, *, clock: Callable[[], datetime], limit: int = 5000
    ) -> BatchResult:
        """Process up to ``limit`` new entries in the caller's transaction.

        ``clock`` is read once, after the entries are read: alerts are stamped with the moment
        the scanner saw their entries (``fired_at``), not with when it queued for the lock."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._pending_seq = None
        cursor = _lock_cursor(session)
        if cursor is None:
            return BatchResult(busy=True)
        if self._cache_seq != cursor.last_seq:
            self._cache.clear()
            self._stored.clear()
        rows = session.execute(
            select(LOG.c.entry_id, LOG.c.seq, LOG.c.entry)
            .where(LOG.c.seq > cursor.last_seq)
            .order_by(LOG.c.seq)
            .limit(limit)
        ).all()
        now = clock()
        cursor.updated_at = now
        if not rows:
            self._pending_seq = cursor.last_seq
            return BatchResult(last_seq=cursor.last_seq, last_entry_id=cursor.last_entry_id)
        keys = self.config.large_export.size_keys
        watched = self.rules.watches
        accesses: list[Access] = []
        for entry_id, _seq, text in rows:
            access = parse_entry(entry_id, text, keys)
            if access.actor_id is not None and watched(access.role):
                accesses.append(access)
        self._load_states(session, {a.actor_id for a in accesses if a.actor_id})
        findings: list[Finding] = []
        dirty: dict[str, ActorState] = {}
        apply = self.rules.apply
        cache = self._cache
        for access in accesses:
            actor = access.actor_id
            assert actor is not None
            state = cache.get(actor)
            if state is None:
                state = cache[actor] = ActorState.new(access)
            dirty[actor] = state
            found = apply(state, access)
            if found:
                findings.extend(found)
        fired, extended = self._write_alerts(session, findings, now)
        self._write_states(session, dirty, now)
        last_entry_id, last_seq = rows[-1][0], rows[-1][1]
        cursor.last_seq = last_seq
        cursor.last_entry_id = last_entry_id
        cursor.processed += len(rows)
        self._pending_seq = last_seq
        return BatchResult(len(rows), len(fired), extended, last_seq, last_entry_id)

    def _load_states(self, session: Session, actors: set[str]) -> None:
        missing = [a for a in actors if a not in self._cache]
        for start in range(0, len(missing), 500):
            chunk = [uuid.UUID(a) for a in missing[start : start + 500]]
            for row in session.execute(
                select(STATES.c.actor_id, STATES.c.organisation_id, STATES.c.role, STATES.c.state)
                .where(STATES.c.actor_id.in_(chunk))
            ):
                key = str(row.actor_id)
                org = str(row.organisation_id) if row.organisation_id else None
                self._cache[key] = ActorState.load(key, org, row.role, row.state)
                self._stored.add(key)

    def _write_states(self, session: Session, dirty: dict[str, ActorState], now: datetime) -> None:
        inserts, updates = [], []
        for actor, state in dirty.items():
            row = {
                "b_actor_id": uuid.UUID(actor),
                "b_organisation_id": uuid.UUID(state.organisation_id)
                if state.organisation_id
                else None,
                "b_role": state.role,
                "b_state": state.dump(),
                "b_updated_at": now,
            }
            (updates if actor in self._stored else inserts).append(row)
        conn = session.connection()
        if inserts:
            conn.execute(
                insert(STATES).values(
                    actor_id=bindparam("b_actor_id"),
                    organisation_id=bindparam("b_organisation_id"),
                    role=bindparam("b_role"),
                    state=bindparam("b_state"),
                    updated_at=bindparam("b_updated_at"),
                ),
                inserts,
            )
            self._stored.update(str(r["b_actor_id"]) for r in inserts)
        if updates:
            conn.execute(
                update(STATES)
                .where(STATES.c.actor_id == bindparam("b_actor_id"))
                .values(
                    organisation_id=bindparam("b_organisation_id"),
                    role=bindparam("b_role"),
                    state=bindparam("b_state"),
                    updated_at=bindparam("b_updated_at"),
                ),
                updates,
            )

    def _write_alerts(
        self, session: Session, findings: Iterable[Finding], now: datetime
    ) -> tuple[list[int], int]:
        """New alerts are inserted; the evidence of alerts raised earlier is brought up to date
        (only while they are open: a dismissed alert stays as the officer left it)."""
        new: dict[tuple[str, str, int], dict[str, Any]] = {}
        later: dict[tuple[str, str, int], Finding] = {}
        extended = 0
        for f in findings:
            extended += f.extends
            key = (f.actor_id, f.rule.value, f.trigger_entry_id)
            if not f.extends:
                new[key] = _alert_row(f, now)
            elif key in new:
                row = new[key]
                row.update(
                    window_end=f.window_end, last_entry_id=f.last_entry_id, evidence=f.evidence
                )
            else:
                later[key] = f
        conn = session.connection()
        ids: list[int] = []
        for row in new.values():
            ids.append(conn.execute(insert(ALERTS).values(**row).returning(ALERTS.c.alert_id))
                       .scalar_one())
        if later:
            conn.execute(
                update(ALERTS)
                .where(
                    ALERTS.c.actor_id == bindparam("b_actor_id"),
                    ALERTS.c.rule == bindparam("b_rule"),
                    ALERTS.c.trigger_entry_id == bindparam("b_trigger"),
                    ALERTS.c.state == AlertState.OPEN.value,
                )
                .values(
                    window_end=bindparam("b_window_end"),
                    last_entry_id=bindparam("b_last"),
                    evidence=bindparam("b_evidence"),
                ),
                [
                    {
                        "b_actor_id": uuid.UUID(f.actor_id),
                        "b_rule": f.rule.value,
                        "b_trigger": f.trigger_entry_id,
                        "b_window_end": f.window_end,
                        "b_last": f.last_entry_id,
                        "b_evidence": dict(f.evidence),
                    }
                    for f in later.values()
                ],
            )
        self.last_fired = ids
        return ids, extended


def _alert_row(f: Finding, now: datetime) -> dict[str, Any]:
    return {
        "rule": f.rule.value,
        "actor_id": uuid.UUID(f.actor_id),
        "organisation_id": uuid.UUID(f.organisation_id) if f.organisation_id else None,
        "role": f.role,
        "fired_at": now,
        "window_start": f.window_start,
        "window_end": f.window_end,
        "first_entry_id": f.first_entry_id,
        "last_entry_id": f.last_entry_id,
        "trigger_entry_id": f.trigger_entry_id,
        "evidence": dict(f.evidence),
        "state": AlertState.OPEN.value,
    }


def _lock_cursor(session: Session) -> AnomalyCursor | None:
    """The cursor row, locked for this transaction; None when another scanner holds it."""
    found = session.execute(
        select(AnomalyCursor)
        .where(AnomalyCursor.name == CURSOR_NAME)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if found is not None:
        return found
    exists = session.execute(
        select(func.count()).select_from(AnomalyCursor).where(AnomalyCursor.name == CURSOR_NAME)
    ).scalar_one()
    if exists:
        return None  # locked by a scanner at work
    cursor = AnomalyCursor(
        name=CURSOR_NAME, last_seq=-1, last_entry_id=None, processed=0, updated_at=_EPOCH
    )
    try:
        with session.begin_nested():
            session.add(cursor)
            session.flush()
    except IntegrityError:
        return None  # another scanner created it at the same moment; next tick is ours
    return cursor


def scan(
    sessions: sessionmaker[Session],
    scanner: Scanner,
    *,
    now_fn: Callable[[], datetime],
    batch: int = 5000,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> ScanReport:
    """Batches, one transaction each, until the scanner has caught up with the sequenced log.

    A short batch ends the run, so a steady stream of new entries cannot keep it going for
    ever; run it again (``privguard cases scan --every``) to keep up."""
    report = ScanReport()
    while True:
        try:
            with unit_of_work(sessions) as session:
                result = scanner.scan_batch(session, clock=now_fn, limit=batch)
        except BaseException:
            scanner.reset()
            raise
        scanner.committed()
        report.batches += 1
        report.entries += result.entries
        report.fired += result.fired
        report.extended += result.extended
        report.alerts.extend(scanner.last_fired if result.fired else [])
        if result.busy:
            report.busy = True
            return report
        report.last_seq = result.last_seq
        if on_batch is not None and result.entries:
            on_batch(result)
        if result.entries < batch:
            return report


def cursor_position(session: Session) -> tuple[int, int]:
    """(last leaf index processed, entries processed so far); (-1, 0) before the first scan."""
    row = session.execute(
        select(AnomalyCursor.last_seq, AnomalyCursor.processed).where(
            AnomalyCursor.name == CURSOR_NAME
        )
    ).first()
    return (row.last_seq, row.processed) if row else (-1, 0)


# ---------------------------------------------------------------------------- alerts


def count_alerts(session: Session, organisation_id: uuid.UUID, since: datetime) -> int:
    """Alerts against an organisation's staff fired since ``since``, dismissed ones excepted
    (a false positive is not a mark on the merchant's record). For merchant supervision."""
    return session.execute(
        select(func.count())
        .select_from(ALERTS)
        .where(
            ALERTS.c.organisation_id == organisation_id,
            ALERTS.c.fired_at >= since,
            ALERTS.c.state != AlertState.DISMISSED.value,
        )
    ).scalar_one()


def list_alerts(
    session: Session,
    actor: ActorRef,
    *,
    state: AlertState | None = None,
    rule: Rule | None = None,
    actor_id: uuid.UUID | None = None,
    organisation_id: uuid.UUID | None = None,
    limit: int = 50,
    before: int | None = None,
) -> list[AccessAlert]:
    """Newest first; ``before`` is the last ``alert_id`` of the previous page."""
    require(actor, READERS, "alerts are for the protection officer, administrators and auditors")
    stmt = select(AccessAlert).order_by(AccessAlert.alert_id.desc()).limit(limit)
    if state is not None:
        stmt = stmt.where(AccessAlert.state == state.value)
    if rule is not None:
        stmt = stmt.where(AccessAlert.rule == rule.value)
    if actor_id is not None:
        stmt = stmt.where(AccessAlert.actor_id == actor_id)
    if organisation_id is not None:
        stmt = stmt.where(AccessAlert.organisation_id == organisation_id)
    if before is not None:
        stmt = stmt.where(AccessAlert.alert_id < before)
    return list(session.execute(stmt).scalars())


def alerts_by_id(session: Session, alert_ids: Iterable[int]) -> list[AccessAlert]:
    """For the scanner's own report (the CLI operator is a platform administrator)."""
    ids = list(alert_ids)
    if not ids:
        return []
    return list(
        session.execute(
            select(AccessAlert).where(AccessAlert.alert_id.in_(ids)).order_by(AccessAlert.alert_id)
        ).scalars()
    )


def get_alert(session: Session, alert_id: int, *, lock: bool = False) -> AccessAlert:
    stmt = select(AccessAlert).where(AccessAlert.alert_id == alert_id)
    if lock:
        stmt = stmt.with_for_update()
    alert = session.execute(stmt).scalar_one_or_none()
    if alert is None:
        raise AlertNotFound(alert_id)
    return alert


def open_alert(session: Session, actor: ActorRef, alert_id: int) -> AccessAlert:
    """The alert, locked, for a decision; refused unless it is still open."""
    require(actor, OFFICERS, "only the protection officer or an administrator decides alerts")
    alert = get_alert(session, alert_id, lock=True)
    if alert.state != AlertState.OPEN.value:
        raise AlertDecided(alert_id, alert.state)
    return alert


def dismiss_alert(
    session: Session, actor: ActorRef, alert_id: int, *, reason: str, now: datetime
) -> AccessAlert:
    """A false positive, closed with the reason (kept with who and when, and logged)."""
    alert = open_alert(session, actor, alert_id)
    text = clean_text(reason, "reason", required=True, limit=MAX_REASON)
    alert.state = AlertState.DISMISSED.value
    alert.reason = text
    alert.decided_by = actor.actor_id
    alert.decided_at = now
    log_operation(
        session,
        actor=actor,
        action="alert.dismiss",
        rule=RULE_ANOMALIES,
        reason="a false positive, dismissed with a reason",
        now=now,
        detail={"alert": alert.alert_id, "rule": alert.rule},
    )
    return alert
