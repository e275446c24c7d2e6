"""API shapes for consent. One request carries exactly one consent answer: no bundling."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

KindIn = Literal["purpose", "third_party", "sensitive", "public_disclosure", "cross_border"]


class ConsentGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: KindIn = Field(
        description="`purpose` for a purpose beyond the transaction; the others are separate "
        "consents (单独同意): `third_party` (target: recipient id), `sensitive` (target: "
        "field), `public_disclosure`, `cross_border` (target: recipient id)."
    )
    target: str = Field(min_length=1, max_length=64, description="What the consent is for.")
    notice_version: int = Field(description="The privacy notice in force, as shown.")
    text_shown: str = Field(
        min_length=1, max_length=4000, description="The exact words the consumer answered."
    )
    channel: Literal["app", "web", "api"] = "app"
    expires_at: datetime | None = Field(default=None, description="Optional end of the consent.")
    subject_id: uuid.UUID | None = Field(
        default=None, description="A guardian answering for their child under 14."
    )


class ConsentWithdraw(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: KindIn
    target: str = Field(min_length=1, max_length=64)
    channel: Literal["app", "web", "api"] = "app"
    subject_id: uuid.UUID | None = Field(
        default=None, description="A guardian withdrawing for their child."
    )


class RelayedWithdraw(BaseModel):
    """A withdrawal received elsewhere: on the phone (customer service), as an unsubscribe
    reply or link, or as a Sec-GPC signal (the platform's inbound hooks)."""

    model_config = ConfigDict(extra="forbid")

    kind: KindIn
    target: str = Field(min_length=1, max_length=64)
    channel: Literal["support", "sms", "email", "gpc", "system"]
    text_shown: str = Field(
        default="", max_length=4000, description="What the consumer said or sent, if anything."
    )


class StatusOut(BaseModel):
    kind: str
    target: str
    state: str = Field(description="granted, withdrawn, expired, suspended or never_asked.")
    since: datetime | None
    notice_version: int | None


class ConsentsOut(BaseModel):
    subject_id: uuid.UUID
    notice_version: int | None = Field(description="The notice in force; answer against it.")
    optional_purposes: list[str] = Field(description="Purposes that each need a consent.")
    consents: list[StatusOut]


class Recorded(BaseModel):
    event_id: int
    state: StatusOut


class GuardianIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    guardian_subject_id: uuid.UUID
    relation: Literal["parent", "legal_guardian"]


class ConsentCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str | None = Field(default=None, description="A purpose; or give `channel`.")
    channel: Literal["sms", "email", "phone", "push"] | None = Field(
        default=None, description="A marketing channel (its purpose is looked up)."
    )
    subject_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


class ConsentCheckOut(BaseModel):
    purpose: str
    allowed: dict[uuid.UUID, bool]


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["sms", "email", "phone", "push"]
    campaign: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    subject_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


class SendOut(BaseModel):
    channel: str
    accepted: list[uuid.UUID] = Field(description="Consented: handed to the message relay.")
    refused: list[uuid.UUID] = Field(description="No current consent: not sent, and logged.")
    unsubscribe_links: dict[uuid.UUID, str] = Field(
        default_factory=dict,
        description="For email: a one-click unsubscribe link per accepted customer, to put in "
        "the message (List-Unsubscribe, RFC 8058).",
    )


class HistoryEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["browsing", "search"]
    item: str | None = Field(default=None, max_length=200)
    query: str | None = Field(default=None, max_length=200)
    at: datetime


class InboundSms(BaseModel):
    """A reply received by the SMS gateway. The number travels in the body, never a URL."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=3, max_length=32)
    text: str = Field(max_length=500)


class InboundSmsOut(BaseModel):
    unsubscribe: bool = Field(description="Whether the reply was an unsubscribe keyword.")
    withdrawn: list[uuid.UUID]
