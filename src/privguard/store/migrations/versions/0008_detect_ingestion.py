"""detect ingestion: tokens of PI redacted out of free text

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import privguard.store.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "detect_tokens",
        sa.Column("token_id", sa.Uuid(), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", privguard.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_detect_tokens")),
    )
    with op.batch_alter_table("detect_tokens", schema=None) as batch_op:
        batch_op.create_index(
            "ix_detect_tokens_type_digest", ["entity_type", "digest"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("detect_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_detect_tokens_type_digest")
    op.drop_table("detect_tokens")
