"""Appending to the access log inside the caller's transaction (design.md invariants 2 and 5)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from privguard.audit.models import AccessLogEntry
from privguard.policy.rules import ActorRef, Decision
from privguard.store.deferred import defer_insert, flush_deferred

ACCESS_LOG = AccessLogEntry.__table__


def log_access(
    session: Session,
    *,
    actor: ActorRef,
    subject_id: uuid.UUID | None,
    action: str,
    purpose: str,
    decisions: Sequence[Decision],
    now: datetime,
) -> None:
    """Queue one row per gate decision set; it is written in this transaction, before commit.

    Runs on every read, so it costs a list append here and a share of one executemany later.
    """
    defer_insert(
        session,
        ACCESS_LOG,
        {
            "at": now,
            "actor_id": actor.actor_id,
            "role": actor.role.value,
            "organisation_id": actor.organisation_id,
            "subject_id": subject_id,
            "action": action,
            "purpose": purpose,
            "decisions": [d.log_entry for d in decisions],
        },
    )


def pending_written(session: Session) -> None:
    """Write queued entries now, before a query that must see them in this transaction."""
    flush_deferred(session)
