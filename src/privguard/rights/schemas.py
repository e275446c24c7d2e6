"""API shapes for data-subject requests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TypeIn = Literal[
    "access",
    "portability",
    "correction",
    "deletion",
    "consent_withdrawal",
    "account_cancellation",
    "explanation",
    "deceased_relative",
]


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: TypeIn
    jurisdiction: str | None = Field(default=None, description="CN, EU or US-CA; default CN.")
    subject_id: uuid.UUID | None = Field(
        default=None, description="Only for `deceased_relative`: the deceased consumer."
    )
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="`relation` (deceased_relative: spouse, parent, child, sibling, "
        "grandparent, grandchild); `topics` (consent_withdrawal: `purpose:marketing_sms`, "
        "`third_party:<recipient id>`...; none = every consent given); `note` (free text: "
        "only its length is kept).",
    )
    values: dict[str, Any] | None = Field(
        default=None,
        description="Correction only: the corrected value of each catalog field. Validated "
        "now, then sealed under your own key until the officer applies it; never stored "
        "in plain text.",
    )


class EventOut(BaseModel):
    at: datetime
    role: str
    from_state: str | None
    to_state: str
    note: str


class RequestOut(BaseModel):
    request_id: uuid.UUID
    subject_id: uuid.UUID
    type: str
    state: str
    jurisdiction: str
    received_at: datetime
    confirm_by: datetime | None
    answer_by: datetime
    extended_answer_by: datetime | None
    outcome: str | None = Field(description="Why refused or partly done, for the consumer.")
    fields: list[str] = Field(
        default_factory=list, description="Correction: the fields it changes (names only)."
    )
    statement: dict[str, Any] | None = Field(
        default=None,
        description="Deletion and cancellation: what was deleted, what was kept, why and "
        "until when (PIPL Art. 47).",
    )
    urgency: str = Field(description="ok, due_soon or overdue.")
    history: list[EventOut] = Field(default_factory=list)


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(
        default="",
        max_length=2000,
        description="Required to refuse or partly complete; the consumer sees it.",
    )


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor_id: uuid.UUID


class VerifyStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["mobile_phone", "email"] = Field(
        description="Where the code goes: the phone or email ON FILE, never a new one."
    )


class ChallengeOut(BaseModel):
    challenge_id: uuid.UUID
    channel: str
    masked_destination: str
    expires_at: datetime


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    challenge_id: uuid.UUID
    code: str = Field(min_length=1, max_length=12)


class KeptOut(BaseModel):
    field: str
    until: datetime
    basis: str = Field(description="Why it is kept (the law).")


class ErasureOut(BaseModel):
    request: RequestOut
    deleted: list[str] = Field(description="Fields destroyed (their key is gone).")
    kept: list[KeptOut] = Field(description="Kept in restricted storage: why and until when.")


class CancellationOut(BaseModel):
    request: RequestOut
    closed: bool = Field(description="False while orders are still on their way or refunding.")
    unsettled_orders: int
    deleted: list[str] = Field(default_factory=list)
    kept: list[KeptOut] = Field(default_factory=list)


class WithdrawalOut(BaseModel):
    request: RequestOut
    withdrawn: list[str] = Field(description="The consent topics withdrawn.")
