"""Marketplace facts the policy reads, and the few changes this project makes to them.

Orders and tickets normally arrive from the platform's order system; privguard keeps only what
access decisions need (who sold, who carries, when delivered) and no personal information.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Select, bindparam, exists, func, select, update
from sqlalchemy.orm import Session

from privguard.marketplace.models import UNSETTLED_STATUSES, Order, Organisation, SupportTicket
from privguard.policy.rules import OrderFacts

_ORDERS = Order.__table__
_TICKETS = SupportTicket.__table__

# Built once: every gated read of a relationship-scoped role runs one of these, and building a
# statement (and its cache key) per call cost more than running it.
_ORDER_FACTS = select(
    _ORDERS.c.merchant_id,
    _ORDERS.c.courier_id,
    _ORDERS.c.status,
    _ORDERS.c.placed_at,
    _ORDERS.c.delivered_at,
).where(_ORDERS.c.subject_id == bindparam("sid"))


def _open_tickets(subject_id: ColumnElement[uuid.UUID]) -> Select[tuple[uuid.UUID]]:
    """The subject's open tickets: the one condition behind has_open_ticket and
    open_ticket_column."""
    return select(_TICKETS.c.ticket_id).where(
        _TICKETS.c.subject_id == subject_id, _TICKETS.c.closed_at.is_(None)
    )


_OPEN_TICKET = _open_tickets(bindparam("sid")).limit(1)


def order_facts(session: Session, subject_id: uuid.UUID) -> list[OrderFacts]:
    rows = session.connection().execute(_ORDER_FACTS, {"sid": subject_id}).all()
    return [OrderFacts(*row) for row in rows]


def has_open_ticket(session: Session, subject_id: uuid.UUID) -> bool:
    return session.connection().execute(_OPEN_TICKET, {"sid": subject_id}).first() is not None


def open_ticket_column(subject_id: ColumnElement[uuid.UUID]) -> ColumnElement[bool]:
    """Whether ``subject_id`` has an open ticket, as a column of another query: the vault's
    record load asks it in the same statement when the policy needs it (one round trip fewer
    on a customer-service read, benchmarks/read_cpu.py)."""
    return exists(_open_tickets(subject_id)).label("open_ticket")


_LAST_EVENT = func.coalesce(_ORDERS.c.delivered_at, _ORDERS.c.placed_at)
# ORDER BY ... LIMIT 1 on the same expression as ix_orders_subject_last_event, so both SQLite
# and PostgreSQL answer from the index instead of reading every order of the subject.
_LAST_TRANSACTION = (
    select(_LAST_EVENT)
    .where(_ORDERS.c.subject_id == bindparam("sid"))
    .order_by(_LAST_EVENT.desc())
    .limit(1)
)
_UNSETTLED = select(func.count()).where(
    _ORDERS.c.subject_id == bindparam("sid"), _ORDERS.c.status.in_(UNSETTLED_STATUSES)
)


def last_transaction(session: Session, subject_id: uuid.UUID) -> datetime | None:
    """The latest order event (delivery, else placement): where transaction-record retention
    starts (E-Commerce Law Art. 31)."""
    value = session.connection().execute(_LAST_TRANSACTION, {"sid": subject_id}).scalar()
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns the expression as text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def unsettled_orders(session: Session, subject_id: uuid.UUID) -> int:
    """Orders not yet delivered or with a refund in progress: the one condition, besides proof
    of identity, that may hold up closing an account (E-Commerce Law Art. 24)."""
    return int(session.connection().execute(_UNSETTLED, {"sid": subject_id}).scalar_one())


def place(
    session: Session,
    subject_id: uuid.UUID,
    merchant_id: uuid.UUID,
    *,
    now: datetime,
    total_cents: int,
    item_count: int,
) -> uuid.UUID:
    order_id = uuid.uuid4()
    session.add(
        Order(
            order_id=order_id,
            subject_id=subject_id,
            merchant_id=merchant_id,
            status="placed",
            total_cents=total_cents,
            item_count=item_count,
            placed_at=now,
        )
    )
    session.flush()
    # An order is the customer's activity: last_activity retention starts again (the vault
    # imports the policy, which imports this module, hence the import here).
    from privguard.vault.service import Vault

    Vault.touch(session, subject_id, now)
    return order_id


def open_ticket(
    session: Session,
    subject_id: uuid.UUID,
    *,
    topic: str,
    now: datetime,
    order_id: uuid.UUID | None = None,
) -> uuid.UUID:
    ticket_id = uuid.uuid4()
    session.add(
        SupportTicket(
            ticket_id=ticket_id,
            subject_id=subject_id,
            order_id=order_id,
            topic=topic,
            opened_at=now,
        )
    )
    session.flush()
    return ticket_id


def close_ticket(session: Session, ticket_id: uuid.UUID, *, now: datetime) -> bool:
    result = session.execute(
        update(SupportTicket)
        .where(SupportTicket.ticket_id == ticket_id, SupportTicket.closed_at.is_(None))
        .values(closed_at=now)
    )
    return bool(result.rowcount)


def organisation(session: Session, organisation_id: uuid.UUID) -> Organisation | None:
    return session.get(Organisation, organisation_id)


def merchant_customers(
    session: Session, merchant_id: uuid.UUID, *, limit: int, after: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, int, datetime]]:
    """(subject, number of orders, last order time) for a merchant's buyers, by subject id."""
    stmt = (
        select(_ORDERS.c.subject_id, func.count(), func.max(_ORDERS.c.placed_at))
        .where(_ORDERS.c.merchant_id == merchant_id)
        .group_by(_ORDERS.c.subject_id)
        .order_by(_ORDERS.c.subject_id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(_ORDERS.c.subject_id > after)
    return [(r[0], r[1], r[2]) for r in session.execute(stmt).all()]
