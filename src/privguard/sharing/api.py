"""HTTP routes for recipients, agreements, transfers, "who has my data" and recipient notices."""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter, Response, status

from privguard.api.deps import ActorDep, RuntimeDep, transaction
from privguard.api.errors import ErrorResponse
from privguard.clock import utcnow
from privguard.policy.rules import Role
from privguard.sharing.models import Agreement, AgreementTask, Recipient
from privguard.sharing.rules import is_cross_border
from privguard.sharing.schemas import (
    AckIn,
    AgreementIn,
    AgreementOut,
    DatasetIn,
    HolderOut,
    NoticeOut,
    RecipientIn,
    RecipientOut,
    SharedOut,
    ShareIn,
    ShareOut,
    TaskCloseIn,
    TaskOut,
)
from privguard.vault.errors import AccessDenied

router = APIRouter(tags=["sharing"])

ERRORS = {
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."},
    403: {"model": ErrorResponse, "description": "Not yours to do; `rule` says why."},
    404: {"model": ErrorResponse, "description": "No such recipient, agreement or task."},
    422: {"model": ErrorResponse, "description": "Invalid input; `fields` names the rule."},
}


def _recipient_out(r: Recipient, home: str) -> RecipientOut:
    return RecipientOut(
        recipient_id=r.recipient_id, legal_entity=r.legal_entity, contact=r.contact,
        country=r.country, cross_border=is_cross_border(r.country, home),
        processor_role=r.processor_role, category=r.category, registered_at=r.registered_at,
    )


def _agreement_out(a: Agreement) -> AgreementOut:
    return AgreementOut(
        agreement_id=a.agreement_id, recipient_id=a.recipient_id, reference=a.reference,
        purposes=list(a.purposes), fields=list(a.fields), retention_days=a.retention_days,
        sub_processing=a.sub_processing, starts_at=a.starts_at, ends_at=a.ends_at,
        terminated_at=a.terminated_at,
    )


def _task_out(t: AgreementTask, a: Agreement) -> TaskOut:
    return TaskOut(
        task_id=t.task_id, agreement_id=t.agreement_id, recipient_id=a.recipient_id,
        opened_at=t.opened_at, due_at=t.due_at, closed_at=t.closed_at, outcome=t.outcome,
    )


@router.post("/v1/recipients", status_code=status.HTTP_201_CREATED, response_model=RecipientOut,
             responses=ERRORS, summary="Register a recipient")
def register_recipient(body: RecipientIn, runtime: RuntimeDep, actor: ActorDep) -> RecipientOut:
    """The protection officer or an operator registers a partner or carrier that may receive
    personal information: legal entity, privacy contact, country (abroad means PIPL Art. 38-39
    applies), entrusted or independent, and what kind of business it is."""
    with transaction(runtime) as session:
        r = runtime.sharing.register(session, actor, **body.model_dump(), now=utcnow())
        return _recipient_out(r, runtime.sharing.home)


@router.get("/v1/recipients", response_model=list[RecipientOut], responses=ERRORS,
            summary="The recipient registry")
def list_recipients(runtime: RuntimeDep, actor: ActorDep) -> list[RecipientOut]:
    with transaction(runtime) as session:
        return [_recipient_out(r, runtime.sharing.home)
                for r in runtime.sharing.recipients(session, actor)]


@router.post("/v1/recipients/{recipient_id}/agreements", status_code=status.HTTP_201_CREATED,
             response_model=AgreementOut, responses=ERRORS, summary="Record an agreement")
def add_agreement(
    recipient_id: uuid.UUID, body: AgreementIn, runtime: RuntimeDep, actor: ActorDep
) -> AgreementOut:
    """Purposes, fields, retention, sub-processing and term. Only what an agreement in force
    names can leave, and only for its purposes."""
    with transaction(runtime) as session:
        a = runtime.sharing.add_agreement(session, actor, recipient_id, **body.model_dump(),
                                          now=utcnow())
        return _agreement_out(a)


@router.get("/v1/recipients/{recipient_id}/agreements", response_model=list[AgreementOut],
            responses=ERRORS, summary="A recipient's agreements")
def list_agreements(
    recipient_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep
) -> list[AgreementOut]:
    with transaction(runtime) as session:
        return [_agreement_out(a)
                for a in runtime.sharing.agreements(session, actor, recipient_id)]


@router.post("/v1/agreements/{agreement_id}/terminate", response_model=AgreementOut,
             responses=ERRORS, summary="End an agreement now")
def terminate_agreement(
    agreement_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep
) -> AgreementOut:
    """Nothing more leaves under it; a task opens to confirm the recipient returned or deleted
    what it received (PIPL Art. 21)."""
    with transaction(runtime) as session:
        return _agreement_out(runtime.sharing.terminate(session, actor, agreement_id,
                                                        now=utcnow()))


@router.get("/v1/agreement-tasks", response_model=list[TaskOut], responses=ERRORS,
            summary="Return-or-delete confirmations due")
def list_tasks(runtime: RuntimeDep, actor: ActorDep, all: bool = False) -> list[TaskOut]:
    """Opens a task for every agreement that has ended since the last look, then lists the
    open ones (or all), soonest due first."""
    now = utcnow()
    with transaction(runtime) as session:
        if actor.role in (Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN):
            runtime.sharing.open_due_tasks(session, now=now)
        return [_task_out(t, a)
                for t, a in runtime.sharing.tasks(session, actor, now=now, open_only=not all)]


@router.post("/v1/agreement-tasks/{task_id}/close", response_model=TaskOut, responses=ERRORS,
             summary="Record the recipient's confirmation")
def close_task(
    task_id: uuid.UUID, body: TaskCloseIn, runtime: RuntimeDep, actor: ActorDep
) -> TaskOut:
    with transaction(runtime) as session:
        t = runtime.sharing.close_task(session, actor, task_id, outcome=body.outcome,
                                       evidence=body.evidence, now=utcnow())
        a = session.get(Agreement, t.agreement_id)
        assert a is not None
        return _task_out(t, a)


@router.post("/v1/transfers", response_model=ShareOut, responses=ERRORS,
             summary="Provide subjects' data to a recipient")
def share(body: ShareIn, runtime: RuntimeDep, actor: ActorDep) -> ShareOut:
    """A partner receives for its own organisation, or an operator pushes on its behalf. Fields
    outside the recipient's agreements in force are refused by name before anything is read.
    Each subject is then read through the gate as the recipient: the policy, the consumer's
    separate consent to this recipient (PIPL Art. 23) and, abroad, to the transfer (Art. 39)
    decide field by field; every read is logged and recorded as a transfer."""
    with transaction(runtime) as session:
        shared = runtime.sharing.share(
            session, actor, recipient_id=body.recipient_id, purpose=body.purpose,
            subject_ids=body.subject_ids, fields=body.fields, now=utcnow(),
        )
        return ShareOut(
            recipient_id=body.recipient_id,
            purpose=body.purpose,
            subjects=[
                SharedOut(
                    subject_id=s.subject_id,
                    fields={n: v.value for n, v in s.values.items() if v.present},
                    views={n: v.view.value for n, v in s.values.items()},
                    refused={d.field: d.rule for d in s.refused},
                    error=s.error,
                )
                for s in shared
            ],
        )


@router.get("/v1/me/recipients", response_model=list[HolderOut], responses=ERRORS,
            summary="Who has my data")
def who_has_my_data(runtime: RuntimeDep, actor: ActorDep) -> list[HolderOut]:
    """Every recipient outside the platform that received your personal information: who they
    are, where, for what purpose, which fields, first and last time."""
    if actor.role is not Role.CONSUMER or actor.subject_id is None:
        raise AccessDenied("sharing.own-recipients", "consumers see their own recipients")
    with transaction(runtime) as session:
        return [HolderOut(**h)
                for h in runtime.sharing.who_has_my_data(session, actor.subject_id)]


@router.get("/v1/recipient-notices", response_model=list[NoticeOut], responses=ERRORS,
            summary="Deletions, corrections and withdrawals to act on")
def recipient_notices(runtime: RuntimeDep, actor: ActorDep) -> list[NoticeOut]:
    """For a recipient's own partners: each subject whose data it received and who has since
    been deleted, corrected or withdrawn consent. Act on it, then acknowledge."""
    with transaction(runtime) as session:
        return [NoticeOut(notice_id=n.notice_id, subject_id=n.subject_id, event=n.event,
                          fields=list(n.fields), created_at=n.created_at)
                for n in runtime.sharing.notices(session, actor)]


@router.post("/v1/recipient-notices/ack", responses=ERRORS, summary="Acknowledge notices")
def acknowledge_notices(body: AckIn, runtime: RuntimeDep, actor: ActorDep) -> dict[str, int]:
    with transaction(runtime) as session:
        return {"acknowledged": runtime.sharing.acknowledge(session, actor, body.notice_ids,
                                                            now=utcnow())}


@router.post("/v1/recipients/{recipient_id}/datasets", responses={
    **ERRORS, 200: {"content": {"text/csv": {}}, "description": "The de-identified rows."}},
    summary="Release a de-identified dataset to a recipient")
def release(recipient_id: uuid.UUID, body: DatasetIn, runtime: RuntimeDep,
            actor: ActorDep) -> Response:
    """The officer or an operator releases consenting consumers' data generalised to k (and
    l), with pseudonymous ids keyed for this recipient, under an agreement covering analytics
    and every source field. The report (achieved k, l, suppression, information loss) is in
    the `X-Deid-Report` header; the release is recorded, never its rows."""
    from privguard.sharing.datasets import release_dataset
    from privguard.sharing.deid_rules import AddressQI, AgeQI, CategoryQI, DatasetSpec, DateQI

    make = {"age_from_birth_date": lambda c: AgeQI(c, birth_date=True), "address": AddressQI,
            "date": DateQI, "category": CategoryQI}
    spec = DatasetSpec(
        quasi_identifiers=tuple(make[q.kind](q.column) for q in body.quasi_identifiers),
        k=body.k, l_diversity=body.l_diversity, sensitive=body.sensitive,
        max_suppression=body.max_suppression, as_of=utcnow().date(),
    )
    with transaction(runtime) as session:
        data, report = release_dataset(runtime.sharing, runtime.keys, session, actor,
                                       recipient_id=recipient_id, spec=spec,
                                       subject_ids=body.subject_ids, now=utcnow())
    return Response(content=data.to_csv(index=False), media_type="text/csv",
                    headers={"X-Deid-Report": json.dumps(report.as_dict(), default=str)})
