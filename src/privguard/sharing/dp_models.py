"""Tables of de-identified dataset releases and differential-privacy budgets (migration 0009).

None of them holds personal information or released data: a budget is numbers per recipient, a
release row says what kind of statistic or dataset left, to whom, when and at what privacy cost.

``recipient_id`` has no foreign key yet: the recipients table arrives in migration 0010 (the
recipient registry), which may add one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Double, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class PrivacyBudget(Base):
    """A recipient's total epsilon and how much of it releases have spent.

    One row per recipient; a release locks it (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` already serialises writers), checks, spends and inserts its release row in
    one transaction, so concurrent releases cannot overspend.
    """

    __tablename__ = "privacy_budgets"
    __table_args__ = (
        CheckConstraint("epsilon_total >= 0", name="total_not_negative"),
        CheckConstraint("epsilon_spent >= 0", name="spent_not_negative"),
    )

    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    epsilon_total: Mapped[float] = mapped_column(Double)
    epsilon_spent: Mapped[float] = mapped_column(Double, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PrivacyRelease(Base):
    """One differentially private release: who got it, what was computed, its epsilon. The query
    is recorded (statistics, columns, bounds, segments, noise scales), never the data or the
    noisy answers."""

    __tablename__ = "privacy_releases"

    release_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    mechanism: Mapped[str] = mapped_column(String(32))
    epsilon: Mapped[float] = mapped_column(Double)
    query: Mapped[dict[str, Any]] = mapped_column(JSON)
    released_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DatasetRelease(Base):
    """One de-identified dataset given to a recipient: its columns and the de-identification
    report (achieved k, l, suppression, information loss, levels), never its rows."""

    __tablename__ = "deid_dataset_releases"

    release_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    columns: Mapped[list[str]] = mapped_column(JSON)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    rows: Mapped[int] = mapped_column(Integer)
    k_achieved: Mapped[int] = mapped_column(Integer)
    l_achieved: Mapped[int | None] = mapped_column(Integer, nullable=True)
    released_at: Mapped[datetime] = mapped_column(UTCDateTime)
