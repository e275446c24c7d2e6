"""Incident deadlines, the affected set's arithmetic and the notification drafts
(cases/incident_rules.py): plain data in, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from privguard.cases.incident_rules import (
    Contacts,
    Exposure,
    FieldInfo,
    IncidentConfigError,
    IncidentFacts,
    Individuals,
    Remedy,
    disclosed_fields,
    draft_for_authority,
    draft_for_individual,
    field_counts,
    load_incident_config,
    notify_deadlines,
    overdue,
    text_for,
)
from privguard.catalog.loader import load_catalog

FOUND = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)  # 06:30 on the 28th in Shanghai
CONFIG = load_incident_config(None)
CATALOG = load_catalog(None)
CONTACTS = Contacts(
    controller={"zh-CN": "示例商城", "en": "Example Marketplace"},
    controller_email="privacy@example.com",
    controller_phone="400-000-0000",
    officer_title={"zh-CN": "个人信息保护负责人", "en": "Data protection officer"},
    officer_email="dpo@example.com",
    officer_phone=None,
    privacy_center_url="https://shop.example.com/privacy-center",
)


def info(name: str) -> FieldInfo:
    spec = CATALOG[name]
    return FieldInfo(name, spec.labels, spec.category, spec.sensitive)


def facts(**changes: object) -> IncidentFacts:
    base = dict(
        incident_id="inc-1", title="批量查询", description="客服账号批量查看客户资料。",
        cause="账号凭据泄露。", harm=None, categories=["leak", "unauthorised_access"],
        discovered_at=FOUND, window_start=FOUND - timedelta(hours=2), window_end=FOUND,
        affected_subjects=12, affected_entries=30,
        field_counts={"mobile_phone": 12, "bank_card": 3},
        remedies=[Remedy(FOUND + timedelta(hours=1), "已冻结该账号")],
        individuals=Individuals.PENDING,
    )
    base.update(changes)
    return IncidentFacts(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- deadlines


def test_gdpr_gives_the_authority_72_hours_from_discovery() -> None:
    d = notify_deadlines(FOUND, "EU", CONFIG)
    assert d.authority_by == datetime(2026, 11, 30, 22, 30, tzinfo=UTC)
    assert d.individuals_by is None  # Art. 34: without undue delay
    assert "GDPR Art. 33" in d.basis


def test_china_defaults_to_4_hours_for_the_authority_and_72_for_people() -> None:
    d = notify_deadlines(FOUND, "CN", CONFIG)
    assert d.authority_by == FOUND + timedelta(hours=4)
    assert d.individuals_by == FOUND + timedelta(hours=72)
    assert "PIPL Art. 57" in d.basis


def test_a_deadline_is_counted_from_the_instant_whatever_the_zone_given() -> None:
    shanghai = FOUND.astimezone(ZoneInfo("Asia/Shanghai"))
    assert notify_deadlines(shanghai, "EU", CONFIG).authority_by == FOUND + timedelta(hours=72)
    with pytest.raises(ValueError, match="timezone-aware"):
        notify_deadlines(FOUND.replace(tzinfo=None), "EU", CONFIG)
    with pytest.raises(KeyError, match="known: CN, EU"):
        notify_deadlines(FOUND, "XX", CONFIG)


def test_overdue_is_about_the_deadline_and_when_the_duty_was_done() -> None:
    due = FOUND + timedelta(hours=72)
    assert not overdue(due, None, due)
    assert overdue(due, None, due + timedelta(seconds=1))
    assert not overdue(due, due - timedelta(hours=1), due + timedelta(days=9))
    assert overdue(due, due + timedelta(hours=1), due + timedelta(days=9))  # done late
    assert not overdue(None, None, due + timedelta(days=900))


def test_an_override_changes_a_jurisdiction_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "incidents.yaml"
    path.write_text(
        "jurisdictions:\n"
        "  CN: {authority_within: 1 hours}\n"
        "  US-CA:\n"
        "    authority: {zh-CN: 加州总检察长, en: the California Attorney General}\n"
        "    authority_within: 15 days\n"
        "    timezone: America/Los_Angeles\n"
    )
    config = load_incident_config(path)
    assert notify_deadlines(FOUND, "CN", config).authority_by == FOUND + timedelta(hours=1)
    assert "overridden in" in config.jurisdictions["CN"].basis
    assert notify_deadlines(FOUND, "US-CA", config).authority_by == FOUND + timedelta(days=15)
    assert config.jurisdictions["EU"] == CONFIG.jurisdictions["EU"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("jurisdictions: {CN: {authority_within: soon}}", "jurisdictions.CN.authority_within"),
        ("jurisdictions: {XX: {authority_within: 4 hours}}", "jurisdictions.XX"),
        ("jurisdictions: {cn: {}}", "jurisdictions.cn"),
        ("harm: {user.name: {zh-CN: 只有中文}}", "harm.user.name"),
        ("colour: blue", "file"),
    ],
)
def test_a_bad_override_names_the_key(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "incidents.yaml"
    path.write_text(text)
    with pytest.raises(IncidentConfigError, match=where.replace(".", r"\.")):
        load_incident_config(path)


# ---------------------------------------------------------------------------- the affected set


def test_an_exposure_keeps_the_widest_view_and_the_span() -> None:
    e = Exposure()
    e.add([("mobile_phone", "masked")], "access_log", FOUND)
    e.add([("mobile_phone", "plain"), ("name", "waybill")], "transfers", FOUND - timedelta(1))
    e.add([("mobile_phone", "masked")], "access_log", FOUND + timedelta(1))
    assert e.fields == {"mobile_phone": "plain", "name": "waybill"}
    assert e.sources == {"access_log", "transfers"}
    assert (e.entries, e.first_at, e.last_at) == (3, FOUND - timedelta(1), FOUND + timedelta(1))


def test_only_fields_let_out_count_as_disclosed() -> None:
    decisions = [
        {"field": "name", "view": "masked", "rule": "r"},
        {"field": "bank_card", "view": "none", "rule": "default.deny"},
        {"field": "*", "view": "masked", "rule": "list"},
    ]
    assert disclosed_fields(decisions, CATALOG.fields) == [("name", "masked")]
    assert field_counts([{"name": "plain"}, {"name": "masked", "email": "plain"}]) == {
        "email": 1, "name": 2
    }


def test_harm_and_advice_follow_the_most_specific_category() -> None:
    assert text_for("user.contact.phone_number", CONFIG.harm) == CONFIG.harm[
        "user.contact.phone_number"
    ]
    assert text_for("user.financial.bank_account", CONFIG.advice) == CONFIG.advice[
        "user.financial"
    ]
    assert text_for("user.unheard_of", CONFIG.harm) == CONFIG.harm["default"]
    assert text_for("user.contactless", CONFIG.harm) == CONFIG.harm["default"]  # not a prefix


# ---------------------------------------------------------------------------- drafts


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_authoritys_draft_has_every_art_57_item(locale: str) -> None:
    fields = [info("mobile_phone"), info("bank_card")]
    text = draft_for_authority(facts(), fields, notify_deadlines(FOUND, "CN", CONFIG), CONFIG,
                               CONTACTS, locale)
    expected = [
        CATALOG["mobile_phone"].label(locale), CATALOG["bank_card"].label(locale),  # PI types
        "账号凭据泄露。",  # the cause (as the officer wrote it)
        CONFIG.harm["user.contact.phone_number"][locale],  # possible harm
        CONFIG.harm["user.financial"][locale],
        "已冻结该账号",  # remedial measures
        CONFIG.advice["user.financial"][locale],  # what individuals can do
        "dpo@example.com",  # contact
        "2026-11-28 10:30 (Asia/Shanghai)",  # the deadline, local time
        CONFIG.categories["leak"][locale],
    ]
    for item in expected:
        assert item in text, item
    assert ("12 人" if locale == "zh-CN" else "People concerned: 12") in text


def test_the_authority_is_told_when_people_will_not_be() -> None:
    text = draft_for_authority(
        facts(individuals=Individuals.NOT_NOTIFIED, no_notify_reason="数据已加密"),
        [info("mobile_phone")], notify_deadlines(FOUND, "EU", CONFIG), CONFIG, CONTACTS, "en",
    )
    assert "The individuals are not notified. Reason: 数据已加密" in text
    assert "2026-11-30 23:30 (Europe/Brussels)" in text


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_consumers_draft_names_only_their_own_kinds_of_information(locale: str) -> None:
    fields = {n: info(n) for n in ("mobile_phone", "bank_card", "name")}
    text = draft_for_individual(
        facts(), "0b8e6d2c-0000-4000-8000-000000000001", "sms", {"mobile_phone": "masked"},
        fields, CONFIG, CONTACTS, locale, "Asia/Shanghai",
    )
    assert "0b8e6d2c-0000-4000-8000-000000000001" in text
    assert CONFIG.channels["sms"][locale] in text
    assert CATALOG["mobile_phone"].label(locale) in text
    assert CATALOG["bank_card"].label(locale) not in text
    assert CONFIG.harm["user.financial"][locale] not in text
    advice = CONFIG.advice["user.contact.phone_number"][locale]
    for item in ("账号凭据泄露。", "已冻结该账号", advice, CONFIG.rights[locale],
                 "dpo@example.com"):
        assert item in text, item


def test_drafts_refuse_unknown_locales_and_channels() -> None:
    with pytest.raises(ValueError, match="locale"):
        draft_for_authority(facts(), [], notify_deadlines(FOUND, "CN", CONFIG), CONFIG, CONTACTS,
                            "fr")
    with pytest.raises(ValueError, match="channel"):
        draft_for_individual(facts(), "s", "pigeon", {}, {}, CONFIG, CONTACTS, "en", "UTC")
