"""CPU per gated read, in process: what one ``GET /v1/subjects/{id}`` costs the server itself.

benchmarks/load.py measures throughput over loopback, which on a shared 2-core machine moves by
a third from one run to the next. This benchmark removes the network, uvicorn and the other
worker: it calls the ASGI app (the whole middleware stack, authentication, the gate, the
access-log commit, decryption, masking, the JSON answer) from the same process, one request at
a time, and counts the process's CPU seconds (every thread: the request's worker thread too)
per request. The baseline, measured in the same run and in the same way, is
benchmarks/_bare.py's FastAPI endpoint, so the ratio says what privguard's own work costs
against the framework's.

The database is a throw-away PostgreSQL database (``--database-url``, the server to create it
on) initialised the privguard way, with the same customers and keys as load.py; the
authentication cache's listener runs, as in ``privguard serve``. ``--profile FILE`` records a
py-spy profile (speedscope JSON) of the reads when py-spy is installed.

Usage::

    python benchmarks/read_cpu.py [--database-url URL] [--requests 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _bare import app as bare_app
from _common import (
    cpu_model,
    describe_database,
    note,
    out,
    prepare_database,
    privguard_runtime,
    workspace,
)
from load import add_fixture_options, set_up
from privguard.api.app import create_app

Message = MutableMapping[str, Any]
ASGI = Callable[[Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                Awaitable[None]]


async def call(app: ASGI, path: str, query: str, token: str | None) -> int:
    """One GET through the ASGI app, as uvicorn would make it; returns the status."""
    headers = [(b"host", b"bench"), (b"user-agent", b"read_cpu")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
        "root_path": "", "query_string": query.encode(), "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def lifespan(app: ASGI) -> Callable[[], Awaitable[None]]:
    """Runs the app's start-up (the listener, the sequencer); returns its shutdown."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                   inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"start-up failed: {started}")

    async def shutdown() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task

    return shutdown


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user, system) so far of each of this process's threads, by thread name
    (threads of the same name summed: the worker pools)."""
    names = {t.native_id: t.name.split("_")[0].rstrip("-0123456789") for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        name = names.get(int(task.name), "other")
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return totals


async def measure(app: ASGI, requests: Sequence[tuple[str, str, str | None]]) -> dict[str, Any]:
    """CPU and wall seconds per request over ``requests`` (mean, and the median of each
    request's CPU, which a burst of noise from the rest of the machine moves less), every
    answer required to be 200, and the CPU per request of each thread."""
    threads, cpu, wall = thread_cpu(), time.process_time(), time.perf_counter()
    each: list[float] = []
    for path, query, token in requests:
        started = time.process_time()
        status = await call(app, path, query, token)
        each.append(time.process_time() - started)
        if status != 200:
            raise SystemExit(f"GET {path}?{query} answered {status}")
    n = len(requests)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = thread_cpu()
    by_thread = {k: (v - threads.get(k, 0.0)) / n * 1e6 for k, v in after.items()}
    return {"cpu_us": cpu / n * 1e6, "median_us": statistics.median(each) * 1e6,
            "wall_us": wall / n * 1e6,
            "threads": {k: round(v) for k, v in sorted(by_thread.items()) if v >= 1}}


def start_profiler(path: Path) -> subprocess.Popen[bytes] | None:
    if shutil.which("py-spy") is None:
        note("py-spy is not installed: no profile")
        return None
    profiler = subprocess.Popen(
        ["py-spy", "record", "-r", "500", "-p", str(os.getpid()), "-o", str(path),
         "--format", "speedscope", "--threads"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the first request
    return profiler


async def run(args: argparse.Namespace, runtime: Any, fixture: Any) -> dict[str, Any]:
    rng = random.Random(args.seed)
    keys = [k["read"] for k in fixture.keys]
    reads = [(f"/v1/subjects/{rng.choice(fixture.subjects)}", "purpose=customer_support",
              rng.choice(keys)) for _ in range(args.requests)]
    bare = [(path, query, None) for path, query, _ in reads]
    app = create_app(runtime)
    shutdown = await lifespan(app)
    try:
        await measure(app, reads[: args.requests // 10])  # warm: caches, pool, code paths
        await measure(bare_app, bare[: args.requests // 10])
        rounds: list[dict[str, dict[str, float]]] = []
        for index in range(args.rounds):
            profiler = (start_profiler(args.profile)
                        if args.profile and index == args.rounds - 1 else None)
            read = await measure(app, reads)
            if profiler is not None:
                profiler.send_signal(2)
                profiler.wait(30)
            rounds.append({"bare": await measure(bare_app, bare), "read": read})
            bare_us = rounds[-1]["bare"]["cpu_us"]
            out(f"round {index + 1}      read {read['cpu_us']:5.0f} µs CPU (median "
                f"{read['median_us']:4.0f}, wall {read['wall_us']:5.0f}), bare FastAPI "
                f"{bare_us:4.0f} (median {rounds[-1]['bare']['median_us']:4.0f}): "
                f"ratio {read['cpu_us'] / bare_us:.1f}")
            out("             read CPU by thread (µs): "
                + ", ".join(f"{k} {v}" for k, v in read["threads"].items()))
    finally:
        await shutdown()
    best = min(rounds, key=lambda r: r["read"]["cpu_us"])
    return {"read_cpu_us": round(best["read"]["cpu_us"], 1),
            "read_median_us": round(min(r["read"]["median_us"] for r in rounds), 1),
            "bare_median_us": round(min(r["bare"]["median_us"] for r in rounds), 1),
            "read_wall_us": round(best["read"]["wall_us"], 1),
            "bare_cpu_us": round(best["bare"]["cpu_us"], 1),
            "ratio_to_bare": round(best["read"]["cpu_us"] / best["bare"]["cpu_us"], 2),
            "requests": args.requests, "rounds": args.rounds}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_fixture_options(parser)
    parser.add_argument("--requests", type=int, default=3000, help="reads per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is reported")
    parser.add_argument("--api-threads", type=int, default=4,
                        help="PRIVGUARD_API_THREADS (0: the hot routes' work on the event loop)")
    parser.add_argument("--profile", type=Path, help="py-spy speedscope file of the last round")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    if args.requests < 10 or args.rounds < 1:
        parser.error("--requests must be at least 10 and --rounds at least 1")
    # What load.py's set-up reads: one key per virtual user, production settings otherwise.
    args.users, args.no_access_log, args.pool_size = 16, False, 20
    out(f"started      {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    out(f"cpu          {cpu_model()} ({os.cpu_count()} logical CPUs), load average "
        f"{os.getloadavg()[0]:.2f} at start")
    with workspace(args.workdir) as workdir:
        database = prepare_database(args.database_url, workdir)
        try:
            with privguard_runtime(database.url, workdir / "home", datetime.now(UTC),
                                   api_threads=args.api_threads) as rt:
                out(f"database     {describe_database(rt.engine)}")
                fixture = set_up(rt, args, workdir)
                out(f"workload     {args.rounds} rounds of {args.requests:,} masked reads as "
                    f"customer service, one at a time, of {args.subjects:,} customers; "
                    f"{args.api_threads or 'no'} API threads")
                summary = asyncio.run(run(args, rt, fixture))
        finally:
            database.drop()
    out(f"best         read {summary['read_cpu_us']:.0f} µs CPU (median "
        f"{summary['read_median_us']:.0f}), bare {summary['bare_cpu_us']:.0f} µs (median "
        f"{summary['bare_median_us']:.0f}): ratio {summary['ratio_to_bare']:.1f}")
    out(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
