"""Engine construction for the two supported stores: embedded SQLite and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


READ_SNAPSHOT = "privguard_read_snapshot"
"""Execution option for a connection that only reads: on SQLite its transaction is a plain
``BEGIN`` (a WAL snapshot that never blocks writers) instead of ``BEGIN IMMEDIATE``."""


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the settings privguard relies on.

    SQLite: WAL so readers do not block the writer; ``secure_delete`` so erased rows (wrapped data
    keys above all) are overwritten on disk instead of lingering in free pages, which a file copy
    would otherwise carry into a backup; foreign keys on; a busy timeout instead of instant
    "database is locked" errors; ``synchronous=FULL`` so an acknowledged write survives a crash.
    """
    url = normalise_url(url)
    # Statement parameters never appear in exception messages or SQL logs: even when they are
    # ciphertext, a log is the wrong place for them (design.md invariant 1).
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        kwargs.pop("pool_size", None)  # SQLite: one file, SQLAlchemy's default pool is right
        kwargs.pop("max_overflow", None)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # The sqlite3 driver would otherwise open transactions lazily and never for
            # DDL; let SQLAlchemy issue BEGIN itself so every unit of work is atomic.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            for pragma in (
                "journal_mode=WAL",
                "foreign_keys=ON",
                "secure_delete=ON",
                "synchronous=FULL",
                "busy_timeout=30000",
            ):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Every privguard transaction writes (a read writes its access-log entry), so take
            # the write lock up front: a deferred BEGIN that upgrades later can fail with
            # SQLITE_BUSY without waiting for the busy timeout. Read-only snapshots (see
            # READ_SNAPSHOT) take none: a long audit scan must not stop every writer.
            if conn.get_execution_options().get(READ_SNAPSHOT):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


PING_IDLE_SECONDS = 10.0
"""A pooled PostgreSQL connection unused for longer than this is checked before it is handed
out (a database restart or failover while the pool sat idle is then invisible to requests)."""


def _ping_when_idle(engine: Engine) -> None:
    """``pool_pre_ping`` for idle connections only.

    SQLAlchemy's ``pool_pre_ping`` costs a round trip at every checkout, two per API request
    (authentication, then the request's transaction): measured in benchmarks/load.py, a large
    share of a gated read. A connection that was in use a moment ago is alive but for a database
    that went down in that moment, and then the request fails with 503 (``Retry-After``, nothing
    committed), SQLAlchemy sees the disconnect and drops every pooled connection of that time, and
    the next request connects afresh: the service recovers without a restart either way
    (tests/integration/test_faults.py restarts PostgreSQL under load).
    """

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_conn: Any, record: Any) -> None:
        record.info["privguard_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["privguard_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("privguard_idle_since")
        if since is not None and time.monotonic() - since < PING_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as err:  # the pool retries the checkout with a new connection
            raise DisconnectionError() from err
        if not alive:
            raise DisconnectionError()
