"""Pure parts of the pages: who may see what (the data map, from the shipped policy), the
timeline's filter and organisation kinds, the notice version last agreed to, and the zh-CN
catalog holding every string the pages show."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from privguard.audit.history import AccessRecord, FieldAccess
from privguard.catalog.loader import load_catalog
from privguard.consent.rules import State, Status
from privguard.policy.loader import load_policy
from privguard.policy.rules import Role, View
from privguard.web.center import AccessFilter, kind_of, last_agreed
from privguard.web.datamap import field_access

WEB = Path(__file__).resolve().parents[2] / "src" / "privguard" / "web"


@pytest.fixture(scope="module")
def reach() -> dict:
    catalog = load_catalog()
    return field_access(load_policy(None, catalog), catalog)


def test_the_data_map_shows_the_most_each_role_may_see(reach: dict) -> None:
    phone = reach["mobile_phone"]
    assert phone[Role.COURIER].view is View.WAYBILL and phone[Role.COURIER].conditional
    assert phone[Role.MARKETING].view is View.MASKED and phone[Role.MARKETING].conditional
    assert "marketing_sms" in phone[Role.MARKETING].purposes
    # Customer service: plain only while a ticket is open (the widest view's condition).
    assert phone[Role.CUSTOMER_SERVICE].view is View.PLAIN
    assert phone[Role.CUSTOMER_SERVICE].conditions == {"relationship open_ticket"}
    # The protection officer: everything, plain, for legal duties, unconditionally.
    officer = reach["bank_card"][Role.PRIVACY_OFFICER]
    assert officer.view is View.PLAIN and not officer.conditional
    # A rule that only refuses grants nothing: marketing never reaches ID numbers.
    assert Role.MARKETING not in reach["resident_id"]
    assert reach["resident_id"][Role.AUDITOR].view is View.MASKED


def _record(kind: str | None, role: str, purpose: str, view: str, at: datetime) -> AccessRecord:
    return AccessRecord(1, None, at, role, uuid.uuid4() if kind else None, "店", kind, "read",
                        purpose, [FieldAccess("name", view, "r")])


def test_the_timeline_filter() -> None:
    at = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)  # 2026-11-30 01:00 in Shanghai
    merchant = _record("merchant", "merchant_staff", "after_sales", "masked", at)
    refused = _record("merchant", "merchant_staff", "after_sales", "none", at)
    own = _record(None, "consumer", "account_management", "plain", at)
    system = _record(None, "platform_admin", "legal_obligation", "plain", at)
    assert [kind_of(r) for r in (merchant, own, system)] == ["merchant", "self", "platform"]
    f = AccessFilter.of({"kind": "merchant", "outcome": "refused"})
    assert [f.keeps(r, kind_of(r)) for r in (merchant, refused, own)] == [False, True, False]
    assert AccessFilter.of({"purpose": "after_sales"}).keeps(merchant, "merchant")
    # Dates are the consumer's calendar days, in the platform's zone.
    assert AccessFilter.of({"from": "2026-11-30"}).keeps(own, "self")
    assert not AccessFilter.of({"to": "2026-11-29"}).keeps(own, "self")
    # Anything unknown is ignored rather than matching nothing.
    odd = AccessFilter.of({"kind": "<script>", "outcome": "maybe", "from": "yesterday"})
    assert odd == AccessFilter() and odd.keeps(system, "platform")
    assert AccessFilter.of({"from": "2026-01-02"}).since == date(2026, 1, 2)


def test_the_version_last_agreed_to() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert last_agreed({}) is None
    states = {"a": Status("purpose", "a", State.GRANTED, at, 2),
              "b": Status("purpose", "b", State.WITHDRAWN, at, None),
              "c": Status("purpose", "c", State.SUSPENDED, at, 3)}
    assert last_agreed(states) == 3


def _messages() -> dict[str, str]:
    found = {}
    for filename, lineno, message, _, _ in extract_from_dir(
        str(WEB), [("templates/**.html", "jinja2"), ("*.py", "python")],
        keywords={"_": None, "N_": None, "gettext": None},
    ):
        found.setdefault(message if isinstance(message, str) else message[0],
                         f"{filename}:{lineno}")
    return found


def test_every_string_of_the_pages_has_its_zh_cn_translation() -> None:
    """Source strings are English; a string missing from the zh-CN catalog would show in
    English on the default pages."""
    found = _messages()
    assert len(found) > 300  # the extraction sees the templates and the label maps
    with (WEB / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = {m.id: m.string for m in read_po(fh) if m.id}
    missing = {m: where for m, where in found.items() if not catalog.get(m)}
    assert not missing, f"add a msgstr to web/locale/zh_CN/LC_MESSAGES/messages.po: {missing}"
    placeholder = re.compile(r"%\(\w+\)s")
    for msgid in found:
        assert sorted(placeholder.findall(msgid)) == sorted(placeholder.findall(catalog[msgid])), (
            msgid)
