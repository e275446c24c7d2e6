"""Tables of anomaly detection: the scanner's cursor, each actor's compact state, the alerts.

``access_alerts`` is what other features read (merchant supervision counts a merchant's alerts
with :func:`privguard.cases.anomalies.count_alerts`). One row per alert:

============================  ==============================================================
``alert_id``                  integer, ascending in firing order
``rule``                      ``bulk_access``, ``off_hours``, ``enumeration``,
                              ``no_relationship``, ``large_export``, ``new_network``
``actor_id``                  who did it; ``organisation_id`` and ``role`` as of the entry
``fired_at``                  when the scanner raised it (its ``now``)
``window_start/_end``         the time span of the entries it is about
``first/last/trigger_entry_id``  the access-log entries: the span, and the one that fired it
``evidence``                  JSON: counts, thresholds, baselines, entry ids (never PI values,
                              never a customer's id)
``state``                     ``open``, ``dismissed`` (``reason``, ``decided_by``,
                              ``decided_at``) or ``escalated`` (``incident_id``)
============================  ==============================================================
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from privguard.store.base import Base, UTCDateTime


class AnomalyCursor(Base):
    """How far the scanner got: one row per scanner (``name``), locked while a batch runs.

    The scanner reads the log in leaf-index order (``access_log.seq``), which the sequencer
    hands out one batch at a time: an entry committed late can never appear behind the cursor,
    as it could in ``entry_id`` order. ``last_entry_id`` is kept for people reading the table.
    """

    __tablename__ = "anomaly_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)  # -1 before the first entry
    last_entry_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    processed: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AnomalyActorState(Base):
    """What the rules remember about one actor (cases/anomaly_rules.py ``ActorState``)."""

    __tablename__ = "anomaly_actor_state"

    actor_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    role: Mapped[str] = mapped_column(String(32))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccessAlert(Base):
    __tablename__ = "access_alerts"
    __table_args__ = (
        Index("ix_access_alerts_organisation_fired", "organisation_id", "fired_at"),
        Index("ix_access_alerts_state", "state", "alert_id"),
        Index("ix_access_alerts_firing", "actor_id", "rule", "trigger_entry_id", unique=True),
    )

    alert_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    rule: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    role: Mapped[str] = mapped_column(String(32))
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    first_entry_id: Mapped[int] = mapped_column(BigInteger)
    last_entry_id: Mapped[int] = mapped_column(BigInteger)
    trigger_entry_id: Mapped[int] = mapped_column(BigInteger)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # redacted by the detector
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("incidents.incident_id"), nullable=True
    )
