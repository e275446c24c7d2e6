"""The API's units of work on PostgreSQL begin their transaction at the first write
(store/lazy_begin.py). What users rely on: a gated read still commits its log entry before the
answer, with two round trips instead of four (the entry shared with concurrent requests' by the
group committer, store/group_commit.py), and anything that writes twice, locks or fails half-way is
one transaction exactly as before. libpq's own protocol trace is the witness of what went over
the wire."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg.pq import TransactionStatus
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    Table,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from privguard.api.app import create_app
from privguard.audit.service import log_access
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.policy.rules import ActorRef
from privguard.store.deferred import defer_insert
from privguard.store.group_commit import GroupCommitter
from privguard.store.lazy_begin import lazy_begin_engine
from privguard.store.uow import unit_of_work

from .world import build_world

PROBE = Table("lazy_begin_probe", MetaData(), Column("n", Integer, primary_key=True))


@pytest.fixture
def postgres(runtime: Runtime) -> Iterator[Runtime]:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite units of work are unchanged (one BEGIN IMMEDIATE each)")
    PROBE.create(runtime.engine)
    yield runtime
    PROBE.drop(runtime.engine)


@contextmanager
def wire(runtime: Runtime) -> Iterator[list[tuple[str, str]]]:
    """(message, text) of every protocol message on the pool's connections, both ways."""
    messages: list[tuple[str, str]] = []
    with tempfile.TemporaryFile(mode="w+") as trace:

        def out(dbapi: Any, *_: Any) -> None:
            dbapi.pgconn.trace(trace.fileno())

        def back(dbapi: Any, *_: Any) -> None:
            dbapi.pgconn.untrace()

        event.listen(runtime.engine, "checkout", out)
        event.listen(runtime.engine, "checkin", back)
        try:
            yield messages
        finally:
            event.remove(runtime.engine, "checkout", out)
            event.remove(runtime.engine, "checkin", back)
            trace.seek(0)
            for line in trace:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 4 and parts[1] in ("F", "B"):  # else a statement's next line
                    messages.append((f"{parts[1]} {parts[3]}", "\t".join(parts[4:]).strip()))


def control(messages: list[tuple[str, str]]) -> list[str]:
    """The transaction-control statements sent (others go as Query or Parse/Bind)."""
    sent = [body.strip('"') for kind, body in messages if kind == "F Query"]
    return [q for q in sent if q in ("BEGIN", "COMMIT", "ROLLBACK")]


def ready(messages: list[tuple[str, str]]) -> list[str]:
    """The transaction status after each round trip: I idle, T in a transaction."""
    return [body for kind, body in messages if kind == "B ReadyForQuery"]


def committed(runtime: Runtime, query: Any) -> list[Any]:
    """What another connection sees: only committed rows."""
    engine = create_engine(runtime.engine.url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(query).scalars())
    finally:
        engine.dispose()


def probe_rows(runtime: Runtime) -> list[int]:
    return committed(runtime, select(PROBE.c.n).order_by(PROBE.c.n))


def test_a_masked_read_is_two_round_trips_and_its_entry_is_committed(
    postgres: Runtime, admin: ActorRef
) -> None:
    """The record, then the entry, each a statement on its own; a read alone leads its own
    group commit (store/group_commit.py), which has committed it by the time the answer
    arrives."""
    w = build_world(postgres, admin)
    sid = w.subjects["none"]
    params = {"purpose": "customer_support", "fields": ["mobile_phone"], "view": "masked"}
    cs = w.headers("customer_service")
    with TestClient(create_app(postgres)) as client:
        listener = client.app.fastapi.state.auth_listener  # type: ignore[attr-defined]
        assert listener.connected.wait(10)
        assert client.get(f"/v1/subjects/{sid}", params=params, headers=cs).status_code == 200
        before, rows = count_entries(postgres), postgres.log_committer.rows
        with wire(postgres) as messages:
            answer = client.get(f"/v1/subjects/{sid}", params=params, headers=cs)
        assert answer.status_code == 200
        assert answer.json()["fields"]["mobile_phone"]["view"] == "masked"
        assert count_entries(postgres) == before + 1  # committed when the answer came
        assert postgres.log_committer.rows == rows + 1
    assert control(messages) == []
    assert ready(messages) == ["I", "I"], messages  # the record, then the entry: no transaction


def count_entries(runtime: Runtime) -> int:
    return int(committed(runtime, text("SELECT count(*) FROM access_log"))[0])


def test_reads_open_no_transaction_and_the_first_write_opens_one(postgres: Runtime) -> None:
    with wire(postgres) as messages, unit_of_work(postgres.request_sessions) as session:
        session.execute(select(PROBE.c.n)).all()
        session.execute(PROBE.insert().values(n=1))
        session.execute(select(PROBE.c.n)).all()
        session.execute(PROBE.insert().values(n=2))
    assert control(messages) == ["BEGIN", "COMMIT"]
    # select (idle), BEGIN, insert, select, insert (in it), COMMIT (idle again)
    assert ready(messages) == ["I", "T", "T", "T", "T", "I"]
    assert probe_rows(postgres) == [1, 2]


def test_a_failure_after_a_write_leaves_nothing(postgres: Runtime) -> None:
    with pytest.raises(RuntimeError), unit_of_work(postgres.request_sessions) as session:
        session.execute(PROBE.insert().values(n=1))
        defer_insert(session, PROBE, {"n": 2})
        raise RuntimeError("half-way")
    assert probe_rows(postgres) == []


def test_two_queued_rows_are_one_transaction(postgres: Runtime) -> None:
    with wire(postgres) as messages, unit_of_work(postgres.request_sessions) as session:
        defer_insert(session, PROBE, {"n": 1})
        defer_insert(session, PROBE, {"n": 2})
    assert control(messages)[0] == "BEGIN" and control(messages)[-1] == "COMMIT"
    assert probe_rows(postgres) == [1, 2]
    # The second row collides: neither is written.
    with pytest.raises(IntegrityError), unit_of_work(postgres.request_sessions) as session:
        defer_insert(session, PROBE, {"n": 3})
        defer_insert(session, PROBE, {"n": 1})
    assert probe_rows(postgres) == [1, 2]


def test_a_lone_log_entry_goes_to_the_group_committer(
    postgres: Runtime, admin: ActorRef
) -> None:
    before = postgres.log_committer.rows
    with wire(postgres) as messages, unit_of_work(postgres.request_sessions) as session:
        session.execute(select(PROBE.c.n)).all()
        log_access(session, actor=admin, subject_id=None, action="probe", purpose="test",
                   decisions=[], now=utcnow())
    assert postgres.log_committer.rows == before + 1
    assert control(messages) == []
    assert ready(messages) == ["I", "I"]  # the SELECT, the entry alone: no transaction
    assert count_entries(postgres) >= 1


def test_a_lone_entry_after_a_core_write_commits_with_it(
    postgres: Runtime, admin: ActorRef
) -> None:
    """Not written on its own: it would outlive this rollback."""
    entries = count_entries(postgres)
    with pytest.raises(RuntimeError), unit_of_work(postgres.request_sessions) as session:
        session.execute(PROBE.insert().values(n=1))
        log_access(session, actor=admin, subject_id=None, action="probe", purpose="test",
                   decisions=[], now=utcnow())
        session.flush()
        raise RuntimeError("half-way")
    assert probe_rows(postgres) == [] and count_entries(postgres) == entries
    before = postgres.log_committer.rows
    with wire(postgres) as messages, unit_of_work(postgres.request_sessions) as session:
        session.execute(PROBE.insert().values(n=1))
        log_access(session, actor=admin, subject_id=None, action="probe", purpose="test",
                   decisions=[], now=utcnow())
    assert control(messages) == ["BEGIN", "COMMIT"]
    assert probe_rows(postgres) == [1] and count_entries(postgres) == entries + 1
    assert postgres.log_committer.rows == before


def test_a_row_lock_is_held_until_commit(postgres: Runtime) -> None:
    with unit_of_work(postgres.sessions) as session:
        session.execute(PROBE.insert().values(n=1))
    other = create_engine(postgres.engine.url)
    locked = select(PROBE.c.n).where(PROBE.c.n == 1).with_for_update(nowait=True)
    try:
        with unit_of_work(postgres.request_sessions) as session:
            session.execute(select(PROBE.c.n).with_for_update()).all()
            with other.connect() as conn, pytest.raises(OperationalError, match="lock"):
                conn.execute(locked)
        with other.connect() as conn:
            assert conn.execute(locked).scalars().all() == [1]  # released at commit
    finally:
        other.dispose()


def test_a_streamed_result_runs_in_a_transaction(postgres: Runtime) -> None:
    """A server-side cursor (``yield_per``, the export's streaming) exists only in one."""
    with unit_of_work(postgres.sessions) as session:
        session.execute(PROBE.insert(), [{"n": n} for n in range(25)])
    with wire(postgres) as messages, unit_of_work(postgres.request_sessions) as session:
        streamed = session.execute(select(PROBE.c.n).execution_options(yield_per=10))
        assert sum(1 for _ in streamed) == 25
    assert control(messages) == ["BEGIN", "COMMIT"]


def test_only_under_read_committed(postgres: Runtime) -> None:
    options = "-c default_transaction_isolation=repeatable\\ read"
    engine = create_engine(postgres.engine.url, connect_args={"options": options})
    try:
        assert lazy_begin_engine(engine) is None
    finally:
        engine.dispose()
    assert lazy_begin_engine(postgres.engine) is not None


# ------------------------------------------------------------------ group commit
# store/group_commit.py: every row a request hands over is committed before its request goes
# on; a lone request writes its own row at once; rows that arrive while a write is in flight go
# together in one statement; one bad row fails alone; a lost connection fails only the batch
# it carried.
@pytest.fixture
def lazy(postgres: Runtime) -> Engine:
    engine = lazy_begin_engine(postgres.engine)
    assert engine is not None
    return engine


@pytest.fixture
def committer() -> GroupCommitter:
    sizes: list[int] = []
    c = GroupCommitter(PROBE, on_batch=sizes.append)
    c.sizes = sizes  # type: ignore[attr-defined]
    return c


def write(engine: Engine, committer: GroupCommitter, n: int) -> None:
    """As a request's commit hook does: on the request's own connection."""
    with engine.connect() as conn:
        committer.write(conn, {"n": n})


def hold_first_insert(engine: Engine, seconds: float) -> tuple[threading.Event, list[str]]:
    """Make the first INSERT wait, so that rows queue behind it. Returns an event set when it
    has started, and the statements sent from it on (first words, and "in transaction" when
    the connection was in one after it). Both listen from here on: adding a listener while
    another thread runs a statement would disturb that statement."""
    started = threading.Event()
    sent: list[str] = []

    def slow(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not started.is_set() and statement.startswith("INSERT"):
            started.set()
            time.sleep(seconds)

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if started.is_set():
            status = cursor.connection.info.transaction_status
            sent.append(" ".join(statement.split()[:3])
                        + (" in transaction" if status == TransactionStatus.INTRANS else ""))

    event.listen(engine, "before_cursor_execute", slow)
    event.listen(engine, "after_cursor_execute", record)
    return started, sent


def write_from_threads(engine: Engine, committer: GroupCommitter, rows: list[int]
                       ) -> dict[int, Any]:
    """Each row handed over from its own thread, as requests do; what each write raised."""
    outcome: dict[int, Any] = {}

    def one(n: int) -> None:
        try:
            write(engine, committer, n)
            outcome[n] = None
        except Exception as exc:  # recorded for the test to check
            outcome[n] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in rows]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcome


def behind_a_slow_write(engine: Engine, committer: GroupCommitter, rows: list[int]
                        ) -> tuple[dict[int, Any], list[str]]:
    """Row 0 written first and slowly; ``rows`` handed over from threads meanwhile."""
    started, sent = hold_first_insert(engine, 0.5)
    first = threading.Thread(target=write, args=(engine, committer, 0))
    first.start()
    assert started.wait(10)
    outcome = write_from_threads(engine, committer, rows)
    first.join(10)
    return outcome, sent


def test_a_lone_write_is_its_own_statement_committed_at_once(
    postgres: Runtime, lazy: Engine, committer: GroupCommitter
) -> None:
    write(lazy, committer, 1)
    assert probe_rows(postgres) == [1]
    write(lazy, committer, 2)
    assert probe_rows(postgres) == [1, 2]
    assert committer.sizes == [1, 1]  # type: ignore[attr-defined]


def test_rows_arriving_during_a_write_go_together_in_one_statement(
    postgres: Runtime, lazy: Engine, committer: GroupCommitter
) -> None:
    outcome, sent = behind_a_slow_write(lazy, committer, list(range(1, 11)))
    assert outcome == {n: None for n in range(1, 11)}
    assert probe_rows(postgres) == list(range(11))
    assert committer.sizes == [1, 10]  # type: ignore[attr-defined]
    # the held row, then ten rows in one statement with no transaction around it
    assert sent == ["INSERT INTO lazy_begin_probe"] * 2


def test_one_bad_row_fails_alone(
    postgres: Runtime, lazy: Engine, committer: GroupCommitter
) -> None:
    write(lazy, committer, 5)
    outcome, _ = behind_a_slow_write(lazy, committer, [4, 5, 6])
    assert isinstance(outcome[5], IntegrityError)  # the duplicate
    assert outcome[4] is None and outcome[6] is None
    assert probe_rows(postgres) == [0, 4, 5, 6]


def test_a_lost_connection_fails_its_write_and_the_next_one_succeeds(
    postgres: Runtime, lazy: Engine, committer: GroupCommitter
) -> None:
    with lazy.connect() as conn:
        committer.write(conn, {"n": 1})
        with lazy.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"),
                          {"pid": conn.connection.dbapi_connection.info.backend_pid})
        with pytest.raises(DBAPIError):
            committer.write(conn, {"n": 2})
    write(lazy, committer, 3)
    assert probe_rows(postgres) == [1, 3]
