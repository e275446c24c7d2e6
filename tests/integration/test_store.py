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


def test_database_errors_never_carry_statement_parameters(runtime: Runtime) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        with runtime.engine.begin() as conn:
            conn.execute(text("SELECT * FROM no_such_table WHERE x = :v"), {"v": "13800138000"})
    except DBAPIError as exc:
        assert "13800138000" not in str(exc)
    else:  # pragma: no cover
        raise AssertionError("the statement should have failed")
