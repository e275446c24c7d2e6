"""Shared fixtures. The store is SQLite unless PRIVGUARD_DATABASE_URL names PostgreSQL, in which
case the session gets a fresh database of its own on that server (dropped at the end)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from privguard.actors.system import cli_actor
from privguard.bootstrap import Runtime, build_runtime, initialise
from privguard.config import Settings
from privguard.policy.rules import ActorRef
from privguard.store.engine import make_engine, normalise_url
from privguard.store.migrate import upgrade
from privguard.store.tables import all_metadata
from privguard.store.uow import unit_of_work

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)

# CI runs the same examples every time (a property test explores new ones on developers'
# machines, where a failure can be looked into, not in the run that decides a landing).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def _server_url() -> str | None:
    url = os.environ.get("PRIVGUARD_DATABASE_URL")
    if url and make_url(url).get_backend_name() == "postgresql":
        return normalise_url(url)
    return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A throw-away PostgreSQL database for this test session, or None on SQLite runs."""
    server = _server_url()
    if server is None:
        yield None
        return
    name = f"privguard_t_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, postgres_url: str | None) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=postgres_url,
        key_provider="file",
        key_file=tmp_path / "home" / "master.key",
        # Tests sequence the access log when they mean to; a background thread would make
        # what is sequenced at any moment depend on timing (test_audit_log.py tests it).
        sequencer_interval=0,
    )


def empty_postgres(url: str) -> None:
    """Migrate the session database and empty every table, so each test starts clean."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        tables = ", ".join(f'"{t.name}"' for t in all_metadata().sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """An initialised store with a new keyring, as `privguard init` leaves it."""
    if settings.database_url:
        empty_postgres(settings.database_url)
    initialise(settings, now=NOW)
    rt = build_runtime(settings)
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture
def admin(runtime: Runtime) -> ActorRef:
    """The CLI operator: a platform_admin."""
    with unit_of_work(runtime.sessions) as session:
        return cli_actor(session, now=NOW)
