"""Recording consent and answering "may we?" from the ledger.

Every grant and withdrawal is one appended event in the caller's transaction; the state is
derived from the events on each question, so a withdrawal takes effect for the very next
decision in any process (PIPL Art. 15), with nothing cached across requests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from privguard.audit.context import current_request_id
from privguard.catalog.model import Catalog
from privguard.consent.models import ConsentEvent, Guardianship
from privguard.consent.notices import latest_notice, material_changes
from privguard.consent.rules import (
    WITHDRAW_ONLY,
    Action,
    Channel,
    ConsentRecord,
    Kind,
    Status,
    consented_purposes,
    current_states,
    is_minor,
    topic,
)
from privguard.marketplace.models import Organisation
from privguard.policy.rules import ActorRef, Policy, Role, View
from privguard.vault.errors import AccessDenied, FieldError, InvalidPI, SubjectNotFound
from privguard.vault.models import Subject

if TYPE_CHECKING:
    from privguard.vault.service import Vault

EVENTS = ConsentEvent.__table__
RULE_SELF_ONLY = "consent.self-or-guardian"
RULE_GUARDIAN = "consent.guardian-required"
RULE_WITHDRAW_ONLY = "consent.withdraw-only-channel"
# The age check reads the birth date through the gate like any other read, so it is logged.
AGE_CHECKER = ActorRef(actor_id=None, role=Role.PLATFORM_ADMIN, display_name="consent service")
AGE_PURPOSE = "legal_obligation"

_EVENTS_OF = (
    select(
        EVENTS.c.kind,
        EVENTS.c.target,
        EVENTS.c.action,
        EVENTS.c.at,
        EVENTS.c.notice_version,
        EVENTS.c.expires_at,
    )
    .where(EVENTS.c.subject_id == bindparam("sid"))
    .order_by(EVENTS.c.event_id)
)


@dataclass(frozen=True)
class ConsentRequest:
    """One consent answer: exactly one topic (no bundling, PIPL Art. 14 and 23)."""

    subject_id: uuid.UUID
    kind: Kind
    target: str
    action: Action
    channel: Channel
    text_shown: str
    notice_version: int | None = None
    expires_at: datetime | None = None


class ConsentLedger:
    """The ledger for one policy and catalog; it is also the gate's consent lookup."""

    def __init__(self, policy: Policy, catalog: Catalog) -> None:
        self.policy = policy
        self.catalog = catalog
        # Called with the subject id after each recorded event (caches drop that subject).
        self.listeners: list[Callable[[uuid.UUID], None]] = []
        # Called for each withdrawal in its transaction (session, subject, kind, target, now):
        # sharing/ tells the recipients that received the data to stop (PIPL Art. 15, 23).
        self.withdrawal_hooks: list[
            Callable[[Session, uuid.UUID, Kind, str, datetime], None]
        ] = []

    # ---------------------------------------------------------------- what may be consented
    def optional_purposes(self) -> list[str]:
        """Purposes beyond what the transaction needs: each needs its own consent."""
        return [p.name for p in self.policy.purposes.values() if not p.necessary]

    def _check_target(self, session: Session, kind: Kind, target: str) -> None:
        def bad(rule: str, message: str) -> InvalidPI:
            return InvalidPI([FieldError("target", rule, message)])

        if kind is Kind.PURPOSE:
            if target not in self.optional_purposes():
                raise bad(
                    "consent.not_optional",
                    "must be a purpose that needs consent: " + ", ".join(self.optional_purposes()),
                )
        elif kind in (Kind.THIRD_PARTY, Kind.CROSS_BORDER):
            try:
                org = session.get(Organisation, uuid.UUID(target))
            except ValueError:
                org = None
            if org is None or org.kind not in ("partner", "carrier", "merchant"):
                raise bad("consent.unknown_recipient", "must name a registered recipient")
        elif kind is Kind.SENSITIVE:
            spec = self.catalog.fields.get(target)
            if spec is None or not spec.sensitive:
                raise bad("consent.not_sensitive", "must name a sensitive catalog field")
        elif kind is Kind.PUBLIC_DISCLOSURE and target not in self.catalog:
            raise bad("consent.unknown_field", "must name a catalog field")

    # ---------------------------------------------------------------- recording
    def record(
        self,
        session: Session,
        actor: ActorRef,
        request: ConsentRequest,
        *,
        now: datetime,
        birth_date: date | None,
    ) -> int:
        """Append one event; returns its id. ``birth_date`` comes from :meth:`birth_date`."""
        subject = session.get(Subject, request.subject_id)
        if subject is None or subject.status != "active":
            raise SubjectNotFound(request.subject_id)
        guardian = self._acting_guardian(session, actor, request.subject_id)
        own = actor.role is Role.CONSUMER and actor.subject_id == request.subject_id
        if request.action is Action.GRANTED:
            if request.channel in WITHDRAW_ONLY:
                raise AccessDenied(
                    RULE_WITHDRAW_ONLY, f"a consent cannot be given through {request.channel}"
                )
            if not own and guardian is None:
                raise AccessDenied(RULE_SELF_ONLY, "only the consumer or their guardian consents")
            if guardian is None and is_minor(birth_date, now.date()):
                raise AccessDenied(
                    RULE_GUARDIAN,
                    "the consumer is under 14: a guardian must give this consent (PIPL Art. 31)",
                )
        elif not (own or guardian is not None or self._may_relay_withdrawal(actor, request)):
            raise AccessDenied(RULE_SELF_ONLY, "only the consumer, a guardian or a relay")
        self._check_target(session, request.kind, request.target)
        notice_hash = None
        if request.action is Action.GRANTED:
            notice_hash = self._current_notice_hash(session, request.notice_version)
            if not request.text_shown.strip():
                raise InvalidPI(
                    [
                        FieldError(
                            "text_shown",
                            "required.empty",
                            "must hold the exact text the consumer answered",
                        )
                    ]
                )
        event = ConsentEvent(
            subject_id=request.subject_id,
            kind=request.kind.value,
            target=request.target,
            action=request.action.value,
            at=now,
            expires_at=request.expires_at,
            notice_version=request.notice_version if request.action is Action.GRANTED else None,
            notice_hash=notice_hash,
            channel=request.channel.value,
            text_shown=request.text_shown,
            actor_id=actor.actor_id,
            guardian_subject_id=guardian,
            request_id=current_request_id(),
        )
        session.add(event)
        session.flush()
        if request.action is Action.WITHDRAWN:
            for hook in self.withdrawal_hooks:
                hook(session, request.subject_id, request.kind, request.target, now)
        for listener in self.listeners:
            listener(request.subject_id)
        return event.event_id

    def _may_relay_withdrawal(self, actor: ActorRef, request: ConsentRequest) -> bool:
        """Customer service records a withdrawal asked for on the phone; the platform's own
        inbound hooks record unsubscribe replies and Sec-GPC; the protection officer carries
        out a verified consent-withdrawal request."""
        if request.channel is Channel.SUPPORT:
            return actor.role is Role.CUSTOMER_SERVICE
        if request.channel is Channel.REQUEST:
            return actor.role in (Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN)
        return request.channel in WITHDRAW_ONLY and actor.role is Role.PLATFORM_ADMIN

    def _acting_guardian(
        self, session: Session, actor: ActorRef, subject_id: uuid.UUID
    ) -> uuid.UUID | None:
        if actor.role is not Role.CONSUMER or actor.subject_id is None:
            return None
        if actor.subject_id == subject_id:
            return None
        found = session.get(Guardianship, (subject_id, actor.subject_id))
        return actor.subject_id if found is not None else None

    def _current_notice_hash(self, session: Session, version: int | None) -> str:
        """Consent is informed only against the notice in force: the latest version."""
        latest = latest_notice(session)
        if latest is None:
            raise InvalidPI(
                [
                    FieldError(
                        "notice_version",
                        "notice.none_published",
                        "no privacy notice is published yet",
                    )
                ]
            )
        if version != latest.version:
            raise InvalidPI(
                [
                    FieldError(
                        "notice_version",
                        "notice.not_current",
                        f"must be the notice in force, version {latest.version}",
                    )
                ]
            )
        return latest.content_hash

    def birth_date(
        self, session: Session, vault: Vault, subject_id: uuid.UUID, now: datetime
    ) -> date | None:
        """The subject's birth date, read through the gate (and so logged), for the age check."""
        result = vault.read(
            session,
            AGE_CHECKER,
            subject_id,
            fields=["date_of_birth"],
            purpose=AGE_PURPOSE,
            view=View.PLAIN,
            now=now,
        )
        value = result.values.get("date_of_birth")
        if value is None or not value.present:
            return None
        return date.fromisoformat(str(value.value))

    # ---------------------------------------------------------------- asking
    def states(self, session: Session, subject_id: uuid.UUID, now: datetime) -> dict[str, Status]:
        conn = session.connection()
        events = [
            ConsentRecord(r.kind, r.target, Action(r.action), r.at, r.notice_version, r.expires_at)
            for r in conn.execute(_EVENTS_OF, {"sid": subject_id})
        ]
        return current_states(events, self.material(session), now)

    def material(self, session: Session) -> list[tuple[int, frozenset[str]]]:
        """(version, topics to ask again) of every material notice change."""
        return [(m.version, m.affected) for m in material_changes(session)]

    def granted(
        self,
        session: Session,
        subject_id: uuid.UUID,
        purposes: frozenset[str],
        now: datetime,
        recipient: uuid.UUID | None = None,
    ) -> frozenset[str]:
        """The gate's question (policy/service.ConsentLookup)."""
        states = self.states(session, subject_id, now)
        return consented_purposes(states, purposes, str(recipient) if recipient else None)

    def cross_border_granted(
        self, session: Session, subject_id: uuid.UUID, recipient: uuid.UUID, now: datetime
    ) -> bool:
        """The separate consent to a transfer abroad to this recipient (PIPL Art. 39)."""
        status = self.states(session, subject_id, now).get(
            topic(Kind.CROSS_BORDER, str(recipient))
        )
        return status is not None and status.current
