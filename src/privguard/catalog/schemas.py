"""API shape of the catalog (what fields exist and how they are protected)."""

from __future__ import annotations

from pydantic import BaseModel


class RetentionOut(BaseModel):
    keep_until: str
    days: int
    basis: str
    on_expiry: str = "delete"  # or "anonymise": counted by a generaliser, then deleted
    generaliser: str | None = None


class FieldSpecOut(BaseModel):
    name: str
    labels: dict[str, str]
    category: str
    sensitivity: str
    validator: str
    masking: str
    waybill_masking: str | None
    retention: RetentionOut
    searchable: bool
    index_normalise: str
