"""Reports use cases: build the data map from the store, make the records of processing, keep
impact assessments (create, answer, sign, keep three years), and the activation gate.

Services take the caller's session and never commit. The recipient registry is read straight
from its tables (read only): a report needs every recipient and agreement at once, and the
server-start gate runs before any actor exists to ask sharing/service.py on behalf of.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from privguard.audit.service import log_operation
from privguard.catalog.model import Catalog
from privguard.consent.notice_config import NoticeConfig, load_notice_config
from privguard.marketplace.errors import MarketplaceNotFound
from privguard.policy.loader import PolicyError, Problem
from privguard.policy.rules import ActorRef, Policy, Role
from privguard.reports import rules
from privguard.reports.models import ImpactAssessment
from privguard.sharing.models import Agreement, Recipient
from privguard.store.meta import get_meta, set_meta
from privguard.vault.errors import AccessDenied, FieldError, InvalidPI, field_label

if TYPE_CHECKING:
    from privguard.bootstrap import Runtime

READERS = frozenset({Role.PRIVACY_OFFICER, Role.AUDITOR, Role.PLATFORM_ADMIN})
DRAFTERS = frozenset({Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN})
SIGNER = Role.PRIVACY_OFFICER  # PIPL Art. 52: the officer supervises processing
RULE_REPORTS = "reports.readers"
RULE_PIA = "reports.pia"
ACTIVATED = "policy_activated"  # store_meta: the last policy that passed the gate
DRAFT, SIGNED = "draft", "signed"
MAX_ANSWER = 8000


class AssessmentNotFound(MarketplaceNotFound):
    code = "assessment_not_found"

    def __init__(self, assessment_id: uuid.UUID | str) -> None:
        super().__init__(f"no impact assessment {assessment_id}")


class AssessmentRefused(Exception):
    """A change the assessment's state does not allow; the message says why and what to do."""

    code = "assessment_refused"


class PolicyNotActivatable(PolicyError):
    """The policy has purposes that need a signed impact assessment and lack one."""


@dataclass(frozen=True)
class Reports:
    catalog: Catalog
    policy: Policy
    notice_path: Path | None
    home: str
    key_provider: str = "file"
    sequencer_interval: float = 1.0

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> Reports:
        s = runtime.settings
        return cls(
            runtime.catalog, runtime.policy, s.notice_path, s.default_region.upper(),
            s.key_provider, s.sequencer_interval,
        )

    # ------------------------------------------------------------------ the data map
    def notice_config(self, policy: Policy | None = None) -> NoticeConfig:
        return load_notice_config(self.notice_path, self.catalog, policy or self.policy)

    @staticmethod
    def recipients(session: Session) -> tuple[rules.RecipientFacts, ...]:
        agreements: dict[uuid.UUID, list[rules.AgreementFacts]] = {}
        for a in session.execute(select(Agreement).order_by(Agreement.starts_at)).scalars():
            agreements.setdefault(a.recipient_id, []).append(rules.AgreementFacts(
                agreement_id=str(a.agreement_id), reference=a.reference,
                purposes=tuple(a.purposes), fields=tuple(a.fields),
                retention_days=a.retention_days, sub_processing=a.sub_processing,
                starts_at=a.starts_at, ends_at=a.ends_at, terminated_at=a.terminated_at,
            ))
        return tuple(
            rules.RecipientFacts(
                recipient_id=str(r.recipient_id), legal_entity=r.legal_entity,
                contact=r.contact, country=r.country, processor_role=r.processor_role,
                category=r.category, agreements=tuple(agreements.get(r.recipient_id, [])),
            )
            for r in session.execute(
                select(Recipient).order_by(Recipient.legal_entity, Recipient.recipient_id)
            ).scalars()
        )

    def data_map(
        self, session: Session, *, now: datetime, policy: Policy | None = None
    ) -> rules.DataMap:
        policy = policy or self.policy
        return rules.DataMap(
            catalog=self.catalog,
            policy=policy,
            notice_config=self.notice_config(policy),
            recipients=self.recipients(session),
            home=self.home,
            now=now,
            key_provider=self.key_provider,
            sequencer_interval=self.sequencer_interval,
        )

    def ropa(self, session: Session, actor: ActorRef, *, now: datetime) -> dict[str, Any]:
        """The records of processing, for the officer, operators and auditors."""
        _require(actor, READERS, RULE_REPORTS,
                 "records of processing are for the officer, operators and auditors")
        return rules.build_ropa(self.data_map(session, now=now))

    # ------------------------------------------------------------------ assessments
    def pia_create(
        self, session: Session, actor: ActorRef, purpose: str, *, now: datetime,
        template: rules.Template | None = None,
    ) -> ImpactAssessment:
        """A new draft assessment of one purpose, pre-filled from the data map now."""
        _require(actor, DRAFTERS, RULE_PIA, "the officer or an operator drafts assessments")
        if purpose not in self.policy.purposes:
            raise InvalidPI([FieldError(
                "purpose", "pia.purpose",
                "must be a purpose of the policy in force: " + ", ".join(self.policy.purposes),
            )])
        template = template or rules.shipped_template()
        document = rules.prefill(self.data_map(session, now=now), purpose, template)
        row = ImpactAssessment(
            assessment_id=uuid.uuid4(), purpose=purpose, status=DRAFT,
            template_version=template.version, document=document, answers={},
            created_at=now, created_by=actor.actor_id, updated_at=now,
        )
        session.add(row)
        session.flush()
        _log(session, actor, "pia.create", row, now)
        return row

    def pia_answer(
        self, session: Session, actor: ActorRef, assessment_id: uuid.UUID,
        answers: Mapping[str, str], *, now: datetime,
    ) -> ImpactAssessment:
        """Record the officer's answers (replacing earlier answers to the same questions)."""
        _require(actor, frozenset({SIGNER}), RULE_PIA, "the protection officer answers")
        row = self._get(session, assessment_id, lock=True)
        if row.status != DRAFT:
            raise AssessmentRefused(
                f"impact assessment {row.assessment_id} is signed and can no longer change; "
                f"create a new one with `privguard report pia new {row.purpose}`"
            )
        known = {q["id"] for q in row.document["questions"]}
        problems = [
            FieldError(field_label(qid), "pia.question", "not a question of this assessment")
            for qid in answers if qid not in known
        ]
        problems += [
            FieldError(qid, "pia.answer", f"must be text of at most {MAX_ANSWER} characters")
            for qid, text in answers.items()
            if qid in known and (not isinstance(text, str) or len(text) > MAX_ANSWER)
        ]
        if problems:
            raise InvalidPI(problems)
        merged = dict(row.answers)
        merged.update({k: v.strip() for k, v in answers.items()})
        row.answers = {k: v for k, v in merged.items() if v}
        row.updated_at = now
        _log(session, actor, "pia.answer", row, now, {"questions": sorted(answers)})
        return row

    def pia_sign(
        self, session: Session, actor: ActorRef, assessment_id: uuid.UUID, outcome: str, *,
        now: datetime,
    ) -> ImpactAssessment:
        """The officer signs: every question answered, an outcome, and the SHA-256 of exactly
        what was signed. From then on the assessment is frozen and kept three years."""
        _require(actor, frozenset({SIGNER}), RULE_PIA,
                 "only the personal-information protection officer signs an assessment")
        try:
            decided = rules.Outcome(outcome)
        except ValueError:
            raise InvalidPI([FieldError("outcome", "pia.outcome",
                                        "must be approved or rejected")]) from None
        row = self._get(session, assessment_id, lock=True)
        if row.status != DRAFT:
            raise AssessmentRefused(f"impact assessment {row.assessment_id} is already signed")
        missing = rules.unanswered(row.document, row.answers)
        if missing:
            raise InvalidPI([FieldError(q, "pia.unanswered", "answer it before signing")
                             for q in missing])
        signer = str(actor.actor_id)
        content = rules.signed_content(
            assessment_id=str(row.assessment_id), purpose=row.purpose, document=row.document,
            answers=row.answers, outcome=decided.value, signed_by=signer, signed_at=now,
        )
        row.status, row.outcome = SIGNED, decided.value
        row.signed_at, row.signed_by = now, actor.actor_id
        row.content_hash = rules.signature_hash(content)
        row.keep_until = rules.keep_until(now)
        row.updated_at = now
        _log(session, actor, "pia.sign", row, now,
             {"outcome": decided.value, "content_hash": row.content_hash})
        return row

    def pia_delete(
        self, session: Session, actor: ActorRef, assessment_id: uuid.UUID, *, now: datetime
    ) -> None:
        """Discard a draft, or a signed assessment whose three years are over. A signed one is
        refused before then (PIPL Art. 56), and the refusal says until when."""
        _require(actor, frozenset({SIGNER}), RULE_PIA, "the protection officer deletes")
        row = self._get(session, assessment_id, lock=True)
        if row.status == SIGNED and row.keep_until is not None and now < row.keep_until:
            raise AssessmentRefused(
                f"impact assessment {row.assessment_id} must be kept until "
                f"{row.keep_until:%Y-%m-%d} (PIPL Art. 56: assessment reports are kept at least "
                "three years); it cannot be deleted before then"
            )
        _log(session, actor, "pia.delete", row, now, {"status": row.status})
        session.delete(row)
        session.flush()

    def pia_get(
        self, session: Session, actor: ActorRef, assessment_id: uuid.UUID
    ) -> ImpactAssessment:
        _require(actor, READERS, RULE_PIA, "assessments are for the officer, operators, auditors")
        return self._get(session, assessment_id)

    def pia_list(
        self, session: Session, actor: ActorRef, purpose: str | None = None
    ) -> list[ImpactAssessment]:
        _require(actor, READERS, RULE_PIA, "assessments are for the officer, operators, auditors")
        stmt = select(ImpactAssessment).order_by(ImpactAssessment.created_at,
                                                 ImpactAssessment.assessment_id)
        if purpose is not None:
            stmt = stmt.where(ImpactAssessment.purpose == purpose)
        return list(session.execute(stmt).scalars())

    @staticmethod
    def _get(session: Session, assessment_id: uuid.UUID, *, lock: bool = False
             ) -> ImpactAssessment:
        stmt = select(ImpactAssessment).where(ImpactAssessment.assessment_id == assessment_id)
        if lock:
            stmt = stmt.with_for_update()
        row = session.execute(stmt).scalar_one_or_none()
        if row is None:
            raise AssessmentNotFound(assessment_id)
        return row

    # ------------------------------------------------------------------ the gate
    def assessments(self, session: Session) -> dict[str, rules.AssessmentFacts]:
        return {
            str(row.assessment_id): rules.AssessmentFacts(
                assessment_id=str(row.assessment_id),
                purpose=row.purpose,
                signed=row.status == SIGNED,
                outcome=row.outcome,
                intact=intact(row),
                scope=row.document.get("scope", {}),
            )
            for row in session.execute(select(ImpactAssessment)).scalars()
        }

    def activation_problems(
        self, session: Session, *, now: datetime, policy: Policy | None = None
    ) -> list[Problem]:
        """Why ``policy`` (default: the one in force) may not be activated; empty if it may."""
        dm = self.data_map(session, now=now, policy=policy)
        return rules.activation_problems(dm, self.assessments(session))

    def activate(
        self, session: Session, actor: ActorRef, policy: Policy, text: str, *, now: datetime
    ) -> dict[str, str]:
        """Record that ``policy`` passed the gate (who, when, the file's SHA-256), or raise
        :class:`PolicyNotActivatable` naming every purpose that lacks its assessment."""
        problems = self.activation_problems(session, now=now, policy=policy)
        if problems:
            raise PolicyNotActivatable(problems)
        record = {
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "source": policy.source,
            "at": now.isoformat(),
            "by": str(actor.actor_id),
        }
        set_meta(session, ACTIVATED, json.dumps(record, sort_keys=True))
        log_operation(session, actor=actor, action="policy.activate", rule=RULE_PIA,
                      reason="every processing activity that needs an impact assessment has "
                      "a signed one", now=now, detail={"sha256": record["sha256"]})
        return record

    @staticmethod
    def last_activation(session: Session) -> dict[str, str] | None:
        raw = get_meta(session, ACTIVATED)
        return json.loads(raw) if raw else None


def intact(row: ImpactAssessment) -> bool:
    """A signed assessment still holds exactly what was signed."""
    if row.status != SIGNED or row.signed_at is None or row.outcome is None:
        return False
    content = rules.signed_content(
        assessment_id=str(row.assessment_id), purpose=row.purpose, document=row.document,
        answers=row.answers, outcome=row.outcome, signed_by=str(row.signed_by),
        signed_at=row.signed_at,
    )
    return rules.signature_hash(content) == row.content_hash


def view(row: ImpactAssessment) -> dict[str, Any]:
    """An assessment as plain JSON, as render.pia_report and the CLI's --json show it."""
    return {
        "assessment_id": str(row.assessment_id),
        "purpose": row.purpose,
        "status": row.status,
        "template_version": row.template_version,
        "document": row.document,
        "answers": dict(row.answers),
        "created_at": rules.iso(row.created_at),
        "created_by": str(row.created_by) if row.created_by else None,
        "outcome": row.outcome,
        "signed_at": rules.iso(row.signed_at),
        "signed_by": str(row.signed_by) if row.signed_by else None,
        "content_hash": row.content_hash,
        "keep_until": rules.iso(row.keep_until),
        "intact": intact(row),
        "unanswered": rules.unanswered(row.document, row.answers),
    }


def require_activation(runtime: Runtime, *, now: datetime) -> None:
    """Refuse to serve a policy whose PIA-needing purposes lack a signed assessment (with
    PRIVGUARD_REQUIRE_PIA=1): raises :class:`PolicyNotActivatable`."""
    from privguard.store.uow import unit_of_work

    reports = Reports.from_runtime(runtime)
    with unit_of_work(runtime.sessions) as session:
        problems = reports.activation_problems(session, now=now)
    if problems:
        raise PolicyNotActivatable(problems)


def _require(actor: ActorRef, roles: frozenset[Role], rule: str, why: str) -> None:
    if actor.role not in roles:
        raise AccessDenied(rule, why)


def _log(
    session: Session, actor: ActorRef, action: str, row: ImpactAssessment, now: datetime,
    detail: Mapping[str, Any] | None = None,
) -> None:
    log_operation(session, actor=actor, action=action, rule=RULE_PIA,
                  reason="impact assessments are kept with who did what (PIPL Art. 55-56)",
                  now=now, detail={"assessment": str(row.assessment_id), "purpose": row.purpose,
                                   **(detail or {})})
