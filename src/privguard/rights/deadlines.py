"""When a data-subject request must be confirmed and answered, per jurisdiction (pure rules).

The law behind each default (docs/rights-deadlines.md):

- ``CN``: PIPL Art. 50 leaves the time to the handler; GB/T 35273-2020 8.7 says answer within
  30 days or as laws and regulations require. The platform default is **15 working days**: a
  configurable default, stricter than the standard's 30 days, counted on the official Chinese
  calendar (public holidays off, make-up working days 调休 on) so the officer's team really has
  the working days it is promised. No separate confirmation duty, no extension.
- ``EU``: GDPR Art. 12(3): without undue delay and in any event within one month of receipt,
  extendable by two further months (three in all) when the consumer is told why within the first
  month. "One month" is the same day number next month, clamped to that month's last day (31
  January -> 28 or 29 February). We do not move a deadline that falls on a weekend to the next
  working day, which some readings of Regulation 1182/71 allow: ours is never later.
- ``US-CA``: CCPA, Cal. Civ. Code 1798.130(a)(2) and Cal. Code Regs. tit. 11 s. 7021: confirm
  receipt within 10 business days, answer within 45 calendar days from the day of receipt
  (whatever verification takes), extendable once by 45 days (90 in all) with notice.

Everything here is a plain function over plain data with the time passed in (design.md
invariant 7): a deadline computed today and one recomputed in a test years later agree.

A deadline ends at 23:59:59.999999 of its due day in the jurisdiction's time zone (a consumer in
Shanghai reads "by 5 December" as the end of their 5 December) and is returned in UTC, the only
zone the store keeps. The day of receipt is also read in that zone: a request sent at 00:30 on a
Monday in Shanghai was received on Monday, though it was still Sunday in UTC.

Working days are asked of a :class:`WorkingCalendar`, so tests and other countries can bring
their own. China's comes from the ``chinese_calendar`` package, the maintained source that
carries the State Council's yearly make-up working days as well as the holidays; a year it does
not know yet falls back to Monday-Friday and says so through ``is_approximate`` instead of
crashing or warning. The US calendar is Monday-Friday without federal or state holidays: no
holiday package is a dependency, and leaving holidays in only ever makes a deadline earlier.
"""

from __future__ import annotations

import calendar as _monthcal
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from privguard.yaml_files import read_yaml_file

FORMAT_VERSION = 1
# Keys name a country (ISO 3166-1 alpha-2) or a subdivision (ISO 3166-2 style, "US-CA"), and
# fit the request table's jurisdiction column (8 characters).
JURISDICTION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
# A calendar that never yields a working day would make add_working_days loop for ever.
_MAX_SEARCH_DAYS = 366


# ---------------------------------------------------------------------------- periods


class Unit(StrEnum):
    CALENDAR_DAYS = "calendar_days"
    WORKING_DAYS = "working_days"
    MONTHS = "months"


class Period(NamedTuple):
    """An amount of time as the law states it: (15, working_days), (1, months)."""

    amount: int
    unit: Unit

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.value}"


@dataclass(frozen=True)
class DeadlinePolicy:
    """One jurisdiction's deadlines. ``confirm_within`` is None where the law asks for no
    separate confirmation of receipt; ``extension`` is None where no extension is allowed and is
    otherwise added on top of ``answer_within`` (GDPR: 1 + 2 months; CCPA: 45 + 45 days)."""

    answer_within: Period
    timezone: str
    basis: str  # the law, shown to the officer beside the date (design.md invariant 3)
    confirm_within: Period | None = None
    extension: Period | None = None


DEFAULT_POLICIES: Mapping[str, DeadlinePolicy] = MappingProxyType(
    {
        "CN": DeadlinePolicy(
            answer_within=Period(15, Unit.WORKING_DAYS),
            timezone="Asia/Shanghai",
            basis="PIPL Art. 50; GB/T 35273-2020 8.7 (30 days); platform default 15 working days",
        ),
        "EU": DeadlinePolicy(
            answer_within=Period(1, Unit.MONTHS),
            extension=Period(2, Unit.MONTHS),
            timezone="Europe/Brussels",
            basis="GDPR Art. 12(3)",
        ),
        "US-CA": DeadlinePolicy(
            confirm_within=Period(10, Unit.WORKING_DAYS),
            answer_within=Period(45, Unit.CALENDAR_DAYS),
            extension=Period(45, Unit.CALENDAR_DAYS),
            timezone="America/Los_Angeles",
            basis="CCPA, Cal. Civ. Code 1798.130(a)(2); Cal. Code Regs. tit. 11 s. 7021",
        ),
    }
)


# ---------------------------------------------------------------------------- calendars


class WorkingCalendar(Protocol):
    """Which days count as working days; the only thing deadline arithmetic needs to know."""

    def is_working_day(self, day: date) -> bool: ...


@runtime_checkable
class CoverageAware(Protocol):
    """A calendar that can tell when it is guessing. ``is_approximate(day)`` is True when the
    calendar has no official data for ``day``, so a count over it may end later than the
    official one (a missed make-up working day); the caller shows that, the rules never warn."""

    def is_approximate(self, day: date) -> bool: ...


def covered(year: int) -> bool:
    """Does the installed ``chinese_calendar`` know the official holidays of ``year``? The
    State Council publishes each year's schedule around November; upgrade the package then."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


class ChineseWorkingCalendar:
    """Official working days of mainland China: Monday-Friday minus public holidays, plus the
    make-up working days (调休) on weekends. Years the package does not cover count
    Monday-Friday and are reported by :meth:`is_approximate`."""

    def is_working_day(self, day: date) -> bool:
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            return day.weekday() < 5

    def is_approximate(self, day: date) -> bool:
        return not covered(day.year)


class WeekdayCalendar:
    """Monday-Friday. Used for US business days (CCPA) and any jurisdiction without a calendar
    of its own. Not approximate in the sense above: ignoring holidays can only make a count end
    earlier than the official one, never later."""

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5

    def is_approximate(self, day: date) -> bool:
        return False


def calendar_for(jurisdiction: str) -> WorkingCalendar:
    """The working calendar a jurisdiction uses unless the caller passes its own."""
    if jurisdiction == "CN":
        return ChineseWorkingCalendar()
    return WeekdayCalendar()


# ---------------------------------------------------------------------------- arithmetic


def add_working_days(day: date, n: int, calendar: WorkingCalendar) -> date:
    """The ``n``-th working day after ``day`` (``day`` itself never counts, working or not:
    the day of receipt is day zero). ``n == 0`` returns ``day``."""
    if n < 0:
        raise ValueError(f"cannot count {n} working days")
    current = day
    for _ in range(n):
        for _ in range(_MAX_SEARCH_DAYS):
            current += timedelta(days=1)
            if calendar.is_working_day(current):
                break
        else:
            raise ValueError(f"no working day within {_MAX_SEARCH_DAYS} days after {current}")
    return current


def add_months(day: date, n: int) -> date:
    """The same day number ``n`` months later, clamped to that month's last day."""
    if n < 0:
        raise ValueError(f"cannot add {n} months")
    index = day.month - 1 + n
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _monthcal.monthrange(year, month)[1]))


def add_period(day: date, period: Period, calendar: WorkingCalendar) -> date:
    if period.unit is Unit.CALENDAR_DAYS:
        return day + timedelta(days=period.amount)
    if period.unit is Unit.WORKING_DAYS:
        return add_working_days(day, period.amount, calendar)
    return add_months(day, period.amount)


# ---------------------------------------------------------------------------- deadlines


@dataclass(frozen=True)
class Deadlines:
    """The dates a request must meet, in UTC. ``approximate`` is True when a working-day count
    ran over days the calendar has no official data for (show it beside the date)."""

    jurisdiction: str
    received_on: date  # the day of receipt in the jurisdiction's time zone
    confirm_by: datetime | None
    answer_by: datetime
    extended_answer_by: datetime | None
    approximate: bool = False


class UnknownJurisdiction(KeyError):
    """No deadline policy for that jurisdiction; the message lists the known ones."""

    def __init__(self, jurisdiction: str, known: Mapping[str, object]) -> None:
        self.jurisdiction = jurisdiction
        super().__init__(
            f"no deadline policy for jurisdiction {jurisdiction!r}; "
            f"known: {', '.join(sorted(known))}"
        )

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def _end_of_day(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.max, tzinfo=zone).astimezone(UTC)


def _extended_day(
    received: date, policy: DeadlinePolicy, answer_day: date, calendar: WorkingCalendar
) -> date | None:
    ext = policy.extension
    if ext is None:
        return None
    answer = policy.answer_within
    if ext.unit is answer.unit:
        # Count the whole span from receipt: GDPR's "two further months" from 31 January end on
        # 30 April, not on 28 April as 31 Jan -> 28 Feb -> 28 Apr would.
        return add_period(received, Period(answer.amount + ext.amount, ext.unit), calendar)
    return add_period(answer_day, ext, calendar)


def due_dates(
    received_at: datetime,
    jurisdiction: str,
    policies: Mapping[str, DeadlinePolicy] = DEFAULT_POLICIES,
    calendar: WorkingCalendar | None = None,
) -> Deadlines:
    """The deadlines of a request received at ``received_at`` (timezone-aware) under
    ``jurisdiction``'s policy. ``calendar`` defaults to :func:`calendar_for` the jurisdiction."""
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware (store and pass UTC)")
    policy = policies.get(jurisdiction)
    if policy is None:
        raise UnknownJurisdiction(jurisdiction, policies)
    cal = calendar if calendar is not None else calendar_for(jurisdiction)
    zone = ZoneInfo(policy.timezone)
    received = received_at.astimezone(zone).date()

    confirm_day = (
        add_period(received, policy.confirm_within, cal)
        if policy.confirm_within is not None
        else None
    )
    answer_day = add_period(received, policy.answer_within, cal)
    extended_day = _extended_day(received, policy, answer_day, cal)

    approximate = False
    periods = (policy.confirm_within, policy.answer_within, policy.extension)
    if isinstance(cal, CoverageAware) and any(
        p is not None and p.unit is Unit.WORKING_DAYS for p in periods
    ):
        last = max(d for d in (confirm_day, answer_day, extended_day) if d is not None)
        span = (received + timedelta(days=i) for i in range((last - received).days + 1))
        approximate = any(cal.is_approximate(d) for d in span)

    return Deadlines(
        jurisdiction=jurisdiction,
        received_on=received,
        confirm_by=_end_of_day(confirm_day, zone) if confirm_day is not None else None,
        answer_by=_end_of_day(answer_day, zone),
        extended_answer_by=(_end_of_day(extended_day, zone) if extended_day is not None else None),
        approximate=approximate,
    )


# ---------------------------------------------------------------------------- urgency


class Urgency(StrEnum):
    OK = "ok"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


class HasDeadlines(Protocol):
    """Anything carrying the three dates: :class:`Deadlines`, or a stored request row."""

    @property
    def confirm_by(self) -> datetime | None: ...
    @property
    def answer_by(self) -> datetime: ...
    @property
    def extended_answer_by(self) -> datetime | None: ...


def next_deadline(
    deadlines: HasDeadlines, *, confirmed: bool = False, extended: bool = False
) -> datetime:
    """The deadline the request must meet next. A receipt not yet confirmed is due first where
    the law asks for confirmation; the answer is due at the extended date only once the
    extension was taken (the consumer was told why), never by default."""
    answer = deadlines.answer_by
    if extended and deadlines.extended_answer_by is not None:
        answer = deadlines.extended_answer_by
    if not confirmed and deadlines.confirm_by is not None:
        return min(deadlines.confirm_by, answer)
    return answer


def urgency(
    deadlines: HasDeadlines,
    now: datetime,
    warn_within: timedelta = timedelta(days=3),
    *,
    confirmed: bool = False,
    extended: bool = False,
) -> Urgency:
    """``overdue`` once ``now`` is past the next deadline, ``due_soon`` when it is at most
    ``warn_within`` away, ``ok`` otherwise. Both flags default to the stricter reading, so a
    caller that does not track them over-warns rather than lets a deadline pass unseen."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    due = next_deadline(deadlines, confirmed=confirmed, extended=extended)
    if now > due:
        return Urgency.OVERDUE
    if due - now <= warn_within:
        return Urgency.DUE_SOON
    return Urgency.OK


# ---------------------------------------------------------------------------- configuration


class DeadlineConfigError(ValueError):
    """The deadlines YAML is invalid; the message names the file, the key and the problem."""


_POLICY_KEYS = {"confirm_within", "answer_within", "extension", "timezone", "basis"}
_PERIOD_TEXT = re.compile(r"^\s*(\d+)\s+([a-z_]+)\s*$")


def _fail(source: str, where: str, problem: str) -> DeadlineConfigError:
    return DeadlineConfigError(f"rights deadlines {source}, {where}: {problem}")


def _period(raw: Any, source: str, where: str, *, optional: bool) -> Period | None:
    if raw is None and optional:
        return None
    units = ", ".join(u.value for u in Unit)
    match = _PERIOD_TEXT.match(raw) if isinstance(raw, str) else None
    if match is None or match.group(2) not in {u.value for u in Unit}:
        raise _fail(
            source,
            where,
            f"must be '<amount> <unit>' with unit one of {units} (e.g. '15 working_days')"
            + (" or null" if optional else "")
            + f"; got {raw!r}",
        )
    amount = int(match.group(1))
    if not 1 <= amount <= 366:
        raise _fail(source, where, f"amount must be from 1 to 366; got {amount}")
    return Period(amount, Unit(match.group(2)))


def _timezone(raw: Any, source: str, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _fail(source, where, "must be an IANA time zone name like Asia/Shanghai")
    try:
        ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(source, where, f"unknown time zone {raw!r}") from None
    return raw.strip()


def parse_deadline_policies(
    doc: Any, source: str, defaults: Mapping[str, DeadlinePolicy] = DEFAULT_POLICIES
) -> dict[str, DeadlinePolicy]:
    """Apply an override document to ``defaults``. Keys given for a known jurisdiction replace
    just those keys; a new jurisdiction must give ``answer_within`` and ``timezone``."""
    if not isinstance(doc, dict):
        raise _fail(source, "file", "must be a mapping with a 'jurisdictions' key")
    unknown = set(doc) - {"version", "jurisdictions"}
    if unknown:
        raise _fail(source, "file", f"unknown keys {sorted(map(str, unknown))}")
    if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise _fail(source, "version", f"must be {FORMAT_VERSION}")
    raw_all = doc.get("jurisdictions")
    if not isinstance(raw_all, dict) or not raw_all:
        raise _fail(
            source,
            "jurisdictions",
            "must map jurisdiction codes (CN, EU, US-CA) to their deadlines",
        )

    policies = dict(defaults)
    for key, raw in raw_all.items():
        where = f"jurisdictions.{key}"
        if not isinstance(key, str) or not JURISDICTION.match(key):
            raise _fail(source, where, "must be a code like CN, EU or US-CA")
        if not isinstance(raw, dict):
            raise _fail(source, where, f"must be a mapping of {sorted(_POLICY_KEYS)}")
        bad = set(raw) - _POLICY_KEYS
        if bad:
            raise _fail(source, where, f"unknown keys {sorted(map(str, bad))}")
        base = policies.get(key)
        if base is None:
            missing = {"answer_within", "timezone"} - set(raw)
            if missing:
                raise _fail(source, where, f"a new jurisdiction needs {sorted(missing)}")
            base = DeadlinePolicy(
                answer_within=Period(1, Unit.CALENDAR_DAYS), timezone="UTC", basis=""
            )
        changes: dict[str, Any] = {}
        if "answer_within" in raw:
            changes["answer_within"] = _period(
                raw["answer_within"], source, f"{where}.answer_within", optional=False
            )
        for name in ("confirm_within", "extension"):
            if name in raw:
                changes[name] = _period(raw[name], source, f"{where}.{name}", optional=True)
        if "timezone" in raw:
            changes["timezone"] = _timezone(raw["timezone"], source, f"{where}.timezone")
        if "basis" in raw:
            if not isinstance(raw["basis"], str):
                raise _fail(source, f"{where}.basis", "must be text naming the law")
            changes["basis"] = " ".join(raw["basis"].split())
        elif key not in defaults:
            changes["basis"] = f"set in {source}"
        elif changes:
            # A changed deadline no longer rests on the shipped basis alone: say who set it.
            changes["basis"] = f"{base.basis}; overridden in {source}"
        policies[key] = replace(base, **changes)
    return policies


def load_deadline_policies(path: Path | str | None) -> dict[str, DeadlinePolicy]:
    """The defaults, with the overrides of the YAML at ``path`` (PRIVGUARD_RIGHTS_DEADLINES)
    applied; ``None`` means the defaults. Any problem raises :class:`DeadlineConfigError`
    naming the key, so a typo stops start-up instead of silently changing a legal deadline."""
    if path is None:
        return dict(DEFAULT_POLICIES)
    source = str(path)
    doc = read_yaml_file(path, "rights deadlines", DeadlineConfigError)
    return parse_deadline_policies(doc, source)
