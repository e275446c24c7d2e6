"""API shapes of the reports (never the table classes)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ReportFormat = Literal["json", "html", "md", "pdf"]
ReportLang = Literal["zh-CN", "en"]


class RopaOut(BaseModel):
    """The records of processing as data (docs/reports.md describes every key)."""

    format: int
    kind: Literal["ropa"]
    generated_at: str
    controller: dict[str, Any] = Field(description="The handler: name, address, country, "
                                       "contact (from the notice config).")
    officer: dict[str, Any] = Field(description="The protection officer (PIPL Art. 52).")
    home: str = Field(description="The platform's country; recipients elsewhere are abroad.")
    sources: dict[str, str] = Field(description="The catalog, policy and notice config read.")
    activities: list[dict[str, Any]] = Field(
        description="One per policy purpose: purposes, legal basis, data subjects, fields with "
        "category, sensitivity and retention, who can access them by rule, recipients and "
        "their agreements, and whether an impact assessment is needed (PIPL Art. 55)."
    )
    recipients: list[dict[str, Any]] = Field(description="The whole recipient registry.")
    security: list[dict[str, Any]] = Field(description="The measures privguard applies.")
