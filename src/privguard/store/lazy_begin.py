"""PostgreSQL transactions that begin at their first write, for the API's units of work.

psycopg sends ``BEGIN`` before a unit of work's first statement and SQLAlchemy ends it with
``COMMIT``: a gated read, whose only write is its access-log entry, was four round trips
(``BEGIN``, the record, the entry, ``COMMIT``). Each round trip costs CPU in both processes:
about 0.2 ms of the client's on one VM of this kind, and PostgreSQL's share per read fell by about
a seventh without the two (benchmarks/README.md, load.py).

Under READ COMMITTED, PostgreSQL's default, every statement takes its own snapshot whether or
not a transaction is open, so a plain ``SELECT`` before the first write sees exactly what it
would see inside the transaction, and holds nothing a transaction would have to release. This
engine therefore runs in autocommit and sends ``BEGIN`` itself just before the first statement
that is not a plain ``SELECT``: any write, a ``SELECT … FOR UPDATE``/``FOR SHARE``, an advisory
lock, a notification, or a streamed result (a server-side cursor). From there on the unit of
work is one transaction as before, and psycopg's ``commit()``/``rollback()`` end it (they send
nothing when none was opened).

One more round trip goes: a unit of work that reaches its commit with no transaction open and a
single row to write (the gated read's log entry, store/deferred.py) sends it as a statement of
its own, alone or with concurrent requests' rows (store/group_commit.py), which PostgreSQL makes
atomic by itself. A masked read is then two round trips.

Used only where it is exactly equivalent: PostgreSQL whose default isolation is READ COMMITTED
(:func:`lazy_begin_engine` returns ``None`` otherwise, and the caller keeps the plain engine).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from psycopg import ServerCursor
from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, Engine, event

_LONE = "privguard.lone_statement"

# Clauses that make a SELECT need a transaction: row locks, transaction-scoped advisory locks
# and notifications (sent at commit). Matching more than needed only costs a BEGIN.
_NEEDS_TRANSACTION = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b|advisory|pg_notify|set_config",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def needs_transaction(statement: str) -> bool:
    """True unless ``statement`` is a plain SELECT. Cached: SQLAlchemy reuses the same
    compiled string for the same statement, so the hot path pays one dictionary lookup."""
    head = statement.lstrip()[:6].upper()
    return head != "SELECT" or _NEEDS_TRANSACTION.search(statement) is not None


def _begin_before_first_write(
    conn: Connection, cursor: Any, statement: str, *_: Any
) -> None:
    dbapi = cursor.connection
    if not dbapi.autocommit:
        return  # a caller chose another isolation level: psycopg opens its own transaction
    if not needs_transaction(statement) and not isinstance(cursor, ServerCursor):
        return  # a plain SELECT; a streamed one (DECLARE … CURSOR) needs a transaction
    if dbapi.info.transaction_status != TransactionStatus.IDLE:
        return  # already in one (or the connection is broken: the statement will say so)
    if conn.info.get(_LONE):
        return
    dbapi.execute("BEGIN")  # not on `cursor`: a server-side one would DECLARE it


def lazy_begin_engine(engine: Engine) -> Engine | None:
    """``engine`` in autocommit with a transaction begun at the first write; ``None`` when
    that would not be equivalent (not PostgreSQL, or a default isolation other than READ
    COMMITTED, which the dialect reads from the server on its first connection)."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect():
        pass  # the dialect learns the server's default isolation level on first connect
    if engine.dialect.default_isolation_level != "READ COMMITTED":
        return None
    lazy = engine.execution_options(isolation_level="AUTOCOMMIT")
    event.listen(lazy, "before_cursor_execute", _begin_before_first_write)
    return lazy


@contextmanager
def lone_statement(conn: Connection) -> Iterator[None]:
    """Run the next statements without opening a transaction: only for the single statement
    that writes a unit of work's one and only row at its commit, with any other requests' rows
    (store/deferred.py checks that it is; store/group_commit.py sends it)."""
    conn.info[_LONE] = True
    try:
        yield
    finally:
        # A lost connection is invalidated, and its info then raises PendingRollbackError,
        # which would hide the statement's own error (a 500 instead of the 503 a lost
        # database gets); the pool drops that connection with its info.
        if not conn.invalidated:
            del conn.info[_LONE]


def transaction_open(conn: Connection) -> bool:
    """True when ``conn`` (of a :func:`lazy_begin_engine`) is inside a transaction: it has
    written, locked rows or streamed, so what remains of its unit of work must join it."""
    dbapi = conn.connection.dbapi_connection
    return dbapi is None or not dbapi.autocommit or (
        dbapi.info.transaction_status != TransactionStatus.IDLE
    )
