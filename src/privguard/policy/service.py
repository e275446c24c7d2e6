"""Gathering the facts a decision needs, then deciding with the pure rules.

Only the facts the candidate rules ask about are fetched: a platform role's read costs no
query at all, a merchant's read one small query on the subject's orders.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
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
    Role,
    View,
    relationships,
    under_sanction,
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

    def cross_border_granted(
        self, session: Session, subject_id: uuid.UUID, recipient: uuid.UUID, now: datetime
    ) -> bool: ...


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

    def cross_border_granted(
        self, session: Session, subject_id: uuid.UUID, recipient: uuid.UUID, now: datetime
    ) -> bool:
        return False


@dataclass(frozen=True)
class Cover:
    """What a recipient's agreements in force allow for one purpose."""

    fields: frozenset[str]
    cross_border: bool  # the recipient is abroad (PIPL Art. 38-39)


class AgreementLookup(Protocol):
    """The cover of an organisation's agreements for a purpose, or None without one
    (sharing/service.py answers it)."""

    def cover(
        self, session: Session, organisation_id: uuid.UUID, purpose: str, now: datetime
    ) -> Cover | None: ...


class NoAgreements:
    def cover(
        self, session: Session, organisation_id: uuid.UUID, purpose: str, now: datetime
    ) -> Cover | None:
        return None


class RequestLookup(Protocol):
    """Whether the subject has a verified request in progress that ``action`` carries out
    (rights/service.py answers it), so the officer's power to change or erase a record exists
    only while a consumer's request asks for it."""

    def verified(self, session: Session, subject_id: uuid.UUID, action: Action) -> bool: ...


class NoRequests:
    def verified(self, session: Session, subject_id: uuid.UUID, action: Action) -> bool:
        return False


class SanctionLookup(Protocol):
    """The sanction in force on an organisation ("warning", "masked_only", "suspended") or
    None (cases/supervision.py answers it)."""

    def sanction(
        self, session: Session, organisation_id: uuid.UUID, now: datetime
    ) -> str | None: ...


class NoSanctions:
    def sanction(self, session: Session, organisation_id: uuid.UUID, now: datetime) -> str | None:
        return None


# Roles whose organisation the platform supervises (E-Commerce Law Art. 29; PIPL Art. 58).
SUPERVISED = frozenset({Role.MERCHANT_STAFF})


class AccessPolicy:
    """The policy plus the lookups its conditions need; used by the vault's gate."""

    def __init__(
        self,
        policy: Policy,
        consent: ConsentLookup | None = None,
        agreements: AgreementLookup | None = None,
        requests: RequestLookup | None = None,
        sanctions: SanctionLookup | None = None,
    ) -> None:
        self.policy = policy
        self.consent = consent or NoConsentRecorded()
        self.agreements = agreements or NoAgreements()
        self.requests = requests or NoRequests()
        self.sanctions = sanctions or NoSanctions()

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
        open_ticket: bool | None = None,
    ) -> Facts:
        """What the policy's conditions need to know about this actor and subject, read from
        the database; ``orders`` and ``open_ticket`` when the caller has already read them."""
        needed, consent = self.policy.needed_relationships(actor.role, action, purpose, fields)
        sanction = (
            self.sanctions.sanction(session, actor.organisation_id, now)
            if actor.role in SUPERVISED and actor.organisation_id is not None
            else None
        )
        if not needed and not consent:
            return Facts(sanction=sanction)
        if subject_id is not None and needed & ORDER_RELATIONSHIPS and orders is None:
            orders = order_facts(session, subject_id)
        ticket = (
            subject_id is not None
            and Relationship.OPEN_TICKET in needed
            and (has_open_ticket(session, subject_id) if open_ticket is None else open_ticket)
        )
        cover = (
            self.agreements.cover(session, actor.organisation_id, purpose, now)
            if Relationship.SHARING_AGREEMENT in needed and actor.organisation_id is not None
            else None
        )
        agreements = frozenset({actor.organisation_id}) if cover is not None else frozenset()
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
        abroad = (
            cover is not None
            and cover.cross_border
            and subject_id is not None
            and actor.organisation_id is not None
            and not self.consent.cross_border_granted(
                session, subject_id, actor.organisation_id, now
            )
        )
        return Facts(
            rels & needed,
            consents,
            agreement_fields=cover.fields if cover is not None else None,
            cross_border_unconsented=abroad,
            sanction=sanction,
        )

    def needs_open_ticket(
        self, actor: ActorRef, action: Action, purpose: str, fields: Iterable[str]
    ) -> bool:
        """Whether :meth:`facts` would ask if the subject has an open ticket."""
        needed, _ = self.policy.needed_relationships(actor.role, action, purpose, fields)
        return Relationship.OPEN_TICKET in needed

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
        decisions = [policy.decide(actor.role, action, purpose, f, view, facts) for f in fields]
        if facts.sanction is not None:
            decisions = [under_sanction(d, facts.sanction) for d in decisions]
        return decisions
