"""How fast services get consent answers: in process from the cache, and over HTTP.

Recommendation, search, ads and messaging ask "may we?" for every customer they touch, so the
issue's goal is that an in-process answer takes "well under a millisecond" (read here as at most
100 µs: a tenth of one). This measures ``ConsentCache`` (privguard/consent/decisions.py) and the
batch route built on it, ``POST /v1/consent/check``, for the purpose
``personalised_recommendation``, in one run and one database:

1. **In process.** N subjects (the realistic records of vault.py and access.py), each with a few
   consent events written straight into the ledger: about half currently consent to
   personalisation; the others withdrew, let it expire, consented under a notice version that
   has since changed materially (suspended), or were never asked. Each side answers for every
   subject once, in one shuffled order:

   * *cold*: a freshly emptied cache, ``may_use_many`` in batches of ``--batch`` (500): every
     subject's events are loaded from the database, one ``IN`` query per batch;
   * *dict* (baseline) and *may_use*: ``may_use(subject, purpose)`` with every subject's events
     cached, against a plain ``dict`` lookup of a precomputed bool per subject, in the same
     order, raced batch by batch (``_common.race``); ratio = may_use / dict;
   * *cold single*: ``may_use`` of a subject just dropped from the cache (one query each), for
     an evenly spaced sample: what the first answer about a customer costs after the TTL.

2. **Over HTTP.** The same subjects in batches of 1,000 (the route's maximum) through the route,
   ``--http-passes`` times, as an ``analyst`` (a role that works for the purpose): through
   FastAPI's ``TestClient`` (in this process, as the tests call it) and through a real
   ``privguard serve`` (uvicorn) started in a subprocess on a free port (``--no-server`` leaves
   it out), against the baseline of ``may_use_many`` of the same 1,000 ids in process. All
   caches are warm (an untimed pass first), so the difference is what HTTP, authentication,
   validation and the route's access-log entry add per batch.

Every answer of every side is checked against the state the setup wrote; a wrong one exits with
status 2 and no result line. The consent cache's lifetime is pinned to an hour for the whole run
(production's default is one second), so that a phase measures what it says, cold or warm, and
never a mixture of expired and live entries.

The last line of stdout is one JSON object starting with ``may_use_us`` and ``may_use_ratio``.
Progress goes to stderr.

Usage::

    python benchmarks/consent.py [N] [--batch 500] [--http-passes 3] [--database-url URL]

See benchmarks/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import accumulate
from pathlib import Path
from typing import Any

import httpx
from annotated_types import MaxLen
from fastapi.testclient import TestClient
from sqlalchemy import insert

import _common as common
from _common import Row, Tick, out
from privguard.actors.service import create_actor, issue_api_key
from privguard.actors.system import cli_actor
from privguard.api.app import create_app
from privguard.bootstrap import Runtime
from privguard.consent.decisions import PERSONALISATION, ConsentCache
from privguard.consent.models import ConsentEvent, NoticeVersion
from privguard.consent.rules import Action, Channel, Kind, topic
from privguard.consent.schemas import ConsentCheck
from privguard.marketplace.models import Organisation
from privguard.policy.rules import ActorRef, Role
from privguard.store.uow import unit_of_work

PURPOSE = PERSONALISATION
CHECK_URL = "/v1/consent/check"
# The route's own limit, read from its request model so the benchmark follows it if it changes.
HTTP_BATCH: int = next(
    m.max_length for m in ConsentCheck.model_fields["subject_ids"].metadata if isinstance(m, MaxLen)
)
CACHE_TTL = 3600.0  # seconds; longer than any run (see the module docstring)
GOAL_US = 100.0  # "well under a millisecond", read as at most a tenth of one
DEFAULT_HTTP_PASSES = 3
COLD_SINGLE_SAMPLE = 1000  # subjects asked one by one with an emptied cache entry
EVENT_CHUNK = 5000  # consent events per INSERT statement while setting up
SERVER_START_SECONDS = 60.0
DICT, MAY_USE = "dict", "may_use"
IN_PROCESS, TESTCLIENT, UVICORN = "in-process", "testclient", "uvicorn"
OTHER_PURPOSES = ("marketing_sms", "marketing_email", "analytics", "history_collection")
GRANT_TEXT = "我同意平台根据我的浏览、搜索和购买记录向我推荐商品，可随时在“隐私设置”中关闭。"
WITHDRAW_TEXT = "withdrawn by the consumer"


# ----------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Story:
    """How one subject's personalisation consent came to be what it is now; ``consented`` is
    the answer every side must give, written down before anything is asked."""

    name: str
    share: float
    consented: bool


STORIES: tuple[Story, ...] = (
    Story("granted", 0.35, True),  # granted under the notice in force
    Story("renewed", 0.10, True),  # granted under v1, withdrawn, granted again under v2
    Story("expiring", 0.05, True),  # granted under v2 until a date still ahead
    Story("withdrawn", 0.15, False),  # granted under v2, then withdrawn
    Story("expired", 0.10, False),  # granted under v2 until a date now past
    Story("suspended", 0.05, False),  # granted under v1 only; v2 changed the purpose materially
    Story("never_asked", 0.20, False),  # other purposes only
)


@dataclass(frozen=True)
class Notices:
    """The two published notice versions: v2 changed personalisation materially, so a grant
    given under v1 and not renewed is suspended (the cache must know the material changes)."""

    v1_at: datetime
    v2_at: datetime
    hashes: Mapping[int, str]


@dataclass(frozen=True)
class Cast:
    admin: ActorRef  # registers the subjects (the CLI operator, as import and seed do)
    analyst: ActorRef  # asks over HTTP: analysts work for personalised_recommendation
    token: str  # the analyst's API key


def assign_stories(n: int, seed: int) -> list[Story]:
    """Every subject's story, in the shares of :data:`STORIES` (exactly, up to rounding), in a
    seeded random order so that neither ids nor the asking order line up with the answer."""
    bounds = list(accumulate(story.share for story in STORIES))
    last = len(STORIES) - 1
    stories = [STORIES[min(bisect_right(bounds, (i + 0.5) / n), last)] for i in range(n)]
    random.Random(seed).shuffle(stories)
    return stories


def publish_notices(runtime: Runtime, now: datetime) -> Notices:
    """Two notice versions as the publisher stores them (the minimal row of
    tests/integration/world.py ``publish_stub_notice``): grants must name a published version,
    and the second's material change is what suspends v1's personalisation grants."""
    v1_at, v2_at = now - timedelta(days=400), now - timedelta(days=100)
    hashes = {1: f"{1:064x}", 2: f"{2:064x}"}
    with unit_of_work(runtime.sessions) as session:
        for version, at, affected in ((1, v1_at, []), (2, v2_at, [topic(Kind.PURPOSE, PURPOSE)])):
            session.add(
                NoticeVersion(
                    version=version,
                    content_hash=hashes[version],
                    document="{}",
                    published_at=at,
                    material=bool(affected),
                    changes="[]",
                    affected=json.dumps(affected),
                )
            )
    return Notices(v1_at, v2_at, hashes)


def create_cast(runtime: Runtime, now: datetime) -> Cast:
    """The CLI operator and an analyst of the platform with an API key, as
    tests/integration/world.py creates them (authentication reads these rows)."""
    with unit_of_work(runtime.sessions) as session:
        platform_id = uuid.uuid4()
        session.add(
            Organisation(
                organisation_id=platform_id, kind="platform", name="示例商城平台", created_at=now
            )
        )
        session.flush()
        actor = create_actor(
            session,
            display_name="推荐服务 数据分析",
            role=Role.ANALYST,
            now=now,
            organisation_id=platform_id,
        )
        token = issue_api_key(session, actor.actor_id, now=now, label="benchmark").token
        admin = cli_actor(session, now=now)
    analyst = ActorRef(actor.actor_id, Role.ANALYST, platform_id, actor.display_name)
    return Cast(admin, analyst, token)


def register(
    runtime: Runtime,
    admin: ActorRef,
    rows: Sequence[Row],
    batch: int,
    now: datetime,
    tick: Tick,
) -> list[uuid.UUID]:
    """Store the subjects (the bulk import path): consent events name existing subjects."""
    ids: list[uuid.UUID] = []
    for chunk in common.chunks(rows, batch):
        with unit_of_work(runtime.sessions) as session:
            ids.extend(runtime.vault.insert_validated(session, admin, chunk, now=now))
        tick(len(chunk))
    return ids


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * rng.random()


def _event(
    notices: Notices,
    subject_id: uuid.UUID,
    target: str,
    action: Action,
    at: datetime,
    *,
    version: int | None = None,
    expires_at: datetime | None = None,
) -> Row:
    """One ledger row with every column ``ConsentLedger.record`` fills for an answer given in
    the app (no actor or request: these were not recorded through the API)."""
    granted = action is Action.GRANTED
    return {
        "subject_id": subject_id,
        "kind": Kind.PURPOSE.value,
        "target": target,
        "action": action.value,
        "at": at,
        "expires_at": expires_at,
        "notice_version": version if granted else None,
        "notice_hash": notices.hashes[version] if granted and version else None,
        "channel": Channel.APP.value,
        "text_shown": GRANT_TEXT if granted else WITHDRAW_TEXT,
        "actor_id": None,
        "guardian_subject_id": None,
        "request_id": None,
    }


def history(
    rng: random.Random, notices: Notices, subject_id: uuid.UUID, story: Story, now: datetime
) -> list[Row]:
    """The subject's events, oldest first: its personalisation story plus, independently, a
    grant (sometimes withdrawn again) for some other purposes, so that the cache has to pick
    the purpose's topic out of a few events, as it would in production."""
    v1_start, v1_end = notices.v1_at + timedelta(days=1), notices.v2_at - timedelta(days=1)
    v2_start, v2_end = notices.v2_at + timedelta(days=1), now - timedelta(days=40)
    grant, withdraw = Action.GRANTED, Action.WITHDRAWN

    def event(action: Action, at: datetime, **extra: Any) -> Row:
        return _event(notices, subject_id, PURPOSE, action, at, **extra)

    events: list[Row] = []
    t1 = _between(rng, v2_start, v2_end)
    if story.name == "granted":
        events.append(event(grant, t1, version=2))
    elif story.name == "renewed":
        old = _between(rng, v1_start, v1_end)
        events += [
            event(grant, old, version=1),
            event(withdraw, _between(rng, old, v1_end)),
            event(grant, t1, version=2),
        ]
    elif story.name == "expiring":
        ahead = now + timedelta(days=rng.randint(30, 365))
        events.append(event(grant, t1, version=2, expires_at=ahead))
    elif story.name == "withdrawn":
        events += [
            event(grant, t1, version=2),
            event(withdraw, _between(rng, t1, now - timedelta(days=1))),
        ]
    elif story.name == "expired":
        past = now - timedelta(days=rng.randint(1, 30))
        events.append(event(grant, t1, version=2, expires_at=past))
    elif story.name == "suspended":
        events.append(event(grant, _between(rng, v1_start, v1_end), version=1))
    elif story.name != "never_asked":
        raise ValueError(f"no events written for story {story.name!r}")
    for purpose in OTHER_PURPOSES:
        if rng.random() < 0.3:
            at = _between(rng, v1_start, v2_end)
            version = 1 if at < notices.v2_at else 2
            events.append(_event(notices, subject_id, purpose, grant, at, version=version))
            if rng.random() < 0.3:
                later = _between(rng, at, now - timedelta(days=1))
                events.append(_event(notices, subject_id, purpose, withdraw, later))
    events.sort(key=lambda row: row["at"])
    return events


def write_consents(runtime: Runtime, histories: Sequence[Sequence[Row]], tick: Tick) -> None:
    """Bulk-insert every subject's events (each history oldest first).

    The cache replays a subject's events in ``event_id`` order, so that order must be each
    subject's chronological order. Rows are written in rounds (every subject's first event,
    then every second one, ...), each round in later statements than the one before, so that
    holds whatever order a database numbers the rows of one multi-row INSERT in."""
    events = ConsentEvent.__table__
    for k in range(max(map(len, histories), default=0)):
        rows = [h[k] for h in histories if len(h) > k]
        for chunk in common.chunks(rows, EVENT_CHUNK):
            with unit_of_work(runtime.sessions) as session:
                session.connection().execute(insert(events), list(chunk))
            tick(len(chunk))


# ----------------------------------------------------------------------------------- in process
def lookup_batch(table: Mapping[uuid.UUID, bool], ids: Sequence[uuid.UUID]) -> list[bool]:
    """The baseline: what an answer costs when a service keeps its own precomputed flag."""
    return [table[sid] for sid in ids]


def may_use_batch(cache: ConsentCache, ids: Sequence[uuid.UUID]) -> list[bool]:
    """``may_use`` as a service calls it, once per subject (the loop is the same as the
    baseline's, so the difference is the answer alone)."""
    may_use = cache.may_use
    return [may_use(sid, PURPOSE) for sid in ids]


@dataclass(frozen=True)
class InProcess:
    dict_seconds: float
    may_use_seconds: float
    cold_seconds: float
    cold_statements: float  # per may_use_many call of --batch subjects
    single_seconds: list[float]  # one per sampled cold may_use


def mismatches(
    side: str, asked: Sequence[uuid.UUID], got: Sequence[bool], expected: Mapping[uuid.UUID, bool]
) -> list[str]:
    """One line per wrong answer (the first 20), naming the position and the subject."""
    problems = (
        [f"{side}: {len(got)} answers for {len(asked)} subjects"] if len(got) != len(asked) else []
    )
    for position, (sid, answer) in enumerate(zip(asked, got, strict=False)):
        if answer is not expected[sid]:
            problems.append(
                f"{side}: answer {position} for subject {sid} was {answer!r}, "
                f"expected {expected[sid]}"
            )
            if len(problems) >= 20:
                break
    return problems


def measure_in_process(
    runtime: Runtime,
    asked: Sequence[uuid.UUID],
    expected: Mapping[uuid.UUID, bool],
    args: argparse.Namespace,
    bars: common.Bars,
) -> tuple[InProcess, list[str]]:
    """Part 1 on the runtime's own cache (the one the route uses afterwards); returns the
    figures and every problem found in the answers."""
    cache = runtime.consent_cache
    n, batch = len(asked), args.batch
    problems: list[str] = []

    # Warm-up (untimed): connection pool, statement cache, the material notice changes; then
    # forget everything so the cold phase starts empty.
    cache.may_use_many(asked[: min(batch, 200)], PURPOSE)
    cache.invalidate()
    gc.collect()
    gc.freeze()

    cold_answers: list[bool] = []
    cold_seconds = 0.0
    with bars.task("cold (may_use_many)", n) as tick:
        for chunk in common.chunks(asked, batch):
            start = time.perf_counter()
            answers = cache.may_use_many(chunk, PURPOSE)
            cold_seconds += time.perf_counter() - start
            cold_answers.extend(answers[sid] for sid in chunk)
            tick(len(chunk))
    problems += mismatches("cold may_use_many", asked, cold_answers, expected)

    table = dict(expected)
    kept: dict[str, dict[int, Any]] = {DICT: {}, MAY_USE: {}}
    ordered = common.chunks(asked, batch)
    with bars.task("warm (dict, may_use)", len(ordered)) as tick:
        seconds = common.race(
            [DICT, MAY_USE],
            [
                [partial(lookup_batch, table, chunk), partial(may_use_batch, cache, chunk)]
                for chunk in ordered
            ],
            [common.keeper(kept[DICT], batch, 1), common.keeper(kept[MAY_USE], batch, 1)],
            tick,
            args.profile,
            profile_prefix="in-process ",
        )
    for side in (DICT, MAY_USE):
        got = [kept[side][position] for position in sorted(kept[side])]
        problems += mismatches(f"warm {side}", asked, got, expected)

    sample = list(asked[:: max(1, n // COLD_SINGLE_SAMPLE)])
    single_seconds: list[float] = []
    single_answers: list[bool] = []
    with bars.task("cold single (may_use)", len(sample)) as tick:
        for sid in sample:
            cache.invalidate(sid)
            start = time.perf_counter()
            answer = cache.may_use(sid, PURPOSE)
            single_seconds.append(time.perf_counter() - start)
            single_answers.append(answer)
            tick(1)
    gc.unfreeze()
    problems += mismatches("cold single may_use", sample, single_answers, expected)

    # Statements per cold call, counted outside the timed phase (the listener costs time too).
    again = list(asked[:batch])
    for sid in again:
        cache.invalidate(sid)
    with common.count_statements(runtime.engine) as counter:
        cache.may_use_many(again, PURPOSE)
    figures = InProcess(
        seconds[DICT], seconds[MAY_USE], cold_seconds, float(counter[0]), single_seconds
    )
    return figures, problems


# ----------------------------------------------------------------------------------- HTTP
def free_port() -> int:
    """A port nobody listens on now (as tests/integration/test_demo_server.py picks one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def privguard_command() -> list[str]:
    """The ``privguard`` console script of this interpreter's environment, so the server runs
    the same privguard as the benchmark."""
    beside = Path(sys.executable).with_name("privguard")
    exe = str(beside) if beside.exists() else shutil.which("privguard")
    if exe is None:
        raise SystemExit("the privguard console script is not installed: pip install -e .")
    return [exe]


def server_environment(runtime: Runtime, port: int) -> dict[str, str]:
    """The benchmark runtime's own settings as ``PRIVGUARD_*`` variables (and no others), so the
    server opens the same database with the same keyring, catalog, policy and cache lifetime."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVGUARD_")}
    for name, value in runtime.settings.model_dump().items():
        if value is not None:
            env[f"PRIVGUARD_{name.upper()}"] = str(value)
    env.update({"PRIVGUARD_HOST": "127.0.0.1", "PRIVGUARD_PORT": str(port), "COLUMNS": "200"})
    return env


@contextmanager
def privguard_server(runtime: Runtime, workdir: Path) -> Iterator[str]:
    """``privguard serve`` in a subprocess on a free port; yields its base URL once /readyz
    answers, and stops it at the end. Its output goes to a file (a pipe nobody reads would
    block the server once full) that is shown if it does not come up."""
    port = free_port()
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*privguard_command(), "serve"],
            cwd=workdir,
            env=server_environment(runtime, port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if proc.poll() is not None:
                raise SystemExit(
                    f"privguard serve exited with status {proc.returncode}:\n"
                    f"{log_path.read_text()[-3000:]}\n(--no-server leaves the server out)"
                )
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"privguard serve did not answer /readyz within {SERVER_START_SECONDS:.0f} s:"
                    f"\n{log_path.read_text()[-3000:]}\n(--no-server leaves the server out)"
                )
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def in_process_check(
    cache: ConsentCache, recipient: uuid.UUID | None, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, bool]:
    """The baseline: exactly the call the route makes for these ids."""
    return cache.may_use_many(ids, PURPOSE, recipient=recipient)


def http_check(
    post: Callable[..., httpx.Response], headers: Mapping[str, str], ids: Sequence[uuid.UUID]
) -> tuple[int, Any]:
    """One batch as a client sends it: the ids as JSON, the answer parsed."""
    response = post(
        CHECK_URL, headers=headers, json={"purpose": PURPOSE, "subject_ids": [str(s) for s in ids]}
    )
    return response.status_code, response.json()


def check_problems(
    side: str,
    batches: Sequence[Sequence[uuid.UUID]],
    kept: Mapping[int, Any],
    expected: Mapping[uuid.UUID, bool],
) -> list[str]:
    """Every batch's answer against the setup: the in-process dict, or HTTP 200 with the purpose
    and exactly one right answer per id asked."""
    problems: list[str] = []
    for index, ids in enumerate(batches):
        result = kept.get(index)
        if side == IN_PROCESS:
            want: Any = {sid: expected[sid] for sid in ids}
            ok = result == want
        else:
            want = {"purpose": PURPOSE, "allowed": {str(sid): expected[sid] for sid in ids}}
            ok = result is not None and result[0] == 200 and result[1] == want
        if not ok:
            shown = str(result)[:300]
            problems.append(f"{side}: batch {index} answered {shown}")
            if len(problems) >= 20:
                break
    return problems


@dataclass(frozen=True)
class HttpFigures:
    batches: int
    subjects: int
    seconds: dict[str, float]


def measure_http(
    runtime: Runtime,
    cast: Cast,
    asked: Sequence[uuid.UUID],
    expected: Mapping[uuid.UUID, bool],
    args: argparse.Namespace,
    bars: common.Bars,
    workdir: Path,
) -> tuple[HttpFigures, list[str]]:
    """Part 2: the route through TestClient and a real server against ``may_use_many`` in
    process, batch by batch in rotation (``_common.race``)."""
    one_pass = common.chunks(asked, HTTP_BATCH)
    batches = one_pass * args.http_passes
    headers = {"Authorization": f"Bearer {cast.token}"}
    cache = runtime.consent_cache
    recipient = cast.analyst.organisation_id
    with ExitStack() as stack:
        client = stack.enter_context(TestClient(create_app(runtime)))
        sides: dict[str, Callable[[Sequence[uuid.UUID]], Any]] = {
            IN_PROCESS: partial(in_process_check, cache, recipient),
            TESTCLIENT: partial(http_check, client.post, headers),
        }
        if not args.no_server:
            with bars.task("start privguard serve", 1) as tick:
                base = stack.enter_context(privguard_server(runtime, workdir))
                tick(1)
            remote = stack.enter_context(httpx.Client(base_url=base, timeout=60))
            sides[UVICORN] = partial(http_check, remote.post, headers)
        names = list(sides)
        # Warm-up (untimed): every side answers one pass, which also fills the server's cache.
        with bars.task("http warm-up", len(one_pass)) as tick:
            for ids in one_pass:
                for call in sides.values():
                    call(ids)
                tick(1)
        kept: dict[str, dict[int, Any]] = {name: {} for name in names}

        def keep(name: str) -> Callable[[int, Any], None]:
            def store(index: int, result: Any) -> None:
                kept[name][index] = result

            return store

        gc.collect()
        gc.freeze()
        with bars.task(f"http ({len(names)} sides)", len(batches)) as tick:
            seconds = common.race(
                names,
                [[partial(sides[name], ids) for name in names] for ids in batches],
                [keep(name) for name in names],
                tick,
                args.profile,
                profile_prefix="http ",
            )
        gc.unfreeze()
    problems: list[str] = []
    for name in names:
        problems += check_problems(name, batches, kept[name], expected)
    return HttpFigures(len(batches), len(asked) * args.http_passes, seconds), problems


# ----------------------------------------------------------------------------------- main
def workload(args: argparse.Namespace) -> str:
    """The end of the report's ``workload`` line: what is asked, how it is batched."""
    server = "" if args.no_server else " and privguard serve"
    return (
        f"consent to {PURPOSE} asked of each: cold batch={args.batch}, HTTP batches of "
        f"{HTTP_BATCH:,} x {args.http_passes} passes via TestClient{server}, consent cache "
        f"TTL {CACHE_TTL:.0f} s, seed={args.seed}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = common.argument_parser(
        "ConsentCache answers in process (warm and cold) and POST /v1/consent/check over HTTP."
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=common.DEFAULT_BATCH,
        help=f"subjects per may_use_many call when the cache is cold, per warm race batch and "
        f"per registration transaction (default {common.DEFAULT_BATCH})",
    )
    parser.add_argument(
        "--http-passes",
        type=int,
        default=DEFAULT_HTTP_PASSES,
        help=f"timed passes over all N subjects in HTTP batches of {HTTP_BATCH:,} "
        f"(default {DEFAULT_HTTP_PASSES})",
    )
    parser.add_argument(
        "--no-server",
        action="store_true",
        help="leave out the privguard serve subprocess (HTTP through TestClient only)",
    )
    parser.add_argument(
        "--database-url",
        help="postgresql+psycopg://user@host/db: run in a throw-away database the benchmark "
        "creates (and drops) on that server. Default: SQLite in a temporary directory.",
    )
    common.add_run_options(parser)
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="cProfile each raced side; write DIR/<part>_<side>.pstats and print the top "
        "functions to stderr (profiling inflates Python-heavy sides: ignore such a run's ratios)",
    )
    return common.parse_positive(parser, argv, "--batch", "--http-passes")


@dataclass(frozen=True)
class Setup:
    asked: list[uuid.UUID]  # every subject once, in the shuffled asking order
    expected: dict[uuid.UUID, bool]
    stories: list[Story]
    events: int
    cast: Cast


def set_up(runtime: Runtime, args: argparse.Namespace, bars: common.Bars, now: datetime) -> Setup:
    """Subjects, notices, the analyst and the ledger; prints how long that took (untimed)."""
    n = args.n
    cast = create_cast(runtime, now)
    notices = publish_notices(runtime, now)
    with bars.task("generate", n) as tick:
        started = time.perf_counter()
        rows = common.generate_rows(runtime.vault, n, args.seed, now.date(), tick)
        generated = time.perf_counter() - started
    with bars.task("register", n) as tick:
        started = time.perf_counter()
        ids = register(runtime, cast.admin, rows, args.batch, now, tick)
        registered = time.perf_counter() - started
    stories = assign_stories(n, args.seed)
    rng = random.Random(args.seed + 2)
    histories = [history(rng, notices, sid, s, now) for sid, s in zip(ids, stories, strict=True)]
    events = sum(map(len, histories))
    with bars.task("consent events", events) as tick:
        started = time.perf_counter()
        write_consents(runtime, histories, tick)
        written = time.perf_counter() - started
    out(
        f"data         generated and validated in {generated:.1f} s, registered in "
        f"{registered:.1f} s, {events:,} consent events ({events / n:.1f} per subject) "
        f"written in {written:.1f} s (not timed below)"
    )
    order = list(range(n))
    random.Random(args.seed + 1).shuffle(order)
    expected = {sid: story.consented for sid, story in zip(ids, stories, strict=True)}
    return Setup([ids[i] for i in order], expected, stories, events, cast)


def describe_answers(stories: Sequence[Story]) -> str:
    """The ``answers`` line: how many subjects consent now, and by which story."""
    counts = {story.name: 0 for story in STORIES}
    for story in stories:
        counts[story.name] += 1

    def part(consented: bool) -> str:
        named = [s.name for s in STORIES if s.consented is consented]
        return ", ".join(f"{name} {counts[name]:,}" for name in named)

    yes = sum(story.consented for story in stories)
    return (
        f"answers      {yes:,} of {len(stories):,} consent now ({part(True)}); "
        f"{len(stories) - yes:,} do not ({part(False)})"
    )


def run(args: argparse.Namespace, workdir: Path, now: datetime) -> int:
    db = common.prepare_database(args.database_url, workdir)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    try:
        with (
            common.Bars(not args.no_progress, label_width=22) as bars,
            common.privguard_runtime(
                db.url, workdir / "home", now, consent_cache_seconds=CACHE_TTL
            ) as runtime,
        ):
            for line in common.describe_environment(runtime.engine, args.n, workload(args)):
                out(line)
            setup = set_up(runtime, args, bars, now)
            out(describe_answers(setup.stories))
            local, problems = measure_in_process(runtime, setup.asked, setup.expected, args, bars)
            if common.verify_failed(problems, "in-process answers were wrong: no result"):
                return 2
            http, problems = measure_http(
                runtime, setup.cast, setup.asked, setup.expected, args, bars, workdir
            )
            if common.verify_failed(problems, "answers over HTTP were wrong: no result"):
                return 2
    finally:
        db.drop()
    return report(args, db, setup, local, http)


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(
    args: argparse.Namespace,
    db: common.Database,
    setup: Setup,
    local: InProcess,
    http: HttpFigures,
) -> int:
    n, batch = args.n, args.batch
    single = local.single_seconds
    single_us = sum(single) / len(single) * 1e6
    single_median_us = percentile(single, 0.5) * 1e6
    single_p99_us = percentile(single, 0.99) * 1e6
    dict_us = local.dict_seconds / n * 1e6
    may_use_us = local.may_use_seconds / n * 1e6
    cold_us = local.cold_seconds / n * 1e6
    ratio = local.may_use_seconds / local.dict_seconds
    goal_met = may_use_us <= GOAL_US
    cold_goal_met = cold_us <= GOAL_US
    single_goal_met = single_us <= GOAL_US

    out(
        f"verified     every answer against the setup: {n:,} cold, {n:,} per warm side, "
        f"{len(single):,} cold single, {http.batches} HTTP batches per side"
    )
    out()
    out(f"in process   {PURPOSE}, one answer per subject")
    out(
        f"{'side':<34} {'answers':>8} {'seconds':>8} {'answers/s':>11} {'µs/answer':>10} "
        f"{'ratio':>7}"
    )
    rows = (
        ("dict lookup (baseline)", n, local.dict_seconds, "1.00"),
        ("may_use, warm cache", n, local.may_use_seconds, f"{ratio:.1f}"),
        (f"may_use_many, cold, {batch}/call", n, local.cold_seconds, ""),
        ("may_use, cold, one subject", len(single), sum(single), ""),
    )
    for label, count, seconds, shown in rows:
        out(
            f"{label:<34} {count:>8,} {seconds:>8.3f} {count / seconds:>11,.0f} "
            f"{seconds / count * 1e6:>10.2f} {shown:>7}"
        )
    begin = 1 if db.backend == "sqlite" else 0
    out(
        f"             (ratio: / dict time; cold: {local.cold_statements - begin:.0f} SELECT per "
        f"may_use_many call, BEGIN and COMMIT aside; cold single: median "
        f"{single_median_us:.0f} µs, p99 {single_p99_us:.0f} µs)"
    )

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    out(f"goal         in-process answers well under a millisecond, read as <= {GOAL_US:.0f} µs:")
    out(f"             warm may_use {may_use_us:.1f} µs per answer: {verdict(goal_met)}")
    out(
        f"             cold may_use_many {cold_us:.1f} µs per subject: {verdict(cold_goal_met)}; "
        f"cold may_use of one subject {single_us:.1f} µs (p99 {single_p99_us:.0f} µs): "
        f"{verdict(single_goal_met)}"
    )

    seconds = http.seconds
    base = seconds[IN_PROCESS]
    labels = {
        IN_PROCESS: "may_use_many in process (baseline)",
        TESTCLIENT: "POST /v1/consent/check, TestClient",
        UVICORN: "POST /v1/consent/check, uvicorn",
    }
    out()
    out(
        f"http         batches of {HTTP_BATCH:,} subjects, all N asked {args.http_passes} "
        f"time(s): {http.batches} batches ({http.subjects:,} subjects) per side, warm caches"
    )
    out(
        f"{'side':<34} {'batches':>8} {'seconds':>8} {'batches/s':>10} {'subjects/s':>11} "
        f"{'ms/batch':>9} {'ratio':>7}"
    )
    for side, s in seconds.items():
        out(
            f"{labels[side]:<34} {http.batches:>8,} {s:>8.3f} {http.batches / s:>10,.1f} "
            f"{http.subjects / s:>11,.0f} {s / http.batches * 1e3:>9.2f} {s / base:>7.1f}"
        )
    if args.profile:
        out("profiled     timings above include cProfile overhead: do not quote these ratios")

    result: dict[str, Any] = {
        "may_use_us": round(may_use_us, 2),
        "may_use_ratio": round(ratio, 1),
        "dict_us": round(dict_us, 3),
        "may_use_per_second": round(n / local.may_use_seconds),
        "cold_us": round(cold_us, 1),
        "cold_per_second": round(n / local.cold_seconds),
        "cold_single_us": round(single_us, 1),
        "cold_single_median_us": round(single_median_us, 1),
        "cold_single_p99_us": round(single_p99_us, 1),
        "http_batch": HTTP_BATCH,
        "http_batches": http.batches,
    }
    for side, s in seconds.items():
        key = side.replace("-", "_")
        result[f"{key}_batch_ms"] = round(s / http.batches * 1e3, 2)
        result[f"{key}_batches_per_second"] = round(http.batches / s, 1)
        result[f"{key}_subjects_per_second"] = round(http.subjects / s)
        if side != IN_PROCESS:
            result[f"{key}_ratio"] = round(s / base, 1)
    result.update(
        {
            "consented": sum(setup.expected.values()),
            "events": setup.events,
            "database": db.backend,
            "n": n,
            "batch": batch,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "goal_met": goal_met,
            "cold_batch_goal_met": cold_goal_met,
            "cold_single_goal_met": single_goal_met,
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
