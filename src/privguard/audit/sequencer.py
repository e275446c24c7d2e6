"""The sequencer: integrates queued access-log entries into the Merkle tree and signs a head.

Writers (every vault read and write, inside their own transaction) only INSERT a row with no
leaf index. If each of them also had to extend the tree, every request in every API process
would queue behind one lock on "the current tree". Certificate Transparency logs and Trillian
solve the same problem the same way: submissions are queued, and one sequencer at a time takes a
batch, gives it consecutive leaf indexes, and publishes one signed tree head for the batch.

One batch is one transaction: load the latest head's frontier (``log_tree_heads.frontier``, so
no earlier leaf is read), number the oldest unsequenced rows, store their leaf hashes, insert the
new signed head. Two sequencers never interleave: on PostgreSQL a transaction-scoped advisory
lock (a busy sequencer makes the other skip its turn; writers never touch that lock), on SQLite
the write transaction every privguard unit of work takes anyway (store/engine.py). The unique
index on ``seq`` and the primary key on ``tree_size`` make a second, racing sequencer fail
rather than fork the tree, should the lock ever be bypassed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from privguard.audit.entry import leaf_input
from privguard.audit.merkle import Frontier, leaf_hash
from privguard.audit.models import AccessLogEntry, TreeHead
from privguard.clock import utcnow
from privguard.crypto.signing import LogSigner
from privguard.store.uow import unit_of_work

logger = logging.getLogger(__name__)

ACCESS_LOG = AccessLogEntry.__table__
HEADS = TreeHead.__table__

SEQUENCER_LOCK_KEY = 0x7067_6C6F_6773_6571  # "pglogseq": pg_advisory_xact_lock's bigint key
"""The PostgreSQL advisory lock only sequencers take. Nothing else in privguard uses it."""

_LATEST_HEAD = (
    select(HEADS.c.tree_size, HEADS.c.root_hash, HEADS.c.frontier)
    .order_by(HEADS.c.tree_size.desc())
    .limit(1)
)
_ASSIGN = (
    update(ACCESS_LOG)
    .where(ACCESS_LOG.c.entry_id == bindparam("b_entry_id"), ACCESS_LOG.c.seq.is_(None))
    .values(seq=bindparam("b_seq"), leaf_hash=bindparam("b_leaf_hash"))
)

_ASSIGN_ARRAYS = text(
    "UPDATE access_log AS a SET seq = v.seq, leaf_hash = v.leaf_hash "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:seqs AS bigint[]), CAST(:hashes AS bytea[])) "
    "AS v(entry_id, seq, leaf_hash) "
    "WHERE a.entry_id = v.entry_id AND a.seq IS NULL"
)


class SequencerConflict(RuntimeError):
    """Another sequencer changed the rows of this batch: the batch is rolled back, not merged."""


class CorruptTreeHead(RuntimeError):
    """The latest head cannot be extended: the sequencer stops rather than sign a wrong tree."""


def _take_lock(session: Session, *, wait: bool) -> bool:
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return True  # SQLite: this transaction already holds the database's write lock
    if wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK_KEY})
        return True
    got = conn.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK_KEY}
    ).scalar_one()
    return bool(got)


def sequence_batch(
    session: Session,
    signer: LogSigner,
    *,
    now: datetime,
    limit: int = 1000,
    wait: bool = False,
) -> int:
    """Integrate up to ``limit`` unsequenced entries (oldest first); returns how many.

    Returns 0 when nothing is pending, or (PostgreSQL, ``wait=False``) when another sequencer
    holds the lock: its batch will include these entries. ``wait=True`` queues behind it
    instead, for commands that must see every entry integrated before they go on. The caller's
    unit of work commits the leaf indexes and the head together.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if not _take_lock(session, wait=wait):
        return 0
    conn = session.connection()
    head = conn.execute(_LATEST_HEAD).first()
    frontier = Frontier.from_bytes(head.tree_size, head.frontier) if head else Frontier()
    if head is not None and frontier.root() != head.root_hash:
        # Appending to a frontier that is not the signed tree's would sign a forked tree.
        raise CorruptTreeHead(
            f"the stored frontier of the tree head of size {head.tree_size} does not match its "
            "root; run `privguard audit verify`"
        )
    rows = conn.execute(
        select(ACCESS_LOG.c.entry_id, ACCESS_LOG.c.entry)
        .where(ACCESS_LOG.c.seq.is_(None))
        .order_by(ACCESS_LOG.c.entry_id)
        .limit(limit)
    ).all()
    if not rows:
        return 0
    assignments = []
    for entry_id, entry in rows:
        seq = frontier.size
        digest = leaf_hash(leaf_input(seq, entry))
        frontier.append(digest)
        assignments.append({"b_entry_id": entry_id, "b_seq": seq, "b_leaf_hash": digest})
    if conn.dialect.name == "postgresql":
        # One statement over arrays: measured ~15 ms per 1,000 entries against ~21 ms for an
        # executemany of single-row UPDATEs; the sequencer's throughput caps the whole log's.
        result = conn.execute(
            _ASSIGN_ARRAYS,
            {
                "ids": [a["b_entry_id"] for a in assignments],
                "seqs": [a["b_seq"] for a in assignments],
                "hashes": [a["b_leaf_hash"] for a in assignments],
            },
        )
    else:
        result = conn.execute(_ASSIGN, assignments)
    if conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(assignments):
        raise SequencerConflict(
            f"{len(assignments) - result.rowcount} of {len(assignments)} entries were "
            "sequenced by someone else meanwhile"
        )
    root = frontier.root()
    conn.execute(
        insert(HEADS).values(
            tree_size=frontier.size,
            root_hash=root,
            frontier=frontier.to_bytes(),
            signed_at=now,
            key_id=signer.key_id,
            signature=signer.sign(frontier.size, now, root),
        )
    )
    return len(rows)


def pending_entries(session: Session) -> int:
    """Entries written but not yet in the tree."""
    return session.execute(
        select(func.count()).select_from(ACCESS_LOG).where(ACCESS_LOG.c.seq.is_(None))
    ).scalar_one()


def sequence_all(
    sessions: sessionmaker[Session],
    signer: LogSigner,
    *,
    now_fn: Callable[[], datetime] = utcnow,
    batch: int = 1000,
    on_progress: Callable[[int], None] | None = None,
    wait: bool = False,
) -> int:
    """Run batches, one transaction each, until one comes back short; returns the total.

    Short batches end the loop, so a steady stream of new entries cannot keep a command running
    forever. ``on_progress`` gets the size of each committed batch. See :func:`sequence_batch`
    for ``wait``.
    """
    total = 0
    while True:
        with unit_of_work(sessions) as session:
            n = sequence_batch(session, signer, now=now_fn(), limit=batch, wait=wait)
        total += n
        if n and on_progress is not None:
            on_progress(n)
        if n < batch:
            return total


class BackgroundSequencer:
    """Runs the sequencer every ``interval_seconds`` in a daemon thread of a server process.

    Every API process may run one: on PostgreSQL the advisory lock lets one work while the
    others skip their turn; on SQLite they take turns at the write lock. A failed batch is
    logged (counts and the error only: entries hold no PI values, statement parameters are
    never logged) and retried at the next tick; the thread never dies of it. ``stop`` returns
    once the batch in progress has committed, so a server shuts down without a torn batch (a
    torn one would roll back harmlessly anyway).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        signer: LogSigner,
        interval_seconds: float,
        *,
        batch: int = 1000,
        now_fn: Callable[[], datetime] = utcnow,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self.sessions = sessions
        self.signer = signer
        self.interval = interval_seconds
        self.batch = batch
        self.now_fn = now_fn
        self.sequenced = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the background sequencer is already running")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="privguard-log-sequencer", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_once(self) -> int:
        """Sequence until caught up (or told to stop); returns how many entries."""
        total = 0
        while not self._stop.is_set():
            with unit_of_work(self.sessions) as session:
                n = sequence_batch(session, self.signer, now=self.now_fn(), limit=self.batch)
            total += n
            if n < self.batch:
                break
        return total

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.interval):
            try:
                n = self.run_once()
            except Exception as exc:
                self.failures += 1
                # The first failure of a run with its traceback, then one line per tick, so a
                # database outage does not flood the log.
                logger.error(
                    "access-log sequencer failed (%s); retrying every %g s",
                    type(exc).__name__,
                    self.interval,
                    exc_info=not failing,
                )
                failing = True
                continue
            if failing:
                logger.info("access-log sequencer recovered")
                failing = False
            if n:
                self.sequenced += n
                logger.debug("access-log sequencer integrated %d entries", n)
