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
import gc
import json
import platform
import random
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

import _common as common
from _common import Row, Tick, out
from privguard.actors.service import create_actor
from privguard.actors.system import cli_actor
from privguard.audit.context import request_scope
from privguard.audit.sequencer import pending_entries, sequence_all
from privguard.audit.service import log_access
from privguard.audit.verify import VerifyReport, read_snapshot, verify_log
from privguard.bootstrap import Runtime
from privguard.catalog.masking import MASKERS
from privguard.clock import utcnow
from privguard.crypto.envelope import field_aad
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
from privguard.store.uow import unit_of_work
from privguard.vault.record import open_record
from privguard.vault.service import ReadResult, Vault, _decode

# Every subject stores exactly _common.FIELDS; every read asks for READ_FIELDS, the contact
# details a merchant may see for an order.
READ_FIELDS: tuple[str, ...] = ("name", "mobile_phone", "shipping_addresses")
UNGATED = "ungated"
GOAL_READ = 1.5
GOAL_VERIFY_SECONDS = 10.0
VERIFY_GOAL_ENTRIES = 1_000_000
DEFAULT_LOG_ENTRIES = VERIFY_GOAL_ENTRIES
SEQUENCER_BATCH = 1000  # sequence_all's default: one signed head per 1,000 entries
BUILD_TRANSACTION = 10_000  # log entries per transaction while building the large log
BUILD_REQUEST = 10  # log entries per request id while building it (a page of reads)
STATEMENT_SAMPLE = 100  # reads per side whose statements are counted


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
    for chunk in common.chunks(rows, batch):
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
        with common.count_statements(runtime.engine) as counter:
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
    pool = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(common.DEFAULT_N)]
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
    db: common.Database,
    home: Path,
    gates: Sequence[Gate],
    entries: int,
    seed: int,
    bars: common.Bars,
    now: datetime,
) -> LogRun:
    """Build, sequence and verify a log of ``entries`` in a fresh database of its own, so the
    verified log holds exactly those entries."""
    with common.privguard_runtime(db.url, home, now) as runtime:
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


# ----------------------------------------------------------------------------------- main
def workload(args: argparse.Namespace) -> str:
    """The end of the report's ``workload`` line: what is read, batched and logged."""
    return (
        f"{len(READ_FIELDS)} read ({', '.join(READ_FIELDS)}), batch={args.batch} per "
        f"transaction, log entries={args.log_entries}, seed={args.seed}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = common.argument_parser(
        "Gated vs ungated reads, access-log append/sequence throughput and audit verify time."
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=common.DEFAULT_BATCH,
        help=f"reads and log entries per transaction (default {common.DEFAULT_BATCH})",
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
    common.add_run_options(parser)
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="cProfile each read side; write DIR/read_<side>.pstats and print the top "
        "functions to stderr (profiling inflates Python-heavy sides: ignore such a run's ratios)",
    )
    return common.parse_positive(parser, argv, "--batch", "--log-entries")


@dataclass(frozen=True)
class ReadFigures:
    seconds: dict[str, float]
    statements: dict[str, float]
    append_seconds: float
    sequence_seconds: float
    appended: int


def measure_reads(
    runtime: Runtime, args: argparse.Namespace, bars: common.Bars, now: datetime
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
        rows = common.generate_rows(vault, n, args.seed, now.date(), tick)
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
    keep_every = max(1, n // common.VERIFY_SAMPLE)

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

    ordered = common.chunks([ids[i] for i in order], batch)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with bars.task("read (4 sides)", len(ordered)) as tick:
        seconds = common.race(
            names,
            [
                [
                    partial(ungated_read_batch, sessions, vault, chunk),
                    *(partial(gated_read_batch, sessions, vault, g, chunk, now) for g in gates),
                ]
                for chunk in ordered
            ],
            [common.keeper(kept[name], batch, keep_every) for name in names],
            tick,
            args.profile,
            profile_prefix="read ",
        )
    gc.unfreeze()

    problems = verify_reads(
        vault, rows, order, ids, keep_every, kept[UNGATED], {g: kept[g.side] for g in gates}
    )
    if common.verify_failed(problems, "the reads returned wrong data: no result"):
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
        for chunk in common.chunks(appended, batch):
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
    db = common.prepare_database(args.database_url, workdir)
    logs: list[LogRun] = []
    try:
        with common.Bars(not args.no_progress, label_width=16) as bars:
            with common.privguard_runtime(db.url, workdir / "home", now) as runtime:
                for line in common.describe_environment(runtime.engine, args.n, workload(args)):
                    out(line)
                figures, gates = measure_reads(runtime, args, bars, now)
            if figures is None:
                return 2
            log_dbs = [common.Database(None, "sqlite", lambda: None)]
            if db.backend == "postgresql":
                log_dbs.append(common.prepare_database(args.database_url, workdir))
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
    if common.verify_failed(problems, "audit verify did not find the log intact: no result"):
        return 2
    return report(args, db, figures, gates, logs)


def report(
    args: argparse.Namespace,
    db: common.Database,
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
    with common.workspace(args.workdir) as workdir:
        return run(args, workdir, now)


if __name__ == "__main__":
    sys.exit(main())
