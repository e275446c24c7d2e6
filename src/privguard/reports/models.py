"""Stored impact assessments (PIPL Art. 55-56).

No personal information: an assessment is about a processing activity (a policy purpose), and
names fields, rules, roles and recipients (companies), never a customer. The officer's answers
are free text written for a regulator; docs/reports.md asks that they name no customer.

A signed assessment is frozen: its ``content_hash`` is the SHA-256 of exactly what was signed
(reports/rules.py ``signed_content``), recomputed on every read, and the service refuses to
change it or to delete it before ``keep_until`` (three years after sign-off, Art. 56).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class ImpactAssessment(Base):
    __tablename__ = "impact_assessments"
    __table_args__ = (Index("ix_impact_assessments_purpose", "purpose", "created_at"),)

    assessment_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # draft | signed
    template_version: Mapped[int] = mapped_column(Integer)
    # The data map as assessed, the Art. 55 cases and risks found, and the questions.
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    answers: Mapped[dict[str, str]] = mapped_column(JSON)  # question id -> the answer
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)  # approved | rejected
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    signed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    keep_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
