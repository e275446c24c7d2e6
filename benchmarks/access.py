"""What the gate costs per read, how fast the access log takes entries, how long checking it takes.

benchmarks/vault.py compares the vault with plain columns. This one isolates the parts of a read
that exist only because of access control and accountability: the policy decision, the facts
query behind it, the access-log entry, and, afterwards, sequencing that entry into the signed
Merkle tree and the auditor's ``audit verify`` over the whole log. Three measurements, one run:

1. **Gated vs ungated reads.** N subjects (realistic zh_CN PI, the same 10 fields as vault.py),
   each with one open order with the benchmark's merchant. Every side reads the same 3 fields
   (name, mobile_phone, shipping_addresses) of every subject once, in one shuffled order,
   ``--batch`` reads per transaction:

   * *ungated*: the vault's own internals without the gate: ``Vault._load`` (one SELECT),
     ``Vault._open_key`` (unwrap the data key), ``open_record`` (check the record tag) and
     AES-GCM open + decode of the 3 fields. No policy, no log entry, no masking: what a read
     would cost if the vault trusted its caller.
   * *merchant*: ``Vault.read(purpose="after_sales", view=MASKED)`` as merchant_staff of the
     subject's merchant: the policy decision, the ``orders`` query for the merchant_order
     relationship, the access-log entry (one executemany per batch at commit), decryption and
     masking. The issue's goal is ``read_ratio = merchant / ungated <= 1.5``.
   * *support*: the same as customer_service for customer_support. Its rules ask about an open
     ticket, so it costs a ``support_tickets`` query instead of the ``orders`` one.
   * *operator*: the same as platform_admin for fraud_detection, whose rule is unconditional:
     no facts query at all. The three gated sides differ only in what the facts cost.

   The sides run batch by batch in rotation (each side leads equally often) and every batch is
   timed on its own, so machine drift and cache warmth hit all sides alike. An evenly spaced
   sample of the timed reads is checked: ungated values must equal the input, gated values must
   equal the catalog's masker applied to the input, granted by the expected rule. A mismatch
   exits with status 2 and no result line.

2. **Log append and sequencing throughput** on the same database: N realistic entries (a
   merchant's read of 3 fields) through ``log_access`` (queued, one executemany at commit),
   ``--batch`` per transaction; then ``sequence_all`` over exactly those entries (1,000 per
   batch, one signed tree head per batch).

3. **``audit verify`` on a large log** (goal: < 10 s for 1,000,000 entries on SQLite): a fresh
   SQLite database gets ``--log-entries`` entries through ``log_access`` ("build"),
   ``sequence_all`` integrates them ("sequence"), and ``verify_log`` checks them in a read
   snapshot with the signer's public key, as ``privguard audit verify`` does ("verify"); the
   report must be intact and cover every entry (else exit 2). With a PostgreSQL
   ``--database-url`` the same runs on a fresh PostgreSQL database too.

The last line of stdout is one JSON object starting with ``read_ratio`` and
``verify_seconds_1m`` (SQLite, scaled linearly to 1,000,000 entries when ``--log-entries``
differs; ``verify_entries`` says how many were verified). Progress goes to stderr.

Usage::

    python benchmarks/access.py [N] [--batch 500] [--log-entries 1000000] [--database-url URL]

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
from datetime import UTC, date, datetime, timedelta
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
from sqlalchemy import Engine, create_engine, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from privguard.actors.service import create_actor
from privguard.actors.system import cli_actor
from privguard.audit.context import request_scope
from privguard.audit.sequencer import pending_entries, sequence_all
from privguard.audit.service import log_access
from privguard.audit.verify import VerifyReport, read_snapshot, verify_log
from privguard.bootstrap import Runtime, build_runtime, initialise
from privguard.catalog.masking import MASKERS
from privguard.clock import utcnow
from privguard.config import Settings
from privguard.crypto.envelope import field_aad
from privguard.marketplace.demo_data import REGIONS, bank_card, consumer_pi, resident_id
from privguard.marketplace.models import Order, Organisation
from privguard.policy.rules import (
    Action,
    ActorRef,
    Decision,
    Facts,
    Policy,
    Relationship,
    Role,
    View,
)
from privguard.store.engine import normalise_url
from privguard.store.uow import unit_of_work
from privguard.vault.record import open_record
from privguard.vault.service import ReadResult, Vault, _decode

# Every subject stores exactly these fields (as in vault.py); every read asks for READ_FIELDS,
# the contact details a merchant may see for an order.
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
READ_FIELDS: tuple[str, ...] = ("name", "mobile_phone", "shipping_addresses")
UNGATED = "ungated"
GOAL_READ = 1.5
GOAL_VERIFY_SECONDS = 10.0
VERIFY_GOAL_ENTRIES = 1_000_000
DEFAULT_N = 20_000
DEFAULT_BATCH = 500
DEFAULT_LOG_ENTRIES = VERIFY_GOAL_ENTRIES
DEFAULT_SEED = 2026
VERIFY_SAMPLE = 2000  # timed reads kept per side for verification
SEQUENCER_BATCH = 1000  # sequence_all's default: one signed head per 1,000 entries
BUILD_TRANSACTION = 10_000  # log entries per transaction while building the large log
BUILD_REQUEST = 10  # log entries per request id while building it (a page of reads)
STATEMENT_SAMPLE = 100  # reads per side whose statements are counted

T = TypeVar("T")
Row = dict[str, Any]
Tick = Callable[[int], None]


@dataclass(frozen=True)
class Gate:
    """One gated side: who reads, for what, and the rule expected to grant every field."""

    side: str
    actor: ActorRef
    purpose: str
    rule: str
    facts: Facts  # what policy/service.py finds for these subjects (for log-only entries)

    @property
    def label(self) -> str:
        return f"{self.actor.role.value} / {self.purpose}"


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
            TextColumn("{task.description:<16}"),
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
    """N consumers with exactly :data:`FIELDS`, in canonical (validated) form, as vault.py
    generates them, so figures from the two benchmarks describe the same records."""
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


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


@dataclass(frozen=True)
class Cast:
    """The organisations and actors of the read phase."""

    merchant_id: uuid.UUID
    admin: ActorRef  # registers the subjects (the CLI operator, as import and seed do)
    gates: tuple[Gate, ...]


def _actor(session: Session, role: Role, org: uuid.UUID, name: str, now: datetime) -> ActorRef:
    actor = create_actor(session, display_name=name, role=role, now=now, organisation_id=org)
    return ActorRef(actor.actor_id, role, org, actor.display_name)


def create_cast(runtime: Runtime, now: datetime) -> Cast:
    """A platform, one merchant and one actor per gated side, as tests/integration/world.py
    sets them up (facts come from the database, so these must be real rows)."""
    with unit_of_work(runtime.sessions) as session:
        orgs = {}
        for kind, name in (("platform", "示例商城平台"), ("merchant", "甲果园旗舰店")):
            org = Organisation(organisation_id=uuid.uuid4(), kind=kind, name=name, created_at=now)
            session.add(org)
            orgs[kind] = org.organisation_id
        session.flush()
        merchant = _actor(session, Role.MERCHANT_STAFF, orgs["merchant"], "店员 张伟", now)
        support = _actor(session, Role.CUSTOMER_SERVICE, orgs["platform"], "客服 陈晨", now)
        operator = _actor(session, Role.PLATFORM_ADMIN, orgs["platform"], "平台管理员 王磊", now)
        admin = cli_actor(session, now=now)
    order_facts = Facts(frozenset({Relationship.MERCHANT_ORDER}))
    return Cast(
        merchant_id=orgs["merchant"],
        admin=admin,
        gates=(
            Gate("merchant", merchant, "after_sales", "merchant.order-contact", order_facts),
            Gate("support", support, "customer_support", "support.masked-contact", Facts()),
            Gate("operator", operator, "fraud_detection", "fraud.review", Facts()),
        ),
    )


def register(
    runtime: Runtime,
    cast: Cast,
    rows: Sequence[Row],
    batch: int,
    seed: int,
    now: datetime,
    tick: Tick,
) -> list[uuid.UUID]:
    """Store the subjects (the bulk import path) and give each one order with the merchant,
    shipped and not yet delivered, so the merchant_order relationship holds."""
    orders = Order.__table__
    placed = now - timedelta(days=2)
    rng = random.Random(seed)
    ids: list[uuid.UUID] = []
    for chunk in chunks(rows, batch):
        with unit_of_work(runtime.sessions) as session:
            chunk_ids = runtime.vault.insert_validated(session, cast.admin, chunk, now=now)
            session.connection().execute(
                insert(orders),
                [
                    {
                        "order_id": uuid.uuid4(),
                        "subject_id": subject_id,
                        "merchant_id": cast.merchant_id,
                        "carrier_id": None,
                        "courier_id": None,
                        "status": "shipped",
                        "total_cents": rng.randint(990, 99_900),
                        "item_count": rng.randint(1, 5),
                        "placed_at": placed,
                        "delivered_at": None,
                    }
                    for subject_id in chunk_ids
                ],
            )
        ids.extend(chunk_ids)
        tick(len(chunk))
    return ids


def gate_decisions(policy: Policy, gate: Gate) -> list[Decision]:
    """The decisions the gate makes for this side's reads (the log entries' content)."""
    decisions = [
        policy.decide(gate.actor.role, Action.READ, gate.purpose, f, View.MASKED, gate.facts)
        for f in READ_FIELDS
    ]
    if not all(d.allowed and d.rule == gate.rule for d in decisions):
        raise SystemExit(f"policy.yaml no longer lets {gate.label} read {READ_FIELDS}")
    return decisions


# ----------------------------------------------------------------------------------- reads
# One call = one batch = one transaction. The race below times each call on its own.
def ungated_read_batch(
    sessions: sessionmaker[Session], vault: Vault, ids: Sequence[uuid.UUID]
) -> list[Row]:
    """What a read costs without the gate: the vault's own load, unwrap, tag check and
    decryption of the same fields, and nothing else."""
    results: list[Row] = []
    with unit_of_work(sessions) as session:
        for subject_id in ids:
            row = vault._load(session, subject_id)
            sealer = vault._open_key(subject_id, row)
            record = open_record(sealer, row.sealed)
            sid, version = str(subject_id), row.key_version
            results.append(
                {
                    name: _decode(
                        sealer.open(record[name].ciphertext, field_aad(sid, name, version))
                    )
                    for name in READ_FIELDS
                }
            )
    return results


def gated_read_batch(
    sessions: sessionmaker[Session],
    vault: Vault,
    gate: Gate,
    ids: Sequence[uuid.UUID],
    now: datetime,
) -> list[ReadResult]:
    """``Vault.read`` as an application calls it; one request id per batch (one job)."""
    with unit_of_work(sessions) as session, request_scope():
        return [
            vault.read(
                session,
                gate.actor,
                subject_id,
                fields=READ_FIELDS,
                purpose=gate.purpose,
                view=View.MASKED,
                now=now,
            )
            for subject_id in ids
        ]


class _Side:
    """Accumulated wall time (and optionally a profile) of one side."""

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


def race(
    names: Sequence[str],
    batches: Sequence[Sequence[Callable[[], Any]]],
    keep: Sequence[Callable[[int, Any], None]],
    tick: Tick,
    profile_dir: Path | None,
) -> dict[str, float]:
    """Seconds per side. Batch ``i`` runs the sides in rotation starting at side ``i % k``, so
    each side leads (pays for cold pages of the subjects the others then read warm) equally
    often and drift in the machine's speed hits all sides alike. ``keep`` receives (batch index,
    result) of each call outside the timed region."""
    sides = [_Side(name, profile=profile_dir is not None) for name in names]
    k = len(sides)
    gc.collect()
    for index, calls in enumerate(batches):
        for step in range(k):
            s = (index + step) % k
            keep[s](index, sides[s].time(calls[s]))
        tick(1)
    for side in sides:
        if side.profiler:
            assert profile_dir is not None
            path = profile_dir / f"read_{side.name}.pstats"
            side.profiler.dump_stats(path)
            note(f"\n--- profile of read {side.name} ({path}), top 25 by cumulative time ---")
            pstats.Stats(side.profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    return {side.name: side.seconds for side in sides}


def verify_reads(
    vault: Vault,
    rows: Sequence[Row],
    order: Sequence[int],
    ids: Sequence[uuid.UUID],
    keep_every: int,
    ungated: Mapping[int, Row],
    gated: Mapping[Gate, Mapping[int, ReadResult]],
) -> list[str]:
    """The kept reads (every ``keep_every``-th position, the same on every side) against the
    input: plain values for the ungated side, the catalog's masks of them for the gated sides.
    Returns a description of each problem found."""
    problems: list[str] = []
    positions = set(range(0, len(order), keep_every))
    if set(ungated) != positions or any(set(kept) != positions for kept in gated.values()):
        return ["the timed reads did not keep the expected results"]
    specs = {name: vault.catalog.fields[name] for name in READ_FIELDS}
    for k in sorted(positions):
        index = order[k]
        plain = {name: rows[index][name] for name in READ_FIELDS}
        masked = {name: MASKERS[specs[name].masking](plain[name]) for name in READ_FIELDS}
        if ungated[k] != plain:
            problems.append(f"row {index}: ungated values differ from the input")
        for gate, kept in gated.items():
            result = kept[k]
            got = {n: v.value for n, v in result.values.items() if v.present}
            wrong = sorted(
                n
                for n, v in result.values.items()
                if v.view is not View.MASKED or v.rule != gate.rule
            )
            if result.subject_id != ids[index]:
                problems.append(f"row {index}: {gate.side} read returned another subject")
            elif result.denied:
                denied = [d.field for d in result.denied]
                problems.append(f"row {index}: {gate.side} was denied {denied}")
            elif wrong:
                problems.append(f"row {index}: {gate.side} got another view or rule for {wrong}")
            elif got != masked:
                differ = sorted(n for n in READ_FIELDS if got.get(n) != masked[n])
                problems.append(f"row {index}: {gate.side} masked values differ in {differ}")
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


def statements_per_read(
    runtime: Runtime, gates: Sequence[Gate], ids: Sequence[uuid.UUID], now: datetime
) -> dict[str, float]:
    """Statements per read on each side, from after BEGIN to the end of COMMIT (the deferred
    access-log executemany included). Runs after the timed phase; its reads add log rows."""
    sample = ids[:STATEMENT_SAMPLE]
    calls: dict[str, Callable[[], object]] = {
        UNGATED: partial(ungated_read_batch, runtime.sessions, runtime.vault, sample)
    }
    for gate in gates:
        calls[gate.side] = partial(
            gated_read_batch, runtime.sessions, runtime.vault, gate, sample, now
        )
    counts: dict[str, float] = {}
    for side, call in calls.items():
        with count_statements(runtime.engine) as counter:
            call()
        # BEGIN (SQLite's BEGIN IMMEDIATE is a statement; PostgreSQL's is implicit) is not a
        # statement of the read: leave it out on both backends.
        begin = 1 if runtime.engine.dialect.name == "sqlite" else 0
        counts[side] = (counter[0] - begin) / len(sample)
    return counts


# ----------------------------------------------------------------------------------- log
def append_batch(
    sessions: sessionmaker[Session],
    gate: Gate,
    decisions: Sequence[Decision],
    subject_ids: Sequence[uuid.UUID],
) -> None:
    """``--batch`` entries through ``log_access`` in one transaction (one request, one clock
    reading), written by the unit of work's single executemany at commit."""
    with unit_of_work(sessions) as session, request_scope():
        now = utcnow()
        for subject_id in subject_ids:
            log_access(
                session,
                actor=gate.actor,
                subject_id=subject_id,
                action=Action.READ,
                purpose=gate.purpose,
                decisions=decisions,
                now=now,
            )


def sequence_timed(runtime: Runtime, tick: Tick) -> tuple[int, float]:
    """(entries, seconds) of ``sequence_all`` until nothing is pending, as the CLI runs it."""
    start = time.perf_counter()
    done = sequence_all(
        runtime.sessions,
        runtime.signer,
        now_fn=utcnow,
        batch=SEQUENCER_BATCH,
        on_progress=tick,
        wait=True,
    )
    return done, time.perf_counter() - start


@dataclass(frozen=True)
class LogRun:
    backend: str
    entries: int
    build_seconds: float
    sequence_seconds: float
    verify_seconds: float
    report: VerifyReport

    @property
    def verify_seconds_1m(self) -> float:
        return self.verify_seconds * VERIFY_GOAL_ENTRIES / self.entries


def build_log(
    runtime: Runtime,
    gates: Sequence[Gate],
    entries: int,
    seed: int,
    tick: Tick,
) -> None:
    """``entries`` realistic entries through ``log_access``: 3-field reads by the three gated
    roles in turn, about a pool of 20,000 subjects, one request id and clock reading per
    :data:`BUILD_REQUEST` entries, :data:`BUILD_TRANSACTION` entries per transaction. The actors
    need not exist: the access log has no foreign keys (it outlives what it names)."""
    rng = random.Random(seed)
    pool = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(DEFAULT_N)]
    decisions = [gate_decisions(runtime.policy, gate) for gate in gates]
    written = 0
    while written < entries:
        size = min(BUILD_TRANSACTION, entries - written)
        with unit_of_work(runtime.sessions) as session:
            for start in range(0, size, BUILD_REQUEST):
                which = (written + start) // BUILD_REQUEST % len(gates)
                gate = gates[which]
                with request_scope():
                    now = utcnow()
                    for _ in range(min(BUILD_REQUEST, size - start)):
                        log_access(
                            session,
                            actor=gate.actor,
                            subject_id=pool[rng.randrange(len(pool))],
                            action=Action.READ,
                            purpose=gate.purpose,
                            decisions=decisions[which],
                            now=now,
                        )
        written += size
        tick(size)


def measure_log(
    db: Database,
    home: Path,
    gates: Sequence[Gate],
    entries: int,
    seed: int,
    bars: Bars,
    now: datetime,
) -> LogRun:
    """Build, sequence and verify a log of ``entries`` in a fresh database of its own, so the
    verified log holds exactly those entries."""
    with privguard_runtime(db.url, home, now) as runtime:
        with bars.task(f"build {db.backend}", entries) as tick:
            start = time.perf_counter()
            build_log(runtime, gates, entries, seed, tick)
            build_seconds = time.perf_counter() - start
        with bars.task(f"sequence {db.backend}", entries) as tick:
            sequenced, sequence_seconds = sequence_timed(runtime, tick)
        if sequenced != entries:
            raise SystemExit(f"sequenced {sequenced} entries, expected {entries}")
        with bars.task(f"verify {db.backend}", entries) as tick:
            seen = [0]

            def progress(done: int, _total: int) -> None:
                tick(done - seen[0])
                seen[0] = done

            public_key = runtime.signer.public_key_bytes
            start = time.perf_counter()
            with read_snapshot(runtime.engine) as conn:
                report = verify_log(conn, public_key, on_progress=progress)
            verify_seconds = time.perf_counter() - start
    return LogRun(db.backend, entries, build_seconds, sequence_seconds, verify_seconds, report)


def log_problem(run: LogRun) -> str | None:
    report = run.report
    if report.problem is not None:
        return f"{run.backend}: verify_log found a problem: {report.problem.message}"
    if (report.entries_checked, report.tree_size, report.pending) != (run.entries, run.entries, 0):
        return (
            f"{run.backend}: verify_log checked {report.entries_checked} entries (tree size "
            f"{report.tree_size}, pending {report.pending}), expected {run.entries}"
        )
    return None


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


@contextmanager
def privguard_runtime(url: str | None, home: Path, now: datetime) -> Iterator[Runtime]:
    """A database initialised the privguard way (``privguard init``: keyring, migrations)."""
    settings = Settings(
        home=home,
        database_url=url,
        key_provider="file",
        key_file=home / "master.key",
        catalog_path=None,
    )
    initialise(settings, now=now)
    runtime = build_runtime(settings)
    try:
        yield runtime
    finally:
        runtime.close()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_database(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            sync_name = ("OFF", "NORMAL", "FULL", "EXTRA")[int(sync or 0)]
            return (
                f"SQLite {sqlite3.sqlite_version} (journal_mode={journal}, "
                f"synchronous={sync_name}) at {engine.url.database}"
            )
        version = conn.exec_driver_sql("SHOW server_version").scalar()
        sync = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
        buffers = conn.exec_driver_sql("SHOW shared_buffers").scalar()
        return (
            f"PostgreSQL {version} (synchronous_commit={sync}, shared_buffers={buffers}) "
            f"database {engine.url.database} via {engine.dialect.driver}"
        )


def describe_environment(runtime: Runtime, args: argparse.Namespace) -> list[str]:
    return [
        f"python       {platform.python_implementation()} {platform.python_version()} "
        f"on {platform.platform()}",
        f"cpu          {cpu_model()} ({os.cpu_count()} logical CPUs)",
        f"libraries    SQLAlchemy {sqlalchemy.__version__}, cryptography {cryptography.__version__}"
        f" ({openssl_backend.openssl_version_text()})",
        f"database     {describe_database(runtime.engine)}",
        f"workload     N={args.n} subjects x {len(FIELDS)} fields, {len(READ_FIELDS)} read "
        f"({', '.join(READ_FIELDS)}), batch={args.batch} per transaction, "
        f"log entries={args.log_entries}, seed={args.seed}",
    ]


# ----------------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Gated vs ungated reads, access-log append/sequence throughput and "
        "audit verify time.",
    )
    parser.add_argument(
        "n", nargs="?", type=int, default=DEFAULT_N, help=f"subjects (default {DEFAULT_N:,})"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        help=f"reads and log entries per transaction (default {DEFAULT_BATCH})",
    )
    parser.add_argument(
        "--log-entries",
        type=int,
        default=DEFAULT_LOG_ENTRIES,
        help=f"entries in the log that audit verify checks (default {DEFAULT_LOG_ENTRIES:,})",
    )
    parser.add_argument(
        "--database-url",
        help="postgresql+psycopg://user@host/db: reads and appends run in a throw-away "
        "database the benchmark creates (and drops) on that server, and the verify log is "
        "built there as well as on SQLite. Default: SQLite in a temporary directory.",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="data and order seed")
    parser.add_argument(
        "--workdir", type=Path, help="parent of the temporary directory (default: system temp)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="cProfile each read side; write DIR/read_<side>.pstats and print the top "
        "functions to stderr (profiling inflates Python-heavy sides: ignore such a run's ratios)",
    )
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("N must be at least 1")
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    if args.log_entries < 1:
        parser.error("--log-entries must be at least 1")
    return args


@dataclass(frozen=True)
class ReadFigures:
    seconds: dict[str, float]
    statements: dict[str, float]
    append_seconds: float
    sequence_seconds: float
    appended: int


def measure_reads(
    runtime: Runtime, args: argparse.Namespace, bars: Bars, now: datetime
) -> tuple[ReadFigures | None, tuple[Gate, ...]]:
    """Parts 1 and 2 on the main database; ``None`` figures when the reads were wrong."""
    sessions, vault = runtime.sessions, runtime.vault
    n, batch = args.n, args.batch
    cast = create_cast(runtime, now)
    gates = cast.gates
    for gate in gates:
        gate_decisions(runtime.policy, gate)  # fail early if the policy changed

    with bars.task("generate", n) as tick:
        started = time.perf_counter()
        rows = generate_rows(vault, n, args.seed, now.date(), tick)
        generated = time.perf_counter() - started
    with bars.task("register", n) as tick:
        started = time.perf_counter()
        ids = register(runtime, cast, rows, batch, args.seed, now, tick)
        registered = time.perf_counter() - started
    out(
        f"data         generated and validated in {generated:.1f} s, registered with one "
        f"order each in {registered:.1f} s (not timed below)"
    )
    order = list(range(n))
    random.Random(args.seed + 1).shuffle(order)
    keep_every = max(1, n // VERIFY_SAMPLE)

    # Warm-up (untimed, every side): connection pool, statement caches, cipher objects.
    warm = [ids[i] for i in order[: min(batch, n, 200)]]
    ungated_read_batch(sessions, vault, warm)
    for gate in gates:
        gated_read_batch(sessions, vault, gate, warm, now)
    # The input rows and everything built so far are long-lived: keep the collector from
    # walking them again and again during the timed phases.
    gc.collect()
    gc.freeze()

    names = [UNGATED, *(gate.side for gate in gates)]
    kept: dict[str, dict[int, Any]] = {name: {} for name in names}

    def keeper(results: dict[int, Any]) -> Callable[[int, Sequence[Any]], None]:
        def keep(index: int, batch_results: Sequence[Any]) -> None:
            for offset, result in enumerate(batch_results):
                position = index * batch + offset
                if position % keep_every == 0:
                    results[position] = result

        return keep

    ordered = chunks([ids[i] for i in order], batch)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with bars.task("read (4 sides)", len(ordered)) as tick:
        seconds = race(
            names,
            [
                [
                    partial(ungated_read_batch, sessions, vault, chunk),
                    *(partial(gated_read_batch, sessions, vault, g, chunk, now) for g in gates),
                ]
                for chunk in ordered
            ],
            [keeper(kept[name]) for name in names],
            tick,
            args.profile,
        )
    gc.unfreeze()

    problems = verify_reads(
        vault, rows, order, ids, keep_every, kept[UNGATED], {g: kept[g.side] for g in gates}
    )
    if problems:
        for problem in problems:
            note(f"VERIFY FAILED: {problem}")
        note("the reads returned wrong data: no result")
        return None, gates
    checked = len(range(0, n, keep_every))
    out(
        f"verified     {checked:,} of the {n:,} timed reads per side "
        f"({'all' if keep_every == 1 else f'one in {keep_every}'}): ungated = input, "
        "gated = catalog mask of input, granted by the expected rule"
    )
    statements = statements_per_read(runtime, gates, ids, now)

    # Part 2. Integrate what the registrations and reads logged first (untimed), so the timed
    # sequencer run covers exactly the appended entries.
    with unit_of_work(sessions) as session:
        earlier = pending_entries(session)
    with bars.task("sequence earlier", earlier) as tick:
        sequence_timed(runtime, tick)
    merchant = gates[0]
    decisions = gate_decisions(runtime.policy, merchant)
    appended = [ids[i] for i in order]
    with bars.task("append", n) as tick:
        append_seconds = 0.0
        for chunk in chunks(appended, batch):
            start = time.perf_counter()
            append_batch(sessions, merchant, decisions, chunk)
            append_seconds += time.perf_counter() - start
            tick(len(chunk))
    with bars.task("sequence", n) as tick:
        sequenced, sequence_seconds = sequence_timed(runtime, tick)
    if sequenced != n:
        raise SystemExit(f"sequenced {sequenced} entries, expected {n}")
    return ReadFigures(seconds, statements, append_seconds, sequence_seconds, n), gates


def run(args: argparse.Namespace, workdir: Path, now: datetime) -> int:
    db = prepare_database(args.database_url, workdir)
    logs: list[LogRun] = []
    try:
        with Bars(not args.no_progress) as bars:
            with privguard_runtime(db.url, workdir / "home", now) as runtime:
                for line in describe_environment(runtime, args):
                    out(line)
                figures, gates = measure_reads(runtime, args, bars, now)
            if figures is None:
                return 2
            log_dbs = [Database(None, "sqlite", lambda: None)]
            if db.backend == "postgresql":
                log_dbs.append(prepare_database(args.database_url, workdir))
            for index, log_db in enumerate(log_dbs):
                try:
                    logs.append(
                        measure_log(
                            log_db,
                            workdir / f"log-{index}",
                            gates,
                            args.log_entries,
                            args.seed,
                            bars,
                            now,
                        )
                    )
                finally:
                    log_db.drop()
    finally:
        db.drop()
    problems = [p for p in map(log_problem, logs) if p]
    if problems:
        for problem in problems:
            note(f"VERIFY FAILED: {problem}")
        note("audit verify did not find the log intact: no result")
        return 2
    return report(args, db, figures, gates, logs)


def report(
    args: argparse.Namespace,
    db: Database,
    figures: ReadFigures,
    gates: Sequence[Gate],
    logs: Sequence[LogRun],
) -> int:
    n = args.n
    seconds = figures.seconds
    base = seconds[UNGATED]
    us = {side: s / n * 1e6 for side, s in seconds.items()}
    labels = {UNGATED: "load, unwrap, open, decrypt", **{g.side: g.label for g in gates}}
    out()
    out(
        f"{'read side':<10} {'as / for':<34} {'seconds':>8} {'reads/s':>9} {'µs/read':>8} "
        f"{'ratio':>6} {'stmts':>6}"
    )
    for side, s in seconds.items():
        out(
            f"{side:<10} {labels[side]:<34} {s:>8.3f} {n / s:>9,.0f} {us[side]:>8.1f} "
            f"{s / base:>6.2f} {figures.statements[side]:>6.2f}"
        )
    out("             (stmts: per read, after BEGIN to end of COMMIT; the access-log")
    out("             executemany at commit counts once per transaction)")
    read_ratio = seconds["merchant"] / base
    cs_ratio = seconds["support"] / base
    operator_ratio = seconds["operator"] / base
    read_ok = read_ratio <= GOAL_READ
    out()
    out(
        f"read_ratio   {read_ratio:.2f}  (merchant / ungated time; goal <= {GOAL_READ}: "
        f"{'met' if read_ok else 'MISSED'})"
    )
    out(f"cs_ratio     {cs_ratio:.2f}  (customer_service / ungated; ticket query, no orders)")
    out(f"op_ratio     {operator_ratio:.2f}  (platform_admin / ungated; no facts query)")
    if args.profile:
        out("profiled     timings above include cProfile overhead: do not quote these ratios")

    append_rate = figures.appended / figures.append_seconds
    sequence_rate = figures.appended / figures.sequence_seconds
    out()
    out(f"access log   on {db.backend}, {figures.appended:,} entries (a merchant's 3-field read)")
    out(
        f"append       {figures.append_seconds:8.3f} s  {append_rate:>9,.0f} entries/s  "
        f"(log_access, {args.batch} per transaction, one executemany at commit)"
    )
    out(
        f"sequence     {figures.sequence_seconds:8.3f} s  {sequence_rate:>9,.0f} entries/s  "
        f"(sequence_all, one signed head per {SEQUENCER_BATCH:,})"
    )

    out()
    out(f"audit verify {args.log_entries:,} entries, each in a fresh database")
    out(
        f"{'database':<12} {'build s':>9} {'entries/s':>10} {'sequence s':>11} {'entries/s':>10} "
        f"{'verify s':>9} {'entries/s':>10} {'per 1M s':>9}"
    )
    for log in logs:
        e = log.entries
        out(
            f"{log.backend:<12} {log.build_seconds:>9.2f} {e / log.build_seconds:>10,.0f} "
            f"{log.sequence_seconds:>11.2f} {e / log.sequence_seconds:>10,.0f} "
            f"{log.verify_seconds:>9.2f} {e / log.verify_seconds:>10,.0f} "
            f"{log.verify_seconds_1m:>9.2f}"
        )
    sqlite_log = next(log for log in logs if log.backend == "sqlite")
    verify_1m = sqlite_log.verify_seconds_1m
    verify_ok = verify_1m < GOAL_VERIFY_SECONDS
    scaled = (
        ""
        if args.log_entries == VERIFY_GOAL_ENTRIES
        else f"scaled linearly from {args.log_entries:,}, "
    )
    out(
        f"verify_1m    {verify_1m:.2f} s on SQLite ({scaled}log intact; goal < "
        f"{GOAL_VERIFY_SECONDS:.0f} s for 1,000,000: {'met' if verify_ok else 'MISSED'})"
    )

    result: dict[str, Any] = {
        "read_ratio": round(read_ratio, 2),
        "verify_seconds_1m": round(verify_1m, 2),
        "verify_entries": args.log_entries,
        "cs_ratio": round(cs_ratio, 2),
        "operator_ratio": round(operator_ratio, 2),
        "gated_us": round(us["merchant"], 1),
        "cs_us": round(us["support"], 1),
        "operator_us": round(us["operator"], 1),
        "ungated_us": round(us[UNGATED], 1),
        "append_per_second": round(append_rate),
        "sequence_per_second": round(sequence_rate),
        "log_build_per_second": round(sqlite_log.entries / sqlite_log.build_seconds),
        "log_sequence_per_second": round(sqlite_log.entries / sqlite_log.sequence_seconds),
        "verify_per_second": round(sqlite_log.entries / sqlite_log.verify_seconds),
    }
    for log in logs:
        if log.backend != "sqlite":
            result[f"verify_seconds_1m_{log.backend}"] = round(log.verify_seconds_1m, 2)
    result.update(
        {
            "database": db.backend,
            "n": n,
            "batch": args.batch,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "goals_met": read_ok and verify_ok,
        }
    )
    out(json.dumps(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    now = datetime.now(UTC).replace(microsecond=0)
    workdir = Path(tempfile.mkdtemp(prefix="privguard-bench-", dir=args.workdir))
    try:
        return run(args, workdir, now)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
