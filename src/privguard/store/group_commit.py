"""Group commit: the access-log entries of concurrent API reads written by one statement.

A gated read's only write is its access-log entry (store/deferred.py), and the answer may not
leave before that entry has committed (design.md, invariant 2). Written by each request on its
own connection, every read pays a statement and a commit of its own: a round trip, SQLAlchemy's
and psycopg's work for one ``INSERT``, and PostgreSQL's parse, plan and WAL flush. Under load
most of that is the same work done many times at once.

:class:`GroupCommitter` takes those lone entries from every request of a process: the request's
thread hands its row over and waits; one writer thread sends every row waiting at that moment as
one multi-row ``INSERT`` (one statement, so atomic by itself under autocommit: all of them
commit or none does), then wakes each request with the outcome. A request is answered only
after its own entry has committed, exactly as before; if the statement fails, every request in
it gets the error, as it would have on its own. So that one bad row cannot fail its neighbours,
a batch that fails for any reason but a lost connection is retried row by row.

While one batch is in flight the next one gathers, so batches grow with the load and a lone
request waits for no one (there is no timer). Only units of work whose single write is one
queued row use it (store/deferred.py decides); everything else commits on its own connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Table
from sqlalchemy.exc import DBAPIError

from privguard.store.lazy_begin import lone_statement

logger = logging.getLogger(__name__)


@cache
def _returning(table: Table) -> Insert:
    return table.insert().returning(*table.primary_key.columns)


class CommitterStopped(RuntimeError):
    """The process is shutting down; the row was not written."""


@dataclass(eq=False)
class _Waiting:
    table: Table
    row: Mapping[str, Any]
    done: Future[None] = field(default_factory=Future)


class GroupCommitter:
    """One writer thread per process, started on first use and stopped by :meth:`stop`.

    ``engine`` must be in autocommit (the API's lazy-begin engine, store/lazy_begin.py): a
    batch of one table is one statement and needs no transaction; rows of several tables are
    written in one transaction. The thread holds one of the engine's pooled connections while
    it runs.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_rows: int = 1000,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self.on_batch = on_batch
        self.batches = 0
        self.rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: list[_Waiting] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._conn: Connection | None = None

    def write(self, table: Table, row: Mapping[str, Any]) -> None:
        """Return once ``row`` has committed; raise what the database raised otherwise."""
        self.submit(table, row).result()

    def submit(self, table: Table, row: Mapping[str, Any]) -> Future[None]:
        """Queue ``row``; the future is done once it has committed (or failed to)."""
        waiting = _Waiting(table, row)
        with self._lock:
            if self._stopping:
                raise CommitterStopped("the server is shutting down")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="privguard-group-commit", daemon=True
                )
                self._thread.start()
            self._queue.append(waiting)
            self._wake.notify()
        return waiting.done

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then end the thread. Writes while it stops raise
        CommitterStopped; a write after it has stopped starts the thread again (a test
        client may run an app's lifespan more than once)."""
        with self._lock:
            self._stopping = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            if thread is None or not thread.is_alive():
                self._thread = None
                self._stopping = False

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._wake.wait()
                if not self._queue:
                    self._release()
                    return
                batch = self._queue[: self.max_rows]
                del self._queue[: self.max_rows]
            self._write(batch)

    def _write(self, batch: list[_Waiting]) -> None:
        try:
            self._insert(batch)
        except DBAPIError as exc:
            if exc.connection_invalidated or len(batch) == 1:
                self._fail(batch, exc)
                return
            for one in batch:  # a bad row fails alone
                self._write([one])
            return
        except BaseException as exc:  # handed to the waiting requests
            self._fail(batch, exc)
            return
        self.batches += 1
        self.rows += len(batch)
        if self.on_batch is not None:
            self.on_batch(len(batch))
        for waiting in batch:
            waiting.done.set_result(None)

    def _insert(self, batch: list[_Waiting]) -> None:
        by_table: dict[Table, list[Mapping[str, Any]]] = {}
        for waiting in batch:
            by_table.setdefault(waiting.table, []).append(waiting.row)
        conn = self._connection()
        try:
            if len(by_table) == 1:
                ((table, rows),) = by_table.items()
                with lone_statement(conn):
                    if len(rows) == 1:
                        conn.execute(table.insert(), rows[0])
                    else:
                        # With RETURNING, SQLAlchemy sends the rows as one INSERT … VALUES
                        # (…), (…) ("insertmanyvalues", up to 1,000 rows: max_rows); without
                        # it psycopg would send one statement per row, each committing alone.
                        # A literal .values(rows) costs several times the Python per row.
                        conn.execute(_returning(table), rows).all()
                conn.commit()  # ends SQLAlchemy's autobegun transaction; sends nothing
            else:
                with conn.begin():
                    for table, rows in by_table.items():
                        conn.execute(table.insert(), rows)
        except BaseException:
            self._release()  # the next batch starts on a fresh connection
            raise

    def _connection(self) -> Connection:
        """The writer's own connection, held between batches: requests wait for the writer
        while holding theirs, so a writer that had to wait for the pool could wait for them."""
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a broken connection: the pool discards it
                logger.debug("closing the group committer's connection failed", exc_info=True)

    @staticmethod
    def _fail(batch: list[_Waiting], exc: BaseException) -> None:
        for waiting in batch:
            waiting.done.set_exception(exc)
