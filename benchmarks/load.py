"""Load: privguard served by uvicorn with several workers on PostgreSQL, driven over loopback.

The issue's goal on this 2-core machine: at least 1,000 gated masked reads a second with p99
under 50 ms and no errors. One run, one throw-away PostgreSQL database (``--database-url``, the
server to create it on), three phases of ``--duration`` seconds each after ``--warmup``:

1. **ceiling** (baseline): a bare FastAPI endpoint (benchmarks/_bare.py: same path shape, a
   small JSON answer, no auth, database, gate or crypto) under the same uvicorn, the same
   ``--workers`` and the same driver: what the framework and the loopback cost anyway;
2. **reads**: ``GET /v1/subjects/{id}?purpose=customer_support`` (masked view) as customer
   service: authentication, the policy's decision per field, the access-log entry and its
   commit, decryption and masking, for random subjects of ``--subjects`` seeded ones;
3. **mix**: reads (70 %), blind-index lookups by phone (10 %), consent checks of 20 customers
   as an analyst (10 %), and registrations of new customers as a platform admin (10 %).

The server is ``privguard serve --workers N`` in a subprocess, configured as in production
(rate limit on: each virtual user has its own API keys; JSON access log, PI-redacted, to a
file; the access-log sequencer and the authentication cache's listener running in every
worker). The driver is a separate process, closed-loop with ``--users`` connections (each sends
its next request when the last one is answered): ``wrk`` (C, one thread, a Lua script picking a
random customer and one of the users' keys per request) for the ceiling and the reads when it is
installed (``apt-get install wrk``), else an asyncio loop of ``httpx.AsyncClient``s; the mix
always runs on the httpx driver, which reports each operation apart. The Python driver needs
most of a core for itself on this 2-core machine, which is why wrk is preferred. Latency is the
driver's, from send to full response.

Prints per phase and operation: requests, errors (any non-2xx or transport error), throughput,
p50/p95/p99 latency; which programs kept the cores busy during each phase (from /proc); the
reads phase's throughput as a ratio of the ceiling's; the goal met or missed. ``--profile DIR``
also records a py-spy profile (``--gil``: where the worker's Python time goes) of one server
worker during the reads phase when py-spy is installed. The last line of stdout is one JSON
object.

Usage::

    python benchmarks/load.py [--database-url URL] [--workers 2] [--users 16] [--duration 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from _common import (
    cpu_model,
    describe_database,
    generate_rows,
    note,
    out,
    prepare_database,
    privguard_runtime,
    workspace,
)
from privguard.actors.service import create_actor, issue_api_key
from privguard.marketplace.models import Organisation
from privguard.policy.rules import Role
from privguard.store.uow import unit_of_work

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GOAL_READS = 1000.0
GOAL_P99_MS = 50.0
START_SECONDS = 90.0
MIX = {"read": 70, "lookup": 10, "consent": 10, "write": 10}
CONSENT_BATCH = 20
PURPOSE_READ = "customer_support"


def percentile(sorted_values: Sequence[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


# ----------------------------------------------------------------------------- driver (child)
async def _drive(plan: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(plan["seed"])
    subjects: list[str] = plan["subjects"]
    phones: list[str] = plan["phones"]
    weights = plan["mix"]
    ops, cum = list(weights), []
    total = 0
    for op in ops:
        total += weights[op]
        cum.append(total)
    latencies: dict[str, list[float]] = {op: [] for op in ops}
    errors: dict[str, dict[str, int]] = {op: {} for op in ops}
    warm_until = time.monotonic() + plan["warmup"]
    stop_at = warm_until + plan["duration"]
    seq = [0]

    async def user(keys: dict[str, str]) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=plan["base"], limits=limits, timeout=30) as client:
            while True:
                now = time.monotonic()
                if now >= stop_at:
                    return
                pick = rng.random() * total
                op = next(o for o, c in zip(ops, cum, strict=True) if pick < c)
                if op == "read":
                    req = client.get(
                        f"/v1/subjects/{rng.choice(subjects)}",
                        params={"purpose": PURPOSE_READ},
                        headers={"Authorization": f"Bearer {keys['read']}"},
                    )
                elif op == "lookup":
                    req = client.post(
                        "/v1/subjects/lookup",
                        json={"field": "mobile_phone", "value": rng.choice(phones),
                              "purpose": PURPOSE_READ},
                        headers={"Authorization": f"Bearer {keys['read']}"},
                    )
                elif op == "consent":
                    req = client.post("/v1/consent/check", json={
                        "purpose": "personalised_recommendation",
                        "subject_ids": rng.sample(subjects, CONSENT_BATCH)},
                        headers={"Authorization": f"Bearer {keys['consent']}"})
                else:
                    seq[0] += 1
                    req = client.post("/v1/subjects", json={"pi": {
                        "name": "负载测试", "email": f"load{plan['seed']}-{seq[0]}@example.com"}},
                        headers={"Authorization": f"Bearer {keys['write']}"})
                started = time.perf_counter()
                try:
                    r = await req
                    status = str(r.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                elapsed = (time.perf_counter() - started) * 1000
                if time.monotonic() < warm_until:
                    continue
                if status.startswith("2"):
                    latencies[op].append(elapsed)
                else:
                    errors[op][status] = errors[op].get(status, 0) + 1
                    latencies[op].append(elapsed)

    await asyncio.gather(*(user(keys) for keys in plan["keys"]))
    return {"latencies": latencies, "errors": errors, "duration": plan["duration"]}


def child(plan_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    result = asyncio.run(_drive(plan))
    Path(plan["result"]).write_text(json.dumps(result))
    return 0


# ----------------------------------------------------------------------------- servers
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(cmd: list[str], env: dict[str, str], workdir: Path, name: str) -> Iterator[str]:
    """A server subprocess; yields its base URL once it answers, stops it (SIGTERM) after."""
    port = free_port()
    log_path = workdir / f"{name}.log"
    full = [*cmd, "--port", str(port)]
    with log_path.open("w") as log:
        proc = subprocess.Popen(full, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited {proc.returncode}:\n"
                                 f"{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code in (200, 404):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        time.sleep(1.0)  # every worker up, not only the first
        server.pid = proc.pid  # type: ignore[attr-defined]
        yield base
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_profiler(profile: Path, worker_pid: int, duration: float) -> subprocess.Popen[bytes]:
    """py-spy on one server worker for ``duration`` seconds. ``--gil`` samples only the thread
    holding the GIL: where the worker's Python time goes, not where its threads wait."""
    return subprocess.Popen(
        ["py-spy", "record", "--gil", "-r", "250", "-p", str(worker_pid), "-o", str(profile),
         "-f", "speedscope", "-d", str(int(duration))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_driver(plan: dict[str, Any], workdir: Path, profile: Path | None = None,
               worker_pid: int | None = None) -> dict[str, Any]:
    plan_path = workdir / "plan.json"
    plan["result"] = str(workdir / "result.json")
    plan_path.write_text(json.dumps(plan))
    driver = subprocess.Popen([sys.executable, __file__, "--child", str(plan_path)])
    profiler = None
    if profile is not None and worker_pid is not None and shutil.which("py-spy"):
        time.sleep(plan["warmup"])
        profiler = start_profiler(profile, worker_pid, plan["duration"])
    if driver.wait() != 0:
        raise SystemExit("the load driver failed")
    if profiler is not None:
        profiler.wait(60)
    return json.loads(Path(plan["result"]).read_text())


WRK_SCRIPT = """
local ids = {%(ids)s}
local keys = {%(keys)s}
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("seed", %(seed)d + counter)
end
init = function(args)
  math.randomseed(seed)
end
request = function()
  local id = ids[math.random(#ids)]
  local key = keys[math.random(#keys)]
  return wrk.format("GET", "/v1/subjects/" .. id .. "?purpose=%(purpose)s",
                    {["Authorization"] = "Bearer " .. key})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK-RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"connect\\": %%d, \\"read\\": %%d, "
    .. "\\"write\\": %%d, \\"status\\": %%d, \\"timeout\\": %%d, \\"p50_us\\": %%d, "
    .. "\\"p95_us\\": %%d, \\"p99_us\\": %%d}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _lua_list(values: Sequence[str]) -> str:
    return ",".join(f'"{v}"' for v in values)


def connections_per_worker(workers: Sequence[int]) -> list[int]:
    """Established connections each server worker holds now (from ``ss -tnp``; empty when ss
    is missing). Each worker listens on its own socket (api/workers.py) and the kernel spreads
    new connections by a hash, so 16 keep-alive connections still split 9/7 or 10/6 at times;
    a worker with more of them than its core can serve caps the run (benchmarks/README.md)."""
    if not shutil.which("ss") or not workers:
        return []
    listed = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True,
                            text=True).stdout
    counts = {pid: 0 for pid in workers}
    for line in listed.splitlines():
        for pid in workers:
            if f"pid={pid}," in line and ":5432" not in line.split()[-2]:
                counts[pid] += 1
    return sorted(counts.values(), reverse=True)


def run_wrk(plan: dict[str, Any], workdir: Path, profile: Path | None = None,
            worker_pid: int | None = None, workers: Sequence[int] = ()) -> dict[str, Any]:
    """Gated reads (or the ceiling's) from wrk, a C load generator: one thread, ``users``
    connections, each request a random customer and one of the users' keys. wrk keeps the
    driver's share of the two cores small, where the Python driver took most of one."""
    script = workdir / "reads.lua"
    script.write_text(WRK_SCRIPT % {
        "ids": _lua_list(plan["subjects"]),
        "keys": _lua_list([k["read"] for k in plan["keys"]]),
        "seed": plan["seed"], "purpose": PURPOSE_READ})
    users = len(plan["keys"])
    base_cmd = ["wrk", "-t", "1", "-c", str(users), "--timeout", "30s", "-s", str(script)]
    warm_answered = 0
    if plan["warmup"] > 0:
        warm = subprocess.run([*base_cmd, "-d", f"{plan['warmup']:g}s", plan["base"]],
                              check=True, capture_output=True, text=True)
        warm_answered = _wrk_result(warm.stdout, warm.stderr)["requests"]
    profiler = None
    if profile is not None and worker_pid is not None and shutil.which("py-spy"):
        profiler = start_profiler(profile, worker_pid, plan["duration"])
    timed = subprocess.Popen([*base_cmd, "-d", f"{plan['duration']:g}s", plan["base"]],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(min(2.0, plan["duration"] / 2))
    split = connections_per_worker(workers)
    stdout, stderr = timed.communicate()
    if timed.returncode != 0:
        raise SystemExit(f"wrk failed:\n{stdout}\n{stderr}")
    if profiler is not None:
        profiler.wait(60)
    r = _wrk_result(stdout, stderr)
    seconds = r["duration_us"] / 1e6
    errors = {k: r[k] for k in ("connect", "read", "write", "status", "timeout") if r[k]}
    return {"read": {
        "requests": r["requests"], "errors": sum(errors.values()),
        "per_second": r["requests"] / seconds, "p50_ms": r["p50_us"] / 1000,
        "p95_ms": r["p95_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
        "error_kinds": errors, "answered_with_warmup": warm_answered + r["requests"],
        "connections_per_worker": split}}


def _wrk_result(stdout: str, stderr: str) -> dict[str, int]:
    line = next((ln for ln in stdout.splitlines() if ln.startswith("WRK-RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{stdout}\n{stderr}")
    result: dict[str, int] = json.loads(line.removeprefix("WRK-RESULT "))
    return result


def cpu_seconds_by_program() -> dict[str, float]:
    """CPU seconds (user + system) so far of every live process, summed by program name
    (/proc/PID/stat's comm: ``postgres``, ``privguard``/``python``, ``wrk``...)."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        totals[comm] = totals.get(comm, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return totals


def cpu_share(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """Which programs used the two cores during a phase, in cores (1.0 = one core busy);
    processes that ended during the phase are not counted."""
    used = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    top = sorted(((v, k) for k, v in used.items() if v > 0.01 * seconds), reverse=True)[:5]
    return ", ".join(f"{k} {v / seconds:.2f}" for v, k in top)


def count_log_entries(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM access_log")).scalar_one())
    finally:
        engine.dispose()


@contextmanager
def measured_cpu(into: dict[str, str], phase: str) -> Iterator[None]:
    started, before = time.monotonic(), cpu_seconds_by_program()
    yield
    into[phase] = cpu_share(before, cpu_seconds_by_program(), time.monotonic() - started)


def _worker_pids(parent: int) -> list[int]:
    """uvicorn's worker processes: the parent's children started by multiprocessing's spawn
    (not its resource tracker)."""
    found = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    workers = []
    for pid in (int(p) for p in found.stdout.split()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            workers.append(pid)
    return workers


# ----------------------------------------------------------------------------- setup
@dataclass
class Fixture:
    subjects: list[str]
    phones: list[str]
    keys: list[dict[str, str]]
    env: dict[str, str]


def add_fixture_options(parser: argparse.ArgumentParser) -> None:
    """The options :func:`set_up` reads about the database and its customers (read_cpu.py
    sets up the same way)."""
    parser.add_argument("--database-url", default=DEFAULT_URL, help="PostgreSQL server URL")
    parser.add_argument("--subjects", type=int, default=2000, help="customers seeded")
    parser.add_argument("--seed", type=int, default=2026)


def set_up(runtime: Any, args: argparse.Namespace, workdir: Path) -> Fixture:
    now = datetime.now(UTC)
    note(f"seeding {args.subjects} customers")
    rows = generate_rows(runtime.vault, args.subjects, args.seed, now.date(), lambda _n: None)
    with unit_of_work(runtime.sessions) as session:
        from privguard.actors.system import cli_actor

        admin = cli_actor(session, now=now)
        ids = runtime.vault.insert_validated(session, admin, rows, now=now)
        platform = Organisation(organisation_id=__import__("uuid").uuid4(), kind="platform",
                                name="负载测试平台", created_at=now)
        session.add(platform)
        session.flush()
        actors = {
            name: create_actor(session, display_name=f"load {name}", role=role, now=now,
                               organisation_id=platform.organisation_id).actor_id
            for name, role in (("read", Role.CUSTOMER_SERVICE), ("consent", Role.ANALYST),
                               ("write", Role.PLATFORM_ADMIN))
        }
        keys = [
            {name: issue_api_key(session, actor, now=now, label="load").token
             for name, actor in actors.items()}
            for _ in range(args.users)
        ]
    # The benchmark database and keyring; every other setting at its production default.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVGUARD_")}
    env.update({
        "PRIVGUARD_HOME": str(runtime.settings.resolved_home),
        "PRIVGUARD_DATABASE_URL": runtime.settings.resolved_database_url,
        "PRIVGUARD_KEY_FILE": str(runtime.settings.resolved_key_file),
        "PRIVGUARD_ACCESS_LOG": "false" if args.no_access_log else "true",
        # Enough pooled connections for the requests a worker runs at once: past the pool, each
        # overflow connection is opened and closed per request (a PostgreSQL backend forked).
        "PRIVGUARD_DB_POOL_SIZE": str(args.pool_size),
        "PRIVGUARD_DB_MAX_OVERFLOW": "0",
    })
    if args.api_threads is not None:
        env["PRIVGUARD_API_THREADS"] = str(args.api_threads)
    return Fixture([str(i) for i in ids], [r["mobile_phone"] for r in rows], keys, env)


# ----------------------------------------------------------------------------- report
def summarise(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    out_: dict[str, dict[str, float]] = {}
    for op, values in result["latencies"].items():
        values = sorted(values)
        errs = sum(result["errors"][op].values())
        out_[op] = {
            "requests": len(values),
            "errors": errs,
            "per_second": len(values) / result["duration"],
            "p50_ms": percentile(values, 0.50),
            "p95_ms": percentile(values, 0.95),
            "p99_ms": percentile(values, 0.99),
            "error_kinds": result["errors"][op],
        }
    return out_


def print_phase(name: str, summary: dict[str, dict[str, Any]]) -> None:
    for op, s in summary.items():
        if not s["requests"]:
            continue
        out(f"{name:<9} {op:<8} {s['requests']:>8,} {s['errors']:>7,} {s['per_second']:>9,.0f} "
            f"{s['p50_ms']:>8.2f} {s['p95_ms']:>8.2f} {s['p99_ms']:>8.2f}"
            + (f"  errors: {s['error_kinds']}" if s["errors"] else ""))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_fixture_options(parser)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--users", type=int, default=16, help="concurrent virtual users")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="untimed seconds first")
    parser.add_argument("--pool-size", type=int, default=20,
                        help="PRIVGUARD_DB_POOL_SIZE per worker (overflow 0)")
    parser.add_argument("--api-threads", type=int,
                        help="PRIVGUARD_API_THREADS per worker (default: the server's, 4; 0: "
                             "on the event loop)")
    parser.add_argument("--no-access-log", action="store_true",
                        help="serve without uvicorn's per-request log line")
    parser.add_argument("--phases", default="ceiling,reads,mix")
    parser.add_argument(
        "--driver", choices=("wrk", "httpx"), default="wrk" if shutil.which("wrk") else "httpx",
        help="load generator for the ceiling and reads phases (the mix is always httpx, "
        "for per-operation figures); wrk when installed")
    parser.add_argument("--profile", type=Path, help="directory for a py-spy profile")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args.child)
    phases = args.phases.split(",")
    out(f"started      {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    out(f"cpu          {cpu_model()} ({os.cpu_count()} logical CPUs), load average "
        f"{os.getloadavg()[0]:.2f} at start")
    with workspace(args.workdir) as workdir:
        database = prepare_database(args.database_url, workdir)
        try:
            with privguard_runtime(database.url, workdir / "home", datetime.now(UTC)) as rt:
                described = describe_database(rt.engine)
                fixture = set_up(rt, args, workdir)
            out(f"database     {described}")
            out(f"workload     {args.workers} uvicorn workers, {args.users} virtual users "
                f"(one connection each, closed loop), {args.warmup:g} s warm-up + "
                f"{args.duration:g} s per phase, {args.subjects:,} customers, access log "
                f"{'off' if args.no_access_log else 'on'}, {args.pool_size} pooled connections "
                f"per worker; driver {args.driver} for ceiling and reads, httpx for the mix")
            results: dict[str, dict[str, dict[str, Any]]] = {}
            cpu: dict[str, str] = {}
            logged: dict[str, int] = {}
            base_plan = {"duration": args.duration, "warmup": args.warmup, "seed": args.seed,
                         "subjects": fixture.subjects, "phones": fixture.phones,
                         "keys": fixture.keys}
            if "ceiling" in phases:
                note("phase ceiling: bare FastAPI")
                bare = [sys.executable, "-m", "uvicorn", "_bare:app", "--app-dir",
                        str(Path(__file__).parent), "--workers", str(args.workers),
                        "--log-level", "warning"]
                with server(bare, dict(os.environ), workdir, "bare") as base:
                    plan = {**base_plan, "base": base, "mix": {"read": 1}}
                    with measured_cpu(cpu, "ceiling"):
                        results["ceiling"] = (
                            run_wrk(plan, workdir) if args.driver == "wrk"
                            else summarise(run_driver(plan, workdir)))
            serve = [str(Path(sys.executable).with_name("privguard")), "serve", "--workers",
                     str(args.workers)]
            with server(serve, fixture.env, workdir, "privguard") as base:
                parent = server.pid  # type: ignore[attr-defined]
                for phase in ("reads", "mix"):
                    if phase not in phases:
                        continue
                    note(f"phase {phase}")
                    mix = {"read": 1} if phase == "reads" else MIX
                    profile = None
                    if args.profile and phase == "reads":
                        args.profile.mkdir(parents=True, exist_ok=True)
                        profile = args.profile / "server-worker.speedscope.json"
                    pids = _worker_pids(parent)
                    plan = {**base_plan, "base": base, "mix": mix,
                            "seed": args.seed + len(results)}
                    worker = pids[0] if pids else None
                    entries_before = count_log_entries(database.url)
                    with measured_cpu(cpu, phase):
                        results[phase] = (
                            run_wrk(plan, workdir, profile, worker, pids)
                            if args.driver == "wrk" and phase == "reads"
                            else summarise(run_driver(plan, workdir, profile, worker)))
                    logged[phase] = count_log_entries(database.url) - entries_before
            log_lines = (workdir / "privguard.log").read_text(errors="replace").count("\n")
        finally:
            database.drop()
    out()
    out(f"{'phase':<9} {'op':<8} {'requests':>8} {'errors':>7} {'req/s':>9} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'p99 ms':>8}")
    for phase, summary in results.items():
        print_phase(phase, summary)
    answered = results.get("reads", {}).get("read", {}).get("answered_with_warmup")
    if answered is not None:
        # Every answered read committed its access-log entry first; a few more entries than
        # answers are the reads in flight when wrk stopped counting.
        out(f"access log   {logged['reads']:,} entries written during the reads phase for "
            f"{answered:,} reads answered (warm-up included): "
            f"{'every read logged' if logged['reads'] >= answered else 'READS MISSING'}")
    split = results.get("reads", {}).get("read", {}).get("connections_per_worker")
    if split:
        out(f"connections  per server worker during the reads: {'/'.join(map(str, split))}")
    for phase, share in cpu.items():
        out(f"cpu {phase:<8} cores busy by program (warm-up included): {share}")
    ceiling = results.get("ceiling", {}).get("read", {}).get("per_second")
    reads = results.get("reads", {}).get("read", {})
    ratio = reads.get("per_second", 0) / ceiling if ceiling else None
    mix_total = sum(s["per_second"] for s in results.get("mix", {}).values())
    mix_errors = sum(s["errors"] for s in results.get("mix", {}).values())
    if ratio is not None:
        out(f"ratio        gated masked reads / bare FastAPI ceiling = {ratio:.2f} "
            f"({reads.get('per_second', 0):,.0f} / {ceiling:,.0f} req/s)")
    met = bool(reads) and reads["per_second"] >= GOAL_READS and reads["p99_ms"] < GOAL_P99_MS \
        and reads["errors"] == 0
    if reads:
        out(f"goal         >= {GOAL_READS:,.0f} gated masked reads/s, p99 < {GOAL_P99_MS:g} ms, "
            f"0 errors: {'met' if met else 'MISSED'} ({reads['per_second']:,.0f}/s, "
            f"p99 {reads['p99_ms']:.1f} ms, {reads['errors']} errors)")
    out(f"server log   {log_lines:,} lines written by the server (JSON, PI-redacted)")
    summary = {
        "reads_per_second": round(reads.get("per_second", 0), 1),
        "reads_p50_ms": round(reads.get("p50_ms", 0), 2),
        "reads_p95_ms": round(reads.get("p95_ms", 0), 2),
        "reads_p99_ms": round(reads.get("p99_ms", 0), 2),
        "reads_errors": reads.get("errors"),
        "ceiling_per_second": round(ceiling, 1) if ceiling else None,
        "ratio_to_ceiling": round(ratio, 3) if ratio is not None else None,
        "mix_per_second": round(mix_total, 1),
        "mix_errors": mix_errors,
        "mix": {op: {k: (round(v, 2) if isinstance(v, float) else v) for k, v in s.items()}
                for op, s in results.get("mix", {}).items()},
        "workers": args.workers, "users": args.users, "duration": args.duration,
        "pool_size": args.pool_size, "driver": args.driver, "api_threads": args.api_threads,
        "access_log": not args.no_access_log, "database": "postgresql",
        "reads_logged": logged.get("reads"),
        "connections_per_worker": split or None,
        "goal_met": met,
    }
    out(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
