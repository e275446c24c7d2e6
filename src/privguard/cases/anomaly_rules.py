"""Anomaly rules over the access log: pure functions of the entries and a small per-actor state.

The scanner (cases/anomalies.py) feeds every new access-log entry, in log order, to
:meth:`AnomalyRules.apply` together with the state of the entry's actor, and stores what comes
back. Nothing here reads the clock or the database: an entry's own time drives every window, so
scanning the same log twice gives the same alerts, and a test can replay any history.

The state of an actor is kept compact on purpose, since it is read and written for every actor
active in a batch: per-minute counters only as far back as the longest minute window (60
minutes), the busiest hour of each recent day instead of every hour, the largest export of each
recent day, the networks seen with the day last seen, and the refused customers of the last
hour. Its JSON form is a few hundred bytes for a typical actor.

Six rules (docs/anomalies-and-incidents.md; thresholds in anomalies.yaml):

- ``bulk_access``: many customers read in a short time, against an absolute floor (a new account
  reading 500 customers in ten minutes) and against the actor's own busiest hour;
- ``off_hours``: access outside working hours, local time;
- ``enumeration``: many refused reads or lookups, or lookups that matched no one;
- ``no_relationship``: refused reads of several distinct customers the actor has no relationship
  with (the policy's default deny; concealed from the caller, recorded in the log);
- ``large_export``: a list, transfer or bulk check larger than the actor's own usual;
- ``new_network``: access from a network the actor has not used before.

A rule that fires gives a :class:`Finding`; while its cooldown lasts, further matches of the
same rule and actor give findings with ``extends`` set, which update that alert's evidence
instead of raising new alerts, so one burst of 500 reads is one alert that says 500.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from privguard.yaml_files import parse_yaml, read_yaml_file

FORMAT_VERSION = 1
MINUTE = 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Rule(StrEnum):
    BULK_ACCESS = "bulk_access"
    OFF_HOURS = "off_hours"
    ENUMERATION = "enumeration"
    NO_RELATIONSHIP = "no_relationship"
    LARGE_EXPORT = "large_export"
    NEW_NETWORK = "new_network"


# ---------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class BulkConfig:
    enabled: bool = True
    window_minutes: int = 10
    floor: int = 200
    hour_multiplier: float = 3.0
    hour_min: int = 60
    baseline_days: int = 14
    baseline_min_days: int = 3
    exempt_roles: frozenset[str] = frozenset({"consumer"})
    cooldown_minutes: int = 60


@dataclass(frozen=True)
class OffHoursConfig:
    enabled: bool = True
    start: time = time(8, 0)
    end: time = time(20, 0)
    days: frozenset[int] = frozenset(range(1, 8))  # ISO weekdays, 1 = Monday
    roles: frozenset[str] = frozenset(
        {
            "merchant_staff",
            "customer_service",
            "marketing",
            "analyst",
            "platform_admin",
            "privacy_officer",
            "auditor",
        }
    )
    min_accesses: int = 1
    window_minutes: int = 60
    cooldown_minutes: int = 480


@dataclass(frozen=True)
class EnumerationConfig:
    enabled: bool = True
    actions: frozenset[str] = frozenset({"read", "lookup"})
    window_minutes: int = 10
    threshold: int = 20
    exempt_roles: frozenset[str] = frozenset({"consumer"})
    cooldown_minutes: int = 60


@dataclass(frozen=True)
class NoRelationshipConfig:
    enabled: bool = True
    roles: frozenset[str] = frozenset({"merchant_staff", "courier", "partner"})
    actions: frozenset[str] = frozenset({"read", "lookup"})
    rules: frozenset[str] = frozenset({"default.deny"})
    window_minutes: int = 60
    threshold: int = 5
    cooldown_minutes: int = 240


@dataclass(frozen=True)
class ExportConfig:
    enabled: bool = True
    actions: frozenset[str] = frozenset({"list", "share", "consent.check"})
    size_keys: tuple[str, ...] = ("count", "subjects", "rows")
    floor: int = 5000
    multiplier: float = 3.0
    min_size: int = 100
    baseline_days: int = 30
    baseline_min_days: int = 3
    exempt_roles: frozenset[str] = frozenset({"consumer"})
    cooldown_minutes: int = 60


@dataclass(frozen=True)
class NetworkConfig:
    enabled: bool = True
    learning_days: int = 7
    forget_days: int = 90
    max_networks: int = 32
    exempt_roles: frozenset[str] = frozenset({"consumer"})


@dataclass(frozen=True)
class AnomalyConfig:
    timezone: str = "Asia/Shanghai"
    disclosing_actions: frozenset[str] = frozenset(
        {
            "read",
            "lookup",
            "list",
            "read_restricted",
            "detokenise",
            "share",
            "consent.check",
            "read_attachment",
        }
    )
    bulk_access: BulkConfig = BulkConfig()
    off_hours: OffHoursConfig = OffHoursConfig()
    enumeration: EnumerationConfig = EnumerationConfig()
    no_relationship: NoRelationshipConfig = NoRelationshipConfig()
    large_export: ExportConfig = ExportConfig()
    new_network: NetworkConfig = NetworkConfig()
    source: str = "defaults"


class AnomalyConfigError(ValueError):
    """The anomaly YAML is invalid; the message names the file, the key and the problem."""


_SECTIONS: dict[str, type] = {
    Rule.BULK_ACCESS.value: BulkConfig,
    Rule.OFF_HOURS.value: OffHoursConfig,
    Rule.ENUMERATION.value: EnumerationConfig,
    Rule.NO_RELATIONSHIP.value: NoRelationshipConfig,
    Rule.LARGE_EXPORT.value: ExportConfig,
    Rule.NEW_NETWORK.value: NetworkConfig,
}
_HOURS = "working_hours"
_DAYS = "working_days"
_ZERO_OK = frozenset({"learning_days", "baseline_min_days"})


def _fail(source: str, where: str, problem: str) -> AnomalyConfigError:
    return AnomalyConfigError(f"anomaly config {source}, {where}: {problem}")


def _strings(raw: Any, source: str, where: str) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise _fail(source, where, "must be a list of names")
    return frozenset(raw)


def _hours(raw: Any, source: str, where: str) -> tuple[time, time]:
    try:
        start_text, end_text = str(raw).split("-")
        start = time.fromisoformat(start_text.strip())
        end = time.fromisoformat(end_text.strip())
    except ValueError:
        raise _fail(
            source, where, f"must be 'HH:MM-HH:MM' like '08:00-20:00'; got {raw!r}"
        ) from None
    if start == end:
        raise _fail(source, where, "start and end must differ")
    return start, end


def _section(cls: type, current: Any, raw: Any, source: str, where: str) -> Any:
    if not isinstance(raw, dict):
        raise _fail(source, where, "must be a mapping")
    known = {f for f in cls.__dataclass_fields__ if f not in ("start", "end", "days")}
    if cls is OffHoursConfig:
        known |= {_HOURS, _DAYS}
    unknown = set(raw) - known
    if unknown:
        raise _fail(source, where, f"unknown keys {sorted(map(str, unknown))}")
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        at = f"{where}.{key}"
        if key == _HOURS:
            changes["start"], changes["end"] = _hours(value, source, at)
            continue
        if key == _DAYS:
            if not isinstance(value, list) or not value or not all(
                isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in value
            ):
                raise _fail(source, at, "must list ISO weekdays 1 (Monday) to 7 (Sunday)")
            changes["days"] = frozenset(value)
            continue
        default = getattr(current, key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise _fail(source, at, "must be true or false")
            changes[key] = value
        elif isinstance(default, int):
            least = 0 if key in _ZERO_OK else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise _fail(
                    source, at, f"must be a whole number of at least {least}; got {value!r}"
                )
            if key == "window_minutes":
                # The bulk rule compares its window with the last hour; the others keep one
                # counter per active minute of their window, so a day is the most they keep.
                most = 60 if cls is BulkConfig else 24 * 60
                if value > most:
                    raise _fail(source, at, f"must be at most {most} minutes")
            changes[key] = value
        elif isinstance(default, float):
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 1:
                raise _fail(source, at, f"must be a number above 1; got {value!r}")
            changes[key] = float(value)
        elif isinstance(default, tuple):
            changes[key] = tuple(sorted(_strings(value, source, at), key=value.index))
        else:
            changes[key] = _strings(value, source, at)
    return replace(current, **changes)


def parse_anomaly_config(
    doc: Any, source: str, defaults: AnomalyConfig = AnomalyConfig()
) -> AnomalyConfig:
    """Apply an override document to ``defaults``: keys given replace just those keys."""
    if doc is None:
        return replace(defaults, source=source)
    if not isinstance(doc, dict):
        raise _fail(source, "file", "must be a mapping")
    unknown = set(doc) - {"version", "timezone", "disclosing_actions", "rules"}
    if unknown:
        raise _fail(source, "file", f"unknown keys {sorted(map(str, unknown))}")
    if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise _fail(source, "version", f"must be {FORMAT_VERSION}")
    config = replace(defaults, source=source)
    if "timezone" in doc:
        zone = doc["timezone"]
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise _fail(source, "timezone", f"unknown time zone {zone!r}") from None
        config = replace(config, timezone=str(zone))
    if "disclosing_actions" in doc:
        config = replace(
            config,
            disclosing_actions=_strings(doc["disclosing_actions"], source, "disclosing_actions"),
        )
    rules = doc.get("rules", {})
    if not isinstance(rules, dict):
        raise _fail(source, "rules", f"must map rule names ({', '.join(_SECTIONS)}) to settings")
    for name, raw in rules.items():
        cls = _SECTIONS.get(name)
        if cls is None:
            raise _fail(source, f"rules.{name}", f"unknown rule; known: {', '.join(_SECTIONS)}")
        section = _section(cls, getattr(config, name), raw, source, f"rules.{name}")
        config = replace(config, **{name: section})
    return config


def shipped_config_text() -> str:
    from importlib import resources

    return resources.files("privguard.cases").joinpath("anomalies.yaml").read_text("utf-8")


def load_anomaly_config(path: Path | str | None) -> AnomalyConfig:
    """The shipped thresholds (anomalies.yaml), with the overrides of the YAML at ``path``
    (PRIVGUARD_ANOMALY_CONFIG) applied; a problem raises :class:`AnomalyConfigError`."""
    shipped = parse_anomaly_config(
        parse_yaml(shipped_config_text()), "privguard/cases/anomalies.yaml"
    )
    if path is None:
        return shipped
    source = str(path)
    doc = read_yaml_file(path, "anomaly config", AnomalyConfigError)
    return parse_anomaly_config(doc, source, shipped)


# ---------------------------------------------------------------------------- entries


@dataclass(frozen=True, slots=True)
class Access:
    """What the rules read of one access-log entry (ids as text, as the entry holds them)."""

    entry_id: int
    at: datetime
    actor_id: str | None
    organisation_id: str | None
    role: str
    subject_id: str | None
    action: str
    allowed: bool  # some field was let through (any view but none)
    denial_rules: frozenset[str]  # the rules of the refused fields
    size: int | None  # the export size in the detail, if any
    net: str | None  # the caller's network, if the entry was written in an HTTP request


def _size(detail: Mapping[str, Any], keys: Sequence[str]) -> int | None:
    for key in keys:
        value = detail.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def parse_entry(
    entry_id: int, text: str, size_keys: Sequence[str] = ExportConfig.size_keys
) -> Access:
    """An access-log entry's canonical JSON (audit/entry.py) as an :class:`Access`."""
    raw = json.loads(text)
    allowed = False
    denied: set[str] = set()
    for d in raw["decisions"]:
        if d["view"] == "none":
            denied.add(d["rule"])
        else:
            allowed = True
    detail = raw["detail"]
    net = detail.get("net") if detail else None
    return Access(
        entry_id=entry_id,
        at=datetime.fromisoformat(raw["at"]),
        actor_id=raw["actor"],
        organisation_id=raw["org"],
        role=raw["role"],
        subject_id=raw["subject"],
        action=raw["action"],
        allowed=allowed,
        denial_rules=frozenset(denied),
        size=_size(detail, size_keys) if detail else None,
        net=net if isinstance(net, str) else None,
    )


def minute_of(at: datetime) -> int:
    return int((at - _EPOCH).total_seconds()) // MINUTE


def time_of_minute(minute: int) -> datetime:
    return _EPOCH + timedelta(minutes=minute)


# ---------------------------------------------------------------------------- state


class Window:
    """Counts per minute over the last ``span`` minutes, with a running total.

    Entries arrive in log order, which is time order up to the few milliseconds between
    concurrent writers: an entry older than the newest bucket is counted in the newest bucket,
    which moves a count by at most the skew and never loses one.
    """

    __slots__ = ("buckets", "total")

    def __init__(self, buckets: Iterable[Sequence[int]] = ()) -> None:
        self.buckets: deque[list[int]] = deque([int(m), int(n), int(e)] for m, n, e in buckets)
        self.total = sum(b[1] for b in self.buckets)

    def add(self, minute: int, entry_id: int, span: int) -> None:
        if self.buckets and minute <= self.buckets[-1][0]:
            self.buckets[-1][1] += 1
        else:
            self.buckets.append([minute, 1, entry_id])
        self.total += 1
        self.expire(minute, span)

    def expire(self, minute: int, span: int) -> None:
        oldest = minute - span + 1
        while self.buckets and self.buckets[0][0] < oldest:
            self.total -= self.buckets.popleft()[1]

    def first(self) -> tuple[int, int]:
        """The first bucket's minute and first entry id."""
        b = self.buckets[0]
        return b[0], b[2]

    def since(self, oldest: int) -> tuple[int, tuple[int, int]]:
        """The count from minute ``oldest`` on, and that span's first minute and entry id (a
        shorter window read from the newest buckets: at most one bucket per minute)."""
        total, first = 0, (oldest, 0)
        for b in reversed(self.buckets):
            if b[0] < oldest:
                break
            total += b[1]
            first = (b[0], b[2])
        return total, first

    def dump(self) -> list[list[int]]:
        """The buckets themselves, not copies: serialise before the next :meth:`add`."""
        return list(self.buckets)


@dataclass
class Fired:
    until: int  # minute the cooldown ends
    trigger: int  # entry id that fired the alert: with actor and rule, names the alert


@dataclass
class ActorState:
    """Everything the rules remember about one actor (serialised by :meth:`dump`)."""

    actor_id: str
    organisation_id: str | None
    role: str
    first_minute: int
    last_minute: int
    recent: Window = field(default_factory=Window)  # allowed accesses naming a customer, 60 min
    hour: list[int] = field(default_factory=lambda: [-1, 0])  # [hour index, count]
    day_peaks: dict[int, int] = field(default_factory=dict)  # day -> busiest hour's count
    denials: Window = field(default_factory=Window)
    off: Window = field(default_factory=Window)
    unrelated: dict[str, list[int]] = field(default_factory=dict)  # subject -> [minute, entry]
    exports: dict[int, int] = field(default_factory=dict)  # day -> largest export
    nets: dict[str, int] = field(default_factory=dict)  # network -> day last seen
    fired: dict[str, Fired] = field(default_factory=dict)
    pruned_day: int = -1  # the day-keyed history was last trimmed on this day

    @classmethod
    def new(cls, access: Access) -> ActorState:
        m = minute_of(access.at)
        return cls(access.actor_id or "", access.organisation_id, access.role, m, m)

    def dump(self) -> dict[str, Any]:
        return {
            "first": self.first_minute,
            "last": self.last_minute,
            "recent": self.recent.dump(),
            "hour": list(self.hour),
            "peaks": [[d, n] for d, n in self.day_peaks.items()],
            "den": self.denials.dump(),
            "off": self.off.dump(),
            "unrel": [[s, m, e] for s, (m, e) in self.unrelated.items()],
            "exp": [[d, n] for d, n in self.exports.items()],
            "nets": [[n, d] for n, d in self.nets.items()],
            "fired": {r: [f.until, f.trigger] for r, f in self.fired.items()},
            "pday": self.pruned_day,
        }

    @classmethod
    def load(
        cls, actor_id: str, organisation_id: str | None, role: str, raw: Mapping[str, Any]
    ) -> ActorState:
        return cls(
            actor_id=actor_id,
            organisation_id=organisation_id,
            role=role,
            first_minute=int(raw["first"]),
            last_minute=int(raw["last"]),
            recent=Window(raw.get("recent", ())),
            hour=[int(x) for x in raw.get("hour", (-1, 0))],
            day_peaks={int(d): int(n) for d, n in raw.get("peaks", ())},
            denials=Window(raw.get("den", ())),
            off=Window(raw.get("off", ())),
            unrelated={str(s): [int(m), int(e)] for s, m, e in raw.get("unrel", ())},
            exports={int(d): int(n) for d, n in raw.get("exp", ())},
            nets={str(n): int(d) for n, d in raw.get("nets", ())},
            fired={str(r): Fired(int(u), int(t)) for r, (u, t) in raw.get("fired", {}).items()},
            pruned_day=int(raw.get("pday", -1)),
        )


# ---------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """An alert to raise (``extends`` False) or the new evidence of one already raised.

    An alert is named by (``rule``, ``actor_id``, ``trigger_entry_id``). ``evidence`` holds
    entry ids and counts only: never a personal-information value, never a customer's id.
    """

    rule: Rule
    actor_id: str
    organisation_id: str | None
    role: str
    trigger_entry_id: int
    window_start: datetime
    window_end: datetime
    first_entry_id: int
    last_entry_id: int
    evidence: Mapping[str, Any]
    extends: bool = False


class AnomalyRules:
    """The six rules with one configuration; :meth:`apply` is called once per entry."""

    def __init__(self, config: AnomalyConfig = AnomalyConfig()) -> None:
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        off = config.off_hours
        self._off_wraps = off.end < off.start  # e.g. 22:00-06:00 working hours
        self._watched: dict[str, bool] = {}

    def watches(self, role: str) -> bool:
        """Whether any enabled rule looks at this role's entries. The others (consumers, with
        the shipped thresholds) are skipped without keeping a state: a million customers
        reading their own data must not become a million state rows."""
        found = self._watched.get(role)
        if found is None:
            c = self.config
            found = self._watched[role] = (
                (c.bulk_access.enabled and role not in c.bulk_access.exempt_roles)
                or (c.off_hours.enabled and role in c.off_hours.roles)
                or (c.enumeration.enabled and role not in c.enumeration.exempt_roles)
                or (c.no_relationship.enabled and role in c.no_relationship.roles)
                or (c.large_export.enabled and role not in c.large_export.exempt_roles)
                or (c.new_network.enabled and role not in c.new_network.exempt_roles)
            )
        return found

    # ------------------------------------------------------------------ helpers
    def _cooling(self, state: ActorState, rule: Rule, minute: int) -> Fired | None:
        fired = state.fired.get(rule.value)
        if fired is not None and minute <= fired.until:
            return fired
        return None

    def _finding(
        self,
        state: ActorState,
        rule: Rule,
        access: Access,
        minute: int,
        cooldown: int,
        start: tuple[int, int],
        evidence: dict[str, Any],
    ) -> Finding:
        cooling = self._cooling(state, rule, minute)
        if cooling is None:
            cooling = Fired(minute + cooldown, access.entry_id)
            state.fired[rule.value] = cooling
            extends = False
        else:
            extends = True
        return Finding(
            rule=rule,
            actor_id=state.actor_id,
            organisation_id=state.organisation_id,
            role=state.role,
            trigger_entry_id=cooling.trigger,
            window_start=min(time_of_minute(start[0]), access.at),
            window_end=access.at,
            first_entry_id=min(start[1], access.entry_id),
            last_entry_id=access.entry_id,
            evidence=evidence,
            extends=extends,
        )

    def working(self, at: datetime) -> bool:
        """Whether ``at`` falls in working hours, local time."""
        off = self.config.off_hours
        local = at.astimezone(self.zone)
        moment = local.time()
        if self._off_wraps:
            # Hours past midnight belong to the working day that started the evening before.
            inside = moment >= off.start or moment < off.end
            day = (local - timedelta(days=1) if moment < off.end else local).isoweekday()
        else:
            inside = off.start <= moment < off.end
            day = local.isoweekday()
        return inside and day in off.days

    # ------------------------------------------------------------------ the rules
    def apply(self, state: ActorState, access: Access) -> list[Finding]:
        """Update ``state`` with one entry of its actor; the alerts it raises or extends."""
        cfg = self.config
        minute = minute_of(access.at)
        if minute > state.last_minute:
            state.last_minute = minute
        day = minute // (24 * 60)
        if day > state.pruned_day:
            self._prune(state, day)
        state.organisation_id = access.organisation_id
        state.role = access.role
        out: list[Finding] = []
        if access.action not in cfg.disclosing_actions:
            return out
        role = access.role
        if access.net is not None and cfg.new_network.enabled:
            self._network(state, access, minute, out)
        if access.subject_id is not None and access.allowed:
            self._bulk(state, access, minute, out)
        if access.action in cfg.enumeration.actions:
            self._enumeration(state, access, minute, out)
        nr = cfg.no_relationship
        if (
            nr.enabled
            and access.subject_id is not None
            and not access.allowed
            and role in nr.roles
            and access.action in nr.actions
            and access.denial_rules
            and access.denial_rules <= nr.rules
        ):
            self._no_relationship(state, access, minute, out)
        if cfg.off_hours.enabled and role in cfg.off_hours.roles and not self.working(access.at):
            self._off_hours(state, access, minute, out)
        ex = cfg.large_export
        if (
            ex.enabled
            and access.size is not None
            and access.allowed
            and access.action in ex.actions
            and role not in ex.exempt_roles
        ):
            self._export(state, access, minute, out)
        return out

    def _prune(self, state: ActorState, today: int) -> None:
        """Forget day-keyed history older than its rule looks back (once a day per actor)."""
        c = self.config
        for by_day, keep in (
            (state.day_peaks, c.bulk_access.baseline_days),
            (state.exports, c.large_export.baseline_days),
        ):
            for day in [d for d in by_day if d < today - keep]:
                del by_day[day]
        forget = today - c.new_network.forget_days
        for net in [n for n, d in state.nets.items() if d < forget]:
            del state.nets[net]
        state.pruned_day = today

    def _bulk(self, state: ActorState, access: Access, minute: int, out: list[Finding]) -> None:
        cfg = self.config.bulk_access
        # The hourly history is kept for every actor, so a rule switched on later has it.
        hour = minute // 60
        current_hour, count = state.hour
        if hour > current_hour:
            if current_hour >= 0 and count:
                day = current_hour // 24
                state.day_peaks[day] = max(state.day_peaks.get(day, 0), count)
            state.hour = [hour, 1]
        else:  # this hour, or a late entry of the last one: counted in the current hour
            state.hour[1] = count + 1
        today = minute // (24 * 60)
        state.recent.add(minute, access.entry_id, 60)
        if not cfg.enabled or access.role in cfg.exempt_roles:
            return
        in_window, first = state.recent.since(minute - cfg.window_minutes + 1)
        if in_window >= cfg.floor:
            out.append(
                self._finding(
                    state, Rule.BULK_ACCESS, access, minute, cfg.cooldown_minutes,
                    first,
                    {
                        "basis": "floor",
                        "accesses": in_window,
                        "window_minutes": cfg.window_minutes,
                        "floor": cfg.floor,
                    },
                )
            )
            return
        previous = [n for d, n in state.day_peaks.items() if d < today]
        if len(previous) < cfg.baseline_min_days:
            return
        baseline = max(previous)
        last_hour = state.recent.total
        if last_hour >= cfg.hour_min and last_hour > cfg.hour_multiplier * baseline:
            out.append(
                self._finding(
                    state, Rule.BULK_ACCESS, access, minute, cfg.cooldown_minutes,
                    state.recent.first(),
                    {
                        "basis": "baseline",
                        "accesses": last_hour,
                        "window_minutes": 60,
                        "baseline_busiest_hour": baseline,
                        "baseline_days": len(previous),
                        "multiplier": cfg.hour_multiplier,
                    },
                )
            )

    def _enumeration(
        self, state: ActorState, access: Access, minute: int, out: list[Finding]
    ) -> None:
        cfg = self.config.enumeration
        missed = access.action == "lookup" and access.subject_id is None
        if access.allowed and not missed:
            return
        state.denials.add(minute, access.entry_id, cfg.window_minutes)
        if not cfg.enabled or access.role in cfg.exempt_roles:
            return
        if state.denials.total >= cfg.threshold:
            out.append(
                self._finding(
                    state, Rule.ENUMERATION, access, minute, cfg.cooldown_minutes,
                    state.denials.first(),
                    {
                        "refused_or_unmatched": state.denials.total,
                        "window_minutes": cfg.window_minutes,
                        "threshold": cfg.threshold,
                    },
                )
            )

    def _no_relationship(
        self, state: ActorState, access: Access, minute: int, out: list[Finding]
    ) -> None:
        cfg = self.config.no_relationship
        oldest = minute - cfg.window_minutes + 1
        seen = state.unrelated
        for subject in [s for s, (m, _) in seen.items() if m < oldest]:
            del seen[subject]
        assert access.subject_id is not None
        seen.pop(access.subject_id, None)
        seen[access.subject_id] = [minute, access.entry_id]
        while len(seen) > 4 * cfg.threshold:  # the oldest go first: dicts keep insertion order
            del seen[next(iter(seen))]
        if len(seen) >= cfg.threshold:
            entries = sorted(e for _, e in seen.values())
            first_minute = min(m for m, _ in seen.values())
            out.append(
                self._finding(
                    state, Rule.NO_RELATIONSHIP, access, minute, cfg.cooldown_minutes,
                    (first_minute, entries[0]),
                    {
                        "distinct_customers": len(seen),
                        "window_minutes": cfg.window_minutes,
                        "threshold": cfg.threshold,
                        "entry_ids": entries,
                    },
                )
            )

    def _off_hours(
        self, state: ActorState, access: Access, minute: int, out: list[Finding]
    ) -> None:
        cfg = self.config.off_hours
        state.off.add(minute, access.entry_id, cfg.window_minutes)
        if state.off.total >= cfg.min_accesses:
            first_minute, _ = state.off.first()
            local = time_of_minute(first_minute).astimezone(self.zone)
            out.append(
                self._finding(
                    state, Rule.OFF_HOURS, access, minute, cfg.cooldown_minutes,
                    state.off.first(),
                    {
                        "accesses": state.off.total,
                        "window_minutes": cfg.window_minutes,
                        "first_local_time": local.strftime("%Y-%m-%d %H:%M"),
                        "timezone": self.config.timezone,
                        "working_hours": f"{cfg.start:%H:%M}-{cfg.end:%H:%M}",
                        "working_days": sorted(cfg.days),
                    },
                )
            )

    def _export(self, state: ActorState, access: Access, minute: int, out: list[Finding]) -> None:
        cfg = self.config.large_export
        size = access.size or 0
        today = minute // (24 * 60)
        previous = [n for d, n in state.exports.items() if d < today]
        state.exports[today] = max(state.exports.get(today, 0), size)
        evidence: dict[str, Any] | None = None
        if size >= cfg.floor:
            evidence = {"basis": "floor", "size": size, "floor": cfg.floor}
        elif len(previous) >= cfg.baseline_min_days:
            baseline = max(previous)
            if size >= cfg.min_size and size > cfg.multiplier * baseline:
                evidence = {
                    "basis": "baseline",
                    "size": size,
                    "baseline_largest": baseline,
                    "baseline_days": len(previous),
                    "multiplier": cfg.multiplier,
                }
        if evidence is not None:
            evidence["action"] = access.action
            out.append(
                self._finding(
                    state, Rule.LARGE_EXPORT, access, minute, cfg.cooldown_minutes,
                    (minute, access.entry_id), evidence,
                )
            )

    def _network(self, state: ActorState, access: Access, minute: int, out: list[Finding]) -> None:
        cfg = self.config.new_network
        assert access.net is not None
        today = minute // (24 * 60)
        known = access.net in state.nets
        learning = minute < state.first_minute + cfg.learning_days * 24 * 60
        state.nets.pop(access.net, None)
        state.nets[access.net] = today
        while len(state.nets) > cfg.max_networks:
            del state.nets[next(iter(state.nets))]  # the least recently seen
        if known or learning or not state.nets or access.role in cfg.exempt_roles:
            return
        if len(state.nets) == 1:
            return  # the first network ever recorded for this actor: nothing to compare with
        # A new network is one alert of its own (no cooldown shared with other networks).
        state.fired.pop(Rule.NEW_NETWORK.value, None)
        out.append(
            self._finding(
                state, Rule.NEW_NETWORK, access, minute, 0, (minute, access.entry_id),
                {"network": access.net, "known_networks": len(state.nets) - 1},
            )
        )
