"""HTTP routes of the access log for consumers: who saw my data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from privguard.api.deps import ActorDep, RuntimeDep, transaction
from privguard.api.errors import ErrorResponse
from privguard.audit.history import AccessRecord, accesses_to
from privguard.audit.proof import subject_proof
from privguard.audit.schemas import AccessHistory, AccessOut, FieldAccessOut, OrganisationOut
from privguard.bootstrap import Runtime
from privguard.policy.rules import Role
from privguard.vault.errors import AccessDenied

router = APIRouter(prefix="/v1/me", tags=["privacy center"])

RULE_CONSUMERS_ONLY = "audit.own-history-consumers-only"


def _out(runtime: Runtime, record: AccessRecord, locale: str) -> AccessOut:
    purposes = runtime.policy.purposes
    catalog = runtime.catalog
    purpose = purposes.get(record.purpose)
    return AccessOut(
        entry_id=record.entry_id,
        leaf_index=record.leaf_index,
        at=record.at,
        role=record.role,
        organisation=OrganisationOut(
            organisation_id=record.organisation_id,
            name=record.organisation_name or "",
            kind=record.organisation_kind or "",
        )
        if record.organisation_id is not None
        else None,
        action=record.action,
        purpose=record.purpose,
        purpose_label=purpose.label(locale) if purpose else record.purpose,
        allowed=record.allowed,
        fields=[
            FieldAccessOut(
                field=f.field,
                label=catalog[f.field].label(locale) if f.field in catalog else f.field,
                view=f.view,
                rule=f.rule,
            )
            for f in record.fields
        ],
    )


@router.get(
    "/access-log",
    response_model=AccessHistory,
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
    summary="Who saw my data",
)
def my_access_log(
    runtime: RuntimeDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, description="entry_id to continue after")] = None,
    locale: Annotated[str, Query(pattern=r"^(zh-CN|en)$")] = "zh-CN",
) -> AccessHistory:
    """Every access to your data, allowed or refused, newest first: when, which role of which
    organisation, which fields in which view, for what purpose, and the rule that decided."""
    if actor.role is not Role.CONSUMER or actor.subject_id is None:
        raise AccessDenied(RULE_CONSUMERS_ONLY, "only a consumer account has its own history")
    with transaction(runtime) as session:
        records = accesses_to(session, actor.subject_id, limit=limit, before=before)
    return AccessHistory(
        subject_id=actor.subject_id,
        accesses=[_out(runtime, r, locale) for r in records],
        next_before=records[-1].entry_id if len(records) == limit else None,
    )


@router.get(
    "/access-log/proof",
    responses={
        200: {"description": "The proof document (format in docs/access-log.md)."},
        401: {"model": ErrorResponse},
        403: {"model": ErrorResponse},
        503: {"model": ErrorResponse, "description": "The log does not match its signed head."},
    },
    summary="Proof that my access history is the log's",
)
def my_access_proof(runtime: RuntimeDep, actor: ActorDep) -> JSONResponse:
    """Every sequenced entry about you with its Merkle audit path and the latest signed tree
    head. Check it yourself with the log's public key and `docs/verify_proof.py` (standard
    library only); entries from the last seconds appear once the sequencer has run."""
    if actor.role is not Role.CONSUMER or actor.subject_id is None:
        raise AccessDenied(RULE_CONSUMERS_ONLY, "only a consumer account has its own history")
    with transaction(runtime) as session:
        document = subject_proof(session, runtime.signer, actor.subject_id)
    return JSONResponse(document)
