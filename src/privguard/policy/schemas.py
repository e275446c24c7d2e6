"""API shapes for the policy: its contents and explanations."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StepOut(BaseModel):
    rule: str
    position: int = Field(description="Order in the policy file; earlier rules are tried first.")
    view: str = Field(description="The most this rule grants.")
    conditions: str = Field(description="What must hold for the rule to apply.")
    holds: bool | None = Field(description="Whether it holds for the facts given; null if none.")
    decides: bool
    reason: str


class ExplainOut(BaseModel):
    role: str
    action: str
    purpose: str
    field: str
    requested_view: str
    facts: list[str] | None = Field(description="Relationships and consent assumed, if any.")
    chain: list[StepOut]
    outcome: str
    view: str | None = Field(description="The view granted, when facts were given.")
    rule: str | None


class PurposeOut(BaseModel):
    name: str
    fides: str
    necessary: bool = Field(description="Needed for the transaction; otherwise needs consent.")
    label: dict[str, str]


class RuleOut(BaseModel):
    id: str
    roles: list[str]
    actions: list[str]
    purposes: list[str]
    fields: list[str]
    view: str
    conditions: str
    reason: str


class PolicyOut(BaseModel):
    source: str
    roles: dict[str, str]
    purposes: list[PurposeOut]
    rules: list[RuleOut]
