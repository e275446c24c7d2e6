"""Consent state as a pure function of the ledger's events (design.md invariants 5 and 7).

PIPL Art. 14: consent is informed, voluntary and explicit, and must be asked again when the
purpose or the kind of data changes; Art. 15: it can be withdrawn, conveniently, and withdrawal
does not undo processing already done; Art. 16: refusing what the service does not need must not
cost the consumer the service; Art. 23, 25, 29, 39: providing data to a third party, publishing
it, processing sensitive data and sending it abroad each need their own, separate consent
(单独同意); Art. 31: for a child under 14, a guardian's consent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class Kind(StrEnum):
    PURPOSE = "purpose"  # a purpose beyond what the transaction needs (target: purpose name)
    THIRD_PARTY = "third_party"  # provision to one named recipient (target: its id), Art. 23
    SENSITIVE = "sensitive"  # processing one sensitive field (target: field name), Art. 29
    PUBLIC_DISCLOSURE = "public_disclosure"  # making data public (target: what), Art. 25
    CROSS_BORDER = "cross_border"  # transfer abroad (target: recipient id), Art. 39


SEPARATE = frozenset({Kind.THIRD_PARTY, Kind.SENSITIVE, Kind.PUBLIC_DISCLOSURE, Kind.CROSS_BORDER})


class Action(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class State(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    SUSPENDED = "suspended"  # granted under a notice since changed materially: ask again
    NEVER_ASKED = "never_asked"


class Channel(StrEnum):
    APP = "app"
    WEB = "web"
    API = "api"
    SUPPORT = "support"  # customer service, on the consumer's request (withdrawals only)
    SMS = "sms"  # an unsubscribe keyword replied to a message
    EMAIL = "email"  # an unsubscribe link
    GPC = "gpc"  # the browser's Sec-GPC: 1 signal
    SYSTEM = "system"
    REQUEST = "request"  # a verified data-subject request, carried out by the officer


# Channels through which only a withdrawal can arrive: nobody consents by replying "TD".
WITHDRAW_ONLY = frozenset(
    {Channel.SUPPORT, Channel.SMS, Channel.EMAIL, Channel.GPC, Channel.SYSTEM, Channel.REQUEST}
)

# A purpose whose consent is really per recipient: the purpose-level answer needs the
# recipient-level separate consent (PIPL Art. 23).
PER_RECIPIENT_PURPOSES = frozenset({"third_party_sharing"})

MINOR_AGE = 14  # PIPL Art. 28, 31


def topic(kind: Kind | str, target: str) -> str:
    return f"{kind}:{target}"


@dataclass(frozen=True)
class ConsentRecord:
    """One ledger event, as the rules need it."""

    kind: str
    target: str
    action: Action
    at: datetime
    notice_version: int | None = None
    expires_at: datetime | None = None

    @property
    def topic(self) -> str:
        return topic(self.kind, self.target)


@dataclass(frozen=True)
class Status:
    kind: str
    target: str
    state: State
    since: datetime | None
    notice_version: int | None

    @property
    def topic(self) -> str:
        return topic(self.kind, self.target)

    @property
    def current(self) -> bool:
        return self.state is State.GRANTED


def current_states(
    events: Iterable[ConsentRecord],
    material: Sequence[tuple[int, frozenset[str]]],
    now: datetime,
) -> dict[str, Status]:
    """The state of every topic the events mention; events in the order they were recorded.

    ``material`` lists (notice version, topics to ask again) for every material notice change:
    a grant given under an earlier version for one of those topics is suspended.
    """
    last: dict[str, ConsentRecord] = {}
    for event in events:
        last[event.topic] = event
    out: dict[str, Status] = {}
    for key, event in last.items():
        if event.action is Action.WITHDRAWN:
            state = State.WITHDRAWN
        elif event.expires_at is not None and now >= event.expires_at:
            state = State.EXPIRED
        elif _suspended(event, material):
            state = State.SUSPENDED
        else:
            state = State.GRANTED
        out[key] = Status(event.kind, event.target, state, event.at, event.notice_version)
    return out


def _suspended(event: ConsentRecord, material: Sequence[tuple[int, frozenset[str]]]) -> bool:
    given_under = event.notice_version or 0
    return any(version > given_under and event.topic in affected for version, affected in material)


def consented_purposes(
    states: Mapping[str, Status], purposes: Iterable[str], recipient: str | None
) -> frozenset[str]:
    """Which of ``purposes`` have a current consent for this request's recipient."""
    out = set()
    for purpose in purposes:
        status = states.get(topic(Kind.PURPOSE, purpose))
        if purpose in PER_RECIPIENT_PURPOSES:
            separate = states.get(topic(Kind.THIRD_PARTY, recipient)) if recipient else None
            # Sharing needs the recipient's own separate consent; a withdrawn general
            # sharing consent (or a Sec-GPC opt-out) still stops every recipient.
            general_ok = status is None or status.current
            if separate is not None and separate.current and general_ok:
                out.add(purpose)
        elif status is not None and status.current:
            out.add(purpose)
    return frozenset(out)


def age_on(birth: date, today: date) -> int:
    years = today.year - birth.year
    if (today.month, today.day) < (birth.month, birth.day):
        years -= 1
    return years


def is_minor(birth: date | None, today: date) -> bool:
    """Under 14 on ``today`` (PIPL Art. 31). Unknown birth dates are not treated as minors: the
    platform must collect age where its service targets children."""
    return birth is not None and age_on(birth, today) < MINOR_AGE
