"""Legal holds: deletion suspended for a named subject (a dispute, an investigation).

While a hold is in force (not released, not expired) the retention run deletes none of the
subject's data, and an erasure of the subject still shreds its key but keeps every field
restricted until the later of its own retention and the hold's expiry, naming the hold as the
reason (vault/service.py ``erase``). When the hold is released or expires, the next retention
run deletes what it kept. Holds are the protection officer's: every change is recorded in the
table with who and why and logged with ``log_operation``. Services take the caller's session
and never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from privguard.audit.service import log_operation
from privguard.policy.rules import ActorRef
from privguard.rights.lifecycle import TransitionRefused
from privguard.rights.retention_models import LegalHold
from privguard.rights.service import OFFICERS, RequestNotFound
from privguard.vault.errors import AccessDenied, FieldError, InvalidPI, SubjectNotFound
from privguard.vault.models import Subject

RULE_HOLDS = "retention.legal-holds"
MAX_REASON = 500


class HoldState(StrEnum):
    ACTIVE = "active"
    RELEASED = "released"
    EXPIRED = "expired"


def state_of(hold: LegalHold, at: datetime) -> HoldState:
    if hold.released_at is not None:
        return HoldState.RELEASED
    return HoldState.ACTIVE if hold.expires_at > at else HoldState.EXPIRED


class HoldNotFound(RequestNotFound):
    """No such hold (answered 404, like a missing request)."""

    code = "legal_hold.not_found"

    def __init__(self, hold_id: uuid.UUID) -> None:
        LookupError.__init__(self, f"no legal hold {hold_id}")


class HoldAlreadyReleased(TransitionRefused):
    """A hold is released once; answered 409."""

    code = "legal_hold.released"

    def __init__(self, hold_id: uuid.UUID) -> None:
        ValueError.__init__(self, f"legal hold {hold_id} is already released")


def end_of(day: date) -> datetime:
    """``--until 2027-06-30`` holds through that whole day (UTC)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def _officer(actor: ActorRef) -> None:
    if actor.role not in OFFICERS:
        raise AccessDenied(RULE_HOLDS, "legal holds are the protection officer's")


def _reason(value: str, field_name: str) -> str:
    text = " ".join((value or "").split())
    if not text:
        raise InvalidPI([FieldError(field_name, "legal_hold.reason_required", "is required")])
    if len(text) > MAX_REASON:
        raise InvalidPI(
            [
                FieldError(
                    field_name,
                    "legal_hold.reason_too_long",
                    f"must be at most {MAX_REASON} characters",
                )
            ]
        )
    return text


def place_hold(
    session: Session,
    actor: ActorRef,
    subject_id: uuid.UUID,
    *,
    reason: str,
    until: datetime,
    now: datetime,
) -> LegalHold:
    """Suspend deletion of one subject's data until ``until`` (required: a hold that never
    ends would defeat PIPL Art. 19's shortest retention). The reason is shown to the consumer
    in a deletion statement, so it names the matter, not other people."""
    _officer(actor)
    text = _reason(reason, "reason")
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    if until <= now:
        raise InvalidPI([FieldError("until", "legal_hold.until_past", "must be in the future")])
    # Lock the subject's row: a retention batch that locked it first finishes before the hold
    # exists; one that comes after sees the hold (vault/retention.py ``expire``).
    found = session.execute(
        select(Subject.subject_id).where(Subject.subject_id == subject_id).with_for_update()
    ).scalar_one_or_none()
    if found is None:
        raise SubjectNotFound(subject_id)
    hold = LegalHold(
        hold_id=uuid.uuid4(),
        subject_id=subject_id,
        reason=text,
        created_by=actor.actor_id,
        created_at=now,
        expires_at=until,
    )
    session.add(hold)
    session.flush()
    log_operation(
        session,
        actor=actor,
        action="legal_hold.place",
        rule=RULE_HOLDS,
        reason="deletion suspended for a named subject",
        now=now,
        detail={
            "hold_id": str(hold.hold_id),
            "subject_id": str(subject_id),
            "until": until.isoformat(),
        },
    )
    return hold


def release_hold(
    session: Session, actor: ActorRef, hold_id: uuid.UUID, *, reason: str, now: datetime
) -> LegalHold:
    """End a hold early; the next retention run deletes whatever it was keeping."""
    _officer(actor)
    text = _reason(reason, "reason")
    hold = session.execute(
        select(LegalHold).where(LegalHold.hold_id == hold_id).with_for_update()
    ).scalar_one_or_none()
    if hold is None:
        raise HoldNotFound(hold_id)
    if hold.released_at is not None:
        raise HoldAlreadyReleased(hold_id)
    hold.released_at = now
    hold.released_by = actor.actor_id
    hold.release_reason = text
    session.flush()
    log_operation(
        session,
        actor=actor,
        action="legal_hold.release",
        rule=RULE_HOLDS,
        reason="legal hold released",
        now=now,
        detail={"hold_id": str(hold.hold_id), "subject_id": str(hold.subject_id)},
    )
    return hold


def list_holds(
    session: Session,
    actor: ActorRef,
    *,
    now: datetime,
    active_only: bool = False,
    subject_id: uuid.UUID | None = None,
) -> list[LegalHold]:
    """Holds, the soonest to expire first (the officer reviews them before they lapse)."""
    _officer(actor)
    stmt = select(LegalHold).order_by(LegalHold.expires_at, LegalHold.hold_id)
    if active_only:
        stmt = stmt.where(LegalHold.released_at.is_(None), LegalHold.expires_at > now)
    if subject_id is not None:
        stmt = stmt.where(LegalHold.subject_id == subject_id)
    return list(session.execute(stmt).scalars())


@dataclass(frozen=True)
class HoldView:
    """A hold as the CLI and the API show it."""

    hold_id: uuid.UUID
    subject_id: uuid.UUID
    state: HoldState
    reason: str
    created_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    released_at: datetime | None
    released_by: uuid.UUID | None
    release_reason: str | None


def view(hold: LegalHold, now: datetime) -> HoldView:
    return HoldView(
        hold_id=hold.hold_id,
        subject_id=hold.subject_id,
        state=state_of(hold, now),
        reason=hold.reason,
        created_by=hold.created_by,
        created_at=hold.created_at,
        expires_at=hold.expires_at,
        released_at=hold.released_at,
        released_by=hold.released_by,
        release_reason=hold.release_reason,
    )
