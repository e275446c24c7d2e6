"""Hostile input against every write endpoint and the CSV import (issue 10, item 2).

Every operation that takes a body (from the app's OpenAPI document, so new routes are covered
when they land) gets: bodies over the size limit (refused with 413 before the body is read),
JSON nested past any sane depth, bytes that are not UTF-8, raw NUL bytes, the wrong shape, and
bodies built from its own schema with every string replaced by an SQL-injection, template-
injection, HTML/JS or NUL-carrying string. Each answer is a clear 4xx with the error shape (or,
where the string is acceptable data, a success that stored it literally), never a 5xx; and a
refused request leaves every table as it was (a refusal's access-log entry aside, which is the
point of the log).
"""

from __future__ import annotations

import asyncio
import csv
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from privguard.api.app import create_app
from privguard.bootstrap import Runtime
from privguard.cli import app as cli
from privguard.config import Settings
from privguard.policy.rules import ActorRef
from privguard.store.tables import all_metadata
from privguard.store.uow import unit_of_work
from privguard.vault.models import Subject

from ..conftest import empty_postgres
from .fuzzing import FuzzWorld, build_fuzz_world

# Strings a hostile caller types into any text field.
INJECTIONS = {
    "sql": "Robert'); DROP TABLE subjects;-- ' OR '1'='1",
    "template": "{{7*7}} ${7*7} {% print(1) %} #{7*7} <%= 7*7 %>",
    "html": '<script>alert("x")</script><img src=x onerror=alert(1)>',
    "nul": "before\x00after",
    "bidi": "abc\u202edcba",  # right-to-left override (Trojan Source)
}
# Refusals that write their access-log entry on purpose (api/deps.py transaction()).
LOGGED_REFUSALS = {401, 403, 404, 409, 410}
LOG_TABLES = {"access_log", "log_tree_heads"}
ROLES = ("platform_admin", "privacy_officer", "customer_service", "consumer")


@pytest.fixture
def hostile(runtime: Runtime, admin: ActorRef) -> Iterator[tuple[FuzzWorld, TestClient]]:
    app = create_app(runtime)
    world = build_fuzz_world(runtime, admin, app)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield world, client


# ----------------------------------------------------------------------------- helpers
def row_counts(runtime: Runtime) -> dict[str, int]:
    """Rows of every table, in one statement (cheap enough to take around every request)."""
    tables = [t.name for t in all_metadata().sorted_tables]
    sql = "SELECT " + ", ".join(f'(SELECT count(*) FROM "{t}")' for t in tables)
    with runtime.engine.connect() as conn:
        return dict(zip(tables, conn.execute(text(sql)).one(), strict=True))


def changed_tables(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {t for t in before if before[t] != after[t]}


def write_operations(client: TestClient) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path, request body schema or None) of every documented write operation."""
    spec = client.get("/openapi.json").json()
    found = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method.upper() not in ("POST", "PUT", "PATCH", "DELETE"):
                continue
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            found.append((method.upper(), path, body["schema"] if body else None))
    return found


def concrete_path(path: str, world: FuzzWorld) -> str:
    """The path with every parameter replaced by an id that exists (or a random UUID)."""
    out = path
    while "{" in out:
        start = out.index("{")
        end = out.index("}", start)
        name = out[start + 1 : end]
        known = world.known_ids.get(name)
        out = out[:start] + str(known[0] if known else uuid.uuid4()) + out[end + 1 :]
    return out


def fill(schema: dict[str, Any], spec: dict[str, Any], hostile: str, world: FuzzWorld,
         depth: int = 0) -> Any:
    """A value for ``schema`` with ``hostile`` in every free-text string: required and optional
    properties alike, enums, formats and ids kept valid so the string reaches the code."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return fill(spec["components"]["schemas"][name], spec, hostile, world, depth)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return fill(options[0], spec, hostile, world, depth) if options else None
    if "allOf" in schema:
        return fill(schema["allOf"][0], spec, hostile, world, depth)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return {}
        return {
            name: fill(sub, spec, hostile, world, depth + 1)
            for name, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        items = schema.get("items", {})
        return [fill(items, spec, hostile, world, depth + 1)] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return max(1.0, schema.get("minimum", 1.0))
    if kind == "boolean":
        return True
    fmt = schema.get("format")
    if fmt == "uuid":
        return str(world.world.subjects["own"])
    if fmt == "date-time":
        return "2027-01-01T00:00:00+00:00"
    if fmt == "date":
        return "2027-01-01"
    if fmt == "email":
        return "a@example.com"
    return hostile


def assert_clear_4xx(response: Any, what: str) -> None:
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text}"
    if response.headers.get("content-type", "").startswith("application/json"):
        error = response.json()["error"]
        assert error["code"] and error["message"], what


# ----------------------------------------------------------------------------- oversized bodies
def _asgi_call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]],
               chunks: list[bytes]) -> tuple[int, int]:
    """Call the ASGI app directly with a body delivered in ``chunks``; returns the status and
    how many chunks the app pulled (a 413 before parsing pulls none of a declared-too-large
    body)."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1],
                    "more_body": pulled < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": headers, "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], pulled


def test_oversized_bodies_get_413_before_any_of_them_is_read(
    hostile: tuple[FuzzWorld, TestClient],
) -> None:
    world, client = hostile
    app = client.app
    limit = world.world.runtime.settings.max_body_bytes
    auth = world.headers["platform_admin"]["Authorization"].encode()
    before = row_counts(world.world.runtime)
    operations = write_operations(client)
    assert len(operations) >= 20
    chunk = b"x" * 65536
    for method, path, _ in operations:
        url = concrete_path(path, world)
        base = [(b"authorization", auth), (b"content-type", b"application/json")]
        # A declared length over the limit: refused on the header, the body never pulled.
        declared = [*base, (b"content-length", str(100 * limit).encode())]
        status, pulled = _asgi_call(app, method, url, declared, [chunk] * 1600)
        assert (status, pulled) == (413, 0), f"{method} {path}: {status}, pulled {pulled}"
        # No length (chunked): read only until the limit is passed, never the 100 MB.
        status, pulled = _asgi_call(app, method, url, base, [chunk] * 1600)
        assert status == 413, f"{method} {path} chunked: {status}"
        assert pulled * len(chunk) <= limit + len(chunk), f"{method} {path}: read {pulled}"
    assert changed_tables(before, row_counts(world.world.runtime)) == set()


def test_a_lying_content_length_cannot_smuggle_a_larger_body(
    hostile: tuple[FuzzWorld, TestClient],
) -> None:
    world, client = hostile
    limit = world.world.runtime.settings.max_body_bytes
    auth = world.headers["platform_admin"]["Authorization"].encode()
    headers = [(b"authorization", auth), (b"content-type", b"application/json"),
               (b"content-length", b"10")]
    status, _ = _asgi_call(client.app, "POST", "/v1/subjects", headers,
                           [b"x" * 65536] * (limit // 65536 + 2))
    assert status == 413


# ----------------------------------------------------------------------------- malformed bodies
MALFORMED: dict[str, bytes] = {
    "deep nesting": b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "deep objects": b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    "invalid utf-8": b'{"pi": {"name": "\xff\xfe\xc3\x28"}}',
    "raw nul byte": b'{"pi": {"name": "a\x00b"}}',
    "truncated": b'{"pi": {"name": "abc"',
    "not an object": b"[1, 2, 3]",
    "a bare string": b'"hello"',
    "huge integer": b'{"pi": {"name": ' + b"9" * 5000 + b"}}",
    "empty": b"",
}


def test_malformed_bodies_get_a_clear_4xx_and_write_nothing(
    hostile: tuple[FuzzWorld, TestClient],
) -> None:
    world, client = hostile
    runtime = world.world.runtime
    before = row_counts(runtime)
    seen = set()
    for method, path, schema in write_operations(client):
        if schema is None:
            continue
        url = concrete_path(path, world)
        for what, body in MALFORMED.items():
            r = client.request(
                method, url, content=body,
                headers={**world.headers["platform_admin"], "content-type": "application/json"},
            )
            assert_clear_4xx(r, f"{what} to {method} {path}")
            seen.add(r.status_code)
    # Malformed input is refused by the request parser, before any handler or the gate: no
    # access-log entry either.
    assert changed_tables(before, row_counts(runtime)) == set()
    assert 422 in seen


def test_path_and_query_garbage_is_refused_cleanly(
    hostile: tuple[FuzzWorld, TestClient],
) -> None:
    world, client = hostile
    h = world.headers["platform_admin"]
    for path in ("/v1/subjects/%FF%FE", "/v1/subjects/%00", "/v1/subjects/' OR 1=1--",
                 "/v1/subjects/" + "9" * 5000):
        r = client.get(path, params={"purpose": "account_management"}, headers=h)
        assert_clear_4xx(r, path)
    sid = world.world.subjects["own"]
    for purpose in ("' OR '1'='1", "{{7*7}}", "a\x00b", "<script>"):
        r = client.get(f"/v1/subjects/{sid}", params={"purpose": purpose}, headers=h)
        assert r.status_code == 422, r.text


# ----------------------------------------------------------------------------- injected strings
@pytest.mark.parametrize("kind", sorted(INJECTIONS))
def test_injected_strings_in_every_write_are_refused_or_stored_verbatim(
    hostile: tuple[FuzzWorld, TestClient], kind: str,
) -> None:
    world, client = hostile
    runtime = world.world.runtime
    spec = client.get("/openapi.json").json()
    for method, path, schema in write_operations(client):
        if schema is None:
            continue
        url = concrete_path(path, world)
        body = fill(schema, spec, INJECTIONS[kind], world)
        for role in ROLES:
            before = row_counts(runtime)
            r = client.request(method, url, json=body, headers=world.headers[role])
            what = f"{kind} string as {role} to {method} {path}"
            assert r.status_code < 500, f"{what}: {r.status_code} {r.text}"
            if r.status_code >= 400:
                assert_clear_4xx(r, what)
                changed = changed_tables(before, row_counts(runtime))
                allowed = LOG_TABLES if r.status_code in LOGGED_REFUSALS else set()
                assert changed <= allowed, f"{what}: {r.status_code} yet {changed} changed"
    # The tables the injections aimed at are all still there.
    assert set(row_counts(runtime)) == {t.name for t in all_metadata().sorted_tables}


def test_names_with_markup_and_sql_are_stored_literally_or_refused_by_rule(
    hostile: tuple[FuzzWorld, TestClient],
) -> None:
    """Names are personal information: a validator may refuse characters (a clear 422 naming
    the field and rule), and what it accepts is stored and returned exactly as sent: JSON
    carries it escaped, nothing interprets it."""
    world, client = hostile
    h = world.headers["platform_admin"]
    stored = 0
    # Without the digits of INJECTIONS["sql"], a legal name (Little Bobby Tables).
    names = {**INJECTIONS, "sql_name": "Robert'); DROP TABLE subjects;--"}
    for kind, value in names.items():
        r = client.post("/v1/subjects", json={"pi": {"name": value}}, headers=h)
        if r.status_code == 422:
            fields = r.json()["error"]["fields"]
            assert fields[0]["field"] == "name" and fields[0]["rule"], kind
            assert kind != "sql_name", r.text
            continue
        assert kind != "bidi", "a right-to-left override is refused in names"
        assert r.status_code == 201, f"{kind}: {r.text}"
        stored += 1
        sid = r.json()["subject_id"]
        read = client.get(f"/v1/subjects/{sid}", headers=h, params={
            "purpose": "account_management", "view": "plain", "fields": ["name"]})
        assert read.status_code == 200
        assert read.json()["fields"]["name"]["value"] == value, kind
        assert read.headers["content-type"].startswith("application/json")
        if "<" in value:
            assert "<script>" not in read.text or '\\"' in read.text  # JSON, not markup
    assert stored >= 1  # the SQL string is a legal name: it must come back byte for byte


def test_the_only_html_page_escapes_what_it_echoes(hostile: tuple[FuzzWorld, TestClient]) -> None:
    _, client = hostile
    r = client.get("/v1/unsubscribe", params={"token": INJECTIONS["html"]})
    assert r.status_code == 200
    assert "<script>" not in r.text and "&lt;script&gt;" in r.text


def test_full_width_digits_and_homoglyphs_do_not_create_false_matches(
    hostile: tuple[FuzzWorld, TestClient],
) -> None:
    world, client = hostile
    h = world.headers["platform_admin"]
    # Full-width digits are the same phone number: normalised, so lookup finds it either way.
    r = client.post("/v1/subjects", headers=h,
                    json={"pi": {"name": "全角", "mobile_phone": "１３５６６６６７７７７"}})
    assert r.status_code == 201, r.text
    sid = r.json()["subject_id"]
    for typed in ("13566667777", "１３５６６６６７７７７", "+86 135 6666 7777"):
        found = client.post("/v1/subjects/lookup", headers=h, json={
            "field": "mobile_phone", "value": typed, "purpose": "account_management"})
        assert found.status_code == 200 and found.json()["subject_ids"] == [sid], typed
    # A Cyrillic "а" makes another address: it must not find the Latin one's owner, nor the
    # reverse (a blind index over the exact normalised value, no confusable folding).
    latin = client.post("/v1/subjects", headers=h,
                        json={"pi": {"name": "拉丁", "email": "zhang.li@example.com"}})
    assert latin.status_code == 201
    cyrillic = "zh\u0430ng.li@example.com"
    r = client.post("/v1/subjects", headers=h, json={"pi": {"name": "西里尔", "email": cyrillic}})
    assert r.status_code in (201, 422), r.text
    found = client.post("/v1/subjects/lookup", headers=h, json={
        "field": "email", "value": cyrillic, "purpose": "account_management"})
    if found.status_code == 200:
        assert latin.json()["subject_id"] not in found.json()["subject_ids"]
    else:
        assert_clear_4xx(found, "homoglyph lookup")


# ----------------------------------------------------------------------------- CSV import
@pytest.fixture
def cli_home(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    if settings.database_url:
        empty_postgres(settings.database_url)
        monkeypatch.setenv("PRIVGUARD_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("PRIVGUARD_DATABASE_URL", raising=False)
    monkeypatch.setenv("PRIVGUARD_HOME", str(settings.home))
    monkeypatch.delenv("PRIVGUARD_KEY_FILE", raising=False)
    assert CliRunner().invoke(cli, ["init"]).exit_code == 0
    return settings


def _subjects(settings: Settings) -> int:
    from privguard.bootstrap import build_runtime

    runtime = build_runtime(settings)
    try:
        with unit_of_work(runtime.sessions) as session:
            return len(session.execute(select(Subject.subject_id)).all())
    finally:
        runtime.close()


def _write_csv(path: Path, rows: int, tail: bytes = b"") -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "email"])
        for i in range(rows):
            writer.writerow(["张伟", f"user{i}@example.com"])
    with path.open("ab") as fh:
        fh.write(tail)


@pytest.mark.parametrize(
    ("what", "tail", "says"),
    [
        ("invalid utf-8", b"\xe5\xbc\xa0\xff\xfe,bad@example.com\r\n", "not UTF-8"),
        ("cell over the field limit", b'"' + b"x" * 200_000 + b'",big@example.com\r\n',
         "field limit"),
    ],
)
def test_a_csv_that_breaks_at_its_end_is_refused_whole(
    cli_home: Settings, tmp_path: Path, what: str, tail: bytes, says: str
) -> None:
    """2,000 good rows then one unreadable record: refused before the first batch is written,
    with the line and the reason, never the content."""
    path = tmp_path / "customers.csv"
    _write_csv(path, 2000, tail)
    result = CliRunner().invoke(cli, ["subjects", "import", str(path)])
    assert result.exit_code == 1, result.output
    assert says in result.output and "nothing was imported" in result.output
    assert "Traceback" not in result.output
    assert _subjects(cli_home) == 0


def test_a_large_csv_with_hostile_cells_imports_good_rows_and_names_the_bad(
    cli_home: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    rows = 3000
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "email", "mobile_phone"])
        for i in range(rows):
            # Python's csv reads NUL bytes as data (3.11+): the name rule refuses that row.
            name = {0: INJECTIONS["html"], 1: INJECTIONS["template"], 2: INJECTIONS["nul"]}.get(
                i % 500, "王芳"
            )
            writer.writerow([name, f"user{i}@example.com", ""])
    rejects = tmp_path / "rejects.csv"
    result = CliRunner().invoke(
        cli, ["subjects", "import", str(path), "--rejects", str(rejects)]
    )
    bad = 3 * (rows // 500)
    assert result.exit_code == 2, result.output
    assert f"imported {rows - bad}, rejected {bad}" in result.output
    report = rejects.read_text(encoding="utf-8")
    assert "name.characters" in report and "<script>" not in report and "{{" not in report
    assert _subjects(cli_home) == rows - bad
    assert json.dumps(INJECTIONS["html"])[1:-1] not in result.output
