"""Loading, linting and explaining a policy (no database).

A policy author's mistakes must stop start-up with a message that names the rule and the bad
name, instead of silently denying (or, worse, allowing) at the first request. The refusals that
carry the law (PIPL Art. 28 sensitive PI shown plain; Art. 13-14 purposes beyond the transaction
without consent) are tested one by one, as are the linter, `privguard policy explain` and the CLI
exit codes that CI jobs rely on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from privguard.catalog.loader import load_catalog
from privguard.catalog.model import Catalog
from privguard.cli import app
from privguard.policy.check import check_policy
from privguard.policy.explain import explain
from privguard.policy.loader import (
    PolicyError,
    Problem,
    load_policy,
    parse_policy,
    shipped_policy_text,
)
from privguard.policy.rules import (
    NO_FACTS,
    RULE_DEFAULT_DENY,
    RULE_UNKNOWN_PURPOSE,
    WHOLE_ACTIONS,
    Action,
    Facts,
    Policy,
    Relationship,
    Role,
    View,
)

ALL_ROLES: dict[str, dict[str, str]] = {
    "consumer": {"scope": "self"},
    "merchant_staff": {"scope": "relationship"},
    "customer_service": {"scope": "platform"},
    "courier": {"scope": "relationship"},
    "marketing": {"scope": "platform"},
    "analyst": {"scope": "platform"},
    "platform_admin": {"scope": "platform"},
    "privacy_officer": {"scope": "platform"},
    "auditor": {"scope": "platform"},
    "partner": {"scope": "relationship"},
}
PURPOSES: dict[str, dict[str, Any]] = {
    "customer_support": {"fides": "essential.service.operations.support", "necessary": True},
    "legal_obligation": {"fides": "essential.legal", "necessary": True},
    "marketing_sms": {"fides": "marketing.communications.sms", "necessary": False},
}
SHIPPED_WARNINGS = {
    "rule self.copy-of-own-data",
    "rule payment.processor",
    "rule legal.officer",
    "rule legal.admin",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def rule(rule_id: str = "t.rule", **changes: Any) -> dict[str, Any]:
    """A valid rule; ``changes`` set keys, and a value of None removes the key."""
    spec: dict[str, Any] = {
        "id": rule_id,
        "roles": ["customer_service"],
        "purposes": ["customer_support"],
        "fields": ["name"],
        "view": "masked",
        "reason": "a test rule",
    }
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


def policy_text(
    rules: list[dict[str, Any]],
    *,
    roles: dict[str, Any] | None = None,
    purposes: dict[str, Any] | None = None,
) -> str:
    return yaml.safe_dump(
        {
            "version": 1,
            "roles": ALL_ROLES if roles is None else roles,
            "purposes": PURPOSES if purposes is None else purposes,
            "rules": rules,
        },
        sort_keys=False,
    )


def errors(text: str, catalog: Catalog) -> list[Problem]:
    policy, problems = parse_policy(text, catalog, source="test")
    found = [p for p in problems if p.severity == "error"]
    assert policy is None and found, "the policy should have been refused"
    return found


def refusal(text: str, catalog: Catalog, where: str) -> str:
    """The error message(s) reported at ``where``."""
    found = errors(text, catalog)
    messages = [p.message for p in found if p.where == where]
    assert messages, f"no error at {where!r}: {found}"
    return " | ".join(messages)


# ------------------------------------------------------------------ the base is valid
def test_the_base_policy_used_below_loads(catalog: Catalog) -> None:
    """Every refusal below changes one thing in this policy, so the refusal is that change."""
    policy, problems = parse_policy(policy_text([rule()]), catalog, source="test")
    assert policy is not None
    assert not [p for p in problems if p.severity == "error"]
    assert [r.id for r in policy.rules] == ["t.rule"]


def test_the_shipped_policy_loads() -> None:
    policy = load_policy(None, load_catalog())
    assert policy.source == "shipped policy.yaml"
    assert len(policy.rules) > 20


# ------------------------------------------------------------------ each refusal names the culprit
def test_unknown_role_in_a_rule(catalog: Catalog) -> None:
    text = policy_text([rule("t.bad", roles=["customer_service", "merchant"])])
    assert "unknown role 'merchant'" in refusal(text, catalog, "rule t.bad")


def test_unknown_role_under_roles(catalog: Catalog) -> None:
    text = policy_text([rule()], roles={**ALL_ROLES, "cashier": {"scope": "platform"}})
    assert "unknown role" in refusal(text, catalog, "roles.cashier")


def test_bad_scope(catalog: Catalog) -> None:
    text = policy_text([rule()], roles={**ALL_ROLES, "courier": {"scope": "tenant"}})
    assert "scope must be one of" in refusal(text, catalog, "roles.courier")


def test_undeclared_role(catalog: Catalog) -> None:
    """Every role the code knows must be declared, so its scope (and concealment) is explicit."""
    roles = {k: v for k, v in ALL_ROLES.items() if k != "auditor"}
    text = policy_text([rule("t.audit", roles=["auditor"])], roles=roles)
    assert "missing ['auditor']" in refusal(text, catalog, "roles")
    assert "role 'auditor' is not declared" in refusal(text, catalog, "rule t.audit")


def test_unknown_purpose(catalog: Catalog) -> None:
    text = policy_text([rule("t.bad", purposes=["customer_suport"])])
    assert "unknown purpose 'customer_suport'" in refusal(text, catalog, "rule t.bad")


def test_purpose_without_necessary(catalog: Catalog) -> None:
    purposes = {**PURPOSES, "surveys": {"fides": "improve.system"}}
    assert "necessary must be true" in refusal(
        policy_text([rule()], purposes=purposes), catalog, "purposes.surveys"
    )


def test_unknown_field(catalog: Catalog) -> None:
    text = policy_text([rule("t.bad", fields=["name", "phone"])])
    message = refusal(text, catalog, "rule t.bad")
    assert "unknown field 'phone'" in message
    assert "'name'" not in message


def test_category_matching_nothing(catalog: Catalog) -> None:
    text = policy_text([rule("t.bad", fields=None, categories=["user.biometric"])])
    assert "category 'user.biometric' matches no catalog field" in refusal(
        text, catalog, "rule t.bad"
    )


def test_a_category_matches_whole_path_segments_only(catalog: Catalog) -> None:
    """`user.contact.phone` is not a prefix of `user.contact.phone_number`: a typo must not
    quietly match (or miss) fields."""
    text = policy_text([rule("t.bad", fields=None, categories=["user.contact.phone"])])
    assert "'user.contact.phone'" in refusal(text, catalog, "rule t.bad")
    policy, _ = parse_policy(
        policy_text([rule("t.ok", fields=None, categories=["user.contact"])]),
        catalog,
        source="test",
    )
    assert policy is not None
    assert policy.rules[0].fields == {
        "mobile_phone",
        "landline",
        "email",
        "shipping_addresses",
    }


def test_unknown_relationship(catalog: Catalog) -> None:
    text = policy_text([rule("t.bad", when={"relationship": "friend"})])
    assert "unknown relationship 'friend'" in refusal(text, catalog, "rule t.bad")


def test_unknown_condition(catalog: Catalog) -> None:
    text = policy_text([rule("t.bad", when={"relationship": "open_ticket", "weekday": "mon"})])
    assert "weekday" in refusal(text, catalog, "rule t.bad")


def test_bad_view(catalog: Catalog) -> None:
    text = policy_text([rule("t.bad", view="full")])
    assert "view must be plain, masked, waybill or none" in refusal(text, catalog, "rule t.bad")


def test_unknown_action(catalog: Catalog) -> None:
    text = policy_text([rule("t.bad", actions=["export"])])
    assert "unknown action 'export'" in refusal(text, catalog, "rule t.bad")


def test_duplicate_id(catalog: Catalog) -> None:
    text = policy_text([rule("t.same"), rule("t.same", fields=["email"])])
    assert "duplicate id" in refusal(text, catalog, "rule t.same")


def test_bad_id(catalog: Catalog) -> None:
    text = policy_text([rule(), rule("NoGroup")])
    assert "id must look like group.name" in refusal(text, catalog, "rules[1]")


def test_missing_reason(catalog: Catalog) -> None:
    for reason in (None, "   "):
        text = policy_text([rule("t.silent", reason=reason)])
        assert "reason must say" in refusal(text, catalog, "rule t.silent")


def test_sensitive_field_plain_for_marketing(catalog: Catalog) -> None:
    """PIPL Art. 28: sensitive PI is shown plain only to charge a payment or meet a legal duty."""
    text = policy_text(
        [
            rule(
                "t.leak",
                roles=["marketing"],
                purposes=["marketing_sms"],
                fields=["name", "resident_id", "bank_card"],
                view="plain",
                when={"consent": True},
            )
        ]
    )
    message = refusal(text, catalog, "rule t.leak")
    assert "['bank_card', 'resident_id']" in message
    assert "PIPL Art. 28" in message


def test_sensitive_plain_is_refused_when_any_purpose_is_not_legal_or_payment(
    catalog: Catalog,
) -> None:
    mixed = rule("t.mixed", fields=["resident_id"], view="plain")
    mixed["purposes"] = ["legal_obligation", "customer_support"]
    assert "resident_id" in refusal(policy_text([mixed]), catalog, "rule t.mixed")
    legal = rule("t.legal", fields=["resident_id"], view="plain", purposes=["legal_obligation"])
    policy, problems = parse_policy(policy_text([legal]), catalog, source="test")
    assert policy is not None, problems


def test_non_necessary_purpose_without_consent(catalog: Catalog) -> None:
    """PIPL Art. 13-14: beyond what the transaction needs, the consumer's consent is needed."""
    text = policy_text(
        [rule("t.spam", roles=["marketing"], purposes=["marketing_sms"], fields=["mobile_phone"])]
    )
    message = refusal(text, catalog, "rule t.spam")
    assert "['marketing_sms']" in message and "consent" in message


def test_a_rule_that_grants_nothing_needs_no_consent(catalog: Catalog) -> None:
    """`view: none` rules (such as marketing.no-sensitive) only shut doors, so they load."""
    spec = rule("t.never", roles=["marketing"], purposes=["marketing_sms"], view="none")
    policy, problems = parse_policy(policy_text([spec]), catalog, source="test")
    assert policy is not None, problems


def test_list_rule_with_fields(catalog: Catalog) -> None:
    text = policy_text([rule("t.list", actions=["list"])])
    assert "take no fields" in refusal(text, catalog, "rule t.list")
    ok = rule("t.list", actions=["list"], fields=None)
    policy, problems = parse_policy(policy_text([ok]), catalog, source="test")
    assert policy is not None, problems
    assert set(policy.index) == {(Role.CUSTOMER_SERVICE, Action.LIST, "customer_support", "*")}


def test_bad_windows(catalog: Catalog) -> None:
    raw = yaml.safe_load(policy_text([rule()]))
    raw["windows"] = {"after_sales_days": -1, "courier_grace_hours": True}
    text = yaml.safe_dump(raw)
    assert "whole number" in refusal(text, catalog, "windows.after_sales_days")
    assert "whole number" in refusal(text, catalog, "windows.courier_grace_hours")


def test_bad_yaml_names_the_line(catalog: Catalog) -> None:
    text = "version: 1\nroles:\n  consumer: {scope: self\npurposes: {}\n"
    found = errors(text, catalog)
    assert len(found) == 1
    assert found[0].where == "line 4"
    assert "not valid YAML" in found[0].message


def test_load_policy_raises_with_every_error(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        policy_text([rule("t.one", fields=["phone"]), rule("t.two", purposes=["sales"])]),
        "utf-8",
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(path, catalog)
    assert {p.where for p in caught.value.problems} == {"rule t.one", "rule t.two"}
    assert "rule t.one: unknown field 'phone'" in str(caught.value)
    assert "rule t.two: unknown purpose 'sales'" in str(caught.value)


# ------------------------------------------------------------------ the linter
def warnings(text: str, catalog: Catalog) -> dict[str, str]:
    problems = check_policy(text, catalog, source="test")
    assert not [p for p in problems if p.severity == "error"], problems
    return {p.where: p.message for p in problems if p.severity == "warning"}


def test_check_finds_a_rule_shadowed_by_an_earlier_unconditional_rule(catalog: Catalog) -> None:
    text = policy_text(
        [
            rule("t.masked"),
            rule("t.plain-with-ticket", view="plain", when={"relationship": "open_ticket"}),
            rule("t.plain", view="plain"),
        ]
    )
    found = warnings(text, catalog)
    assert "can never fire" in found["rule t.plain"]
    assert "rule t.masked" in found["rule t.plain"]
    assert "can never fire" in found["rule t.plain-with-ticket"]
    assert "rule t.masked" not in found


def test_check_does_not_flag_a_fallback_after_a_conditional_rule(catalog: Catalog) -> None:
    text = policy_text(
        [rule("t.ticket", view="plain", when={"relationship": "open_ticket"}), rule("t.masked")]
    )
    assert not any("never fire" in m for m in warnings(text, catalog).values())


def test_check_flags_a_rule_after_an_earlier_one_with_the_same_condition(
    catalog: Catalog,
) -> None:
    when = {"relationship": "open_ticket"}
    text = policy_text([rule("t.first", when=when), rule("t.second", view="plain", when=when)])
    assert "can never fire" in warnings(text, catalog)["rule t.second"]


def test_check_does_not_flag_a_rule_that_still_decides_some_field(catalog: Catalog) -> None:
    text = policy_text([rule("t.name"), rule("t.name-and-email", fields=["name", "email"])])
    assert "rule t.name-and-email" not in warnings(text, catalog)


def test_check_blames_the_rule_that_actually_decides(catalog: Catalog) -> None:
    text = policy_text([rule("z.first"), rule("a.second"), rule("m.third")])
    found = warnings(text, catalog)
    assert "rule z.first comes first" in found["rule a.second"]
    assert "rule z.first comes first" in found["rule m.third"]
    text = policy_text([rule("a.one"), rule("b.two", fields=["name", "email"]),
                        rule("c.three", fields=["name", "email"])])
    assert "rules a.one, b.two come first" in warnings(text, catalog)["rule c.three"]


def test_check_finds_fields_no_rule_reads(catalog: Catalog) -> None:
    text = policy_text(
        [
            rule("t.contact", fields=None, categories=["user.contact"]),
            rule("t.none", fields=["name"], view="none"),
            rule("t.update", fields=["gender"], actions=["update"], view="plain"),
        ]
    )
    unread = {
        w.removeprefix("field ")
        for w, m in warnings(text, catalog).items()
        if w.startswith("field ") and m == "no rule lets anyone read it"
    }
    # a `none` rule and an update rule do not count as reading
    assert unread == set(catalog.names()) - {
        "mobile_phone",
        "landline",
        "email",
        "shipping_addresses",
    }


def test_check_finds_unused_purposes_and_roles(catalog: Catalog) -> None:
    found = warnings(policy_text([rule()]), catalog)
    assert found["purpose legal_obligation"] == "no rule mentions it"
    assert found["purpose marketing_sms"] == "no rule mentions it"
    assert "purpose customer_support" not in found
    assert found["role auditor"] == "no rule mentions it"
    assert "role customer_service" not in found


def test_check_warns_about_every_sensitive_field_shown_plain(catalog: Catalog) -> None:
    text = policy_text(
        [rule("t.legal", purposes=["legal_obligation"], fields=["resident_id"], view="plain")]
    )
    assert "['resident_id']" in warnings(text, catalog)["rule t.legal"]


def test_check_reports_loader_errors(catalog: Catalog) -> None:
    problems = check_policy(policy_text([rule("t.bad", fields=["phone"])]), catalog, source="t")
    assert [(p.severity, p.where) for p in problems] == [("error", "rule t.bad")]


def test_the_shipped_policy_has_no_errors_and_exactly_todays_warnings(catalog: Catalog) -> None:
    """A new warning (a dead rule, an unread field, a new plain sensitive field) fails here;
    update SHIPPED_WARNINGS only after reviewing it."""
    problems = check_policy(shipped_policy_text(), catalog, source="shipped")
    assert [p for p in problems if p.severity == "error"] == []
    assert {p.where for p in problems if p.severity == "warning"} == SHIPPED_WARNINGS
    assert all("shows sensitive fields" in p.message for p in problems)


def test_a_warning_free_policy_is_possible(catalog: Catalog) -> None:
    """The control for the CLI's --strict test: the linter is not always noisy."""
    assert warnings(clean_policy_text(), catalog) == {}


def clean_policy_text() -> str:
    return policy_text(
        [
            rule(
                "t.all-masked",
                roles=list(ALL_ROLES),
                purposes=["customer_support", "legal_obligation"],
                fields=None,
                categories=["user"],
            ),
            rule(
                "t.consented",
                roles=list(ALL_ROLES),
                purposes=["marketing_sms"],
                when={"consent": True},
            ),
        ]
    )


# ------------------------------------------------------------------ explain
@pytest.fixture(scope="module")
def shipped(catalog: Catalog) -> Policy:
    return load_policy(None, catalog)


def test_explain_without_facts_lists_the_chain_and_says_the_first_that_holds_decides(
    shipped: Policy,
) -> None:
    e = explain(shipped, Role.CUSTOMER_SERVICE, Action.READ, "customer_support", "mobile_phone")
    assert [s.rule for s in e.chain] == ["support.open-ticket-contact", "support.masked-contact"]
    assert [s.holds for s in e.chain] == [None, None]
    assert not any(s.decides for s in e.chain)
    assert e.outcome == (
        "the first that holds decides: support.open-ticket-contact grants plain if "
        "relationship open_ticket; else support.masked-contact grants masked if always"
    )
    assert (e.view, e.rule) == (None, None)


def test_explain_without_facts_ends_in_default_deny_when_every_rule_is_conditional(
    shipped: Policy,
) -> None:
    e = explain(shipped, Role.MERCHANT_STAFF, Action.READ, "after_sales", "mobile_phone")
    assert [s.rule for s in e.chain] == ["merchant.order-contact"]
    assert e.outcome.endswith("; else denied (default.deny)")


def test_explain_with_facts_names_the_deciding_rule(shipped: Policy) -> None:
    ticket = Facts(frozenset({Relationship.OPEN_TICKET}))
    e = explain(
        shipped,
        Role.CUSTOMER_SERVICE,
        Action.READ,
        "customer_support",
        "mobile_phone",
        View.PLAIN,
        ticket,
    )
    assert (e.view, e.rule) == (View.PLAIN, "support.open-ticket-contact")
    # the second rule holds too, but only the first that holds decides
    assert [(s.holds, s.decides) for s in e.chain] == [(True, True), (True, False)]
    assert e.outcome == "allowed: view plain by rule support.open-ticket-contact"

    e = explain(
        shipped,
        Role.CUSTOMER_SERVICE,
        Action.READ,
        "customer_support",
        "mobile_phone",
        View.PLAIN,
        NO_FACTS,
    )
    assert (e.view, e.rule) == (View.MASKED, "support.masked-contact")
    assert [(s.holds, s.decides) for s in e.chain] == [(False, False), (True, True)]


def test_explain_of_a_request_no_rule_covers(shipped: Policy) -> None:
    e = explain(shipped, Role.COURIER, Action.READ, "delivery", "email")
    assert e.chain == []
    assert e.outcome.startswith(f"always denied (rule {RULE_DEFAULT_DENY})")
    e = explain(shipped, Role.COURIER, Action.READ, "curiosity", "name", facts=NO_FACTS)
    assert (e.view, e.rule) == (View.NONE, RULE_UNKNOWN_PURPOSE)


def test_explain_agrees_with_the_gate_everywhere(shipped: Policy, catalog: Catalog) -> None:
    """The explanation shown to actors and auditors must be the decision the gate makes."""
    everything = Facts(frozenset(Relationship))
    for role in Role:
        for action in Action:
            names = ["*"] if action in WHOLE_ACTIONS else catalog.names()
            for purpose in shipped.purposes:
                for name in names:
                    for given in (
                        NO_FACTS,
                        everything,
                        Facts(everything.relationships, frozenset({purpose})),
                    ):
                        d = shipped.decide(role, action, purpose, name, View.MASKED, given)
                        e = explain(shipped, role, action, purpose, name, View.MASKED, given)
                        assert (e.view, e.rule) == (d.view, d.rule)
                        deciding = [s.rule for s in e.chain if s.decides]
                        assert deciding == (
                            [] if d.rule in (RULE_DEFAULT_DENY, "consent.missing") else [d.rule]
                        )


# ------------------------------------------------------------------ the CLI
runner = CliRunner()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads PRIVGUARD_* settings; the tests mean the shipped policy and catalog."""
    monkeypatch.delenv("PRIVGUARD_POLICY_PATH", raising=False)
    monkeypatch.delenv("PRIVGUARD_CATALOG_PATH", raising=False)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.usefixtures("clean_env")
def test_cli_check_passes_the_shipped_policy() -> None:
    result = runner.invoke(app, ["policy", "check"])
    assert result.exit_code == 0, result.output
    assert "0 errors, 4 warnings" in result.output


@pytest.mark.usefixtures("clean_env")
def test_cli_check_fails_a_file_with_an_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(policy_text([rule("t.bad", fields=["phone"])]), "utf-8")
    result = runner.invoke(app, ["policy", "check", str(path)])
    assert result.exit_code == 1
    assert "rule t.bad: unknown field 'phone'" in result.output


@pytest.mark.usefixtures("clean_env")
def test_cli_check_reads_the_policy_path_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(policy_text([rule("t.bad", purposes=["sales"])]), "utf-8")
    monkeypatch.setenv("PRIVGUARD_POLICY_PATH", str(path))
    result = runner.invoke(app, ["policy", "check"])
    assert result.exit_code == 1
    assert "unknown purpose 'sales'" in result.output


@pytest.mark.usefixtures("clean_env")
def test_cli_check_strict_fails_on_warnings(tmp_path: Path) -> None:
    assert runner.invoke(app, ["policy", "check", "--strict"]).exit_code == 1
    path = tmp_path / "clean.yaml"
    path.write_text(clean_policy_text(), "utf-8")
    result = runner.invoke(app, ["policy", "check", "--strict", str(path)])
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings" in result.output


@pytest.mark.usefixtures("clean_env")
def test_cli_explain_json_for_a_courier() -> None:
    out = _explain_courier_phone("--fact", "assigned_shipment")
    assert (out["rule"], out["view"]) == ("courier.delivery-phone", "waybill")
    assert [s["rule"] for s in out["chain"]] == ["courier.delivery-phone"]


def _explain_courier_phone(*extra: str) -> dict:
    args = ["policy", "explain", "--role", "courier", "--purpose", "delivery",
            "--field", "mobile_phone", *extra, "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.usefixtures("clean_env")
def test_cli_explain_without_the_fact_is_a_chain_not_a_decision() -> None:
    out = _explain_courier_phone()
    assert (out["rule"], out["view"]) == (None, None)
    assert out["chain"][0]["holds"] is None


@pytest.mark.usefixtures("clean_env")
def test_cli_explain_refuses_unknown_facts_and_roles() -> None:
    base = ["policy", "explain", "--purpose", "delivery", "--field", "name"]
    assert runner.invoke(app, [*base, "--role", "courier", "--fact", "friend"]).exit_code == 1
    assert runner.invoke(app, [*base, "--role", "driver"]).exit_code == 1
