"""The life of a data-subject request, as a pure state machine (PIPL Art. 44-50; GB/T
35273-2020 8.7; E-Commerce Law Art. 24).

received -> verifying -> in_progress -> completed | partially_completed | refused
A request can be refused from any open state (with a reason the consumer sees, PIPL Art. 50),
and the consumer can withdraw it while it is open. Every transition is an event with actor and
time (design.md invariant 5); this module only says which transitions are allowed.
"""

from __future__ import annotations

from enum import StrEnum


class RequestType(StrEnum):
    ACCESS = "access"  # a copy (PIPL Art. 45)
    PORTABILITY = "portability"  # machine-readable, to another handler (Art. 45 para. 3)
    CORRECTION = "correction"  # Art. 46
    DELETION = "deletion"  # Art. 47
    CONSENT_WITHDRAWAL = "consent_withdrawal"  # Art. 15
    ACCOUNT_CANCELLATION = "account_cancellation"  # 注销; E-Commerce Law Art. 24
    EXPLANATION = "explanation"  # of processing rules and automated decisions, Art. 24, 48
    DECEASED_RELATIVE = "deceased_relative"  # a close relative of a deceased consumer, Art. 49


class RequestState(StrEnum):
    RECEIVED = "received"
    VERIFYING = "verifying"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    PARTIALLY_COMPLETED = "partially_completed"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


CLOSED = frozenset(
    {
        RequestState.COMPLETED,
        RequestState.PARTIALLY_COMPLETED,
        RequestState.REFUSED,
        RequestState.WITHDRAWN,
    }
)

ALLOWED: dict[RequestState, frozenset[RequestState]] = {
    RequestState.RECEIVED: frozenset(
        {RequestState.VERIFYING, RequestState.REFUSED, RequestState.WITHDRAWN}
    ),
    RequestState.VERIFYING: frozenset(
        {RequestState.IN_PROGRESS, RequestState.REFUSED, RequestState.WITHDRAWN}
    ),
    RequestState.IN_PROGRESS: frozenset(
        {
            RequestState.COMPLETED,
            RequestState.PARTIALLY_COMPLETED,
            RequestState.REFUSED,
            RequestState.WITHDRAWN,
        }
    ),
}


class TransitionRefused(ValueError):
    """The request cannot move that way; the message says from where to where."""

    code = "request.transition"

    def __init__(self, current: RequestState, wanted: RequestState) -> None:
        self.current = current
        self.wanted = wanted
        super().__init__(f"a request that is {current.value} cannot become {wanted.value}")


class ReasonRequired(ValueError):
    """Refusing or doing only part of a request needs a reason the consumer can read."""


def check_transition(current: RequestState, wanted: RequestState, *, reason: str = "") -> None:
    """Raise :class:`TransitionRefused` unless allowed; a refusal must give its reason."""
    if wanted not in ALLOWED.get(current, frozenset()):
        raise TransitionRefused(current, wanted)
    if wanted in (RequestState.REFUSED, RequestState.PARTIALLY_COMPLETED) and not reason.strip():
        raise ReasonRequired(f"a request that becomes {wanted.value} must say why (PIPL Art. 50)")


def is_open(state: RequestState) -> bool:
    return state not in CLOSED
