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
from privguard.vault.errors import AccessDenied, Concealed


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
    allowed = decision.allowed and exists
    rows = merchant_customers(session, merchant_id, limit=limit, after=after) if allowed else []
    detail: dict[str, object] = {"merchant": str(merchant_id)}
    if allowed:
        detail["count"] = len(rows)
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
    if not exists:
        raise MerchantNotFound(merchant_id)
    if not decision.allowed:
        if policy.conceals(actor.role) and not own:
            # Committed like any refusal, but answered as if the merchant did not exist.
            missing = MerchantNotFound(merchant_id)
            raise Concealed(missing.code, str(missing), decision.rule, decision.reason)
        raise AccessDenied(decision.rule, decision.reason)
    return [CustomerRow(*r) for r in rows]
