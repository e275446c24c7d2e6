"""Complaint and report cases, their history, attachments, and sanctions on merchants.

A case's description is stored only after the detector has redacted the personal information a
filer types into it (phone numbers, ID numbers, addresses); attachments are sealed under a data
key of their own. Sanctions are append-only facts with reason and appeal.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_queue_state", "queue", "state", "resolve_by"),
        Index("ix_cases_merchant", "merchant_id", "state"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    filer_actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("organisations.organisation_id"), nullable=True
    )
    description: Mapped[str] = mapped_column(Text)  # redacted by the detector
    redactions: Mapped[int] = mapped_column(Integer, default=0)  # how many PI spans were hidden
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    triage_by: Mapped[datetime] = mapped_column(UTCDateTime)
    resolve_by: Mapped[datetime] = mapped_column(UTCDateTime)
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    upheld: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    finding: Mapped[str | None] = mapped_column(Text, nullable=True)  # shown to the filer
    corrective_action: Mapped[str | None] = mapped_column(Text, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CaseEvent(Base):
    """Every change of a case, and every piece of information added, with who and when."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case", "case_id", "event_id"),)

    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("cases.case_id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    role: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # state, info, assign, attachment
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")  # redacted like the description


class CaseAttachment(Base):
    """A file attached to a case, sealed under its own data key (screenshots hold PI)."""

    __tablename__ = "case_attachments"

    attachment_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("cases.case_id"), index=True)
    media_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    master_key_id: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    added_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class MerchantSanction(Base):
    """A graded sanction on a merchant: warning, masked-only access or suspension of PI access.
    In force from ``imposed_at`` until lifted; the strictest in force applies at the gate."""

    __tablename__ = "merchant_sanctions"
    __table_args__ = (Index("ix_merchant_sanctions_merchant", "merchant_id", "lifted_at"),)

    sanction_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.organisation_id")
    )
    level: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(nullable=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("cases.case_id"), nullable=True
    )
    imposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    imposed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lifted_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    appeal: Mapped[str | None] = mapped_column(Text, nullable=True)
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    appeal_decision: Mapped[str | None] = mapped_column(String(16), nullable=True)  # upheld, lifted
