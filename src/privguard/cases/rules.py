"""Pure rules for complaints and merchant supervision: the case state machine, queues, deadlines,
the merchant's compliance score and the sanction it earns. Plain data in, plain answers out; no
database, no clock (``now`` is passed in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Category(StrEnum):
    PI_LEAK = "pi_leak"
    HARASSMENT = "harassment"  # calls or messages
    MARKETING_WITHOUT_CONSENT = "marketing_without_consent"
    OVER_COLLECTION = "over_collection"
    RIGHTS_IGNORED = "rights_ignored"  # a rights request refused or ignored
    MERCHANT_MISUSE = "merchant_misuse"
    AFTER_SALES = "after_sales"
    COUNTERFEIT = "counterfeit"


class Queue(StrEnum):
    PRIVACY = "privacy"  # the protection officer's (PIPL Art. 50)
    COMMERCE = "commerce"  # after-sales and counterfeit goods: the platform's service desk


COMMERCE_CATEGORIES = frozenset({Category.AFTER_SALES, Category.COUNTERFEIT})
# Reports anyone may file, also without an account (CSL Art. 49; PIPL Art. 65).
OPEN_TO_ANYONE = frozenset({Category.PI_LEAK, Category.HARASSMENT, Category.MERCHANT_MISUSE})


def queue_of(category: Category) -> Queue:
    return Queue.COMMERCE if category in COMMERCE_CATEGORIES else Queue.PRIVACY


class State(StrEnum):
    RECEIVED = "received"
    TRIAGED = "triaged"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"  # with a finding (upheld or not) and the corrective action
    REJECTED = "rejected"  # with the reason the filer sees


ALLOWED: dict[State, frozenset[State]] = {
    State.RECEIVED: frozenset({State.TRIAGED, State.REJECTED}),
    State.TRIAGED: frozenset({State.INVESTIGATING, State.REJECTED}),
    State.INVESTIGATING: frozenset({State.RESOLVED, State.REJECTED}),
}
CLOSED = frozenset({State.RESOLVED, State.REJECTED})


class CaseTransitionRefused(ValueError):
    code = "case.transition"

    def __init__(self, current: State, wanted: State) -> None:
        self.current, self.wanted = current, wanted
        super().__init__(f"a case that is {current.value} cannot become {wanted.value}")


def check_transition(current: State, wanted: State) -> None:
    if wanted not in ALLOWED.get(current, frozenset()):
        raise CaseTransitionRefused(current, wanted)


@dataclass(frozen=True)
class CaseDeadlines:
    """Days allowed per step; a case past one is escalated (shown to the officer's superior
    queue, and counted against the platform in its own reports)."""

    triage_days: int = 2
    resolve_days: int = 15  # PIPL Art. 50 asks for prompt handling; E-Commerce Law Art. 59


def due_dates(received_at: datetime, d: CaseDeadlines) -> tuple[datetime, datetime]:
    return received_at + timedelta(days=d.triage_days), received_at + timedelta(
        days=d.resolve_days
    )


def escalated(state: State, now: datetime, triage_by: datetime, resolve_by: datetime) -> bool:
    if state in CLOSED:
        return False
    if state is State.RECEIVED and now > triage_by:
        return True
    return now > resolve_by


# ---------------------------------------------------------------- merchant supervision
class Sanction(StrEnum):
    NONE = "none"
    WARNING = "warning"
    MASKED_ONLY = "masked_only"  # plain views become masked at the gate
    SUSPENDED = "suspended"  # no personal information at all


SANCTION_ORDER = (Sanction.NONE, Sanction.WARNING, Sanction.MASKED_ONLY, Sanction.SUSPENDED)


@dataclass(frozen=True)
class Record:
    """A merchant's privacy compliance record over the supervision window."""

    upheld_complaints: int = 0
    policy_denials: int = 0
    anomalies: int = 0
    overdue_rights: int = 0


@dataclass(frozen=True)
class Weights:
    upheld_complaint: float = 15.0
    policy_denial: float = 0.5
    policy_denial_cap: float = 15.0  # denials alone never sink a merchant
    anomaly: float = 5.0
    overdue_right: float = 10.0


@dataclass(frozen=True)
class Thresholds:
    """Score at or below which each sanction applies (configured by the platform)."""

    warning: float = 85.0
    masked_only: float = 70.0
    suspended: float = 50.0


def score(record: Record, w: Weights = Weights()) -> float:
    """100 is a clean record; each finding takes points off (never below 0)."""
    lost = (
        record.upheld_complaints * w.upheld_complaint
        + min(record.policy_denials * w.policy_denial, w.policy_denial_cap)
        + record.anomalies * w.anomaly
        + record.overdue_rights * w.overdue_right
    )
    return max(0.0, round(100.0 - lost, 1))


def sanction_for(value: float, t: Thresholds = Thresholds()) -> Sanction:
    if value <= t.suspended:
        return Sanction.SUSPENDED
    if value <= t.masked_only:
        return Sanction.MASKED_ONLY
    if value <= t.warning:
        return Sanction.WARNING
    return Sanction.NONE


def rating(value: float) -> str:
    """The grade consumers see on a merchant's page."""
    for grade, floor in (("A", 95.0), ("B", 85.0), ("C", 70.0), ("D", 50.0)):
        if value >= floor:
            return grade
    return "E"


def stricter(a: Sanction, b: Sanction) -> Sanction:
    return a if SANCTION_ORDER.index(a) >= SANCTION_ORDER.index(b) else b
