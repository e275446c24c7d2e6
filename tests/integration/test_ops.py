"""Operational basics (issue 10, item 6): health and readiness, Prometheus metrics without PI,
JSON logs with PI redacted, request size and rate limits from settings.

The authorisation of GET /metrics (public, like /healthz: counts, no PI) is tested here.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from privguard.api.app import create_app
from privguard.bootstrap import Runtime
from privguard.ops.logs import JsonFormatter, RedactPI, logging_config
from privguard.policy.rules import ActorRef

from .world import World, build_world, publish_stub_notice


@pytest.fixture
def world(runtime: Runtime, admin: ActorRef) -> Iterator[tuple[World, TestClient]]:
    w = build_world(runtime, admin)
    publish_stub_notice(runtime, 1)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield w, client


def _values(pi: dict[str, Any]) -> Iterator[str]:
    """Every string in a PI record (nested addresses included), and digit runs of 7+."""
    stack: list[Any] = [pi]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and len(item) >= 3:
            yield item
            yield from re.findall(r"\d{7,}", item)


# ----------------------------------------------------------------------------- health
def test_health_and_readiness(world: tuple[World, TestClient], monkeypatch: Any) -> None:
    w, client = world
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json()["status"] == "ready"

    def down(*_: Any, **__: Any) -> Any:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database is down"))

    monkeypatch.setattr(w.runtime.engine, "connect", down)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable"
    assert int(r.headers["retry-after"]) > 0
    assert client.get("/healthz").status_code == 200  # alive, just not ready


# ----------------------------------------------------------------------------- metrics
def test_metrics_count_by_route_template_and_hold_no_pi_or_ids(
    world: tuple[World, TestClient],
) -> None:
    w, client = world
    cs = w.headers("customer_service")
    for scenario in ("own", "foreign", "none"):
        sid = w.subjects[scenario]
        client.get(f"/v1/subjects/{sid}", headers=cs, params={"purpose": "customer_support"})
        client.post("/v1/subjects/lookup", headers=cs, json={
            "field": "mobile_phone", "value": w.pi[scenario]["mobile_phone"],
            "purpose": "customer_support"})
    # PI typed into URLs, known and unknown routes alike, must not become labels.
    phone = w.pi["own"]["mobile_phone"]
    client.get(f"/v1/subjects/{phone}", headers=cs, params={"purpose": "customer_support"})
    client.get(f"/no/such/route/{w.pi['own']['email']}")
    client.request("BREW", "/v1/catalog")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    body = r.text
    assert re.search(
        r'privguard_http_requests_total\{method="GET",route="/v1/subjects/\{subject_id\}",'
        r'status="200"\} [1-9]', body)
    assert 'route="unmatched"' in body and 'method="other"' in body
    assert re.search(r'privguard_gate_decisions_total\{action="read",rule="[^"]+",'
                     r'view="masked"\} [1-9]', body)
    assert "privguard_http_request_duration_seconds_bucket" in body
    if w.runtime.engine.dialect.name == "postgresql":  # entries written by the group committer
        assert re.search(r"privguard_access_log_group_commit_rows_count [1-9]", body)
    # No value of any test customer, no subject, actor, organisation or key id.
    secrets = {v for s in w.pi.values() for v in _values(s)}
    ids = [str(x) for x in (*w.subjects.values(), *w.orgs.values())]
    ids += [str(a.actor_id) for a in w.actors.values()]
    ids += [t.partition(".")[0] for t in w.tokens.values()]
    ids += [t.partition(".")[2] for t in w.tokens.values()]
    labels = " ".join(re.findall(r"\{[^}]*\}", body))
    for leaked in (*secrets, *ids):
        assert leaked not in body, f"{leaked!r} appears in /metrics"
    for value in re.findall(r'="([^"]*)"', labels):
        assert not re.search(r"\d{7,}", value), value  # no phone, card or ID number
        assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", value), value  # no UUIDs


def test_metrics_can_be_turned_off(runtime: Runtime) -> None:
    quiet = runtime.settings.model_copy(update={"metrics": False})
    runtime.settings = quiet
    with TestClient(create_app(runtime)) as client:
        assert client.get("/metrics").status_code == 404
        assert ("GET", "/metrics") not in {
            (m.upper(), p) for p, ops in client.get("/openapi.json").json()["paths"].items()
            for m in ops}


# ----------------------------------------------------------------------------- logs
def _log_through_handler(fmt: str, emit: Any) -> list[str]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactPI())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("%(message)s"))
    logger = logging.getLogger("privguard.test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().splitlines()


def test_log_lines_are_json_with_pi_redacted_from_message_args_and_tracebacks() -> None:
    phone, resident, email = "13812345678", "110105199003071239", "zhang.wei@example.com"

    def emit(logger: logging.Logger) -> None:
        logger.info("customer %s called about %s", phone, email)
        logger.warning(f"ID {resident} failed validation")
        try:
            raise ValueError(f"bad value {phone} / {email}")
        except ValueError:
            logger.exception("import failed")

    lines = _log_through_handler("json", emit)
    assert len(lines) == 3
    entries = [json.loads(line) for line in lines]
    text = "\n".join(lines)
    for secret in (phone, resident, email):
        assert secret not in text
    assert entries[0]["message"] == "customer <PHONE_NUMBER> called about <EMAIL_ADDRESS>"
    assert "<CN_RESIDENT_ID>" in entries[1]["message"]
    assert entries[2]["level"] == "error" and "ValueError" in entries[2]["exception"]
    assert "<PHONE_NUMBER>" in entries[2]["exception"]
    assert {"ts", "level", "logger", "message"} <= set(entries[0])


def test_a_failing_redactor_withholds_the_message(monkeypatch: Any) -> None:
    import privguard.detect as detect

    def broken(*_: Any, **__: Any) -> str:
        raise RuntimeError("detector broke")

    monkeypatch.setattr(detect, "redact", broken)
    lines = _log_through_handler("text", lambda lg: lg.info("phone 13812345678"))
    assert lines == ["[log message withheld: the PI redactor failed on it]"]


def test_the_server_logging_config_redacts_uvicorn_lines_too() -> None:
    config = logging_config("INFO", "json")
    assert config["handlers"]["privguard"]["filters"] == ["redact"]
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        assert config["loggers"][name]["handlers"] == ["privguard"]
        assert config["loggers"][name]["propagate"] is False
    assert config["root"]["handlers"] == ["privguard"]


# ----------------------------------------------------------------------------- limits
def test_body_size_limit_comes_from_settings(runtime: Runtime, admin: ActorRef) -> None:
    w = build_world(runtime, admin)
    runtime.settings = runtime.settings.model_copy(update={"max_body_bytes": 2000})
    with TestClient(create_app(runtime)) as client:
        h = w.headers("platform_admin")
        small = client.post("/v1/subjects", headers=h, json={"pi": {"name": "小"}})
        assert small.status_code == 201
        big = client.post("/v1/subjects", headers=h, json={"pi": {"name": "大" * 1500}})
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "payload_too_large"
        assert big.headers["x-request-id"]


def test_rate_limit_per_api_key_answers_429_with_retry_after(
    runtime: Runtime, admin: ActorRef
) -> None:
    w = build_world(runtime, admin)
    runtime.settings = runtime.settings.model_copy(
        update={"rate_limit_per_minute": 6, "rate_limit_burst": 3})
    with TestClient(create_app(runtime)) as client:
        h = w.headers("customer_service")
        assert [client.get("/v1/me", headers=h).status_code for _ in range(3)] == [200] * 3
        limited = client.get("/v1/me", headers=h)
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 10
        # The same key through the other header shares the bucket; another key has its own.
        assert client.get("/v1/me", headers={"X-API-Key": w.tokens["customer_service"]}) \
            .status_code == 429
        assert client.get("/v1/me", headers=w.headers("analyst")).status_code == 200
        # Probes are never limited.
        assert all(client.get("/healthz").status_code == 200 for _ in range(10))
        metrics = client.get("/metrics").text
        assert re.search(r'route="rejected",status="429"\} [1-9]', metrics)


def test_rate_limit_zero_turns_it_off(runtime: Runtime, admin: ActorRef) -> None:
    w = build_world(runtime, admin)
    runtime.settings = runtime.settings.model_copy(
        update={"rate_limit_per_minute": 0, "rate_limit_burst": 1})
    with TestClient(create_app(runtime)) as client:
        h = w.headers("customer_service")
        assert {client.get("/v1/me", headers=h).status_code for _ in range(20)} == {200}
