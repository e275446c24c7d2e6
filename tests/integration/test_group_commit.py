"""The group committer (store/group_commit.py) on PostgreSQL. What users rely on: every row a
request hands over is committed before its request goes on; a lone request writes its own row
at once; rows that arrive while a write is in flight go together in one statement; one bad row
fails alone; a lost connection fails only the batch it carried."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from privguard.bootstrap import Runtime
from privguard.store.group_commit import GroupCommitter
from privguard.store.lazy_begin import lazy_begin_engine

PROBE = Table("group_commit_probe", MetaData(), Column("n", Integer, primary_key=True))


@pytest.fixture
def lazy(runtime: Runtime) -> Iterator[Engine]:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("only the API's PostgreSQL sessions have a group committer")
    PROBE.create(runtime.engine)
    engine = lazy_begin_engine(runtime.engine)
    assert engine is not None
    yield engine
    PROBE.drop(runtime.engine)


@pytest.fixture
def committer() -> GroupCommitter:
    sizes: list[int] = []
    c = GroupCommitter(PROBE, on_batch=sizes.append)
    c.sizes = sizes  # type: ignore[attr-defined]
    return c


def committed(engine: Engine) -> list[int]:
    """What another connection sees."""
    other = create_engine(engine.url)
    try:
        with other.connect() as conn:
            return list(conn.execute(select(PROBE.c.n).order_by(PROBE.c.n)).scalars())
    finally:
        other.dispose()


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
    lazy: Engine, committer: GroupCommitter
) -> None:
    write(lazy, committer, 1)
    assert committed(lazy) == [1]
    write(lazy, committer, 2)
    assert committed(lazy) == [1, 2]
    assert committer.sizes == [1, 1]  # type: ignore[attr-defined]


def test_rows_arriving_during_a_write_go_together_in_one_statement(
    lazy: Engine, committer: GroupCommitter
) -> None:
    outcome, sent = behind_a_slow_write(lazy, committer, list(range(1, 11)))
    assert outcome == {n: None for n in range(1, 11)}
    assert committed(lazy) == list(range(11))
    assert committer.sizes == [1, 10]  # type: ignore[attr-defined]
    # the held row, then ten rows in one statement with no transaction around it
    assert sent == ["INSERT INTO group_commit_probe"] * 2


def test_one_bad_row_fails_alone(lazy: Engine, committer: GroupCommitter) -> None:
    write(lazy, committer, 5)
    outcome, _ = behind_a_slow_write(lazy, committer, [4, 5, 6])
    assert isinstance(outcome[5], IntegrityError)  # the duplicate
    assert outcome[4] is None and outcome[6] is None
    assert committed(lazy) == [0, 4, 5, 6]


def test_a_lost_connection_fails_its_write_and_the_next_one_succeeds(
    lazy: Engine, committer: GroupCommitter
) -> None:
    with lazy.connect() as conn:
        committer.write(conn, {"n": 1})
        with lazy.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"),
                          {"pid": conn.connection.dbapi_connection.info.backend_pid})
        with pytest.raises(DBAPIError):
            committer.write(conn, {"n": 2})
    write(lazy, committer, 3)
    assert committed(lazy) == [1, 3]
