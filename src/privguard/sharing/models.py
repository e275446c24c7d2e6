"""Recipients, their agreements, what was transferred to them, and what they must be told.

No personal information is stored here: transfers name the subject by id and fields by name
(the values left through the gate and are not copied), so "who has my data" can be answered
for years without keeping what was shared.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class Recipient(Base):
    """A handler outside the platform that receives PI: a registered organisation plus what a
    regulator asks about it (PIPL Art. 21, 23, 38-39; GB/T 35273-2020 9.7)."""

    __tablename__ = "recipients"

    recipient_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.organisation_id"), primary_key=True
    )
    legal_entity: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(200))  # the recipient's privacy contact
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    # entrusted: processes on our behalf (Art. 21); independent: its own purposes (Art. 23)
    processor_role: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))  # logistics, payment, advertising, ...
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    registered_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class Agreement(Base):
    """What a recipient may receive: purposes, fields, retention, sub-processing, a term."""

    __tablename__ = "agreements"
    __table_args__ = (Index("ix_agreements_recipient_term", "recipient_id", "ends_at"),)

    agreement_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("recipients.recipient_id"))
    reference: Mapped[str] = mapped_column(String(100))  # the contract's own number
    purposes: Mapped[list[str]] = mapped_column(JSON)
    fields: Mapped[list[str]] = mapped_column(JSON)
    retention_days: Mapped[int] = mapped_column(Integer)
    sub_processing: Mapped[bool] = mapped_column(Boolean)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AgreementTask(Base):
    """Opened when an agreement ends: confirm that the recipient returned or deleted the data
    (PIPL Art. 21: the entrusted party returns or deletes it when the entrustment ends)."""

    __tablename__ = "agreement_tasks"

    task_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    agreement_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agreements.agreement_id"), unique=True
    )
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)  # returned, deleted
    evidence: Mapped[str | None] = mapped_column(Text, nullable=True)  # e.g. certificate ref


class Transfer(Base):
    """One disclosure of a subject's fields to a recipient, for one purpose."""

    __tablename__ = "transfers"
    __table_args__ = (
        Index("ix_transfers_subject", "subject_id", "at"),
        Index("ix_transfers_recipient", "recipient_id", "at"),
    )

    transfer_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("recipients.recipient_id"))
    agreement_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("agreements.agreement_id"), nullable=True
    )
    purpose: Mapped[str] = mapped_column(String(64))
    fields: Mapped[list[str]] = mapped_column(JSON)
    cross_border: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class RecipientNotice(Base):
    """Something a recipient that received a subject's data must act on: a deletion, a
    correction, a withdrawn consent (PIPL Art. 47; GDPR Art. 19). Written in the transaction of
    the change itself (an outbox), fetched and acknowledged by the recipient."""

    __tablename__ = "recipient_notices"
    __table_args__ = (Index("ix_recipient_notices_open", "recipient_id", "acknowledged_at"),)

    notice_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("recipients.recipient_id"))
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event: Mapped[str] = mapped_column(String(24))  # deleted, corrected, consent_withdrawn
    fields: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
