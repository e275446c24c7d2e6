"""Vault tables. No column holds plaintext personal information.

Every table is keyed by ``subject_id`` so PostgreSQL can distribute them by that column (Citus)
without cross-shard joins on the hot path (design.md, Scale).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class Subject(Base):
    """A person whose data the vault holds: status and the sealed record of their fields.

    ``sealed`` is the layout in vault/record.py: each field AES-256-GCM encrypted on its own
    under the subject's data key version ``key_version``. NULL once the subject is erased.
    """

    __tablename__ = "subjects"

    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    key_version: Mapped[int] = mapped_column(Integer, default=1)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SubjectKey(Base):
    """A subject's data key, wrapped by a master key of the key provider.

    Deleting the row is crypto-shredding: every ciphertext under that key becomes noise.
    """

    __tablename__ = "subject_keys"

    subject_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("subjects.subject_id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(64), index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BlindIndex(Base):
    """Keyed digest of a searchable field's normalised value, for exact lookup."""

    __tablename__ = "blind_indexes"
    __table_args__ = (Index("ix_blind_indexes_field_digest", "field", "digest"),)

    subject_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("subjects.subject_id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
