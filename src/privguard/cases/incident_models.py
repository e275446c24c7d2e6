"""Tables of security incidents (PIPL Art. 57, GDPR Art. 33(5): document every breach).

An incident is one row; what happened to it afterwards (alerts attached, the affected set
computed, remedial actions, notifications, a decision not to notify individuals) is an
append-only event with who, when and why (design.md invariant 5). Free text is redacted by the
detector before it is stored. The affected customers are rows of ``incident_subjects``: ids and
field names only, never a value.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_discovered", "discovered_at"),)

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)  # what happened
    cause: Mapped[str] = mapped_column(Text)
    harm: Mapped[str | None] = mapped_column(Text, nullable=True)  # the officer's assessment
    categories: Mapped[list[str]] = mapped_column(JSON)  # leak, tampering, loss, ...
    jurisdictions: Mapped[list[str]] = mapped_column(JSON)
    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    scope_actors: Mapped[list[str]] = mapped_column(JSON)
    scope_organisations: Mapped[list[str]] = mapped_column(JSON)
    individuals: Mapped[str] = mapped_column(String(16))  # pending, notified, not_notified
    affected_subjects: Mapped[int] = mapped_column(Integer)
    affected_entries: Mapped[int] = mapped_column(Integer)
    affected_fields: Mapped[dict[str, int]] = mapped_column(JSON)  # field -> customers
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class IncidentSubject(Base):
    """One affected customer: which fields reached whom, from the log and from transfers."""

    __tablename__ = "incident_subjects"
    __table_args__ = (Index("ix_incident_subjects_subject", "subject_id"),)

    incident_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("incidents.incident_id"), primary_key=True
    )
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    fields: Mapped[dict[str, str]] = mapped_column(JSON)  # field -> widest view disclosed
    sources: Mapped[list[str]] = mapped_column(JSON)  # access_log, transfers
    entries: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IncidentEvent(Base):
    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident", "incident_id", "event_id"),)

    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("incidents.incident_id"))
    kind: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime)  # when it was recorded
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when it happened
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)  # redacted by the detector
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
