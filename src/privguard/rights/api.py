"""HTTP routes for data-subject requests: consumers file and track, officers work the queue."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from typing import IO, Any

from fastapi import APIRouter, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from privguard.api.deps import ActorDep, RuntimeDep, transaction
from privguard.api.errors import ErrorResponse
from privguard.clock import utcnow
from privguard.policy.rules import ActorRef, Role
from privguard.rights.deadlines import urgency
from privguard.rights.export import write_export
from privguard.rights.lifecycle import RequestState, RequestType, TransitionRefused
from privguard.rights.models import SubjectRequest
from privguard.rights.schemas import (
    AssignIn,
    CancellationOut,
    ChallengeOut,
    ErasureOut,
    EventOut,
    KeptOut,
    MoveIn,
    RequestIn,
    RequestOut,
    VerifyIn,
    VerifyStartIn,
    WithdrawalOut,
)
from privguard.rights.service import RequestNotFound, Rights
from privguard.vault.service import ErasureStatement

router = APIRouter(tags=["rights"])

ERRORS = {
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."},
    403: {"model": ErrorResponse, "description": "Not yours to do; `rule` says why."},
    404: {"model": ErrorResponse, "description": "No such request (or not yours)."},
    409: {"model": ErrorResponse, "description": "The request cannot move that way."},
    422: {"model": ErrorResponse, "description": "Invalid request; `fields` names the rule."},
}


def _out(rights: Rights, session: Session, request: SubjectRequest, *, history: bool) -> RequestOut:
    events = rights.history(session, request.request_id) if history else []
    return RequestOut(
        request_id=request.request_id,
        subject_id=request.subject_id,
        type=request.type,
        state=request.state,
        jurisdiction=request.jurisdiction,
        received_at=request.received_at,
        confirm_by=request.confirm_by,
        answer_by=request.answer_by,
        extended_answer_by=request.extended_answer_by,
        outcome=request.outcome,
        fields=list(request.details.get("fields") or []),
        statement=request.statement,
        urgency=urgency(request, utcnow()).value if request.closed_at is None else "ok",
        history=[
            EventOut(
                at=e.at, role=e.role, from_state=e.from_state, to_state=e.to_state, note=e.note
            )
            for e in events
        ],
    )


@router.post(
    "/v1/me/requests",
    status_code=status.HTTP_201_CREATED,
    response_model=RequestOut,
    responses=ERRORS,
    summary="File a data-subject request",
)
def file_request(body: RequestIn, runtime: RuntimeDep, actor: ActorDep) -> RequestOut:
    """Access, portability, correction, deletion, consent withdrawal, account cancellation,
    explanation, or a close relative's request about a deceased consumer. The deadline runs
    from now; the answer shows it."""
    with transaction(runtime) as session:
        request = runtime.fulfilment.file(
            session,
            actor,
            subject_id=body.subject_id,
            type=RequestType(body.type),
            details=body.details,
            values=body.values,
            now=utcnow(),
            jurisdiction=body.jurisdiction,
        )
        return _out(runtime.rights, session, request, history=True)


@router.get(
    "/v1/me/requests", response_model=list[RequestOut], responses=ERRORS, summary="My requests"
)
def my_requests(runtime: RuntimeDep, actor: ActorDep) -> list[RequestOut]:
    with transaction(runtime) as session:
        return [
            _out(runtime.rights, session, r, history=False)
            for r in runtime.rights.mine(session, actor)
        ]


@router.get(
    "/v1/requests/{request_id}",
    response_model=RequestOut,
    responses=ERRORS,
    summary="One request and its history",
)
def one_request(request_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> RequestOut:
    """The requester or the protection officer sees every state change, with who and when."""
    with transaction(runtime) as session:
        request = runtime.rights.get(session, actor, request_id)
        return _out(runtime.rights, session, request, history=True)


@router.get(
    "/v1/requests", response_model=list[RequestOut], responses=ERRORS, summary="The officer's queue"
)
def request_queue(runtime: RuntimeDep, actor: ActorDep) -> list[RequestOut]:
    """Open requests, soonest deadline first, each marked ok, due_soon or overdue."""
    with transaction(runtime) as session:
        return [
            _out(runtime.rights, session, r, history=False)
            for r in runtime.rights.queue(session, actor)
        ]


def _move(
    runtime: RuntimeDep, actor: ActorDep, request_id: uuid.UUID, to: RequestState, note: str
) -> RequestOut:
    with transaction(runtime) as session:
        request = runtime.rights.move(session, actor, request_id, to, note=note, now=utcnow())
        return _out(runtime.rights, session, request, history=True)


@router.post(
    "/v1/requests/{request_id}/start",
    response_model=RequestOut,
    responses=ERRORS,
    summary="Start work (identity verified)",
)
def start_request(
    request_id: uuid.UUID, body: MoveIn, runtime: RuntimeDep, actor: ActorDep
) -> RequestOut:
    return _move(runtime, actor, request_id, RequestState.IN_PROGRESS, body.note)


@router.post(
    "/v1/requests/{request_id}/complete",
    response_model=RequestOut,
    responses=ERRORS,
    summary="Complete a request",
)
def complete_request(
    request_id: uuid.UUID, body: MoveIn, runtime: RuntimeDep, actor: ActorDep
) -> RequestOut:
    return _move(runtime, actor, request_id, RequestState.COMPLETED, body.note)


@router.post(
    "/v1/requests/{request_id}/complete-partly",
    response_model=RequestOut,
    responses=ERRORS,
    summary="Complete part of a request, saying why not all",
)
def partly_complete_request(
    request_id: uuid.UUID, body: MoveIn, runtime: RuntimeDep, actor: ActorDep
) -> RequestOut:
    return _move(runtime, actor, request_id, RequestState.PARTIALLY_COMPLETED, body.note)


@router.post(
    "/v1/requests/{request_id}/refuse",
    response_model=RequestOut,
    responses=ERRORS,
    summary="Refuse a request, with the reason the consumer sees",
)
def refuse_request(
    request_id: uuid.UUID, body: MoveIn, runtime: RuntimeDep, actor: ActorDep
) -> RequestOut:
    return _move(runtime, actor, request_id, RequestState.REFUSED, body.note)


@router.post(
    "/v1/me/requests/{request_id}/withdraw",
    response_model=RequestOut,
    responses=ERRORS,
    summary="Withdraw my request",
)
def withdraw_request(request_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> RequestOut:
    return _move(runtime, actor, request_id, RequestState.WITHDRAWN, "")


@router.post(
    "/v1/requests/{request_id}/assign",
    response_model=RequestOut,
    responses=ERRORS,
    summary="Assign a request",
)
def assign_request(
    request_id: uuid.UUID, body: AssignIn, runtime: RuntimeDep, actor: ActorDep
) -> RequestOut:
    with transaction(runtime) as session:
        request = runtime.rights.assign(session, actor, request_id, body.actor_id, now=utcnow())
        return _out(runtime.rights, session, request, history=True)


# Moving a verified request on is the system's step, not an officer's.
VERIFIED_BY_CODE = ActorRef(
    actor_id=None, role=Role.PLATFORM_ADMIN, display_name="identity verification"
)


@router.post(
    "/v1/me/requests/{request_id}/verify/start",
    response_model=ChallengeOut,
    responses={
        **ERRORS,
        429: {
            "model": ErrorResponse,
            "description": "Too many codes for this person lately; `Retry-After` and "
            "`retry_at` say when to ask again.",
        },
    },
    summary="Send me a verification code",
)
def start_verification(
    request_id: uuid.UUID, body: VerifyStartIn, runtime: RuntimeDep, actor: ActorDep
) -> ChallengeOut:
    """A one-time code goes to the phone or email already on file (shown masked); it expires,
    and wrong guesses are limited."""
    now = utcnow()
    with transaction(runtime) as session:
        request = runtime.rights.get(session, actor, request_id)
        if actor.role is not Role.CONSUMER or actor.subject_id != request.requester_subject_id:
            raise RequestNotFound(request_id)
        challenge = runtime.verifier.start(
            session,
            runtime.vault,
            request.requester_subject_id,
            body.channel,
            str(request_id),
            now,
        )
        if request.state == RequestState.RECEIVED.value:
            runtime.rights.move(session, actor, request_id, RequestState.VERIFYING, now=now)
    return ChallengeOut(
        challenge_id=challenge.challenge_id,
        channel=challenge.channel,
        masked_destination=challenge.masked_destination,
        expires_at=challenge.expires_at,
    )


@router.post(
    "/v1/me/requests/{request_id}/verify",
    response_model=RequestOut,
    responses=ERRORS,
    summary="Verify with the code",
)
def verify(
    request_id: uuid.UUID, body: VerifyIn, runtime: RuntimeDep, actor: ActorDep
) -> RequestOut:
    """The right code moves the request into work; a wrong one counts against the limit."""
    now = utcnow()
    with transaction(runtime) as session:
        request = runtime.rights.get(session, actor, request_id)
        if actor.role is not Role.CONSUMER or actor.subject_id != request.requester_subject_id:
            raise RequestNotFound(request_id)
        runtime.verifier.check(
            session,
            body.challenge_id,
            body.code,
            now,
            subject_id=request.requester_subject_id,
            request_ref=str(request_id),
        )
        request = runtime.rights.move(
            session,
            VERIFIED_BY_CODE,
            request_id,
            RequestState.IN_PROGRESS,
            note="identity verified",
            now=now,
        )
        return _out(runtime.rights, session, request, history=True)


EXPORT_TYPES = frozenset({RequestType.ACCESS.value, RequestType.PORTABILITY.value})
EXPORT_STATES = frozenset({RequestState.IN_PROGRESS.value, RequestState.COMPLETED.value})
SPOOL_BYTES = 1 << 20  # past this the package goes to a temporary file, not memory
STREAM_CHUNK = 64 * 1024


class NoExport(RequestNotFound):
    """Only an access or portability request has a package; others read as not found."""

    code = "request.no_export"

    def __init__(self, request_id: uuid.UUID) -> None:
        LookupError.__init__(
            self, f"request {request_id} has no export: only access and portability requests do"
        )


class ExportNotReady(TransitionRefused):
    """The package is made once identity is verified (in progress) and stays until closed."""

    code = "request.export_not_ready"

    def __init__(self, state: RequestState) -> None:
        ValueError.__init__(
            self,
            f"a request that is {state.value} has no export: it needs verified identity "
            "(in_progress) or completion",
        )
        self.current = state
        self.wanted = state


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        while block := spool.read(STREAM_CHUNK):
            yield block
    finally:
        spool.close()


@router.get(
    "/v1/me/requests/{request_id}/export",
    response_class=StreamingResponse,
    responses={
        **ERRORS,
        200: {"content": {"application/zip": {}}, "description": "The zip package."},
    },
    summary="Download my access / portability package",
)
def export_request(
    request_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep
) -> StreamingResponse:
    """The requester's copy of their data (PIPL Art. 45), once their identity is verified.
    The package is written to a spooled temporary file inside the transaction, so the gate's
    access-log entry commits only when the package was made, then streamed from disk."""
    now = utcnow()
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 closed by _chunks
    try:
        with transaction(runtime) as session:
            request = runtime.rights.get(session, actor, request_id)
            own = actor.role is Role.CONSUMER and actor.subject_id == request.requester_subject_id
            if not own or request.subject_id != actor.subject_id:
                raise RequestNotFound(request_id)
            if request.type not in EXPORT_TYPES:
                raise NoExport(request_id)
            if request.state not in EXPORT_STATES:
                raise ExportNotReady(RequestState(request.state))
            write_export(
                session,
                runtime.vault,
                runtime.catalog,
                runtime.policy,
                actor,
                request.subject_id,
                spool,
                now=now,
            )
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    filename = f"privguard-export-{now.date().isoformat()}.zip"
    return StreamingResponse(
        _chunks(spool),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        background=BackgroundTask(spool.close),
    )


def _kept(statement: ErasureStatement | None) -> list[KeptOut]:
    if statement is None:
        return []
    return [KeptOut(field=k.field, until=k.until, basis=k.basis) for k in statement.kept]


@router.post(
    "/v1/requests/{request_id}/fulfil-deletion",
    response_model=ErasureOut,
    responses=ERRORS,
    summary="Carry out a deletion",
)
def fulfil_deletion(request_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> ErasureOut:
    """The protection officer carries out a verified deletion: the customer's data key is
    destroyed; transaction records the law keeps (E-Commerce Law Art. 31) move to restricted
    storage. The request completes with a statement of what was deleted and what was kept, why
    and until when (PIPL Art. 47), which the consumer sees."""
    with transaction(runtime) as session:
        request, statement = runtime.fulfilment.delete(session, actor, request_id, now=utcnow())
        return ErasureOut(
            request=_out(runtime.rights, session, request, history=True),
            deleted=statement.deleted,
            kept=_kept(statement),
        )


@router.post(
    "/v1/requests/{request_id}/fulfil-cancellation",
    response_model=CancellationOut,
    responses=ERRORS,
    summary="Close the account (account cancellation)",
)
def fulfil_cancellation(
    request_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep
) -> CancellationOut:
    """Closes a verified account-cancellation request's account: data erased as for a
    deletion, sign-in and API keys switched off. The only thing that holds it up is an order
    still on its way or being refunded (E-Commerce Law Art. 24); then `closed` is false and
    the request tells the consumer what it waits for."""
    with transaction(runtime) as session:
        result = runtime.fulfilment.cancel_account(session, actor, request_id, now=utcnow())
        return CancellationOut(
            request=_out(runtime.rights, session, result.request, history=True),
            closed=result.closed,
            unsettled_orders=result.unsettled_orders,
            deleted=result.statement.deleted if result.statement else [],
            kept=_kept(result.statement),
        )


@router.post(
    "/v1/requests/{request_id}/fulfil-correction",
    response_model=RequestOut,
    responses=ERRORS,
    summary="Apply a correction",
)
def fulfil_correction(request_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> RequestOut:
    """Applies the values the consumer gave with a verified correction request, through the
    gate (validated again and logged); the sealed copy is then dropped."""
    with transaction(runtime) as session:
        request = runtime.fulfilment.correct(session, actor, request_id, now=utcnow())
        return _out(runtime.rights, session, request, history=True)


@router.post(
    "/v1/requests/{request_id}/fulfil-consent-withdrawal",
    response_model=WithdrawalOut,
    responses=ERRORS,
    summary="Carry out a consent withdrawal",
)
def fulfil_withdrawal(
    request_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep
) -> WithdrawalOut:
    """Records a withdrawal in the consent ledger for each topic the request names (or every
    consent given), effective for the very next decision (PIPL Art. 15)."""
    with transaction(runtime) as session:
        request, withdrawn = runtime.fulfilment.withdraw_consents(
            session, actor, request_id, now=utcnow()
        )
        return WithdrawalOut(
            request=_out(runtime.rights, session, request, history=True), withdrawn=withdrawn
        )


@router.get(
    "/v1/requests/{request_id}/explanation",
    response_model=dict[str, Any],
    responses=ERRORS,
    summary="The explanation of how my data is processed",
)
def explanation(request_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    """For a verified explanation request (PIPL Art. 48, Art. 24): each purpose, whether it
    applies to you and why, the fields of yours it uses, who may see them, the legal basis;
    automated decisions, how they work and how to refuse or ask for a person. zh-CN and en."""
    with transaction(runtime) as session:
        return runtime.fulfilment.explanation(session, actor, request_id, now=utcnow())
