"""API shapes for the access log as consumers see it."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class FieldAccessOut(BaseModel):
    field: str
    label: str = Field(description="The field's name in the consumer's language.")
    view: str = Field(description="plain, masked, waybill, or none (refused).")
    rule: str = Field(description="The policy rule that decided.")


class OrganisationOut(BaseModel):
    organisation_id: uuid.UUID
    name: str
    kind: str = Field(description="merchant, carrier, partner or platform.")


class AccessOut(BaseModel):
    entry_id: int
    leaf_index: int | None = Field(
        description="Position in the signed Merkle tree; null until sequenced (seconds)."
    )
    at: datetime
    role: str = Field(description="The role of whoever asked (never the person).")
    organisation: OrganisationOut | None
    action: str
    purpose: str
    purpose_label: str
    allowed: bool
    fields: list[FieldAccessOut]


class AccessHistory(BaseModel):
    subject_id: uuid.UUID
    accesses: list[AccessOut]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page.")
