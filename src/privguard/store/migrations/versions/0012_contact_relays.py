"""contact relays

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import privguard.store.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relay_aliases",
        sa.Column("alias_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("merchant_id", sa.Uuid(), nullable=False),
        sa.Column("phone_number", sa.String(length=16), nullable=False),
        sa.Column("extension", sa.String(length=8), nullable=False),
        sa.Column("slot_held", sa.Boolean(), nullable=False),
        sa.Column("mail_local", sa.String(length=32), nullable=False),
        sa.Column("created_at", privguard.store.base.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", privguard.store.base.UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["organisations.organisation_id"],
            name=op.f("fk_relay_aliases_merchant_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.order_id"], name=op.f("fk_relay_aliases_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.subject_id"],
            name=op.f("fk_relay_aliases_subject_id_subjects"),
        ),
        sa.PrimaryKeyConstraint("alias_id", name=op.f("pk_relay_aliases")),
        sa.UniqueConstraint("mail_local", name=op.f("uq_relay_aliases_mail_local")),
        sa.UniqueConstraint("order_id", name=op.f("uq_relay_aliases_order_id")),
    )
    op.create_index(
        op.f("ix_relay_aliases_subject_id"), "relay_aliases", ["subject_id"], unique=False
    )
    op.create_index(
        "ix_relay_aliases_held_slot",
        "relay_aliases",
        ["phone_number", "extension"],
        unique=True,
        sqlite_where=sa.text("slot_held"),
        postgresql_where=sa.text("slot_held"),
    )
    op.create_table(
        "relay_events",
        sa.Column(
            "event_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("alias_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("at", privguard.store.base.UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("party", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["alias_id"], ["relay_aliases.alias_id"],
            name=op.f("fk_relay_events_alias_id_relay_aliases"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.subject_id"],
            name=op.f("fk_relay_events_subject_id_subjects"),
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_relay_events")),
    )
    op.create_index(
        op.f("ix_relay_events_alias_id"), "relay_events", ["alias_id"], unique=False
    )
    op.create_index(
        "ix_relay_events_subject_at", "relay_events", ["subject_id", "at"], unique=False
    )
    op.create_table(
        "relay_mailboxes",
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", privguard.store.base.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["actors.actor_id"], name=op.f("fk_relay_mailboxes_actor_id_actors")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.organisation_id"],
            name=op.f("fk_relay_mailboxes_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_relay_mailboxes")),
    )
    op.create_index(
        op.f("ix_relay_mailboxes_actor_id"), "relay_mailboxes", ["actor_id"], unique=False
    )
    op.create_index(
        op.f("ix_relay_mailboxes_organisation_id"),
        "relay_mailboxes",
        ["organisation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_relay_mailboxes_organisation_id"), table_name="relay_mailboxes")
    op.drop_index(op.f("ix_relay_mailboxes_actor_id"), table_name="relay_mailboxes")
    op.drop_table("relay_mailboxes")
    op.drop_index("ix_relay_events_subject_at", table_name="relay_events")
    op.drop_index(op.f("ix_relay_events_alias_id"), table_name="relay_events")
    op.drop_table("relay_events")
    op.drop_index("ix_relay_aliases_held_slot", table_name="relay_aliases")
    op.drop_index(op.f("ix_relay_aliases_subject_id"), table_name="relay_aliases")
    op.drop_table("relay_aliases")
