"""The group committer (store/group_commit.py) on PostgreSQL. What users rely on: every row a
request hands over is committed before its request goes on, rows that arrive while a batch is
being written go together in one statement, one bad row fails alone, a lost connection fails
only the batch it carried, and a stop writes what is queued."""

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

META = MetaData()
PROBE = Table("group_commit_probe", META, Column("n", Integer, primary_key=True))
OTHER = Table("group_commit_other", META, Column("n", Integer, primary_key=True))


@pytest.fixture
def lazy(runtime: Runtime) -> Iterator[Engine]:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("only the API's PostgreSQL sessions have a group committer")
    META.create_all(runtime.engine)
    engine = lazy_begin_engine(runtime.engine)
    assert engine is not None
    yield engine
    META.drop_all(runtime.engine)


@pytest.fixture
def committer(lazy: Engine) -> Iterator[GroupCommitter]:
    sizes: list[int] = []
    c = GroupCommitter(lazy, on_batch=sizes.append)
    c.sizes = sizes  # type: ignore[attr-defined]
    yield c
    c.stop()


def committed(engine: Engine, table: Table) -> list[int]:
    """What another connection sees."""
    other = create_engine(engine.url)
    try:
        with other.connect() as conn:
            return list(conn.execute(select(table.c.n).order_by(table.c.n)).scalars())
    finally:
        other.dispose()


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


def write_from_threads(committer: GroupCommitter, rows: list[tuple[Table, int]]) -> dict[int, Any]:
    """Each row handed over from its own thread, as requests do; what each write raised."""
    outcome: dict[int, Any] = {}

    def one(table: Table, n: int) -> None:
        try:
            committer.write(table, {"n": n})
            outcome[n] = None
        except Exception as exc:  # recorded for the test to check
            outcome[n] = exc

    threads = [threading.Thread(target=one, args=row) for row in rows]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcome


def test_a_write_returns_once_its_row_is_committed(
    lazy: Engine, committer: GroupCommitter
) -> None:
    committer.write(PROBE, {"n": 1})
    assert committed(lazy, PROBE) == [1]
    committer.write(PROBE, {"n": 2})
    assert committed(lazy, PROBE) == [1, 2]
    assert committer.sizes == [1, 1]  # type: ignore[attr-defined]


def test_rows_arriving_during_a_batch_go_together_in_one_statement(
    lazy: Engine, committer: GroupCommitter
) -> None:
    started, sent = hold_first_insert(lazy, 0.5)
    first = threading.Thread(target=committer.write, args=(PROBE, {"n": 0}))
    first.start()
    assert started.wait(10)
    outcome = write_from_threads(committer, [(PROBE, n) for n in range(1, 11)])
    first.join(10)
    assert outcome == {n: None for n in range(1, 11)}
    assert committed(lazy, PROBE) == list(range(11))
    assert committer.sizes == [1, 10]  # type: ignore[attr-defined]
    # the held row, then ten rows in one statement with no transaction around it
    assert sent == ["INSERT INTO group_commit_probe"] * 2


def test_one_bad_row_fails_alone(lazy: Engine, committer: GroupCommitter) -> None:
    committer.write(PROBE, {"n": 5})
    started, _ = hold_first_insert(lazy, 0.5)
    first = threading.Thread(target=committer.write, args=(PROBE, {"n": 0}))
    first.start()
    assert started.wait(10)
    outcome = write_from_threads(committer, [(PROBE, n) for n in (4, 5, 6)])
    first.join(10)
    assert isinstance(outcome[5], IntegrityError)  # the duplicate
    assert outcome[4] is None and outcome[6] is None
    assert committed(lazy, PROBE) == [0, 4, 5, 6]


def test_rows_of_two_tables_commit_together(lazy: Engine, committer: GroupCommitter) -> None:
    started, sent = hold_first_insert(lazy, 0.5)
    first = threading.Thread(target=committer.write, args=(PROBE, {"n": 0}))
    first.start()
    assert started.wait(10)
    outcome = write_from_threads(committer, [(PROBE, 1), (OTHER, 1), (OTHER, 2)])
    first.join(10)
    assert set(outcome.values()) == {None}
    assert committed(lazy, PROBE) == [0, 1] and committed(lazy, OTHER) == [1, 2]
    assert sorted(sent[1:]) == ["INSERT INTO group_commit_other in transaction",
                                "INSERT INTO group_commit_probe in transaction"]


def test_a_lost_connection_fails_its_batch_and_the_next_write_reconnects(
    lazy: Engine, committer: GroupCommitter
) -> None:
    committer.write(PROBE, {"n": 1})
    with lazy.connect() as conn:
        conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND query LIKE 'INSERT INTO group_commit_probe%'"
        ))
    with pytest.raises(DBAPIError):
        committer.write(PROBE, {"n": 2})
    committer.write(PROBE, {"n": 3})
    assert committed(lazy, PROBE) == [1, 3]


def test_stop_writes_what_is_queued_and_a_later_write_starts_again(
    lazy: Engine, committer: GroupCommitter
) -> None:
    started, _ = hold_first_insert(lazy, 0.5)
    first = threading.Thread(target=committer.write, args=(PROBE, {"n": 0}))
    first.start()
    assert started.wait(10)
    writers = threading.Thread(
        target=write_from_threads, args=(committer, [(PROBE, n) for n in (1, 2, 3)])
    )
    writers.start()
    time.sleep(0.1)  # queued behind the first batch
    committer.stop()
    writers.join(10)
    first.join(10)
    assert committed(lazy, PROBE) == [0, 1, 2, 3]
    committer.write(PROBE, {"n": 4})
    assert committed(lazy, PROBE) == [0, 1, 2, 3, 4]
