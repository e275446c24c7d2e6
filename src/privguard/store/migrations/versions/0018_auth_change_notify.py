"""notify server processes when API keys or actors change (their authentication caches)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29

PostgreSQL only: statement-level triggers send ``NOTIFY privguard_auth`` after any UPDATE or
DELETE on ``api_keys`` or ``actors`` (delivered when the transaction commits), so a key revoked
or an actor disabled from any process, or by hand in psql, empties every server's cache
(privguard/actors/auth_cache.py). SQLite has no notifications; the cache stays off there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("api_keys", "actors")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION privguard_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('privguard_auth', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_auth_changed AFTER UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION privguard_auth_changed()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_auth_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS privguard_auth_changed()")
