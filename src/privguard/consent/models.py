"""Consent tables: notice versions and the append-only consent ledger.

Consent is never a mutable flag: every grant, withdrawal and expiry is an event with who, when,
through which channel, under which notice version and with the exact text shown (design.md
invariant 5; PIPL Art. 14-15; GDPR Art. 7(1) "able to demonstrate"). The current state is
derived from the events (consent/rules.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class NoticeVersion(Base):
    """One published version of the privacy notice (PIPL Art. 17), immutable once published."""

    __tablename__ = "notice_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    document: Mapped[str] = mapped_column(Text)  # canonical JSON of the notice's content
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    material: Mapped[bool] = mapped_column(Boolean)
    changes: Mapped[str] = mapped_column(Text)  # JSON list of what changed from the previous
    affected: Mapped[str] = mapped_column(Text)  # JSON list of consent topics to ask again


class ConsentEvent(Base):
    __tablename__ = "consent_events"
    __table_args__ = (
        Index("ix_consent_events_subject_topic", "subject_id", "kind", "target", "event_id"),
    )

    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subjects.subject_id"))
    kind: Mapped[str] = mapped_column(String(24))  # purpose, third_party, sensitive, ...
    target: Mapped[str] = mapped_column(String(64))  # purpose name, recipient id, ...
    action: Mapped[str] = mapped_column(String(16))  # granted, withdrawn
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    notice_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notice_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel: Mapped[str] = mapped_column(String(16))  # app, web, api, support, sms, email, gpc
    text_shown: Mapped[str] = mapped_column(Text)  # the exact words the consumer answered
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    guardian_subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Guardianship(Base):
    """A verified guardian of a child under 14, who alone may consent for them (PIPL Art. 31)."""

    __tablename__ = "guardianships"

    subject_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("subjects.subject_id"), primary_key=True
    )  # the child
    guardian_subject_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("subjects.subject_id"), primary_key=True
    )
    relation: Mapped[str] = mapped_column(String(16))  # parent, legal_guardian
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
