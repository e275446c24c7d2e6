"""Access decisions: pure functions over plain data (design.md invariant 3: default deny, and
every decision names the rule that made it).

This is the foundation's interim policy, deliberately narrow until the purpose-bound policy
lands: only ``platform_admin`` sees plain values or changes data; the roles that serve an order
(customer service, merchant staff, couriers) and the oversight roles see masked views; roles whose
use needs consent or an agreement (marketing, analysts, partners) and consumers (whose own-data
access needs the privacy center's sign-in) see nothing yet. Nobody reads without a purpose.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property, lru_cache


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

    @cached_property
    def log_entry(self) -> dict[str, str]:
        """The decision as the access log stores it (computed once: decisions are shared)."""
        return {"field": self.field, "view": self.view.value, "rule": self.rule}


RULE_NO_PURPOSE = "foundation.purpose-required"
RULE_ADMIN = "foundation.admin-any-view"
RULE_MASKED = "foundation.masked-for-service-roles"
RULE_PLAIN_DENIED = "foundation.plain-admin-only"
RULE_NO_ACCESS = "foundation.role-not-yet-allowed"
RULE_WRITE_ADMIN = "foundation.write-admin-only"

MASKED_ROLES = frozenset(
    {Role.CUSTOMER_SERVICE, Role.MERCHANT_STAFF, Role.COURIER, Role.PRIVACY_OFFICER, Role.AUDITOR}
)
LOOKUP_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.CUSTOMER_SERVICE, Role.PRIVACY_OFFICER})


def decide_read(actor: ActorRef, field: str, requested: View, purpose: str) -> Decision:
    """Decide one field of one read."""
    return _decide_read(actor.role, field, requested, bool(purpose.strip()))


@lru_cache(maxsize=4096)
def _decide_read(role: Role, field: str, requested: View, has_purpose: bool) -> Decision:
    # Pure and small in its inputs, so decisions are computed once and shared (they are frozen).
    if not has_purpose:
        return Decision(field, View.NONE, RULE_NO_PURPOSE, "every read must state its purpose")
    if requested is View.NONE:
        return Decision(field, View.NONE, RULE_NO_PURPOSE, "no view was requested")
    if role is Role.PLATFORM_ADMIN:
        return Decision(field, requested, RULE_ADMIN, "platform administrators may use any view")
    if role not in MASKED_ROLES:
        return Decision(
            field,
            View.NONE,
            RULE_NO_ACCESS,
            f"{role.value} has no access until consent and purpose rules are in place",
        )
    if requested in (View.MASKED, View.WAYBILL):
        return Decision(field, requested, RULE_MASKED, "service roles may see masked values")
    return Decision(
        field, View.NONE, RULE_PLAIN_DENIED, "only platform_admin may read plain values for now"
    )


def decide_lookup(actor: ActorRef, field: str, purpose: str) -> Decision:
    """Finding a customer by phone, email or ID reveals that they are one: fewer roles may."""
    if not purpose.strip():
        return Decision(field, View.NONE, RULE_NO_PURPOSE, "every lookup must state its purpose")
    if actor.role in LOOKUP_ROLES:
        return Decision(
            field,
            View.MASKED,
            RULE_ADMIN if actor.role is Role.PLATFORM_ADMIN else RULE_MASKED,
            "this role may look customers up",
        )
    return Decision(
        field, View.NONE, RULE_NO_ACCESS, f"{actor.role.value} may not look customers up"
    )


def decide_write(actor: ActorRef, action: str) -> Decision:
    """Decide a change (register, update, erase) of a subject's data."""
    if actor.role is Role.PLATFORM_ADMIN:
        return Decision("*", View.PLAIN, RULE_WRITE_ADMIN, f"platform_admin may {action}")
    return Decision("*", View.NONE, RULE_WRITE_ADMIN, f"only platform_admin may {action} for now")
