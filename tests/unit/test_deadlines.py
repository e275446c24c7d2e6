"""Deadlines of data-subject requests (rights/deadlines.py; docs/rights-deadlines.md).

A deadline that is a day late is a breach, one that is a day early costs the officer's team a
day: each case below states the expected date explicitly, worked out by hand from the official
calendar, rather than recomputing it the way the code does.

- CN: PIPL Art. 50 and GB/T 35273-2020 8.7 (30 days, or as laws require); the platform default
  is 15 working days on the official calendar, holidays off and make-up working days (调休) on.
  The 2025 and 2026 dates come from the State Council's notices as carried by the
  chinese_calendar package; the tests check the package says so before relying on it.
- EU: GDPR Art. 12(3): one month, extendable by two further months.
- US-CA: CCPA (Cal. Civ. Code 1798.130; Cal. Code Regs. tit. 11 s. 7021): confirm within 10
  business days, answer within 45 calendar days, extendable once by 45.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from privguard.config import load_settings
from privguard.rights.deadlines import (
    DEFAULT_POLICIES,
    ChineseWorkingCalendar,
    DeadlineConfigError,
    DeadlinePolicy,
    Deadlines,
    Period,
    Unit,
    UnknownJurisdiction,
    Urgency,
    WeekdayCalendar,
    add_months,
    add_working_days,
    calendar_for,
    covered,
    due_dates,
    load_deadline_policies,
    next_deadline,
    urgency,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BRUSSELS = ZoneInfo("Europe/Brussels")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
CN = ChineseWorkingCalendar()
# A year no release of chinese_calendar will cover while this code is in use.
UNCOVERED_YEAR = 2099


def end_of_day_utc(day: date, zone: ZoneInfo) -> datetime:
    """23:59:59.999999 local on ``day``, in UTC: how every deadline is returned."""
    return datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=zone).astimezone(
        UTC
    )


# ---------------------------------------------------------------------- the Chinese calendar


def test_package_carries_the_official_2025_and_2026_schedules() -> None:
    """The facts the CN cases rely on, as published by the State Council (国务院办公厅关于
    2025年/2026年部分节假日安排的通知) and shipped in chinese_calendar >= 1.11."""
    holidays = [
        *(date(2025, 10, d) for d in range(1, 9)),  # National Day + Mid-Autumn, 1-8 Oct 2025
        *(date(2026, 2, d) for d in range(15, 24)),  # Spring Festival, 15-23 Feb 2026
    ]
    make_up = [
        date(2025, 9, 28),  # Sunday
        date(2025, 10, 11),  # Saturday
        date(2026, 2, 14),  # Saturday
        date(2026, 2, 28),  # Saturday
    ]
    assert all(chinese_calendar.is_holiday(d) for d in holidays)
    assert all(d.weekday() >= 5 and chinese_calendar.is_workday(d) for d in make_up)
    assert all(not CN.is_working_day(d) for d in holidays)
    assert all(CN.is_working_day(d) for d in make_up)
    assert covered(2025) and covered(2026)


def test_add_working_days_lands_on_a_make_up_saturday() -> None:
    # Friday 10 October 2025 -> the next working day is Saturday 11 October (调休), not Monday.
    assert add_working_days(date(2025, 10, 10), 1, CN) == date(2025, 10, 11)
    assert add_working_days(date(2025, 10, 10), 1, WeekdayCalendar()) == date(2025, 10, 13)


def test_add_working_days_skips_the_national_day_week() -> None:
    # Tuesday 30 Sep 2025 -> 1-8 Oct are off -> Thursday 9 Oct is the first working day.
    assert add_working_days(date(2025, 9, 30), 1, CN) == date(2025, 10, 9)
    assert add_working_days(date(2025, 9, 30), 0, CN) == date(2025, 9, 30)
    with pytest.raises(ValueError):
        add_working_days(date(2025, 9, 30), -1, CN)


def test_cn_default_stays_within_gb_t_35273_30_days() -> None:
    """15 working days is a stricter default than GB/T 35273-2020 8.7's 30 days: over every
    receipt day of 2025 and 2026, holidays included, it never ends more than 29 days later."""
    start = date(2025, 1, 1)
    spans = [
        (add_working_days(day, 15, CN) - day).days
        for day in (start + timedelta(days=i) for i in range(730))
    ]
    assert max(spans) <= 29


def test_cn_request_just_before_national_day_2025() -> None:
    """Received Tuesday 30 Sep 2025. Working days after it: 9, 10, 11 (make-up Saturday), 13-17,
    20-24, 27, 28 October: the 15th is Tuesday 28 October."""
    d = due_dates(datetime(2025, 9, 30, 10, 0, tzinfo=SHANGHAI), "CN")
    assert d.received_on == date(2025, 9, 30)
    assert d.answer_by == end_of_day_utc(date(2025, 10, 28), SHANGHAI)
    assert d.answer_by == datetime(2025, 10, 28, 15, 59, 59, 999999, tzinfo=UTC)
    assert d.confirm_by is None and d.extended_answer_by is None
    assert d.approximate is False


def test_cn_request_before_spring_festival_2026() -> None:
    """Received Friday 13 Feb 2026. Working days: 14 Feb (make-up Saturday), 24-27 Feb,
    28 Feb (make-up Saturday), 2-6 Mar, 9-12 Mar: the 15th is Thursday 12 March."""
    d = due_dates(datetime(2026, 2, 13, 17, 45, tzinfo=SHANGHAI), "CN")
    assert d.answer_by == end_of_day_utc(date(2026, 3, 12), SHANGHAI)
    assert d.approximate is False


def test_cn_request_received_on_a_make_up_saturday() -> None:
    """Received Saturday 11 Oct 2025, a working day: it is day zero like any other receipt day;
    13-17, 20-24, 27-31 October follow, so the 15th is Friday 31 October."""
    d = due_dates(datetime(2025, 10, 11, 9, 0, tzinfo=SHANGHAI), "CN")
    assert d.received_on == date(2025, 10, 11)
    assert d.answer_by == end_of_day_utc(date(2025, 10, 31), SHANGHAI)


def test_cn_friday_2330_in_shanghai() -> None:
    """23:30 on Friday 14 Nov 2025 in Shanghai is 15:30 UTC: still Friday, day zero. The 15th
    working day is Friday 5 December, ending 15:59:59.999999 UTC."""
    received = datetime(2025, 11, 14, 23, 30, tzinfo=SHANGHAI)
    assert received.astimezone(UTC) == datetime(2025, 11, 14, 15, 30, tzinfo=UTC)
    d = due_dates(received.astimezone(UTC), "CN")
    assert d.received_on == date(2025, 11, 14)
    assert d.answer_by == datetime(2025, 12, 5, 15, 59, 59, 999999, tzinfo=UTC)


def test_cn_day_of_receipt_is_read_in_shanghai_not_utc() -> None:
    """00:30 Monday 17 Nov 2025 in Shanghai is still Sunday in UTC. Counting from Sunday would
    end on Friday 5 December; counting from Monday, as the consumer sees it, ends Monday 8."""
    received = datetime(2025, 11, 16, 16, 30, tzinfo=UTC)
    d = due_dates(received, "CN")
    assert d.received_on == date(2025, 11, 17)
    assert d.answer_by == end_of_day_utc(date(2025, 12, 8), SHANGHAI)


def test_naive_received_at_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_dates(datetime(2025, 11, 14, 12, 0), "CN")


def test_unknown_jurisdiction_names_the_known_ones() -> None:
    with pytest.raises(UnknownJurisdiction, match=r"'JP'; known: CN, EU, US-CA"):
        due_dates(datetime(2025, 1, 1, tzinfo=UTC), "JP")


# ---------------------------------------------------------------------- uncovered years


def test_uncovered_year_falls_back_to_weekdays_without_crashing() -> None:
    assert not covered(UNCOVERED_YEAR)
    with pytest.raises(NotImplementedError):  # what the package itself does
        chinese_calendar.is_workday(date(UNCOVERED_YEAR, 3, 2))
    saturday = date(UNCOVERED_YEAR, 3, 7)
    assert saturday.weekday() == 5
    assert CN.is_working_day(date(UNCOVERED_YEAR, 3, 6)) is True  # Friday
    assert CN.is_working_day(saturday) is False
    assert CN.is_approximate(saturday) is True
    assert CN.is_approximate(date(2025, 10, 11)) is False


def test_uncovered_year_deadline_is_flagged_approximate() -> None:
    """Monday 2 March 2099: Monday-Friday only, 15 working days -> Monday 23 March, flagged."""
    d = due_dates(datetime(UNCOVERED_YEAR, 3, 2, 10, 0, tzinfo=SHANGHAI), "CN")
    assert d.answer_by == end_of_day_utc(date(UNCOVERED_YEAR, 3, 23), SHANGHAI)
    assert d.approximate is True


def test_a_count_crossing_into_an_uncovered_year_is_flagged() -> None:
    class UpTo2025:
        """A test calendar that knows 2025 only."""

        def is_working_day(self, day: date) -> bool:
            return day.weekday() < 5

        def is_approximate(self, day: date) -> bool:
            return day.year > 2025

    late = due_dates(datetime(2025, 12, 22, 10, 0, tzinfo=SHANGHAI), "CN", calendar=UpTo2025())
    early = due_dates(datetime(2025, 11, 3, 10, 0, tzinfo=SHANGHAI), "CN", calendar=UpTo2025())
    assert late.approximate is True
    assert early.approximate is False


def test_calendar_without_working_days_stops_instead_of_looping() -> None:
    class Never:
        def is_working_day(self, day: date) -> bool:
            return False

    with pytest.raises(ValueError, match="no working day"):
        add_working_days(date(2025, 1, 1), 1, Never())


def test_calendars_per_jurisdiction() -> None:
    assert isinstance(calendar_for("CN"), ChineseWorkingCalendar)
    assert isinstance(calendar_for("US-CA"), WeekdayCalendar)
    assert isinstance(calendar_for("EU"), WeekdayCalendar)


# ---------------------------------------------------------------------- GDPR


def test_add_months_clamps_to_the_last_day() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)  # leap year
    assert add_months(date(2025, 3, 31), 1) == date(2025, 4, 30)
    assert add_months(date(2025, 12, 15), 1) == date(2026, 1, 15)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)


def test_gdpr_31_january_is_due_end_of_february() -> None:
    d = due_dates(datetime(2025, 1, 31, 10, 0, tzinfo=BRUSSELS), "EU")
    assert d.answer_by == end_of_day_utc(date(2025, 2, 28), BRUSSELS)
    assert d.answer_by == datetime(2025, 2, 28, 22, 59, 59, 999999, tzinfo=UTC)  # CET
    # Two further months count from receipt: 30 April, not 28 April (CEST by then).
    assert d.extended_answer_by == datetime(2025, 4, 30, 21, 59, 59, 999999, tzinfo=UTC)
    assert d.confirm_by is None


def test_gdpr_leap_year() -> None:
    d = due_dates(datetime(2024, 1, 31, 10, 0, tzinfo=BRUSSELS), "EU")
    assert d.answer_by == end_of_day_utc(date(2024, 2, 29), BRUSSELS)


def test_gdpr_day_of_receipt_in_brussels() -> None:
    # 23:30 UTC on 31 January is 00:30 on 1 February in Brussels: due 1 March.
    d = due_dates(datetime(2025, 1, 31, 23, 30, tzinfo=UTC), "EU")
    assert d.received_on == date(2025, 2, 1)
    assert d.answer_by == end_of_day_utc(date(2025, 3, 1), BRUSSELS)


# ---------------------------------------------------------------------- CCPA


def test_ccpa_confirm_in_10_business_days_answer_in_45_calendar_days() -> None:
    """Received Monday 3 Nov 2025 in California. Business days (Monday-Friday): 4-7, 10-14, 17
    November, so confirm by Monday 17 November. (With federal holidays, Veterans Day on 11
    November would push it to the 18th: counting it as a business day errs early, never late.)
    45 calendar days: Thursday 18 December; extended by 45: Sunday 1 February 2026."""
    d = due_dates(datetime(2025, 11, 3, 9, 0, tzinfo=LOS_ANGELES), "US-CA")
    assert d.confirm_by == end_of_day_utc(date(2025, 11, 17), LOS_ANGELES)
    assert d.answer_by == end_of_day_utc(date(2025, 12, 18), LOS_ANGELES)
    assert d.answer_by == datetime(2025, 12, 19, 7, 59, 59, 999999, tzinfo=UTC)  # PST
    assert d.extended_answer_by == end_of_day_utc(date(2026, 2, 1), LOS_ANGELES)
    assert d.approximate is False


def test_ccpa_friday_evening_in_los_angeles_is_still_friday() -> None:
    # 23:30 Friday 6 June 2025 PDT is 06:30 Saturday UTC; day zero is Friday 6 June.
    received = datetime(2025, 6, 7, 6, 30, tzinfo=UTC)
    d = due_dates(received, "US-CA")
    assert d.received_on == date(2025, 6, 6)
    assert d.confirm_by == end_of_day_utc(date(2025, 6, 20), LOS_ANGELES)
    assert d.answer_by == end_of_day_utc(date(2025, 7, 21), LOS_ANGELES)
    assert d.answer_by == datetime(2025, 7, 22, 6, 59, 59, 999999, tzinfo=UTC)  # PDT


def test_a_caller_can_bring_its_own_calendar() -> None:
    class HolidayOnThe4th:
        def is_working_day(self, day: date) -> bool:
            return day.weekday() < 5 and day != date(2025, 11, 4)

    d = due_dates(
        datetime(2025, 11, 3, 9, 0, tzinfo=LOS_ANGELES), "US-CA", calendar=HolidayOnThe4th()
    )
    assert d.confirm_by == end_of_day_utc(date(2025, 11, 18), LOS_ANGELES)
    assert d.approximate is False  # the calendar does not report coverage


# ---------------------------------------------------------------------- urgency


NOW = datetime(2025, 12, 1, 12, 0, tzinfo=UTC)


def deadlines(answer_in: timedelta, confirm_in: timedelta | None = None) -> Deadlines:
    return Deadlines(
        jurisdiction="US-CA",
        received_on=date(2025, 11, 1),
        confirm_by=NOW + confirm_in if confirm_in is not None else None,
        answer_by=NOW + answer_in,
        extended_answer_by=NOW + answer_in + timedelta(days=45),
    )


def test_urgency_thresholds() -> None:
    assert urgency(deadlines(timedelta(days=3, seconds=1)), NOW) == Urgency.OK
    assert urgency(deadlines(timedelta(days=3)), NOW) == "due_soon"  # the edge warns
    assert urgency(deadlines(timedelta(0)), NOW) == "due_soon"  # the last microsecond counts
    assert urgency(deadlines(-timedelta(microseconds=1)), NOW) == "overdue"
    assert urgency(deadlines(timedelta(days=5)), NOW, warn_within=timedelta(days=7)) == "due_soon"


def test_urgency_unconfirmed_receipt_comes_first() -> None:
    d = deadlines(timedelta(days=30), confirm_in=timedelta(days=-1))
    assert urgency(d, NOW) == "overdue"
    assert urgency(d, NOW, confirmed=True) == "ok"
    assert next_deadline(d, confirmed=True) == d.answer_by


def test_urgency_extension_only_once_taken() -> None:
    d = deadlines(-timedelta(days=1))
    assert urgency(d, NOW, confirmed=True) == "overdue"
    assert urgency(d, NOW, confirmed=True, extended=True) == "ok"
    cn = due_dates(datetime(2025, 11, 3, tzinfo=SHANGHAI), "CN")  # no extension in CN
    assert next_deadline(cn, extended=True) == cn.answer_by


def test_urgency_takes_a_stored_row_and_refuses_naive_now() -> None:
    class Row:  # what the request table carries
        confirm_by = None
        answer_by = NOW + timedelta(days=1)
        extended_answer_by = None

    assert urgency(Row(), NOW) == "due_soon"
    with pytest.raises(ValueError, match="timezone-aware"):
        urgency(Row(), NOW.replace(tzinfo=None))


# ---------------------------------------------------------------------- configuration


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deadlines.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_path_means_the_defaults() -> None:
    policies = load_deadline_policies(None)
    assert policies == dict(DEFAULT_POLICIES)
    assert policies["CN"].answer_within == Period(15, Unit.WORKING_DAYS)
    assert policies["EU"].extension == (2, "months")


def test_override_replaces_only_the_keys_given(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
version: 1
jurisdictions:
  CN:
    answer_within: 10 working_days
    confirm_within: 2 working_days
  US-VA:
    timezone: America/New_York
    answer_within: 45 calendar_days
    extension: 45 calendar_days
    basis: Virginia CDPA s. 59.1-577
""",
    )
    policies = load_deadline_policies(path)
    cn = policies["CN"]
    assert cn.answer_within == Period(10, Unit.WORKING_DAYS)
    assert cn.confirm_within == Period(2, Unit.WORKING_DAYS)
    assert cn.timezone == "Asia/Shanghai" and cn.extension is None
    assert "overridden in" in cn.basis and str(path) in cn.basis
    assert policies["EU"] == DEFAULT_POLICIES["EU"]
    assert policies["US-VA"] == DeadlinePolicy(
        answer_within=Period(45, Unit.CALENDAR_DAYS),
        extension=Period(45, Unit.CALENDAR_DAYS),
        timezone="America/New_York",
        basis="Virginia CDPA s. 59.1-577",
    )
    # Tuesday 30 Sep 2025: working days 9, 10, 11 (make-up Saturday), 13-17, 20, 21 October,
    # so 2 working days end on 10 October and 10 on 21 October.
    d = due_dates(datetime(2025, 9, 30, 10, 0, tzinfo=SHANGHAI), "CN", policies)
    assert d.answer_by == end_of_day_utc(date(2025, 10, 21), SHANGHAI)
    assert d.confirm_by == end_of_day_utc(date(2025, 10, 10), SHANGHAI)


def test_extension_can_be_switched_off(tmp_path: Path) -> None:
    path = write(tmp_path, "jurisdictions:\n  EU:\n    extension: null\n")
    assert load_deadline_policies(path)["EU"].extension is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "jurisdictions:\n  CN:\n    answer_within: 15 days\n",
            r"jurisdictions\.CN\.answer_within: must be '<amount> <unit>' with unit one of "
            r"calendar_days, working_days, months .*got '15 days'",
        ),
        (
            "jurisdictions:\n  CN:\n    answer_within: 15\n",
            r"jurisdictions\.CN\.answer_within: must be '<amount> <unit>'",
        ),
        (
            "jurisdictions:\n  CN:\n    answer_within: null\n",
            r"jurisdictions\.CN\.answer_within: must be .*got None",
        ),
        (
            "jurisdictions:\n  EU:\n    extension: 0 months\n",
            r"jurisdictions\.EU\.extension: amount must be from 1 to 366; got 0",
        ),
        (
            "jurisdictions:\n  EU:\n    timezone: Europe/Atlantis\n",
            r"jurisdictions\.EU\.timezone: unknown time zone 'Europe/Atlantis'",
        ),
        (
            "jurisdictions:\n  EU:\n    answer_in: 1 months\n",
            r"jurisdictions\.EU: unknown keys \['answer_in'\]",
        ),
        (
            "jurisdictions:\n  JP:\n    answer_within: 30 calendar_days\n",
            r"jurisdictions\.JP: a new jurisdiction needs \['timezone'\]",
        ),
        (
            "jurisdictions:\n  california:\n    answer_within: 45 calendar_days\n",
            r"jurisdictions\.california: must be a code like CN, EU or US-CA",
        ),
        ("jurisdictions:\n  CN: 15\n", r"jurisdictions\.CN: must be a mapping"),
        ("jurisdictions: {}\n", r"jurisdictions: must map jurisdiction codes"),
        ("CN:\n  answer_within: 10 working_days\n", r"file: unknown keys \['CN'\]"),
        ("version: 2\njurisdictions:\n  CN: {}\n", r"version: must be 1"),
        ("", r"file: must be a mapping"),
        ("jurisdictions: [CN\n", r"not valid YAML"),
    ],
)
def test_override_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DeadlineConfigError, match=message) as info:
        load_deadline_policies(path)
    assert str(path) in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(DeadlineConfigError, match=r"nope\.yaml: cannot read"):
        load_deadline_policies(path)


def test_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PRIVGUARD_RIGHTS_DEADLINES", raising=False)
    monkeypatch.delenv("PRIVGUARD_DEFAULT_JURISDICTION", raising=False)
    settings = load_settings()
    assert settings.rights_deadlines is None
    assert settings.default_jurisdiction == "CN"

    path = write(tmp_path, "jurisdictions:\n  EU:\n    extension: null\n")
    monkeypatch.setenv("PRIVGUARD_RIGHTS_DEADLINES", str(path))
    monkeypatch.setenv("PRIVGUARD_DEFAULT_JURISDICTION", "EU")
    settings = load_settings()
    assert settings.rights_deadlines == path
    assert settings.default_jurisdiction == "EU"
    assert load_deadline_policies(settings.rights_deadlines)["EU"].extension is None
