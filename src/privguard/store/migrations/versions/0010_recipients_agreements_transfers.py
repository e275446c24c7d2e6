"""recipients agreements transfers

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("subject_requests", sa.Column("sealed_values", sa.LargeBinary(), nullable=True))
    op.add_column("subject_requests", sa.Column("statement", sa.JSON(), nullable=True))
    op.create_index(
        "ix_orders_subject_last_event",
        "orders",
        ["subject_id", sa.text("coalesce(delivered_at, placed_at)")],
    )


def downgrade() -> None:
    op.drop_index("ix_orders_subject_last_event", table_name="orders")
    op.drop_column("subject_requests", "statement")
    op.drop_column("subject_requests", "sealed_values")
