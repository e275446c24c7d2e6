"""Access decisions: pure functions over plain data (design.md invariant 3: default deny, and
every decision names the rule that made it).

This is the foundation's interim policy: until the purpose-bound policy lands (issue 3), only the
``platform_admin`` role may see plain values or change data; every other known role may see the
masked display view, and nobody may read without stating a purpose.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    CONSUMER = "consumer"
    MERCHANT_STAFF = "merchant_staff"
    CUSTOMER_SERVICE = "customer_service"
    COURIER = "courier"
    MARKETING = "marketing"
    ANALYST = "analyst"
    PLATFORM_ADMIN = "platform_admin"
    PRIVACY_OFFICER = "privacy_officer"
    AUDITOR = "auditor"
    PARTNER = "partner"


class View(StrEnum):
    PLAIN = "plain"
    MASKED = "masked"
    WAYBILL = "waybill"
    NONE = "none"


@dataclass(frozen=True)
class ActorRef:
    """Who is asking: enough to decide and to log, nothing more."""

    actor_id: uuid.UUID | None
    role: Role
    organisation_id: uuid.UUID | None = None
    display_name: str = ""


@dataclass(frozen=True)
class Decision:
    field: str
    view: View  # the view granted; NONE when denied
    rule: str
    reason: str

    @property
    def allowed(self) -> bool:
        return self.view is not View.NONE

    def as_log(self) -> dict[str, str]:
        return {"field": self.field, "view": self.view.value, "rule": self.rule}


RULE_NO_PURPOSE = "foundation.purpose-required"
RULE_ADMIN = "foundation.admin-any-view"
RULE_MASKED = "foundation.masked-for-staff"
RULE_PLAIN_DENIED = "foundation.plain-admin-only"
RULE_WRITE_ADMIN = "foundation.write-admin-only"


def decide_read(actor: ActorRef, field: str, requested: View, purpose: str) -> Decision:
    """Decide one field of one read."""
    if not purpose.strip():
        return Decision(field, View.NONE, RULE_NO_PURPOSE, "every read must state its purpose")
    if actor.role is Role.PLATFORM_ADMIN:
        return Decision(field, requested, RULE_ADMIN, "platform administrators may use any view")
    if requested in (View.MASKED, View.WAYBILL):
        return Decision(field, requested, RULE_MASKED, "masked views are open to known roles")
    return Decision(
        field, View.NONE, RULE_PLAIN_DENIED, "only platform_admin may read plain values for now"
    )


def decide_write(actor: ActorRef, action: str) -> Decision:
    """Decide a change (register, update, erase) of a subject's data."""
    if actor.role is Role.PLATFORM_ADMIN:
        return Decision("*", View.PLAIN, RULE_WRITE_ADMIN, f"platform_admin may {action}")
    return Decision("*", View.NONE, RULE_WRITE_ADMIN, f"only platform_admin may {action} for now")
