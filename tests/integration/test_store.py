"""Schema and migrations: Alembic's head is exactly the model metadata, on both stores."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from privguard.bootstrap import Runtime
from privguard.store.migrate import current_revision, head_revision
from privguard.store.tables import all_metadata

PI_TABLES = {"subjects", "subject_keys", "blind_indexes", "orders", "access_log"}


def test_migrations_produce_the_model_schema(runtime: Runtime) -> None:
    assert current_revision(runtime.engine) == head_revision()
    with runtime.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), all_metadata())
    assert diff == []


def test_every_table_about_a_person_is_keyed_by_subject_id(runtime: Runtime) -> None:
    inspector = inspect(runtime.engine)
    for table in PI_TABLES:
        columns = {c["name"] for c in inspector.get_columns(table)}
        assert "subject_id" in columns, table
