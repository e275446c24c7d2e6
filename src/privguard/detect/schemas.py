"""API shapes for detection and redaction. Findings carry positions, never values."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from privguard.vault.schemas import PURPOSE_PATTERN

MAX_TEXT = 100_000  # characters in one text
MAX_BATCH = 1_000  # texts in one batch request

Lang = Literal["zh", "en"]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
OperatorName = Literal["replace", "mask", "hash", "tokenise"]


class FindingOut(BaseModel):
    entity_type: str
    start: int = Field(description="Python string index into the text as sent (code points).")
    end: int
    score: float


class ScanRequest(BaseModel):
    text: str = Field(max_length=MAX_TEXT, examples=["收货人张伟，电话13812345678"])
    lang: Lang | None = Field(default=None, description="zh, en, or omitted for both.")
    entities: list[str] | None = Field(default=None, description="Only these entity types.")


class ScanBatchRequest(BaseModel):
    texts: list[Text] = Field(max_length=MAX_BATCH)
    lang: Lang | None = None
    entities: list[str] | None = None


class ScanResult(BaseModel):
    findings: list[FindingOut]


class ScanBatchResult(BaseModel):
    results: list[ScanResult]


class RedactOptions(BaseModel):
    operator: OperatorName = Field(
        default="replace",
        description="replace: <TYPE>; mask: * but the last keep_suffix characters; hash: keyed "
        "hash <TYPE:hex>; tokenise: sealed in the vault, <TYPE:tk_…> (needs purpose).",
    )
    keep_suffix: int = Field(default=4, ge=0, le=8, description="For mask.")
    purpose: str | None = Field(
        default=None, pattern=PURPOSE_PATTERN, description="Why values are tokenised."
    )
    lang: Lang | None = None
    entities: list[str] | None = None


class RedactRequest(RedactOptions):
    text: str = Field(max_length=MAX_TEXT)


class RedactBatchRequest(RedactOptions):
    texts: list[Text] = Field(max_length=MAX_BATCH)


class RedactResult(BaseModel):
    text: str
    findings: list[FindingOut] = Field(description="Positions in the text as sent.")


class RedactBatchResult(BaseModel):
    results: list[RedactResult]


class DetokeniseRequest(BaseModel):
    token: str = Field(max_length=64, examples=["tk_0f6c2a7e9b1d4c3a8e5f6a7b8c9d0e1f"])
    purpose: str = Field(pattern=PURPOSE_PATTERN)
    view: Literal["plain", "masked"] = "masked"


class DetokeniseResult(BaseModel):
    token: str
    entity_type: str
    view: str
    value: str
    rule: str = Field(description="The policy rule that allowed it.")
