"""API shapes for recipients, agreements, transfers and recipient notices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: uuid.UUID = Field(description="A registered partner or carrier.")
    legal_entity: str = Field(max_length=200, description="The recipient's legal name.")
    contact: str = Field(max_length=200, description="Its privacy contact (e-mail or address).")
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2, e.g. CN.")
    processor_role: Literal["entrusted", "independent"] = Field(
        description="entrusted: processes for us (PIPL Art. 21); independent: its own purposes "
        "(Art. 23, separate consent)."
    )
    category: Literal["logistics", "payment", "advertising", "analytics", "cloud", "other"]


class RecipientOut(BaseModel):
    recipient_id: uuid.UUID
    legal_entity: str
    contact: str
    country: str
    cross_border: bool
    processor_role: str
    category: str
    registered_at: datetime


class AgreementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(max_length=100, description="The contract's own number.")
    purposes: list[str] = Field(description="Policy purposes the recipient may receive data for.")
    fields: list[str] = Field(description="Catalog fields it may receive; nothing else leaves.")
    retention_days: int = Field(ge=1, description="How long the recipient may keep the data.")
    sub_processing: bool = Field(description="Whether it may pass the data to sub-processors.")
    starts_at: datetime
    ends_at: datetime


class AgreementOut(BaseModel):
    agreement_id: uuid.UUID
    recipient_id: uuid.UUID
    reference: str
    purposes: list[str]
    fields: list[str]
    retention_days: int
    sub_processing: bool
    starts_at: datetime
    ends_at: datetime
    terminated_at: datetime | None


class TaskOut(BaseModel):
    task_id: uuid.UUID
    agreement_id: uuid.UUID
    recipient_id: uuid.UUID
    opened_at: datetime
    due_at: datetime
    closed_at: datetime | None
    outcome: str | None


class TaskCloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["returned", "deleted"]
    evidence: str = Field(max_length=2000, description="The recipient's confirmation (reference).")


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient_id: uuid.UUID
    purpose: str
    subject_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)
    fields: list[str] = Field(min_length=1, description="Must all be in the agreement.")


class SharedOut(BaseModel):
    subject_id: uuid.UUID
    fields: dict[str, Any] = Field(description="Values in the view the gate granted.")
    views: dict[str, str] = Field(description="The view of each field (plain, masked, ...).")
    refused: dict[str, str] = Field(description="Field -> the rule that kept it back.")
    error: str | None = Field(description="Why nothing of this subject left (a rule), if so.")


class ShareOut(BaseModel):
    recipient_id: uuid.UUID
    purpose: str
    subjects: list[SharedOut]


class HolderOut(BaseModel):
    recipient_id: uuid.UUID
    legal_entity: str
    country: str
    cross_border: bool
    processor_role: str
    category: str
    purpose: str
    purpose_label: dict[str, str]
    fields: list[str]
    first_at: datetime
    last_at: datetime
    times: int


class NoticeOut(BaseModel):
    notice_id: int
    subject_id: uuid.UUID
    event: str = Field(description="deleted, corrected or consent_withdrawn: act on it.")
    fields: list[str]
    created_at: datetime


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notice_ids: list[int] = Field(min_length=1, max_length=1000)


class QuasiIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["age_from_birth_date", "address", "date", "category"]
    column: str = Field(description="The catalog field it comes from.")


class DatasetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quasi_identifiers: list[QuasiIn] = Field(min_length=1)
    k: int = Field(ge=2, le=1000)
    l_diversity: int = Field(default=1, ge=1)
    sensitive: str | None = Field(default=None, description="Kept as is; l-diversity guards it.")
    max_suppression: float = Field(default=0.05, ge=0, lt=1)
    subject_ids: list[uuid.UUID] = Field(min_length=1, max_length=100_000)
