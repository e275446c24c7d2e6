"""The access log and the signed heads of its Merkle tree.

``entry`` holds the canonical JSON that is hashed (audit/entry.py); ``subject_id``,
``organisation_id``, ``actor_id`` and ``at`` repeat parts of it only so they can be indexed, and
``privguard audit verify`` checks that they agree with the entry. ``seq`` is the entry's leaf
index, given by the sequencer; NULL means written but not yet integrated into the tree.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class AccessLogEntry(Base):
    __tablename__ = "access_log"
    __table_args__ = (
        Index("ix_access_log_subject_entry", "subject_id", "entry_id"),
        Index("ix_access_log_organisation_entry", "organisation_id", "entry_id"),
        Index("ix_access_log_seq", "seq", unique=True),
        # The sequencer's queue, oldest first: without it PostgreSQL sorts every pending row on
        # each batch (a backlog, e.g. right after migrating, would take quadratic time).
        Index(
            "ix_access_log_pending",
            "entry_id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )

    entry_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    entry: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)


class TreeHead(Base):
    """A signed tree head, one per sequencer batch (RFC 6962 section 3.5, our own encoding).

    ``frontier`` is the concatenated roots of the tree's perfect subtrees, left to right: enough
    to append the next batch without reading a single earlier leaf.
    """

    __tablename__ = "log_tree_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    frontier: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
