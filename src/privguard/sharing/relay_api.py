"""HTTP routes for contact relays: a consumer's aliases, an order's alias, calls and SMS.

Thin: authentication, one transaction, the service. Refusals commit their access-log entries
(like every route). Calls and SMS are handed to the telephony provider only after the
transaction that checked, read and logged them has committed; the response carries the
provider's id, never a number. Responses carry ``Cache-Control: no-store``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from privguard.api.deps import ActorDep, RuntimeDep
from privguard.api.errors import ErrorResponse, error_response
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.policy.rules import ActorRef
from privguard.sharing.relay import (
    AliasView,
    Connection,
    ContactView,
    RelayPoolExhausted,
    Relays,
)
from privguard.sharing.relay_phone import (
    CallRequest,
    SmsRequest,
    Telephony,
    TelephonyError,
    TelephonyUnavailable,
    build_telephony,
)
from privguard.sharing.relay_rules import Channel
from privguard.store.uow import unit_of_work
from privguard.vault.errors import AccessDenied, InvalidPI

router = APIRouter(tags=["relays"])
NO_STORE = {"Cache-Control": "no-store"}

E401 = {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."}
E403 = {"model": ErrorResponse, "description": "Refused; `rule` says which rule."}


class AliasOut(BaseModel):
    alias_id: uuid.UUID
    order_id: uuid.UUID
    phone_number: str = Field(description="A platform number (E.164), not the buyer's.")
    extension: str = Field(description="The extension to dial after the number.")
    dial: str = Field(description="Number, pause, extension: what a phone dials.")
    email: str = Field(description="The relay address, o-<random>@relay.<domain>.")
    status: str = Field(description="active, expired or revoked.")
    ends_at: datetime | None = Field(
        description="When it stops working; null while an after-sales case is open."
    )
    created_at: datetime
    revoked_at: datetime | None = None


class ContactOut(BaseModel):
    at: datetime
    channel: str = Field(description="call, sms or mail.")
    direction: str = Field(description="to_subject (to you) or from_subject (your reply).")
    party: str = Field(description="merchant or courier.")
    organisation_id: uuid.UUID | None
    organisation_name: str | None
    actor_id: uuid.UUID | None
    outcome: str = Field(description="connected, refused (the alias did not let it through) "
                         "or failed (the provider failed).")


class MyAliasOut(AliasOut):
    merchant_id: uuid.UUID
    contacts: list[ContactOut]


class MyAliasesOut(BaseModel):
    aliases: list[MyAliasOut]


class CallIn(BaseModel):
    number: str = Field(min_length=3, max_length=24, description="The alias's platform number.")
    extension: str = Field(pattern=r"^[0-9]{4}$", description="The alias's extension.")


class SmsIn(CallIn):
    text: str = Field(min_length=1, max_length=500, description="Never stored or logged.")


class ContactStarted(BaseModel):
    alias_id: uuid.UUID
    order_id: uuid.UUID
    provider_id: str = Field(description="The telephony provider's id of the call or message.")
    status: str = Field(description="`connecting` for a call, `sent` for an SMS.")


def _alias_out(view: AliasView) -> dict[str, Any]:
    return {
        "alias_id": view.alias_id,
        "order_id": view.order_id,
        "phone_number": view.phone_number,
        "extension": view.extension,
        "dial": view.dial,
        "email": view.mail_address,
        "status": view.status.value,
        "ends_at": view.ends_at,
        "created_at": view.created_at,
        "revoked_at": view.revoked_at,
    }


def _contact_out(c: ContactView) -> ContactOut:
    return ContactOut(
        at=c.at, channel=c.channel, direction=c.direction, party=c.party,
        organisation_id=c.organisation_id, organisation_name=c.organisation_name,
        actor_id=c.actor_id, outcome=c.outcome,
    )


def relays_of(runtime: Runtime) -> Relays:
    return Relays.from_settings(runtime.vault, runtime.settings)


@contextmanager
def _transaction(runtime: Runtime) -> Iterator[Session]:
    with unit_of_work(runtime.sessions, commit_on=(AccessDenied, InvalidPI)) as session:
        yield session


@router.get(
    "/v1/me/relays",
    response_model=MyAliasesOut,
    responses={401: E401, 403: E403},
    summary="My relay aliases and who contacted me through them (consumers)",
)
def my_relays(runtime: RuntimeDep, actor: ActorDep, response: Response) -> MyAliasesOut:
    """Every order's alias, its status, and each call, SMS or mail made through it (or refused)
    by a merchant or courier: who, when, how; never what was said."""
    relays = relays_of(runtime)
    with _transaction(runtime) as session:
        rows = relays.mine(session, actor, now=utcnow())
    response.headers.update(NO_STORE)
    return MyAliasesOut(
        aliases=[
            MyAliasOut(**_alias_out(v), merchant_id=v.merchant_id,
                       contacts=[_contact_out(c) for c in contacts])
            for v, contacts in rows
        ]
    )


@router.post(
    "/v1/me/relays/{alias_id}/revoke",
    response_model=AliasOut,
    responses={401: E401, 403: E403,
               404: {"model": ErrorResponse, "description": "Not one of your aliases."}},
    summary="Revoke one of my relay aliases now (consumers)",
)
def revoke_relay(
    alias_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep, response: Response
) -> AliasOut:
    """From this moment no call, SMS or mail reaches you through this alias; it is not
    replaced. Revoking an alias twice changes nothing."""
    relays = relays_of(runtime)
    with _transaction(runtime) as session:
        view = relays.revoke(session, actor, alias_id, now=utcnow())
    response.headers.update(NO_STORE)
    return AliasOut(**_alias_out(view))


@router.get(
    "/v1/orders/{order_id}/relay",
    response_model=AliasOut,
    responses={
        401: E401,
        403: {"model": ErrorResponse,
              "description": "Not a merchant or courier (`relay.parties-only`), or the alias no "
              "longer works (`relay.alias-inactive`)."},
        404: {"model": ErrorResponse,
              "description": "No such order (also for orders you are no party of)."},
        503: {"model": ErrorResponse, "description": "The pool of relay numbers is full."},
    },
    summary="An order's relay alias (the order's merchant staff, its assigned courier)",
)
def order_relay(
    order_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep, response: Response
) -> Any:
    """The number, extension and address that reach the buyer of this order, created on the
    first request. The buyer's own number and address are never part of the answer."""
    relays = relays_of(runtime)
    try:
        with _transaction(runtime) as session:
            view = relays.order_alias(session, actor, order_id, now=utcnow())
    except RelayPoolExhausted as exc:
        return error_response(503, exc.code, str(exc))
    response.headers.update(NO_STORE)
    return AliasOut(**_alias_out(view))


CONTACT_ERRORS: dict[int | str, dict[str, Any]] = {
    401: E401,
    403: {"model": ErrorResponse,
          "description": "Not a merchant or courier (`relay.parties-only`), or the alias no "
          "longer works (`relay.alias-inactive`)."},
    404: {"model": ErrorResponse,
          "description": "No alias with this number and extension that you are a party of."},
    422: {"model": ErrorResponse, "description": "The buyer cannot be reached by phone."},
    502: {"model": ErrorResponse, "description": "The telephony provider failed."},
    503: {"model": ErrorResponse, "description": "No telephony provider is configured."},
}


def _contact(
    runtime: Runtime, actor: ActorRef, channel: Channel, body: CallIn, text: str | None
) -> ContactStarted | JSONResponse:
    try:
        telephony: Telephony = build_telephony(runtime.settings)
    except TelephonyUnavailable as exc:
        return error_response(503, "telephony_unavailable", str(exc))
    relays = relays_of(runtime)
    with _transaction(runtime) as session:
        conn: Connection = relays.connect(
            session, actor, channel, body.number, body.extension, now=utcnow()
        )
    # Committed: the checks, the gate's read and its log entry, the event. Now the call.
    reference = f"relay-event-{conn.event_id}"
    try:
        if text is None:
            provider_id = telephony.connect_call(
                CallRequest(conn.alias.phone_number, conn.alias.extension, conn.destination,
                            conn.caller, reference)
            )
        else:
            provider_id = telephony.send_sms(
                SmsRequest(conn.alias.phone_number, conn.alias.extension, conn.destination,
                           text, conn.caller, reference)
            )
    except TelephonyError as exc:
        with unit_of_work(runtime.sessions) as session:
            relays.mark_failed(session, conn.event_id)
        return error_response(
            502, "telephony_failed",
            f"the telephony provider failed ({type(exc).__name__}); nothing was connected",
        )
    return ContactStarted(
        alias_id=conn.alias.alias_id,
        order_id=conn.alias.order_id,
        provider_id=str(provider_id),
        status="connecting" if text is None else "sent",
    )


@router.post(
    "/v1/relay/calls",
    response_model=ContactStarted,
    status_code=202,
    responses=CONTACT_ERRORS,
    summary="Call a buyer through an order's relay alias (merchant staff, couriers)",
)
def relay_call(body: CallIn, runtime: RuntimeDep, actor: ActorDep) -> Any:
    """The caller is the API key's actor: the order's merchant staff, or its assigned courier
    within the courier window. The provider rings the caller and connects them to the buyer;
    both see the alias's number. Logged (who, whom, when, the alias), never recorded."""
    return _contact(runtime, actor, Channel.CALL, body, None)


@router.post(
    "/v1/relay/sms",
    response_model=ContactStarted,
    status_code=202,
    responses=CONTACT_ERRORS,
    summary="Text a buyer through an order's relay alias (merchant staff, couriers)",
)
def relay_sms(body: SmsIn, runtime: RuntimeDep, actor: ActorDep) -> Any:
    """Like a call: the same checks and log; the text goes to the provider and is kept
    nowhere by privguard."""
    return _contact(runtime, actor, Channel.SMS, body, body.text)
