"""Appending to the access log inside the caller's transaction (design.md invariants 2 and 5)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from privguard.audit.models import AccessLogEntry
from privguard.policy.rules import ActorRef, Decision


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
    """One row per gate decision set. Core insert: this runs on every read, so it stays cheap."""
    session.execute(
        insert(AccessLogEntry),
        [
            {
                "at": now,
                "actor_id": actor.actor_id,
                "role": actor.role.value,
                "organisation_id": actor.organisation_id,
                "subject_id": subject_id,
                "action": action,
                "purpose": purpose,
                "decisions": [d.as_log() for d in decisions],
            }
        ],
    )
