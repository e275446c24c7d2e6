"""The server's authentication cache against the real store: a key verified once is answered
without the database, and every way a key or an actor can change empties it at once: through
this process, from another connection (the CLI, psql), and while the listener is down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text

from privguard.actors.auth_listener import APPLICATION_NAME
from privguard.actors.service import create_actor, issue_api_key, revoke_api_key
from privguard.api.app import create_app
from privguard.bootstrap import Runtime
from privguard.policy.rules import Role
from privguard.store.uow import unit_of_work
from tests.conftest import NOW

NOTIFIED_WITHIN = 5.0  # seconds; a notification arrives in milliseconds


@dataclass
class Served:
    client: TestClient
    runtime: Runtime
    token: str
    key_id: str
    actor_id: Any


@contextmanager
def served(runtime: Runtime) -> Iterator[Served]:
    with unit_of_work(runtime.sessions) as session:
        actor = create_actor(session, display_name="客服", role=Role.CUSTOMER_SERVICE, now=NOW)
        issued = issue_api_key(session, actor.actor_id, now=NOW)
    with TestClient(create_app(runtime)) as client:
        yield Served(client, runtime, issued.token, issued.key_id, actor.actor_id)


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(runtime.engine, "before_cursor_execute", before)


def me(s: Served) -> int:
    return s.client.get("/v1/me", headers={"Authorization": f"Bearer {s.token}"}).status_code


def wait_live(s: Served) -> None:
    listener = s.client.app.fastapi.state.auth_listener  # type: ignore[attr-defined]
    assert listener is not None, "PostgreSQL serves with an auth listener"
    assert listener.connected.wait(10), "the listener did not connect"


def eventually_401(s: Served) -> float:
    started = time.monotonic()
    while time.monotonic() - started < NOTIFIED_WITHIN:
        if me(s) == 401:
            return time.monotonic() - started
        time.sleep(0.02)
    pytest.fail(f"the key still worked {NOTIFIED_WITHIN} s after the change")


def other_process_sql(runtime: Runtime, sql: str, **params: Any) -> None:
    """A change made outside this process's sessions, as the CLI or psql would make it."""
    engine = create_engine(runtime.engine.url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()



@pytest.fixture
def postgres(runtime: Runtime) -> Runtime:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the cache is live only on PostgreSQL (notifications)")
    return runtime


def test_sqlite_never_caches(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("SQLite behaviour")
    with served(runtime) as s:
        assert s.client.app.fastapi.state.auth_listener is None  # type: ignore[attr-defined]
        assert me(s) == 200
        with statements(runtime) as seen:
            assert me(s) == 200
        assert any("api_keys" in q for q in seen), "SQLite reads the key on every request"


def test_a_verified_key_is_answered_without_the_database(postgres: Runtime) -> None:
    with served(postgres) as s:
        wait_live(s)
        assert me(s) == 200
        with statements(postgres) as seen:
            assert me(s) == 200
        assert seen == []
        # A wrong secret for the cached key id goes to the database and is refused.
        wrong = s.token[:-3] + ("aaa" if not s.token.endswith("aaa") else "bbb")
        r = s.client.get("/v1/me", headers={"Authorization": f"Bearer {wrong}"})
        assert r.status_code == 401


def test_revoked_in_this_process_refused_on_the_next_request(postgres: Runtime) -> None:
    with served(postgres) as s:
        wait_live(s)
        assert me(s) == 200
        with unit_of_work(postgres.sessions) as session:
            assert revoke_api_key(session, s.key_id, now=NOW)
        assert me(s) == 401  # no waiting: the commit emptied the cache


def test_revoked_from_another_connection_refused_within_moments(postgres: Runtime) -> None:
    with served(postgres) as s:
        wait_live(s)
        assert me(s) == 200 and me(s) == 200
        other_process_sql(postgres, "UPDATE api_keys SET revoked_at = now() WHERE key_id = :k",
                          k=s.key_id)
        took = eventually_401(s)
        print(f"revocation seen after {took * 1000:.0f} ms")


def test_actor_disabled_from_another_connection_refused(postgres: Runtime) -> None:
    with served(postgres) as s:
        wait_live(s)
        assert me(s) == 200
        other_process_sql(postgres, "UPDATE actors SET disabled_at = now() WHERE actor_id = :a",
                          a=s.actor_id)
        eventually_401(s)


def test_role_changed_elsewhere_is_seen(postgres: Runtime) -> None:
    with served(postgres) as s:
        wait_live(s)
        first = s.client.get("/v1/me", headers={"Authorization": f"Bearer {s.token}"})
        assert first.json()["role"] == "customer_service"
        other_process_sql(postgres, "UPDATE actors SET role = 'analyst' WHERE actor_id = :a",
                          a=s.actor_id)
        started = time.monotonic()
        while time.monotonic() - started < NOTIFIED_WITHIN:
            r = s.client.get("/v1/me", headers={"Authorization": f"Bearer {s.token}"})
            if r.json()["role"] == "analyst":
                return
            time.sleep(0.02)
        pytest.fail("the old role was still answered")


def test_listener_down_means_no_cache_then_recovers(postgres: Runtime) -> None:
    with served(postgres) as s:
        wait_live(s)
        listener = s.client.app.fastapi.state.auth_listener  # type: ignore[attr-defined]
        assert me(s) == 200
        other_process_sql(
            postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n",
            n=APPLICATION_NAME,
        )
        deadline = time.monotonic() + 5
        while listener.cache.live and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not listener.cache.live
        if not listener.connected.is_set():
            # Dark: every request reads the database, so a revocation counts at once.
            with statements(postgres) as seen:
                assert me(s) == 200
            assert any("api_keys" in q for q in seen)
        assert listener.connected.wait(10), "the listener reconnects"
        assert listener.cache.live
        other_process_sql(postgres, "UPDATE api_keys SET revoked_at = now() WHERE key_id = :k",
                          k=s.key_id)
        eventually_401(s)
