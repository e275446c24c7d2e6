"""Access decisions: pure functions over plain data (design.md invariant 3: default deny, and
every decision names the rule that made it).

The policy itself is data (policy.yaml, loaded by policy/loader.py into a :class:`Policy`); this
module holds the shapes and the one decision function. The facts a rule's conditions read
(relationships, consent) are gathered by policy/service.py and passed in, with the time, so
every decision here is reproducible in a unit test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property


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


# How much a view reveals: a rule grants at most its view; a narrower request gets what it asked.
VIEW_RANK = {View.NONE: 0, View.WAYBILL: 1, View.MASKED: 2, View.PLAIN: 3}


def narrower(a: View, b: View) -> View:
    return a if VIEW_RANK[a] <= VIEW_RANK[b] else b


class Action(StrEnum):
    READ = "read"
    LOOKUP = "lookup"
    LIST = "list"
    REGISTER = "register"
    UPDATE = "update"
    ERASE = "erase"
    # Read once to generalise into a de-identified dataset (sharing/datasets.py); the values
    # never leave as read, so rules for it are separate from those for reading.
    DEIDENTIFY = "deidentify"


# Actions decided once for the whole request, not per field.
WHOLE_ACTIONS = frozenset({Action.LIST, Action.ERASE})


class Relationship(StrEnum):
    SELF = "self"  # the consumer's own record
    MERCHANT_ORDER = "merchant_order"  # an order with the actor's merchant, window open
    ASSIGNED_SHIPMENT = "assigned_shipment"  # a parcel assigned to this courier, window open
    OPEN_TICKET = "open_ticket"  # the consumer has a support ticket open
    OWN_MERCHANT = "own_merchant"  # the merchant whose customer list is asked for is the actor's
    SHARING_AGREEMENT = "sharing_agreement"  # an agreement with the recipient (sharing issue)
    # The subject has a request in progress (identity verified) that this action carries out:
    # a correction for update, a deletion or account cancellation for erase.
    VERIFIED_REQUEST = "verified_request"


class Scope(StrEnum):
    SELF = "self"
    RELATIONSHIP = "relationship"
    PLATFORM = "platform"


@dataclass(frozen=True)
class ActorRef:
    """Who is asking: enough to decide and to log, nothing more."""

    actor_id: uuid.UUID | None
    role: Role
    organisation_id: uuid.UUID | None = None
    display_name: str = ""
    subject_id: uuid.UUID | None = None  # a consumer's own record


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

    @cached_property
    def log_json(self) -> str:
        """:attr:`log_entry` as canonical JSON, built once per shared decision."""
        from privguard.audit.entry import decision_json

        return decision_json(self.log_entry)


RULE_DEFAULT_DENY = "default.deny"
RULE_UNKNOWN_PURPOSE = "default.unknown-purpose"
RULE_CONSENT_MISSING = "consent.missing"
RULE_OUTSIDE_AGREEMENT = "sharing.outside-agreement"
RULE_CROSS_BORDER = "sharing.cross-border-consent"


@dataclass(frozen=True)
class Conditions:
    relationship: Relationship | None = None
    consent: bool = False

    @property
    def unconditional(self) -> bool:
        return self.relationship is None and not self.consent

    def holds(self, facts: Facts, purpose: str) -> bool:
        if self.relationship is not None and self.relationship not in facts.relationships:
            return False
        return not self.consent or purpose in facts.consents

    def describe(self) -> str:
        parts = []
        if self.relationship is not None:
            parts.append(f"relationship {self.relationship.value}")
        if self.consent:
            parts.append("consent to the purpose")
        return " and ".join(parts) or "always"


@dataclass(frozen=True)
class Facts:
    """What is true between this actor and this subject now (gathered by policy/service.py)."""

    relationships: frozenset[Relationship] = frozenset()
    consents: frozenset[str] = frozenset()  # purposes the consumer consented to
    # With a sharing agreement: the fields it lets leave (None: not restricted by this fact),
    # and whether the transfer goes abroad without the separate consent PIPL Art. 39 needs.
    agreement_fields: frozenset[str] | None = None
    cross_border_unconsented: bool = False
    # A sanction on the actor's organisation after upheld complaints (cases/): "masked_only"
    # narrows plain views to masked, "suspended" refuses every field.
    sanction: str | None = None


NO_FACTS = Facts()


@dataclass(frozen=True)
class Rule:
    id: str
    roles: frozenset[Role]
    actions: frozenset[Action]
    purposes: frozenset[str]
    fields: frozenset[str]  # resolved from fields and categories; empty for whole actions
    view: View
    when: Conditions
    reason: str
    position: int  # order in the file: the first rule whose conditions hold decides

    # Decisions are frozen and few, so each is built once per rule and shared by every read.
    _decisions: dict[tuple[str, View], Decision] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def decision(self, field: str, requested: View) -> Decision:
        key = (field, requested)
        found = self._decisions.get(key)
        if found is None:
            found = Decision(field, narrower(self.view, requested), self.id, self.reason)
            self._decisions[key] = found
        return found


@dataclass(frozen=True)
class RoleSpec:
    role: Role
    scope: Scope
    description: str


@dataclass(frozen=True)
class PurposeSpec:
    name: str
    fides: str
    necessary: bool
    labels: Mapping[str, str]
    # Decisions made by automated means under this purpose, explained per locale (PIPL Art.
    # 24, 48): what is decided, from which data, and how to get a person to look again.
    automated: Mapping[str, str] | None = None
    # The signed impact assessment (PIPL Art. 55-56) this purpose rests on: its id in the
    # reports package's store. Only `privguard policy activate` and PRIVGUARD_REQUIRE_PIA read
    # it (docs/reports.md); the gate's decisions do not depend on it.
    pia: str | None = None

    def label(self, locale: str = "zh-CN") -> str:
        return self.labels.get(locale) or self.labels.get("en") or self.name


@dataclass(frozen=True)
class Windows:
    after_sales: timedelta
    courier_grace: timedelta
    # An order never marked delivered (a lost parcel, a stale order feed) must not keep a
    # merchant's or courier's access open forever: it lapses this long after placement.
    undelivered: timedelta = timedelta(days=30)


Key = tuple[Role, Action, str, str]  # role, action, purpose, field ("*" for whole actions)


@dataclass(frozen=True)
class Policy:
    roles: Mapping[Role, RoleSpec]
    purposes: Mapping[str, PurposeSpec]
    rules: Sequence[Rule]
    windows: Windows
    source: str
    index: Mapping[Key, tuple[Rule, ...]] = field(default_factory=dict)
    _shapes: dict[
        tuple[Role, Action, str, tuple[str, ...]], tuple[bool, frozenset[Relationship], bool]
    ] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def candidates(self, role: Role, action: Action, purpose: str, field: str) -> tuple[Rule, ...]:
        return self.index.get((role, action, purpose, field), ())

    def decide(
        self,
        role: Role,
        action: Action,
        purpose: str,
        field: str,
        requested: View,
        facts: Facts,
    ) -> Decision:
        """First rule whose conditions hold decides; none -> ``default.deny``, or
        ``consent.missing`` when a rule would have decided but for the consumer's consent."""
        lacks_consent = False
        for rule in self.index.get((role, action, purpose, field), ()):
            if rule.when.holds(facts, purpose):
                if rule.when.relationship is Relationship.SHARING_AGREEMENT:
                    refused = _agreement_refusal(field, facts)
                    if refused is not None:
                        return refused
                return rule.decision(field, requested)
            lacks_consent = lacks_consent or (
                rule.when.consent
                and rule.view is not View.NONE
                and (
                    rule.when.relationship is None or rule.when.relationship in facts.relationships
                )
            )
        if lacks_consent:
            return _deny(field, RULE_CONSENT_MISSING, f"consent missing for purpose {purpose}")
        return self.default_deny(role, action, purpose, field)

    def default_deny(self, role: Role, action: Action, purpose: str, field: str) -> Decision:
        if purpose not in self.purposes:
            return _deny(field, RULE_UNKNOWN_PURPOSE, "the purpose is not in the policy")
        what = "" if field == "*" else f" {field}"
        return _deny(
            field,
            RULE_DEFAULT_DENY,
            f"no rule lets {role.value} {action.value}{what} for {purpose}",
        )

    def could_allow(self, role: Role, action: Action, purpose: str, fields: Iterable[str]) -> bool:
        """Whether some facts would let any of these fields through (a static property)."""
        return self._static(role, action, purpose, tuple(fields))[0]

    def needed_relationships(
        self, role: Role, action: Action, purpose: str, fields: Iterable[str]
    ) -> tuple[frozenset[Relationship], bool]:
        """The relationships the candidate rules ask about, and whether consent is asked."""
        _, rels, consent = self._static(role, action, purpose, tuple(fields))
        return rels, consent

    def _static(
        self, role: Role, action: Action, purpose: str, fields: tuple[str, ...]
    ) -> tuple[bool, frozenset[Relationship], bool]:
        # Depends only on the request's shape, which repeats endlessly: computed once per shape.
        key = (role, action, purpose, fields)
        found = self._shapes.get(key)
        if found is not None:
            return found
        rels: set[Relationship] = set()
        consent = False
        allow = False
        for f in fields:
            for r in self.index.get((role, action, purpose, f), ()):
                if r.when.relationship is not None:
                    rels.add(r.when.relationship)
                consent = consent or r.when.consent
                allow = allow or r.view is not View.NONE
        found = (allow, frozenset(rels), consent)
        if len(self._shapes) < 10_000:
            self._shapes[key] = found
        return found

    def works_for(self, role: Role, purpose: str) -> bool:
        """Whether any rule lets this role do anything for this purpose."""
        return any(
            key[0] is role and key[2] == purpose and any(r.view is not View.NONE for r in rules)
            for key, rules in self.index.items()
        )

    def conceals(self, role: Role) -> bool:
        """Roles that reach customers only through relationships must not learn, from an
        error, that a customer they are not tied to exists (issue 3, tenant isolation)."""
        spec = self.roles.get(role)
        return spec is not None and spec.scope is not Scope.PLATFORM


_DENIALS: dict[tuple[str, str, str], Decision] = {}


RULE_SANCTION_MASKED = "sanction.masked-only"
RULE_SANCTION_SUSPENDED = "sanction.suspended"


def under_sanction(decision: Decision, sanction: str | None) -> Decision:
    """What a decision becomes for an organisation under a sanction (cases/rules.py): the
    platform's supervision reaches the gate itself, so it holds on every route."""
    if sanction == "suspended" and decision.allowed:
        return Decision(
            decision.field,
            View.NONE,
            RULE_SANCTION_SUSPENDED,
            "the organisation's access to personal information is suspended after upheld "
            "complaints",
        )
    if sanction == "masked_only" and decision.view is View.PLAIN:
        return Decision(
            decision.field,
            View.MASKED,
            RULE_SANCTION_MASKED,
            "the organisation sees personal information masked only, after upheld complaints",
        )
    return decision


def _agreement_refusal(field: str, facts: Facts) -> Decision | None:
    """A rule that rests on a sharing agreement still lets out only what the agreement names,
    and nothing abroad without the consumer's separate consent."""
    if facts.agreement_fields is not None and field not in facts.agreement_fields:
        return _deny(
            field,
            RULE_OUTSIDE_AGREEMENT,
            f"the agreement with this recipient does not cover {field}",
        )
    if facts.cross_border_unconsented:
        return _deny(
            field,
            RULE_CROSS_BORDER,
            "the recipient is abroad: the consumer's separate consent is needed (PIPL Art. 39)",
        )
    return None


def _deny(field: str, rule: str, reason: str) -> Decision:
    key = (field, rule, reason)
    found = _DENIALS.get(key)
    if found is None:
        found = Decision(field, View.NONE, rule, reason)
        if len(_DENIALS) < 100_000:
            _DENIALS[key] = found
    return found


# ------------------------------------------------------------------ relationship windows
@dataclass(frozen=True)
class OrderFacts:
    """The parts of an order the policy reads; no personal information."""

    merchant_id: uuid.UUID
    courier_id: uuid.UUID | None
    status: str
    placed_at: datetime
    delivered_at: datetime | None


def merchant_window_open(order: OrderFacts, now: datetime, windows: Windows) -> bool:
    """A merchant keeps access while the order is under way and for the after-sales window
    after delivery (E-Commerce Law Art. 24: only as long as the transaction needs)."""
    if order.delivered_at is None:
        return _in_transit(order, now, windows)
    return now <= order.delivered_at + windows.after_sales


def courier_window_open(order: OrderFacts, now: datetime, windows: Windows) -> bool:
    """A courier keeps access from assignment until delivery plus the grace period."""
    if order.delivered_at is None:
        return _in_transit(order, now, windows)
    return now <= order.delivered_at + windows.courier_grace


def _in_transit(order: OrderFacts, now: datetime, windows: Windows) -> bool:
    return order.status in ("placed", "shipped") and now <= order.placed_at + windows.undelivered


def relationships(
    actor: ActorRef,
    subject_id: uuid.UUID | None,
    orders: Sequence[OrderFacts],
    open_ticket: bool,
    now: datetime,
    windows: Windows,
    *,
    agreements: frozenset[uuid.UUID] = frozenset(),
    verified_request: bool = False,
) -> frozenset[Relationship]:
    """Which relationships hold between ``actor`` and the subject with these orders."""
    found: set[Relationship] = set()
    if subject_id is not None and actor.subject_id == subject_id:
        found.add(Relationship.SELF)
    org = actor.organisation_id
    for order in orders:
        if (
            org is not None
            and order.merchant_id == org
            and merchant_window_open(order, now, windows)
        ):
            found.add(Relationship.MERCHANT_ORDER)
        if (
            actor.actor_id is not None
            and order.courier_id == actor.actor_id
            and courier_window_open(order, now, windows)
        ):
            found.add(Relationship.ASSIGNED_SHIPMENT)
    if open_ticket:
        found.add(Relationship.OPEN_TICKET)
    if org is not None and org in agreements:
        found.add(Relationship.SHARING_AGREEMENT)
    if verified_request:
        found.add(Relationship.VERIFIED_REQUEST)
    return frozenset(found)
