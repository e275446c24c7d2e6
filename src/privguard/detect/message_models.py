"""Messages about orders (chats, order notes) as stored: redacted, the original sealed apart
under the consumer's own key (detect/messages.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class OrderMessage(Base):
    """A message about an order, as stored: redacted; the original sealed apart."""

    __tablename__ = "order_messages"
    __table_args__ = (Index("ix_order_messages_order", "order_id", "created_at"),)

    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orders.order_id"))
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    author_actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    author_role: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    redacted: Mapped[str] = mapped_column(Text)
    found: Mapped[list[str]] = mapped_column(JSON)  # entity types hidden, in text order
    sealed_original: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
