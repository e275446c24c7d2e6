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

from privguard.audit.context import current_network, current_request_id
from privguard.audit.entry import entry_json
from privguard.audit.models import AccessLogEntry
from privguard.ops.metrics import count_decisions
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
    Inside an HTTP request the caller's network (/24 or /48, audit/context.py) is added to the
    detail as ``net``; entries written elsewhere (CLI, jobs) carry no ``net``, as before.
    """
    net = current_network()
    if net is not None and (detail is None or "net" not in detail):
        detail = {**detail, "net": net} if detail else {"net": net}
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
    count_decisions(action, [(d.rule, d.view.value) for d in decisions])
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
