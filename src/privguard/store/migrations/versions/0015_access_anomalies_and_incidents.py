"""access anomalies and incidents

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import privguard.store.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = privguard.store.base.UTCDateTime
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "anomaly_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("processed", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTC_TIME(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "anomaly_actor_state",
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_TIME(), nullable=False),
        sa.PrimaryKeyConstraint("actor_id"),
    )
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("harm", sa.Text(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("jurisdictions", sa.JSON(), nullable=False),
        sa.Column("discovered_at", UTC_TIME(), nullable=False),
        sa.Column("window_start", UTC_TIME(), nullable=False),
        sa.Column("window_end", UTC_TIME(), nullable=False),
        sa.Column("scope_actors", sa.JSON(), nullable=False),
        sa.Column("scope_organisations", sa.JSON(), nullable=False),
        sa.Column("individuals", sa.String(length=16), nullable=False),
        sa.Column("affected_subjects", sa.Integer(), nullable=False),
        sa.Column("affected_entries", sa.Integer(), nullable=False),
        sa.Column("affected_fields", sa.JSON(), nullable=False),
        sa.Column("computed_at", UTC_TIME(), nullable=True),
        sa.Column("created_at", UTC_TIME(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    op.create_index("ix_incidents_discovered", "incidents", ["discovered_at"], unique=False)
    op.create_table(
        "access_alerts",
        sa.Column("alert_id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("fired_at", UTC_TIME(), nullable=False),
        sa.Column("window_start", UTC_TIME(), nullable=False),
        sa.Column("window_end", UTC_TIME(), nullable=False),
        sa.Column("first_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("last_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("trigger_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", UTC_TIME(), nullable=True),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.incident_id"]),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_index(
        "ix_access_alerts_firing",
        "access_alerts",
        ["actor_id", "rule", "trigger_entry_id"],
        unique=True,
    )
    op.create_index(
        "ix_access_alerts_organisation_fired",
        "access_alerts",
        ["organisation_id", "fired_at"],
        unique=False,
    )
    op.create_index("ix_access_alerts_state", "access_alerts", ["state", "alert_id"], unique=False)
    op.create_table(
        "incident_events",
        sa.Column("event_id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("at", UTC_TIME(), nullable=False),
        sa.Column("effective_at", UTC_TIME(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.incident_id"]),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index(
        "ix_incident_events_incident",
        "incident_events",
        ["incident_id", "event_id"],
        unique=False,
    )
    op.create_table(
        "incident_subjects",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("first_at", UTC_TIME(), nullable=False),
        sa.Column("last_at", UTC_TIME(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.incident_id"]),
        sa.PrimaryKeyConstraint("incident_id", "subject_id"),
    )
    op.create_index(
        "ix_incident_subjects_subject", "incident_subjects", ["subject_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_incident_subjects_subject", table_name="incident_subjects")
    op.drop_table("incident_subjects")
    op.drop_index("ix_incident_events_incident", table_name="incident_events")
    op.drop_table("incident_events")
    op.drop_index("ix_access_alerts_state", table_name="access_alerts")
    op.drop_index("ix_access_alerts_organisation_fired", table_name="access_alerts")
    op.drop_index("ix_access_alerts_firing", table_name="access_alerts")
    op.drop_table("access_alerts")
    op.drop_index("ix_incidents_discovered", table_name="incidents")
    op.drop_table("incidents")
    op.drop_table("anomaly_actor_state")
    op.drop_table("anomaly_cursor")
