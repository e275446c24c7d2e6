""" "Who saw my data": a consumer's view of the access log (PIPL Art. 44 and 48: a consumer may
know how their information is handled and ask for it to be explained).

It names organisations (the merchant, the carrier, the platform) and roles, never the staff
member: employees' identities are their own personal information and the organisation is the
one answerable to the consumer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from privguard.audit.entry import LogEntry
from privguard.audit.models import AccessLogEntry
from privguard.marketplace.models import Organisation

_LOG = AccessLogEntry.__table__


@dataclass(frozen=True)
class FieldAccess:
    field: str
    view: str
    rule: str

    @property
    def allowed(self) -> bool:
        return self.view != "none"


@dataclass(frozen=True)
class AccessRecord:
    entry_id: int
    leaf_index: int | None  # None until the sequencer has integrated the entry
    at: datetime
    role: str
    organisation_id: uuid.UUID | None
    organisation_name: str | None
    organisation_kind: str | None
    action: str
    purpose: str
    fields: list[FieldAccess]

    @property
    def allowed(self) -> bool:
        return any(f.allowed for f in self.fields)


def accesses_to(
    session: Session, subject_id: uuid.UUID, *, limit: int = 50, before: int | None = None
) -> list[AccessRecord]:
    """Newest first; ``before`` is the ``entry_id`` of the last record of the previous page."""
    stmt = (
        select(_LOG.c.entry_id, _LOG.c.seq, _LOG.c.subject_id, _LOG.c.entry)
        .where(_LOG.c.subject_id == subject_id)
        .order_by(_LOG.c.entry_id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(_LOG.c.entry_id < before)
    rows = session.execute(stmt).all()
    entries = [(row, LogEntry.from_json(row.entry)) for row in rows]
    org_ids = {e.organisation_id for _, e in entries if e.organisation_id is not None}
    orgs = (
        {
            o.organisation_id: o
            for o in session.execute(
                select(Organisation).where(Organisation.organisation_id.in_(org_ids))
            ).scalars()
        }
        if org_ids
        else {}
    )
    out = []
    for row, entry in entries:
        if entry.subject_id != subject_id:
            continue  # the indexed column was altered; `privguard audit verify` reports it
        org = orgs.get(entry.organisation_id) if entry.organisation_id else None
        out.append(
            AccessRecord(
                entry_id=row.entry_id,
                leaf_index=row.seq,
                at=entry.at,
                role=entry.role,
                organisation_id=entry.organisation_id,
                organisation_name=org.name if org else None,
                organisation_kind=org.kind if org else None,
                action=entry.action,
                purpose=entry.purpose,
                fields=[FieldAccess(d["field"], d["view"], d["rule"]) for d in entry.decisions],
            )
        )
    return out
