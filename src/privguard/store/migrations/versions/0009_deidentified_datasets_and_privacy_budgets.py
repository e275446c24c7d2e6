"""de-identified datasets and privacy budgets

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

Tables of privguard/sharing/dp_models.py. ``recipient_id`` has no foreign key: the recipients
table arrives in 0010.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import privguard.store.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deid_dataset_releases",
        sa.Column("release_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("k_achieved", sa.Integer(), nullable=False),
        sa.Column("l_achieved", sa.Integer(), nullable=True),
        sa.Column(
            "released_at", privguard.store.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("release_id", name=op.f("pk_deid_dataset_releases")),
    )
    op.create_index(
        op.f("ix_deid_dataset_releases_recipient_id"),
        "deid_dataset_releases",
        ["recipient_id"],
        unique=False,
    )
    op.create_table(
        "privacy_budgets",
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("epsilon_total", sa.Double(), nullable=False),
        sa.Column("epsilon_spent", sa.Double(), nullable=False),
        sa.Column("created_at", privguard.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", privguard.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "epsilon_spent >= 0", name=op.f("ck_privacy_budgets_spent_not_negative")
        ),
        sa.CheckConstraint(
            "epsilon_total >= 0", name=op.f("ck_privacy_budgets_total_not_negative")
        ),
        sa.PrimaryKeyConstraint("recipient_id", name=op.f("pk_privacy_budgets")),
    )
    op.create_table(
        "privacy_releases",
        sa.Column("release_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("mechanism", sa.String(length=32), nullable=False),
        sa.Column("epsilon", sa.Double(), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column(
            "released_at", privguard.store.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("release_id", name=op.f("pk_privacy_releases")),
    )
    op.create_index(
        op.f("ix_privacy_releases_recipient_id"),
        "privacy_releases",
        ["recipient_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_privacy_releases_recipient_id"), table_name="privacy_releases")
    op.drop_table("privacy_releases")
    op.drop_table("privacy_budgets")
    op.drop_index(
        op.f("ix_deid_dataset_releases_recipient_id"), table_name="deid_dataset_releases"
    )
    op.drop_table("deid_dataset_releases")
