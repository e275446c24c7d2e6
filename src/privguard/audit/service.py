"""Appending to the access log inside the caller's transaction (design.md invariants 2 and 5).

Writers only append rows with no leaf index; they never touch the Merkle tree, so API workers
do not queue behind one another. The sequencer (audit/sequencer.py) integrates them later.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from privguard.audit.context import current_request_id
from privguard.audit.entry import entry_json
from privguard.audit.models import AccessLogEntry
from privguard.policy.rules import ActorRef, Decision, View
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
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Queue one entry; it is written in this transaction, before commit.

    Runs on every read, so it costs one JSON encoding here and a share of one executemany later.
    """
    text = entry_json(
        at=now,
        actor_id=actor.actor_id,
        role=actor.role.value,
        organisation_id=actor.organisation_id,
        subject_id=subject_id,
        action=action,
        purpose=purpose,
        request_id=current_request_id(),
        decision_fragments=[d.log_json for d in decisions],
        detail=detail or {},
    )
    defer_insert(
        session,
        ACCESS_LOG,
        {
            "seq": None,
            "at": now,
            "actor_id": actor.actor_id,
            "organisation_id": actor.organisation_id,
            "subject_id": subject_id,
            "entry": text,
            "leaf_hash": None,
        },
    )


def pending_written(session: Session) -> None:
    """Write queued entries now, before a query that must see them in this transaction."""
    flush_deferred(session)


def log_operation(
    session: Session,
    *,
    actor: ActorRef,
    action: str,
    rule: str,
    reason: str,
    now: datetime,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Record an operation on no one customer in particular (key rotation, a retired key)."""
    log_access(
        session,
        actor=actor,
        subject_id=None,
        action=action,
        purpose="operations",
        decisions=[Decision("*", View.PLAIN, rule, reason)],
        now=now,
        detail=detail,
    )
