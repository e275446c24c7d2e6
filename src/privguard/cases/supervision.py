"""Merchant supervision: each merchant's privacy compliance record, its score, and the graded
sanctions the platform configured, which take effect at the gate (policy/service.py asks
:meth:`Supervision.sanction` for every read by a merchant's staff).

A sanction is imposed automatically when a merchant's score crosses a threshold (an upheld
complaint re-evaluates it at once), is logged with its reason, can be appealed by the merchant
and lifted only by the protection officer. The strictest sanction in force applies.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from privguard.audit.entry import LogEntry
from privguard.audit.models import AccessLogEntry
from privguard.audit.service import log_operation
from privguard.cases.models import Case, MerchantSanction
from privguard.cases.rules import (
    Category,
    Record,
    Sanction,
    Thresholds,
    Weights,
    rating,
    sanction_for,
    score,
    stricter,
)
from privguard.marketplace.errors import MarketplaceNotFound
from privguard.marketplace.models import Organisation
from privguard.policy.rules import ActorRef, Role
from privguard.vault.errors import AccessDenied, FieldError, InvalidPI

OFFICERS = frozenset({Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN})
RULE_SUPERVISION = "cases.supervision"
DENIALS_SCANNED = 10_000  # most recent entries read to count a merchant's refusals

AnomalyCounter = Callable[[Session, uuid.UUID, datetime], int]  # (org, since) -> alerts


class SanctionNotFound(MarketplaceNotFound):
    code = "sanction_not_found"


class Supervision:
    def __init__(
        self,
        thresholds: Thresholds = Thresholds(),
        weights: Weights = Weights(),
        window_days: int = 90,
        anomalies: AnomalyCounter | None = None,
    ) -> None:
        self.thresholds = thresholds
        self.weights = weights
        self.window = timedelta(days=window_days)
        self.anomalies = anomalies

    # ------------------------------------------------------------------ the gate's lookup
    def sanction(self, session: Session, organisation_id: uuid.UUID, now: datetime) -> str | None:
        """The strictest sanction in force with an effect at the gate, or None."""
        levels = session.execute(
            select(MerchantSanction.level).where(
                MerchantSanction.merchant_id == organisation_id,
                MerchantSanction.lifted_at.is_(None),
                MerchantSanction.imposed_at <= now,
            )
        ).scalars().all()
        level = Sanction.NONE
        for found in levels:
            level = stricter(Sanction(found), level)
        return level.value if level in (Sanction.MASKED_ONLY, Sanction.SUSPENDED) else None

    # ------------------------------------------------------------------ the record
    def record(self, session: Session, merchant_id: uuid.UUID, now: datetime) -> Record:
        since = now - self.window
        upheld = session.execute(
            select(Case.category, func.count()).where(
                Case.merchant_id == merchant_id, Case.upheld.is_(True), Case.closed_at >= since
            ).group_by(Case.category)
        ).all()
        by_category = {c: n for c, n in upheld}
        rows = session.execute(
            select(AccessLogEntry.entry).where(
                AccessLogEntry.organisation_id == merchant_id, AccessLogEntry.at >= since
            ).order_by(AccessLogEntry.entry_id.desc()).limit(DENIALS_SCANNED)
        ).scalars()
        denials = sum(
            1 for text in rows
            if any(d.get("view") == "none" for d in LogEntry.from_json(text).decisions)
        )
        return Record(
            upheld_complaints=sum(by_category.values()),
            policy_denials=denials,
            anomalies=self.anomalies(session, merchant_id, since) if self.anomalies else 0,
            overdue_rights=by_category.get(Category.RIGHTS_IGNORED.value, 0),
        )

    def standing(
        self, session: Session, merchant_id: uuid.UUID, now: datetime
    ) -> dict[str, object]:
        """Score, grade and record: what the officer sees; consumers see the grade."""
        org = session.get(Organisation, merchant_id)
        if org is None or org.kind != "merchant":
            raise MarketplaceNotFound(f"no merchant {merchant_id}")
        rec = self.record(session, merchant_id, now)
        value = score(rec, self.weights)
        in_force = self.sanction(session, merchant_id, now)
        warned = session.execute(
            select(func.count()).select_from(MerchantSanction).where(
                MerchantSanction.merchant_id == merchant_id,
                MerchantSanction.lifted_at.is_(None),
            )
        ).scalar_one()
        return {
            "merchant_id": merchant_id,
            "name": org.name,
            "score": value,
            "grade": rating(value),
            "record": rec,
            "sanction": in_force or ("warning" if warned else None),
        }

    def evaluate(
        self,
        session: Session,
        actor: ActorRef,
        merchant_id: uuid.UUID,
        now: datetime,
        *,
        case_id: uuid.UUID | None = None,
    ) -> MerchantSanction | None:
        """Impose the sanction the score earns if it is stricter than any in force. Lighter
        scores never lift a sanction by themselves: lifting is the officer's decision."""
        rec = self.record(session, merchant_id, now)
        value = score(rec, self.weights)
        earned = sanction_for(value, self.thresholds)
        if earned is Sanction.NONE:
            return None
        current = session.execute(
            select(MerchantSanction.level).where(
                MerchantSanction.merchant_id == merchant_id, MerchantSanction.lifted_at.is_(None)
            )
        ).scalars().all()
        strongest = Sanction.NONE
        for level in current:
            strongest = stricter(Sanction(level), strongest)
        if stricter(earned, strongest) is strongest:
            return None
        reason = (
            f"score {value} after {rec.upheld_complaints} upheld complaint(s), "
            f"{rec.policy_denials} policy denial(s), {rec.anomalies} anomaly alert(s), "
            f"{rec.overdue_rights} ignored rights request(s) in {self.window.days} days"
        )
        sanction = MerchantSanction(
            sanction_id=uuid.uuid4(), merchant_id=merchant_id, level=earned.value,
            reason=reason, score=value, case_id=case_id, imposed_at=now,
            imposed_by=actor.actor_id,
        )
        session.add(sanction)
        session.flush()
        log_operation(session, actor=actor, action="sanction.impose", rule=RULE_SUPERVISION,
                      reason=reason, now=now,
                      detail={"merchant": str(merchant_id), "level": earned.value,
                              "sanction": str(sanction.sanction_id)})
        return sanction

    def on_case_resolved(self, session: Session, case: Case, actor: ActorRef,
                         now: datetime) -> None:
        if case.upheld and case.merchant_id is not None:
            self.evaluate(session, actor, case.merchant_id, now, case_id=case.case_id)

    # ------------------------------------------------------------------ appeals
    def sanctions(self, session: Session, actor: ActorRef,
                  merchant_id: uuid.UUID) -> list[MerchantSanction]:
        own = actor.role is Role.MERCHANT_STAFF and actor.organisation_id == merchant_id
        if not own and actor.role not in OFFICERS | {Role.AUDITOR}:
            raise AccessDenied(RULE_SUPERVISION, "a merchant sees its own sanctions")
        return list(session.execute(
            select(MerchantSanction).where(MerchantSanction.merchant_id == merchant_id)
            .order_by(MerchantSanction.imposed_at)
        ).scalars())

    def _get(self, session: Session, sanction_id: uuid.UUID) -> MerchantSanction:
        found = session.get(MerchantSanction, sanction_id)
        if found is None:
            raise SanctionNotFound(f"no sanction {sanction_id}")
        return found

    def appeal(self, session: Session, actor: ActorRef, sanction_id: uuid.UUID, text: str, *,
               now: datetime) -> MerchantSanction:
        sanction = self._get(session, sanction_id)
        if actor.role is not Role.MERCHANT_STAFF or actor.organisation_id != sanction.merchant_id:
            raise SanctionNotFound(f"no sanction {sanction_id}")
        if sanction.appealed_at is not None or sanction.lifted_at is not None:
            raise InvalidPI([FieldError("appeal", "sanction.appeal",
                                        "already appealed or lifted")])
        if not text.strip() or len(text) > 5000:
            raise InvalidPI([FieldError("appeal", "required.text", "1 to 5000 characters")])
        sanction.appeal, sanction.appealed_at = text.strip(), now
        log_operation(session, actor=actor, action="sanction.appeal", rule=RULE_SUPERVISION,
                      reason="the merchant appealed", now=now,
                      detail={"sanction": str(sanction_id)})
        return sanction

    def decide(self, session: Session, actor: ActorRef, sanction_id: uuid.UUID, *, lift: bool,
               reason: str, now: datetime) -> MerchantSanction:
        """The officer lifts a sanction (on appeal or not) or upholds an appeal's target."""
        if actor.role not in OFFICERS:
            raise AccessDenied(RULE_SUPERVISION, "the protection officer decides")
        if not reason.strip():
            raise InvalidPI([FieldError("reason", "required.text", "say why")])
        sanction = self._get(session, sanction_id)
        if sanction.appealed_at is not None and sanction.appeal_decision is None:
            sanction.appeal_decision = "lifted" if lift else "upheld"
        if lift and sanction.lifted_at is None:
            sanction.lifted_at, sanction.lifted_reason = now, reason.strip()
        log_operation(session, actor=actor, action="sanction.lift" if lift else "sanction.uphold",
                      rule=RULE_SUPERVISION, reason=reason.strip(), now=now,
                      detail={"sanction": str(sanction_id)})
        return sanction
