"""What the data-subject rights cost when a customer has a long history: erase, purge, export.

A busy buyer can have 100,000 orders, and the law's retention (E-Commerce Law Art. 31) leaves a
million kept records behind erased accounts. The code promises that none of that shows: erasure
touches the subject's own rows, not their orders; the retention sweep deletes in bounded batches;
the export streams every table in chunks. This measures those promises, each against a baseline
measured in the same run, because on a shared 2-core VM figures from different minutes are not
comparable:

1. **Erase vs history.** Subjects (realistic zh_CN PI of vault.py plus a purchase_history of a
   few entries) with ``--sizes`` orders each (default 10, 1,000 and 100,000, bulk-inserted). One
   erasure = one unit of work: ``last_transaction`` (it decides what is kept, so it is part of a
   deletion) and ``Vault.erase`` as the operator (platform_admin), commit included.
   ``--repeats`` subjects per size, erased in rotation (each size leads equally often),
   median reported. Goal: flat (ratio to the smallest size near 1). After each erasure the
   subject must be ``erased`` with a restricted record kept, else exit 2.

2. **Retention sweep.** ``--records`` restricted records (90 % past ``keep_until``, 10 % not)
   bulk-inserted with random bytes of the sizes real erasures just wrote (purge never decrypts),
   then ``Vault.purge_restricted(limit=1000)`` in one transaction per batch until it returns 0.
   Baseline: one ``DELETE ... WHERE keep_until <= now`` over an identical copy table (same rows,
   same indexes). Exactly the 90 % must be gone from each, else exit 2.

3. **Export memory.** ``write_export`` as the consumer themselves into a temporary file for a
   consumer with ``--export-orders`` orders (100,000) and one with ``--baseline-orders`` (100),
   peak Python heap by ``tracemalloc``. Goal: flat (ratio near 1). The zip must open and its
   orders.csv hold exactly the orders, else exit 2.

4. **Live-field sweep.** ``--live-subjects`` (100,000) subjects with the realistic PI of
   vault.py plus a precise location and a browsing history (the fields of the shipped catalog
   that expire from collection, with device_id and ip_address), registered with
   ``Vault.insert_validated`` in chunks of 500, each chunk at a random time in the last 400
   days, so a realistic share of them has 0 to 4 fields due. The first retention run recomputes
   every ``next_expiry`` (no rules digest recorded yet) with a cut-off before the oldest
   registration, so it removes nothing: reported on its own. Then ``run_retention`` at ``now``
   (batches of ``--live-batch``, 1,000: ``privguard retention run``'s default), the timed sweep:
   locate due subjects by ``next_expiry``, reseal, anonymise or delete, log one entry each.
   Then the same run again with nothing due. Baseline: the same population in a plain table
   (one column per field, a ``*_at`` column with an index per expiring field), swept by one
   ``UPDATE ... SET f = NULL WHERE f_at <= now - days`` per field in one transaction. Every due
   value must be gone from each side and no other, per field, and the anonymised counts must
   add up, else exit 2.

The last line of stdout is one JSON object starting with ``erase_ratio``, ``purge_records_per_s``
and ``export_peak_ratio``, then ``live_subjects_per_s`` and ``live_fields_per_s`` among the
other keys. Progress goes to stderr.

Usage::

    python benchmarks/rights.py [--sizes 10,1000,100000] [--records 1000000]
        [--export-orders 100000] [--live-subjects 100000] [--database-url URL]

See benchmarks/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    MetaData,
    Table,
    Text,
    Uuid,
    delete,
    func,
    insert,
    select,
    update,
)

import _common as common
from _common import Tick, out
from privguard.actors.service import create_actor
from privguard.actors.system import cli_actor
from privguard.bootstrap import Runtime
from privguard.marketplace.models import Order, Organisation
from privguard.marketplace.service import last_transaction
from privguard.policy.rules import ActorRef, Role
from privguard.rights import retention as runs
from privguard.rights.export import write_export
from privguard.rights.retention_models import AnonymisedCount
from privguard.store.uow import unit_of_work
from privguard.vault import retention as sweep
from privguard.vault.models import RestrictedRecord, Subject

ORDERS = Order.__table__
RESTRICTED = RestrictedRecord.__table__
SUBJECTS = Subject.__table__
DEFAULT_SIZES = (10, 1000, 100_000)
DEFAULT_RECORDS = 1_000_000
DEFAULT_EXPORT_ORDERS = 100_000
DEFAULT_BASELINE_ORDERS = 100
DEFAULT_REPEATS = 3
DEFAULT_LIVE_SUBJECTS = 100_000
DEFAULT_LIVE_BATCH = 1000  # privguard retention run --batch-size default
LIVE_CHUNK = 500  # subjects registered per insert_validated call, all at one time
LIVE_SPAN_DAYS = 400  # registrations spread over this many days before now
# The shipped catalog's fields that expire while the account exists (keep_until: collection).
LIVE_FIELDS = ("precise_location", "browsing_history", "device_id", "ip_address")
PURGE_LIMIT = 1000  # purge_restricted's default batch: what the scheduled sweep uses
INSERT_CHUNK = 10_000  # rows per executemany while building (memory bounded, few round trips)
EXPIRED_SHARE = 0.9
HISTORY_ENTRIES = 5
BASIS = "E-Commerce Law Art. 31: transaction records kept at least 3 years"  # as the catalog


@dataclass(frozen=True)
class Cast:
    """The merchant the orders are placed with and the actors of the run."""

    merchant_id: uuid.UUID
    admin: ActorRef  # registers subjects, as import and seed do
    officer: ActorRef  # carries out erasure requests (rule rights.erase-on-request)


@dataclass
class Figures:
    erase: dict[int, list[float]] = field(default_factory=dict)
    lookup: dict[int, list[float]] = field(default_factory=dict)  # last_transaction's share
    build_seconds: float = 0.0
    purge_seconds: float = 0.0
    purge_batches: int = 0
    delete_seconds: float = 0.0
    expired: int = 0
    sizes: tuple[int, int] = (0, 0)  # wrapped_key, sealed bytes per built record
    export: dict[int, tuple[int, float, int]] = field(default_factory=dict)  # peak, s, zip bytes
    live_build_seconds: float = 0.0
    live_reschedule_seconds: float = 0.0
    live_seconds: float = 0.0
    live_idle_seconds: float = 0.0
    live_update_seconds: float = 0.0
    live_batches: int = 0
    live_subjects: int = 0  # records changed by the timed run
    live_fields: int = 0  # values removed by it (deleted + anonymised)
    live_anonymised: int = 0
    live_expected: dict[str, int] = field(default_factory=dict)  # due values per field


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Erase vs order history, retention sweep throughput, export peak memory."
    )
    parser.add_argument(
        "--sizes",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        default=DEFAULT_SIZES,
        help="orders per erased subject, comma-separated, smallest first (default 10,1000,100000)",
    )
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="subjects per size")
    parser.add_argument(
        "--records", type=int, default=DEFAULT_RECORDS, help="restricted records to sweep"
    )
    parser.add_argument("--export-orders", type=int, default=DEFAULT_EXPORT_ORDERS)
    parser.add_argument("--baseline-orders", type=int, default=DEFAULT_BASELINE_ORDERS)
    parser.add_argument(
        "--live-subjects",
        type=int,
        default=DEFAULT_LIVE_SUBJECTS,
        help="subjects for the live-field sweep (default 100,000)",
    )
    parser.add_argument(
        "--live-batch", type=int, default=DEFAULT_LIVE_BATCH, help="subjects per sweep batch"
    )
    parser.add_argument(
        "--database-url",
        help="postgresql+psycopg://user@host/db: run in a throw-away database the benchmark "
        "creates there (default: SQLite in the temporary directory)",
    )
    common.add_run_options(parser)
    args = parser.parse_args(argv)
    numbers = [
        *args.sizes,
        args.repeats,
        args.records,
        args.export_orders,
        args.baseline_orders,
        args.live_subjects,
        args.live_batch,
    ]
    if min(numbers) < 1:
        parser.error("sizes, repeats, records, order counts and live sizes must be at least 1")
    return args


# ----------------------------------------------------------------------------------- setup
def create_cast(runtime: Runtime, now: datetime) -> Cast:
    """A platform and a merchant organisation as tests/integration/world.py makes them (orders
    reference the merchant), the CLI admin and a privacy officer."""
    with unit_of_work(runtime.sessions) as session:
        orgs = {}
        for kind, name in (("platform", "示例商城平台"), ("merchant", "甲果园旗舰店")):
            org = Organisation(organisation_id=uuid.uuid4(), kind=kind, name=name, created_at=now)
            session.add(org)
            orgs[kind] = org.organisation_id
        session.flush()
        officer = create_actor(
            session,
            display_name="个人信息保护负责人 李娜",
            role=Role.PRIVACY_OFFICER,
            now=now,
            organisation_id=orgs["platform"],
        )
        officer_ref = ActorRef(
            officer.actor_id, Role.PRIVACY_OFFICER, orgs["platform"], officer.display_name
        )
        admin = cli_actor(session, now=now)
    return Cast(orgs["merchant"], admin, officer_ref)


def purchase_history(rng: random.Random) -> list[dict[str, Any]]:
    """A few entries, so erasure has a field whose retention (3 years from the last order)
    sends it to the restricted store: the expensive branch of ``erase``."""
    return [
        {
            "sku": f"SKU-{rng.randint(10_000, 99_999)}",
            "qty": rng.randint(1, 3),
            "price": rng.randint(990, 29_900) / 100,
        }
        for _ in range(HISTORY_ENTRIES)
    ]


def add_subjects(
    runtime: Runtime, cast: Cast, counts: Sequence[int], seed: int, now: datetime, tick: Tick
) -> list[uuid.UUID]:
    """One subject per entry of ``counts`` with that many orders, delivered in the last year
    (so the purchase history is still under retention), bulk-inserted with Core executemany."""
    rng = random.Random(seed)
    rows = common.generate_rows(runtime.vault, len(counts), seed, now.date(), lambda _n: None)
    ids: list[uuid.UUID] = []
    for row, count in zip(rows, counts, strict=True):
        with unit_of_work(runtime.sessions) as session:
            pi = {**row, "purchase_history": purchase_history(rng)}
            subject_id = runtime.vault.register(session, cast.admin, pi, now=now)
        for start in range(0, count, INSERT_CHUNK):
            size = min(INSERT_CHUNK, count - start)
            with unit_of_work(runtime.sessions) as session:
                batch = []
                for _ in range(size):
                    placed = now - timedelta(days=rng.uniform(2, 365))
                    batch.append(
                        {
                            "order_id": uuid.uuid4(),
                            "subject_id": subject_id,
                            "merchant_id": cast.merchant_id,
                            "carrier_id": None,
                            "courier_id": None,
                            "status": "delivered",
                            "total_cents": rng.randint(990, 99_900),
                            "item_count": rng.randint(1, 5),
                            "placed_at": placed,
                            "delivered_at": placed + timedelta(days=1),
                        }
                    )
                session.connection().execute(insert(ORDERS), batch)
            tick(size)
        ids.append(subject_id)
    return ids


# ----------------------------------------------------------------------------------- 1. erase
def erase_one(
    runtime: Runtime, officer: ActorRef, subject_id: uuid.UUID, now: datetime
) -> tuple[float, float]:
    """Seconds for one erasure as the API does it (one transaction, commit included), and the
    part of them spent in ``last_transaction``: the only step that reads the orders, so the one
    that can grow with the history."""
    gc.collect()
    start = time.perf_counter()
    with unit_of_work(runtime.sessions) as session:
        last = last_transaction(session, subject_id)
        lookup = time.perf_counter() - start
        runtime.vault.erase(session, officer, subject_id, now=now, last_transaction=last)
    return time.perf_counter() - start, lookup


def check_erased(runtime: Runtime, subject_id: uuid.UUID) -> list[str]:
    with runtime.engine.connect() as conn:
        status = conn.execute(
            select(SUBJECTS.c.status).where(SUBJECTS.c.subject_id == subject_id)
        ).scalar()
        kept = conn.execute(
            select(func.count())
            .select_from(RESTRICTED)
            .where(RESTRICTED.c.subject_id == subject_id)
        ).scalar()
    problems = []
    if status != "erased":
        problems.append(f"subject {subject_id} has status {status!r} after erase")
    if not kept:
        problems.append(f"subject {subject_id}: no restricted record kept after erase")
    return problems


def measure_erase(
    runtime: Runtime,
    cast: Cast,
    args: argparse.Namespace,
    bars: common.Bars,
    now: datetime,
    figures: Figures,
) -> list[str]:
    sizes: tuple[int, ...] = args.sizes
    counts = [size for _ in range(args.repeats) for size in sizes]
    with bars.task("orders for erasure", sum(counts) + sizes[0]) as tick:
        warm_up, *ids = add_subjects(runtime, cast, [sizes[0], *counts], args.seed, now, tick)
    # One untimed erasure first: the first one in a process pays for cold caches and lazily
    # built statements, which would otherwise land on whichever size happened to go first.
    erase_one(runtime, cast.admin, warm_up, now)
    if problems := check_erased(runtime, warm_up):
        return problems
    by_size: dict[int, list[uuid.UUID]] = {size: [] for size in sizes}
    for subject_id, size in zip(ids, counts, strict=True):
        by_size[size].append(subject_id)
    figures.erase = {size: [] for size in sizes}
    figures.lookup = {size: [] for size in sizes}
    with bars.task("erase", len(ids)) as tick:
        for round_ in range(args.repeats):
            # Rotate which size goes first, so drift and cache warmth hit every size alike.
            for step in range(len(sizes)):
                size = sizes[(round_ + step) % len(sizes)]
                subject_id = by_size[size][round_]
                seconds, lookup = erase_one(runtime, cast.admin, subject_id, now)
                figures.erase[size].append(seconds)
                figures.lookup[size].append(lookup)
                problems = check_erased(runtime, subject_id)
                if problems:
                    return problems
                tick(1)
    return []


# ----------------------------------------------------------------------------------- 2. purge
def copy_table(metadata: MetaData) -> Table:
    """restricted_records' columns and indexes under another name (index names are global in
    SQLite, so the indexes are renamed): the baseline deletes from the same shape of data."""
    columns = [column._copy() for column in RESTRICTED.columns]
    table = Table("bench_restricted_copy", metadata, *columns)
    Index("ix_bench_restricted_copy_retention_ends", table.c.retention_ends, table.c.record_id)
    return table


def real_sizes(runtime: Runtime) -> tuple[int, int]:
    """Mean wrapped-key and sealed lengths of the records erasure just wrote, so the built
    records weigh what real ones do."""
    with runtime.engine.connect() as conn:
        row = conn.execute(
            select(
                func.avg(func.length(RESTRICTED.c.wrapped_key)),
                func.avg(func.length(RESTRICTED.c.sealed)),
            )
        ).one()
    return int(row[0] or 60), int(row[1] or 300)


def count(runtime: Runtime, table: Table, now: datetime | None = None) -> int:
    query = select(func.count()).select_from(table)
    if now is not None:
        query = query.where(table.c.retention_ends <= now)
    with runtime.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def measure_purge(
    runtime: Runtime,
    args: argparse.Namespace,
    bars: common.Bars,
    now: datetime,
    figures: Figures,
) -> list[str]:
    metadata = MetaData()
    copy = copy_table(metadata)
    metadata.create_all(runtime.engine)
    wrapped_len, sealed_len = figures.sizes = real_sizes(runtime)
    rng = random.Random(args.seed + 1)
    n = args.records
    expired = figures.expired = int(n * EXPIRED_SHARE)
    before = count(runtime, RESTRICTED)  # erasure's own records, all still under retention
    order = list(range(n))
    rng.shuffle(order)  # expired and live records interleaved in insertion order
    with bars.task("build restricted", n) as tick:
        for start in range(0, n, INSERT_CHUNK):
            rows = []
            for index in order[start : start + INSERT_CHUNK]:
                days = rng.uniform(1, 1095)
                until = (
                    now - timedelta(days=days) if index < expired else now + timedelta(days=days)
                )
                rows.append(
                    {
                        "record_id": uuid.uuid4(),
                        "subject_id": uuid.uuid4(),
                        "field": "purchase_history",
                        "master_key_id": "file:1",
                        "wrapped_key": os.urandom(wrapped_len),
                        "sealed": os.urandom(sealed_len),
                        "keep_until": until,
                        "retention_ends": until,
                        "hold_id": None,
                        "basis": BASIS,
                        "created_at": until - timedelta(days=1095),
                    }
                )
            started = time.perf_counter()
            with unit_of_work(runtime.sessions) as session:
                session.connection().execute(insert(RESTRICTED), rows)
            figures.build_seconds += time.perf_counter() - started
            with unit_of_work(runtime.sessions) as session:
                session.connection().execute(insert(copy), rows)
            tick(len(rows))
    # Baseline first: one statement, one transaction, the same rows in the same shape.
    gc.collect()
    started = time.perf_counter()
    with unit_of_work(runtime.sessions) as session:
        session.connection().execute(delete(copy).where(copy.c.retention_ends <= now))
    figures.delete_seconds = time.perf_counter() - started
    gc.collect()
    with bars.task("purge_restricted", expired) as tick:
        while True:
            started = time.perf_counter()
            with unit_of_work(runtime.sessions) as session:
                done = runtime.vault.purge_restricted(session, now=now, limit=PURGE_LIMIT)
            figures.purge_seconds += time.perf_counter() - started
            figures.purge_batches += 1
            tick(done)
            if done == 0:
                break
    problems = []
    for name, table, total in (("purge", RESTRICTED, before + n), ("DELETE", copy, n)):
        left, overdue = count(runtime, table), count(runtime, table, now)
        if overdue or left != total - expired:
            problems.append(
                f"{name}: {left:,} records left ({overdue:,} overdue), "
                f"expected {total - expired:,} (none overdue)"
            )
    return problems


# ----------------------------------------------------------------------------------- 3. export
def consumer(runtime: Runtime, subject_id: uuid.UUID, now: datetime) -> ActorRef:
    """The subject's own consumer actor, as tests/integration/world.py builds it: only the
    consumer themselves may take the export (rule self.copy-of-own-data)."""
    with unit_of_work(runtime.sessions) as session:
        actor = create_actor(
            session, display_name="买家 张伟", role=Role.CONSUMER, now=now, subject_id=subject_id
        )
        return ActorRef(
            actor.actor_id,
            Role.CONSUMER,
            actor.organisation_id,
            actor.display_name,
            actor.subject_id,
        )


def export_peak(
    runtime: Runtime, actor: ActorRef, subject_id: uuid.UUID, path: Path, now: datetime
) -> tuple[int, float]:
    """Peak traced heap (bytes) and seconds of one export, transaction and commit included.
    tracemalloc sees Python's allocations only (not SQLite's page cache), which is what grows
    if a table is held in memory; it also slows the export, so the seconds are not a speed."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    try:
        with path.open("wb") as target, unit_of_work(runtime.sessions) as session:
            write_export(
                session,
                runtime.vault,
                runtime.catalog,
                runtime.policy,
                actor,
                subject_id,
                target,
                now=now,
            )
        seconds = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, seconds


def check_export(path: Path, orders: int) -> list[str]:
    try:
        with zipfile.ZipFile(path) as package:
            bad = package.testzip()
            with package.open("orders.csv") as raw:
                rows = sum(1 for _ in csv.reader(io.TextIOWrapper(raw, encoding="utf-8"))) - 1
    except (zipfile.BadZipFile, KeyError) as error:
        return [f"export of a consumer with {orders:,} orders: {error}"]
    problems = []
    if bad is not None:
        problems.append(f"export: member {bad} is corrupt")
    if rows != orders:
        problems.append(f"export: orders.csv has {rows:,} data rows, expected {orders:,}")
    return problems


def measure_export(
    runtime: Runtime,
    cast: Cast,
    args: argparse.Namespace,
    bars: common.Bars,
    now: datetime,
    workdir: Path,
    figures: Figures,
) -> list[str]:
    counts = [args.baseline_orders, args.export_orders]
    with bars.task("orders for export", sum(counts)) as tick:
        ids = add_subjects(runtime, cast, counts, args.seed + 2, now, tick)
    for orders, subject_id in zip(counts, ids, strict=True):
        actor = consumer(runtime, subject_id, now)
        path = Path(tempfile.mkstemp(suffix=".zip", dir=workdir)[1])
        peak, seconds = export_peak(runtime, actor, subject_id, path, now)
        figures.export[orders] = (peak, seconds, path.stat().st_size)
        problems = check_export(path, orders)
        path.unlink()
        if problems:
            return problems
    return []


# ----------------------------------------------------------------------------------- 4. live
@dataclass(frozen=True)
class Chunk:
    registered: datetime
    size: int


def live_rows(
    runtime: Runtime, n: int, seed: int, now: datetime, tick: Tick
) -> list[dict[str, Any]]:
    """vault.py's realistic rows plus the two expiring fields it lacks: a precise location
    somewhere in mainland China and a short browsing history, validated like the rest."""
    rows = common.generate_rows(runtime.vault, n, seed, now.date(), tick)
    rng = random.Random(seed + 3)
    out_rows = []
    for row in rows:
        extra = {
            "precise_location": {
                "lat": round(rng.uniform(18.3, 45.0), 6),
                "lon": round(rng.uniform(98.0, 125.0), 6),
            },
            "browsing_history": [
                {"item": f"SKU-{rng.randint(10_000, 99_999)}", "seconds": rng.randint(3, 600)}
                for _ in range(3)
            ],
        }
        out_rows.append({**row, **runtime.vault.validate(extra, today=now.date())})
    return out_rows


def live_plain_table(metadata: MetaData) -> Table:
    """The baseline's shape: one text column per field, and for each expiring field the time it
    was collected, indexed (how a plain schema would find expired values)."""
    names = list(dict.fromkeys((*common.FIELDS, *LIVE_FIELDS)))
    table = Table(
        "bench_live_plain",
        metadata,
        Column("subject_id", Uuid, primary_key=True),
        *(Column(name, Text, nullable=True) for name in names),
        *(Column(f"{name}_at", DateTime(timezone=True), nullable=True) for name in LIVE_FIELDS),
    )
    for name in LIVE_FIELDS:
        Index(f"ix_bench_live_plain_{name}_at", table.c[f"{name}_at"])
    return table


def plain_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def build_live(
    runtime: Runtime,
    cast: Cast,
    args: argparse.Namespace,
    bars: common.Bars,
    now: datetime,
    plain: Table,
    figures: Figures,
) -> list[Chunk]:
    with bars.task("live: generate", args.live_subjects) as tick:
        rows = live_rows(runtime, args.live_subjects, args.seed + 4, now, tick)
    rng = random.Random(args.seed + 5)
    chunks: list[Chunk] = []
    with bars.task("live: register", len(rows)) as tick:
        for part in common.chunks(rows, LIVE_CHUNK):
            registered = (now - timedelta(days=rng.uniform(0, LIVE_SPAN_DAYS))).replace(
                microsecond=0
            )
            started = time.perf_counter()
            with unit_of_work(runtime.sessions) as session:
                ids = runtime.vault.insert_validated(session, cast.admin, part, now=registered)
            figures.live_build_seconds += time.perf_counter() - started
            plain_rows = []
            for subject_id, row in zip(ids, part, strict=True):
                record: dict[str, Any] = {"subject_id": subject_id}
                for name, value in row.items():
                    record[name] = plain_value(value)
                for name in LIVE_FIELDS:
                    record[f"{name}_at"] = registered
                plain_rows.append(record)
            with unit_of_work(runtime.sessions) as session:
                session.connection().execute(insert(plain), plain_rows)
            chunks.append(Chunk(registered, len(part)))
            tick(len(part))
    catalog = runtime.catalog
    figures.live_expected = {
        name: sum(
            c.size
            for c in chunks
            if c.registered + timedelta(days=catalog[name].retention.days) <= now
        )
        for name in LIVE_FIELDS
    }
    return chunks


def count_live_values(runtime: Runtime, population: set[uuid.UUID]) -> dict[str, int]:
    """How many values of each expiring field the population's records still hold (from the
    record layouts: names and times only, nothing decrypted)."""
    held = dict.fromkeys(LIVE_FIELDS, 0)
    with runtime.engine.connect() as conn:
        result = conn.execution_options(yield_per=5000).execute(
            select(SUBJECTS.c.subject_id, SUBJECTS.c.sealed)
        )
        for subject_id, sealed in result:
            if subject_id not in population or sealed is None:
                continue
            for name in sweep.collected(sealed):
                if name in held:
                    held[name] += 1
    return held


def measure_live(
    runtime: Runtime,
    cast: Cast,
    args: argparse.Namespace,
    bars: common.Bars,
    now: datetime,
    figures: Figures,
) -> list[str]:
    metadata = MetaData()
    plain = live_plain_table(metadata)
    metadata.create_all(runtime.engine)
    with runtime.engine.connect() as conn:
        before = set(conn.execute(select(SUBJECTS.c.subject_id)).scalars())
    chunks = build_live(runtime, cast, args, bars, now, plain, figures)
    with runtime.engine.connect() as conn:
        population = set(conn.execute(select(SUBJECTS.c.subject_id)).scalars()) - before
    oldest = min(c.registered for c in chunks) - timedelta(seconds=1)
    # Untimed by the sweep figure: the first run after an upgrade recomputes every date.
    gc.collect()
    started = time.perf_counter()
    runs.run_retention(
        runtime.sessions, runtime.vault, cast.admin, now=lambda: oldest, batch_size=args.live_batch
    )
    figures.live_reschedule_seconds = time.perf_counter() - started
    # Baseline first: one transaction, one UPDATE per expiring field.
    gc.collect()
    started = time.perf_counter()
    with unit_of_work(runtime.sessions) as session:
        for name in LIVE_FIELDS:
            limit = now - timedelta(days=runtime.catalog[name].retention.days)
            session.connection().execute(
                update(plain)
                .where(plain.c[f"{name}_at"] <= limit)
                .values({name: None, f"{name}_at": None})
            )
    figures.live_update_seconds = time.perf_counter() - started
    gc.collect()
    with bars.task("live: retention run", sum(c.size for c in chunks)) as tick:

        def batch_done(step: runs.Step) -> None:
            figures.live_batches += 1
            if step.phase == runs.LIVE:
                tick(step.done)

        started = time.perf_counter()
        result = runs.run_retention(
            runtime.sessions,
            runtime.vault,
            cast.admin,
            now=lambda: now,
            batch_size=args.live_batch,
            on_batch=batch_done,
        )
        figures.live_seconds = time.perf_counter() - started
    started = time.perf_counter()
    idle = runs.run_retention(
        runtime.sessions, runtime.vault, cast.admin, now=lambda: now, batch_size=args.live_batch
    )
    figures.live_idle_seconds = time.perf_counter() - started
    figures.live_subjects = result.subjects
    figures.live_fields = result.fields_deleted + result.fields_anonymised
    figures.live_anonymised = result.fields_anonymised
    return check_live(runtime, plain, population, chunks, result, idle, figures)


def check_live(
    runtime: Runtime,
    plain: Table,
    population: set[uuid.UUID],
    chunks: Sequence[Chunk],
    result: runs.RunSummary,
    idle: runs.RunSummary,
    figures: Figures,
) -> list[str]:
    expected = figures.live_expected
    total = sum(c.size for c in chunks)
    problems = []
    removed = {**result.deleted, **result.anonymised}
    if removed != {k: v for k, v in expected.items() if v}:
        problems.append(f"retention run removed {removed}, expected {expected}")
    left = count_live_values(runtime, population)
    with runtime.engine.connect() as conn:
        plain_left = {
            name: int(
                conn.execute(
                    select(func.count()).select_from(plain).where(plain.c[name].is_not(None))
                ).scalar_one()
            )
            for name in LIVE_FIELDS
        }
        anonymised = dict(
            conn.execute(
                select(AnonymisedCount.field, func.sum(AnonymisedCount.count)).group_by(
                    AnonymisedCount.field
                )
            ).all()
        )
        overdue = conn.execute(
            select(func.count()).select_from(SUBJECTS).where(SUBJECTS.c.next_expiry <= idle.cutoff)
        ).scalar_one()
    for name in LIVE_FIELDS:
        if left[name] != total - expected[name]:
            problems.append(
                f"vault: {left[name]:,} {name} left, expected {total - expected[name]:,}"
            )
        if plain_left[name] != total - expected[name]:
            problems.append(
                f"UPDATE: {plain_left[name]:,} {name} left, expected {total - expected[name]:,}"
            )
    if {k: int(v) for k, v in anonymised.items()} != dict(result.anonymised):
        problems.append(
            f"anonymised counts {anonymised} do not match the run's {result.anonymised}"
        )
    if idle.subjects or overdue:
        problems.append(f"second run changed {idle.subjects} records; {overdue} still overdue")
    return problems


# ----------------------------------------------------------------------------------- report
def report(args: argparse.Namespace, db: common.Database, figures: Figures) -> int:
    sizes: tuple[int, ...] = args.sizes
    medians = {size: statistics.median(times) for size, times in figures.erase.items()}
    first = medians[sizes[0]]
    out()
    out(
        f"erase        one subject per transaction, median of {args.repeats} "
        "(ms; last_tx: the last_transaction part)"
    )
    out(f"{'orders':>10} {'median':>9} {'min':>9} {'max':>9} {'ratio':>7} {'last_tx':>9}")
    for size in sizes:
        times = figures.erase[size]
        out(
            f"{size:>10,} {medians[size] * 1e3:>9.2f} {min(times) * 1e3:>9.2f} "
            f"{max(times) * 1e3:>9.2f} {medians[size] / first:>7.2f} "
            f"{statistics.median(figures.lookup[size]) * 1e3:>9.2f}"
        )
    n, expired = args.records, figures.expired
    rate = expired / figures.purge_seconds
    delete_rate = expired / figures.delete_seconds
    out()
    out(
        f"purge        {n:,} records built in {figures.build_seconds:.1f} s "
        f"({n / figures.build_seconds:,.0f}/s; wrapped_key {figures.sizes[0]} B, sealed "
        f"{figures.sizes[1]} B), {expired:,} expired"
    )
    out(f"{'side':<40} {'seconds':>8} {'records/s':>11} {'ratio':>7}")
    out(
        f"{'DELETE WHERE retention_ends <= now (base)':<40} {figures.delete_seconds:>8.2f} "
        f"{delete_rate:>11,.0f} {1:>7.2f}"
    )
    label = f"purge_restricted, {figures.purge_batches} transactions"
    out(
        f"{label:<40} {figures.purge_seconds:>8.2f} {rate:>11,.0f} "
        f"{figures.purge_seconds / figures.delete_seconds:>7.2f}"
    )
    base_peak, base_s, base_bytes = figures.export[args.baseline_orders]
    big_peak, big_s, big_bytes = figures.export[args.export_orders]
    out()
    out("export       peak traced heap (tracemalloc), seconds under tracemalloc")
    out(f"{'orders':>10} {'peak MiB':>9} {'seconds':>8} {'zip KiB':>9} {'ratio':>7}")
    for orders, (peak, seconds, size) in sorted(figures.export.items()):
        out(
            f"{orders:>10,} {peak / 2**20:>9.2f} {seconds:>8.2f} {size / 1024:>9,.0f} "
            f"{peak / base_peak:>7.2f}"
        )
    live_total = args.live_subjects
    live_rate = figures.live_subjects / figures.live_seconds
    field_rate = figures.live_fields / figures.live_seconds
    update_rate = figures.live_fields / figures.live_update_seconds
    out()
    out(
        f"live sweep   {live_total:,} subjects registered over {LIVE_SPAN_DAYS} days in "
        f"{figures.live_build_seconds:.1f} s; due: "
        + ", ".join(f"{n} {v:,}" for n, v in figures.live_expected.items())
    )
    out(
        f"             first run recomputes every date: {figures.live_reschedule_seconds:.2f} s "
        f"({live_total / figures.live_reschedule_seconds:,.0f} subjects/s)"
    )
    out(f"{'side':<40} {'seconds':>8} {'subjects/s':>11} {'fields/s':>10} {'ratio':>7}")
    out(
        f"{'UPDATE SET f = NULL WHERE f_at <= (base)':<40} {figures.live_update_seconds:>8.2f} "
        f"{figures.live_subjects / figures.live_update_seconds:>11,.0f} {update_rate:>10,.0f} "
        f"{1:>7.2f}"
    )
    label = f"retention run, {figures.live_batches} transactions"
    out(
        f"{label:<40} {figures.live_seconds:>8.2f} {live_rate:>11,.0f} {field_rate:>10,.0f} "
        f"{figures.live_seconds / figures.live_update_seconds:>7.2f}"
    )
    out(f"{'retention run again, nothing due':<40} {figures.live_idle_seconds:>8.2f}")
    result = {
        "erase_ratio": round(medians[sizes[-1]] / first, 3),
        "purge_records_per_s": round(rate),
        "export_peak_ratio": round(big_peak / base_peak, 3),
        "erase_ms": {str(size): round(medians[size] * 1e3, 3) for size in sizes},
        "last_transaction_ms": {
            str(size): round(statistics.median(figures.lookup[size]) * 1e3, 3) for size in sizes
        },
        "purge_seconds": round(figures.purge_seconds, 3),
        "purge_vs_delete": round(figures.purge_seconds / figures.delete_seconds, 2),
        "delete_records_per_s": round(delete_rate),
        "build_seconds": round(figures.build_seconds, 2),
        "records": n,
        "export_peak_bytes": {
            str(args.baseline_orders): base_peak,
            str(args.export_orders): big_peak,
        },
        "export_seconds": {
            str(args.baseline_orders): round(base_s, 3),
            str(args.export_orders): round(big_s, 3),
        },
        "export_zip_bytes": {
            str(args.baseline_orders): base_bytes,
            str(args.export_orders): big_bytes,
        },
        "live_subjects_per_s": round(live_rate),
        "live_fields_per_s": round(field_rate),
        "live_vs_update": round(figures.live_seconds / figures.live_update_seconds, 2),
        "live_update_fields_per_s": round(update_rate),
        "live_seconds": round(figures.live_seconds, 3),
        "live_idle_seconds": round(figures.live_idle_seconds, 3),
        "live_reschedule_subjects_per_s": round(live_total / figures.live_reschedule_seconds),
        "live_population": live_total,
        "live_subjects_changed": figures.live_subjects,
        "live_fields_removed": figures.live_fields,
        "live_fields_anonymised": figures.live_anonymised,
        "backend": db.backend,
    }
    out(json.dumps(result))
    return 0


def run(args: argparse.Namespace, workdir: Path, now: datetime) -> int:
    db = common.prepare_database(args.database_url, workdir)
    figures = Figures()
    try:
        with (
            common.Bars(not args.no_progress, label_width=20) as bars,
            common.privguard_runtime(db.url, workdir / "home", now) as runtime,
        ):
            # The N/fields workload line of describe_environment does not fit this benchmark.
            for line in common.describe_environment(runtime.engine, 0, "")[:-1]:
                out(line)
            out(
                f"workload     erase with {','.join(f'{s:,}' for s in args.sizes)} orders x "
                f"{args.repeats}; sweep {args.records:,} restricted records; export with "
                f"{args.baseline_orders:,} and {args.export_orders:,} orders; live-field "
                f"sweep over {args.live_subjects:,} subjects"
            )
            cast = create_cast(runtime, now)
            problems = measure_erase(runtime, cast, args, bars, now, figures)
            if common.verify_failed(problems, "erasure did not erase: no result"):
                return 2
            problems = measure_purge(runtime, args, bars, now, figures)
            if common.verify_failed(problems, "the sweep deleted the wrong records: no result"):
                return 2
            problems = measure_export(runtime, cast, args, bars, now, workdir, figures)
            if common.verify_failed(problems, "the export is wrong: no result"):
                return 2
            problems = measure_live(runtime, cast, args, bars, now, figures)
            if common.verify_failed(problems, "the live-field sweep removed the wrong values"):
                return 2
    finally:
        db.drop()
    return report(args, db, figures)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    now = datetime.now(UTC).replace(microsecond=0)
    with common.workspace(args.workdir) as workdir:
        return run(args, workdir, now)


if __name__ == "__main__":
    sys.exit(main())
