"""Alembic environment: uses the engine handed over by privguard.store.migrate."""

from __future__ import annotations

from alembic import context

from privguard.store.tables import all_metadata

config = context.config
engine = config.attributes["engine"]
target_metadata = all_metadata()

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=engine.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
