"""Organisations (merchants, carriers, partners, the platform) and orders."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class Organisation(Base):
    __tablename__ = "organisations"

    organisation_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # merchant, carrier, partner, platform
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_merchant_subject", "merchant_id", "subject_id"),)

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
    status: Mapped[str] = mapped_column(String(16))  # placed, shipped, delivered, completed
    total_cents: Mapped[int] = mapped_column(Integer)
    item_count: Mapped[int] = mapped_column(Integer)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
