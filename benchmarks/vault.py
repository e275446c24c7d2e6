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
import cProfile
import gc
import json
import os
import platform
import pstats
import random
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import cryptography
import sqlalchemy
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from faker import Faker
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import (
    Column,
    Engine,
    Index,
    Insert,
    MetaData,
    Select,
    Table,
    Text,
    Uuid,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from privguard.actors.system import cli_actor
from privguard.bootstrap import Runtime, build_runtime, initialise
from privguard.config import Settings
from privguard.marketplace.demo_data import REGIONS, bank_card, consumer_pi, resident_id
from privguard.policy.rules import ActorRef, View
from privguard.store.engine import normalise_url
from privguard.store.uow import unit_of_work
from privguard.vault.service import ReadResult, Vault

# Every subject gets exactly these fields, so both sides store the same shape on every row.
FIELDS: tuple[str, ...] = (
    "name",
    "mobile_phone",
    "email",
    "resident_id",
    "bank_card",
    "date_of_birth",
    "gender",
    "device_id",
    "ip_address",
    "shipping_addresses",
)
JSON_FIELDS = ("shipping_addresses",)
# The vault keeps blind indexes on these (catalog `searchable: true`); plain gets plain indexes.
INDEXED_FIELDS = ("mobile_phone", "email", "resident_id")
PLAIN_TABLE = "bench_plain_subjects"
# A registered purpose under which the CLI operator (platform_admin) may read every field plain
# (policy rule legal.admin): the policy refuses purposes it does not list.
PURPOSE = "legal_obligation"
GOAL_READ = 1.5
GOAL_WRITE = 2.0
DEFAULT_N = 20_000
DEFAULT_BATCH = 500
DEFAULT_SEED = 2026
VERIFY_SAMPLE = 2000  # timed reads kept per side for verification

T = TypeVar("T")
U = TypeVar("U")
Row = dict[str, Any]
Tick = Callable[[int], None]


# ----------------------------------------------------------------------------------- output
def out(line: str = "") -> None:
    """Results and environment go to stdout, flushed so they interleave sanely with stderr."""
    print(line, flush=True)


def note(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Bars:
    """Rich progress bars on stderr, redrawn once per batch (no refresh thread competing with
    the timed code for the GIL)."""

    def __init__(self, enabled: bool) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<13}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            auto_refresh=False,
            transient=True,
            disable=not enabled,
        )

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Tick]:
        task_id = self.progress.add_task(description, total=total)
        self.progress.refresh()

        def tick(done: int) -> None:
            self.progress.update(task_id, advance=done, refresh=True)

        try:
            yield tick
        finally:
            self.progress.remove_task(task_id)

    def __enter__(self) -> Bars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


# ----------------------------------------------------------------------------------- data
def county_of(district: str) -> str:
    for code, _province, _city, name in REGIONS:
        if name == district:
            return code
    return REGIONS[0][0]


def generate_rows(vault: Vault, n: int, seed: int, today: date, tick: Tick) -> list[Row]:
    """N consumers with exactly :data:`FIELDS`, in canonical (validated) form.

    The demo generator leaves resident_id and bank_card out of some consumers; those are filled
    from the same seeded generator (ID number consistent with birth date, sex and region), and
    the optional fields outside :data:`FIELDS` are dropped.
    """
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    rows: list[Row] = []
    for index in range(n):
        pi = consumer_pi(fake, rng, today, index)
        if "resident_id" not in pi:
            county = county_of(pi["shipping_addresses"][0]["district"])
            birth = date.fromisoformat(pi["date_of_birth"])
            pi["resident_id"] = resident_id(rng, county, birth, pi["gender"] == "male")
        if "bank_card" not in pi:
            pi["bank_card"] = bank_card(rng)
        rows.append(vault.validate({name: pi[name] for name in FIELDS}, today=today))
        if len(rows) % 1000 == 0 or len(rows) == n:
            tick(len(rows) - (len(rows) - 1) // 1000 * 1000)
    return rows


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
def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


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


class _Side:
    """Accumulated wall time (and optionally a profile) of one side of one phase."""

    def __init__(self, name: str, *, profile: bool) -> None:
        self.name = name
        self.seconds = 0.0
        self.profiler = cProfile.Profile() if profile else None

    def time(self, call: Callable[[], T]) -> T:
        if self.profiler:
            self.profiler.enable()
        start = time.perf_counter()
        result = call()
        self.seconds += time.perf_counter() - start
        if self.profiler:
            self.profiler.disable()
        return result


class Race:
    """Times the plain and the vault side of a phase batch by batch, alternately (plain first,
    then vault first: ABBA), so that drift in the machine's speed (shared VMs drift by tens of
    percent within minutes) hits both sides alike. Optionally profiles each side on its own."""

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
        plain = _Side(f"plain {phase}", profile=self.profile_dir is not None)
        vault = _Side(f"vault {phase}", profile=self.profile_dir is not None)
        keep_plain, keep_vault = keep
        gc.collect()
        for index, (plain_call, vault_call) in enumerate(batches):
            if index % 2 == 0:
                keep_plain(index, plain.time(plain_call))
                keep_vault(index, vault.time(vault_call))
            else:
                keep_vault(index, vault.time(vault_call))
                keep_plain(index, plain.time(plain_call))
            tick(1)
        for side in (plain, vault):
            self.phases[side.name] = Phase(side.name, ops, side.seconds)
            if side.profiler:
                self._report(side.name, side.profiler)

    def _report(self, name: str, profiler: cProfile.Profile) -> None:
        assert self.profile_dir is not None
        path = self.profile_dir / f"{name.replace(' ', '_')}.pstats"
        profiler.dump_stats(path)
        note(f"\n--- profile of {name} ({path}), top 25 by cumulative time ---")
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)


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


@contextmanager
def count_statements(engine: Engine) -> Iterator[list[int]]:
    """Counts DBAPI cursor executions (an executemany counts once) while the block runs."""
    counter = [0]

    def before(*_args: Any) -> None:
        counter[0] += 1

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before)


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
        with count_statements(engine) as counter, unit_of_work(sessions) as session:
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


# ----------------------------------------------------------------------------------- database
@dataclass
class Database:
    url: str | None  # None: SQLite inside the benchmark's home
    backend: str
    drop: Callable[[], None]


def prepare_database(url: str | None, workdir: Path) -> Database:
    """A fresh database: SQLite in ``workdir``, or a throw-away database on a PostgreSQL server."""
    if url is None:
        return Database(None, "sqlite", lambda: None)
    parsed = make_url(normalise_url(url))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database
        if not path or path == ":memory:" or Path(path).exists():
            raise SystemExit("--database-url sqlite:///FILE: FILE must not exist yet")
        return Database(parsed.render_as_string(hide_password=False), "sqlite", lambda: None)
    if backend != "postgresql":
        raise SystemExit(f"unsupported database {backend!r}: use SQLite or PostgreSQL")
    name = f"privguard_bench_{secrets.token_hex(4)}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return Database(
        parsed.set(database=name).render_as_string(hide_password=False), "postgresql", drop
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_environment(runtime: Runtime, args: argparse.Namespace) -> list[str]:
    engine = runtime.engine
    lines = [
        f"python       {platform.python_implementation()} {platform.python_version()} "
        f"on {platform.platform()}",
        f"cpu          {cpu_model()} ({os.cpu_count()} logical CPUs)",
        f"libraries    SQLAlchemy {sqlalchemy.__version__}, cryptography {cryptography.__version__}"
        f" ({openssl_backend.openssl_version_text()})",
    ]
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            sync_name = ("OFF", "NORMAL", "FULL", "EXTRA")[int(sync or 0)]
            lines.append(
                f"database     SQLite {sqlite3.sqlite_version} (journal_mode={journal}, "
                f"synchronous={sync_name}) at {engine.url.database}"
            )
        else:
            version = conn.exec_driver_sql("SHOW server_version").scalar()
            sync = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
            buffers = conn.exec_driver_sql("SHOW shared_buffers").scalar()
            lines.append(
                f"database     PostgreSQL {version} (synchronous_commit={sync}, "
                f"shared_buffers={buffers}) database {engine.url.database} "
                f"via {engine.dialect.driver}"
            )
    lines.append(
        f"workload     N={args.n} subjects x {len(FIELDS)} fields, batch={args.batch} "
        f"rows per transaction, seed={args.seed}"
    )
    return lines


# ----------------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Vault vs plain-column write/read throughput on the same database.",
    )
    parser.add_argument(
        "n", nargs="?", type=int, default=DEFAULT_N, help=f"subjects (default {DEFAULT_N:,})"
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
        default=DEFAULT_BATCH,
        help=f"rows per write transaction and reads per read transaction (default {DEFAULT_BATCH})",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="data and order seed")
    parser.add_argument(
        "--workdir", type=Path, help="parent of the temporary directory (default: system temp)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    parser.add_argument(
        "--verify-all",
        action="store_true",
        help=f"keep and verify every timed read (default: {VERIFY_SAMPLE:,} evenly spaced)",
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
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("N must be at least 1")
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    return args


def run(runtime: Runtime, db: Database, args: argparse.Namespace, now: datetime) -> int:
    for line in describe_environment(runtime, args):
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

    with Bars(not args.no_progress) as bars:
        with bars.task("generate", n) as tick:
            started = time.perf_counter()
            rows = generate_rows(vault, n, args.seed, now.date(), tick)
            generated = time.perf_counter() - started
        out(f"data         generated and validated in {generated:.1f} s (not timed below)")
        order = list(range(n))
        random.Random(args.seed + 1).shuffle(order)
        # Keeping all N results would make the collector walk an ever larger heap during the
        # timed reads (more so for the vault's richer results); keep a sample to verify.
        keep_every = 1 if args.verify_all else max(1, n // VERIFY_SAMPLE)

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

        row_batches = chunks(rows, batch)
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

        def keeper(kept: dict[int, Any]) -> Callable[[int, Sequence[Any]], None]:
            def keep(index: int, results: Sequence[Any]) -> None:
                for offset, result in enumerate(results):
                    position = index * batch + offset
                    if position % keep_every == 0:
                        kept[position] = result

            return keep

        plain_order = chunks([plain_ids[i] for i in order], batch)
        vault_order = chunks([vault_ids[i] for i in order], batch)
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
                (keeper(plain_results), keeper(vault_results)),
                n,
                tick,
            )
        gc.unfreeze()

    problems = verify(rows, order, plain_ids, vault_ids, keep_every, plain_results, vault_results)
    if problems:
        for problem in problems:
            note(f"VERIFY FAILED: {problem}")
        note("the reads returned wrong data: no result")
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
    workdir = Path(tempfile.mkdtemp(prefix="privguard-bench-", dir=args.workdir))
    try:
        db = prepare_database(args.database_url, workdir)
        try:
            home = workdir / "home"
            settings = Settings(
                home=home,
                database_url=db.url,
                key_provider="file",
                key_file=home / "master.key",
                catalog_path=None,
            )
            initialise(settings, now=now)
            runtime = build_runtime(settings)
            try:
                return run(runtime, db, args, now)
            finally:
                runtime.close()
        finally:
            db.drop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
