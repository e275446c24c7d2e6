"""API shapes for complaints, reports and merchant supervision."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CategoryIn = Literal[
    "pi_leak", "harassment", "marketing_without_consent", "over_collection", "rights_ignored",
    "merchant_misuse", "after_sales", "counterfeit",
]


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: CategoryIn = Field(
        description="after_sales and counterfeit go to the commerce queue; the rest to the "
        "protection officer. Without a consumer account only pi_leak, harassment and "
        "merchant_misuse can be reported."
    )
    description: str = Field(
        max_length=5000,
        description="What happened. Phone numbers, ID numbers, addresses and the like are "
        "redacted by the detector before it is stored.",
    )
    order_id: uuid.UUID | None = Field(default=None, description="One of your orders.")
    merchant_id: uuid.UUID | None = Field(default=None, description="The merchant concerned.")


class CaseEventOut(BaseModel):
    at: datetime
    role: str
    kind: str = Field(description="state, info, assign or attachment.")
    from_state: str | None
    to_state: str | None
    note: str


class CaseOut(BaseModel):
    case_id: uuid.UUID
    category: str
    queue: str
    state: str
    order_id: uuid.UUID | None
    merchant_id: uuid.UUID | None
    description: str = Field(description="As stored: redacted.")
    redactions: int = Field(description="How many pieces of personal information were hidden.")
    received_at: datetime
    triage_by: datetime
    resolve_by: datetime
    escalated: bool = Field(description="Past a deadline and still open.")
    upheld: bool | None
    finding: str | None = Field(description="What the platform found (or why rejected).")
    corrective_action: str | None
    history: list[CaseEventOut] = Field(default_factory=list)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=5000, description="Required to reject: why.")


class InfoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=5000, description="More information; redacted like the rest.")


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upheld: bool
    finding: str = Field(max_length=5000)
    corrective_action: str = Field(max_length=5000)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor_id: uuid.UUID


class AttachmentOut(BaseModel):
    attachment_id: uuid.UUID
    media_type: str
    size: int


class RecordOut(BaseModel):
    upheld_complaints: int
    policy_denials: int
    anomalies: int
    overdue_rights: int


class RatingOut(BaseModel):
    merchant_id: uuid.UUID
    name: str
    grade: str = Field(description="A (best) to E, from the merchant's privacy record.")
    score: float | None = Field(default=None, description="Officers and auditors only.")
    record: RecordOut | None = None
    sanction: str | None = None


class SanctionOut(BaseModel):
    sanction_id: uuid.UUID
    merchant_id: uuid.UUID
    level: str
    reason: str
    score: float | None
    case_id: uuid.UUID | None
    imposed_at: datetime
    lifted_at: datetime | None
    lifted_reason: str | None
    appeal: str | None
    appealed_at: datetime | None
    appeal_decision: str | None


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=5000)


class DecideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lift: bool
    reason: str = Field(max_length=5000)


Evidence = dict[str, Any]
