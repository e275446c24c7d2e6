"""The long fuzzing profile: every documented operation of the API, as every role, many examples.

The CI profile (tests/integration/test_fuzz.py) sends 5 derandomised examples per operation and
generation mode; this sends ``--examples`` (default 100) with a ``--seed`` of your choice, so
repeated runs with new seeds explore new inputs while any one run can be repeated exactly. Same
harness (tests/integration/fuzzing.py), same checks: no 5xx, every status documented, every body,
content type and header as documented. In process (ASGI transport), on a fresh database:
SQLite in a temporary directory, or a throw-away database on the PostgreSQL server named by
``--database-url``.

The baseline measured in the same run is the CI profile itself (``--baseline-examples``, 5,
derandomised), so the report says how much more the long profile sent and how its time scales.

Usage::

    python benchmarks/fuzz.py [--examples 100] [--seed 1] [--database-url URL] [--only PATH]

Exit status 0 when nothing failed, 1 when something did (each failure printed, with its
operation, role, generation mode and the check it failed). The last line of stdout is one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the harness lives in tests/

from tests.integration.fuzzing import FuzzReport, build_fuzz_world, fuzz_app

from _common import (
    cpu_model,
    describe_database,
    note,
    out,
    prepare_database,
    privguard_runtime,
    workspace,
)
from privguard.actors.system import cli_actor
from privguard.api.app import create_app
from privguard.store.uow import unit_of_work


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100, help="per operation and mode")
    parser.add_argument("--seed", type=int, default=1, help="hypothesis seed (repeatable)")
    parser.add_argument("--baseline-examples", type=int, default=5,
                        help="the CI profile's examples, derandomised (0: skip the baseline)")
    parser.add_argument("--database-url", help="PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--only", help="fuzz only operations whose path contains this text")
    parser.add_argument("--workdir", type=Path, help="parent of the temporary directory")
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error("--examples must be at least 1")
    return args


def run_profile(
    url: str | None, home: Path, examples: int, seed: int | None, only: str | None
) -> tuple[FuzzReport, str]:
    now = datetime.now(UTC)
    with privguard_runtime(url, home, now, sequencer_interval=0) as runtime:
        with unit_of_work(runtime.sessions) as session:
            admin = cli_actor(session, now=now)
        app = create_app(runtime)
        world = build_fuzz_world(runtime, admin, app)
        report = fuzz_app(
            app, world.headers, world.known_ids, max_examples=examples, seed=seed,
            include=(lambda _m, path: only in path) if only else None,
            on_operation=lambda label: note(f"fuzzing {label}"),
        )
        return report, describe_database(runtime.engine)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out(f"python       {platform.python_implementation()} {platform.python_version()} "
        f"on {platform.platform()}")
    out(f"cpu          {cpu_model()}")
    out(f"started      {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    sides: dict[str, tuple[FuzzReport, float]] = {}
    with workspace(args.workdir) as workdir:
        plan: list[tuple[str, int, int | None]] = []
        if args.baseline_examples:
            plan.append(("ci profile (baseline)", args.baseline_examples, None))
        plan.append(("long profile", args.examples, args.seed))
        for n, (side, examples, seed) in enumerate(plan):
            database = prepare_database(args.database_url, workdir)
            try:
                started = time.perf_counter()
                report, described = run_profile(
                    database.url, workdir / f"home{n}", examples, seed, args.only
                )
                sides[side] = (report, time.perf_counter() - started)
            finally:
                database.drop()
    out(f"database     {described}")
    out()
    out(f"{'side':<22} {'examples':>8} {'ops':>4} {'calls':>7} {'seconds':>8} {'calls/s':>8} "
        f"{'failures':>8} {'ratio':>6}")
    base_calls = None
    summary: dict[str, Any] = {}
    for side, (report, _wall) in sides.items():
        examples = args.examples if side == "long profile" else args.baseline_examples
        base_calls = base_calls or report.calls
        out(f"{side:<22} {examples:>8} {report.operations:>4} {report.calls:>7} "
            f"{report.seconds:>8.1f} {report.calls / report.seconds:>8.1f} "
            f"{len(report.failures):>8} {report.calls / base_calls:>6.1f}")
        key = "long" if side == "long profile" else "ci"
        summary |= {
            f"{key}_examples": examples, f"{key}_operations": report.operations,
            f"{key}_calls": report.calls, f"{key}_seconds": round(report.seconds, 1),
            f"{key}_failures": len(report.failures),
            f"{key}_statuses": {str(k): v for k, v in sorted(report.statuses.items())},
        }
    out("             (ratio: calls / the CI profile's calls in this run)")
    failures = [f for report, _ in sides.values() for f in report.failures]
    for failure in failures:
        out(f"FAILED       {failure}")
    long_report = sides["long profile"][0]
    out(f"statuses     {dict(sorted(long_report.statuses.items()))}")
    summary |= {"seed": args.seed, "failures": len(failures), "ok": not failures,
                "database": "postgresql" if args.database_url else "sqlite"}
    out(json.dumps(summary))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
