"""How a process's :class:`~privguard.actors.auth_cache.AuthCache` learns that keys or actors
changed: PostgreSQL notifications for changes made anywhere, and the commit of a session of this
process for changes made here (so this process never needs the notification's round trip)."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from privguard.actors.auth_cache import AuthCache, invalidate_all_in_process

CHANNEL = "privguard_auth"  # migration 0018's triggers notify on it
WATCHED_TABLES = frozenset({"api_keys", "actors"})
_FLAG = "privguard_auth_changed"
APPLICATION_NAME = "privguard-auth-listener"  # how pg_stat_activity shows its connection
PROBE = "probe:"  # payloads of the listeners' own heartbeats; the triggers send table names

log = logging.getLogger(__name__)


class ListenerLost(Exception):
    """The channel did not echo a probe: notifications may not be arriving."""


class AuthChangeListener:
    """A thread holding one PostgreSQL connection (outside the pool) that ``LISTEN``s on
    :data:`CHANNEL`: every notification empties the cache.

    The cache is live only while this thread *knows* notifications arrive: after ``LISTEN`` it
    sends itself a probe through the channel and goes live only when the probe comes back, and it
    repeats the probe every ``heartbeat`` seconds. A probe that does not come back (a dropped
    connection, a pooler in transaction mode that does not carry notifications) turns the cache
    dark and the thread reconnects every ``retry`` seconds. TCP keepalives notice a peer that
    vanished without closing."""

    def __init__(
        self,
        engine: Engine,
        cache: AuthCache,
        *,
        retry: float = 1.0,
        heartbeat: float = 5.0,
        probe_timeout: float = 2.0,
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("notifications need PostgreSQL")
        self._engine = engine
        self.cache = cache
        self.retry = retry
        self.heartbeat = heartbeat
        self.probe_timeout = probe_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()  # live and listening; tests wait on it

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="privguard-auth-listener",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _connect(self) -> Any:
        import psycopg

        cargs, cparams = self._engine.dialect.create_connect_args(self._engine.url)
        params = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                  "keepalives_count": 2, "connect_timeout": 5, **cparams,
                  "application_name": APPLICATION_NAME}
        return psycopg.connect(*cargs, autocommit=True, **params)

    def _drain(self, conn: Any, timeout: float, awaiting: str | None = None) -> bool:
        """Handle notifications for up to ``timeout`` seconds; True once ``awaiting`` arrived.
        Probes (ours or other processes') change nothing; anything else empties the cache."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and not self._stop.is_set():
            # Short waits: stop() returns within one of them (servers in tests start and
            # stop often).
            for note in conn.notifies(timeout=min(left, 0.1)):
                if note.payload.startswith(PROBE):
                    if note.payload == awaiting:
                        return True
                    continue
                self.cache.invalidate()
        return False

    def _probe(self, conn: Any) -> None:
        payload = PROBE + secrets.token_hex(8)
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        if not self._drain(conn, self.probe_timeout, payload) and not self._stop.is_set():
            raise ListenerLost(f"no echo of a probe within {self.probe_timeout:g} s")

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._probe(conn)
                    self.cache.go_live()
                    self.connected.set()
                    while not self._stop.is_set():
                        self._drain(conn, self.heartbeat)
                        if not self._stop.is_set():
                            self._probe(conn)
            except (psycopg.Error, ListenerLost) as exc:
                log.warning("auth cache off: %s", type(exc).__name__)
            finally:
                self.cache.go_dark()
                self.connected.clear()
            self._stop.wait(self.retry)


def _mark_flush(session: Session, _ctx: UOWTransaction, _instances: object) -> None:
    for obj in (*session.dirty, *session.deleted):
        table = getattr(type(obj), "__tablename__", None)
        if table in WATCHED_TABLES:
            session.info[_FLAG] = True
            return


def _mark_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in WATCHED_TABLES:
        state.session.info[_FLAG] = True


def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        invalidate_all_in_process()


def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)


_installed = False


def install_local_invalidation() -> None:
    """Empty this process's caches when one of its sessions commits a change to a key or an
    actor (an ORM change or an UPDATE/DELETE statement). Idempotent."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _mark_flush)
    event.listen(Session, "do_orm_execute", _mark_statement)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
    _installed = True
