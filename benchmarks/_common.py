"""What benchmarks/vault.py and benchmarks/access.py share (and benchmarks/consent.py reuses).

The two benchmarks are read side by side (benchmarks/README.md describes access.py's data,
warm-up and databases by reference to vault.py), so they must generate the same records, set
databases up and tear them down the same way, describe the machine in the same words and time
their sides by the same rules. Keeping those parts in one place means a fix to one benchmark's
method cannot silently leave the other measuring something else.

Not a benchmark itself (hence the underscore). The scripts are run as
``python benchmarks/<name>.py``, which puts this directory first on ``sys.path``, so they import
it as ``_common``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
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
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from privguard.bootstrap import Runtime, build_runtime, initialise
from privguard.config import Settings
from privguard.marketplace.demo_data import REGIONS, bank_card, consumer_pi, resident_id
from privguard.store.engine import normalise_url
from privguard.vault.service import Vault

# Every subject gets exactly these fields, so every row has the same shape (each side of a
# benchmark stores and reads the same amount of data) and both benchmarks describe the same
# records.
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
# Shared defaults: runs of the two benchmarks without options measure the same records, in the
# same order, and check equally many of the timed reads.
DEFAULT_N = 20_000
DEFAULT_BATCH = 500
DEFAULT_SEED = 2026
VERIFY_SAMPLE = 2000  # timed reads kept per side for verification

T = TypeVar("T")
Row = dict[str, Any]
Tick = Callable[[int], None]


# ----------------------------------------------------------------------------------- options
def argument_parser(description: str) -> argparse.ArgumentParser:
    """A parser whose first argument is N, the number of subjects: both benchmarks size a run by
    N with the same default, so runs of the two without arguments describe the same records."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "n", nargs="?", type=int, default=DEFAULT_N, help=f"subjects (default {DEFAULT_N:,})"
    )
    return parser


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--seed``, ``--workdir`` and ``--no-progress``: how a run is set up rather than what it
    measures, and the same in both benchmarks."""
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="data and order seed")
    parser.add_argument(
        "--workdir", type=Path, help="parent of the temporary directory (default: system temp)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")


def parse_positive(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, *options: str
) -> argparse.Namespace:
    """Parses ``argv``, refusing N or any of ``options`` (such as ``--batch``) below 1: an empty
    run has no rate or ratio to report, and work cannot be split into batches of 0."""
    args = parser.parse_args(argv)
    for option in ("N", *options):
        attribute = "n" if option == "N" else option.removeprefix("--").replace("-", "_")
        if getattr(args, attribute) < 1:
            parser.error(f"{option} must be at least 1")
    return args


# ----------------------------------------------------------------------------------- output
def out(line: str = "") -> None:
    """Results and environment go to stdout, flushed so they interleave sanely with stderr."""
    print(line, flush=True)


def note(line: str) -> None:
    """Diagnostics go to stderr, so that stdout stays the report whose last line is the JSON."""
    print(line, file=sys.stderr, flush=True)


def verify_failed(problems: Sequence[str], conclusion: str) -> bool:
    """Reports each problem on stderr, then ``conclusion``; True when there was any. A benchmark
    that read or logged wrong data proves nothing, so the callers then exit with status 2
    without a result line."""
    for problem in problems:
        note(f"VERIFY FAILED: {problem}")
    if problems:
        note(conclusion)
    return bool(problems)


class Bars:
    """Rich progress bars on stderr, redrawn once per batch (no refresh thread competing with
    the timed code for the GIL). ``label_width`` pads the task names so each benchmark's bars
    line up with its longest task name."""

    def __init__(self, enabled: bool, label_width: int) -> None:
        self.progress = Progress(
            TextColumn(f"{{task.description:<{label_width}}}"),
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
        """A bar for the block; the block calls the yielded ``tick(done)`` after each batch."""
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
    """The region code of a generated address's district, so a filled-in resident ID agrees
    with where the consumer lives (the first region when the district is unknown)."""
    for code, _province, _city, name in REGIONS:
        if name == district:
            return code
    return REGIONS[0][0]


def generate_rows(vault: Vault, n: int, seed: int, today: date, tick: Tick) -> list[Row]:
    """N consumers with exactly :data:`FIELDS`, in canonical (validated) form.

    Both benchmarks call this with the same seed, so their figures describe the same records.
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


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """``items`` in slices of ``size``: one slice is one batch is one transaction."""
    return [items[start : start + size] for start in range(0, len(items), size)]


# ----------------------------------------------------------------------------------- timing
class Side:
    """Accumulated wall time (and optionally a profile) of one side of a race.

    The profiler is enabled only around the side's own calls, so each profile shows that side
    alone even though the sides run interleaved."""

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
    profile_prefix: str = "",
) -> dict[str, float]:
    """Seconds per side, each batch of each side timed on its own.

    Phases run one after the other are not comparable: on a shared VM the same code ran tens of
    percent faster or slower from one minute to the next, and the side that meets a subject's
    pages first pays for the cold cache. So batch ``i`` runs the sides in rotation starting at
    side ``i % k`` (with two sides: A B, B A, ...): each side leads equally often and drift hits
    all sides alike. ``batches`` holds one call per side per batch; ``keep`` receives (batch
    index, result) of each call outside the timed region. With ``profile_dir`` each side is
    profiled on its own and written to ``<profile_prefix><name>.pstats`` (spaces as ``_``),
    its top functions printed to stderr."""
    sides = [Side(name, profile=profile_dir is not None) for name in names]
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
            label = f"{profile_prefix}{side.name}"
            path = profile_dir / f"{label.replace(' ', '_')}.pstats"
            side.profiler.dump_stats(path)
            note(f"\n--- profile of {label} ({path}), top 25 by cumulative time ---")
            pstats.Stats(side.profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    return {side.name: side.seconds for side in sides}


def keeper(
    kept: dict[int, Any], batch: int, keep_every: int
) -> Callable[[int, Sequence[Any]], None]:
    """A ``keep`` for :func:`race` that stores every ``keep_every``-th result by its position in
    the read order. Keeping all N results would make the collector walk an ever larger heap
    during the timed reads (more so for the richer gated results); a sample is enough to
    verify, and the same positions are kept on every side."""

    def keep(index: int, results: Sequence[Any]) -> None:
        for offset, result in enumerate(results):
            position = index * batch + offset
            if position % keep_every == 0:
                kept[position] = result

    return keep


@contextmanager
def count_statements(engine: Engine) -> Iterator[list[int]]:
    """Counts DBAPI cursor executions (an executemany counts once) while the block runs, to show
    *why* a ratio moved: a side that issues more statements pays more round trips."""
    counter = [0]

    def before(*_args: Any) -> None:
        counter[0] += 1

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before)


# ----------------------------------------------------------------------------------- database
@contextmanager
def workspace(parent: Path | None) -> Iterator[Path]:
    """A temporary directory for the benchmark's home and SQLite files, removed at the end
    (also on errors and Ctrl-C). ``parent`` (``--workdir``) puts it on the disk to measure."""
    workdir = Path(tempfile.mkdtemp(prefix="privguard-bench-", dir=parent))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Database:
    url: str | None  # None: SQLite inside the benchmark's home
    backend: str
    drop: Callable[[], None]


def prepare_database(url: str | None, workdir: Path) -> Database:
    """A fresh database: SQLite in ``workdir``, or a throw-away database on a PostgreSQL server.

    A fresh database means every run starts from the same empty state, and the database named
    in the URL is only used to connect, never written to; ``drop`` removes the throw-away one.
    """
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
def privguard_runtime(
    url: str | None, home: Path, now: datetime, **overrides: Any
) -> Iterator[Runtime]:
    """A database initialised the privguard way (``privguard init``: keyring, migrations, and
    on SQLite WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``), so the benchmark measures the
    configuration that runs in production; the runtime is closed at the end. ``overrides`` are
    further :class:`Settings` fields, for a benchmark that must pin one down (consent.py fixes
    the consent cache's lifetime so a phase never measures a mixture of expired and live
    entries)."""
    settings = Settings(
        home=home,
        database_url=url,
        key_provider="file",
        key_file=home / "master.key",
        catalog_path=None,
        **overrides,
    )
    initialise(settings, now=now)
    runtime = build_runtime(settings)
    try:
        yield runtime
    finally:
        runtime.close()


# ----------------------------------------------------------------------------------- environment
def cpu_model() -> str:
    """The CPU's model name, for the ``cpu`` line (Linux's /proc/cpuinfo, else what Python
    knows): absolute times are only comparable on the same machine."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_database(engine: Engine) -> str:
    """Version and durability settings of the database, which decide what a commit costs."""
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


def describe_environment(engine: Engine, n: int, workload: str) -> list[str]:
    """The ``python``, ``cpu``, ``libraries``, ``database`` and ``workload`` lines that open both
    reports, so that a figure can be traced to the interpreter, machine, crypto library and
    database that produced it. ``workload`` says what the benchmark does with its N subjects."""
    return [
        f"python       {platform.python_implementation()} {platform.python_version()} "
        f"on {platform.platform()}",
        f"cpu          {cpu_model()} ({os.cpu_count()} logical CPUs)",
        f"libraries    SQLAlchemy {sqlalchemy.__version__}, cryptography {cryptography.__version__}"
        f" ({openssl_backend.openssl_version_text()})",
        f"database     {describe_database(engine)}",
        f"workload     N={n} subjects x {len(FIELDS)} fields, {workload}",
    ]
