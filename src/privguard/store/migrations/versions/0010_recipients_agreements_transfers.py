"""recipients agreements transfers

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import privguard.store.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recipients",
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("legal_entity", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("processor_role", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("registered_at", privguard.store.base.UTCDateTime(), nullable=False),
        sa.Column("registered_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["recipient_id"], ["organisations.organisation_id"]),
        sa.PrimaryKeyConstraint("recipient_id"),
    )
    op.create_table(
        "agreements",
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("sub_processing", sa.Boolean(), nullable=False),
        sa.Column("starts_at", privguard.store.base.UTCDateTime(), nullable=False),
        sa.Column("ends_at", privguard.store.base.UTCDateTime(), nullable=False),
        sa.Column("created_at", privguard.store.base.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("terminated_at", privguard.store.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["recipient_id"], ["recipients.recipient_id"]),
        sa.PrimaryKeyConstraint("agreement_id"),
    )
    op.create_index(
        "ix_agreements_recipient_term", "agreements", ["recipient_id", "ends_at"], unique=False
    )
    op.create_table(
        "agreement_tasks",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("opened_at", privguard.store.base.UTCDateTime(), nullable=False),
        sa.Column("due_at", privguard.store.base.UTCDateTime(), nullable=False),
        sa.Column("closed_at", privguard.store.base.UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreements.agreement_id"]),
        sa.PrimaryKeyConstraint("task_id"),
        sa.UniqueConstraint("agreement_id"),
    )
    op.create_table(
        "transfers",
        sa.Column(
            "transfer_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("cross_border", sa.Boolean(), nullable=False),
        sa.Column("at", privguard.store.base.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreements.agreement_id"]),
        sa.ForeignKeyConstraint(["recipient_id"], ["recipients.recipient_id"]),
        sa.PrimaryKeyConstraint("transfer_id"),
    )
    op.create_index("ix_transfers_subject", "transfers", ["subject_id", "at"], unique=False)
    op.create_index("ix_transfers_recipient", "transfers", ["recipient_id", "at"], unique=False)
    op.create_table(
        "recipient_notices",
        sa.Column(
            "notice_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.String(length=24), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", privguard.store.base.UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", privguard.store.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["recipient_id"], ["recipients.recipient_id"]),
        sa.PrimaryKeyConstraint("notice_id"),
    )
    op.create_index(
        "ix_recipient_notices_open",
        "recipient_notices",
        ["recipient_id", "acknowledged_at"],
        unique=False,
    )
    op.add_column("subject_requests", sa.Column("sealed_values", sa.LargeBinary(), nullable=True))
    op.add_column("subject_requests", sa.Column("statement", sa.JSON(), nullable=True))
    op.create_index(
        "ix_orders_subject_last_event",
        "orders",
        ["subject_id", sa.text("coalesce(delivered_at, placed_at)")],
    )


def downgrade() -> None:
    op.drop_index("ix_recipient_notices_open", table_name="recipient_notices")
    op.drop_table("recipient_notices")
    op.drop_index("ix_transfers_recipient", table_name="transfers")
    op.drop_index("ix_transfers_subject", table_name="transfers")
    op.drop_table("transfers")
    op.drop_table("agreement_tasks")
    op.drop_index("ix_agreements_recipient_term", table_name="agreements")
    op.drop_table("agreements")
    op.drop_table("recipients")
    op.drop_index("ix_orders_subject_last_event", table_name="orders")
    op.drop_column("subject_requests", "statement")
    op.drop_column("subject_requests", "sealed_values")
