"""Browser sign-in: accounts, sessions and the attempts that throttle guessing.

An account belongs to an actor (the same actor the API knows, so the same gate decides what the
pages show). Passwords are argon2id hashes; a staff account's TOTP secret is sealed under a data
key of its own, wrapped by the master key. A session is stored only as the SHA-256 of its
cookie, so a copy of the database cannot be replayed into a browser.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class WebAccount(Base):
    __tablename__ = "web_accounts"

    actor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("actors.actor_id"), primary_key=True
    )
    # An account name chosen for signing in (not a phone number or e-mail: those are PI).
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    totp_master_key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # no replay
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebSession(Base):
    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_actor", "actor_id"),)

    session_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    actor_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("actors.actor_id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Re-authenticated at: revealing one's own plain values needs a fresh password.
    reauth_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_login", "login", "at"),
        Index("ix_login_attempts_network", "network", "at"),
    )

    attempt_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    login: Mapped[str] = mapped_column(String(64))
    network: Mapped[str] = mapped_column(String(64))  # the client's /24 or /48, not its address
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean)
