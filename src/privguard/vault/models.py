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

    ``next_expiry`` is the earliest moment a value in the record expires under the catalog's
    retention (catalog/retention.py), recomputed by every write of the record, so the retention
    run selects due subjects from the index instead of opening every record. NULL when nothing
    in the record expires while the account exists, and after erasure.
    """

    __tablename__ = "subjects"
    __table_args__ = (Index("ix_subjects_next_expiry", "next_expiry", "subject_id"),)

    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    key_version: Mapped[int] = mapped_column(Integer, default=1)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Start of last_activity retention: vault writes and Vault.touch (an order placed).
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_expiry: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


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


class RestrictedRecord(Base):
    """What the law makes us keep after a subject is erased (E-Commerce Law Art. 31: transaction
    records for three years; PIPL Art. 47: stored, no longer processed).

    Sealed under its own data key, wrapped by the master key with a context of its own, so the
    erased subject's shredded key opens nothing here and this key opens nothing else. Only the
    legal-obligation purpose reads it (Vault.read_restricted); it is deleted, key and all, by
    the retention run once ``retention_ends`` has passed and no legal hold on the subject is
    active (Vault.purge_restricted).

    ``keep_until`` is what the consumer was told: the later of the record's own retention and
    the expiry of the legal hold (``hold_id``) that kept it; ``retention_ends`` is the record's
    own retention, so a hold released early lets it go at once.
    """

    __tablename__ = "restricted_records"
    __table_args__ = (
        Index("ix_restricted_records_retention_ends", "retention_ends", "record_id"),
    )

    record_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    field: Mapped[str] = mapped_column(String(64))
    master_key_id: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    keep_until: Mapped[datetime] = mapped_column(UTCDateTime)
    retention_ends: Mapped[datetime] = mapped_column(UTCDateTime)
    hold_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    basis: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
