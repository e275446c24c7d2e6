"""HTTP routes for privacy waybills: the label (JSON or PDF) and resolving a scanned code.

Thin: authentication, one transaction, the service. Refusals commit their access-log entries
(like every route), and so do labels refused as incomplete or non-compliant, because the gate
had already read (and logged) the fields by then. Responses carry ``Cache-Control: no-store``:
even masked, a label is about a person.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from privguard.api.deps import ActorDep, RuntimeDep
from privguard.api.errors import ErrorResponse
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.policy.rules import ActorRef
from privguard.sharing.relay import Relays
from privguard.sharing.waybill import Waybills
from privguard.sharing.waybill_render import render_pdf
from privguard.sharing.waybill_rules import WaybillPayload
from privguard.store.uow import unit_of_work
from privguard.vault.errors import AccessDenied, InvalidPI

router = APIRouter(tags=["waybills"])

ERRORS = {
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."},
    403: {"model": ErrorResponse, "description": "Refused; `rule` says which rule."},
    404: {
        "model": ErrorResponse,
        "description": "No such order or shipment (also for orders you may not see).",
    },
    410: {"model": ErrorResponse, "description": "The order's customer was erased."},
    422: {
        "model": ErrorResponse,
        "description": "The label cannot be made: a field is missing or would break "
        "GB/T 41833-2022 (`fields` names the field and the rule).",
    },
}
NO_STORE = {"Cache-Control": "no-store"}


class WaybillOut(BaseModel):
    order_id: uuid.UUID
    carrier_id: uuid.UUID
    carrier_name: str
    sender_name: str = Field(description="The merchant.")
    return_address: str | None = Field(description="The merchant's, street level at most.")
    recipient_name: str = Field(description="At least one character hidden.")
    recipient_phone: str = Field(description="At least 6 digits hidden, or a relay number.")
    phone_is_relay: bool
    recipient_address: str = Field(
        description="Province, city, district and street; never a house, unit or room number."
    )
    qr_token: str = Field(description="What the QR code holds: signed order id and expiry.")
    expires_at: datetime = Field(description="When the QR code stops resolving.")


class ResolveIn(BaseModel):
    token: str = Field(min_length=1, max_length=512, description="The scanned QR code.")


class AddressOut(BaseModel):
    province: str
    city: str
    district: str
    detail: str
    postal_code: str | None = None


class ResolvedOut(BaseModel):
    order_id: uuid.UUID
    address: AddressOut
    deliver_until: datetime = Field(
        description="When your access ends (delivery plus the courier grace period, or the "
        "policy's undelivered window)."
    )


@contextmanager
def _transaction(runtime: Runtime) -> Iterator[Session]:
    with unit_of_work(runtime.sessions, commit_on=(AccessDenied, InvalidPI)) as session:
        yield session


def _label(runtime: Runtime, actor: ActorRef, order_id: uuid.UUID) -> WaybillPayload:
    waybills = Waybills(runtime.vault, runtime.keys)
    now = utcnow()
    with _transaction(runtime) as session:
        # An order with an active contact relay prints its number instead of the masked phone
        # (docs/relays.md); the buyer's own number is then not read at all.
        relays = Relays.from_settings(runtime.vault, runtime.settings)
        relay = relays.label_alias(session, order_id, now=now)
        return waybills.label(session, actor, order_id, now=now, relay=relay)


@router.get(
    "/v1/orders/{order_id}/waybill",
    response_model=WaybillOut,
    responses=ERRORS,
    summary="An order's privacy waybill (label payload)",
)
def get_waybill(
    order_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep, response: Response
) -> WaybillOut:
    """What the shipping label shows, read through the gate for purpose `delivery` in the
    `waybill` view: the name with at least one character hidden, the phone with at least 6
    digits hidden, the address without house, unit or room number (GB/T 41833-2022)."""
    payload = _label(runtime, actor, order_id)
    response.headers.update(NO_STORE)
    return WaybillOut(**payload.as_dict())


@router.get(
    "/v1/orders/{order_id}/waybill.pdf",
    response_class=Response,
    responses={
        **ERRORS,
        200: {"content": {"application/pdf": {}}, "description": "A 100 x 150 mm label."},
    },
    summary="An order's privacy waybill as a printable PDF",
)
def get_waybill_pdf(order_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> Response:
    """The same label drawn at 100 x 150 mm with its QR code, for a thermal printer."""
    pdf = render_pdf(_label(runtime, actor, order_id))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            **NO_STORE,
            "Content-Disposition": f'inline; filename="waybill-{order_id}.pdf"',
        },
    )


@router.post(
    "/v1/waybills/resolve",
    response_model=ResolvedOut,
    responses={
        401: ERRORS[401],
        403: {
            "model": ErrorResponse,
            "description": "The code does not resolve for you (one answer for every reason).",
        },
    },
    summary="Resolve a scanned waybill code to the full address (assigned courier)",
)
def resolve_waybill(
    body: ResolveIn, runtime: RuntimeDep, actor: ActorDep, response: Response
) -> ResolvedOut:
    """For the courier assigned to the order, until delivery plus the grace period: the full
    delivery address, read through the gate and logged. Anyone else, and any code that is
    forged or expired, gets the same 403 (`waybill.not-resolvable`); the log keeps the reason."""
    waybills = Waybills(runtime.vault, runtime.keys)
    with _transaction(runtime) as session:
        resolved = waybills.resolve(session, actor, body.token, now=utcnow())
    response.headers.update(NO_STORE)
    return ResolvedOut(
        order_id=resolved.order_id,
        address=AddressOut(**resolved.address),
        deliver_until=resolved.deliver_until,
    )
