"""Group commit: the access-log entries of concurrent API reads written by one statement.

A gated read's only write is its access-log entry (store/deferred.py), and the answer may not
leave before that entry has committed (design.md, invariant 2). Written by each request on its
own, every read pays a statement and a commit: a round trip, SQLAlchemy's and psycopg's work
for one ``INSERT``, and PostgreSQL's parse, plan and WAL flush. Under load most of that is the
same work done many times at once.

:class:`GroupCommitter` shares it among a process's requests, leader and followers, with no
thread of its own: a request whose entry finds no write in flight becomes the leader and sends
every entry queued at that moment, its own included, on its own connection as one
``INSERT … VALUES (…), (…)`` (one statement, so atomic by itself under autocommit: all of them
commit or none does); requests that arrive meanwhile queue their entry and wait, and when the
write ends, each finds its entry committed (or the error it got), and one of those still
queued leads the next write. A lone request therefore writes its entry itself at once, exactly
as without group commit, and nobody is answered before their own entry has committed. If the
statement fails, every request in it gets the error, as it would have on its own; so that one
bad row cannot fail its neighbours, a batch that fails for any reason but a lost connection is
retried row by row.

Only units of work whose single write is one row of the committer's table, with no transaction
open on their connection, use it (store/deferred.py decides); everything else commits in its
own transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError

from privguard.store.lazy_begin import lone_statement


@dataclass(eq=False)
class _Entry:
    row: Mapping[str, Any]
    finished: bool = False
    error: BaseException | None = None


class GroupCommitter:
    """Rows of ``table`` written together by whichever writer leads (see the module)."""

    def __init__(
        self,
        table: Table,
        *,
        max_rows: int = 1000,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.table = table
        # With RETURNING, SQLAlchemy sends many rows as one INSERT … VALUES (…), (…)
        # ("insertmanyvalues", up to 1,000 rows a statement: max_rows); without it psycopg
        # would send one statement per row, each committing alone under autocommit. A literal
        # .values(rows) costs several times the Python per row.
        self._insert = table.insert()
        self._insert_many = table.insert().returning(*table.primary_key.columns)
        self.max_rows = max_rows
        self.on_batch = on_batch
        self.batches = 0
        self.rows = 0
        self._changed = threading.Condition()
        self._queue: list[_Entry] = []
        self._writing = False

    def write(self, conn: Connection, row: Mapping[str, Any]) -> None:
        """Return once ``row`` has committed; raise what the database raised otherwise.
        ``conn`` (autocommit, no transaction open: store/lazy_begin.py) is used only if this
        call leads a write."""
        mine = _Entry(row)
        with self._changed:
            self._queue.append(mine)
        while True:
            with self._changed:
                while self._writing and not mine.finished:
                    self._changed.wait()
                if mine.finished:
                    break
                self._writing = True
                batch = self._queue[: self.max_rows]
                del self._queue[: self.max_rows]
            try:
                self._write(conn, batch)
            finally:
                with self._changed:
                    self._writing = False
                    self._changed.notify_all()
        if mine.error is not None:
            raise mine.error

    def _write(self, conn: Connection, batch: list[_Entry]) -> None:
        try:
            with lone_statement(conn):
                if len(batch) == 1:
                    conn.execute(self._insert, batch[0].row)
                else:
                    conn.execute(self._insert_many, [e.row for e in batch]).all()
        except DBAPIError as exc:
            if exc.connection_invalidated or len(batch) == 1:
                _finish(batch, exc)
            else:
                for entry in batch:  # a bad row fails alone
                    self._write(conn, [entry])
            return
        except BaseException as exc:  # handed to every writer in the batch
            _finish(batch, exc)
            raise
        self.batches += 1
        self.rows += len(batch)
        if self.on_batch is not None:
            self.on_batch(len(batch))
        _finish(batch, None)


def _finish(batch: list[_Entry], error: BaseException | None) -> None:
    for entry in batch:
        entry.error = error
        entry.finished = True
