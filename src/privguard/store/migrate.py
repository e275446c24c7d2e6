"""Run Alembic migrations programmatically (``privguard init`` / ``privguard db upgrade``).

Migrations never run at import or on server start-up: schema changes are an operator's decision.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def schema_problem(engine: Engine) -> str | None:
    """Why this code cannot run on this database's schema, or None when it can."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return None
    if current is None:
        return "the database has no privguard schema: run `privguard init`"
    known = {s.revision for s in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    if current not in known:
        return (
            f"the database schema ({current}) is newer than this privguard knows ({head}): "
            "upgrade privguard, do not run `db upgrade`"
        )
    return f"the database schema ({current}) is behind ({head}): run `privguard db upgrade`"
