"""Carrying out verified requests: correction, deletion, account cancellation, consent
withdrawal and explanation. The HTTP routes and the officer's CLI both call this, so a request
is fulfilled the same way whichever door the officer uses.

Every step runs in the caller's unit of work: the data change (through the vault's gate, which
decides and logs it), the consent events and the request's completion commit together or not at
all (design.md invariant 5).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from privguard.actors.models import Actor, ApiKey
from privguard.consent.notices import latest_notice
from privguard.consent.rules import Action, Channel, Kind, topic
from privguard.consent.service import ConsentLedger, ConsentRequest
from privguard.marketplace.service import last_transaction, unsettled_orders
from privguard.policy.rules import ActorRef, Policy
from privguard.rights.explanation import explain_processing
from privguard.rights.lifecycle import RequestState, RequestType, TransitionRefused
from privguard.rights.models import SubjectRequest
from privguard.rights.service import RequestNotFound, Rights
from privguard.vault.errors import FieldError, InvalidPI
from privguard.vault.service import ErasureStatement, Vault


class WrongRequestType(RequestNotFound):
    """A fulfilment step for another kind of request reads as not found, like a missing one."""

    code = "request.wrong_type"

    def __init__(self, request_id: uuid.UUID, wanted: Sequence[RequestType]) -> None:
        LookupError.__init__(
            self,
            f"request {request_id} is not a "
            + " or ".join(t.value for t in wanted)
            + " request",
        )


class NotVerified(TransitionRefused):
    """Nothing is carried out before the requester's identity is verified (in_progress)."""

    code = "request.not_verified"

    def __init__(self, state: RequestState) -> None:
        ValueError.__init__(
            self,
            f"a request that is {state.value} cannot be carried out: it needs verified "
            "identity (in_progress)",
        )
        self.current = state
        self.wanted = RequestState.COMPLETED


@dataclass(frozen=True)
class Cancellation:
    """An account cancellation either closed the account or waits for orders to settle."""

    request: SubjectRequest
    closed: bool
    unsettled_orders: int
    statement: ErasureStatement | None


def statement_json(statement: ErasureStatement) -> dict[str, Any]:
    """What the consumer is told after deletion: field names, dates and the law, no values."""
    return {
        "deleted": list(statement.deleted),
        "kept": [
            {"field": k.field, "until": k.until.isoformat(), "basis": k.basis}
            for k in statement.kept
        ],
    }


def _statement_note(statement: ErasureStatement) -> str:
    kept = "; ".join(
        f"{k.field} until {k.until.date().isoformat()} ({k.basis})" for k in statement.kept
    )
    return f"deleted: {', '.join(statement.deleted) or 'nothing'}; kept: {kept or 'nothing'}"


class Fulfilment:
    def __init__(
        self, rights: Rights, vault: Vault, consent: ConsentLedger, policy: Policy
    ) -> None:
        self.rights = rights
        self.vault = vault
        self.consent = consent
        self.policy = policy

    # ------------------------------------------------------------------ filing
    def file(
        self,
        session: Session,
        actor: ActorRef,
        *,
        type: RequestType,
        details: Mapping[str, Any],
        now: datetime,
        subject_id: uuid.UUID | None = None,
        values: Mapping[str, Any] | None = None,
        jurisdiction: str | None = None,
    ) -> SubjectRequest:
        """File a request. A correction carries its new values, validated by the catalog now
        (so a bad value is refused at once, naming the field) and sealed under the subject's
        key until the officer applies them; other requests take no values."""
        details = dict(details)
        if type is RequestType.CORRECTION:
            if not values:
                raise InvalidPI(
                    [
                        FieldError(
                            "values",
                            "request.values_required",
                            "give the corrected value of each field to correct",
                        )
                    ]
                )
            details["fields"] = sorted(values)
        elif values:
            raise InvalidPI(
                [FieldError("values", "request.values_unexpected", "only a correction has values")]
            )
        if type is RequestType.CONSENT_WITHDRAWAL:
            details["topics"] = self._topics(details.get("topics"))
        request = self.rights.file(
            session,
            actor,
            subject_id=subject_id,
            type=type,
            details=details,
            now=now,
            jurisdiction=jurisdiction,
        )
        if values:
            request.sealed_values = self.vault.seal_aside(
                session, request.subject_id, values, context=_context(request), now=now
            )
        return request

    def _topics(self, raw: Any) -> list[str]:
        """Consent topics to withdraw (``purpose:marketing_sms``, ``third_party:<id>``); none
        named means every consent the consumer has given."""
        if raw is None:
            return []
        kinds = {k.value for k in Kind}
        if not isinstance(raw, list) or not all(
            isinstance(t, str) and t.partition(":")[0] in kinds and t.partition(":")[2]
            for t in raw
        ):
            raise InvalidPI(
                [
                    FieldError(
                        "details.topics",
                        "request.topics",
                        "must be a list of kind:target, kind one of " + ", ".join(sorted(kinds)),
                    )
                ]
            )
        return sorted(set(raw))

    # ------------------------------------------------------------------ helpers
    def _verified(
        self,
        session: Session,
        actor: ActorRef,
        request_id: uuid.UUID,
        types: Sequence[RequestType],
    ) -> SubjectRequest:
        request = self.rights.get(session, actor, request_id)
        if request.type not in {t.value for t in types}:
            raise WrongRequestType(request_id, types)
        if request.state != RequestState.IN_PROGRESS.value:
            raise NotVerified(RequestState(request.state))
        return request

    def _complete(
        self,
        session: Session,
        actor: ActorRef,
        request: SubjectRequest,
        note: str,
        now: datetime,
    ) -> SubjectRequest:
        return self.rights.move(
            session, actor, request.request_id, RequestState.COMPLETED, note=note, now=now
        )

    # ------------------------------------------------------------------ steps
    def correct(
        self, session: Session, actor: ActorRef, request_id: uuid.UUID, *, now: datetime
    ) -> SubjectRequest:
        """Apply the values the consumer gave, through the gate as the officer (policy rule
        ``rights.correct-on-request``), which validates again and logs the change."""
        request = self._verified(session, actor, request_id, [RequestType.CORRECTION])
        if request.sealed_values is None:
            raise InvalidPI(
                [FieldError("values", "request.values_missing", "the request holds no values")]
            )
        values = self.vault.open_aside(
            session, request.subject_id, request.sealed_values, context=_context(request)
        )
        changed = self.vault.update(
            session, actor, request.subject_id, values, now=now, purpose="account_management"
        )
        request.sealed_values = None  # applied: the copy has no further use
        return self._complete(session, actor, request, "corrected: " + ", ".join(changed), now)

    def delete(
        self, session: Session, actor: ActorRef, request_id: uuid.UUID, *, now: datetime
    ) -> tuple[SubjectRequest, ErasureStatement]:
        """Crypto-shred the subject; what the law keeps goes to restricted storage, and the
        statement of both is stored on the request for the consumer (PIPL Art. 47)."""
        request = self._verified(session, actor, request_id, [RequestType.DELETION])
        statement = self._erase(session, actor, request, now)
        return self._complete(session, actor, request, _statement_note(statement), now), statement

    def _erase(
        self, session: Session, actor: ActorRef, request: SubjectRequest, now: datetime
    ) -> ErasureStatement:
        statement = self.vault.erase(
            session,
            actor,
            request.subject_id,
            now=now,
            last_transaction=last_transaction(session, request.subject_id),
        )
        request.statement = statement_json(statement)
        request.sealed_values = None
        return statement

    def cancel_account(
        self, session: Session, actor: ActorRef, request_id: uuid.UUID, *, now: datetime
    ) -> Cancellation:
        """Close the account (注销). The only condition besides verified identity is that no
        order is still on its way or being refunded (E-Commerce Law Art. 24: no unreasonable
        conditions); while one is, the request says so to the consumer and stays open, its
        deadline still running. Closing erases the data, as a deletion does, and switches off
        the consumer's sign-in and API keys."""
        request = self._verified(session, actor, request_id, [RequestType.ACCOUNT_CANCELLATION])
        waiting = unsettled_orders(session, request.subject_id)
        if waiting:
            self.rights.note(
                session,
                actor,
                request,
                f"waiting for {waiting} order(s) to be delivered or refunded; the account "
                "closes once they are settled",
                now=now,
            )
            return Cancellation(request, False, waiting, None)
        statement = self._erase(session, actor, request, now)
        accounts = list(
            session.execute(
                select(Actor.actor_id).where(Actor.subject_id == request.subject_id)
            ).scalars()
        )
        if accounts:
            session.execute(
                update(Actor)
                .where(Actor.actor_id.in_(accounts), Actor.disabled_at.is_(None))
                .values(disabled_at=now)
            )
            session.execute(
                update(ApiKey)
                .where(ApiKey.actor_id.in_(accounts), ApiKey.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        request = self._complete(
            session, actor, request, "account closed; " + _statement_note(statement), now
        )
        return Cancellation(request, True, 0, statement)

    def withdraw_consents(
        self, session: Session, actor: ActorRef, request_id: uuid.UUID, *, now: datetime
    ) -> tuple[SubjectRequest, list[str]]:
        """Record a withdrawal for each topic named (or every consent given), as events on the
        request's channel; returns the topics withdrawn. Topics not currently granted are
        skipped: withdrawing twice says nothing new."""
        request = self._verified(session, actor, request_id, [RequestType.CONSENT_WITHDRAWAL])
        states = self.consent.states(session, request.subject_id, now)
        wanted = list(request.details.get("topics") or []) or sorted(states)
        done: list[str] = []
        for name in wanted:
            status = states.get(name)
            if status is None or not status.current:
                continue
            kind, _, target = name.partition(":")
            self.consent.record(
                session,
                actor,
                ConsentRequest(
                    subject_id=request.subject_id,
                    kind=Kind(kind),
                    target=target,
                    action=Action.WITHDRAWN,
                    channel=Channel.REQUEST,
                    text_shown=f"data-subject request {request.request_id}",
                ),
                now=now,
                birth_date=None,
            )
            done.append(topic(kind, target))
        note = "withdrawn: " + (", ".join(done) if done else "nothing was granted")
        return self._complete(session, actor, request, note, now), done

    def explanation(
        self, session: Session, actor: ActorRef, request_id: uuid.UUID, *, now: datetime
    ) -> dict[str, Any]:
        """The explanation document for a verified explanation request; the requester or the
        officer may read it while the request is in progress or completed."""
        request = self.rights.get(session, actor, request_id)
        if request.type != RequestType.EXPLANATION.value:
            raise WrongRequestType(request_id, [RequestType.EXPLANATION])
        state = RequestState(request.state)
        if state not in (RequestState.IN_PROGRESS, RequestState.COMPLETED):
            raise NotVerified(state)
        notice = latest_notice(session)
        return explain_processing(
            notice=notice.document if notice else None,
            notice_version=notice.version if notice else None,
            purposes=self.policy.purposes,
            states=self.consent.states(session, request.subject_id, now),
            held=self.vault.held_fields(session, request.subject_id),
            generated_at=now,
        )


def _context(request: SubjectRequest) -> str:
    return f"request:{request.request_id}"
