"""impact assessments

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import privguard.store.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "impact_assessments",
        sa.Column("assessment_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("created_at", privguard.store.base.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", privguard.store.base.UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("signed_at", privguard.store.base.UTCDateTime(), nullable=True),
        sa.Column("signed_by", sa.Uuid(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("keep_until", privguard.store.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("assessment_id"),
    )
    op.create_index(
        "ix_impact_assessments_purpose",
        "impact_assessments",
        ["purpose", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_impact_assessments_purpose", table_name="impact_assessments")
    op.drop_table("impact_assessments")
