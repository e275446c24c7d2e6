"""Gathering the facts a decision needs, then deciding with the pure rules.

Only the facts the candidate rules ask about are fetched: a platform role's read costs no
query at all, a merchant's read one small query on the subject's orders.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from privguard.marketplace.service import has_open_ticket, order_facts
from privguard.policy.rules import (
    Action,
    ActorRef,
    Decision,
    Facts,
    OrderFacts,
    Policy,
    Relationship,
    View,
    relationships,
)

ORDER_RELATIONSHIPS = frozenset({Relationship.MERCHANT_ORDER, Relationship.ASSIGNED_SHIPMENT})


class ConsentLookup(Protocol):
    """Which of these purposes the consumer has consented to, now, for this recipient (the
    asking actor's organisation: sharing needs a consent naming the recipient). The ledger in
    consent/service.py answers it."""

    def granted(
        self,
        session: Session,
        subject_id: uuid.UUID,
        purposes: frozenset[str],
        now: datetime,
        recipient: uuid.UUID | None = None,
    ) -> frozenset[str]: ...


class NoConsentRecorded:
    """Every consent condition false: what tests and tools without a ledger get."""

    def granted(
        self,
        session: Session,
        subject_id: uuid.UUID,
        purposes: frozenset[str],
        now: datetime,
        recipient: uuid.UUID | None = None,
    ) -> frozenset[str]:
        return frozenset()


class AgreementLookup(Protocol):
    """Organisations holding a sharing agreement that covers this purpose (issue 6)."""

    def recipients(self, session: Session, purpose: str, now: datetime) -> frozenset[uuid.UUID]: ...


class NoAgreements:
    def recipients(self, session: Session, purpose: str, now: datetime) -> frozenset[uuid.UUID]:
        return frozenset()


class RequestLookup(Protocol):
    """Whether the subject has a verified request in progress that ``action`` carries out
    (rights/service.py answers it), so the officer's power to change or erase a record exists
    only while a consumer's request asks for it."""

    def verified(self, session: Session, subject_id: uuid.UUID, action: Action) -> bool: ...


class NoRequests:
    def verified(self, session: Session, subject_id: uuid.UUID, action: Action) -> bool:
        return False


class AccessPolicy:
    """The policy plus the lookups its conditions need; used by the vault's gate."""

    def __init__(
        self,
        policy: Policy,
        consent: ConsentLookup | None = None,
        agreements: AgreementLookup | None = None,
        requests: RequestLookup | None = None,
    ) -> None:
        self.policy = policy
        self.consent = consent or NoConsentRecorded()
        self.agreements = agreements or NoAgreements()
        self.requests = requests or NoRequests()

    def facts(
        self,
        session: Session,
        actor: ActorRef,
        action: Action,
        purpose: str,
        fields: Iterable[str],
        subject_id: uuid.UUID | None,
        now: datetime,
        *,
        orders: list[OrderFacts] | None = None,
    ) -> Facts:
        needed, consent = self.policy.needed_relationships(actor.role, action, purpose, fields)
        if not needed and not consent:
            return Facts()
        if subject_id is not None and needed & ORDER_RELATIONSHIPS and orders is None:
            orders = order_facts(session, subject_id)
        ticket = (
            subject_id is not None
            and Relationship.OPEN_TICKET in needed
            and has_open_ticket(session, subject_id)
        )
        agreements = (
            self.agreements.recipients(session, purpose, now)
            if Relationship.SHARING_AGREEMENT in needed
            else frozenset()
        )
        verified = (
            subject_id is not None
            and Relationship.VERIFIED_REQUEST in needed
            and self.requests.verified(session, subject_id, action)
        )
        rels = relationships(
            actor,
            subject_id,
            orders or [],
            ticket,
            now,
            self.policy.windows,
            agreements=agreements,
            verified_request=verified,
        )
        consents = (
            self.consent.granted(
                session, subject_id, frozenset({purpose}), now, actor.organisation_id
            )
            if consent and subject_id is not None
            else frozenset()
        )
        return Facts(rels & needed, consents)

    def decide(
        self,
        actor: ActorRef,
        action: Action,
        purpose: str,
        fields: Iterable[str],
        view: View,
        facts: Facts,
    ) -> list[Decision]:
        policy = self.policy
        return [policy.decide(actor.role, action, purpose, f, view, facts) for f in fields]
