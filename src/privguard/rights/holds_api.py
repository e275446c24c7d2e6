"""HTTP routes for legal holds: the protection officer places, lists and releases them."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter, status

from privguard.api.deps import ActorDep, RuntimeDep, transaction
from privguard.api.errors import ErrorResponse
from privguard.clock import utcnow
from privguard.rights.holds import list_holds, place_hold, release_hold, view
from privguard.rights.holds_schemas import HoldIn, HoldOut, ReleaseIn
from privguard.rights.retention_models import LegalHold

router = APIRouter(tags=["retention"])

ERRORS = {
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."},
    403: {"model": ErrorResponse, "description": "Only the protection officer manages holds."},
    404: {"model": ErrorResponse, "description": "No such subject or hold."},
    409: {"model": ErrorResponse, "description": "The hold is already released."},
    422: {"model": ErrorResponse, "description": "Invalid request; `fields` names the rule."},
}


def _out(hold: LegalHold) -> HoldOut:
    shown = view(hold, utcnow())
    return HoldOut(**{**asdict(shown), "state": shown.state.value})


@router.get(
    "/v1/legal-holds", response_model=list[HoldOut], responses=ERRORS, summary="Legal holds"
)
def holds(
    runtime: RuntimeDep,
    actor: ActorDep,
    active: bool = True,
    subject_id: uuid.UUID | None = None,
) -> list[HoldOut]:
    """Holds in force (or with `active=false`, all of them), the soonest to expire first."""
    with transaction(runtime) as session:
        found = list_holds(session, actor, now=utcnow(), active_only=active, subject_id=subject_id)
        return [_out(h) for h in found]


@router.post(
    "/v1/legal-holds",
    status_code=status.HTTP_201_CREATED,
    response_model=HoldOut,
    responses=ERRORS,
    summary="Place a legal hold",
)
def place(body: HoldIn, runtime: RuntimeDep, actor: ActorDep) -> HoldOut:
    """Suspend deletion of one subject's data until `until`: retention runs skip it, and an
    erasure keeps everything restricted until the hold ends, naming the hold as the reason."""
    with transaction(runtime) as session:
        hold = place_hold(
            session, actor, body.subject_id, reason=body.reason, until=body.until, now=utcnow()
        )
        return _out(hold)


@router.post(
    "/v1/legal-holds/{hold_id}/release",
    response_model=HoldOut,
    responses=ERRORS,
    summary="Release a legal hold",
)
def release(hold_id: uuid.UUID, body: ReleaseIn, runtime: RuntimeDep, actor: ActorDep) -> HoldOut:
    """End a hold early; the next retention run deletes what it was keeping."""
    with transaction(runtime) as session:
        return _out(release_hold(session, actor, hold_id, reason=body.reason, now=utcnow()))
