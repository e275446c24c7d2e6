"""Recompute the whole access log from its rows and check it against its signed tree heads.

``privguard audit verify`` is what an auditor runs against a database they do not trust: it
reads every sequenced entry in leaf order, recomputes every leaf hash and, at each signed head,
the root, and names the first thing that does not hold, precisely enough to go and look:

* positions run 0, 1, 2, … with no gap (a deleted entry) and no repeat;
* each entry hashes to its stored leaf hash at its own position (an edited entry, or one moved
  to another position, unless the stored hash was forged too);
* the indexed copies (``subject_id``, ``organisation_id``, ``actor_id``, ``at``) agree with the
  entry, because consumers' and merchants' views of the log select by those columns: editing
  ``subject_id`` alone would hide an access from the person it was about;
* every head's Ed25519 signature verifies under the given public key, its root equals the root
  recomputed at its size (this catches an entry edited together with its stored leaf hash, and
  names the range between two heads where it lies), and its stored frontier agrees (the next
  batch is built on it);
* no sequenced entry lies beyond the last signed head (an inserted row), and no head claims more
  entries than there are (truncation, unless the newest heads went too: see docs/access-log.md).

It is built for size: one streamed query of raw column values in leaf order (no ORM objects, no
per-row type conversion: indexed columns are compared in the database's own spelling, converted
only when they differ), one JSON parse and one SHA-256 per entry, and the tree kept as a
:class:`~privguard.audit.merkle.Frontier`, so memory stays flat however long the log is.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from privguard.audit.entry import parse_time
from privguard.audit.merkle import EMPTY_ROOT, Frontier
from privguard.audit.models import AccessLogEntry, TreeHead
from privguard.crypto.signing import key_id_of, verify_tree_head
from privguard.store.engine import READ_SNAPSHOT

ACCESS_LOG = AccessLogEntry.__table__
HEADS = TreeHead.__table__
CHUNK = 20_000

_ROWS_SQLITE = (
    "SELECT entry_id, seq, entry, leaf_hash, subject_id, organisation_id, actor_id, at "
    "FROM access_log WHERE seq IS NOT NULL ORDER BY seq"
)
# PostgreSQL spells the indexed columns exactly as the entry does, so a comparison is a string
# equality; psycopg would otherwise build a UUID and a datetime per column per row.
_ROWS_POSTGRESQL = (
    "SELECT entry_id, seq, entry, leaf_hash, subject_id::text, organisation_id::text, "
    "actor_id::text, "
    """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') """
    "FROM access_log WHERE seq IS NOT NULL ORDER BY seq"
)


@dataclass(frozen=True)
class Problem:
    """The first thing found wrong. ``seq``/``entry_id`` locate it; ranges end at ``last_seq``."""

    kind: str
    message: str
    seq: int | None = None
    entry_id: int | None = None
    last_seq: int | None = None
    head_size: int | None = None


@dataclass(frozen=True)
class VerifyReport:
    problem: Problem | None
    tree_size: int
    """Size of the latest signed head (entries the heads vouch for)."""
    entries_checked: int
    heads_checked: int
    pending: int
    """Entries written but not yet sequenced: not covered by any head yet."""
    elapsed_seconds: float
    root_hash: bytes

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def entries_per_second(self) -> float:
        return self.entries_checked / self.elapsed_seconds if self.elapsed_seconds else 0.0


@dataclass(frozen=True)
class _Head:
    tree_size: int
    root_hash: bytes
    frontier: bytes
    signed_at: datetime
    key_id: str
    signature: bytes


class _Found(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one consistent state of the log without blocking writers.

    PostgreSQL: REPEATABLE READ, READ ONLY (a sequencer committing mid-scan would otherwise show
    rows newer than the heads already read). SQLite: a deferred BEGIN, i.e. one WAL snapshot.
    """
    options: dict[str, Any] = {READ_SNAPSHOT: True}
    if engine.dialect.name == "postgresql":
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with engine.connect() as conn:
        conn.execution_options(**options)
        with conn.begin():
            yield conn


def _connection(db: Session | Connection) -> Connection:
    return db.connection() if isinstance(db, Session) else db


def _stream(conn: Connection, sql: str, chunk: int) -> tuple[Any, Iterator[list[Any]]]:
    """(cursor, chunks of plain tuples) straight from the driver, in this transaction.

    The DBAPI cursor, not a SQLAlchemy result: at a million rows, Row objects and result
    processing cost about a second, a seventh of the whole check. PostgreSQL gets a named
    (server-side) cursor so the rows are not all held in memory at once.
    """
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    if conn.dialect.name == "postgresql":
        cursor = dbapi.cursor(name=f"privguard_verify_{uuid.uuid4().hex[:12]}")
        cursor.itersize = chunk
    else:
        cursor = dbapi.cursor()
    cursor.execute(sql)

    def chunks() -> Iterator[list[Any]]:
        while rows := cursor.fetchmany(chunk):
            yield rows

    return cursor, chunks()


def _same_uuid(raw: Any, text: str | None) -> bool:
    """Slow path when the database's spelling differs from the entry's: compare the values."""
    if raw is None or text is None:
        return raw is None and text is None
    try:
        value = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        return value == uuid.UUID(text)
    except (AttributeError, TypeError, ValueError):
        return False


def _same_time(raw: Any, text: str) -> bool:
    try:
        value = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
        expected = parse_time(text)
    except (AttributeError, TypeError, ValueError):
        return False
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value == expected


def _sqlite_uuid(text: str | None) -> str | None:
    return None if text is None else text.replace("-", "")


def _sqlite_time(text: str) -> str:
    return f"{text[:10]} {text[11:26]}"


def _load_heads(conn: Connection) -> list[_Head]:
    rows = conn.execute(
        select(
            HEADS.c.tree_size,
            HEADS.c.root_hash,
            HEADS.c.frontier,
            HEADS.c.signed_at,
            HEADS.c.key_id,
            HEADS.c.signature,
        ).order_by(HEADS.c.tree_size)
    ).all()
    return [_Head(*(bytes(v) if isinstance(v, memoryview) else v for v in r)) for r in rows]


def verify_log(
    db: Session | Connection,
    public_key_bytes: bytes,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK,
) -> VerifyReport:
    """Check the whole log; the report names the first problem, or none.

    Pass a connection from :func:`read_snapshot` when writers and sequencers are running; a
    session in a unit of work is fine when nothing else writes. ``on_progress(done, total)`` is
    called after each chunk of entries. Nothing is written.
    """
    started = time.perf_counter()
    conn = _connection(db)
    heads = _load_heads(conn)
    pending = conn.execute(
        select(func.count()).select_from(ACCESS_LOG).where(ACCESS_LOG.c.seq.is_(None))
    ).scalar_one()
    total = heads[-1].tree_size if heads else 0
    checker = _Checker(conn, heads, public_key_bytes)
    problem: Problem | None = None
    try:
        checker.run(chunk, on_progress, total)
    except _Found as found:
        problem = found.problem
    return VerifyReport(
        problem=problem,
        tree_size=total,
        entries_checked=checker.checked,
        heads_checked=checker.heads_checked,
        pending=pending,
        elapsed_seconds=time.perf_counter() - started,
        root_hash=heads[-1].root_hash if heads else EMPTY_ROOT,
    )


class _Checker:
    """One pass over the rows in leaf order; raises :class:`_Found` at the first problem."""

    def __init__(self, conn: Connection, heads: list[_Head], public_key: bytes) -> None:
        self.conn = conn
        self.heads = heads
        self.public_key = public_key
        self.key_id = key_id_of(public_key)
        self.frontier = Frontier()
        self.checked = 0
        self.heads_checked = 0
        self.head_index = 0
        self.previous_head_size = 0
        # entry ids since the last head: a forged range is named by the entries it holds
        self.since_head: list[int] = []

    # ------------------------------------------------------------------ rows
    def run(self, chunk: int, on_progress: Callable[[int, int], None] | None, total: int) -> None:
        heads = self.heads
        while self.head_index < len(heads) and heads[self.head_index].tree_size == 0:
            self._check_head(heads[self.head_index])  # an (unusual) head of the empty tree
        dialect = self.conn.dialect.name
        if dialect == "postgresql":
            sql = _ROWS_POSTGRESQL
            to_uuid: Callable[[str | None], str | None] | None = None
            to_time: Callable[[str], str] | None = None
        else:
            sql = _ROWS_SQLITE
            to_uuid, to_time = (_sqlite_uuid, _sqlite_time) if dialect == "sqlite" else (None, None)
        cursor, chunks = _stream(self.conn, sql, chunk)
        loads = json.loads
        frontier = self.frontier
        append = frontier.append
        since = self.since_head
        next_head = heads[self.head_index].tree_size if self.head_index < len(heads) else -1
        expected = 0
        previous_entry_id: int | None = None
        try:
            for rows in chunks:
                for entry_id, seq, entry, stored, subject, org, actor, at in rows:
                    if seq != expected:
                        self._position_problem(seq, expected, entry_id, previous_entry_id)
                    if next_head == -1:
                        self._beyond_last_head(seq, entry_id)
                    digest = sha256(b"\x00%d\n" % seq + entry.encode()).digest()
                    if digest != stored:
                        self._leaf_problem(seq, entry_id, entry, stored, previous_entry_id)
                    try:
                        data = loads(entry)
                        j_subject, j_org, j_actor, j_at = (
                            data["subject"], data["org"], data["actor"], data["at"],
                        )
                    except (ValueError, KeyError, TypeError):
                        raise _Found(Problem(
                            "unreadable",
                            f"entry at position {seq} (entry_id {entry_id}) is not a readable "
                            "access-log entry",
                            seq, entry_id,
                        )) from None
                    if to_uuid is None:
                        same = (j_subject == subject and j_org == org and j_actor == actor
                                and j_at == at)
                    else:
                        assert to_time is not None
                        try:
                            same = (to_uuid(j_subject) == subject and to_uuid(j_org) == org
                                    and to_uuid(j_actor) == actor and to_time(j_at) == at)
                        except (AttributeError, TypeError):  # not strings: compare slowly
                            same = False
                    if not same:
                        self._columns_problem(
                            seq, entry_id, (j_subject, j_org, j_actor, j_at),
                            (subject, org, actor, at),
                        )
                    append(digest)
                    since.append(entry_id)
                    previous_entry_id = entry_id
                    expected += 1
                    if expected == next_head:
                        self._check_head(heads[self.head_index])
                        since.clear()
                        next_head = (
                            heads[self.head_index].tree_size
                            if self.head_index < len(heads) else -1
                        )
                self.checked = expected
                if on_progress is not None:
                    on_progress(expected, total)
        finally:
            self.checked = expected  # entries that passed, also when stopped at a problem
            cursor.close()
        if self.head_index < len(heads):
            head = heads[self.head_index]
            raise _Found(Problem(
                "missing",
                f"the signed head of size {head.tree_size} vouches for {head.tree_size} entries "
                f"but the log ends after {expected}: the entries at positions {expected}.."
                f"{head.tree_size - 1} are missing (truncated)",
                expected, None, head.tree_size - 1, head.tree_size,
            ))

    def _position_problem(
        self, seq: int, expected: int, entry_id: int, previous_entry_id: int | None
    ) -> None:
        if seq < 0:
            raise _Found(Problem(
                "invalid_position",
                f"entry_id {entry_id} has the invalid position {seq}",
                seq, entry_id,
            ))
        if seq < expected:
            raise _Found(Problem(
                "duplicate",
                f"position {seq} occurs twice (entry_ids {previous_entry_id} and {entry_id}): "
                "an entry was inserted or copied",
                seq, entry_id,
            ))
        raise _Found(Problem(
            "missing",
            f"the entry at position {expected} is missing"
            + (f" (positions {expected}..{seq - 1})" if seq - 1 > expected else "")
            + f": the next entry present is at position {seq} (entry_id {entry_id})",
            expected, None, seq - 1,
        ))

    def _beyond_last_head(self, seq: int, entry_id: int) -> None:
        last = self.heads[-1].tree_size if self.heads else 0
        raise _Found(Problem(
            "unsigned",
            f"entry at position {seq} (entry_id {entry_id}) lies beyond the last signed head "
            f"(size {last}): it was inserted after the sequencer signed, or the heads after "
            f"size {last} were deleted",
            seq, entry_id,
        ))

    def _leaf_problem(
        self, seq: int, entry_id: int, entry: str, stored: bytes | None,
        previous_entry_id: int | None,
    ) -> None:
        if stored is None:
            raise _Found(Problem(
                "no_leaf_hash",
                f"entry at position {seq} (entry_id {entry_id}) has a position but no leaf hash",
                seq, entry_id,
            ))
        data = entry.encode()
        # An entry hashed for the neighbouring position: entries were renumbered around an
        # insertion or a deletion. Name the position where that happened.
        if seq > 0 and sha256(b"\x00%d\n" % (seq - 1) + data).digest() == stored:
            raise _Found(Problem(
                "inserted",
                f"entry at position {seq - 1} (entry_id {previous_entry_id}) was inserted: the "
                f"entries after it were renumbered (entry_id {entry_id}, now at position {seq}, "
                f"was sequenced at position {seq - 1})",
                seq - 1, previous_entry_id,
            ))
        if sha256(b"\x00%d\n" % (seq + 1) + data).digest() == stored:
            raise _Found(Problem(
                "missing",
                f"the entry at position {seq} is missing: the entries after it were renumbered "
                f"(entry_id {entry_id}, now at position {seq}, was sequenced at position "
                f"{seq + 1})",
                seq, entry_id,
            ))
        raise _Found(Problem(
            "altered",
            f"entry at position {seq} (entry_id {entry_id}) does not match its leaf hash: it was "
            "altered, or moved here from another position",
            seq, entry_id,
        ))

    def _columns_problem(
        self, seq: int, entry_id: int, entry_values: tuple[Any, ...], columns: tuple[Any, ...]
    ) -> None:
        names = ("subject_id", "organisation_id", "actor_id", "at")
        wrong = [
            name
            for name, j, c in zip(names, entry_values, columns, strict=True)
            if not (_same_time(c, j) if name == "at" else _same_uuid(c, j))
        ]
        if wrong:
            raise _Found(Problem(
                "column_mismatch",
                f"entry at position {seq} (entry_id {entry_id}): column {', '.join(wrong)} does "
                "not agree with the entry (edited to hide or misattribute an access)",
                seq, entry_id,
            ))

    # ----------------------------------------------------------------- heads
    def _check_head(self, head: _Head) -> None:
        size = head.tree_size
        self.head_index += 1
        self.heads_checked += 1
        if not verify_tree_head(
            self.public_key, size, head.signed_at, head.root_hash, head.signature
        ):
            other_key = head.key_id != self.key_id
            raise _Found(Problem(
                "bad_signature",
                f"the tree head of size {size} does not carry a valid signature by key "
                f"{self.key_id}"
                + (f" (it names key {head.key_id})" if other_key else "")
                + ": forged or altered head",
                None, None, None, size,
            ))
        computed = self.frontier.root()
        if computed != head.root_hash:
            self._root_problem(head)
        if head.frontier != self.frontier.to_bytes():
            raise _Found(Problem(
                "frontier_mismatch",
                f"the tree head of size {size} has the right root but a stored frontier that "
                "does not match the entries: the next batch would be appended to a wrong tree",
                None, None, None, size,
            ))
        self.previous_head_size = size

    def _root_problem(self, head: _Head) -> None:
        size, lo = head.tree_size, self.previous_head_size
        first, last = lo, size - 1
        narrowed = ""
        try:
            signed = Frontier.from_bytes(size, head.frontier)
        except ValueError:
            signed = None
        # The stored frontier is not signed, but if it folds to the signed root it is the
        # genuine one, and the first perfect subtree that differs holds the forged entry.
        if signed is not None and signed.root() == head.root_hash:
            for (start, end), ours, theirs in zip(
                self.frontier.subtree_ranges(), self.frontier.roots, signed.roots, strict=True
            ):
                if ours != theirs:
                    first, last = max(start, lo), min(end, size) - 1
                    narrowed = (
                        f"; the head's subtree roots narrow it to positions {first}..{last}"
                    )
                    break
        entry_id = self.since_head[first - lo] if 0 <= first - lo < len(self.since_head) else None
        raise _Found(Problem(
            "root_mismatch",
            f"the entries at positions {lo}..{size - 1} (tree sizes ({lo}, {size}]) do not "
            f"produce the signed root of the head of size {size}: an entry there was altered "
            f"together with its stored leaf hash{narrowed}",
            first, entry_id, last, size,
        ))
