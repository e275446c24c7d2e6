"""Searching the access log, for the protection officer, operators and auditors (PIPL Art. 54
audits; GB/T 35273-2020 11.3 records).

The indexed columns (subject, organisation, actor, time) narrow the scan in SQL; purpose and
outcome are read from each entry's hashed JSON, so what is shown is what the Merkle tree vouches
for. A search is itself logged (who searched, with which filters: ids only), because asking
"who saw this customer" is a look at that customer's file too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from privguard.audit.entry import LogEntry
from privguard.audit.models import AccessLogEntry
from privguard.audit.service import log_operation
from privguard.policy.rules import ActorRef, Role
from privguard.vault.errors import AccessDenied

LOG = AccessLogEntry.__table__
SEARCHERS = frozenset({Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN, Role.AUDITOR})
RULE_SEARCH = "audit.search"
CHUNK = 500
MAX_SCAN = 20_000  # entries read per search at most, however narrow the filter


@dataclass(frozen=True)
class LogQuery:
    subject_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None
    purpose: str | None = None
    outcome: str | None = None  # "allowed" (some field shown) or "refused" (none)
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, entry: LogEntry) -> bool:
        if self.purpose and entry.purpose != self.purpose:
            return False
        if self.outcome:
            allowed = any(d.get("view") != "none" for d in entry.decisions)
            return allowed == (self.outcome == "allowed")
        return True

    def detail(self) -> dict[str, str]:
        """The filters as the log entry of the search records them: ids and names only."""
        return {k: (v.isoformat() if isinstance(v, datetime) else str(v))
                for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Found:
    entry_id: int
    seq: int | None  # None until sequenced into the tree
    entry: LogEntry

    @property
    def allowed(self) -> bool:
        return any(d.get("view") != "none" for d in self.entry.decisions)


def search_log(
    session: Session,
    actor: ActorRef,
    query: LogQuery,
    *,
    now: datetime,
    limit: int = 50,
    before: int | None = None,
) -> tuple[list[Found], int | None]:
    """Matching entries newest first, and the ``before`` to pass for the next page (None when
    the log is exhausted)."""
    if actor.role not in SEARCHERS:
        raise AccessDenied(RULE_SEARCH, "the access log is searched by the protection officer, "
                           "operators and auditors")
    stmt = select(LOG.c.entry_id, LOG.c.seq, LOG.c.entry).order_by(LOG.c.entry_id.desc())
    if query.subject_id is not None:
        stmt = stmt.where(LOG.c.subject_id == query.subject_id)
    if query.actor_id is not None:
        stmt = stmt.where(LOG.c.actor_id == query.actor_id)
    if query.organisation_id is not None:
        stmt = stmt.where(LOG.c.organisation_id == query.organisation_id)
    if query.since is not None:
        stmt = stmt.where(LOG.c.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(LOG.c.at < query.until)
    found: list[Found] = []
    cursor = before
    scanned = 0
    exhausted = False
    while len(found) < limit and scanned < MAX_SCAN:
        page = stmt.limit(CHUNK)
        if cursor is not None:
            page = page.where(LOG.c.entry_id < cursor)
        rows = session.execute(page).all()
        for row in rows:
            scanned += 1
            cursor = row.entry_id
            entry = LogEntry.from_json(row.entry)
            if query.matches(entry):
                found.append(Found(row.entry_id, row.seq, entry))
                if len(found) == limit:
                    break
        if len(rows) < CHUNK and (not rows or cursor == rows[-1].entry_id):
            exhausted = True
            break
    log_operation(session, actor=actor, action="access_log.search", rule=RULE_SEARCH,
                  reason="the access log was searched", now=now, detail=query.detail())
    return found, None if exhausted else cursor
