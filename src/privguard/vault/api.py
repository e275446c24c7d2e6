"""HTTP routes for the vault: register, update, read through the gate, look up, erase."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from privguard.api.deps import ActorDep, RuntimeDep, transaction
from privguard.api.errors import ErrorResponse
from privguard.api.threads import run_sync
from privguard.clock import utcnow
from privguard.marketplace.service import last_transaction
from privguard.policy.rules import View
from privguard.vault.schemas import (
    PURPOSE_PATTERN,
    DeniedOut,
    FieldOut,
    LookupRequest,
    LookupResult,
    SubjectCreate,
    SubjectRead,
    SubjectUpdate,
    SubjectWritten,
)
from privguard.vault.service import ReadResult

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])

RequestedView = Literal["plain", "masked", "waybill"]

ERRORS = {
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."},
    403: {"model": ErrorResponse, "description": "The policy refused; `rule` says which rule."},
    422: {"model": ErrorResponse, "description": "Invalid input; `fields` names field and rule."},
}
SUBJECT_ERRORS = {
    **ERRORS,
    404: {"model": ErrorResponse, "description": "No such subject."},
    410: {"model": ErrorResponse, "description": "The subject was erased (crypto-shredded)."},
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SubjectWritten,
    responses=ERRORS,
    summary="Register a customer",
)
async def register_subject(
    body: SubjectCreate, runtime: RuntimeDep, actor: ActorDep
) -> SubjectWritten:
    """Validate every field, encrypt each value under a new per-customer data key and store it.
    Any invalid field rejects the whole request (422) and nothing is written."""

    def register() -> uuid.UUID:
        with transaction(runtime) as session:
            return runtime.vault.register(session, actor, body.pi, now=utcnow())

    subject_id = await run_sync(register)
    return SubjectWritten(subject_id=subject_id, fields=list(body.pi))


@router.patch(
    "/{subject_id}",
    response_model=SubjectWritten,
    responses=SUBJECT_ERRORS,
    summary="Change or remove fields",
)
def update_subject(
    subject_id: uuid.UUID, body: SubjectUpdate, runtime: RuntimeDep, actor: ActorDep
) -> SubjectWritten:
    """Set the given fields; a field set to null is removed. All or nothing."""
    with transaction(runtime) as session:
        names = runtime.vault.update(session, actor, subject_id, body.pi, now=utcnow())
    return SubjectWritten(subject_id=subject_id, fields=names)


@router.get(
    "/{subject_id}",
    response_model=SubjectRead,
    responses=SUBJECT_ERRORS,
    summary="Read fields through the gate",
)
async def read_subject(
    subject_id: uuid.UUID,
    runtime: RuntimeDep,
    actor: ActorDep,
    purpose: Annotated[str, Query(pattern=PURPOSE_PATTERN, description="Why you read.")],
    fields: Annotated[
        list[str] | None, Query(description="Fields to read; all catalog fields if omitted.")
    ] = None,
    view: Annotated[
        RequestedView, Query(description="plain, masked (screens) or waybill (GB/T 41833).")
    ] = "masked",
) -> SubjectRead:
    """Every read states its purpose. The policy decides per field; the decision is logged
    before anything is decrypted; fields refused are listed under `denied` with their rule."""

    def read() -> ReadResult:
        with transaction(runtime) as session:
            return runtime.vault.read(
                session,
                actor,
                subject_id,
                fields=fields,
                purpose=purpose,
                view=View(view),
                now=utcnow(),
            )

    result = await run_sync(read)
    return SubjectRead(
        subject_id=result.subject_id,
        purpose=result.purpose,
        fields={
            name: FieldOut(view=v.view, value=v.value, present=v.present, rule=v.rule)
            for name, v in result.values.items()
        },
        denied=[DeniedOut(field=d.field, rule=d.rule, reason=d.reason) for d in result.denied],
    )


@router.post(
    "/lookup", response_model=LookupResult, responses=ERRORS, summary="Find by phone, email or ID"
)
async def lookup_subject(
    body: LookupRequest, runtime: RuntimeDep, actor: ActorDep
) -> LookupResult:
    """Exact match through a keyed blind index; the value travels in the body, never the URL."""

    def lookup() -> list[uuid.UUID]:
        with transaction(runtime) as session:
            return runtime.vault.lookup(
                session, actor, body.field, body.value, purpose=body.purpose, now=utcnow()
            )

    return LookupResult(subject_ids=await run_sync(lookup))


@router.delete(
    "/{subject_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=SUBJECT_ERRORS,
    summary="Erase a customer (crypto-shredding)",
)
def erase_subject(subject_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> None:
    """Destroy the customer's data key and delete every ciphertext and index entry: no copy of
    the data, backups taken afterwards included, can be decrypted again. Transaction records the
    law requires to keep (3 years after the last order) move first to the restricted store,
    readable only for legal duties and deleted when their time is up."""
    with transaction(runtime) as session:
        runtime.vault.erase(
            session,
            actor,
            subject_id,
            now=utcnow(),
            last_transaction=last_transaction(session, subject_id),
        )
