"""Inserts queued in a unit of work and written with one statement just before it commits.

The access log gets one row per gate decision; a bulk job reading 500 customers in one
transaction would otherwise pay 500 separate INSERTs. Queued rows are written by the
``before_commit`` hook that :func:`privguard.store.uow.session_factory` installs, inside the same
transaction: if they cannot be written, nothing commits (and the API sends no data before its
transaction has committed). A rollback drops them with everything else. The one exception is a
unit of work whose single write is one queued row (a gated read's entry): on PostgreSQL the
API writes it together with other requests' (store/group_commit.py), still before its answer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from privguard.store.lazy_begin import transaction_open

_KEY = "privguard.deferred_inserts"
# session.info key of the process's GroupCommitter (store/group_commit.py), set by
# store/uow.session_factory for the API's sessions on PostgreSQL.
COMMITTER = "privguard.group_committer"


def defer_insert(session: Session, table: Table, row: dict[str, Any]) -> None:
    session.info.setdefault(_KEY, {}).setdefault(table, []).append(row)


def flush_deferred(session: Session) -> None:
    """Write every queued row now (also called before reading a table that may have some)."""
    pending: dict[Table, list[dict[str, Any]]] = session.info.pop(_KEY, {})
    for table, rows in pending.items():
        # One row (a single gated read) as a plain execute: the executemany path costs more
        # Python for one row (benchmarks/load.py).
        session.connection().execute(table.insert(), rows[0] if len(rows) == 1 else rows)


def flush_deferred_at_commit(session: Session) -> None:
    """The ``before_commit`` hook. When the queue holds the unit of work's only write (one row
    of the group committer's table, nothing else changed through the ORM, no transaction open:
    a gated read's log entry) and the sessions have a group committer (the API's, on
    PostgreSQL), the row is written together with other requests' (store/group_commit.py);
    otherwise in this transaction. Either way the hook returns only once the row has committed
    or raises."""
    pending = session.info.get(_KEY)
    committer = session.info.get(COMMITTER)
    if (
        committer is not None
        and pending
        and len(pending) == 1
        and len(rows := pending.get(committer.table, ())) == 1
        and not (session.new or session.dirty or session.deleted)
    ):
        conn = session.connection()
        # not after a Core write or a row lock: the row must commit with them
        if not transaction_open(conn):
            del session.info[_KEY]
            committer.write(conn, rows[0])
            return
    flush_deferred(session)


def discard_deferred(session: Session, *_: Any) -> None:
    session.info.pop(_KEY, None)
