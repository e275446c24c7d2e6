"""Tokens of values redacted out of free text. No column holds plaintext.

A token stands for one value of one entity type. ``sealed`` is the value encrypted with
AES-256-GCM under the token key (crypto/token_keys.py), bound to ``token_id`` and
``entity_type`` by the associated data. ``digest`` is a keyed hash of the normalised value (the
blind-index construction, its own namespace per type), so the same value gets the same token
and a column of redacted chats can still be counted and joined on it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class DetectToken(Base):
    __tablename__ = "detect_tokens"
    __table_args__ = (Index("ix_detect_tokens_type_digest", "entity_type", "digest"),)

    token_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
