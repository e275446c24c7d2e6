"""The shipped access policy and the pure decision rules (no database).

These tests pin what each role can see of a customer, so a policy edit that widens access fails
here before it reaches a merchant's screen (design.md invariants 2-4; GB/T 35273-2020 5.2
minimum necessary, 7.1 access control, 7.2 display restriction). Time is always passed in
(invariant 7), so the relationship windows are checked to the microsecond.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from privguard.catalog.loader import load_catalog
from privguard.catalog.model import Catalog
from privguard.policy.loader import load_policy, parse_policy
from privguard.policy.rules import (
    NO_FACTS,
    RULE_DEFAULT_DENY,
    RULE_UNKNOWN_PURPOSE,
    VIEW_RANK,
    WHOLE_ACTIONS,
    Action,
    ActorRef,
    Decision,
    Facts,
    OrderFacts,
    Policy,
    Relationship,
    Role,
    View,
    Windows,
    courier_window_open,
    merchant_window_open,
    narrower,
    relationships,
)

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
R = Relationship
SENSITIVE = ("resident_id", "passport_number", "bank_card", "payment_account", "precise_location")
# The only purposes for which sensitive PI may be shown plain (PIPL Art. 28; loader.py).
PLAIN_SENSITIVE_PURPOSES = {"payment_processing", "legal_obligation"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def policy(catalog: Catalog) -> Policy:
    return load_policy(None, catalog)


def facts(*rels: Relationship, consents: tuple[str, ...] = ()) -> Facts:
    return Facts(frozenset(rels), frozenset(consents))


def read(
    policy: Policy,
    role: Role,
    purpose: str,
    field: str,
    given: Facts = NO_FACTS,
    requested: View = View.PLAIN,
) -> Decision:
    return policy.decide(role, Action.READ, purpose, field, requested, given)


def all_facts(purpose: str) -> list[Facts]:
    """Every combination of relationships, with and without consent to ``purpose``."""
    rels = list(Relationship)
    subsets = itertools.chain.from_iterable(
        itertools.combinations(rels, n) for n in range(len(rels) + 1)
    )
    out = []
    for subset in subsets:
        out.append(Facts(frozenset(subset)))
        out.append(Facts(frozenset(subset), frozenset({purpose})))
    return out


# ------------------------------------------------------------------ the shipped policy, by role
def test_shipped_policy_declares_every_role_and_the_windows_the_docs_promise(
    policy: Policy,
) -> None:
    assert set(policy.roles) == set(Role)
    assert policy.windows == Windows(
        after_sales=timedelta(days=15), courier_grace=timedelta(hours=24)
    )


class TestConsumer:
    def test_sees_own_contact_plain_and_own_sensitive_data_masked(self, policy: Policy) -> None:
        own = facts(R.SELF)
        name = read(policy, Role.CONSUMER, "account_management", "name", own)
        assert (name.view, name.rule) == (View.PLAIN, "self.own-data")
        ident = read(policy, Role.CONSUMER, "account_management", "resident_id", own)
        assert (ident.view, ident.rule) == (View.MASKED, "self.own-sensitive-masked")

    def test_gets_a_plain_copy_of_everything_for_the_legal_purpose(
        self, policy: Policy, catalog: Catalog
    ) -> None:
        for name in catalog.names():
            d = read(policy, Role.CONSUMER, "legal_obligation", name, facts(R.SELF))
            assert (d.view, d.rule) == (View.PLAIN, "self.copy-of-own-data"), name

    def test_sees_nothing_of_another_customer(self, policy: Policy, catalog: Catalog) -> None:
        for name in catalog.names():
            for purpose in policy.purposes:
                d = read(policy, Role.CONSUMER, purpose, name, facts(R.OPEN_TICKET))
                assert not d.allowed and d.rule == RULE_DEFAULT_DENY, (purpose, name)

    def test_may_correct_own_contact_but_not_own_identity_number(self, policy: Policy) -> None:
        own = facts(R.SELF)
        phone = policy.decide(
            Role.CONSUMER, Action.UPDATE, "account_management", "mobile_phone", View.PLAIN, own
        )
        assert phone.allowed and phone.rule == "self.correct-own-data"
        ident = policy.decide(
            Role.CONSUMER, Action.UPDATE, "account_management", "resident_id", View.PLAIN, own
        )
        assert not ident.allowed


class TestMerchantStaff:
    @pytest.mark.parametrize("field", ["name", "mobile_phone", "shipping_addresses"])
    @pytest.mark.parametrize("purpose", ["order_fulfilment", "delivery", "after_sales"])
    def test_own_order_contact_is_masked_even_when_plain_is_asked(
        self, policy: Policy, purpose: str, field: str
    ) -> None:
        d = read(policy, Role.MERCHANT_STAFF, purpose, field, facts(R.MERCHANT_ORDER))
        if (purpose, field) == ("delivery", "shipping_addresses"):
            # A merchant that ships the order itself needs the whole address, for delivery only.
            assert (d.view, d.rule) == (View.PLAIN, "merchant.ship-to")
        else:
            assert (d.view, d.rule) == (View.MASKED, "merchant.order-contact")

    @pytest.mark.parametrize("field", ["name", "mobile_phone", "shipping_addresses"])
    def test_without_an_open_order_nothing(self, policy: Policy, field: str) -> None:
        for given in (NO_FACTS, facts(R.OPEN_TICKET, R.ASSIGNED_SHIPMENT, R.OWN_MERCHANT)):
            d = read(policy, Role.MERCHANT_STAFF, "after_sales", field, given)
            assert (d.view, d.rule) == (View.NONE, RULE_DEFAULT_DENY)

    @pytest.mark.parametrize("field", ["email", "landline", "resident_id", "purchase_history"])
    def test_fields_beyond_the_order_contact_are_never_shown(
        self, policy: Policy, field: str
    ) -> None:
        d = read(policy, Role.MERCHANT_STAFF, "after_sales", field, facts(R.MERCHANT_ORDER))
        assert not d.allowed

    def test_finds_own_buyer_by_phone_only_during_after_sales(self, policy: Policy) -> None:
        def lookup(given: Facts) -> Decision:
            return policy.decide(
                Role.MERCHANT_STAFF,
                Action.LOOKUP,
                "after_sales",
                "mobile_phone",
                View.MASKED,
                given,
            )

        assert lookup(facts(R.MERCHANT_ORDER)).rule == "merchant.find-own-customer"
        assert not lookup(NO_FACTS).allowed

    def test_lists_only_its_own_customers(self, policy: Policy) -> None:
        def listing(given: Facts) -> Decision:
            return policy.decide(
                Role.MERCHANT_STAFF, Action.LIST, "after_sales", "*", View.MASKED, given
            )

        assert listing(facts(R.OWN_MERCHANT)).rule == "merchant.own-customer-list"
        assert not listing(facts(R.MERCHANT_ORDER)).allowed

    def test_no_marketing_with_order_contacts(self, policy: Policy) -> None:
        given = facts(R.MERCHANT_ORDER, consents=("marketing_sms",))
        assert not read(policy, Role.MERCHANT_STAFF, "marketing_sms", "mobile_phone", given).allowed


class TestCourier:
    def test_phone_is_waybill_masked_with_an_assigned_shipment(self, policy: Policy) -> None:
        d = read(policy, Role.COURIER, "delivery", "mobile_phone", facts(R.ASSIGNED_SHIPMENT))
        assert (d.view, d.rule) == (View.WAYBILL, "courier.delivery-phone")

    def test_phone_is_none_without_an_assigned_shipment(self, policy: Policy) -> None:
        d = read(policy, Role.COURIER, "delivery", "mobile_phone", facts(R.MERCHANT_ORDER))
        assert (d.view, d.rule) == (View.NONE, RULE_DEFAULT_DENY)

    def test_name_masked_address_plain_and_nothing_else(
        self, policy: Policy, catalog: Catalog
    ) -> None:
        given = facts(R.ASSIGNED_SHIPMENT)
        views = {n: read(policy, Role.COURIER, "delivery", n, given).view for n in catalog.names()}
        assert {n: v for n, v in views.items() if v is not View.NONE} == {
            "name": View.MASKED,
            "mobile_phone": View.WAYBILL,
            "shipping_addresses": View.PLAIN,
        }

    def test_only_for_delivery(self, policy: Policy) -> None:
        given = facts(R.ASSIGNED_SHIPMENT)
        assert not read(policy, Role.COURIER, "after_sales", "shipping_addresses", given).allowed


class TestCustomerService:
    @pytest.mark.parametrize("field", ["name", "mobile_phone", "email", "shipping_addresses"])
    def test_plain_contact_only_while_a_ticket_is_open(self, policy: Policy, field: str) -> None:
        with_ticket = read(
            policy, Role.CUSTOMER_SERVICE, "customer_support", field, facts(R.OPEN_TICKET)
        )
        assert (with_ticket.view, with_ticket.rule) == (View.PLAIN, "support.open-ticket-contact")
        without = read(policy, Role.CUSTOMER_SERVICE, "customer_support", field)
        assert (without.view, without.rule) == (View.MASKED, "support.masked-contact")

    def test_identity_numbers_stay_masked_even_with_a_ticket(self, policy: Policy) -> None:
        for field in ("resident_id", "bank_card"):
            d = read(policy, Role.CUSTOMER_SERVICE, "customer_support", field, facts(R.OPEN_TICKET))
            assert (d.view, d.rule) == (View.MASKED, "support.identity-check")

    def test_no_location_no_marketing(self, policy: Policy) -> None:
        given = facts(R.OPEN_TICKET, consents=("marketing_sms",))
        assert not read(
            policy, Role.CUSTOMER_SERVICE, "customer_support", "precise_location", given
        ).allowed
        assert not read(policy, Role.CUSTOMER_SERVICE, "marketing_sms", "name", given).allowed


class TestConsentGated:
    @pytest.mark.parametrize(
        ("role", "purpose", "field", "rule"),
        [
            (Role.MARKETING, "marketing_sms", "mobile_phone", "marketing.sms"),
            (Role.MARKETING, "marketing_email", "email", "marketing.email"),
            (
                Role.ANALYST,
                "personalised_recommendation",
                "browsing_history",
                "personalise.profile",
            ),
            (Role.ANALYST, "analytics", "purchase_history", "analytics.consented"),
        ],
    )
    def test_denied_without_consent_allowed_with_it(
        self, policy: Policy, role: Role, purpose: str, field: str, rule: str
    ) -> None:
        refused = read(policy, role, purpose, field)
        assert (refused.rule, refused.reason) == (
            "consent.missing", f"consent missing for purpose {purpose}"
        )
        d = read(policy, role, purpose, field, Facts(consents=frozenset({purpose})))
        assert (d.view, d.rule) == (View.MASKED, rule)

    def test_consent_to_another_purpose_does_not_count(self, policy: Policy) -> None:
        other = Facts(consents=frozenset({"marketing_email"}))
        assert not read(policy, Role.MARKETING, "marketing_sms", "mobile_phone", other).allowed

    def test_sensitive_data_is_refused_to_marketing_even_with_consent(self, policy: Policy) -> None:
        for field in SENSITIVE:
            d = read(
                policy,
                Role.MARKETING,
                "marketing_sms",
                field,
                Facts(consents=frozenset({"marketing_sms"})),
            )
            assert (d.view, d.rule) == (View.NONE, "marketing.no-sensitive")

    def test_sharing_needs_both_the_agreement_and_consent(self, policy: Policy) -> None:
        purpose = "third_party_sharing"
        both = facts(R.SHARING_AGREEMENT, consents=(purpose,))
        assert read(policy, Role.PARTNER, purpose, "mobile_phone", both).rule == "sharing.partner"
        for given in (facts(R.SHARING_AGREEMENT), Facts(consents=frozenset({purpose}))):
            assert not read(policy, Role.PARTNER, purpose, "mobile_phone", given).allowed

    def test_no_purpose_beyond_the_transaction_is_allowed_without_consent(
        self, policy: Policy, catalog: Catalog
    ) -> None:
        """PIPL Art. 13-14 (design.md invariant 4), over every role, action, relationship."""
        optional = [p for p, spec in policy.purposes.items() if not spec.necessary]
        assert optional, "the shipped policy declares consent-only purposes"
        for role, action, purpose in itertools.product(Role, Action, optional):
            names = ["*"] if action in WHOLE_ACTIONS else catalog.names()
            for name, given in itertools.product(names, all_facts("")):
                d = policy.decide(role, action, purpose, name, View.PLAIN, given)
                assert not d.allowed, (role, action, purpose, name, given, d.rule)


class TestPlatformRoles:
    def test_payment(self, policy: Policy) -> None:
        card = read(
            policy, Role.PARTNER, "payment_processing", "bank_card", facts(R.SHARING_AGREEMENT)
        )
        assert (card.view, card.rule) == (View.PLAIN, "payment.processor")
        assert not read(policy, Role.PARTNER, "payment_processing", "bank_card").allowed
        admin = read(policy, Role.PLATFORM_ADMIN, "payment_processing", "bank_card")
        assert (admin.view, admin.rule) == (View.MASKED, "payment.reconciliation")

    def test_account_maintenance_masks_sensitive_data(self, policy: Policy) -> None:
        assert read(policy, Role.PLATFORM_ADMIN, "account_management", "email").view is View.PLAIN
        for field in SENSITIVE:
            d = read(policy, Role.PLATFORM_ADMIN, "account_management", field)
            assert (d.view, d.rule) == (View.MASKED, "account.admin-sensitive")

    def test_legal_duties(self, policy: Policy, catalog: Catalog) -> None:
        for name in catalog.names():
            assert read(policy, Role.PRIVACY_OFFICER, "legal_obligation", name).view is View.PLAIN
            assert read(policy, Role.AUDITOR, "legal_obligation", name).view is View.MASKED
        assert not read(policy, Role.PRIVACY_OFFICER, "customer_support", "name").allowed
        assert not read(policy, Role.AUDITOR, "fraud_detection", "name").allowed

    def test_only_operators_and_the_officer_erase_the_whole_record(self, policy: Policy) -> None:
        verified = Facts(frozenset({Relationship.VERIFIED_REQUEST}))
        for role in Role:
            d = policy.decide(role, Action.ERASE, "account_management", "*", View.PLAIN, NO_FACTS)
            assert d.allowed == (role is Role.PLATFORM_ADMIN), role
            # The officer erases, and corrects, only while a verified request asks for it.
            d = policy.decide(role, Action.ERASE, "account_management", "*", View.PLAIN, verified)
            assert d.allowed == (role in {Role.PLATFORM_ADMIN, Role.PRIVACY_OFFICER}), role
        for facts, allowed in ((NO_FACTS, False), (verified, True)):
            d = policy.decide(
                Role.PRIVACY_OFFICER, Action.UPDATE, "account_management", "resident_id",
                View.PLAIN, facts,
            )
            assert (d.allowed, d.rule) == (allowed, "rights.correct-on-request" if allowed
                                           else "default.deny")
        # erase is decided once for `*`, never per field
        d = policy.decide(
            Role.PLATFORM_ADMIN, Action.ERASE, "account_management", "name", View.PLAIN, NO_FACTS
        )
        assert not d.allowed


# ------------------------------------------------------------------ invariants over everything
def test_sensitive_fields_are_never_plain_outside_payment_and_legal_duties(
    policy: Policy,
) -> None:
    """PIPL Art. 28: every role x purpose x sensitive field x every combination of facts."""
    checked = 0
    for role, purpose, field in itertools.product(Role, policy.purposes, SENSITIVE):
        if purpose in PLAIN_SENSITIVE_PURPOSES:
            continue
        for given in all_facts(purpose):
            d = read(policy, role, purpose, field, given)
            assert d.view is not View.PLAIN, (role, purpose, field, given, d.rule)
            checked += 1
    assert checked == len(Role) * (len(policy.purposes) - 2) * len(SENSITIVE) * 2 ** (
        len(Relationship) + 1
    )


def test_sensitive_list_matches_the_catalog(catalog: Catalog) -> None:
    assert {f.name for f in catalog if f.sensitive} == set(SENSITIVE)


def test_every_decision_names_a_rule_and_a_reason(policy: Policy, catalog: Catalog) -> None:
    """Invariant 3: a decision can always be explained, allowed or not."""
    for role, purpose, name in itertools.product(Role, policy.purposes, catalog.names()):
        for given in (NO_FACTS, facts(*Relationship, consents=(purpose,))):
            d = read(policy, role, purpose, name, given)
            assert d.rule and d.reason and d.field == name


def test_unknown_purpose_is_denied_with_its_own_rule(policy: Policy) -> None:
    d = read(policy, Role.PLATFORM_ADMIN, "curiosity", "name", facts(*Relationship))
    assert (d.view, d.rule) == (View.NONE, RULE_UNKNOWN_PURPOSE)


# ------------------------------------------------------------------ views
def test_view_order_is_plain_masked_waybill_none() -> None:
    assert sorted(View, key=VIEW_RANK.__getitem__) == [
        View.NONE,
        View.WAYBILL,
        View.MASKED,
        View.PLAIN,
    ]
    for a, b in itertools.product(View, View):
        assert narrower(a, b) == narrower(b, a)
        assert VIEW_RANK[narrower(a, b)] == min(VIEW_RANK[a], VIEW_RANK[b])


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        (View.PLAIN, View.PLAIN),
        (View.MASKED, View.MASKED),
        (View.WAYBILL, View.WAYBILL),
        (View.NONE, View.NONE),
    ],
)
def test_a_narrower_request_gets_the_narrower_view(
    policy: Policy, requested: View, granted: View
) -> None:
    d = read(
        policy,
        Role.CUSTOMER_SERVICE,
        "customer_support",
        "mobile_phone",
        facts(R.OPEN_TICKET),
        requested,
    )
    assert (d.view, d.rule) == (granted, "support.open-ticket-contact")


def test_a_wider_request_gets_no_more_than_the_rule_grants(policy: Policy) -> None:
    d = read(
        policy, Role.COURIER, "delivery", "mobile_phone", facts(R.ASSIGNED_SHIPMENT), View.PLAIN
    )
    assert d.view is View.WAYBILL


def test_each_field_is_decided_on_its_own(policy: Policy) -> None:
    """One request for several fields gets one decision per field (the gate reveals only
    the allowed ones and reports the rest as denied)."""
    given = facts(R.MERCHANT_ORDER)
    views = {
        f: read(policy, Role.MERCHANT_STAFF, "after_sales", f, given).view
        for f in ("name", "email", "resident_id")
    }
    assert views == {"name": View.MASKED, "email": View.NONE, "resident_id": View.NONE}


# ------------------------------------------------------------------ first match decides
HEADER = """\
version: 1
roles:
  consumer: {scope: self}
  merchant_staff: {scope: relationship}
  customer_service: {scope: platform}
  courier: {scope: relationship}
  marketing: {scope: platform}
  analyst: {scope: platform}
  platform_admin: {scope: platform}
  privacy_officer: {scope: platform}
  auditor: {scope: platform}
  partner: {scope: relationship}
purposes:
  customer_support: {fides: essential.service.operations.support, necessary: true}
"""
TICKET_FIRST = """\
rules:
  - id: t.ticket-plain
    roles: [customer_service]
    purposes: [customer_support]
    fields: [name]
    view: plain
    when: {relationship: open_ticket}
    reason: "plain while a ticket is open"
  - id: t.always-masked
    roles: [customer_service]
    purposes: [customer_support]
    fields: [name]
    view: masked
    reason: "masked otherwise"
"""


def _parse(text: str, catalog: Catalog) -> Policy:
    policy, problems = parse_policy(text, catalog, source="test")
    assert policy is not None, problems
    return policy


def test_the_first_rule_whose_conditions_hold_decides(catalog: Catalog) -> None:
    policy = _parse(HEADER + TICKET_FIRST, catalog)
    ticket = read(policy, Role.CUSTOMER_SERVICE, "customer_support", "name", facts(R.OPEN_TICKET))
    assert (ticket.view, ticket.rule) == (View.PLAIN, "t.ticket-plain")
    plain = read(policy, Role.CUSTOMER_SERVICE, "customer_support", "name")
    assert (plain.view, plain.rule) == (View.MASKED, "t.always-masked")


def test_swapping_the_rules_changes_the_decision(catalog: Catalog) -> None:
    first, second = TICKET_FIRST.split("  - id: t.always-masked\n")
    swapped = "rules:\n  - id: t.always-masked\n" + second + first.removeprefix("rules:\n")
    policy = _parse(HEADER + swapped, catalog)
    assert [r.id for r in policy.rules] == ["t.always-masked", "t.ticket-plain"]
    d = read(policy, Role.CUSTOMER_SERVICE, "customer_support", "name", facts(R.OPEN_TICKET))
    assert (d.view, d.rule) == (View.MASKED, "t.always-masked")


def test_whole_record_actions_are_indexed_under_star_only(policy: Policy) -> None:
    for (_, action, _, field_name), _rules in policy.index.items():
        assert (field_name == "*") == (action in WHOLE_ACTIONS)


# ------------------------------------------------------------------ conceal, could_allow
def test_relationship_and_self_scoped_roles_are_concealed(policy: Policy) -> None:
    concealed = {r for r in Role if policy.conceals(r)}
    assert concealed == {Role.CONSUMER, Role.MERCHANT_STAFF, Role.COURIER, Role.PARTNER}


def test_could_allow_says_whether_any_facts_could_open_the_request(policy: Policy) -> None:
    assert policy.could_allow(Role.MERCHANT_STAFF, Action.READ, "after_sales", ["mobile_phone"])
    assert not policy.could_allow(Role.MERCHANT_STAFF, Action.READ, "after_sales", ["email"])
    # a rule that only ever grants `none` cannot open anything
    assert not policy.could_allow(Role.MARKETING, Action.READ, "marketing_sms", ["resident_id"])
    assert policy.could_allow(
        Role.MARKETING, Action.READ, "marketing_sms", ["resident_id", "mobile_phone"]
    )


def test_needed_relationships_are_only_what_the_candidate_rules_ask(policy: Policy) -> None:
    """The service fetches only these facts, so a platform role's read costs no query."""
    assert policy.needed_relationships(
        Role.MERCHANT_STAFF, Action.READ, "after_sales", ["name", "email"]
    ) == (frozenset({R.MERCHANT_ORDER}), False)
    assert policy.needed_relationships(
        Role.MARKETING, Action.READ, "marketing_sms", ["mobile_phone"]
    ) == (frozenset(), True)
    assert policy.needed_relationships(
        Role.PARTNER, Action.READ, "third_party_sharing", ["name"]
    ) == (frozenset({R.SHARING_AGREEMENT}), True)
    assert policy.needed_relationships(
        Role.PLATFORM_ADMIN, Action.READ, "account_management", ["name", "resident_id"]
    ) == (frozenset(), False)


# ------------------------------------------------------------------ relationship windows
WINDOWS = Windows(after_sales=timedelta(days=15), courier_grace=timedelta(hours=24))
MERCHANT = uuid.uuid4()
COURIER = uuid.uuid4()
DELIVERED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def order(
    status: str = "delivered",
    delivered_at: datetime | None = DELIVERED,
    merchant: uuid.UUID = MERCHANT,
    courier: uuid.UUID | None = COURIER,
) -> OrderFacts:
    return OrderFacts(merchant, courier, status, DELIVERED - timedelta(days=3), delivered_at)


def test_merchant_window_closes_one_microsecond_after_after_sales() -> None:
    end = DELIVERED + timedelta(days=15)
    assert merchant_window_open(order(), end, WINDOWS)
    assert not merchant_window_open(order(), end + TICK, WINDOWS)
    assert merchant_window_open(order("completed"), end, WINDOWS)


def test_courier_window_closes_one_microsecond_after_the_grace_period() -> None:
    end = DELIVERED + timedelta(hours=24)
    assert courier_window_open(order(), end, WINDOWS)
    assert not courier_window_open(order(), end + TICK, WINDOWS)


@pytest.mark.parametrize("window_open", [merchant_window_open, courier_window_open])
def test_undelivered_orders_stay_open_until_cancelled_or_the_undelivered_limit(
    window_open: Callable[[OrderFacts, datetime, Windows], bool],
) -> None:
    placed = DELIVERED - timedelta(days=3)  # order()'s placement time
    limit = placed + WINDOWS.undelivered  # 30 days by default
    later = DELIVERED + timedelta(days=20)  # past any window had it been delivered
    for status in ("placed", "shipped"):
        assert window_open(order(status, None), later, WINDOWS), status
        assert window_open(order(status, None), limit, WINDOWS), status
        # A parcel never marked delivered (lost, or a stale feed) does not keep access forever.
        assert not window_open(order(status, None), limit + TICK, WINDOWS), status
    assert not window_open(order("cancelled", None), DELIVERED, WINDOWS)


def test_windows_come_from_the_policy_not_a_constant() -> None:
    short = Windows(after_sales=timedelta(days=1), courier_grace=timedelta(hours=1))
    assert not merchant_window_open(order(), DELIVERED + timedelta(days=2), short)
    assert merchant_window_open(order(), DELIVERED + timedelta(days=2), WINDOWS)


# ------------------------------------------------------------------ relationships()
SUBJECT = uuid.uuid4()


def rels(
    actor: ActorRef,
    orders: list[OrderFacts],
    *,
    ticket: bool = False,
    now: datetime = DELIVERED,
    agreements: frozenset[uuid.UUID] = frozenset(),
    subject: uuid.UUID | None = SUBJECT,
) -> frozenset[Relationship]:
    return relationships(actor, subject, orders, ticket, now, WINDOWS, agreements=agreements)


def test_self_only_for_the_subject_themselves() -> None:
    me = ActorRef(uuid.uuid4(), Role.CONSUMER, subject_id=SUBJECT)
    assert rels(me, []) == {R.SELF}
    other = ActorRef(uuid.uuid4(), Role.CONSUMER, subject_id=uuid.uuid4())
    assert rels(other, []) == frozenset()
    assert rels(me, [], subject=None) == frozenset()


def test_merchant_order_needs_the_actors_merchant_and_an_open_window() -> None:
    staff = ActorRef(uuid.uuid4(), Role.MERCHANT_STAFF, organisation_id=MERCHANT)
    assert rels(staff, [order()]) == {R.MERCHANT_ORDER}
    assert rels(staff, [order(merchant=uuid.uuid4())]) == frozenset()
    late = DELIVERED + timedelta(days=16)
    assert rels(staff, [order()], now=late) == frozenset()
    # one old closed order does not hide a newer open one
    assert rels(staff, [order(), order("shipped", None)], now=late) == {R.MERCHANT_ORDER}
    assert rels(ActorRef(uuid.uuid4(), Role.MERCHANT_STAFF), [order()]) == frozenset()


def test_assigned_shipment_needs_this_courier_and_an_open_window() -> None:
    courier = ActorRef(COURIER, Role.COURIER, organisation_id=uuid.uuid4())
    assert rels(courier, [order()]) == {R.ASSIGNED_SHIPMENT}
    assert rels(courier, [order(courier=uuid.uuid4())]) == frozenset()
    assert rels(courier, [order(courier=None)]) == frozenset()
    assert rels(courier, [order()], now=DELIVERED + timedelta(hours=25)) == frozenset()


def test_open_ticket_and_sharing_agreement() -> None:
    agent = ActorRef(uuid.uuid4(), Role.CUSTOMER_SERVICE)
    assert rels(agent, [], ticket=True) == {R.OPEN_TICKET}
    assert rels(agent, [], ticket=False) == frozenset()
    org = uuid.uuid4()
    partner = ActorRef(uuid.uuid4(), Role.PARTNER, organisation_id=org)
    assert rels(partner, [], agreements=frozenset({org})) == {R.SHARING_AGREEMENT}
    assert rels(partner, [], agreements=frozenset({uuid.uuid4()})) == frozenset()
