"""Contact relays: aliases per order, the contacts made through them, and the parties' mailboxes.

No consumer's personal information is stored here (design.md invariant 1). An alias row holds
ids and the alias strings (a platform number with an extension, a random mail local part); the
buyer's real number or address is read through the vault's gate each time a call, SMS or mail is
connected, and never copied. Events say who contacted whom, when and how, never what was said.

``relay_mailboxes`` holds the business addresses of merchants and couriers that may write
through an alias (staff data, like staff display names in ``actors``, not customers' PI).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class RelayAlias(Base):
    """One order's alias. One per order for good: a revoked or expired alias is not replaced,
    so a consumer's revocation cannot be undone by asking for a new one."""

    __tablename__ = "relay_aliases"
    __table_args__ = (
        # A platform number and extension reach one alias at a time: among aliases still
        # holding their slot (an ended alias keeps it for a quarantine period, then lets go).
        Index(
            "ix_relay_aliases_held_slot",
            "phone_number",
            "extension",
            unique=True,
            sqlite_where=text("slot_held"),
            postgresql_where=text("slot_held"),
        ),
    )

    alias_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orders.order_id"), unique=True
    )
    subject_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("subjects.subject_id"), index=True
    )
    merchant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.organisation_id")
    )
    phone_number: Mapped[str] = mapped_column(String(16))  # a platform number, E.164
    extension: Mapped[str] = mapped_column(String(8))
    slot_held: Mapped[bool] = mapped_column(Boolean)
    mail_local: Mapped[str] = mapped_column(String(32), unique=True)  # o-<random>
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class RelayEvent(Base):
    """A call, SMS or mail through an alias, or an attempt the relay refused: the consumer's
    "who contacted me". Never the content, the number dialled from or the address written from."""

    __tablename__ = "relay_events"
    __table_args__ = (Index("ix_relay_events_subject_at", "subject_id", "at"),)

    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    alias_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("relay_aliases.alias_id"), index=True
    )
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subjects.subject_id"))
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(8))  # call, sms, mail
    direction: Mapped[str] = mapped_column(String(16))  # to_subject, from_subject
    party: Mapped[str] = mapped_column(String(16))  # merchant, courier
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))  # connected, refused, failed
    rule: Mapped[str] = mapped_column(String(64))


class RelayMailbox(Base):
    """A merchant's or courier's address that may write through aliases, and where the buyer's
    replies go: an organisation's inbox (no actor) or one courier's or staff member's."""

    __tablename__ = "relay_mailboxes"

    address: Mapped[str] = mapped_column(String(254), primary_key=True)  # lower-case
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.organisation_id"), index=True
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("actors.actor_id"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
