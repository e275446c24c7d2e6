"""Anomaly detection over the access log: entries per second over 1,000,000 entries, and the
delay from an entry to its alert with the scanner running as it would in production.

Phase 1, throughput. N synthetic access-log entries (default 1,000,000) in the canonical JSON
of audit/entry.py, for 30 days of a marketplace: 400 merchant clerks in 200 shops, 300
couriers, 80 customer-service agents, analysts and marketers, 20,000 consumers reading their own
data; staff work 09:00-19:00 in Shanghai, with a few refusals, lookups that match no one,
customer lists and bulk consent checks of steady sizes, and the callers' networks. Ten anomalies
are injected among them (five customer-service accounts reading 500 customers in ten minutes,
one clerk reading at 03:00, one agent probing 30 phone numbers in five minutes, one clerk
refused six unrelated customers, one 6,000-customer list, one known clerk on a new network).
The entries are inserted directly (``log_access`` one by one would take an hour), already
sequenced: leaf indexes, leaf hashes and one signed tree head, as the sequencer leaves them.

Sides, each a full pass over the same N entries in leaf order, in batches of ``--batch``:

* ``select``: the query the scanner runs (``seq > :last ORDER BY seq LIMIT :batch``), rows
  fetched and dropped: what reading the log costs at all;
* ``select+json``: the same with ``json.loads`` of every entry: the floor for any rule engine in
  Python that reads the entry;
* ``scan``: :func:`privguard.cases.anomalies.scan` from an empty cursor with a fresh scanner:
  parsing, the six rules, actor states loaded and stored, alerts and the cursor written, one
  transaction per batch.

A warm-up pass (untimed ``select``) runs first; ``select`` runs again after ``scan`` and the
mean of its two passes is the baseline, so drift of the machine shows as the difference between
them. The alerts must be exactly the ten injected ones (rule and actor): anything else prints
``VERIFY FAILED`` and exits 2 without the result line.

Phase 2, delay. With the log at N entries, a background sequencer (``--sequencer-interval``, as
every server runs it) and a scanner loop (``privguard cases scan --every``,
``--scan-interval``) run in threads while a writer adds ``--rate`` ordinary entries a second
through ``log_access`` and, ``--bursts`` times, a new customer-service account reads 250
customers, each read its own transaction as an API request would be. For each burst the delay
is the alert's ``fired_at`` minus the wall-clock time the triggering entry (the 200th read, the
floor) committed. The off-hours rule is off in this phase only: the entries carry the real
clock, and the figure must not depend on the time of day the benchmark runs.

The last line of stdout is one JSON object starting with ``scan_entries_per_second`` and
``delay_seconds_median``. Usage::

    python benchmarks/cases.py [N] [--batch 5000] [--database-url URL] [--bursts 10]

See benchmarks/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy
from sqlalchemy import func, insert, select

from _common import (
    Bars,
    cpu_model,
    describe_database,
    note,
    out,
    prepare_database,
    privguard_runtime,
    verify_failed,
    workspace,
)
from privguard.audit.entry import decision_json, entry_json, leaf_input
from privguard.audit.merkle import Frontier, leaf_hash
from privguard.audit.models import AccessLogEntry, TreeHead
from privguard.audit.sequencer import BackgroundSequencer
from privguard.audit.service import log_access
from privguard.bootstrap import Runtime
from privguard.cases.anomalies import Scanner, scan
from privguard.cases.anomaly_models import AccessAlert, AnomalyActorState
from privguard.cases.anomaly_rules import load_anomaly_config
from privguard.clock import utcnow
from privguard.policy.rules import ActorRef, Decision, Role, View
from privguard.store.uow import unit_of_work

DEFAULT_N = 1_000_000
DEFAULT_BATCH = 5000
DEFAULT_SEED = 2026
DAYS = 30
LOG = AccessLogEntry.__table__
SHANGHAI = timedelta(hours=8)

MASKED = decision_json({"field": "name", "view": "masked", "rule": "r.masked"}) + "," + \
    decision_json({"field": "mobile_phone", "view": "masked", "rule": "r.masked"})
PLAIN_ADDRESS = decision_json(
    {"field": "shipping_addresses", "view": "plain", "rule": "courier.delivery-address"}
)
DENIED = decision_json({"field": "name", "view": "none", "rule": "default.deny"})
WHOLE = decision_json({"field": "*", "view": "masked", "rule": "r.list"})
LOOKUP = decision_json({"field": "mobile_phone", "view": "masked", "rule": "support.find"})


# ---------------------------------------------------------------------------- the marketplace


@dataclass(frozen=True)
class Person:
    actor_id: uuid.UUID
    role: str
    org: uuid.UUID | None
    nets: tuple[str, ...]
    subject: uuid.UUID | None = None  # a consumer's own record


@dataclass
class World:
    merchants: list[Person]
    couriers: list[Person]
    agents: list[Person]
    analysts: list[Person]
    consumers: list[Person]
    subjects: list[uuid.UUID]
    expected: set[tuple[str, uuid.UUID]]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _net(rng: random.Random) -> str:
    return f"10.{rng.randrange(256)}.{rng.randrange(256)}.0/24"


def marketplace(rng: random.Random) -> World:
    platform_org = _uuid(rng)
    shops = [_uuid(rng) for _ in range(200)]
    carriers = [_uuid(rng) for _ in range(5)]

    def staff(role: str, org: uuid.UUID | None) -> Person:
        # One office network each: with a second network first used after the learning week
        # (likely for actors with few entries when N is small), its first use is an alert
        # the verification would have to expect.
        return Person(_uuid(rng), role, org, (_net(rng),))

    return World(
        merchants=[staff("merchant_staff", s) for s in shops for _ in range(2)],
        couriers=[staff("courier", rng.choice(carriers)) for _ in range(300)],
        agents=[staff("customer_service", platform_org) for _ in range(80)],
        analysts=[staff(rng.choice(("analyst", "marketing")), platform_org) for _ in range(20)],
        consumers=[Person(_uuid(rng), "consumer", None, (), _uuid(rng)) for _ in range(20_000)],
        subjects=[_uuid(rng) for _ in range(200_000)],
        expected=set(),
    )


Draft = tuple[datetime, Person, uuid.UUID | None, str, str, dict[str, Any]]


def working_time(rng: random.Random, start: datetime, day: int) -> datetime:
    """A moment between 09:00 and 19:00 in Shanghai on ``day``."""
    local_day = (start + timedelta(days=day)).replace(hour=9, minute=0, second=0, microsecond=0)
    return local_day - SHANGHAI + timedelta(seconds=rng.uniform(0, 10 * 3600))


def ordinary(rng: random.Random, world: World, start: datetime, n: int) -> Iterator[Draft]:
    """n entries of ordinary work, in no particular order."""
    for _ in range(n):
        day = rng.randrange(DAYS)
        pick = rng.random()
        subject = rng.choice(world.subjects)
        if pick < 0.20:  # consumers look at their own data, any time of day
            c = rng.choice(world.consumers)
            at = start + timedelta(days=day, seconds=rng.uniform(0, 86400))
            yield at, c, c.subject, "read", MASKED, {}
            continue
        if pick < 0.50:
            p = rng.choice(world.merchants)
            roll = rng.random()
            if roll < 0.01:
                yield working_time(rng, start, day), p, subject, "read", DENIED, _d(rng, p)
            elif roll < 0.02:
                size = rng.randint(20, 60)
                detail = {"merchant": str(p.org), "count": size, **_d(rng, p)}
                yield working_time(rng, start, day), p, None, "list", WHOLE, detail
            else:
                yield working_time(rng, start, day), p, subject, "read", MASKED, _d(rng, p)
            continue
        if pick < 0.70:
            p = rng.choice(world.couriers)
            local = (start + timedelta(days=day)).replace(hour=8, minute=0, second=0)
            at = local - SHANGHAI + timedelta(seconds=rng.uniform(0, 13 * 3600))
            yield at, p, subject, "read", PLAIN_ADDRESS, _d(rng, p)
            continue
        if pick < 0.98:
            p = rng.choice(world.agents)
            if rng.random() < 0.05:
                hit = rng.random() < 0.5
                yield (working_time(rng, start, day), p, subject if hit else None, "lookup",
                       LOOKUP, _d(rng, p))
            else:
                yield working_time(rng, start, day), p, subject, "read", MASKED, _d(rng, p)
            continue
        p = rng.choice(world.analysts)
        detail = {"subjects": rng.randint(100, 300), **_d(rng, p)}
        yield working_time(rng, start, day), p, None, "consent.check", WHOLE, detail


def _d(rng: random.Random, p: Person) -> dict[str, Any]:
    return {"net": rng.choice(p.nets)} if rng.random() < 0.7 else {}


def anomalies(rng: random.Random, world: World, start: datetime) -> Iterator[Draft]:
    """The ten injected anomalies; ``world.expected`` gets the alert each should raise."""
    for n, day in enumerate((10, 15, 20, 25, 28)):  # new agents reading 500 customers each
        agent = Person(_uuid(rng), "customer_service", world.agents[0].org, ("10.9.9.0/24",))
        world.expected.add(("bulk_access", agent.actor_id))
        begin = working_time(rng, start, day) - timedelta(minutes=10 * n)
        for k, subject in enumerate(rng.sample(world.subjects, 500)):
            yield begin + timedelta(seconds=1.14 * k), agent, subject, "read", MASKED, {}
    night = world.merchants[7]
    world.expected.add(("off_hours", night.actor_id))
    at = (start + timedelta(days=12)).replace(hour=3, minute=0, second=0) - SHANGHAI
    for k in range(3):
        yield at + timedelta(minutes=k), night, rng.choice(world.subjects), "read", MASKED, {}
    prober = world.agents[3]
    world.expected.add(("enumeration", prober.actor_id))
    at = working_time(rng, start, 14)
    for k in range(30):
        yield at + timedelta(seconds=10 * k), prober, None, "lookup", LOOKUP, {}
    nosy = world.merchants[11]
    world.expected.add(("no_relationship", nosy.actor_id))
    at = working_time(rng, start, 16)
    for k in range(6):
        yield at + timedelta(minutes=5 * k), nosy, rng.choice(world.subjects), "read", DENIED, {}
    exporter = world.merchants[21]
    world.expected.add(("large_export", exporter.actor_id))
    yield (working_time(rng, start, 18), exporter, None, "list", WHOLE,
           {"merchant": str(exporter.org), "count": 6000})
    traveller = world.merchants[31]
    world.expected.add(("new_network", traveller.actor_id))
    yield (working_time(rng, start, 20), traveller, rng.choice(world.subjects), "read", MASKED,
           {"net": "192.0.2.0/24"})


def build_log(runtime: Runtime, n: int, seed: int, end: datetime, bars: Bars) -> World:
    """Insert n entries (ordinary work plus the anomalies), sequenced, with a signed head."""
    rng = random.Random(seed)
    world = marketplace(rng)
    start = (end - timedelta(days=DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    injected = list(anomalies(rng, world, start))
    drafts = list(ordinary(rng, world, start, n - len(injected))) + injected
    drafts.sort(key=lambda d: d[0])
    frontier = Frontier()
    with bars.task("inserting entries", n) as tick:
        for begin in range(0, n, 10_000):
            rows = []
            for seq in range(begin, min(begin + 10_000, n)):
                at, p, subject, action, decisions, detail = drafts[seq]
                text = entry_json(
                    at=at, actor_id=p.actor_id, role=p.role, organisation_id=p.org,
                    subject_id=subject, action=action, purpose="benchmark", request_id=None,
                    decision_fragments=[decisions], detail=detail,
                )
                digest = leaf_hash(leaf_input(seq, text))
                frontier.append(digest)
                rows.append({
                    "seq": seq, "at": at, "actor_id": p.actor_id, "organisation_id": p.org,
                    "subject_id": subject, "entry": text, "leaf_hash": digest,
                })
            with unit_of_work(runtime.sessions) as session:
                session.execute(insert(LOG), rows)
            tick(len(rows))
    signed = end
    with unit_of_work(runtime.sessions) as session:
        session.execute(insert(TreeHead.__table__).values(
            tree_size=frontier.size, root_hash=frontier.root(), frontier=frontier.to_bytes(),
            signed_at=signed, key_id=runtime.signer.key_id,
            signature=runtime.signer.sign(frontier.size, signed, frontier.root()),
        ))
    return world


# ---------------------------------------------------------------------------- phase 1


def select_pass(runtime: Runtime, batch: int, parse: bool) -> tuple[float, int]:
    """The scanner's read, with or without json.loads: seconds and rows."""
    last, rows_seen = -1, 0
    loads = json.loads
    started = time.perf_counter()
    while True:
        with unit_of_work(runtime.sessions) as session:
            rows = session.execute(
                select(LOG.c.entry_id, LOG.c.seq, LOG.c.entry)
                .where(LOG.c.seq > last).order_by(LOG.c.seq).limit(batch)
            ).all()
        if parse:
            for row in rows:
                loads(row[2])
        rows_seen += len(rows)
        if len(rows) < batch:
            return time.perf_counter() - started, rows_seen
        last = rows[-1][1]


def scan_pass(runtime: Runtime, batch: int, tick: Any) -> tuple[float, int, Scanner]:
    scanner = Scanner(load_anomaly_config(None))
    started = time.perf_counter()
    report = scan(runtime.sessions, scanner, now_fn=utcnow, batch=batch,
                  on_batch=lambda r: tick(r.entries))
    return time.perf_counter() - started, report.entries, scanner


# ---------------------------------------------------------------------------- phase 2


class ScanLoop(threading.Thread):
    """``privguard cases scan --every``: scan, sleep, again."""

    def __init__(self, runtime: Runtime, scanner: Scanner, interval: float) -> None:
        super().__init__(daemon=True)
        self.runtime, self.scanner, self.interval = runtime, scanner, interval
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        self.runs: list[tuple[int, float]] = []  # (entries, seconds) of runs that found some
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                report = scan(self.runtime.sessions, self.scanner, now_fn=utcnow)
            except Exception as exc:  # keep going, like the service would; report at the end
                self.errors.append(exc)
            else:
                if report.entries:
                    self.runs.append((report.entries, time.perf_counter() - started))
            self.stop.wait(self.interval)


class Background(threading.Thread):
    """Ordinary reads by known staff at ``rate`` entries a second, ten per transaction."""

    def __init__(self, runtime: Runtime, world: World, rate: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.runtime, self.world, self.rate = runtime, world, rate
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        staff = self.world.merchants + self.world.couriers + self.world.agents
        ok = Decision("name", View.MASKED, "r.masked", "benchmark")
        started = time.perf_counter()
        while not self.stop.is_set():
            with unit_of_work(self.runtime.sessions) as session:
                for _ in range(10):
                    p = self.rng.choice(staff)
                    log_access(session, actor=ActorRef(p.actor_id, Role(p.role), p.org),
                               subject_id=self.rng.choice(self.world.subjects), action="read",
                               purpose="benchmark", decisions=[ok], now=utcnow())
            self.written += 10
            ahead = self.written / self.rate - (time.perf_counter() - started)
            if ahead > 0:
                self.stop.wait(ahead)


def burst(runtime: Runtime, world: World, rng: random.Random) -> uuid.UUID:
    """A new agent reads 250 customers, one request (one transaction) each."""
    agent = ActorRef(uuid.uuid4(), Role.CUSTOMER_SERVICE, world.agents[0].org)
    ok = Decision("name", View.MASKED, "support.masked-contact", "benchmark")
    for _ in range(250):
        with unit_of_work(runtime.sessions) as session:
            log_access(session, actor=agent, subject_id=rng.choice(world.subjects),
                       action="read", purpose="customer_support", decisions=[ok], now=utcnow())
    return agent.actor_id


@dataclass
class DelayResult:
    delays: list[float]
    problems: list[str]
    written: int
    elapsed: float
    runs: list[tuple[int, float]]


def delay_phase(runtime: Runtime, world: World, args: argparse.Namespace) -> DelayResult:
    config = load_anomaly_config(None)
    config = replace(config, off_hours=replace(config.off_hours, enabled=False))
    scanner = Scanner(config)
    scan(runtime.sessions, scanner, now_fn=utcnow)  # catch up (nothing new yet)
    sequencer = BackgroundSequencer(runtime.sessions, runtime.signer, args.sequencer_interval)
    loop = ScanLoop(runtime, scanner, args.scan_interval)
    background = Background(runtime, world, args.rate, args.seed)
    rng = random.Random(args.seed + 1)
    sequencer.start()
    loop.start()
    background.start()
    started = time.perf_counter()
    triggers: list[uuid.UUID] = []
    try:
        for _ in range(args.bursts):
            triggers.append(burst(runtime, world, rng))
            time.sleep(args.pause)
        deadline = time.monotonic() + 30 + 3 * (args.scan_interval + args.sequencer_interval)
        found: dict[uuid.UUID, AccessAlert] = {}
        while time.monotonic() < deadline and len(found) < len(triggers):
            time.sleep(0.2)
            with unit_of_work(runtime.sessions) as session:
                found = {
                    a.actor_id: a for a in session.execute(
                        select(AccessAlert).where(AccessAlert.actor_id.in_(list(triggers)))
                    ).scalars()
                }
    finally:
        background.stop.set()
        background.join()
        loop.stop.set()
        loop.join()
        sequencer.stop()
    elapsed = time.perf_counter() - started
    problems = [f"scanner loop error: {e!r}" for e in loop.errors]
    delays = []
    for actor in triggers:
        alert = found.get(actor)
        if alert is None or alert.rule != "bulk_access":
            problems.append(f"no bulk_access alert for burst actor {actor}")
            continue
        with unit_of_work(runtime.sessions) as session:
            rows = session.execute(
                select(LOG.c.entry_id, LOG.c.at).where(LOG.c.actor_id == actor)
                .order_by(LOG.c.entry_id).limit(200)
            ).all()
        trigger_id, written_at = rows[199]
        if alert.trigger_entry_id != trigger_id:
            problems.append(f"alert of {actor} fired at entry {alert.trigger_entry_id}, "
                            f"not at its 200th read {trigger_id}")
        # From the entry's own time (taken by log_access, before its transaction commits).
        delays.append((alert.fired_at - written_at).total_seconds())
    return DelayResult(delays, problems, background.written, elapsed, loop.runs)


# ---------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=DEFAULT_N,
                        help=f"access-log entries (default {DEFAULT_N:,})")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="entries per batch")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--database-url", help="PostgreSQL server (a throw-away database)")
    parser.add_argument("--workdir", help="parent of the temporary directory")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--bursts", type=int, default=10, help="insider bursts in phase 2")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between bursts")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="ordinary entries a second written during phase 2")
    parser.add_argument("--scan-interval", type=float, default=1.0)
    parser.add_argument("--sequencer-interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.n < 10_000 or args.batch < 1 or args.bursts < 1:
        parser.error("N must be at least 10,000 (the injected anomalies need room); "
                     "--batch and --bursts at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from pathlib import Path

    end = datetime.now(UTC).replace(microsecond=0)
    with workspace(Path(args.workdir) if args.workdir else None) as workdir:
        db = prepare_database(args.database_url, workdir)
        try:
            with privguard_runtime(db.url, workdir / "home", end,
                                   sequencer_interval=0) as runtime:
                return run(runtime, db.backend, args, end)
        finally:
            db.drop()


def run(runtime: Runtime, backend: str, args: argparse.Namespace, end: datetime) -> int:
    out(f"python       {platform.python_implementation()} {platform.python_version()} "
        f"on {platform.platform()}")
    out(f"cpu          {cpu_model()} ({os.cpu_count()} logical CPUs)")
    out(f"libraries    SQLAlchemy {sqlalchemy.__version__}")
    out(f"database     {describe_database(runtime.engine)}")
    out(f"workload     N={args.n:,} access-log entries over {DAYS} days, batch={args.batch}, "
        f"seed={args.seed}")
    bars = Bars(not args.no_progress, 18)
    with bars:
        t0 = time.perf_counter()
        world = build_log(runtime, args.n, args.seed, end, bars)
        built = time.perf_counter() - t0
        out(f"data         {args.n:,} entries generated, hashed and inserted in {built:.1f} s "
            "(not timed below)")
        gc.collect()
        select_pass(runtime, args.batch, parse=False)  # warm-up
        s1, rows = select_pass(runtime, args.batch, parse=False)
        sj, _ = select_pass(runtime, args.batch, parse=True)
        with bars.task("scanning", args.n) as tick:
            sc, scanned, _scanner = scan_pass(runtime, args.batch, tick)
        s2, _ = select_pass(runtime, args.batch, parse=False)
    with unit_of_work(runtime.sessions) as session:
        raised = session.execute(select(AccessAlert.rule, AccessAlert.actor_id)).all()
        states = session.execute(
            select(func.count()).select_from(AnomalyActorState)
        ).scalar_one()
    again = scan(runtime.sessions, Scanner(load_anomaly_config(None)), now_fn=utcnow)
    got = {(r, a) for r, a in raised}
    problems = []
    if rows != args.n or scanned != args.n:
        problems.append(f"read {rows} / scanned {scanned} of {args.n} entries")
    if got != world.expected or len(raised) != len(world.expected):
        problems.append(f"alerts {sorted((r, str(a)) for r, a in got - world.expected)} "
                        f"raised but not injected; "
                        f"{sorted((r, str(a)) for r, a in world.expected - got)} missed")
    if again.entries:
        problems.append(f"a second scan read {again.entries} entries again")
    if verify_failed(problems, "the scanner did not find exactly the injected anomalies"):
        return 2

    select_s = (s1 + s2) / 2
    out(f"verified     the scan raised exactly the {len(world.expected)} injected alerts "
        f"({', '.join(sorted({r for r, _ in got}))}); a second scan read 0 entries")
    out()
    out(f"{'side':<12} {'seconds':>8} {'entries/s':>11} {'µs/entry':>9} {'ratio':>6}")
    for name, seconds in (("select", select_s), ("select+json", sj), ("scan", sc)):
        out(f"{name:<12} {seconds:>8.2f} {args.n / seconds:>11,.0f} "
            f"{seconds / args.n * 1e6:>9.2f} {seconds / select_s:>6.2f}")
    out(f"             select passes {s1:.2f} s before and {s2:.2f} s after the scan; "
        f"ratio = side / select")
    out(f"states       {states:,} actors watched (consumers are not), "
        f"{len(raised)} alerts")

    note("phase 2: measuring the delay from an entry to its alert …")
    phase2 = delay_phase(runtime, world, args)
    if verify_failed(phase2.problems, "phase 2 did not alert every burst at its 200th read"):
        return 2
    delays = sorted(phase2.delays)
    p95 = delays[min(len(delays) - 1, round(0.95 * (len(delays) - 1)))]
    run_seconds = sorted(sec for _, sec in phase2.runs)
    out()
    out(f"delay        {len(delays)} bursts; sequencer every {args.sequencer_interval:g} s, "
        f"scanner every {args.scan_interval:g} s; {phase2.written:,} ordinary entries written "
        f"meanwhile ({phase2.written / phase2.elapsed:,.0f}/s)")
    out(f"             triggering entry written -> alert fired_at: min {delays[0]:.2f} s, "
        f"median {statistics.median(delays):.2f} s, p95 {p95:.2f} s, max {delays[-1]:.2f} s")
    out(f"             scanner runs that found entries: {len(run_seconds)}, each "
        f"{sum(n for n, _ in phase2.runs) / max(len(run_seconds), 1):,.0f} entries and "
        f"{statistics.median(run_seconds) * 1000:.0f} ms median, "
        f"{run_seconds[-1] * 1000:.0f} ms max (fired_at is taken once a batch has read its "
        "entries; the alert commits when the batch ends)")
    result = {
        "scan_entries_per_second": round(args.n / sc),
        "delay_seconds_median": round(statistics.median(delays), 3),
        "delay_seconds_p95": round(p95, 3),
        "delay_seconds_max": round(delays[-1], 3),
        "select_entries_per_second": round(args.n / select_s),
        "select_json_entries_per_second": round(args.n / sj),
        "scan_to_select_ratio": round(sc / select_s, 2),
        "n": args.n,
        "batch": args.batch,
        "alerts": len(raised),
        "bursts": len(delays),
        "scan_run_ms_median": round(statistics.median(run_seconds) * 1000),
        "scan_interval": args.scan_interval,
        "sequencer_interval": args.sequencer_interval,
        "backend": backend,
    }
    out(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
