"""Recipients, agreements and transfers: PI leaves the platform only through the vault's gate,
under an agreement in force, within its fields, with the separate consents PIPL asks for.

How the pieces meet:
- the gate's policy asks :meth:`Sharing.cover` for the ``sharing_agreement`` relationship and
  learns the fields the agreement lets out and whether the recipient is abroad (policy/rules.py
  refuses the rest, field by field, with a rule that says why);
- every allowed read by a third party (role ``partner``) is recorded as a :class:`Transfer` by
  the vault's disclosure listener, whichever route made it, so "who has my data" is complete;
- deletions, corrections and consent withdrawals leave a :class:`RecipientNotice` for each
  recipient that received the subject's data, in the same transaction as the change.

Services take the caller's session and never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from privguard.audit.service import log_access, log_operation
from privguard.catalog.model import Catalog
from privguard.consent.rules import Kind
from privguard.marketplace.errors import MarketplaceNotFound
from privguard.marketplace.models import Organisation
from privguard.policy.rules import ActorRef, Decision, Policy, Role, View
from privguard.policy.service import Cover
from privguard.sharing.models import (
    Agreement,
    AgreementTask,
    Recipient,
    RecipientNotice,
    Transfer,
)
from privguard.sharing.rules import (
    Category,
    NoticeEvent,
    ProcessorRole,
    Terms,
    fields_covered,
    is_cross_border,
    outside,
    return_due,
)
from privguard.vault.errors import (
    AccessDenied,
    FieldError,
    InvalidPI,
    SubjectErased,
    SubjectNotFound,
)
from privguard.vault.service import FieldValue, Vault

REGISTRARS = frozenset({Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN})
READERS = REGISTRARS | {Role.AUDITOR}
RULE_REGISTRY = "sharing.registry"
RULE_NO_AGREEMENT = "sharing.no-agreement"
RULE_NOT_YOURS = "sharing.not-your-recipient"
RULE_OUTSIDE = "sharing.outside-agreement"
RECIPIENT_KINDS = frozenset({"partner", "carrier"})


class RecipientNotFound(MarketplaceNotFound):
    code = "recipient_not_found"


class AgreementNotFound(MarketplaceNotFound):
    code = "agreement_not_found"


def _bad(field_name: str, rule: str, message: str) -> InvalidPI:
    return InvalidPI([FieldError(field_name, rule, message)])


def _terms(a: Agreement) -> Terms:
    return Terms(
        frozenset(a.purposes), frozenset(a.fields), a.starts_at, a.ends_at, a.terminated_at
    )


@dataclass(frozen=True)
class Shared:
    """One subject's part of a transfer: the values that left, or why nothing did."""

    subject_id: uuid.UUID
    values: dict[str, FieldValue] = field(default_factory=dict)
    refused: list[Decision] = field(default_factory=list)
    error: str | None = None


class Sharing:
    def __init__(self, vault: Vault, policy: Policy, catalog: Catalog, home: str) -> None:
        self.vault = vault
        self.policy = policy
        self.catalog = catalog
        self.home = home.upper()

    # ------------------------------------------------------------------ registry
    def register(
        self,
        session: Session,
        actor: ActorRef,
        *,
        organisation_id: uuid.UUID,
        legal_entity: str,
        contact: str,
        country: str,
        processor_role: str,
        category: str,
        now: datetime,
    ) -> Recipient:
        """Register an organisation (a partner or carrier) as a recipient."""
        self._require(actor, REGISTRARS, "the protection officer or an operator registers")
        org = session.get(Organisation, organisation_id)
        problems: list[FieldError] = []
        if org is None or org.kind not in RECIPIENT_KINDS:
            problems.append(FieldError("organisation_id", "recipient.organisation",
                                       "must be a registered partner or carrier"))
        if session.get(Recipient, organisation_id) is not None:
            problems.append(FieldError("organisation_id", "recipient.duplicate",
                                       "is already a recipient"))
        country = country.strip().upper()
        if country not in phonenumbers.SUPPORTED_REGIONS:
            problems.append(FieldError("country", "recipient.country",
                                       "must be an ISO 3166-1 alpha-2 country code"))
        for name, value, allowed in (("processor_role", processor_role, ProcessorRole),
                                     ("category", category, Category)):
            if value not in {v.value for v in allowed}:
                problems.append(FieldError(name, f"recipient.{name}", "must be one of "
                                           + ", ".join(v.value for v in allowed)))
        for name, value in (("legal_entity", legal_entity), ("contact", contact)):
            if not value.strip() or len(value) > 200:
                problems.append(FieldError(name, "required.text", "1 to 200 characters"))
        if problems:
            raise InvalidPI(problems)
        recipient = Recipient(
            recipient_id=organisation_id,
            legal_entity=legal_entity.strip(),
            contact=contact.strip(),
            country=country,
            processor_role=processor_role,
            category=category,
            registered_at=now,
            registered_by=actor.actor_id,
        )
        session.add(recipient)
        session.flush()
        log_operation(session, actor=actor, action="recipient.register", rule=RULE_REGISTRY,
                      reason="a recipient was registered", now=now,
                      detail={"recipient": str(organisation_id), "country": country})
        return recipient

    def recipients(self, session: Session, actor: ActorRef) -> list[Recipient]:
        self._require(actor, READERS, "the registry is for the officer, operators, auditors")
        return list(session.execute(select(Recipient).order_by(Recipient.legal_entity)).scalars())

    def recipient(self, session: Session, recipient_id: uuid.UUID) -> Recipient:
        found = session.get(Recipient, recipient_id)
        if found is None:
            raise RecipientNotFound(f"no recipient {recipient_id}")
        return found

    def add_agreement(
        self,
        session: Session,
        actor: ActorRef,
        recipient_id: uuid.UUID,
        *,
        reference: str,
        purposes: Sequence[str],
        fields: Sequence[str],
        retention_days: int,
        sub_processing: bool,
        starts_at: datetime,
        ends_at: datetime,
        now: datetime,
    ) -> Agreement:
        """Record an agreement: it is what lets data out, so every name in it is checked."""
        self._require(actor, REGISTRARS, "the protection officer or an operator records it")
        self.recipient(session, recipient_id)
        problems: list[FieldError] = []
        unknown = [p for p in purposes if p not in self.policy.purposes]
        if not purposes or unknown:
            problems.append(FieldError("purposes", "agreement.purposes",
                                       "name one or more purposes of the policy"
                                       + (f"; unknown: {', '.join(unknown)}" if unknown else "")))
        bad = [f for f in fields if f not in self.catalog]
        if not fields or bad:
            problems.append(FieldError("fields", "agreement.fields",
                                       "name one or more catalog fields"
                                       + (f"; unknown: {', '.join(bad)}" if bad else "")))
        if retention_days < 1:
            problems.append(FieldError("retention_days", "agreement.retention", "must be >= 1"))
        if ends_at <= starts_at:
            problems.append(FieldError("ends_at", "agreement.term", "must be after starts_at"))
        if not reference.strip():
            problems.append(FieldError("reference", "required.text", "the contract's number"))
        if problems:
            raise InvalidPI(problems)
        agreement = Agreement(
            agreement_id=uuid.uuid4(),
            recipient_id=recipient_id,
            reference=reference.strip()[:100],
            purposes=sorted(set(purposes)),
            fields=sorted(set(fields)),
            retention_days=retention_days,
            sub_processing=sub_processing,
            starts_at=starts_at,
            ends_at=ends_at,
            created_at=now,
            created_by=actor.actor_id,
        )
        session.add(agreement)
        session.flush()
        log_operation(session, actor=actor, action="agreement.add", rule=RULE_REGISTRY,
                      reason="a sharing agreement was recorded", now=now,
                      detail={"agreement": str(agreement.agreement_id),
                              "recipient": str(recipient_id)})
        return agreement

    def agreements(self, session: Session, actor: ActorRef, recipient_id: uuid.UUID) -> list[
        Agreement
    ]:
        self._require(actor, READERS, "the registry is for the officer, operators, auditors")
        self.recipient(session, recipient_id)
        return list(
            session.execute(
                select(Agreement)
                .where(Agreement.recipient_id == recipient_id)
                .order_by(Agreement.starts_at)
            ).scalars()
        )

    def terminate(
        self, session: Session, actor: ActorRef, agreement_id: uuid.UUID, *, now: datetime
    ) -> Agreement:
        """End an agreement early; its return-or-delete task opens at once."""
        self._require(actor, REGISTRARS, "the protection officer or an operator ends it")
        agreement = session.get(Agreement, agreement_id)
        if agreement is None:
            raise AgreementNotFound(f"no agreement {agreement_id}")
        if agreement.terminated_at is None and agreement.ends_at > now:
            agreement.terminated_at = now
        log_operation(session, actor=actor, action="agreement.terminate", rule=RULE_REGISTRY,
                      reason="a sharing agreement was ended", now=now,
                      detail={"agreement": str(agreement_id)})
        self.open_due_tasks(session, now=now)
        return agreement

    def open_due_tasks(self, session: Session, *, now: datetime) -> int:
        """Open a return-or-delete task for every agreement that has ended without one.
        Idempotent (one task per agreement, unique), so a scheduler may call it as often as
        it likes."""
        ended = session.execute(
            select(Agreement)
            .outerjoin(AgreementTask, AgreementTask.agreement_id == Agreement.agreement_id)
            .where(AgreementTask.task_id.is_(None), Agreement.starts_at <= now)
        ).scalars()
        opened = 0
        for agreement in ended:
            end = _terms(agreement).ended_by(now)
            if end is None:
                continue
            session.add(AgreementTask(task_id=uuid.uuid4(), agreement_id=agreement.agreement_id,
                                      opened_at=now, due_at=return_due(end)))
            opened += 1
        session.flush()
        return opened

    def tasks(
        self, session: Session, actor: ActorRef, *, now: datetime, open_only: bool = True
    ) -> list[tuple[AgreementTask, Agreement]]:
        self._require(actor, READERS, "tasks are the officer's")
        stmt = select(AgreementTask, Agreement).join(
            Agreement, Agreement.agreement_id == AgreementTask.agreement_id
        )
        if open_only:
            stmt = stmt.where(AgreementTask.closed_at.is_(None))
        return [(t, a) for t, a in session.execute(stmt.order_by(AgreementTask.due_at)).all()]

    def close_task(
        self,
        session: Session,
        actor: ActorRef,
        task_id: uuid.UUID,
        *,
        outcome: str,
        evidence: str,
        now: datetime,
    ) -> AgreementTask:
        self._require(actor, REGISTRARS, "the protection officer closes it")
        if outcome not in ("returned", "deleted"):
            raise _bad("outcome", "task.outcome", "must be returned or deleted")
        if not evidence.strip():
            raise _bad("evidence", "required.text", "name the recipient's confirmation")
        task = session.get(AgreementTask, task_id)
        if task is None:
            raise AgreementNotFound(f"no task {task_id}")
        task.closed_at, task.closed_by = now, actor.actor_id
        task.outcome, task.evidence = outcome, evidence.strip()[:2000]
        log_operation(session, actor=actor, action="agreement.task-close", rule=RULE_REGISTRY,
                      reason=f"recipient confirmed data {outcome}", now=now,
                      detail={"task": str(task_id)})
        return task

    # ------------------------------------------------------------------ the gate's lookup
    def _in_force(self, session: Session, recipient_id: uuid.UUID) -> list[Agreement]:
        return list(
            session.execute(
                select(Agreement).where(
                    Agreement.recipient_id == recipient_id, Agreement.terminated_at.is_(None)
                )
            ).scalars()
        )

    def cover(
        self, session: Session, organisation_id: uuid.UUID, purpose: str, now: datetime
    ) -> Cover | None:
        """policy/service.AgreementLookup: the fields the recipient's agreements in force let
        out for the purpose, and whether it is abroad; None without a registered recipient or
        an agreement covering the purpose."""
        recipient = session.get(Recipient, organisation_id)
        if recipient is None:
            return None
        fields = fields_covered(
            (_terms(a) for a in self._in_force(session, organisation_id)), purpose, now
        )
        if fields is None:
            return None
        return Cover(fields, is_cross_border(recipient.country, self.home))

    # ------------------------------------------------------------------ transfers
    def record_disclosure(
        self,
        session: Session,
        actor: ActorRef,
        subject_id: uuid.UUID,
        purpose: str,
        allowed: list[Decision],
        now: datetime,
    ) -> None:
        """The vault's disclosure listener: a third party's allowed read is a transfer."""
        if actor.role is not Role.PARTNER or actor.organisation_id is None:
            return
        recipient = session.get(Recipient, actor.organisation_id)
        if recipient is None:
            return
        agreement_id = next(
            (
                a.agreement_id
                for a in self._in_force(session, recipient.recipient_id)
                if purpose in a.purposes and _terms(a).in_force(now)
            ),
            None,
        )
        session.add(
            Transfer(
                subject_id=subject_id,
                recipient_id=recipient.recipient_id,
                agreement_id=agreement_id,
                purpose=purpose,
                fields=sorted(d.field for d in allowed),
                cross_border=is_cross_border(recipient.country, self.home),
                at=now,
                actor_id=actor.actor_id,
            )
        )

    def share(
        self,
        session: Session,
        initiator: ActorRef,
        *,
        recipient_id: uuid.UUID,
        purpose: str,
        subject_ids: Sequence[uuid.UUID],
        fields: Sequence[str],
        now: datetime,
    ) -> list[Shared]:
        """Provide subjects' fields to a recipient. The recipient pulls (a partner of that
        organisation) or an operator pushes on its behalf; either way each subject's read is
        decided by the gate *as the recipient*, so its agreement, the consumer's separate
        consents and the policy decide, and each is logged and recorded as a transfer.
        Fields outside every agreement are refused by name before anything is read."""
        pull = initiator.role is Role.PARTNER and initiator.organisation_id == recipient_id
        if not pull and initiator.role not in REGISTRARS:
            raise AccessDenied(RULE_NOT_YOURS, "a partner receives only for its organisation")
        recipient = self.recipient(session, recipient_id)
        names = list(dict.fromkeys(fields))
        bad = [f for f in names if f not in self.catalog]
        if not names or bad:
            raise _bad("fields", "catalog.unknown_field", "name catalog fields to share")
        cover = self.cover(session, recipient_id, purpose, now)
        refused = outside(names, cover.fields) if cover is not None else names
        if cover is None or refused:
            rule = RULE_NO_AGREEMENT if cover is None else RULE_OUTSIDE
            reason = (
                f"no agreement in force with {recipient.legal_entity} covers {purpose}"
                if cover is None
                else "outside the agreement: " + ", ".join(refused)
            )
            log_access(
                session,
                actor=initiator,
                subject_id=None,
                action="share",
                purpose=purpose,
                decisions=[Decision(f, View.NONE, rule, reason) for f in refused],
                now=now,
                detail={"recipient": str(recipient_id), "subjects": len(subject_ids)},
            )
            raise AccessDenied(rule, reason)
        receiver = ActorRef(
            actor_id=initiator.actor_id,
            role=Role.PARTNER,
            organisation_id=recipient_id,
            display_name=recipient.legal_entity,
        )
        out: list[Shared] = []
        for sid in subject_ids:
            try:
                result = self.vault.read(
                    session, receiver, sid, fields=names, purpose=purpose, view=View.PLAIN,
                    now=now,
                )
            except AccessDenied as exc:
                out.append(Shared(sid, error=exc.rule))
                continue
            except (SubjectNotFound, SubjectErased):
                out.append(Shared(sid, error="subject_not_found"))
                continue
            out.append(Shared(sid, result.values, result.denied))
        return out

    def who_has_my_data(self, session: Session, subject_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every recipient that received this subject's PI: when, which fields, why."""
        rows = session.execute(
            select(Transfer, Recipient)
            .join(Recipient, Recipient.recipient_id == Transfer.recipient_id)
            .where(Transfer.subject_id == subject_id)
            .order_by(Transfer.at)
        ).all()
        grouped: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
        for transfer, recipient in rows:
            key = (recipient.recipient_id, transfer.purpose)
            item = grouped.setdefault(key, {
                "recipient_id": recipient.recipient_id,
                "legal_entity": recipient.legal_entity,
                "country": recipient.country,
                "cross_border": transfer.cross_border,
                "processor_role": recipient.processor_role,
                "category": recipient.category,
                "purpose": transfer.purpose,
                "purpose_label": self.policy.purposes[transfer.purpose].labels
                if transfer.purpose in self.policy.purposes else {},
                "fields": set(),
                "first_at": transfer.at,
                "last_at": transfer.at,
                "times": 0,
            })
            item["fields"] |= set(transfer.fields)
            item["last_at"] = transfer.at
            item["times"] += 1
        return [{**v, "fields": sorted(v["fields"])} for v in grouped.values()]

    # ------------------------------------------------------------------ notices
    def notify(
        self,
        session: Session,
        subject_id: uuid.UUID,
        event: NoticeEvent,
        now: datetime,
        *,
        fields: Iterable[str] | None = None,
        recipients: Iterable[uuid.UUID] | None = None,
        purpose: str | None = None,
    ) -> int:
        """Leave a notice for each recipient that received this subject's data (those that
        received one of ``fields``, for a correction; only ``recipients`` or those that received
        it for ``purpose``, for a withdrawal). Returns how many."""
        stmt = select(Transfer.recipient_id, Transfer.fields).where(
            Transfer.subject_id == subject_id
        )
        if purpose is not None:
            stmt = stmt.where(Transfer.purpose == purpose)
        wanted = set(fields) if fields is not None else None
        only = set(recipients) if recipients is not None else None
        received: dict[uuid.UUID, set[str]] = {}
        for recipient_id, sent in session.execute(stmt).all():
            if only is not None and recipient_id not in only:
                continue
            received.setdefault(recipient_id, set()).update(sent)
        count = 0
        for recipient_id, sent in sorted(received.items(), key=lambda kv: str(kv[0])):
            named = sent if wanted is None else sent & wanted
            if not named:
                continue
            session.add(RecipientNotice(recipient_id=recipient_id, subject_id=subject_id,
                                        event=event.value, fields=sorted(named), created_at=now))
            count += 1
        session.flush()
        return count

    def on_change(
        self, session: Session, subject_id: uuid.UUID, event: str, fields: Sequence[str],
        now: datetime,
    ) -> None:
        """The vault's change listener: erasures and corrections reach the recipients."""
        if event == "erased":
            self.notify(session, subject_id, NoticeEvent.DELETED, now)
        elif event == "updated":
            self.notify(session, subject_id, NoticeEvent.CORRECTED, now, fields=fields)

    def on_withdrawal(
        self, session: Session, subject_id: uuid.UUID, kind: Kind, target: str, now: datetime
    ) -> None:
        """The consent ledger's withdrawal hook: a recipient whose separate consent (or the
        sharing purpose as a whole) was withdrawn must stop using what it received."""
        if kind in (Kind.THIRD_PARTY, Kind.CROSS_BORDER):
            try:
                org = uuid.UUID(target)
            except ValueError:
                return
            self.notify(session, subject_id, NoticeEvent.CONSENT_WITHDRAWN, now,
                        recipients=[org])
        elif kind is Kind.PURPOSE:
            self.notify(session, subject_id, NoticeEvent.CONSENT_WITHDRAWN, now, purpose=target)

    def notices(
        self, session: Session, actor: ActorRef, *, limit: int = 500
    ) -> list[RecipientNotice]:
        """A partner's unacknowledged notices, oldest first."""
        org = self._own_recipient(actor)
        return list(
            session.execute(
                select(RecipientNotice)
                .where(RecipientNotice.recipient_id == org,
                       RecipientNotice.acknowledged_at.is_(None))
                .order_by(RecipientNotice.notice_id)
                .limit(limit)
            ).scalars()
        )

    def acknowledge(
        self, session: Session, actor: ActorRef, notice_ids: Sequence[int], *, now: datetime
    ) -> int:
        org = self._own_recipient(actor)
        rows = session.execute(
            select(RecipientNotice).where(RecipientNotice.notice_id.in_(list(notice_ids)),
                                          RecipientNotice.recipient_id == org,
                                          RecipientNotice.acknowledged_at.is_(None))
        ).scalars().all()
        for row in rows:
            row.acknowledged_at = now
        return len(rows)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _require(actor: ActorRef, roles: frozenset[Role], why: str) -> None:
        if actor.role not in roles:
            raise AccessDenied(RULE_REGISTRY, why)

    @staticmethod
    def _own_recipient(actor: ActorRef) -> uuid.UUID:
        if actor.role is not Role.PARTNER or actor.organisation_id is None:
            raise AccessDenied(RULE_NOT_YOURS, "notices are for the recipient's own partners")
        return actor.organisation_id


def as_plain(values: Mapping[str, FieldValue]) -> dict[str, Any]:
    """A shared subject's values as the recipient receives them (view applied by the gate)."""
    return {name: v.value for name, v in values.items() if v.present}

