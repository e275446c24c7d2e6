"""Records of processing and impact assessments without a database (PIPL Art. 55-56; GDPR
Art. 30; GB/T 35273-2020 11.3): what the data map says, the Art. 55 cases and risks it shows,
the questions, the activation gate, and the reports in both languages and three formats."""

from __future__ import annotations

import dataclasses
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pypdf import PdfReader

from privguard.catalog.loader import load_catalog
from privguard.consent.notice import build_notice
from privguard.consent.notice_config import NoticeConfig, load_notice_config
from privguard.policy.loader import load_policy, parse_policy, shipped_policy_text
from privguard.policy.rules import Policy
from privguard.reports import rules
from privguard.reports.render import pia_report, render, ropa_report
from privguard.reports.text import MESSAGES

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
CATALOG = load_catalog()
SHIPPED = load_policy(None, CATALOG)
NOTICE = load_notice_config(None, CATALOG, SHIPPED)
ORG = "6f1c0a52-3c1e-4d0e-9a57-0d2a5b7f0001"


def policy_from(old: str = "", new: str = "") -> Policy:
    text = shipped_policy_text()
    if old:
        assert old in text, "the shipped policy changed; update this test"
        text = text.replace(old, new, 1)
    policy, problems = parse_policy(text, CATALOG, source="test")
    assert policy is not None, problems
    return policy


def agreement(
    purposes: tuple[str, ...] = ("third_party_sharing",),
    fields: tuple[str, ...] = ("name", "mobile_phone"),
    *, days: int = 180, ends: timedelta = timedelta(days=365),
    terminated: datetime | None = None, ref: str = "DPA-1",
) -> rules.AgreementFacts:
    return rules.AgreementFacts(
        agreement_id=f"agreement-{ref}", reference=ref, purposes=purposes, fields=fields,
        retention_days=days, sub_processing=False, starts_at=NOW - timedelta(days=30),
        ends_at=NOW + ends, terminated_at=terminated,
    )


def recipient(
    *agreements: rules.AgreementFacts, country: str = "CN", name: str = "星云广告有限公司",
    rid: str = ORG, role: str = "independent",
) -> rules.RecipientFacts:
    return rules.RecipientFacts(rid, name, "privacy@nebula.example", country, role,
                                "advertising", tuple(agreements))


def data_map(
    policy: Policy = SHIPPED, recipients: tuple[rules.RecipientFacts, ...] = (),
    notice: NoticeConfig = NOTICE, **kw: Any,
) -> rules.DataMap:
    return rules.DataMap(CATALOG, policy, notice, recipients, "CN", NOW, **kw)


def cases(dm: rules.DataMap, purpose: str) -> dict[str, tuple[str, ...]]:
    return {t.case.value: t.items for t in rules.needs_pia(dm, purpose)}


def risk_ids(dm: rules.DataMap, purpose: str) -> set[str]:
    return {r.id for r in rules.risks(dm, purpose)}


# ------------------------------------------------------------------------------ RoPA
def test_the_ropa_lists_every_purpose_with_the_notices_fields_and_roles() -> None:
    doc = rules.build_ropa(data_map())
    notice = build_notice(CATALOG, SHIPPED, NOTICE)
    assert [a["purpose"] for a in doc["activities"]] == list(SHIPPED.purposes)
    for activity, purpose in zip(doc["activities"], notice["purposes"], strict=True):
        assert [f["name"] for f in activity["fields"]] == [f["name"] for f in purpose["fields"]]
        assert activity["roles"] == [r["role"] for r in purpose["roles"]]
        assert activity["legal_basis"] == purpose["legal_basis"]
        for f in activity["fields"]:
            assert f["retention"]["keep_until"] == CATALOG[f["name"]].retention.keep_until.value
    by = {a["purpose"]: a for a in doc["activities"]}
    assert by["marketing_sms"]["legal_basis"]["basis"] == "consent"
    assert by["fraud_detection"]["automated"]["en"].startswith("Orders get a risk score")
    # The access table is the policy's, rule by rule, without the consumer's own access.
    delivery = {r["rule"]: r for r in by["delivery"]["access"]}
    assert delivery["courier.delivery-phone"]["view"] == "waybill"
    assert all("consumer" not in r["roles"] for a in doc["activities"] for r in a["access"])
    assert doc["controller"]["country"] == "CN" and doc["officer"]["contact"]["email"]


def test_a_recipient_and_its_agreement_appear_under_their_purpose() -> None:
    idle = recipient(name="闲置物流有限公司", rid="6f1c0a52-3c1e-4d0e-9a57-0d2a5b7f0002",
                     role="entrusted")
    dm = data_map(recipients=(recipient(agreement(ref="DPA-2026-017")), idle))
    doc = rules.build_ropa(dm)
    by = {a["purpose"]: a for a in doc["activities"]}
    [listed] = by["third_party_sharing"]["recipients"]
    assert listed["legal_entity"] == "星云广告有限公司" and listed["cross_border"] is False
    assert [a["reference"] for a in listed["agreements"]] == ["DPA-2026-017"]
    assert listed["agreements"][0]["in_force"] is True
    assert by["delivery"]["recipients"] == []
    # The registry section lists every recipient, with or without an agreement.
    names = {r["legal_entity"] for r in doc["recipients"]}
    assert names == {"星云广告有限公司", "闲置物流有限公司"}
    abroad = rules.build_ropa(data_map(recipients=(recipient(agreement(), country="US"),)))
    sharing = {a["purpose"]: a for a in abroad["activities"]}["third_party_sharing"]
    assert sharing["recipients"][0]["cross_border"] is True
    assert "cross_border" in [c["case"] for c in sharing["pia"]["cases"]]


def test_security_measures_state_this_deployments_facts() -> None:
    doc = rules.build_ropa(data_map(key_provider="env", sequencer_interval=0))
    measures = {m["key"]: m for m in doc["security"]}
    assert measures["blind_index"]["facts"]["fields"] == ["mobile_phone", "email", "resident_id"]
    assert measures["encryption"]["facts"]["provider"] == "env"
    assert measures["gate"]["facts"]["rules"] == len(SHIPPED.rules)
    assert measures["gate"]["facts"]["plain_sensitive"] == ["legal_obligation",
                                                            "payment_processing"]
    text = render(ropa_report(doc, "en"), "md").decode()
    assert "the env key provider" in text
    assert "scheduled privguard audit sequence" in text
    served = render(ropa_report(rules.build_ropa(data_map(sequencer_interval=2)), "en"), "md")
    assert b"by each server every 2 s" in served


# ------------------------------------------------------------------------------ Art. 55
def test_each_article_55_case_is_detected_with_what_triggers_it() -> None:
    dm = data_map()
    assert cases(dm, "payment_processing")["sensitive"] == ("bank_card", "payment_account")
    assert "automated" in cases(dm, "fraud_detection")
    assert "rule courier.delivery-address" in cases(dm, "delivery")["entrust_provide_disclose"]
    # Marketing by e-mail: platform staff only, no sensitive field, nothing automated.
    assert cases(dm, "marketing_email") == {}
    # marketing.no-sensitive names sensitive fields for analytics, but grants nothing.
    assert "sensitive" not in cases(dm, "analytics")
    # The same purpose falls under more cases as the data map changes.
    abroad = data_map(recipients=(recipient(agreement(("analytics",), ("gender",)),
                                            country="SG"),))
    found = cases(abroad, "analytics")
    assert found["cross_border"] == ("recipient 星云广告有限公司 (SG)",)
    assert found["entrust_provide_disclose"] == ("recipient 星云广告有限公司",)


def test_automated_decisions_are_a_case_only_while_declared() -> None:
    text = shipped_policy_text()
    start = text.index("    automated:\n      zh-CN: \"系统根据设备")
    end = text.index("  legal_obligation:")
    policy, problems = parse_policy(text[:start] + text[end:], CATALOG, source="test")
    assert policy is not None, problems
    assert "automated" not in cases(data_map(policy), "fraud_detection")
    assert "automated" in cases(data_map(), "fraud_detection")


def test_sensitive_fields_shown_plain_are_a_risk() -> None:
    dm = data_map()
    payment = {r.id: r for r in rules.risks(dm, "payment_processing")}
    risk = payment["sensitive_plain:payment.processor"]
    assert risk.level == "high"
    assert risk.params == {"rule": "payment.processor", "roles": ["partner"],
                           "fields": ["bank_card", "payment_account"]}
    assert {"sensitive_plain:legal.officer", "sensitive_plain:legal.admin"} <= risk_ids(
        dm, "legal_obligation")
    # account_management shows sensitive fields masked only: no such risk.
    assert not any(i.startswith("sensitive_plain") for i in risk_ids(dm, "account_management"))


def test_a_partner_rule_without_an_agreement_is_a_risk() -> None:
    loose = policy_from("    when: {relationship: sharing_agreement, consent: true}\n"
                        "    reason: \"separate consent",
                        "    when: {consent: true}\n    reason: \"separate consent")
    assert "partner_without_agreement:sharing.partner" in risk_ids(
        data_map(loose), "third_party_sharing")
    assert "partner_without_agreement:sharing.partner" not in risk_ids(
        data_map(), "third_party_sharing")


def _declare(org: str | None, country: str = "CN") -> NoticeConfig:
    """The shipped notice config with nebula-ads tied to ``org`` in ``country``."""
    declared = tuple(
        dataclasses.replace(r, organisation_id=uuid.UUID(org) if org else None,
                            country=country)
        if r.key == "nebula-ads" else r
        for r in NOTICE.recipients
    )
    return dataclasses.replace(NOTICE, recipients=declared)


def test_recipients_without_an_agreement_in_force_are_a_risk() -> None:
    def reasons(dm: rules.DataMap) -> dict[str, str]:
        return {r.key: r.params["reason"] for r in rules.risks(dm, "third_party_sharing")
                if r.kind is rules.RiskKind.NO_AGREEMENT}

    # The shipped notice declares nebula-ads without a registered organisation.
    assert reasons(data_map()) == {"declared:nebula-ads": "no_organisation"}
    assert reasons(data_map(notice=_declare(ORG))) == {"declared:nebula-ads": "not_registered"}
    ended = recipient(agreement(terminated=NOW - timedelta(days=1)))
    assert reasons(data_map(SHIPPED, (ended,), _declare(ORG))) == {ORG: "not_in_force"}
    other = recipient(agreement(("analytics",), ("gender",)))
    assert reasons(data_map(SHIPPED, (other,), _declare(ORG))) == {
        "declared:nebula-ads": "no_agreement"}
    assert reasons(data_map(SHIPPED, (recipient(agreement()),), _declare(ORG))) == {}


def test_agreement_retention_longer_than_the_catalog_is_a_risk() -> None:
    fields = ("browsing_history", "name", "purchase_history")
    long = recipient(agreement(("personalised_recommendation",), fields, days=1200))
    found = {r.key: r.params for r in rules.risks(data_map(recipients=(long,)),
                                                  "personalised_recommendation")
             if r.kind is rules.RiskKind.RETENTION_LONGER}
    # 90 days after collection and 1095 after the last transaction are exceeded; `name` lives
    # as long as the account, which no number of days can be compared with.
    assert set(found) == {"DPA-1:browsing_history", "DPA-1:purchase_history"}
    assert found["DPA-1:browsing_history"]["field_days"] == 90
    short = recipient(agreement(("personalised_recommendation",), fields, days=60))
    assert not any(i.startswith("retention_longer") for i in risk_ids(
        data_map(recipients=(short,)), "personalised_recommendation"))
    ended = recipient(agreement(("personalised_recommendation",), fields, days=1200,
                                terminated=NOW - timedelta(days=1)))
    assert not any(i.startswith("retention_longer") for i in risk_ids(
        data_map(recipients=(ended,)), "personalised_recommendation"))


def test_a_cross_border_recipient_without_the_transfer_consent_is_a_risk() -> None:
    abroad = (recipient(agreement(), country="US"),)
    [risk] = [r for r in rules.risks(data_map(recipients=abroad), "third_party_sharing")
              if r.kind is rules.RiskKind.CROSS_BORDER_UNCONSENTED]
    assert risk.level == "high" and risk.params["reasons"] == ["not_in_notice"]
    # Declared at home in the notice: consumers are still never asked about a transfer.
    assert f"cross_border_unconsented:{ORG}" in risk_ids(
        data_map(SHIPPED, abroad, _declare(ORG, "CN")), "third_party_sharing")
    # Declared abroad under its organisation id: the transfer consent can be asked.
    assert f"cross_border_unconsented:{ORG}" not in risk_ids(
        data_map(SHIPPED, abroad, _declare(ORG, "US")), "third_party_sharing")
    # A partner rule that does not rest on the agreement: the gate cannot ask either.
    loose = policy_from("    when: {relationship: sharing_agreement, consent: true}\n"
                        "    reason: \"separate consent",
                        "    when: {consent: true}\n    reason: \"separate consent")
    [risk] = [r for r in rules.risks(data_map(loose, abroad, _declare(ORG, "US")),
                                     "third_party_sharing")
              if r.kind is rules.RiskKind.CROSS_BORDER_UNCONSENTED]
    assert risk.params["reasons"] == ["gate_cannot_ask"]


# ------------------------------------------------------------------------------ questions
def test_questions_cover_article_56_each_case_each_risk_and_a_conclusion() -> None:
    template = rules.shipped_template()
    document = rules.prefill(data_map(), "payment_processing", template)
    ids = [q["id"] for q in document["questions"]]
    assert len(ids) == len(set(ids))
    assert ids[:3] == ["general.necessity", "general.impact", "general.measures"]
    assert ids[-1] == "conclusion"
    sections = [q["section"] for q in document["questions"]]
    assert "sensitive" in sections and "entrust_provide_disclose" in sections
    assert "automated" not in sections and "cross_border" not in sections
    assert {i.removeprefix("risk.") for i in ids if i.startswith("risk.")} == {
        r["id"] for r in document["risks"]}
    assert document["template"] == {"version": template.version, "sha256": template.sha256}
    assert document["scope"]["cases"] == ["sensitive", "entrust_provide_disclose"]
    assert rules.unanswered(document, {"general.necessity": "  "})[0] == "general.necessity"
    assert rules.unanswered(document, dict.fromkeys(ids, "yes")) == []


def test_the_template_is_checked_when_loaded() -> None:
    from importlib import resources

    text = resources.files("privguard.reports").joinpath("pia_template.yaml").read_text("utf-8")
    rules.parse_template(text)
    with pytest.raises(rules.TemplateError, match="cases"):
        rules.parse_template(text.replace("  cross_border:\n", "  abroad:\n"))
    with pytest.raises(rules.TemplateError, match="risk_question"):
        rules.parse_template(text.replace('  en: "How is this risk treated', '  fr: "How'))
    with pytest.raises(rules.TemplateError, match=r"general\[0\]\.id"):
        rules.parse_template(text.replace("  - id: necessity", "  - id: Necessity!"))


def test_the_signed_hash_covers_every_answer_and_who_signed() -> None:
    base = dict(assessment_id="a", purpose="delivery", document={"questions": []},
                answers={"q": "yes"}, outcome="approved", signed_by="officer", signed_at=NOW)
    first = rules.signature_hash(rules.signed_content(**base))
    assert first == rules.signature_hash(rules.signed_content(**base))
    for change in ({"answers": {"q": "yes."}}, {"signed_by": "someone"},
                   {"outcome": "rejected"}, {"signed_at": NOW + timedelta(seconds=1)}):
        assert rules.signature_hash(rules.signed_content(**{**base, **change})) != first


def test_kept_three_years_from_sign_off() -> None:
    assert rules.keep_until(NOW) == datetime(2029, 11, 29, 8, 0, tzinfo=UTC)
    leap = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert rules.keep_until(leap) == datetime(2031, 2, 28, 12, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------ the gate
def _fraud_linked(pia: str) -> Policy:
    return policy_from("    necessary: true\n    label: {zh-CN: 反欺诈, en: Fraud detection}\n",
                       f"    necessary: true\n    pia: {pia}\n"
                       "    label: {zh-CN: 反欺诈, en: Fraud detection}\n")


def _facts(pia: str, dm: rules.DataMap, **kw: Any) -> dict[str, rules.AssessmentFacts]:
    base = dict(assessment_id=pia, purpose="fraud_detection", signed=True, outcome="approved",
                intact=True, scope=rules.scope_of(dm, "fraud_detection"))
    return {pia: rules.AssessmentFacts(**{**base, **kw})}


def test_the_gate_refuses_until_a_signed_approved_assessment_covers_the_purpose() -> None:
    pia = "0b7a0a52-3c1e-4d0e-9a57-0d2a5b7f00aa"
    unlinked = data_map()

    def about_fraud(dm: rules.DataMap, facts: dict[str, rules.AssessmentFacts]) -> list[str]:
        return [p.message for p in rules.activation_problems(dm, facts)
                if p.where == "purposes.fraud_detection"]

    [message] = about_fraud(unlinked, {})
    assert "PIPL Art. 55: sensitive, automated" in message and "pia new fraud_detection" in message
    # Purposes that need none are never named.
    wheres = {p.where for p in rules.activation_problems(unlinked, {})}
    assert "purposes.marketing_email" not in wheres and "purposes.analytics" not in wheres

    dm = data_map(_fraud_linked(pia))
    assert about_fraud(dm, _facts(pia, dm)) == []
    refusals = {
        "no such impact assessment": {},
        "assesses delivery, not fraud_detection": _facts(pia, dm, purpose="delivery"),
        "is not signed": _facts(pia, dm, signed=False, outcome=None),
        "altered after it was signed": _facts(pia, dm, intact=False),
        "concluded rejected": _facts(pia, dm, outcome="rejected"),
        "does not cover what the purpose does now (fields landline, email": _facts(
            pia, dm, scope={**rules.scope_of(dm, "fraud_detection"),
                            "fields": ["name", "mobile_phone"]}),
    }
    for expected, facts in refusals.items():
        [message] = about_fraud(dm, facts)
        assert expected in message, (expected, message)
    # A recipient added after the assessment: assess again.
    later = data_map(_fraud_linked(pia), (recipient(agreement(("fraud_detection",))),))
    [message] = about_fraud(later, _facts(pia, dm))
    assert f"recipients {ORG}" in message and "cases entrust_provide_disclose" in message


def test_a_policy_names_its_assessment_by_id() -> None:
    assert _fraud_linked("0B7A0A52-3C1E-4D0E-9A57-0D2A5B7F00AA").purposes[
        "fraud_detection"].pia == "0b7a0a52-3c1e-4d0e-9a57-0d2a5b7f00aa"
    text = shipped_policy_text().replace(
        "    necessary: true\n    label: {zh-CN: 反欺诈", "    necessary: true\n    pia: PIA-7\n"
        "    label: {zh-CN: 反欺诈", 1)
    policy, problems = parse_policy(text, CATALOG, source="test")
    assert policy is None
    assert any(p.where == "purposes.fraud_detection" and "pia must be the id" in p.message
               for p in problems)


# ------------------------------------------------------------------------------ rendering
def _pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_ropa_renders_in_both_languages_and_three_formats(locale: str) -> None:
    dm = data_map(recipients=(recipient(agreement(ref="DPA-2026-017")),))
    report = ropa_report(rules.build_ropa(dm), locale)
    label = SHIPPED.purposes["third_party_sharing"].labels[locale]
    heading = MESSAGES[locale]["ropa_title"]
    md = render(report, "md").decode()
    html = render(report, "html").decode()
    assert md.startswith(f"# {heading}") and f"<h1>{heading}</h1>" in html
    for text in (md, html):
        assert label in text and "DPA-2026-017" in text and "星云广告有限公司" in text
    pdf = render(report, "pdf")
    assert pdf.startswith(b"%PDF")
    assert pdf == render(report, "pdf")  # no creation time or random id in the file
    flat = re.sub(r"\s+", "", _pdf_text(pdf))
    assert re.sub(r"\s+", "", heading) in flat and "DPA-2026-017" in flat


def test_markup_in_a_recipient_name_is_escaped() -> None:
    evil = "<script>alert(1)</script> | *x* [y](z)"
    doc = rules.build_ropa(data_map(recipients=(recipient(agreement(), name=evil),)))
    html = render(ropa_report(doc, "en"), "html").decode()
    assert "<script>" not in html and "&lt;script&gt;" in html
    md = render(ropa_report(doc, "en"), "md").decode()
    assert "<script>" not in md and r"\<script\>" in md and r"\| \*x\*" in md


def test_a_pia_report_shows_risks_answers_and_the_sign_off() -> None:
    document = rules.prefill(data_map(), "payment_processing", rules.shipped_template())
    assessment = {
        "assessment_id": "a1", "purpose": "payment_processing", "status": "signed",
        "document": document, "answers": {"general.necessity": "退款需要原卡"},
        "created_at": NOW.isoformat(), "outcome": "approved", "signed_by": "officer-1",
        "signed_at": NOW.isoformat(), "content_hash": "ab" * 32, "intact": False,
        "keep_until": rules.keep_until(NOW).isoformat(),
    }
    en = render(pia_report(assessment, "en"), "md").decode()
    assert "Rule payment.processor shows sensitive information" in en
    assert "退款需要原卡" in en and "(not answered yet)" in en
    assert "WARNING: the content does not match the signed hash\\!" in en  # (Markdown)
    assert "Kept until 2029-11-29" in en
    zh = render(pia_report({**assessment, "intact": True}, "zh-CN"), "md").decode()
    assert "内容与签署时一致" in zh and "保存至 2029-11-29" in zh


def test_both_languages_have_every_sentence_and_placeholder() -> None:
    zh, en = MESSAGES["zh-CN"], MESSAGES["en"]
    assert set(zh) == set(en)
    for key in zh:
        assert set(re.findall(r"{(\w+)}", zh[key])) == set(re.findall(r"{(\w+)}", en[key])), key
