"""Schema-driven API fuzzing with schemathesis, shared by tests/integration/test_fuzz.py (bounded,
in CI) and benchmarks/fuzz.py (the long profile).

The operations come from the app's own OpenAPI document at run time, so every route another
engineer adds is fuzzed the next time this runs. Every request carries the API key of a real
actor (world.py: one per role), drawn by hypothesis with the case, so one operation is tried by
several roles; path parameters are sometimes replaced by ids that exist in the world (its
subjects, merchants, orders), so the fuzzer gets past "404 no such id" into the code behind it.

Checks: no 5xx, the status code is one the operation documents, the content type and the body
match what the operation documents for that status (schemathesis' own checks). In process
(ASGI transport), no server.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.strategies as st
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from starlette.types import ASGIApp

from privguard.bootstrap import Runtime
from privguard.policy.rules import ActorRef

from .world import World, build_world

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class Failure:
    operation: str
    role: str
    mode: str
    message: str

    def __str__(self) -> str:
        return f"{self.operation} as {self.role} ({self.mode}): {self.message}"


@dataclass
class FuzzReport:
    operations: int = 0
    calls: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    by_operation: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, operation: str, status: int) -> None:
        self.calls += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.by_operation[operation] = self.by_operation.get(operation, 0) + 1


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        text = "; ".join(f"{type(e).__name__}: {e}" for e in exc.exceptions)
    else:
        text = str(exc).strip() or type(exc).__name__
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[:6])[:600]


def fuzz_app(
    app: ASGIApp,
    headers_by_role: Mapping[str, Mapping[str, str]],
    known_ids: Mapping[str, Sequence[uuid.UUID | str | int]],
    *,
    max_examples: int,
    seed: int | None = None,
    modes: Sequence[GenerationMode] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    include: Callable[[str, str], bool] | None = None,
    on_operation: Callable[[str], None] | None = None,
) -> FuzzReport:
    """Fuzz every documented operation of ``app``; returns what was sent and what failed.

    ``max_examples`` is per operation and generation mode. No shrinking, so a run's time is
    bounded by its example count (``seed=None``: derandomised, the same examples every run; a
    seed: other examples, repeatable with that seed). Failures are collected per operation,
    never raised, so one broken route does not hide the next.
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    report = FuzzReport()
    roles = sorted(headers_by_role)
    started = time.perf_counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = operation.label  # e.g. "GET /v1/subjects/{subject_id}"
        method, path = label.split(" ", 1)
        if include is not None and not include(method, path):
            continue
        report.operations += 1
        if on_operation is not None:
            on_operation(label)
        for mode in modes:
            failure = _fuzz_operation(
                operation, label, mode, roles, headers_by_role, known_ids, max_examples,
                seed, report,
            )
            if failure is not None:
                report.failures.append(failure)
    report.seconds = time.perf_counter() - started
    return report


def _fuzz_operation(
    operation: Any,
    label: str,
    mode: GenerationMode,
    roles: list[str],
    headers_by_role: Mapping[str, Mapping[str, str]],
    known_ids: Mapping[str, Sequence[uuid.UUID | str | int]],
    max_examples: int,
    seed: int | None,
    report: FuzzReport,
) -> Failure | None:
    seen: list[Failure] = []
    path_names = [p.name for p in operation.path_parameters]
    # A known id for each path parameter the world has ids for (or a random one: 404s count).
    known = {name: list(known_ids[name]) for name in path_names if known_ids.get(name)}

    @settings(
        max_examples=max_examples,
        derandomize=seed is None,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        role=st.sampled_from(roles),
        pick=st.integers(min_value=0, max_value=2**16),
    )
    def run(case: Any, role: str, pick: int) -> None:
        if seen:
            return  # one failure per operation and mode is enough to act on
        if known and mode is GenerationMode.POSITIVE and pick % 3:
            for name, ids in known.items():
                case.path_parameters = {**(case.path_parameters or {}),
                                        name: str(ids[pick % len(ids)])}
        headers = {**(case.headers or {}), **headers_by_role[role]}
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the app raised through the transport: a 500 in production
            seen.append(Failure(label, role, mode.value, f"raised {_first_line(exc)}"))
            return
        report.count(label, response.status_code)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as exc:
            seen.append(
                Failure(label, role, mode.value,
                        f"{response.status_code}: {_first_line(exc)}")
            )

    if seed is not None:
        # A chosen seed per operation and mode: adding a route does not change the others'.
        run = hypothesis.seed(random.Random(f"{seed}|{label}|{mode.value}").getrandbits(64))(run)
    # Unsatisfiable: negative mode of an operation with nothing to get wrong (no input at all).
    with contextlib.suppress(Unsatisfiable):
        run()
    return seen[0] if seen else None


@dataclass
class FuzzWorld:
    """world.py's marketplace plus what the fuzzer needs: each role's headers and the ids of
    existing things by path-parameter name."""

    world: World
    headers: dict[str, dict[str, str]]
    known_ids: dict[str, list[uuid.UUID | str | int]]


def build_fuzz_world(runtime: Runtime, admin: ActorRef, app: ASGIApp) -> FuzzWorld:
    """The marketplace of world.py, the notice in force published as `privguard notice publish`
    does, one data-subject request and a recording telephony provider, so their routes have
    something real to find."""
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from privguard.clock import utcnow
    from privguard.consent.notices import current_document, publish_notice
    from privguard.marketplace.models import Order
    from privguard.sharing.relay_phone import register_telephony
    from privguard.store.uow import unit_of_work
    from privguard.testing import RecordingTelephony

    # Relayed calls and SMS answer a documented 503 while no telephony provider is configured
    # (the default); the test double lets the fuzzer reach the code behind them instead.
    register_telephony("fuzz-recording", lambda **_: RecordingTelephony())
    runtime.settings.relay_telephony = "fuzz-recording"
    world = build_world(runtime, admin)
    with unit_of_work(runtime.sessions) as session:
        publish_notice(
            session,
            current_document(runtime.catalog, runtime.policy, runtime.settings.notice_path),
            now=utcnow(),
        )
        orders = list(session.execute(select(Order.order_id)).scalars())
    with TestClient(app) as client:
        filed = client.post("/v1/me/requests", headers=world.headers("consumer"),
                            json={"type": "access"})
        assert filed.status_code == 201, filed.text
    known: dict[str, list[uuid.UUID | str | int]] = {
        "subject_id": list(world.subjects.values()),
        "merchant_id": [world.orgs["merchant_a"], world.orgs["merchant_b"]],
        "order_id": list(orders),
        "request_id": [filed.json()["request_id"]],
        "version": [1],
    }
    headers = {role: world.headers(role) for role in world.tokens}
    return FuzzWorld(world, headers, known)
