"""Which agreement lets what out, and the gate's field-by-field refusal of the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from privguard.catalog.loader import load_catalog
from privguard.policy.loader import load_policy
from privguard.policy.rules import (
    RULE_CROSS_BORDER,
    RULE_OUTSIDE_AGREEMENT,
    Action,
    Facts,
    Policy,
    Relationship,
    Role,
    View,
)
from privguard.sharing.rules import Terms, fields_covered, is_cross_border, outside, return_due

NOW = datetime(2026, 11, 29, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(None, load_catalog())
DAY = timedelta(days=1)


def terms(purposes: set[str], fields: set[str], start: int = -10, end: int = 10,
          terminated: int | None = None) -> Terms:
    return Terms(frozenset(purposes), frozenset(fields), NOW + start * DAY, NOW + end * DAY,
                 None if terminated is None else NOW + terminated * DAY)


def test_only_agreements_in_force_for_the_purpose_cover_fields() -> None:
    a = terms({"third_party_sharing"}, {"name"})
    b = terms({"third_party_sharing", "analytics"}, {"mobile_phone"})
    assert fields_covered([a, b], "third_party_sharing", NOW) == {"name", "mobile_phone"}
    assert fields_covered([a, b], "analytics", NOW) == {"mobile_phone"}
    assert fields_covered([a, b], "marketing_sms", NOW) is None
    assert fields_covered([terms({"analytics"}, {"name"}, start=1)], "analytics", NOW) is None
    assert fields_covered([terms({"analytics"}, {"name"}, end=0)], "analytics", NOW) is None
    ended = terms({"analytics"}, {"name"}, terminated=-1)
    assert fields_covered([ended], "analytics", NOW) is None
    assert ended.ended_by(NOW) == NOW - DAY and a.ended_by(NOW) is None
    assert return_due(NOW) == NOW + 30 * DAY


def test_borders_and_outside_fields() -> None:
    assert is_cross_border("US", "CN") and not is_cross_border("cn", "CN")
    assert outside(["name", "email", "bank_card"], frozenset({"name"})) == ["email", "bank_card"]


def test_a_rule_resting_on_an_agreement_lets_out_only_its_fields(policy: Policy) -> None:
    base = frozenset({Relationship.SHARING_AGREEMENT})

    def decide(field: str, facts: Facts):  # type: ignore[no-untyped-def]
        return policy.decide(Role.PARTNER, Action.READ, "third_party_sharing", field,
                             View.PLAIN, facts)

    open_ = Facts(base, frozenset({"third_party_sharing"}))
    assert decide("name", open_).view is View.MASKED  # no field list: the rule alone decides
    narrow = Facts(base, frozenset({"third_party_sharing"}), agreement_fields=frozenset({"name"}))
    assert decide("name", narrow).allowed
    assert decide("mobile_phone", narrow).rule == RULE_OUTSIDE_AGREEMENT
    abroad = Facts(base, frozenset({"third_party_sharing"}), agreement_fields=frozenset({"name"}),
                   cross_border_unconsented=True)
    assert decide("name", abroad).rule == RULE_CROSS_BORDER
    # Rules that do not rest on an agreement are untouched by its facts.
    d = policy.decide(Role.CONSUMER, Action.READ, "account_management", "email", View.PLAIN,
                      Facts(frozenset({Relationship.SELF}), agreement_fields=frozenset()))
    assert d.allowed
