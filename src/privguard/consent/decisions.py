"""Fast consent answers for services that decide many times a second: recommendation, search,
ads, message sending (PIPL Art. 24; E-Commerce Law Art. 18; CRPL Art. 29).

The access gate itself never uses this cache: it reads the ledger on every decision. Services
outside the gate ask here instead of keeping their own copy of consent. Each subject's events are
cached for ``ttl`` seconds; a change recorded through this process's ledger drops the subject at
once, and other processes' changes are seen within ``ttl``. The state is recomputed from the
cached events on every answer, so an expiry takes effect to the microsecond.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from privguard.clock import utcnow
from privguard.consent.models import ConsentEvent
from privguard.consent.rules import Action, ConsentRecord, consented_purposes, current_states
from privguard.consent.service import ConsentLedger
from privguard.store.uow import unit_of_work

EVENTS = ConsentEvent.__table__
PERSONALISATION = "personalised_recommendation"
CHANNEL_PURPOSES = {
    "sms": "marketing_sms",
    "email": "marketing_email",
    "phone": "marketing_phone",
    "push": "marketing_push",
}
_BATCH = 500  # subjects per IN list


class ConsentCache:
    def __init__(
        self,
        ledger: ConsentLedger,
        sessions: sessionmaker[Session],
        *,
        ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledger = ledger
        self.sessions = sessions
        self.ttl = ttl
        self._clock = clock
        self._events: dict[uuid.UUID, tuple[float, tuple[ConsentRecord, ...]]] = {}
        self._material: tuple[float, list[tuple[int, frozenset[str]]]] | None = None
        # Moved by every invalidation: events loaded before a change are not stored after it.
        self._generation = 0
        self._lock = threading.Lock()
        ledger.listeners.append(self.invalidate)

    # ------------------------------------------------------------------ answers
    def may_use(
        self,
        subject_id: uuid.UUID,
        purpose: str,
        *,
        recipient: uuid.UUID | None = None,
        now: datetime | None = None,
    ) -> bool:
        return self.may_use_many([subject_id], purpose, recipient=recipient, now=now)[subject_id]

    def may_personalize(self, subject_id: uuid.UUID, *, now: datetime | None = None) -> bool:
        return self.may_use(subject_id, PERSONALISATION, now=now)

    def may_contact(
        self, subject_id: uuid.UUID, channel: str, *, now: datetime | None = None
    ) -> bool:
        return self.may_use(subject_id, purpose_of_channel(channel), now=now)

    def may_use_many(
        self,
        subject_ids: Iterable[uuid.UUID],
        purpose: str,
        *,
        recipient: uuid.UUID | None = None,
        now: datetime | None = None,
    ) -> dict[uuid.UUID, bool]:
        ids = list(dict.fromkeys(subject_ids))
        now = now or utcnow()
        events = self._events_of(ids)
        material = self._material_changes()
        wanted = (purpose,)
        target = str(recipient) if recipient else None
        return {
            sid: purpose
            in consented_purposes(current_states(events[sid], material, now), wanted, target)
            for sid in ids
        }

    # ------------------------------------------------------------------ cache
    def invalidate(self, subject_id: uuid.UUID | None = None) -> None:
        """Forget one subject (``None``: everything, e.g. after a notice is published)."""
        with self._lock:
            self._generation += 1
            if subject_id is None:
                self._events.clear()
                self._material = None
            else:
                self._events.pop(subject_id, None)

    def _events_of(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[ConsentRecord, ...]]:
        now = self._clock()
        out: dict[uuid.UUID, tuple[ConsentRecord, ...]] = {}
        missing = []
        with self._lock:
            for sid in ids:
                hit = self._events.get(sid)
                if hit is not None and now - hit[0] < self.ttl:
                    out[sid] = hit[1]
                else:
                    missing.append(sid)
        if missing:
            generation = self._generation
            loaded = self._load(missing)
            with self._lock:
                # A change recorded while we read may not be in what we read: answer with it
                # this once, but do not keep it for ttl seconds.
                if generation == self._generation:
                    for sid in missing:
                        self._events[sid] = (now, loaded[sid])
            out.update(loaded)
        return out

    def _load(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[ConsentRecord, ...]]:
        found: dict[uuid.UUID, list[ConsentRecord]] = {sid: [] for sid in ids}
        cols = (
            EVENTS.c.subject_id,
            EVENTS.c.kind,
            EVENTS.c.target,
            EVENTS.c.action,
            EVENTS.c.at,
            EVENTS.c.notice_version,
            EVENTS.c.expires_at,
        )
        with unit_of_work(self.sessions) as session:
            conn = session.connection()
            for start in range(0, len(ids), _BATCH):
                chunk = ids[start : start + _BATCH]
                rows = conn.execute(
                    select(*cols).where(EVENTS.c.subject_id.in_(chunk)).order_by(EVENTS.c.event_id)
                )
                for r in rows:
                    found[r.subject_id].append(
                        ConsentRecord(
                            r.kind, r.target, Action(r.action), r.at, r.notice_version, r.expires_at
                        )
                    )
        return {sid: tuple(events) for sid, events in found.items()}

    def _material_changes(self) -> list[tuple[int, frozenset[str]]]:
        now = self._clock()
        with self._lock:
            cached = self._material
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        generation = self._generation
        with unit_of_work(self.sessions) as session:
            material = self.ledger.material(session)
        with self._lock:
            if generation == self._generation:
                self._material = (now, material)
        return material


class UnknownChannel(ValueError):
    pass


def purpose_of_channel(channel: str) -> str:
    try:
        return CHANNEL_PURPOSES[channel]
    except KeyError:
        raise UnknownChannel(
            f"unknown channel {channel!r}; channels: {', '.join(CHANNEL_PURPOSES)}"
        ) from None
