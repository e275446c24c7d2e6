"""API shape of a published privacy notice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class NoticeOut(BaseModel):
    version: int = Field(description="Quote it when answering a consent (notice_version).")
    content_hash: str = Field(description="SHA-256 of the document's canonical JSON.")
    published_at: datetime
    material: bool = Field(
        description="This version adds processing that consumers had not agreed to."
    )
    affected: list[str] = Field(
        description="Consent topics this version asks again (given under older versions, "
        "they are suspended until the consumer answers)."
    )
    locale: str
    format: str
    body: str | None = Field(
        default=None, description="The rendered notice (format markdown or html)."
    )
    document: dict[str, Any] | None = Field(
        default=None, description="The notice as structured data (format json)."
    )
