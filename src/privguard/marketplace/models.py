"""Organisations (merchants, carriers, partners, the platform), orders and support tickets.

These are the facts the policy's relationship conditions read: who ordered from which merchant,
which courier carries which parcel, which consumer has a ticket open with customer service.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid, func, text
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class Organisation(Base):
    __tablename__ = "organisations"

    organisation_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # merchant, carrier, partner, platform
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Orders that keep an account from closing until they are settled (E-Commerce Law Art. 24
# allows no other condition): not yet delivered, or a refund still being processed.
UNSETTLED_STATUSES = ("placed", "shipped", "refunding")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_merchant_subject", "merchant_id", "subject_id"),
        # A subject's latest order event without reading their orders: erasure asks it to
        # date what is kept (E-Commerce Law Art. 31), and a buyer may have 100,000 orders.
        Index(
            "ix_orders_subject_last_event",
            "subject_id",
            func.coalesce(text("delivered_at"), text("placed_at")),
        ),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("subjects.subject_id"), index=True
    )
    merchant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.organisation_id")
    )
    carrier_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("organisations.organisation_id"), nullable=True
    )
    courier_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("actors.actor_id"), nullable=True
    )
    # placed, shipped, delivered, completed, refunding (a refund not yet settled)
    status: Mapped[str] = mapped_column(String(16))
    total_cents: Mapped[int] = mapped_column(Integer)
    item_count: Mapped[int] = mapped_column(Integer)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SupportTicket(Base):
    """A consumer's open question to customer service; while open, agents may see contact details
    plain (policy rule ``support.open-ticket-contact``)."""

    __tablename__ = "support_tickets"

    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("subjects.subject_id"), index=True
    )
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("orders.order_id"), nullable=True
    )
    topic: Mapped[str] = mapped_column(String(32))  # delivery, refund, account, other
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
