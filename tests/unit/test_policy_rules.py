"""The interim foundation policy: default deny, a rule id on every decision (no database)."""

from __future__ import annotations

import uuid

import pytest

from privguard.policy.rules import ActorRef, Role, View, decide_lookup, decide_read, decide_write


def actor(role: Role) -> ActorRef:
    return ActorRef(actor_id=uuid.uuid4(), role=role)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("view", [View.PLAIN, View.MASKED, View.WAYBILL])
def test_every_decision_names_its_rule_and_plain_is_admin_only(role: Role, view: View) -> None:
    d = decide_read(actor(role), "mobile_phone", view, "customer_support")
    assert d.rule.startswith("foundation.")
    assert d.reason
    if view is View.PLAIN:
        assert d.allowed == (role is Role.PLATFORM_ADMIN)


@pytest.mark.parametrize("role", [Role.MARKETING, Role.ANALYST, Role.PARTNER, Role.CONSUMER])
def test_roles_needing_consent_or_agreements_see_nothing_yet(role: Role) -> None:
    d = decide_read(actor(role), "name", View.MASKED, "marketing")
    assert not d.allowed and d.rule == "foundation.role-not-yet-allowed"


@pytest.mark.parametrize("role", [Role.CUSTOMER_SERVICE, Role.COURIER, Role.MERCHANT_STAFF])
def test_service_roles_get_masked_views(role: Role) -> None:
    assert decide_read(actor(role), "name", View.WAYBILL, "delivery").view is View.WAYBILL


def test_a_purpose_is_required() -> None:
    d = decide_read(actor(Role.PLATFORM_ADMIN), "name", View.PLAIN, "  ")
    assert not d.allowed and d.rule == "foundation.purpose-required"
    assert not decide_lookup(actor(Role.PLATFORM_ADMIN), "email", "").allowed


def test_lookup_and_writes_are_narrow() -> None:
    assert decide_lookup(actor(Role.CUSTOMER_SERVICE), "email", "support").allowed
    assert not decide_lookup(actor(Role.COURIER), "email", "delivery").allowed
    assert decide_write(actor(Role.PLATFORM_ADMIN), "erase").allowed
    assert not decide_write(actor(Role.PRIVACY_OFFICER), "erase").allowed
