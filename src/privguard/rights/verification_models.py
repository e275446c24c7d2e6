"""The table behind identity verification of data-subject requests (rights/verification.py).

A challenge row holds no personal information: not the code (only its argon2id hash), not the
phone number or e-mail address it went to (only which channel), so the table needs no
encryption and a copy of it is useless for impersonating anyone.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class VerificationChallenge(Base):
    """One code sent to the contact on file; live until verified, expired or out of attempts."""

    __tablename__ = "verification_challenges"

    challenge_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("subjects.subject_id"), index=True
    )
    request_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel: Mapped[str] = mapped_column(String(16))  # mobile_phone | email
    code_hash: Mapped[str] = mapped_column(String(255))  # argon2id, PHC string format
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consumed: Mapped[bool] = mapped_column(Boolean, default=False)
