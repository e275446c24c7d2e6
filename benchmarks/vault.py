"""What the vault costs compared with storing the same PI as plain columns.

The vault encrypts every field under a per-subject data key, keeps blind indexes for exact
lookup, decides every read field by field and writes an access-log row for each read and each
registration. This benchmark measures what that costs in wall-clock time against the obvious
alternative: the same rows in an ordinary SQLAlchemy table with one column per field.

Both sides run on the same database (same engine, same connection pool, same transaction
machinery: ``unit_of_work`` over ``runtime.sessions``) in the same process. Each phase runs the
two sides batch by batch, alternately (plain first, then vault first, ...), and times every batch
on its own, so drift in the machine's speed and cache warmth hit both sides alike:

* **write**: N subjects, ``--batch`` rows per transaction. Vault: ``Vault.insert_validated``.
  Plain: one Core ``INSERT`` executemany per batch into ``bench_plain_subjects``, which has
  ordinary indexes on mobile_phone, email and resident_id (the fields the vault blind-indexes).
* **read**: every subject once, one at a time, in a shuffled order that is the same for both
  sides, ``--batch`` reads per transaction. Vault: ``Vault.read(fields=None, view=PLAIN,
  purpose="legal_obligation")`` as the CLI operator (the gate: policy decision, access-log
  insert, unwrap, decrypt). Plain: ``SELECT * WHERE id = :id`` and decoding the JSON address
  column.

Every subject has exactly the same 10 fields (realistic zh_CN PI from the demo generator),
validated once up front (not timed) so both sides store the same canonical values. After
timing, an evenly spaced sample of the timed reads (all with ``--verify-all``) is compared, on
both sides, with the input: a benchmark that reads wrong data proves nothing, so a mismatch exits
with status 2 and no result line.

The issue's goal is ``read_ratio <= 1.5`` and ``write_ratio <= 2.0`` (vault time / plain time).
The last line of stdout is one JSON object starting with those two keys; progress goes to stderr.

Usage::

    python benchmarks/vault.py [N] [--database-url URL] [--batch 500]

See benchmarks/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Index,
    Insert,
    MetaData,
    Select,
    Table,
    Text,
    Uuid,
    bindparam,
    insert,
    select,
)
from sqlalchemy.orm import Session, sessionmaker

import _common as common
from _common import FIELDS, Row, Tick, out
from privguard.actors.system import cli_actor
from privguard.bootstrap import Runtime
from privguard.policy.rules import ActorRef, View
from privguard.store.uow import unit_of_work
from privguard.vault.service import ReadResult, Vault

# Every subject has exactly _common.FIELDS; the plain side stores these as JSON text.
JSON_FIELDS = ("shipping_addresses",)
# The vault keeps blind indexes on these (catalog `searchable: true`); plain gets plain indexes.
INDEXED_FIELDS = ("mobile_phone", "email", "resident_id")
PLAIN_TABLE = "bench_plain_subjects"
# A registered purpose under which the CLI operator (platform_admin) may read every field plain
# (policy rule legal.admin): the policy refuses purposes it does not list.
PURPOSE = "legal_obligation"
GOAL_READ = 1.5
GOAL_WRITE = 2.0

T = TypeVar("T")
U = TypeVar("U")


# ----------------------------------------------------------------------------------- data
def plain_table() -> Table:
    """The baseline: one Text column per field, plain indexes where the vault has blind ones."""
    metadata = MetaData()
    return Table(
        PLAIN_TABLE,
        metadata,
        Column("id", Uuid, primary_key=True),
        *(Column(name, Text, nullable=False) for name in FIELDS),
        *(Index(f"ix_{PLAIN_TABLE}_{name}", name) for name in INDEXED_FIELDS),
    )


def plain_select(table: Table) -> Select[Any]:
    return select(table).where(table.c.id == bindparam("id"))


def plain_record(row: Row) -> Row:
    """A plain-table row: a fresh id, the canonical values, JSON text for structured fields."""
    record = {"id": uuid.uuid4(), **row}
    for name in JSON_FIELDS:
        record[name] = json.dumps(row[name], ensure_ascii=False, separators=(",", ":"))
    return record


# ----------------------------------------------------------------------------------- phases
# One call = one batch = one transaction. The race below times each call on its own.
def plain_write_batch(
    sessions: sessionmaker[Session], stmt: Insert, rows: Sequence[Row]
) -> list[uuid.UUID]:
    params = [plain_record(row) for row in rows]
    with unit_of_work(sessions) as session:
        session.execute(stmt, params)
    return [record["id"] for record in params]


def vault_write_batch(
    sessions: sessionmaker[Session],
    vault: Vault,
    actor: ActorRef,
    rows: Sequence[Row],
    now: datetime,
) -> list[uuid.UUID]:
    with unit_of_work(sessions) as session:
        return vault.insert_validated(session, actor, rows, now=now)


def plain_read_batch(
    sessions: sessionmaker[Session], stmt: Select[Any], ids: Sequence[uuid.UUID]
) -> list[Row]:
    """``SELECT * WHERE id = :id`` per id, the statement built once (as the INSERT is).

    Building ``select(table).where(table.c.id == row_id)`` on every call is also common, but it
    adds SQLAlchemy construction and cache-key work to the baseline (roughly doubling the time
    per read on SQLite) and would flatter the vault's ratio; see benchmarks/README.md.
    """
    results: list[Row] = []
    with unit_of_work(sessions) as session:
        for row_id in ids:
            values = session.execute(stmt, {"id": row_id}).one()._asdict()
            for name in JSON_FIELDS:
                values[name] = json.loads(values[name])
            results.append(values)
    return results


def vault_read_batch(
    sessions: sessionmaker[Session],
    vault: Vault,
    actor: ActorRef,
    ids: Sequence[uuid.UUID],
    now: datetime,
) -> list[ReadResult]:
    with unit_of_work(sessions) as session:
        return [
            vault.read(
                session, actor, subject_id, fields=None, purpose=PURPOSE, view=View.PLAIN, now=now
            )
            for subject_id in ids
        ]


@dataclass(frozen=True)
class Phase:
    name: str
    ops: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    @property
    def us_per_op(self) -> float:
        return self.seconds / self.ops * 1e6


class Race:
    """Times the plain and the vault side of each phase with :func:`_common.race`: batch by
    batch, alternately (plain first, then vault first: ABBA), and collects the phases for the
    report. Optionally profiles each side on its own."""

    def __init__(self, profile_dir: Path | None) -> None:
        self.profile_dir = profile_dir
        self.phases: dict[str, Phase] = {}

    def run(
        self,
        phase: str,
        batches: Sequence[tuple[Callable[[], T], Callable[[], U]]],
        keep: tuple[Callable[[int, T], None], Callable[[int, U], None]],
        ops: int,
        tick: Tick,
    ) -> None:
        """``batches``: (plain call, vault call) per batch; ``keep`` receives (batch index,
        result) of each call outside the timed region."""
        names = (f"plain {phase}", f"vault {phase}")
        seconds = common.race(names, batches, keep, tick, self.profile_dir)
        for name in names:
            self.phases[name] = Phase(name, ops, seconds[name])


# ----------------------------------------------------------------------------------- checks
def verify(
    rows: Sequence[Row],
    order: Sequence[int],
    plain_ids: Sequence[uuid.UUID],
    vault_ids: Sequence[uuid.UUID],
    keep_every: int,
    plain_results: Mapping[int, Row],
    vault_results: Mapping[int, ReadResult],
) -> list[str]:
    """The reads kept by the timed phases (every ``keep_every``-th, the same positions on both
    sides), against the input rows. Returns a description of each problem found."""
    problems: list[str] = []
    positions = range(0, len(order), keep_every)
    if set(plain_results) != set(positions) or set(vault_results) != set(positions):
        return ["the timed reads did not keep the expected results"]
    for k in positions:
        index = order[k]
        expected = rows[index]
        plain = dict(plain_results[k])
        if plain.pop("id") != plain_ids[index]:
            problems.append(f"row {index}: plain read returned another row")
        elif plain != expected:
            problems.append(f"row {index}: plain values differ from the input")
        result = vault_results[k]
        got = {name: v.value for name, v in result.values.items() if v.present}
        if result.subject_id != vault_ids[index]:
            problems.append(f"row {index}: vault read returned another subject")
        elif result.denied:
            problems.append(f"row {index}: vault denied {[d.field for d in result.denied]}")
        elif got != expected:
            differ = sorted(
                k for k in expected.keys() | got.keys() if got.get(k) != expected.get(k)
            )
            problems.append(f"row {index}: vault values differ from the input in {differ}")
        if len(problems) >= 20:
            break
    return problems


def statement_counts(
    runtime: Runtime,
    table: Table,
    actor: ActorRef,
    rows: Sequence[Row],
    plain_ids: Sequence[uuid.UUID],
    vault_ids: Sequence[uuid.UUID],
    batch: int,
    now: datetime,
) -> dict[str, float]:
    """Statements per write batch and per read, from after BEGIN to the end of COMMIT (the
    DBAPI's commit itself is not a statement). Runs after the timed phases; its writes add rows."""
    sessions, vault, engine = runtime.sessions, runtime.vault, runtime.engine
    sample = list(rows[: min(batch, len(rows))])
    reads = min(100, len(plain_ids))

    def counted(work: Callable[[Session], object]) -> int:
        # Counting runs until after the commit, so rows a session writes at commit time
        # (deferred inserts) are counted; BEGIN (and a pool pre-ping) happen in
        # session.connection() and are not.
        with common.count_statements(engine) as counter, unit_of_work(sessions) as session:
            session.connection()
            counter[0] = 0
            work(session)
        return counter[0]

    def plain_reads(session: Session) -> None:
        stmt = plain_select(table)
        for row_id in plain_ids[:reads]:
            session.execute(stmt, {"id": row_id}).one()

    def vault_reads(session: Session) -> None:
        for subject_id in vault_ids[:reads]:
            vault.read(
                session, actor, subject_id, fields=None, purpose=PURPOSE, view=View.PLAIN, now=now
            )

    return {
        "batch_rows": len(sample),
        "plain_write_batch": counted(
            lambda s: s.execute(insert(table), [plain_record(r) for r in sample])
        ),
        "vault_write_batch": counted(lambda s: vault.insert_validated(s, actor, sample, now=now)),
        "plain_read": counted(plain_reads) / reads,
        "vault_read": counted(vault_reads) / reads,
    }


# ----------------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = common.argument_parser(
        "Vault vs plain-column write/read throughput on the same database."
    )
    parser.add_argument(
        "--database-url",
        help="postgresql+psycopg://user@host/db: the benchmark creates (and drops) its own "
        "database on that server; the named one is only used to connect. Default: SQLite in "
        "a temporary directory.",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=common.DEFAULT_BATCH,
        help="rows per write transaction and reads per read transaction "
        f"(default {common.DEFAULT_BATCH})",
    )
    common.add_run_options(parser)
    parser.add_argument(
        "--verify-all",
        action="store_true",
        help=f"keep and verify every timed read (default: {common.VERIFY_SAMPLE:,} evenly spaced)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="cProfile each timed phase; write DIR/<phase>.pstats and print the top functions "
        "to stderr (profiling inflates Python-heavy phases: ignore the ratios of such a run)",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a goal is missed"
    )
    return common.parse_positive(parser, argv, "--batch")


def run(runtime: Runtime, db: common.Database, args: argparse.Namespace, now: datetime) -> int:
    workload = f"batch={args.batch} rows per transaction, seed={args.seed}"
    for line in common.describe_environment(runtime.engine, args.n, workload):
        out(line)
    sessions, vault = runtime.sessions, runtime.vault
    n, batch = args.n, args.batch
    table = plain_table()
    table.metadata.create_all(runtime.engine)
    with unit_of_work(sessions) as session:
        actor = cli_actor(session, now=now)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    race = Race(args.profile)
    insert_stmt, select_stmt = insert(table), plain_select(table)

    with common.Bars(not args.no_progress, label_width=13) as bars:
        with bars.task("generate", n) as tick:
            started = time.perf_counter()
            rows = common.generate_rows(vault, n, args.seed, now.date(), tick)
            generated = time.perf_counter() - started
        out(f"data         generated and validated in {generated:.1f} s (not timed below)")
        order = list(range(n))
        random.Random(args.seed + 1).shuffle(order)
        # Keeping all N results would make the collector walk an ever larger heap during the
        # timed reads (more so for the vault's richer results); keep a sample to verify.
        keep_every = 1 if args.verify_all else max(1, n // common.VERIFY_SAMPLE)

        # Warm-up (untimed, both sides): connection pool, statement caches, crypto objects.
        warm = rows[: min(batch, n, 200)]
        plain_read_batch(sessions, select_stmt, plain_write_batch(sessions, insert_stmt, warm))
        vault_read_batch(
            sessions, vault, actor, vault_write_batch(sessions, vault, actor, warm, now), now
        )
        # The input rows and everything built so far are long-lived: keep the collector from
        # walking them again and again during the timed phases.
        gc.collect()
        gc.freeze()

        row_batches = common.chunks(rows, batch)
        plain_id_batches: dict[int, list[uuid.UUID]] = {}
        vault_id_batches: dict[int, list[uuid.UUID]] = {}
        with bars.task("write (both)", len(row_batches)) as tick:
            race.run(
                "write",
                [
                    (
                        partial(plain_write_batch, sessions, insert_stmt, chunk),
                        partial(vault_write_batch, sessions, vault, actor, chunk, now),
                    )
                    for chunk in row_batches
                ],
                (plain_id_batches.__setitem__, vault_id_batches.__setitem__),
                n,
                tick,
            )
        plain_ids = [i for b in range(len(row_batches)) for i in plain_id_batches[b]]
        vault_ids = [i for b in range(len(row_batches)) for i in vault_id_batches[b]]

        plain_results: dict[int, Row] = {}
        vault_results: dict[int, ReadResult] = {}
        plain_order = common.chunks([plain_ids[i] for i in order], batch)
        vault_order = common.chunks([vault_ids[i] for i in order], batch)
        with bars.task("read (both)", len(plain_order)) as tick:
            race.run(
                "read",
                [
                    (
                        partial(plain_read_batch, sessions, select_stmt, plain_chunk),
                        partial(vault_read_batch, sessions, vault, actor, vault_chunk, now),
                    )
                    for plain_chunk, vault_chunk in zip(plain_order, vault_order, strict=True)
                ],
                (
                    common.keeper(plain_results, batch, keep_every),
                    common.keeper(vault_results, batch, keep_every),
                ),
                n,
                tick,
            )
        gc.unfreeze()

    problems = verify(rows, order, plain_ids, vault_ids, keep_every, plain_results, vault_results)
    if common.verify_failed(problems, "the reads returned wrong data: no result"):
        return 2
    checked = len(range(0, n, keep_every))
    out(
        f"verified     {checked:,} of the {n:,} timed reads per side "
        f"({'all' if keep_every == 1 else f'one in {keep_every}'}) "
        "returned exactly the input values"
    )
    counts = statement_counts(runtime, table, actor, rows, plain_ids, vault_ids, batch, now)

    phases = race.phases
    out()
    out(f"{'phase':<12} {'rows':>8} {'seconds':>9} {'rows/s':>10} {'µs/op':>9}")
    for phase in phases.values():
        out(
            f"{phase.name:<12} {phase.ops:>8,} {phase.seconds:>9.3f} "
            f"{phase.rate:>10,.0f} {phase.us_per_op:>9.1f}"
        )
    write_ratio = phases["vault write"].seconds / phases["plain write"].seconds
    read_ratio = phases["vault read"].seconds / phases["plain read"].seconds
    write_ok, read_ok = write_ratio <= GOAL_WRITE, read_ratio <= GOAL_READ
    out()
    out(
        f"statements   per write batch of {counts['batch_rows']:.0f} rows: plain "
        f"{counts['plain_write_batch']:.0f}, vault {counts['vault_write_batch']:.0f}; "
        f"per read: plain {counts['plain_read']:.1f}, vault {counts['vault_read']:.1f}"
    )
    out("             (an executemany counts once; BEGIN/COMMIT not counted, inserts deferred")
    out("             to commit time are)")
    out(
        f"write_ratio  {write_ratio:.2f}  (vault / plain time; goal <= {GOAL_WRITE}: "
        f"{'met' if write_ok else 'MISSED'})"
    )
    out(
        f"read_ratio   {read_ratio:.2f}  (vault / plain time; goal <= {GOAL_READ}: "
        f"{'met' if read_ok else 'MISSED'})"
    )
    if args.profile:
        out("profiled     timings above include cProfile overhead: do not quote these ratios")
    result = {
        "write_ratio": round(write_ratio, 2),
        "read_ratio": round(read_ratio, 2),
        "n": n,
        "batch": batch,
        "backend": db.backend,
        "plain_write_rows_per_s": round(phases["plain write"].rate),
        "vault_write_rows_per_s": round(phases["vault write"].rate),
        "plain_read_rows_per_s": round(phases["plain read"].rate),
        "vault_read_rows_per_s": round(phases["vault read"].rate),
        "goals_met": write_ok and read_ok,
    }
    out(json.dumps(result))
    return 1 if args.check and not (write_ok and read_ok) else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    now = datetime.now(UTC).replace(microsecond=0)
    with common.workspace(args.workdir) as workdir:
        db = common.prepare_database(args.database_url, workdir)
        try:
            with common.privguard_runtime(db.url, workdir / "home", now) as runtime:
                return run(runtime, db, args, now)
        finally:
            db.drop()


if __name__ == "__main__":
    sys.exit(main())
