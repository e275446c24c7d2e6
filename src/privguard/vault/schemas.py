"""API shapes for the vault. Values are JSON; their form per field is in GET /v1/catalog."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from privguard.policy.rules import View

PURPOSE_PATTERN = r"^[a-z][a-z0-9_.]{1,63}$"

EXAMPLE_PI = {
    "name": "张三",
    "mobile_phone": "+86 138 0013 8000",
    "email": "zhangsan@example.com",
    "resident_id": "11010519491231002X",
    "shipping_addresses": [
        {
            "province": "广东省",
            "city": "深圳市",
            "district": "南山区",
            "detail": "科技园路1号A栋1201室",
            "postal_code": "518057",
        }
    ],
}


class SubjectCreate(BaseModel):
    """A new customer's personal information, field name -> value (see GET /v1/catalog)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"pi": EXAMPLE_PI}]})

    pi: dict[str, Any] = Field(
        description="Catalog field name -> value. Unknown fields are rejected."
    )


class SubjectUpdate(BaseModel):
    """Fields to set; a field set to null is removed."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"pi": {"email": "new@example.com", "landline": None}}]}
    )

    pi: dict[str, Any | None]


class SubjectWritten(BaseModel):
    subject_id: uuid.UUID
    fields: list[str] = Field(description="The fields written (names only, never values).")


class FieldOut(BaseModel):
    view: View
    value: Any = Field(description="The value in the granted view; null when not present.")
    present: bool = Field(description="False when the subject has no value for this field.")
    rule: str = Field(description="The policy rule that allowed this view.")


class DeniedOut(BaseModel):
    field: str
    rule: str
    reason: str


class SubjectRead(BaseModel):
    subject_id: uuid.UUID
    purpose: str
    fields: dict[str, FieldOut]
    denied: list[DeniedOut] = Field(description="Requested fields the policy refused, and why.")


class LookupRequest(BaseModel):
    """Exact lookup through the blind index. Sent in the body: PI never goes in a URL."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"field": "mobile_phone", "value": "13800138000", "purpose": "customer_support"}
            ]
        }
    )

    field: str = Field(description="A searchable catalog field: mobile_phone, email, resident_id.")
    value: str = Field(max_length=256)
    purpose: str = Field(pattern=PURPOSE_PATTERN, description="Why you are looking.")


class LookupResult(BaseModel):
    subject_ids: list[uuid.UUID]
