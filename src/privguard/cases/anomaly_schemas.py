"""API shapes for access alerts and security incidents (never the table classes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AlertOut(BaseModel):
    alert_id: int
    rule: str = Field(
        description="bulk_access, off_hours, enumeration, no_relationship, large_export or "
        "new_network"
    )
    actor_id: uuid.UUID
    organisation_id: uuid.UUID | None
    role: str
    fired_at: datetime
    window_start: datetime
    window_end: datetime
    first_entry_id: int = Field(description="First access-log entry of the window")
    last_entry_id: int
    trigger_entry_id: int = Field(description="The entry that fired the alert")
    evidence: dict[str, Any] = Field(description="Counts, thresholds and entry ids; never PI")
    state: str = Field(description="open, dismissed or escalated")
    reason: str | None = Field(description="Why it was dismissed")
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    incident_id: uuid.UUID | None


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="Why this is a false positive (required, at most 1,000 "
                        "characters; personal information in it is redacted).")


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="At most 200 characters.")
    description: str = Field(description="What happened (PI in it is redacted).")
    cause: str = Field(description="The cause, as far as known.")
    categories: list[str] = Field(
        description="Kinds of incident: leak, tampering, loss, unauthorised_access (or those "
        "configured)."
    )
    discovered_at: datetime = Field(description="When it was discovered; deadlines run from it.")
    window_start: datetime = Field(description="Start of the period to search for the affected.")
    window_end: datetime
    actor_ids: list[uuid.UUID] = Field(default_factory=list, description="Actors involved.")
    organisation_ids: list[uuid.UUID] = Field(
        default_factory=list,
        description="Organisations involved (a merchant whose staff, a recipient that received).",
    )
    jurisdictions: list[str] = Field(
        default_factory=list, description="CN, EU, ... (default PRIVGUARD_DEFAULT_JURISDICTION)."
    )
    harm: str | None = Field(default=None, description="Your assessment of the possible harm.")


class EscalateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_id: uuid.UUID | None = Field(
        default=None, description="Attach to this open incident instead of opening a new one."
    )
    incident: IncidentIn | None = Field(
        default=None,
        description="The new incident's details; default: built from the alert (its actor, "
        "window and evidence; category unauthorised_access).",
    )


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["action", "authority_notified", "individuals_notified"] = Field(
        default="action",
        description="A remedial measure, or the record that the authority or the individuals "
        "were notified.",
    )
    text: str = Field(description="What was done (PI in it is redacted).")
    taken_at: datetime | None = Field(default=None, description="When; default now.")
    jurisdiction: str | None = Field(
        default=None, description="With authority_notified: whose authority (default the first)."
    )


class NoNotifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        description="Why the individuals are not notified (PIPL Art. 57: measures that "
        "effectively prevent harm). Required."
    )


class DutyOut(BaseModel):
    jurisdiction: str
    authority: dict[str, str]
    authority_by: datetime
    individuals_by: datetime | None = Field(description="null: without undue delay")
    basis: str
    authority_notified_at: datetime | None
    individuals_notified_at: datetime | None
    authority_overdue: bool
    individuals_overdue: bool


class EventOut(BaseModel):
    event_id: int
    kind: str
    at: datetime
    effective_at: datetime
    actor_id: uuid.UUID | None
    text: str | None
    data: dict[str, Any]


class AffectedOut(BaseModel):
    subjects: int
    entries: int = Field(description="Access-log entries and transfers that disclosed PI")
    fields: dict[str, int] = Field(description="Catalog field -> customers it was disclosed of")
    computed_at: datetime | None


class IncidentSummary(BaseModel):
    incident_id: uuid.UUID
    title: str
    categories: list[str]
    jurisdictions: list[str]
    discovered_at: datetime
    individuals: str = Field(description="pending, notified or not_notified")
    affected: AffectedOut


class IncidentOut(IncidentSummary):
    description: str
    cause: str
    harm: str | None
    window_start: datetime
    window_end: datetime
    scope_actors: list[uuid.UUID]
    scope_organisations: list[uuid.UUID]
    created_at: datetime
    created_by: uuid.UUID | None
    alerts: list[int]
    duties: list[DutyOut]
    events: list[EventOut]


class EscalatedOut(BaseModel):
    alert: AlertOut
    incident: IncidentOut


class AuthorityDraftOut(BaseModel):
    jurisdiction: str
    authority: dict[str, str]
    due_by: datetime
    basis: str
    drafts: dict[str, str] = Field(description="zh-CN and en, Markdown")


class IndividualDraftOut(BaseModel):
    subject_id: uuid.UUID
    channel: str
    fields: dict[str, str] = Field(description="Field -> widest view disclosed")
    drafts: dict[str, str] = Field(description="zh-CN and en, Markdown")


class IndividualsOut(BaseModel):
    decision: str = Field(description="pending, notified or not_notified")
    reason: str | None = Field(description="Why not, when not_notified")
    affected_subjects: int
    drafts: list[IndividualDraftOut]
    next_after: uuid.UUID | None = Field(description="Pass as `after` for the next page")


class NotificationsOut(BaseModel):
    authority: list[AuthorityDraftOut]
    individuals: IndividualsOut
