"""Security incidents as a service: record, scope, remedy, notify (PIPL Art. 51 and 57, GB/T
35273-2020 clause 10, GDPR Art. 33-34).

An incident names a time window and the actors and organisations involved; the affected
customers and kinds of personal information are then computed from the evidence, not typed in:
every access-log entry of those actors or organisations in the window that let a catalog field
out (any view but none) and every transfer to those organisations (or made by those actors) in
the window. Remedial actions, notifications and a decision not to notify individuals are
append-only events with who, when and why; free text is redacted by the detector before it is
stored. Only the protection officer and administrators act; auditors read.

Services take the caller's session and never commit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from privguard.actors.models import Actor
from privguard.audit.models import AccessLogEntry
from privguard.audit.service import log_operation
from privguard.cases.anomalies import (
    OFFICERS,
    READERS,
    AlertState,
    clean_text,
    open_alert,
    require,
)
from privguard.cases.anomaly_models import AccessAlert
from privguard.cases.incident_models import Incident, IncidentEvent, IncidentSubject
from privguard.cases.incident_rules import (
    LOCALES,
    Contacts,
    EventKind,
    Exposure,
    FieldInfo,
    IncidentConfig,
    IncidentFacts,
    Individuals,
    NotifyDeadlines,
    Remedy,
    disclosed_fields,
    draft_for_authority,
    draft_for_individual,
    field_counts,
    notify_deadlines,
    overdue,
)
from privguard.catalog.model import Catalog
from privguard.consent.notice_config import NoticeConfig
from privguard.marketplace.errors import MarketplaceNotFound
from privguard.policy.rules import ActorRef, View
from privguard.rights.lifecycle import TransitionRefused
from privguard.sharing.models import Transfer
from privguard.vault.errors import FieldError, InvalidPI

if TYPE_CHECKING:
    from privguard.bootstrap import Runtime

LOG = AccessLogEntry.__table__
SUBJECTS = IncidentSubject.__table__
RULE_INCIDENTS = "cases.incidents"
MAX_TITLE = 200
MAX_TEXT = 5000
PAGE = 10_000  # access-log rows read per query while computing the affected set
SOURCE_LOG = "access_log"
SOURCE_TRANSFERS = "transfers"


class IncidentNotFound(MarketplaceNotFound):
    code = "incident_not_found"

    def __init__(self, incident_id: uuid.UUID) -> None:
        super().__init__(f"no incident {incident_id}")


class NotificationDecided(TransitionRefused):
    """Individuals already notified cannot be "not notified" afterwards; answered 409."""

    code = "incident.individuals"

    def __init__(self, incident_id: uuid.UUID, state: str) -> None:
        ValueError.__init__(self, f"the individuals of incident {incident_id} are already {state}")


@dataclass(frozen=True)
class IncidentInput:
    title: str
    description: str
    cause: str
    categories: Sequence[str]
    discovered_at: datetime
    window_start: datetime
    window_end: datetime
    actor_ids: Sequence[uuid.UUID] = ()
    organisation_ids: Sequence[uuid.UUID] = ()
    jurisdictions: Sequence[str] = ()
    harm: str | None = None


@dataclass(frozen=True)
class DutyStatus:
    deadlines: NotifyDeadlines
    authority_notified_at: datetime | None
    individuals_notified_at: datetime | None
    authority_overdue: bool
    individuals_overdue: bool


@dataclass
class IncidentView:
    incident: Incident
    events: list[IncidentEvent]
    duties: list[DutyStatus]
    alerts: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class IndividualDraft:
    subject_id: uuid.UUID
    channel: str
    fields: dict[str, str]
    drafts: dict[str, str]  # locale -> text


@dataclass(frozen=True)
class AuthorityDraft:
    deadlines: NotifyDeadlines
    drafts: dict[str, str]


@dataclass(frozen=True)
class Notifications:
    authority: list[AuthorityDraft]
    individuals: Individuals
    no_notify_reason: str | None
    affected_subjects: int
    drafts: list[IndividualDraft]
    next_after: uuid.UUID | None


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class Incidents:
    """Built once per process from the catalog, the incident config, the privacy notice's
    contacts and the actions that count as disclosure (the anomaly config's)."""

    def __init__(
        self,
        catalog: Catalog,
        config: IncidentConfig,
        notice: NoticeConfig,
        *,
        default_jurisdiction: str,
        disclosing_actions: Iterable[str],
    ) -> None:
        self.catalog = catalog
        self.config = config
        self.contacts = Contacts(
            controller=notice.controller.name,
            controller_email=notice.controller.contact.email,
            controller_phone=notice.controller.contact.phone,
            officer_title=notice.officer.title,
            officer_email=notice.officer.contact.email,
            officer_phone=notice.officer.contact.phone,
            privacy_center_url=notice.rights.privacy_center_url,
        )
        self.default_jurisdiction = (
            default_jurisdiction
            if default_jurisdiction in config.jurisdictions
            else next(iter(config.jurisdictions))
        )
        self.disclosing = frozenset(disclosing_actions)

    # ------------------------------------------------------------------ validation
    def _validated(self, data: IncidentInput, now: datetime) -> dict[str, Any]:
        errors: list[FieldError] = []
        categories = list(dict.fromkeys(data.categories))
        if not categories or any(c not in self.config.categories for c in categories):
            errors.append(
                FieldError(
                    "categories",
                    "incident.category",
                    "must name kinds of incident among " + ", ".join(self.config.categories),
                )
            )
        jurisdictions = list(dict.fromkeys(data.jurisdictions)) or [self.default_jurisdiction]
        if any(j not in self.config.jurisdictions for j in jurisdictions):
            errors.append(
                FieldError(
                    "jurisdictions",
                    "incident.jurisdiction",
                    "must be among " + ", ".join(sorted(self.config.jurisdictions)),
                )
            )
        discovered = _aware(data.discovered_at)
        start, end = _aware(data.window_start), _aware(data.window_end)
        if discovered > now:
            errors.append(
                FieldError(
                    "discovered_at", "incident.discovered_future", "must not be in the future"
                )
            )
        if start > end:
            errors.append(
                FieldError("window_end", "incident.window", "must not be before window_start")
            )
        if errors:
            raise InvalidPI(errors)
        return {
            "title": clean_text(data.title, "title", required=True, limit=MAX_TITLE),
            "description": clean_text(
                data.description, "description", required=True, limit=MAX_TEXT
            ),
            "cause": clean_text(data.cause, "cause", required=True, limit=MAX_TEXT),
            "harm": clean_text(data.harm, "harm", required=False, limit=MAX_TEXT),
            "categories": categories,
            "jurisdictions": jurisdictions,
            "discovered_at": discovered,
            "window_start": start,
            "window_end": end,
            "scope_actors": sorted({str(a) for a in data.actor_ids}),
            "scope_organisations": sorted({str(o) for o in data.organisation_ids}),
        }

    # ------------------------------------------------------------------ use cases
    def open_incident(
        self,
        session: Session,
        actor: ActorRef,
        data: IncidentInput,
        *,
        now: datetime,
        alert: AccessAlert | None = None,
    ) -> Incident:
        """Record an incident and compute who and what it affected."""
        require(actor, OFFICERS, "only the protection officer or an administrator records "
                "incidents")
        values = self._validated(data, now)
        incident = Incident(
            incident_id=uuid.uuid4(),
            **values,
            individuals=Individuals.PENDING.value,
            affected_subjects=0,
            affected_entries=0,
            affected_fields={},
            computed_at=None,
            created_at=now,
            created_by=actor.actor_id,
        )
        session.add(incident)
        session.flush()
        self._event(session, incident, EventKind.OPENED, actor, now, data={
            "categories": incident.categories, "jurisdictions": incident.jurisdictions,
        })
        if alert is not None:
            self._attach(session, incident, alert, actor, now)
        self.compute_affected(session, incident, actor, now=now)
        log_operation(
            session, actor=actor, action="incident.open", rule=RULE_INCIDENTS,
            reason="a security incident recorded", now=now,
            detail={"incident": str(incident.incident_id)},
        )
        return incident

    def escalate(
        self,
        session: Session,
        actor: ActorRef,
        alert_id: int,
        *,
        now: datetime,
        incident_id: uuid.UUID | None = None,
        data: IncidentInput | None = None,
    ) -> tuple[AccessAlert, Incident]:
        """Open an incident from an alert (its actor, organisation and window are the scope),
        or attach the alert to an incident already open, widening its scope and window."""
        alert = open_alert(session, actor, alert_id)
        if incident_id is not None:
            incident = self._get(session, incident_id, lock=True)
            actors = set(incident.scope_actors) | {str(alert.actor_id)}
            incident.scope_actors = sorted(actors)
            incident.window_start = min(incident.window_start, alert.window_start)
            incident.window_end = max(incident.window_end, alert.window_end)
            self._attach(session, incident, alert, actor, now)
            self.compute_affected(session, incident, actor, now=now)
        else:
            incident = self.open_incident(
                session, actor, data or self._from_alert(alert), now=now, alert=alert
            )
        log_operation(
            session, actor=actor, action="alert.escalate", rule=RULE_INCIDENTS,
            reason="an alert escalated to an incident", now=now,
            detail={"alert": alert.alert_id, "incident": str(incident.incident_id)},
        )
        return alert, incident

    def _from_alert(self, alert: AccessAlert) -> IncidentInput:
        evidence = ", ".join(f"{k}={v}" for k, v in sorted(alert.evidence.items())
                             if not isinstance(v, list | dict))
        return IncidentInput(
            title=f"Access alert {alert.alert_id}: {alert.rule}",
            description=(
                f"Alert {alert.alert_id} ({alert.rule}) on actor {alert.actor_id} "
                f"({alert.role}), access-log entries {alert.first_entry_id}-"
                f"{alert.last_entry_id}: {evidence}"
            ),
            cause="Under investigation.",
            categories=["unauthorised_access"],
            discovered_at=alert.fired_at,
            window_start=alert.window_start,
            window_end=alert.window_end,
            actor_ids=[alert.actor_id],
        )

    def _attach(
        self,
        session: Session,
        incident: Incident,
        alert: AccessAlert,
        actor: ActorRef,
        now: datetime,
    ) -> None:
        alert.state = AlertState.ESCALATED.value
        alert.incident_id = incident.incident_id
        alert.decided_by = actor.actor_id
        alert.decided_at = now
        self._event(session, incident, EventKind.ALERT_ATTACHED, actor, now,
                    data={"alert": alert.alert_id, "rule": alert.rule})

    def add_action(
        self,
        session: Session,
        actor: ActorRef,
        incident_id: uuid.UUID,
        *,
        kind: EventKind,
        text: str,
        taken_at: datetime | None,
        now: datetime,
        jurisdiction: str | None = None,
    ) -> Incident:
        """A remedial measure, or the record that the authority or the individuals were told."""
        require(actor, OFFICERS, "only the protection officer or an administrator acts on "
                "incidents")
        if kind not in (
            EventKind.ACTION, EventKind.AUTHORITY_NOTIFIED, EventKind.INDIVIDUALS_NOTIFIED
        ):
            raise InvalidPI([FieldError("kind", "incident.action_kind",
                                        "must be action, authority_notified or "
                                        "individuals_notified")])
        incident = self._get(session, incident_id, lock=True)
        note = clean_text(text, "text", required=True, limit=MAX_TEXT)
        effective = _aware(taken_at) if taken_at is not None else now
        if effective > now:
            raise InvalidPI([FieldError("taken_at", "incident.taken_future",
                                        "must not be in the future")])
        data: dict[str, Any] = {}
        if kind is EventKind.AUTHORITY_NOTIFIED:
            wanted = jurisdiction or incident.jurisdictions[0]
            if wanted not in incident.jurisdictions:
                raise InvalidPI([FieldError("jurisdiction", "incident.jurisdiction",
                                            "must be one of the incident's: "
                                            + ", ".join(incident.jurisdictions))])
            data["jurisdiction"] = wanted
        if kind is EventKind.INDIVIDUALS_NOTIFIED:
            incident.individuals = Individuals.NOTIFIED.value
        self._event(session, incident, kind, actor, now, text=note, effective_at=effective,
                    data=data)
        log_operation(
            session, actor=actor, action=f"incident.{kind.value}", rule=RULE_INCIDENTS,
            reason="an incident's remedial action or notification recorded", now=now,
            detail={"incident": str(incident.incident_id)},
        )
        return incident

    def decide_no_notify(
        self, session: Session, actor: ActorRef, incident_id: uuid.UUID, *, reason: str,
        now: datetime,
    ) -> Incident:
        """Record that the individuals will not be notified, and why (PIPL Art. 57 para. 2:
        measures that effectively prevent harm; the authority may still require notice)."""
        require(actor, OFFICERS, "only the protection officer or an administrator decides on "
                "notification")
        incident = self._get(session, incident_id, lock=True)
        if incident.individuals == Individuals.NOTIFIED.value:
            raise NotificationDecided(incident_id, incident.individuals)
        text = clean_text(reason, "reason", required=True, limit=MAX_TEXT)
        incident.individuals = Individuals.NOT_NOTIFIED.value
        self._event(session, incident, EventKind.NO_NOTIFY, actor, now, text=text)
        log_operation(
            session, actor=actor, action="incident.no_notify", rule=RULE_INCIDENTS,
            reason="a decision not to notify individuals, with its reason", now=now,
            detail={"incident": str(incident.incident_id)},
        )
        return incident

    # ------------------------------------------------------------------ the affected set
    def compute_affected(
        self, session: Session, incident: Incident, actor: ActorRef, *, now: datetime
    ) -> int:
        """(Re)compute the incident's affected customers from the access log and transfers;
        returns how many. Reads the log through the organisation index, page by page."""
        exposures: dict[uuid.UUID, Exposure] = {}
        actors = [uuid.UUID(a) for a in incident.scope_actors]
        orgs = [uuid.UUID(o) for o in incident.scope_organisations]
        entries = 0
        scope = self._log_scope(session, actors, orgs)
        if scope is not None:
            known = self.catalog.fields
            after = 0
            while True:
                rows = session.execute(
                    select(LOG.c.entry_id, LOG.c.subject_id, LOG.c.at, LOG.c.entry)
                    .where(
                        scope,
                        LOG.c.subject_id.is_not(None),
                        LOG.c.at >= incident.window_start,
                        LOG.c.at <= incident.window_end,
                        LOG.c.entry_id > after,
                    )
                    .order_by(LOG.c.entry_id)
                    .limit(PAGE)
                ).all()
                for entry_id, subject_id, at, text in rows:
                    after = entry_id
                    raw = json.loads(text)
                    if raw["action"] not in self.disclosing:
                        continue
                    fields = disclosed_fields(raw["decisions"], known)
                    if not fields:
                        continue
                    exposures.setdefault(subject_id, Exposure()).add(fields, SOURCE_LOG, at)
                    entries += 1
                if len(rows) < PAGE:
                    break
        transfer_scope = []
        if orgs:
            transfer_scope.append(Transfer.recipient_id.in_(orgs))
        if actors:
            transfer_scope.append(Transfer.actor_id.in_(actors))
        if transfer_scope:
            for subject_id, names, at in session.execute(
                select(Transfer.subject_id, Transfer.fields, Transfer.at).where(
                    or_(*transfer_scope),
                    Transfer.at >= incident.window_start,
                    Transfer.at <= incident.window_end,
                )
            ):
                fields = [(n, View.PLAIN.value) for n in names if n in self.catalog]
                if fields:
                    exposures.setdefault(subject_id, Exposure()).add(fields, SOURCE_TRANSFERS, at)
                    entries += 1
        session.execute(delete(SUBJECTS).where(SUBJECTS.c.incident_id == incident.incident_id))
        rows_out = [
            {
                "incident_id": incident.incident_id,
                "subject_id": sid,
                "fields": dict(sorted(e.fields.items())),
                "sources": sorted(e.sources),
                "entries": e.entries,
                "first_at": e.first_at,
                "last_at": e.last_at,
            }
            for sid, e in sorted(exposures.items())
        ]
        for start in range(0, len(rows_out), 1000):
            session.execute(SUBJECTS.insert(), rows_out[start : start + 1000])
        incident.affected_subjects = len(exposures)
        incident.affected_entries = entries
        incident.affected_fields = field_counts(e.fields for e in exposures.values())
        incident.computed_at = now
        self._event(session, incident, EventKind.AFFECTED_COMPUTED, actor, now, data={
            "subjects": len(exposures), "entries": entries,
            "fields": incident.affected_fields,
        })
        return len(exposures)

    @staticmethod
    def _log_scope(
        session: Session, actors: list[uuid.UUID], orgs: list[uuid.UUID]
    ) -> Any | None:
        """The access-log condition for the scope, phrased so the organisation index serves it
        (the log has no index on actors: an actor is found through their organisation)."""
        parts = []
        if orgs:
            parts.append(LOG.c.organisation_id.in_(orgs))
        if actors:
            homes = {
                actor_id: org
                for actor_id, org in session.execute(
                    select(Actor.actor_id, Actor.organisation_id).where(
                        Actor.actor_id.in_(actors)
                    )
                )
            }
            if len(homes) < len(set(actors)):
                # An actor we do not know (deleted, or from another system): no organisation to
                # narrow by, so every entry is looked at.
                parts.append(LOG.c.actor_id.in_(actors))
            else:
                known = sorted({h for h in homes.values() if h is not None})
                by_org = [LOG.c.organisation_id.in_(known)] if known else []
                if None in homes.values():
                    by_org.append(LOG.c.organisation_id.is_(None))
                parts.append(and_(or_(*by_org), LOG.c.actor_id.in_(actors)))
        return or_(*parts) if parts else None

    # ------------------------------------------------------------------ reading
    def _get(self, session: Session, incident_id: uuid.UUID, *, lock: bool = False) -> Incident:
        stmt = select(Incident).where(Incident.incident_id == incident_id)
        if lock:
            stmt = stmt.with_for_update()
        found = session.execute(stmt).scalar_one_or_none()
        if found is None:
            raise IncidentNotFound(incident_id)
        return found

    def list_incidents(
        self, session: Session, actor: ActorRef, *, limit: int = 50
    ) -> list[Incident]:
        require(actor, READERS, "incidents are for the protection officer, administrators and "
                "auditors")
        return list(
            session.execute(
                select(Incident).order_by(Incident.discovered_at.desc()).limit(limit)
            ).scalars()
        )

    def view(
        self, session: Session, actor: ActorRef, incident_id: uuid.UUID, *, now: datetime
    ) -> IncidentView:
        require(actor, READERS, "incidents are for the protection officer, administrators and "
                "auditors")
        incident = self._get(session, incident_id)
        events = self._events(session, incident_id)
        alerts = list(
            session.execute(
                select(AccessAlert.alert_id)
                .where(AccessAlert.incident_id == incident_id)
                .order_by(AccessAlert.alert_id)
            ).scalars()
        )
        return IncidentView(incident, events, self.duties(incident, events, now), alerts)

    def duties(
        self, incident: Incident, events: Sequence[IncidentEvent], now: datetime
    ) -> list[DutyStatus]:
        out = []
        told_individuals = next(
            (e.effective_at for e in events if e.kind == EventKind.INDIVIDUALS_NOTIFIED), None
        )
        for j in incident.jurisdictions:
            d = notify_deadlines(incident.discovered_at, j, self.config)
            told = next(
                (
                    e.effective_at
                    for e in events
                    if e.kind == EventKind.AUTHORITY_NOTIFIED and e.data.get("jurisdiction") == j
                ),
                None,
            )
            out.append(
                DutyStatus(
                    deadlines=d,
                    authority_notified_at=told,
                    individuals_notified_at=told_individuals,
                    authority_overdue=overdue(d.authority_by, told, now),
                    individuals_overdue=(
                        incident.individuals != Individuals.NOT_NOTIFIED.value
                        and incident.affected_subjects > 0
                        and overdue(d.individuals_by, told_individuals, now)
                    ),
                )
            )
        return out

    def notifications(
        self,
        session: Session,
        actor: ActorRef,
        incident_id: uuid.UUID,
        *,
        channel: str = "app",
        limit: int = 50,
        after: uuid.UUID | None = None,
    ) -> Notifications:
        """The drafts: one per jurisdiction for its authority, and one per affected consumer
        (a page of them, in subject-id order), each in zh-CN and en."""
        require(actor, READERS, "incidents are for the protection officer, administrators and "
                "auditors")
        if channel not in self.config.channels:
            raise InvalidPI([FieldError("channel", "incident.channel",
                                        "must be one of " + ", ".join(self.config.channels))])
        incident = self._get(session, incident_id)
        events = self._events(session, incident_id)
        facts = self._facts(incident, events)
        infos = self._field_infos(incident.affected_fields)
        authority = []
        for j in incident.jurisdictions:
            d = notify_deadlines(incident.discovered_at, j, self.config)
            authority.append(
                AuthorityDraft(
                    d,
                    {
                        loc: draft_for_authority(
                            facts, list(infos.values()), d, self.config, self.contacts, loc
                        )
                        for loc in LOCALES
                    },
                )
            )
        drafts: list[IndividualDraft] = []
        next_after = None
        if incident.individuals != Individuals.NOT_NOTIFIED.value:
            zone = self.config.jurisdictions[incident.jurisdictions[0]].timezone
            stmt = (
                select(IncidentSubject.subject_id, IncidentSubject.fields)
                .where(IncidentSubject.incident_id == incident_id)
                .order_by(IncidentSubject.subject_id)
                .limit(limit)
            )
            if after is not None:
                stmt = stmt.where(IncidentSubject.subject_id > after)
            rows = session.execute(stmt).all()
            for subject_id, exposed in rows:
                drafts.append(
                    IndividualDraft(
                        subject_id,
                        channel,
                        dict(exposed),
                        {
                            loc: draft_for_individual(
                                facts, str(subject_id), channel, exposed, infos, self.config,
                                self.contacts, loc, zone,
                            )
                            for loc in LOCALES
                        },
                    )
                )
            if len(rows) == limit:
                next_after = rows[-1][0]
        return Notifications(
            authority=authority,
            individuals=Individuals(incident.individuals),
            no_notify_reason=facts.no_notify_reason,
            affected_subjects=incident.affected_subjects,
            drafts=drafts,
            next_after=next_after,
        )

    def _facts(self, incident: Incident, events: Sequence[IncidentEvent]) -> IncidentFacts:
        no_notify = [e.text for e in events if e.kind == EventKind.NO_NOTIFY]
        return IncidentFacts(
            incident_id=str(incident.incident_id),
            title=incident.title,
            description=incident.description,
            cause=incident.cause,
            harm=incident.harm,
            categories=incident.categories,
            discovered_at=incident.discovered_at,
            window_start=incident.window_start,
            window_end=incident.window_end,
            affected_subjects=incident.affected_subjects,
            affected_entries=incident.affected_entries,
            field_counts=incident.affected_fields,
            remedies=[
                Remedy(e.effective_at, e.text or "") for e in events if e.kind == EventKind.ACTION
            ],
            individuals=Individuals(incident.individuals),
            no_notify_reason=no_notify[-1] if no_notify else None,
        )

    def _field_infos(self, names: Iterable[str]) -> dict[str, FieldInfo]:
        """In catalog order, so every draft lists the kinds of information alike."""
        wanted = set(names)
        return {
            spec.name: FieldInfo(spec.name, spec.labels, spec.category, spec.sensitive)
            for spec in self.catalog
            if spec.name in wanted
        }

    @staticmethod
    def _events(session: Session, incident_id: uuid.UUID) -> list[IncidentEvent]:
        return list(
            session.execute(
                select(IncidentEvent)
                .where(IncidentEvent.incident_id == incident_id)
                .order_by(IncidentEvent.event_id)
            ).scalars()
        )

    @staticmethod
    def _event(
        session: Session,
        incident: Incident,
        kind: EventKind,
        actor: ActorRef,
        now: datetime,
        *,
        text: str | None = None,
        effective_at: datetime | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        session.add(
            IncidentEvent(
                incident_id=incident.incident_id,
                kind=kind.value,
                at=now,
                effective_at=effective_at or now,
                actor_id=actor.actor_id,
                text=text,
                data=data or {},
            )
        )
        session.flush()


def build_incidents(runtime: Runtime) -> Incidents:
    """The incidents service for a runtime: its catalog, PRIVGUARD_INCIDENT_CONFIG, the privacy
    notice's contacts (PRIVGUARD_NOTICE_PATH) and PRIVGUARD_ANOMALY_CONFIG's disclosing actions.
    A bad file raises its config error naming the key."""
    from privguard.cases.anomaly_rules import load_anomaly_config
    from privguard.cases.incident_rules import load_incident_config
    from privguard.consent.notice_config import load_notice_config

    settings = runtime.settings
    return Incidents(
        runtime.catalog,
        load_incident_config(settings.incident_config),
        load_notice_config(settings.notice_path, runtime.catalog, runtime.policy),
        default_jurisdiction=settings.default_jurisdiction,
        disclosing_actions=load_anomaly_config(settings.anomaly_config).disclosing_actions,
    )
