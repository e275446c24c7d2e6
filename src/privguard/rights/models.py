"""Data-subject requests and their append-only history of state changes.

No plaintext personal information is stored here: a correction's new values are sealed under
the subject's own key (Vault.seal_aside), so they are shredded with the subject and opened only
by the write that applies them through the gate; reasons are written for the consumer to read.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
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


class SubjectRequest(Base):
    __tablename__ = "subject_requests"
    __table_args__ = (Index("ix_subject_requests_state_due", "state", "answer_by"),)

    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("subjects.subject_id"), index=True
    )
    requester_subject_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # a relative (Art. 49)
    type: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(24))
    jurisdiction: Mapped[str] = mapped_column(String(8))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirm_by: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answer_by: Mapped[datetime] = mapped_column(UTCDateTime)
    extended_answer_by: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    details: Mapped[dict[str, object]] = mapped_column(JSON)  # field names, relation, ...
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)  # shown to the consumer
    # A correction's new values, sealed under the subject's key; dropped once applied.
    sealed_values: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # What a deletion or cancellation deleted and kept, why and until when (field names and
    # dates only): the statement the consumer is owed (PIPL Art. 47).
    statement: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RequestEvent(Base):
    __tablename__ = "subject_request_events"
    __table_args__ = (Index("ix_subject_request_events_request", "request_id", "event_id"),)

    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subject_requests.request_id"))
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    role: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_state: Mapped[str] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(Text, default="")
