"""Security incidents, the pure part: notification deadlines, the affected set, and the drafts of
the notifications to the authority and to each affected consumer.

The law behind each default (docs/anomalies-and-incidents.md; configurable in incidents.yaml):

- ``CN``: PIPL Art. 57 asks for immediate remedy and notice to the authority and the individuals
  ("立即"). It names no hours; the platform default for the authority is **4 hours from
  discovery**, the latest time the CAC's Measures for Reporting National Cybersecurity Incidents
  (2025) Art. 4 allow operators that are not critical infrastructure (1 hour for those). For
  individuals the platform default is 72 hours.
- ``EU``: GDPR Art. 33(1): the supervisory authority within 72 hours of becoming aware; Art. 34:
  the individuals without undue delay when the risk to them is high (no fixed period).

Every notification carries what PIPL Art. 57 lists: the kinds of personal information, the
cause, the possible harm, the remedial measures taken, what the individual can do, and the
contact. The authority's also says how many people and records, as GDPR Art. 33(3) asks. A
consumer's draft is addressed by subject id and channel and names only the kinds of their own
information that were affected: nothing they do not already know.

Everything here is a plain function of plain data with the time passed in (design.md
invariant 7); the service (cases/incidents.py) gathers the data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from privguard.policy.rules import VIEW_RANK, View
from privguard.yaml_files import parse_yaml, read_yaml_file

FORMAT_VERSION = 1
LOCALES = ("zh-CN", "en")
JURISDICTION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_PERIOD = re.compile(r"^\s*(\d+)\s+(minutes|hours|days)\s*$")

Text = Mapping[str, str]  # locale -> text


class Individuals(StrEnum):
    """Whether the affected consumers are told (PIPL Art. 57 para. 2: a handler whose measures
    effectively prevent harm may decide not to, and must be able to show why)."""

    PENDING = "pending"
    NOTIFIED = "notified"
    NOT_NOTIFIED = "not_notified"


class EventKind(StrEnum):
    OPENED = "opened"
    ALERT_ATTACHED = "alert_attached"
    AFFECTED_COMPUTED = "affected_computed"
    ACTION = "action"  # a remedial measure
    AUTHORITY_NOTIFIED = "authority_notified"
    INDIVIDUALS_NOTIFIED = "individuals_notified"
    NO_NOTIFY = "no_notify"


# ---------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class NotifyPolicy:
    """One jurisdiction's notification duties; ``individuals_within`` None means "without
    undue delay", with no fixed period."""

    authority: Text
    authority_within: timedelta
    individuals_within: timedelta | None
    timezone: str
    basis: str


@dataclass(frozen=True)
class IncidentConfig:
    jurisdictions: Mapping[str, NotifyPolicy]
    categories: Mapping[str, Text]
    channels: Mapping[str, Text]
    harm: Mapping[str, Text]  # Fides category prefix (or "default") -> text
    advice: Mapping[str, Text]
    rights: Text
    source: str


class IncidentConfigError(ValueError):
    """The incident YAML is invalid; the message names the file, the key and the problem."""


def _fail(source: str, where: str, problem: str) -> IncidentConfigError:
    return IncidentConfigError(f"incident config {source}, {where}: {problem}")


def parse_period(raw: Any, source: str, where: str) -> timedelta:
    match = _PERIOD.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise _fail(source, where, f"must be '<n> minutes|hours|days' like '72 hours'; got {raw!r}")
    amount = int(match.group(1))
    if amount < 1:
        raise _fail(source, where, "must be at least 1")
    return timedelta(**{match.group(2): amount})


def _text(raw: Any, source: str, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or any(
        not isinstance(raw.get(loc), str) or not raw[loc].strip() for loc in LOCALES
    ):
        raise _fail(source, where, f"must give a text for each of {', '.join(LOCALES)}")
    return {loc: " ".join(raw[loc].split()) for loc in LOCALES}


def _texts(raw: Any, source: str, where: str) -> dict[str, dict[str, str]]:
    if not isinstance(raw, dict):
        raise _fail(source, where, "must be a mapping of keys to texts")
    return {str(k): _text(v, source, f"{where}.{k}") for k, v in raw.items()}


_POLICY_KEYS = {"authority", "authority_within", "individuals_within", "timezone", "basis"}


def _policy(raw: Any, base: NotifyPolicy | None, source: str, where: str) -> NotifyPolicy:
    if not isinstance(raw, dict):
        raise _fail(source, where, f"must be a mapping of {sorted(_POLICY_KEYS)}")
    unknown = set(raw) - _POLICY_KEYS
    if unknown:
        raise _fail(source, where, f"unknown keys {sorted(map(str, unknown))}")
    if base is None:
        missing = {"authority", "authority_within", "timezone"} - set(raw)
        if missing:
            raise _fail(source, where, f"a new jurisdiction needs {sorted(missing)}")
        base = NotifyPolicy({}, timedelta(hours=72), None, "UTC", f"set in {source}")
    changes: dict[str, Any] = {}
    if "authority" in raw:
        changes["authority"] = _text(raw["authority"], source, f"{where}.authority")
    if "authority_within" in raw:
        changes["authority_within"] = parse_period(
            raw["authority_within"], source, f"{where}.authority_within"
        )
    if "individuals_within" in raw:
        value = raw["individuals_within"]
        changes["individuals_within"] = (
            None if value is None else parse_period(value, source, f"{where}.individuals_within")
        )
    if "timezone" in raw:
        try:
            ZoneInfo(str(raw["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise _fail(
                source, f"{where}.timezone", f"unknown time zone {raw['timezone']!r}"
            ) from None
        changes["timezone"] = str(raw["timezone"])
    if "basis" in raw:
        if not isinstance(raw["basis"], str) or not raw["basis"].strip():
            raise _fail(source, f"{where}.basis", "must be text naming the law")
        changes["basis"] = " ".join(raw["basis"].split())
    elif changes and base.basis and not base.basis.startswith("set in"):
        changes["basis"] = f"{base.basis}; overridden in {source}"
    return replace(base, **changes)


def parse_incident_config(
    doc: Any, source: str, defaults: IncidentConfig | None = None
) -> IncidentConfig:
    """The shipped file (``defaults`` None: every section required) or an override of it."""
    if not isinstance(doc, dict):
        raise _fail(source, "file", "must be a mapping")
    sections = {"jurisdictions", "categories", "channels", "harm", "advice", "rights"}
    unknown = set(doc) - sections - {"version"}
    if unknown:
        raise _fail(source, "file", f"unknown keys {sorted(map(str, unknown))}")
    if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise _fail(source, "version", f"must be {FORMAT_VERSION}")
    if defaults is None:
        missing = sections - set(doc)
        if missing:
            raise _fail(source, "file", f"missing {sorted(missing)}")
    jurisdictions = dict(defaults.jurisdictions) if defaults else {}
    raw_j = doc.get("jurisdictions", {})
    if not isinstance(raw_j, dict):
        raise _fail(source, "jurisdictions", "must map jurisdiction codes (CN, EU) to duties")
    for key, raw in raw_j.items():
        where = f"jurisdictions.{key}"
        if not isinstance(key, str) or not JURISDICTION.match(key):
            raise _fail(source, where, "must be a code like CN, EU or US-CA")
        jurisdictions[key] = _policy(raw, jurisdictions.get(key), source, where)
    if not jurisdictions:
        raise _fail(source, "jurisdictions", "must name at least one jurisdiction")

    def merged(name: str) -> dict[str, dict[str, str]]:
        base = dict(getattr(defaults, name)) if defaults else {}
        if name in doc:
            base.update(_texts(doc[name], source, name))
        return base

    harm, advice = merged("harm"), merged("advice")
    for name, texts in (("harm", harm), ("advice", advice)):
        if "default" not in texts:
            raise _fail(source, name, "must have a 'default' text")
    categories = merged("categories")
    if not categories:
        raise _fail(source, "categories", "must name at least one kind of incident")
    channels = merged("channels")
    if not channels:
        raise _fail(source, "channels", "must name at least one channel")
    rights = _text(doc["rights"], source, "rights") if "rights" in doc else None
    if rights is None:
        assert defaults is not None
        rights = dict(defaults.rights)
    return IncidentConfig(
        jurisdictions=jurisdictions,
        categories=categories,
        channels=channels,
        harm=harm,
        advice=advice,
        rights=rights,
        source=source,
    )


def _shipped() -> IncidentConfig:
    from importlib import resources

    text = resources.files("privguard.cases").joinpath("incidents.yaml").read_text("utf-8")
    return parse_incident_config(parse_yaml(text), "privguard/cases/incidents.yaml")


def load_incident_config(path: Path | str | None) -> IncidentConfig:
    """The shipped incidents.yaml with the overrides of the YAML at ``path``
    (PRIVGUARD_INCIDENT_CONFIG) applied; a problem raises :class:`IncidentConfigError`."""
    shipped = _shipped()
    if path is None:
        return shipped
    source = str(path)
    doc = read_yaml_file(path, "incident config", IncidentConfigError)
    return parse_incident_config(doc, source, shipped)


# ---------------------------------------------------------------------------- deadlines


@dataclass(frozen=True)
class NotifyDeadlines:
    jurisdiction: str
    authority: Text
    authority_by: datetime
    individuals_by: datetime | None  # None: without undue delay (no fixed period)
    timezone: str
    basis: str


def notify_deadlines(
    discovered_at: datetime, jurisdiction: str, config: IncidentConfig
) -> NotifyDeadlines:
    """When the authority and the individuals must be told of an incident discovered at
    ``discovered_at`` (timezone-aware). Periods run in hours from discovery, not in days."""
    if discovered_at.tzinfo is None or discovered_at.utcoffset() is None:
        raise ValueError("discovered_at must be timezone-aware (store and pass UTC)")
    policy = config.jurisdictions.get(jurisdiction)
    if policy is None:
        raise KeyError(
            f"no incident deadlines for jurisdiction {jurisdiction!r}; "
            f"known: {', '.join(sorted(config.jurisdictions))}"
        )
    at = discovered_at.astimezone(UTC)
    return NotifyDeadlines(
        jurisdiction=jurisdiction,
        authority=policy.authority,
        authority_by=at + policy.authority_within,
        individuals_by=at + policy.individuals_within if policy.individuals_within else None,
        timezone=policy.timezone,
        basis=policy.basis,
    )


def overdue(due: datetime | None, done_at: datetime | None, now: datetime) -> bool:
    """A duty is overdue once its deadline passed without it being done by then."""
    if due is None:
        return False
    if done_at is not None:
        return done_at > due
    return now > due


# ---------------------------------------------------------------------------- the affected set


@dataclass
class Exposure:
    """One affected customer: fields with the widest view disclosed, and where it was seen."""

    fields: dict[str, str] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    entries: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None

    def add(
        self, fields: Iterable[tuple[str, str]], source: str, at: datetime, entries: int = 1
    ) -> None:
        for name, view in fields:
            old = self.fields.get(name)
            if old is None or VIEW_RANK[View(view)] > VIEW_RANK[View(old)]:
                self.fields[name] = view
        self.sources.add(source)
        self.entries += entries
        self.first_at = at if self.first_at is None or at < self.first_at else self.first_at
        self.last_at = at if self.last_at is None or at > self.last_at else self.last_at


def disclosed_fields(
    decisions: Sequence[Mapping[str, str]], known: Iterable[str] | Mapping[str, Any]
) -> list[tuple[str, str]]:
    """The catalog fields an access-log entry let out, with their view (refusals left out)."""
    return [
        (d["field"], d["view"])
        for d in decisions
        if d["view"] != View.NONE.value and d["field"] in known
    ]


def field_counts(exposures: Iterable[Mapping[str, str]]) -> dict[str, int]:
    """How many affected customers had each field disclosed."""
    counts: dict[str, int] = {}
    for fields in exposures:
        for name in fields:
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


# ---------------------------------------------------------------------------- drafts


@dataclass(frozen=True)
class FieldInfo:
    """What a notification says about one kind of personal information (no value)."""

    name: str
    labels: Text
    category: str  # Fides key
    sensitive: bool


def text_for(category: str, texts: Mapping[str, Text]) -> Text:
    """The text of the longest key that begins ``category`` (``user.contact`` covers
    ``user.contact.phone_number``), else the default."""
    best = ""
    for key in texts:
        covers = key != "default" and (category == key or category.startswith(key + "."))
        if covers and len(key) > len(best):
            best = key
    return texts[best or "default"]


def _unique(items: Iterable[Text]) -> list[Text]:
    seen: list[Text] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


VIEW_WORDS: Mapping[str, Text] = {
    View.PLAIN.value: {"zh-CN": "完整", "en": "in full"},
    View.MASKED.value: {"zh-CN": "部分遮掩", "en": "partly masked"},
    View.WAYBILL.value: {"zh-CN": "面单遮掩", "en": "masked as on a waybill"},
}


@dataclass(frozen=True)
class Remedy:
    at: datetime
    text: str


@dataclass(frozen=True)
class IncidentFacts:
    """What the drafts say about the incident (free texts already redacted)."""

    incident_id: str
    title: str
    description: str
    cause: str
    harm: str | None
    categories: Sequence[str]
    discovered_at: datetime
    window_start: datetime
    window_end: datetime
    affected_subjects: int
    affected_entries: int
    field_counts: Mapping[str, int]
    remedies: Sequence[Remedy]
    individuals: Individuals
    no_notify_reason: str | None = None


@dataclass(frozen=True)
class Contacts:
    """The controller and the protection officer, as the privacy notice publishes them."""

    controller: Text
    controller_email: str | None
    controller_phone: str | None
    officer_title: Text
    officer_email: str | None
    officer_phone: str | None
    privacy_center_url: str


def _local(at: datetime, zone: str) -> str:
    return f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})"


@cache
def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("privguard.cases", "templates"),
        autoescape=False,  # Markdown text, never served as HTML
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _common(
    facts: IncidentFacts,
    fields: Sequence[FieldInfo],
    config: IncidentConfig,
    contacts: Contacts,
    locale: str,
    zone: str,
) -> dict[str, Any]:
    harm = [t[locale] for t in _unique(text_for(f.category, config.harm) for f in fields)]
    if not harm:
        harm = [config.harm["default"][locale]]
    advice = [t[locale] for t in _unique(text_for(f.category, config.advice) for f in fields)]
    return {
        "incident": facts,
        "kinds": [config.categories.get(c, {}).get(locale, c) for c in facts.categories],
        "discovered": _local(facts.discovered_at, zone),
        "window": (_local(facts.window_start, zone), _local(facts.window_end, zone)),
        "harm": harm,
        "advice": advice,
        "rights": config.rights[locale],
        "remedies": [(_local(r.at, zone), r.text) for r in facts.remedies],
        "controller": contacts.controller[locale],
        "contacts": contacts,
        "officer": contacts.officer_title[locale],
    }


def draft_for_authority(
    facts: IncidentFacts,
    fields: Sequence[FieldInfo],
    deadlines: NotifyDeadlines,
    config: IncidentConfig,
    contacts: Contacts,
    locale: str,
) -> str:
    """The notification to one jurisdiction's authority, in ``locale`` (zh-CN or en)."""
    if locale not in LOCALES:
        raise ValueError(f"locale must be one of {', '.join(LOCALES)}")
    context = _common(facts, fields, config, contacts, locale, deadlines.timezone)
    context.update(
        authority=deadlines.authority[locale],
        due=_local(deadlines.authority_by, deadlines.timezone),
        basis=deadlines.basis,
        jurisdiction=deadlines.jurisdiction,
        pi_types=[
            (f.labels[locale], f.category, f.sensitive, facts.field_counts.get(f.name, 0))
            for f in fields
        ],
    )
    return _environment().get_template(f"incident_authority.{locale}.md.j2").render(context)


def draft_for_individual(
    facts: IncidentFacts,
    subject_id: str,
    channel: str,
    exposed: Mapping[str, str],
    fields: Mapping[str, FieldInfo],
    config: IncidentConfig,
    contacts: Contacts,
    locale: str,
    zone: str,
) -> str:
    """The notification to one affected consumer: addressed by subject id and channel, naming
    only the kinds of *their* information that were affected and how much of each was seen."""
    if locale not in LOCALES:
        raise ValueError(f"locale must be one of {', '.join(LOCALES)}")
    if channel not in config.channels:
        raise ValueError(f"channel must be one of {', '.join(config.channels)}")
    mine = [fields[name] for name in exposed if name in fields]
    context = _common(facts, mine, config, contacts, locale, zone)
    context.update(
        subject_id=subject_id,
        channel=config.channels[channel][locale],
        pi_types=[
            (f.labels[locale], VIEW_WORDS.get(exposed[f.name], {}).get(locale, exposed[f.name]))
            for f in mine
        ],
    )
    return _environment().get_template(f"incident_individual.{locale}.md.j2").render(context)
