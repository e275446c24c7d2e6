"""HTTP routes for marketplace facts the policy depends on: customer lists and support tickets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from privguard.api.deps import ActorDep, RuntimeDep, transaction
from privguard.api.errors import ErrorResponse
from privguard.audit.service import log_access
from privguard.clock import utcnow
from privguard.marketplace.customers import list_customers
from privguard.marketplace.errors import MerchantNotFound, TicketNotFound
from privguard.marketplace.models import Order, Organisation, SupportTicket
from privguard.marketplace.service import close_ticket, open_ticket, place
from privguard.policy.rules import ActorRef, Decision, Role, View
from privguard.vault.errors import AccessDenied, FieldError, InvalidPI, SubjectNotFound
from privguard.vault.models import Subject
from privguard.vault.schemas import PURPOSE_PATTERN

router = APIRouter(tags=["marketplace"])

ERRORS = {
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."},
    403: {"model": ErrorResponse, "description": "The policy refused; `rule` says which rule."},
    404: {"model": ErrorResponse, "description": "No such merchant, subject or ticket."},
}


class CustomerOut(BaseModel):
    subject_id: uuid.UUID
    orders: int
    last_order_at: datetime


class CustomerList(BaseModel):
    merchant_id: uuid.UUID
    customers: list[CustomerOut]
    next_after: uuid.UUID | None = Field(description="Pass as `after` for the next page.")


@router.get(
    "/v1/merchants/{merchant_id}/customers",
    response_model=CustomerList,
    responses=ERRORS,
    summary="A merchant's customers",
)
def merchant_customer_list(
    merchant_id: uuid.UUID,
    runtime: RuntimeDep,
    actor: ActorDep,
    purpose: Annotated[str, Query(pattern=PURPOSE_PATTERN, description="Why you list them.")],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: uuid.UUID | None = None,
) -> CustomerList:
    """Subject ids (no personal information) of the merchant's buyers. Merchants see their own
    list; platform roles only for an audited purpose; every listing is logged."""
    with transaction(runtime) as session:
        rows = list_customers(
            session,
            runtime.vault.access,
            actor,
            merchant_id,
            purpose=purpose,
            now=utcnow(),
            limit=limit,
            after=after,
        )
    return CustomerList(
        merchant_id=merchant_id,
        customers=[CustomerOut(**r.__dict__) for r in rows],
        next_after=rows[-1].subject_id if len(rows) == limit else None,
    )


class OrderCreate(BaseModel):
    merchant_id: uuid.UUID
    total_cents: int = Field(ge=0)
    item_count: int = Field(ge=1)


class OrderOut(BaseModel):
    order_id: uuid.UUID
    merchant_id: uuid.UUID
    status: str
    placed_at: datetime


RULE_CHECKOUT = "checkout.consumer-self"


@router.post(
    "/v1/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderOut,
    responses=ERRORS,
    summary="Place an order (checkout)",
)
def place_order(body: OrderCreate, runtime: RuntimeDep, actor: ActorDep) -> OrderOut:
    """A consumer places an order with a merchant. Checkout asks nothing about consent:
    refusing optional purposes never blocks buying (PIPL Art. 16). The order is what gives the
    merchant and the courier their access, for this order's purposes and window."""
    if actor.role is not Role.CONSUMER or actor.subject_id is None:
        raise AccessDenied(RULE_CHECKOUT, "orders are placed by consumer accounts")
    now = utcnow()
    with transaction(runtime) as session:
        merchant = session.get(Organisation, body.merchant_id)
        if merchant is None or merchant.kind != "merchant":
            raise MerchantNotFound(body.merchant_id)
        order_id = place(
            session,
            actor.subject_id,
            body.merchant_id,
            now=now,
            total_cents=body.total_cents,
            item_count=body.item_count,
        )
    return OrderOut(order_id=order_id, merchant_id=body.merchant_id, status="placed", placed_at=now)


class TicketCreate(BaseModel):
    subject_id: uuid.UUID
    topic: Literal["delivery", "refund", "account", "other"]
    order_id: uuid.UUID | None = None


class TicketOut(BaseModel):
    ticket_id: uuid.UUID
    subject_id: uuid.UUID
    topic: str
    opened_at: datetime
    closed_at: datetime | None


RULE_TICKETS = "support.tickets"
TICKET_ROLES = frozenset({Role.CUSTOMER_SERVICE, Role.CONSUMER})


def _may_handle(actor: ActorRef, subject_id: uuid.UUID) -> bool:
    if actor.role is Role.CONSUMER:
        return actor.subject_id == subject_id
    return actor.role in TICKET_ROLES


def _ticket_decision(actor: ActorRef, allowed: bool) -> Decision:
    if allowed:
        return Decision("*", View.MASKED, RULE_TICKETS, "a ticket opens support access")
    return Decision("*", View.NONE, RULE_TICKETS, "only the consumer or customer service")


@router.post(
    "/v1/tickets",
    status_code=status.HTTP_201_CREATED,
    response_model=TicketOut,
    responses=ERRORS,
    summary="Open a support ticket",
)
def create_ticket(body: TicketCreate, runtime: RuntimeDep, actor: ActorDep) -> TicketOut:
    """While a ticket is open, customer service may see the consumer's contact details plain
    (rule `support.open-ticket-contact`); opening one is therefore in the consumer's access log."""
    now = utcnow()
    allowed = _may_handle(actor, body.subject_id)
    with transaction(runtime) as session:
        log_access(
            session,
            actor=actor,
            subject_id=body.subject_id if allowed else None,
            action="ticket.open",
            purpose="customer_support",
            decisions=[_ticket_decision(actor, allowed)],
            now=now,
        )
        if not allowed:
            raise AccessDenied(RULE_TICKETS, "only the consumer or customer service")
        subject = session.get(Subject, body.subject_id)
        if subject is None or subject.status != "active":
            raise SubjectNotFound(body.subject_id)
        if body.order_id is not None:
            order = session.get(Order, body.order_id)
            if order is None or order.subject_id != body.subject_id:
                raise InvalidPI(
                    [FieldError("order_id", "ticket.order", "is not an order of this customer")]
                )
        ticket_id = open_ticket(
            session, body.subject_id, topic=body.topic, now=now, order_id=body.order_id
        )
    return TicketOut(
        ticket_id=ticket_id,
        subject_id=body.subject_id,
        topic=body.topic,
        opened_at=now,
        closed_at=None,
    )


@router.post(
    "/v1/tickets/{ticket_id}/close",
    response_model=TicketOut,
    responses=ERRORS,
    summary="Close a support ticket",
)
def finish_ticket(ticket_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> TicketOut:
    """Closing ends customer service's plain access to the consumer's contact details."""
    now = utcnow()
    with transaction(runtime) as session:
        ticket = session.get(SupportTicket, ticket_id)
        if ticket is None or not _may_handle(actor, ticket.subject_id):
            raise TicketNotFound(ticket_id)
        if not close_ticket(session, ticket_id, now=now):
            return _ticket_out(ticket)  # already closed: nothing changed, nothing to log
        session.refresh(ticket)
        log_access(
            session,
            actor=actor,
            subject_id=ticket.subject_id,
            action="ticket.close",
            purpose="customer_support",
            decisions=[_ticket_decision(actor, True)],
            now=now,
        )
        return _ticket_out(ticket)


def _ticket_out(ticket: SupportTicket) -> TicketOut:
    return TicketOut(
        ticket_id=ticket.ticket_id,
        subject_id=ticket.subject_id,
        topic=ticket.topic,
        opened_at=ticket.opened_at,
        closed_at=ticket.closed_at,
    )
