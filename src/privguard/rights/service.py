"""Filing, moving and listing data-subject requests. Services take the caller's session and
never commit (store/uow.py); every state change appends an event in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from privguard.catalog.model import Catalog
from privguard.policy.rules import Action, ActorRef, Role
from privguard.rights.deadlines import Deadlines
from privguard.rights.lifecycle import (
    CLOSED,
    ReasonRequired,
    RequestState,
    RequestType,
    check_transition,
    is_open,
)
from privguard.rights.models import RequestEvent, SubjectRequest
from privguard.vault.errors import AccessDenied, FieldError, InvalidPI, SubjectNotFound
from privguard.vault.models import Subject

OFFICERS = frozenset({Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN})
RELATIONS = frozenset({"spouse", "parent", "child", "sibling", "grandparent", "grandchild"})
RULE_OWN_REQUESTS = "rights.own-requests"
RULE_OFFICERS = "rights.officers-handle-requests"


DueDates = Callable[[datetime, str], Deadlines]  # rights/deadlines.due_dates, configured


class RequestNotFound(LookupError):
    code = "request_not_found"

    def __init__(self, request_id: uuid.UUID) -> None:
        super().__init__(f"no request {request_id}")


# Which in-progress request types let the officer take which action on the subject's record.
CARRIED_OUT_BY: dict[Action, frozenset[str]] = {
    Action.UPDATE: frozenset({RequestType.CORRECTION.value}),
    Action.ERASE: frozenset(
        {RequestType.DELETION.value, RequestType.ACCOUNT_CANCELLATION.value}
    ),
}


class VerifiedRequests:
    """The gate's request lookup (policy/service.RequestLookup): one indexed query, asked only
    by rules that name the verified_request relationship."""

    def verified(self, session: Session, subject_id: uuid.UUID, action: Action) -> bool:
        types = CARRIED_OUT_BY.get(action)
        if not types:
            return False
        found = session.execute(
            select(SubjectRequest.request_id)
            .where(
                SubjectRequest.subject_id == subject_id,
                SubjectRequest.state == RequestState.IN_PROGRESS.value,
                SubjectRequest.type.in_(types),
            )
            .limit(1)
        ).first()
        return found is not None


class Rights:
    def __init__(
        self,
        catalog: Catalog,
        due_dates: DueDates,
        jurisdictions: frozenset[str],
        default_jurisdiction: str,
    ) -> None:
        self.catalog = catalog
        self.due_dates = due_dates
        self.jurisdictions = jurisdictions
        self.default_jurisdiction = default_jurisdiction

    # ------------------------------------------------------------------ filing
    def file(
        self,
        session: Session,
        actor: ActorRef,
        *,
        subject_id: uuid.UUID | None,
        type: RequestType,
        details: Mapping[str, Any],
        now: datetime,
        jurisdiction: str | None = None,
    ) -> SubjectRequest:
        """A consumer files a request about themselves, or (PIPL Art. 49) about a deceased close
        relative; the deadline clock starts now."""
        if actor.role is not Role.CONSUMER or actor.subject_id is None:
            raise AccessDenied(RULE_OWN_REQUESTS, "requests are filed by consumer accounts")
        target = subject_id or actor.subject_id
        if (target != actor.subject_id) != (type is RequestType.DECEASED_RELATIVE):
            raise AccessDenied(
                RULE_OWN_REQUESTS,
                "a request is about your own data, except a deceased relative's (PIPL Art. 49)",
            )
        subject = session.get(Subject, target)
        if subject is None or (subject.status != "active" and target == actor.subject_id):
            raise SubjectNotFound(target)
        clean = self._details(type, details)
        place = jurisdiction or self.default_jurisdiction
        if place not in self.jurisdictions:
            raise InvalidPI(
                [
                    FieldError(
                        "jurisdiction",
                        "rights.unknown_jurisdiction",
                        "must be one of " + ", ".join(sorted(self.jurisdictions)),
                    )
                ]
            )
        due = self.due_dates(now, place)
        request = SubjectRequest(
            request_id=uuid.uuid4(),
            subject_id=target,
            requester_subject_id=actor.subject_id,
            type=type.value,
            state=RequestState.RECEIVED.value,
            jurisdiction=place,
            received_at=now,
            confirm_by=due.confirm_by,
            answer_by=due.answer_by,
            extended_answer_by=due.extended_answer_by,
            details=clean,
        )
        session.add(request)
        session.flush()
        self._event(session, request, actor, None, RequestState.RECEIVED, "", now)
        return request

    def _details(self, type: RequestType, details: Mapping[str, Any]) -> dict[str, Any]:
        allowed = {"fields", "relation", "note", "topics"}
        unknown = set(details) - allowed
        if unknown:
            raise InvalidPI(
                [
                    FieldError(
                        f"details.{k}", "request.unknown_key", "is not a detail a request takes"
                    )
                    for k in sorted(unknown)
                ]
            )
        out: dict[str, Any] = {}
        if type is RequestType.CORRECTION:
            fields = details.get("fields")
            if not isinstance(fields, list) or not fields:
                raise InvalidPI(
                    [
                        FieldError(
                            "details.fields",
                            "request.fields_required",
                            "name the catalog fields to correct",
                        )
                    ]
                )
            bad = [f for f in fields if f not in self.catalog]
            if bad:
                raise InvalidPI(
                    [
                        FieldError(
                            "details.fields",
                            "catalog.unknown_field",
                            f"not catalog fields: {len(bad)}",
                        )
                    ]
                )
            out["fields"] = sorted(set(fields))
        if type is RequestType.DECEASED_RELATIVE:
            relation = details.get("relation")
            if relation not in RELATIONS:
                raise InvalidPI(
                    [
                        FieldError(
                            "details.relation",
                            "request.relation",
                            "must be one of " + ", ".join(sorted(RELATIONS)),
                        )
                    ]
                )
            out["relation"] = relation
        if type is RequestType.CONSENT_WITHDRAWAL and details.get("topics"):
            out["topics"] = list(details["topics"])  # checked by rights/fulfilment.py
        note = details.get("note")
        if note is not None:
            # Free text may hold personal information: it is not stored, only its length.
            out["note_chars"] = len(str(note))
        return out

    # ------------------------------------------------------------------ moving
    def move(
        self,
        session: Session,
        actor: ActorRef,
        request_id: uuid.UUID,
        to: RequestState,
        *,
        note: str = "",
        now: datetime,
    ) -> SubjectRequest:
        request = self._get(session, actor, request_id, lock=True)
        own = actor.role is Role.CONSUMER and actor.subject_id == request.requester_subject_id
        if to is RequestState.WITHDRAWN:
            if not own:
                raise AccessDenied(RULE_OWN_REQUESTS, "only the requester withdraws a request")
        elif to is not RequestState.VERIFYING and actor.role not in OFFICERS:
            raise AccessDenied(RULE_OFFICERS, "the protection officer handles requests")
        current = RequestState(request.state)
        try:
            check_transition(current, to, reason=note)
        except ReasonRequired as exc:
            raise InvalidPI([FieldError("note", "request.reason_required", str(exc))]) from None
        request.state = to.value
        if to in (RequestState.REFUSED, RequestState.PARTIALLY_COMPLETED, RequestState.COMPLETED):
            request.outcome = note or None
        if to in CLOSED:
            request.closed_at = now
        self._event(session, request, actor, current, to, note, now)
        return request

    def assign(
        self,
        session: Session,
        actor: ActorRef,
        request_id: uuid.UUID,
        assignee: uuid.UUID,
        *,
        now: datetime,
    ) -> SubjectRequest:
        if actor.role not in OFFICERS:
            raise AccessDenied(RULE_OFFICERS, "the protection officer assigns requests")
        request = self._get(session, actor, request_id, lock=True)
        request.assigned_to = assignee
        state = RequestState(request.state)
        self._event(session, request, actor, state, state, f"assigned to {assignee}", now)
        return request

    def note(
        self,
        session: Session,
        actor: ActorRef,
        request: SubjectRequest,
        note: str,
        *,
        now: datetime,
    ) -> None:
        """An event that changes no state: progress the consumer should see (a cancellation
        waiting for orders to settle)."""
        if actor.role not in OFFICERS:
            raise AccessDenied(RULE_OFFICERS, "the protection officer handles requests")
        state = RequestState(request.state)
        self._event(session, request, actor, state, state, note, now)

    # ------------------------------------------------------------------ reading
    def _get(
        self, session: Session, actor: ActorRef, request_id: uuid.UUID, *, lock: bool = False
    ) -> SubjectRequest:
        stmt = select(SubjectRequest).where(SubjectRequest.request_id == request_id)
        if lock:
            stmt = stmt.with_for_update()
        request = session.execute(stmt).scalar_one_or_none()
        visible = request is not None and (
            actor.role in OFFICERS
            or (actor.role is Role.CONSUMER and actor.subject_id == request.requester_subject_id)
        )
        if not visible or request is None:
            raise RequestNotFound(request_id)
        return request

    def get(self, session: Session, actor: ActorRef, request_id: uuid.UUID) -> SubjectRequest:
        return self._get(session, actor, request_id)

    def history(self, session: Session, request_id: uuid.UUID) -> list[RequestEvent]:
        return list(
            session.execute(
                select(RequestEvent)
                .where(RequestEvent.request_id == request_id)
                .order_by(RequestEvent.event_id)
            ).scalars()
        )

    def mine(self, session: Session, actor: ActorRef) -> list[SubjectRequest]:
        if actor.role is not Role.CONSUMER or actor.subject_id is None:
            raise AccessDenied(RULE_OWN_REQUESTS, "requests are filed by consumer accounts")
        return list(
            session.execute(
                select(SubjectRequest)
                .where(SubjectRequest.requester_subject_id == actor.subject_id)
                .order_by(SubjectRequest.received_at.desc())
            ).scalars()
        )

    def queue(self, session: Session, actor: ActorRef) -> list[SubjectRequest]:
        """Open requests, the soonest deadline first (the officer's work list)."""
        if actor.role not in OFFICERS:
            raise AccessDenied(RULE_OFFICERS, "the queue is the protection officer's")
        open_states = [s.value for s in RequestState if is_open(s)]
        return list(
            session.execute(
                select(SubjectRequest)
                .where(SubjectRequest.state.in_(open_states))
                .order_by(SubjectRequest.answer_by)
            ).scalars()
        )

    @staticmethod
    def _event(
        session: Session,
        request: SubjectRequest,
        actor: ActorRef,
        old: RequestState | None,
        new: RequestState,
        note: str,
        now: datetime,
    ) -> None:
        session.add(
            RequestEvent(
                request_id=request.request_id,
                subject_id=request.subject_id,
                at=now,
                actor_id=actor.actor_id,
                role=actor.role.value,
                from_state=old.value if old else None,
                to_state=new.value,
                note=note,
            )
        )
        session.flush()
