"""HTTP routes for complaints and reports, the evidence view, and merchant supervision."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status
from sqlalchemy.orm import Session

from privguard.api.deps import ActorDep, RuntimeDep, transaction
from privguard.api.errors import ErrorResponse
from privguard.cases.evidence import bundle, evidence
from privguard.cases.models import Case, MerchantSanction
from privguard.cases.rules import Category, Queue, State, escalated
from privguard.cases.schemas import (
    AppealIn,
    AssignIn,
    AttachmentOut,
    CaseEventOut,
    CaseIn,
    CaseOut,
    DecideIn,
    InfoIn,
    NoteIn,
    RatingOut,
    RecordOut,
    ResolveIn,
    SanctionOut,
)
from privguard.clock import utcnow
from privguard.policy.rules import Role

router = APIRouter(tags=["cases"])

ERRORS = {
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."},
    403: {"model": ErrorResponse, "description": "Not yours to do; `rule` says why."},
    404: {"model": ErrorResponse, "description": "No such case (or not yours)."},
    409: {"model": ErrorResponse, "description": "The case cannot move that way."},
    422: {"model": ErrorResponse, "description": "Invalid input; `fields` names the rule."},
}
SUPERVISORS = frozenset({Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN, Role.AUDITOR})


def _out(runtime: Any, session: Session, case: Case, *, history: bool) -> CaseOut:
    now = utcnow()
    return CaseOut(
        case_id=case.case_id, category=case.category, queue=case.queue, state=case.state,
        order_id=case.order_id, merchant_id=case.merchant_id, description=case.description,
        redactions=case.redactions, received_at=case.received_at, triage_by=case.triage_by,
        resolve_by=case.resolve_by,
        escalated=escalated(State(case.state), now, case.triage_by, case.resolve_by),
        upheld=case.upheld, finding=case.finding, corrective_action=case.corrective_action,
        history=[
            CaseEventOut(at=e.at, role=e.role, kind=e.kind, from_state=e.from_state,
                         to_state=e.to_state, note=e.note)
            for e in runtime.cases.history(session, case.case_id)
        ] if history else [],
    )


@router.post("/v1/cases", status_code=status.HTTP_201_CREATED, response_model=CaseOut,
             responses=ERRORS, summary="File a complaint or report")
def file_case(body: CaseIn, runtime: RuntimeDep, actor: ActorDep) -> CaseOut:
    """A consumer complains (about an order, a merchant, harassment, marketing without
    consent, an ignored rights request...); anyone with an account may report a leak,
    harassment or a merchant's misuse. Personal information in the description is redacted
    before it is stored; the deadlines are in the answer."""
    with transaction(runtime) as session:
        case = runtime.cases.file(session, actor, category=Category(body.category),
                                  description=body.description, order_id=body.order_id,
                                  merchant_id=body.merchant_id, now=utcnow())
        return _out(runtime, session, case, history=True)


@router.get("/v1/me/cases", response_model=list[CaseOut], responses=ERRORS,
            summary="The cases I filed")
def my_cases(runtime: RuntimeDep, actor: ActorDep) -> list[CaseOut]:
    with transaction(runtime) as session:
        return [_out(runtime, session, c, history=False)
                for c in runtime.cases.mine(session, actor)]


@router.get("/v1/cases", response_model=list[CaseOut], responses=ERRORS,
            summary="A queue of open cases")
def case_queue(runtime: RuntimeDep, actor: ActorDep, queue: str = "privacy") -> list[CaseOut]:
    """Open cases of the `privacy` (protection officer) or `commerce` (service desk) queue,
    soonest deadline first, escalated ones marked."""
    with transaction(runtime) as session:
        try:
            which = Queue(queue)
        except ValueError:
            from privguard.vault.errors import FieldError, InvalidPI

            raise InvalidPI([FieldError("queue", "case.queue", "privacy or commerce")]) from None
        return [_out(runtime, session, c, history=False)
                for c in runtime.cases.queue(session, actor, which)]


@router.get("/v1/cases/{case_id}", response_model=CaseOut, responses=ERRORS,
            summary="One case and its history")
def one_case(case_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> CaseOut:
    """The filer follows their case; its handlers and auditors see it too."""
    with transaction(runtime) as session:
        return _out(runtime, session, runtime.cases.get(session, actor, case_id), history=True)


def _move(runtime: Any, actor: Any, case_id: uuid.UUID, to: State, note: str) -> CaseOut:
    with transaction(runtime) as session:
        case = runtime.cases.move(session, actor, case_id, to, note=note, now=utcnow())
        return _out(runtime, session, case, history=True)


@router.post("/v1/cases/{case_id}/triage", response_model=CaseOut, responses=ERRORS,
             summary="Triage a case")
def triage(case_id: uuid.UUID, body: NoteIn, runtime: RuntimeDep, actor: ActorDep) -> CaseOut:
    return _move(runtime, actor, case_id, State.TRIAGED, body.note)


@router.post("/v1/cases/{case_id}/investigate", response_model=CaseOut, responses=ERRORS,
             summary="Start the investigation")
def investigate(
    case_id: uuid.UUID, body: NoteIn, runtime: RuntimeDep, actor: ActorDep
) -> CaseOut:
    return _move(runtime, actor, case_id, State.INVESTIGATING, body.note)


@router.post("/v1/cases/{case_id}/reject", response_model=CaseOut, responses=ERRORS,
             summary="Reject a case, with the reason the filer sees")
def reject(case_id: uuid.UUID, body: NoteIn, runtime: RuntimeDep, actor: ActorDep) -> CaseOut:
    return _move(runtime, actor, case_id, State.REJECTED, body.note)


@router.post("/v1/cases/{case_id}/resolve", response_model=CaseOut, responses=ERRORS,
             summary="Resolve with a finding and the corrective action")
def resolve(
    case_id: uuid.UUID, body: ResolveIn, runtime: RuntimeDep, actor: ActorDep
) -> CaseOut:
    """An upheld case against a merchant re-evaluates its compliance score at once; a
    sanction it earns takes effect at the gate for the merchant's next read."""
    with transaction(runtime) as session:
        case = runtime.cases.resolve(session, actor, case_id, upheld=body.upheld,
                                     finding=body.finding,
                                     corrective_action=body.corrective_action, now=utcnow())
        return _out(runtime, session, case, history=True)


@router.post("/v1/cases/{case_id}/info", response_model=CaseOut, responses=ERRORS,
             summary="Add information to a case")
def add_info(case_id: uuid.UUID, body: InfoIn, runtime: RuntimeDep, actor: ActorDep) -> CaseOut:
    with transaction(runtime) as session:
        runtime.cases.add_info(session, actor, case_id, body.text, now=utcnow())
        return _out(runtime, session, runtime.cases.get(session, actor, case_id), history=True)


@router.post("/v1/cases/{case_id}/assign", response_model=CaseOut, responses=ERRORS,
             summary="Assign a case")
def assign(case_id: uuid.UUID, body: AssignIn, runtime: RuntimeDep, actor: ActorDep) -> CaseOut:
    with transaction(runtime) as session:
        case = runtime.cases.assign(session, actor, case_id, body.actor_id, now=utcnow())
        return _out(runtime, session, case, history=True)


@router.post(
    "/v1/cases/{case_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentOut,
    responses=ERRORS,
    summary="Attach a PNG, JPEG or PDF",
    openapi_extra={"requestBody": {"required": True, "content": {
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def attach(
    case_id: uuid.UUID, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> AttachmentOut:
    """The file is the request body, its type the Content-Type header; the content must be
    what the header says. Sealed under a key of its own; limited in size (and by the server's
    request size limit)."""
    data = await request.body()
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    with transaction(runtime) as session:
        row = runtime.cases.attach(session, actor, case_id, media_type=media_type, data=data,
                                   now=utcnow())
        return AttachmentOut(attachment_id=row.attachment_id, media_type=row.media_type,
                             size=row.size)


@router.get("/v1/cases/attachments/{attachment_id}", responses={
    **ERRORS, 200: {"content": {"application/octet-stream": {}}, "description": "The file."}},
    summary="Read an attachment (handlers; logged)")
def read_attachment(attachment_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> Response:
    with transaction(runtime) as session:
        media_type, data = runtime.cases.read_attachment(session, actor, attachment_id,
                                                         now=utcnow())
    return Response(content=data, media_type=media_type,
                    headers={"Content-Disposition": "attachment"})


@router.get("/v1/cases/{case_id}/evidence", response_model=dict[str, Any], responses=ERRORS,
            summary="The investigation view")
def case_evidence(case_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    """For the consumer concerned, over the case's window: every access to their data (who,
    which organisation, fields, purpose, allowed or refused), transfers, relay contacts and
    consent history. Opening it is a gated read (purpose complaint_investigation)."""
    with transaction(runtime) as session:
        case = runtime.cases.get(session, actor, case_id)
        return evidence(session, runtime.vault, actor, case, now=utcnow(),
                        relay_contacts=runtime.relay_contacts)


@router.get("/v1/cases/{case_id}/evidence/bundle", response_model=dict[str, Any],
            responses=ERRORS, summary="The evidence with access-log inclusion proofs")
def case_bundle(case_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    """The evidence plus an inclusion proof of each sequenced access entry against the signed
    tree head, checkable with docs/verify_proof.py."""
    with transaction(runtime) as session:
        case = runtime.cases.get(session, actor, case_id)
        return bundle(session, runtime.vault, runtime.signer, actor, case, now=utcnow(),
                      relay_contacts=runtime.relay_contacts)


# ---------------------------------------------------------------- supervision
def _sanction_out(s: MerchantSanction) -> SanctionOut:
    return SanctionOut(
        sanction_id=s.sanction_id, merchant_id=s.merchant_id, level=s.level, reason=s.reason,
        score=s.score, case_id=s.case_id, imposed_at=s.imposed_at, lifted_at=s.lifted_at,
        lifted_reason=s.lifted_reason, appeal=s.appeal, appealed_at=s.appealed_at,
        appeal_decision=s.appeal_decision,
    )


@router.get("/v1/merchants/{merchant_id}/privacy-rating", response_model=RatingOut,
            responses=ERRORS, summary="A merchant's privacy rating")
def privacy_rating(merchant_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> RatingOut:
    """Everyone sees the grade (A best, E worst) on the merchant's page; the protection
    officer, operators and auditors also see the score, the record and any sanction."""
    with transaction(runtime) as session:
        s = runtime.supervision.standing(session, merchant_id, utcnow())
        out = RatingOut(merchant_id=merchant_id, name=str(s["name"]), grade=str(s["grade"]))
        if actor.role in SUPERVISORS:
            rec = s["record"]
            out.score = float(s["score"])  # type: ignore[arg-type]
            out.record = RecordOut(**rec.__dict__)  # type: ignore[union-attr]
            out.sanction = s["sanction"]  # type: ignore[assignment]
        return out


@router.get("/v1/merchants/{merchant_id}/sanctions", response_model=list[SanctionOut],
            responses=ERRORS, summary="A merchant's sanctions")
def merchant_sanctions(
    merchant_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep
) -> list[SanctionOut]:
    with transaction(runtime) as session:
        return [_sanction_out(s)
                for s in runtime.supervision.sanctions(session, actor, merchant_id)]


@router.post("/v1/merchants/{merchant_id}/evaluate", response_model=SanctionOut | None,
             responses=ERRORS, summary="Re-evaluate a merchant's record now")
def evaluate(merchant_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> SanctionOut | None:
    """Imposes the sanction the score earns if it is stricter than any in force."""
    if actor.role not in (Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN):
        from privguard.vault.errors import AccessDenied

        raise AccessDenied("cases.supervision", "the protection officer evaluates merchants")
    with transaction(runtime) as session:
        runtime.supervision.standing(session, merchant_id, utcnow())  # 404 for non-merchants
        found = runtime.supervision.evaluate(session, actor, merchant_id, utcnow())
        return _sanction_out(found) if found else None


@router.post("/v1/sanctions/{sanction_id}/appeal", response_model=SanctionOut,
             responses=ERRORS, summary="Appeal a sanction (the merchant)")
def appeal(sanction_id: uuid.UUID, body: AppealIn, runtime: RuntimeDep,
           actor: ActorDep) -> SanctionOut:
    with transaction(runtime) as session:
        return _sanction_out(runtime.supervision.appeal(session, actor, sanction_id, body.text,
                                                        now=utcnow()))


@router.post("/v1/sanctions/{sanction_id}/decide", response_model=SanctionOut,
             responses=ERRORS, summary="Lift or uphold a sanction (the officer)")
def decide(sanction_id: uuid.UUID, body: DecideIn, runtime: RuntimeDep,
           actor: ActorDep) -> SanctionOut:
    with transaction(runtime) as session:
        return _sanction_out(runtime.supervision.decide(session, actor, sanction_id,
                                                        lift=body.lift, reason=body.reason,
                                                        now=utcnow()))
