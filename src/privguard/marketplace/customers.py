"""A merchant's customer list: the merchant's trade secret and its customers' privacy at once.

Merchants see only their own list; platform staff reach any list only through an audited
purpose (fraud, legal duty), and every listing is in the access log with the merchant's id.
A merchant asking for another merchant's list is told that merchant does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from privguard.audit.service import log_access
from privguard.marketplace.errors import MerchantNotFound
from privguard.marketplace.service import merchant_customers, organisation
from privguard.policy.rules import Action, ActorRef, Facts, Relationship, View
from privguard.policy.service import AccessPolicy
from privguard.vault.errors import AccessDenied


@dataclass(frozen=True)
class CustomerRow:
    subject_id: uuid.UUID
    orders: int
    last_order_at: datetime


def list_customers(
    session: Session,
    access: AccessPolicy,
    actor: ActorRef,
    merchant_id: uuid.UUID,
    *,
    purpose: str,
    now: datetime,
    limit: int,
    after: uuid.UUID | None = None,
) -> list[CustomerRow]:
    policy = access.policy
    own = actor.organisation_id == merchant_id
    facts = Facts(frozenset({Relationship.OWN_MERCHANT}) if own else frozenset())
    decision = policy.decide(actor.role, Action.LIST, purpose, "*", View.MASKED, facts)
    merchant = organisation(session, merchant_id)
    exists = merchant is not None and merchant.kind == "merchant"
    detail = {"merchant": str(merchant_id)}
    if not decision.allowed or not exists:
        log_access(
            session,
            actor=actor,
            subject_id=None,
            action=Action.LIST,
            purpose=purpose,
            decisions=[decision],
            now=now,
            detail=detail,
        )
        if not exists or (policy.conceals(actor.role) and not own):
            raise MerchantNotFound(merchant_id)
        raise AccessDenied(decision.rule, decision.reason)
    rows = merchant_customers(session, merchant_id, limit=limit, after=after)
    log_access(
        session,
        actor=actor,
        subject_id=None,
        action=Action.LIST,
        purpose=purpose,
        decisions=[decision],
        now=now,
        detail={**detail, "count": len(rows)},
    )
    return [CustomerRow(*r) for r in rows]
