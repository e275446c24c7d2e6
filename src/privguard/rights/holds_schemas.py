"""API shapes for legal holds."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_id: uuid.UUID
    reason: str = Field(
        description="Why deletion is suspended (a dispute, an investigation). The consumer reads "
        "it in a deletion statement: name the matter, not other people. At most 500 characters."
    )
    until: datetime = Field(
        description="When the hold ends by itself (ISO 8601; UTC if no offset). Required."
    )


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="Why the hold ends. Required.")


class HoldOut(BaseModel):
    hold_id: uuid.UUID
    subject_id: uuid.UUID
    state: str = Field(description="active, released or expired")
    reason: str
    created_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    released_at: datetime | None
    released_by: uuid.UUID | None
    release_reason: str | None
