"""Tables of retention enforcement: legal holds, retention runs and anonymised counts.

None holds personal information. A hold names a subject by id and gives the officer's reason,
which the consumer may read in their deletion statement (write it for them: a case reference,
not a third party's details). The counts have no subject id at all (catalog/generalisers.py).

The vault reads :class:`LegalHold` (erasure keeps a held subject's data restricted; the sweep
skips held subjects), so this module imports nothing but the store's base.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    and_,
    exists,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class LegalHold(Base):
    """Deletion suspended for one subject (a dispute, an investigation) until ``expires_at``
    or release. Rows are never deleted: placing and releasing are both kept, with who and why,
    and both are logged (rights/holds.py)."""

    __tablename__ = "legal_holds"
    __table_args__ = (Index("ix_legal_holds_subject", "subject_id", "expires_at"),)

    hold_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    released_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    release_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    def active(self, at: datetime) -> bool:
        return self.released_at is None and self.expires_at > at


def hold_active(subject_id: Any, at: Any) -> ColumnElement[bool]:
    """SQL: the subject (a column or a value) has a hold in force at ``at``."""
    holds = LegalHold.__table__
    return exists(
        select(holds.c.hold_id).where(
            and_(
                holds.c.subject_id == subject_id,
                holds.c.released_at.is_(None),
                holds.c.expires_at > at,
            )
        )
    )


class RetentionRun(Base):
    """One ``privguard retention run``: its cut-off is fixed when it starts, and every batch
    commits its changes together with the counts and the sweep's position here, so a run killed
    half-way is continued by the next with the same cut-off, and its counts stay exact."""

    __tablename__ = "retention_runs"

    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    phase: Mapped[str] = mapped_column(String(16))  # reschedule | live | restricted | done
    # Keyset position of the live sweep (next_expiry, subject_id) and of the reschedule pass.
    cursor_expiry: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cursor_subject: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    batches: Mapped[int] = mapped_column(Integer, default=0)
    resumed: Mapped[int] = mapped_column(Integer, default=0)  # times continued after a stop
    subjects: Mapped[int] = mapped_column(Integer, default=0)  # records changed
    held: Mapped[int] = mapped_column(Integer, default=0)  # due subjects skipped for a hold
    restricted: Mapped[int] = mapped_column(Integer, default=0)  # kept records deleted
    # {"deleted": {field: n}, "anonymised": {field: n}, "restricted": {field: n}}
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)


class AnonymisedCount(Base):
    """What anonymised values leave behind: how many values of a field, collected in a month,
    generalised to the same label. No subject id, no time finer than the month."""

    __tablename__ = "anonymised_counts"

    field: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM, collected
    count: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
