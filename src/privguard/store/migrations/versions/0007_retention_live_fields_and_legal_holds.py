"""retention live fields and legal holds

Subjects get ``last_active_at`` (start of last_activity retention; existing rows start from
their last update) and ``next_expiry`` (left NULL here: the first ``privguard retention run``
finds no rules digest recorded and recomputes every subject's date before sweeping).
Restricted records get ``retention_ends`` (their own retention, so far equal to ``keep_until``)
and the ``hold_id`` that kept them; new tables for legal holds, retention runs and the counts
anonymised values leave behind.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import privguard.store.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = privguard.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_active_at", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("next_expiry", UTC_DATETIME, nullable=True))
        batch_op.create_index("ix_subjects_next_expiry", ["next_expiry", "subject_id"])
    op.execute("UPDATE subjects SET last_active_at = updated_at")

    with op.batch_alter_table("restricted_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_ends", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("hold_id", sa.Uuid(), nullable=True))
    op.execute("UPDATE restricted_records SET retention_ends = keep_until")
    with op.batch_alter_table("restricted_records", schema=None) as batch_op:
        batch_op.alter_column("retention_ends", existing_type=UTC_DATETIME, nullable=False)
        batch_op.drop_index("ix_restricted_records_keep_until")
        batch_op.create_index(
            "ix_restricted_records_retention_ends", ["retention_ends", "record_id"]
        )

    op.create_table(
        "legal_holds",
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("released_at", UTC_DATETIME, nullable=True),
        sa.Column("released_by", sa.Uuid(), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("hold_id", name=op.f("pk_legal_holds")),
    )
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.create_index("ix_legal_holds_subject", ["subject_id", "expires_at"])

    op.create_table(
        "retention_runs",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("cutoff", UTC_DATETIME, nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("cursor_expiry", UTC_DATETIME, nullable=True),
        sa.Column("cursor_subject", sa.Uuid(), nullable=True),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("resumed", sa.Integer(), nullable=False),
        sa.Column("subjects", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("restricted", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_retention_runs")),
    )
    with op.batch_alter_table("retention_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retention_runs_finished_at"), ["finished_at"])

    op.create_table(
        "anonymised_counts",
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("count", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("field", "value", "month", name=op.f("pk_anonymised_counts")),
    )


def downgrade() -> None:
    op.drop_table("anonymised_counts")
    with op.batch_alter_table("retention_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retention_runs_finished_at"))
    op.drop_table("retention_runs")
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_legal_holds_subject")
    op.drop_table("legal_holds")

    with op.batch_alter_table("restricted_records", schema=None) as batch_op:
        batch_op.drop_index("ix_restricted_records_retention_ends")
        batch_op.create_index("ix_restricted_records_keep_until", ["keep_until"])
        batch_op.drop_column("hold_id")
        batch_op.drop_column("retention_ends")

    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_index("ix_subjects_next_expiry")
        batch_op.drop_column("next_expiry")
        batch_op.drop_column("last_active_at")
