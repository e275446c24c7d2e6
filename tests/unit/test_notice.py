"""The privacy notice as data: built from the catalog and policy, hashed, compared, rendered
(PIPL Art. 14, 17, 23, 28-30, 39; GB/T 35273-2020 5.5). No database."""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from typing import Any

import pytest

from privguard.catalog.loader import load_catalog
from privguard.catalog.model import Catalog
from privguard.consent.notice import (
    FORMATS,
    LOCALES,
    build_notice,
    canonical_json,
    content_hash,
    diff_notices,
    render_notice,
)
from privguard.consent.notice_config import (
    NoticeConfig,
    NoticeConfigError,
    parse_notice_config,
)
from privguard.consent.notice_text import MESSAGES
from privguard.policy.loader import load_policy, parse_policy, shipped_policy_text
from privguard.policy.rules import Policy

CONFIG_TEXT = resources.files("privguard.consent").joinpath("notice.yaml").read_text("utf-8")
NEW_RECIPIENT = """
  - key: star-logistics
    name: {zh-CN: 星辰国际物流, en: Star International Logistics}
    country: SG
    purposes: [delivery]
    fields: [name, mobile_phone, shipping_addresses]
    contact: {email: privacy@star.example.com}
"""


def _inputs(
    policy_text: str | None = None, config_text: str = CONFIG_TEXT
) -> tuple[Catalog, Policy, NoticeConfig]:
    catalog = load_catalog()
    if policy_text is None:
        policy = load_policy(None, catalog)
    else:
        parsed, problems = parse_policy(policy_text, catalog, source="test")
        assert parsed is not None, problems
        policy = parsed
    return catalog, policy, parse_notice_config(config_text, "test", catalog, policy)


def _notice(policy_text: str | None = None, config_text: str = CONFIG_TEXT) -> dict[str, Any]:
    return build_notice(*_inputs(policy_text, config_text))


def _with_recipient(text: str) -> str:
    assert "\npurposes:\n" in CONFIG_TEXT
    return CONFIG_TEXT.replace("\npurposes:\n", text + "\npurposes:\n", 1)


def _purpose(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in doc["purposes"] if p["name"] == name)


@pytest.fixture(scope="module")
def notice() -> dict[str, Any]:
    return _notice()


# ------------------------------------------------------------------ building and hashing
def test_the_same_inputs_give_byte_identical_json_and_hash() -> None:
    first, second = _notice(), _notice()
    assert canonical_json(first).encode() == canonical_json(second).encode()
    assert content_hash(first) == content_hash(second)
    assert re.fullmatch(r"[0-9a-f]{64}", content_hash(first))


def test_the_hash_is_of_canonical_json_so_it_survives_storage(notice: dict[str, Any]) -> None:
    stored = json.loads(canonical_json(notice))  # what notice_versions.document gives back
    assert content_hash(stored) == content_hash(notice)
    shuffled = dict(reversed(list(notice.items())))  # key order is not content
    assert content_hash(shuffled) == content_hash(notice)
    text = canonical_json(notice)
    assert "姓名" in text  # UTF-8, not \u escapes
    assert '": ' not in text and '", "' not in text  # compact


def test_the_hash_changes_when_any_content_changes(notice: dict[str, Any]) -> None:
    changed = copy.deepcopy(notice)
    changed["rights"]["response_days"] += 1
    assert content_hash(changed) != content_hash(notice)
    reworded = _notice(config_text=CONFIG_TEXT.replace("400-000-0001", "400-000-0009"))
    assert content_hash(reworded) != content_hash(notice)


def test_every_purpose_beyond_the_transaction_asks_consent_and_can_be_withdrawn(
    notice: dict[str, Any],
) -> None:
    policy = _inputs()[1]
    for spec in policy.purposes.values():
        basis = _purpose(notice, spec.name)["legal_basis"]
        if spec.necessary:
            assert basis["basis"] in ("contract", "legal_obligation"), spec.name
            assert not basis["consent_required"] and not basis["withdrawable"]
        else:
            assert basis["basis"] == "consent", spec.name
            assert basis["consent_required"] and basis["withdrawable"]
            assert basis["pipl"].startswith("PIPL Art. 13(1)(1)")
    assert _purpose(notice, "legal_obligation")["legal_basis"]["pipl"] == "PIPL Art. 13(1)(3)"
    assert _purpose(notice, "delivery")["legal_basis"]["pipl"] == "PIPL Art. 13(1)(2)"


@pytest.mark.parametrize(("locale", "words"), [("en", "withdraw it at any time"),
                                               ("zh-CN", "你可以随时撤回同意")])
def test_the_rendered_notice_says_consent_and_withdrawal_under_each_optional_purpose(
    notice: dict[str, Any], locale: str, words: str
) -> None:
    text = render_notice(notice, locale, "markdown")  # type: ignore[arg-type]
    sections = dict(_sections(text))
    for p in notice["purposes"]:
        section = next(body for head, body in sections.items()
                       if head.startswith(p["labels"][locale]))
        assert (words in section) == (not p["necessary"]), p["name"]


def _sections(markdown: str) -> list[tuple[str, str]]:
    parts = re.split(r"^### (.+)$", markdown, flags=re.M)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def test_a_purpose_lists_only_what_its_rules_grant_to_someone_else(
    notice: dict[str, Any],
) -> None:
    names = {p["name"]: [f["name"] for f in p["fields"]] for p in notice["purposes"]}
    assert names["marketing_sms"] == ["name", "mobile_phone"]
    # marketing.no-sensitive grants `none`: refusing is not processing.
    for purpose in ("marketing_sms", "marketing_email", "personalised_recommendation",
                    "analytics"):
        assert not any(f["sensitive"] for f in _purpose(notice, purpose)["fields"]), purpose
    # Only the consumer's own rules name ID numbers for order fulfilment: that is no disclosure.
    assert "resident_id" not in names["order_fulfilment"]
    roles = {r["role"] for p in notice["purposes"] for r in p["roles"]}
    assert "consumer" not in roles
    assert {r["role"] for r in _purpose(notice, "delivery")["roles"]} >= {"courier"}


def test_sensitive_fields_are_listed_with_their_article_28_kind_and_purposes(
    notice: dict[str, Any],
) -> None:
    catalog = load_catalog()
    assert [s["name"] for s in notice["sensitive"]] == [f.name for f in catalog if f.sensitive]
    kinds = {s["name"]: s["kind"] for s in notice["sensitive"]}
    assert kinds["resident_id"] == "identity"
    assert kinds["bank_card"] == "financial_account"
    assert kinds["precise_location"] == "whereabouts"
    bank = next(s for s in notice["sensitive"] if s["name"] == "bank_card")
    assert "payment_processing" in bank["purposes"]
    for locale in LOCALES:
        text = render_notice(notice, locale, "markdown")
        section = text.split("\n## ")[4]
        for s in notice["sensitive"]:
            assert f"**{s['labels'][locale]}**" in section


def test_retention_of_every_field_comes_from_the_catalog(notice: dict[str, Any]) -> None:
    catalog = load_catalog()
    for f in notice["fields"]:
        spec = catalog[f["name"]]
        assert f["retention"]["keep_until"] == spec.retention.keep_until.value
        assert f["retention"]["days"] == spec.retention.days
        assert f["retention"]["basis"]["en"] == spec.retention.basis


def test_recipients_abroad_or_on_consent_need_separate_consent() -> None:
    doc = _notice(config_text=_with_recipient(NEW_RECIPIENT))
    by_key = {r["key"]: r for r in doc["recipients"]}
    assert by_key["star-logistics"]["cross_border"] and by_key["star-logistics"]["separate_consent"]
    assert by_key["nebula-ads"]["separate_consent"] and not by_key["nebula-ads"]["cross_border"]
    assert not by_key["example-pay"]["separate_consent"]
    assert _purpose(doc, "delivery")["recipients"] == ["example-express", "star-logistics"]


# ------------------------------------------------------------------------------ diffing
def test_the_same_notice_has_no_changes(notice: dict[str, Any]) -> None:
    diff = diff_notices(notice, copy.deepcopy(notice))
    assert diff.changes == () and not diff.material and diff.affected == frozenset()


def test_a_new_consent_purpose_is_material_and_asks_for_it(notice: dict[str, Any]) -> None:
    new = copy.deepcopy(notice)
    surveys = copy.deepcopy(_purpose(new, "marketing_email"))
    surveys["name"] = "surveys"
    new["purposes"].append(surveys)
    diff = diff_notices(notice, new)
    assert diff.material
    assert diff.affected == {"purpose:surveys"}
    assert [c.kind for c in diff.changes] == ["purpose_added"]


def test_a_field_added_to_a_purpose_is_material_and_asks_that_purpose_again(
    notice: dict[str, Any],
) -> None:
    old = "    purposes: [marketing_sms]\n    fields: [name, mobile_phone]\n"
    policy = shipped_policy_text()
    assert old in policy, "the shipped policy changed; update this mutation"
    wider = policy.replace(old, old.replace("mobile_phone]", "mobile_phone, email]"), 1)
    new = _notice(policy_text=wider)
    diff = diff_notices(notice, new)
    assert diff.material
    assert diff.affected == {"purpose:marketing_sms"}
    added = [c for c in diff.changes if c.kind == "field_added"]
    assert [(c.target, c.material) for c in added] == [("marketing_sms", True)]
    assert "email" in added[0].text


def test_a_field_added_to_a_necessary_purpose_is_material_but_asks_no_consent(
    notice: dict[str, Any],
) -> None:
    new = copy.deepcopy(notice)
    email = next(f for f in new["fields"] if f["name"] == "email")
    _purpose(new, "payment_processing")["fields"].append(
        {k: email[k] for k in ("name", "labels", "category", "sensitive")}
    )
    diff = diff_notices(notice, new)
    assert diff.material and diff.affected == frozenset()


def test_a_new_recipient_is_material_and_asks_its_separate_consents(
    notice: dict[str, Any],
) -> None:
    diff = diff_notices(notice, _notice(config_text=_with_recipient(NEW_RECIPIENT)))
    assert diff.material
    # Abroad: the cross-border consent too (PIPL Art. 39).
    assert diff.affected == {"third_party:star-logistics", "cross_border:star-logistics"}
    assert [c.kind for c in diff.changes] == ["recipient_added"]


def test_a_recipient_known_to_the_ledger_is_asked_by_its_organisation_id(
    notice: dict[str, Any],
) -> None:
    org = "8d1f5c7e-2f7a-4c1e-9a51-3f0e6b1c2d44"
    text = NEW_RECIPIENT.replace("country: SG", "country: CN") + f"    organisation_id: {org}\n"
    diff = diff_notices(notice, _notice(config_text=_with_recipient(text)))
    assert diff.affected == {"third_party:star-logistics", f"third_party:{org}"}


def test_a_recipient_getting_more_fields_is_material(notice: dict[str, Any]) -> None:
    more = CONFIG_TEXT.replace("fields: [name, mobile_phone, email]",
                               "fields: [name, mobile_phone, email, gender]", 1)
    assert more != CONFIG_TEXT
    diff = diff_notices(notice, _notice(config_text=more))
    assert diff.material and diff.affected == {"third_party:nebula-ads"}


def test_removals_are_not_material(notice: dict[str, Any]) -> None:
    new = copy.deepcopy(notice)
    new["purposes"] = [p for p in new["purposes"] if p["name"] != "analytics"]
    new["recipients"] = [r for r in new["recipients"] if r["key"] != "nebula-ads"]
    _purpose(new, "marketing_sms")["fields"].pop()
    diff = diff_notices(notice, new)
    assert {c.kind for c in diff.changes} == {"purpose_removed", "recipient_removed",
                                              "field_removed"}
    assert not diff.material and diff.affected == frozenset()


def test_rewording_and_contacts_are_not_material(notice: dict[str, Any]) -> None:
    text = (
        CONFIG_TEXT.replace("示例路 1 号", "示例路 2 号")
        .replace("dpo@example.com", "officer@example.com")
        .replace("response_days: 15", "response_days: 10")
        .replace("To send you offers by SMS.", "To text you our offers.")
        .replace("privacy@pay.example.com", "dpo@pay.example.com")
    )
    diff = diff_notices(notice, _notice(config_text=text))
    kinds = {c.kind for c in diff.changes}
    assert kinds == {"controller_changed", "officer_changed", "rights_changed",
                     "purpose_changed", "recipient_changed"}
    assert not diff.material and diff.affected == frozenset()


def test_a_changed_retention_is_reported_but_not_material(notice: dict[str, Any]) -> None:
    new = copy.deepcopy(notice)
    ip = next(f for f in new["fields"] if f["name"] == "ip_address")
    ip["retention"]["days"] = 365
    diff = diff_notices(notice, new)
    assert [(c.kind, c.target) for c in diff.changes] == [("retention_changed", "ip_address")]
    assert "180 days after collection -> 365 days after collection" in diff.changes[0].text
    assert not diff.material


# ---------------------------------------------------------------------------- rendering
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("locale", LOCALES)
def test_the_rendered_notice_holds_what_article_17_requires(
    notice: dict[str, Any], locale: str, fmt: str
) -> None:
    text = render_notice(notice, locale, fmt, version=3)  # type: ignore[arg-type]
    assert notice["controller"]["name"][locale] in text
    assert notice["controller"]["contact"]["email"] in text
    assert notice["officer"]["title"][locale] in text
    for p in notice["purposes"]:
        assert p["labels"][locale] in text, p["name"]
    for f in notice["fields"]:
        assert f["labels"][locale] in text, f["name"]
    for r in notice["recipients"]:
        assert r["name"][locale] in text, r["key"]
    assert notice["rights"]["privacy_center_url"] in text
    retention = {"en": "1,095 days after your last transaction (3 years)",
                 "zh-CN": "自最后一次交易之日起 1095 天（3 年）"}[locale]
    assert retention in text
    assert {"en": "Version 3", "zh-CN": "第 3 版"}[locale] in text
    assert content_hash(notice) in text
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and f'<html lang="{locale}">' in text


def test_a_name_holding_markup_is_escaped_in_html_and_markdown() -> None:
    evil = "<script>alert(1)</script> | **x**"
    text = NEW_RECIPIENT.replace("Star International Logistics", json.dumps(evil))
    doc = _notice(config_text=_with_recipient(text))
    html = render_notice(doc, "en", "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    markdown = render_notice(doc, "en", "markdown")
    assert "<script>" not in markdown
    row = next(line for line in markdown.splitlines()
               if line.startswith("| **") and "alert(1)" in line)
    assert row.count(" | ") == 4  # the name's `|` did not open a sixth cell


def test_both_languages_have_every_sentence() -> None:
    assert set(MESSAGES["zh-CN"]) == set(MESSAGES["en"])


def test_unknown_locale_or_format_is_refused(notice: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        render_notice(notice, "fr", "markdown")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        render_notice(notice, "en", "pdf")  # type: ignore[arg-type]


# ------------------------------------------------------------------------ config checks
@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("purposes: [delivery]", "purposes: [deliveries]", "recipients[0] (example-express)"),
        ("fields: [name, bank_card, payment_account]", "fields: [name, iban]",
         "recipients[1] (example-pay).fields"),
        ("en: Li Jing}", "en: ''}", "officer.name.en"),
        ("country: CN\n  contact", "country: China\n  contact", "controller.country"),
        ("response_days: 15", "response_days: 0", "rights.response_days"),
        ("key: nebula-ads", "key: example-pay", "recipients[2] (example-pay).key"),
        ("en: Refunds to the original card}", "en: Refunds}", "retention_basis.bank_card.en"),
        ("  delivery:\n    description", "  deliveries:\n    description", "purposes.deliveries"),
        ("privacy_center_url: https://", "privacy_center_url: javascript://", "privacy_center_url"),
    ],
)
def test_an_invalid_config_is_refused_naming_the_key(old: str, new: str, where: str) -> None:
    assert old in CONFIG_TEXT, "the shipped notice config changed; update this case"
    catalog = load_catalog()
    policy = load_policy(None, catalog)
    with pytest.raises(NoticeConfigError, match=re.escape(where)):
        parse_notice_config(CONFIG_TEXT.replace(old, new, 1), "test.yaml", catalog, policy)
