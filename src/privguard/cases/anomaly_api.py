"""HTTP routes for access alerts and security incidents.

The protection officer and platform administrators act; auditors read; every other role is
refused (403). Nothing here returns a personal-information value: alerts carry entry ids and
counts, incidents carry subject ids, field names and redacted text.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from privguard.api.deps import ActorDep, RuntimeDep, transaction
from privguard.api.errors import ErrorResponse
from privguard.cases.anomalies import AlertState, dismiss_alert, get_alert, list_alerts
from privguard.cases.anomaly_models import AccessAlert
from privguard.cases.anomaly_rules import Rule
from privguard.cases.anomaly_schemas import (
    ActionIn,
    AffectedOut,
    AlertOut,
    AuthorityDraftOut,
    DismissIn,
    DutyOut,
    EscalatedOut,
    EscalateIn,
    EventOut,
    IncidentIn,
    IncidentOut,
    IncidentSummary,
    IndividualDraftOut,
    IndividualsOut,
    NoNotifyIn,
    NotificationsOut,
)
from privguard.cases.incident_models import Incident
from privguard.cases.incident_rules import EventKind
from privguard.cases.incidents import IncidentInput, Incidents, IncidentView, build_incidents
from privguard.clock import utcnow

router = APIRouter(tags=["incidents"])

ERRORS = {
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."},
    403: {
        "model": ErrorResponse,
        "description": "Only the protection officer and administrators act; auditors read.",
    },
    404: {"model": ErrorResponse, "description": "No such alert or incident."},
    409: {"model": ErrorResponse, "description": "Already decided."},
    422: {"model": ErrorResponse, "description": "Invalid request; `fields` names the rule."},
}


def incidents_service(request: Request, runtime: RuntimeDep) -> Incidents:
    """Built on first use and kept with the app (config files are read once)."""
    found: Incidents | None = getattr(request.app.state, "incidents", None)
    if found is None:
        found = request.app.state.incidents = build_incidents(runtime)
    return found


IncidentsDep = Annotated[Incidents, Depends(incidents_service)]


def _alert(alert: AccessAlert) -> AlertOut:
    return AlertOut.model_validate(alert, from_attributes=True)


def _affected(incident: Incident) -> AffectedOut:
    return AffectedOut(
        subjects=incident.affected_subjects,
        entries=incident.affected_entries,
        fields=incident.affected_fields,
        computed_at=incident.computed_at,
    )


def _summary(incident: Incident) -> IncidentSummary:
    return IncidentSummary(
        incident_id=incident.incident_id,
        title=incident.title,
        categories=incident.categories,
        jurisdictions=incident.jurisdictions,
        discovered_at=incident.discovered_at,
        individuals=incident.individuals,
        affected=_affected(incident),
    )


def _incident(view: IncidentView) -> IncidentOut:
    i = view.incident
    return IncidentOut(
        **_summary(i).model_dump(),
        description=i.description,
        cause=i.cause,
        harm=i.harm,
        window_start=i.window_start,
        window_end=i.window_end,
        scope_actors=[uuid.UUID(a) for a in i.scope_actors],
        scope_organisations=[uuid.UUID(o) for o in i.scope_organisations],
        created_at=i.created_at,
        created_by=i.created_by,
        alerts=view.alerts,
        duties=[
            DutyOut(
                jurisdiction=d.deadlines.jurisdiction,
                authority=dict(d.deadlines.authority),
                authority_by=d.deadlines.authority_by,
                individuals_by=d.deadlines.individuals_by,
                basis=d.deadlines.basis,
                authority_notified_at=d.authority_notified_at,
                individuals_notified_at=d.individuals_notified_at,
                authority_overdue=d.authority_overdue,
                individuals_overdue=d.individuals_overdue,
            )
            for d in view.duties
        ],
        events=[EventOut.model_validate(e, from_attributes=True) for e in view.events],
    )


def _input(body: IncidentIn) -> IncidentInput:
    return IncidentInput(**body.model_dump())


# ---------------------------------------------------------------------------- alerts


@router.get("/v1/alerts", response_model=list[AlertOut], responses=ERRORS, summary="Access alerts")
def alerts(
    runtime: RuntimeDep,
    actor: ActorDep,
    state: AlertState | None = None,
    rule: Rule | None = None,
    actor_id: uuid.UUID | None = None,
    organisation_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(ge=1, description="alert_id to continue after")] = None,
) -> list[AlertOut]:
    """Alerts the anomaly scanner raised (`privguard cases scan`), newest first."""
    with transaction(runtime) as session:
        found = list_alerts(
            session, actor, state=state, rule=rule, actor_id=actor_id,
            organisation_id=organisation_id, limit=limit, before=before,
        )
        return [_alert(a) for a in found]


@router.post(
    "/v1/alerts/{alert_id}/dismiss",
    response_model=AlertOut,
    responses=ERRORS,
    summary="Dismiss an alert as a false positive",
)
def dismiss(alert_id: int, body: DismissIn, runtime: RuntimeDep, actor: ActorDep) -> AlertOut:
    """Closes an open alert with the reason; it no longer counts against the merchant."""
    with transaction(runtime) as session:
        return _alert(dismiss_alert(session, actor, alert_id, reason=body.reason, now=utcnow()))


@router.post(
    "/v1/alerts/{alert_id}/escalate",
    response_model=EscalatedOut,
    responses=ERRORS,
    summary="Escalate an alert to an incident",
)
def escalate(
    alert_id: int,
    body: EscalateIn,
    runtime: RuntimeDep,
    actor: ActorDep,
    incidents: IncidentsDep,
) -> EscalatedOut:
    """Opens an incident scoped to the alert's actor and window (or attaches the alert to
    `incident_id`, widening its scope) and computes the affected customers."""
    now = utcnow()
    with transaction(runtime) as session:
        alert, incident = incidents.escalate(
            session, actor, alert_id, now=now, incident_id=body.incident_id,
            data=_input(body.incident) if body.incident else None,
        )
        view = incidents.view(session, actor, incident.incident_id, now=now)
        return EscalatedOut(
            alert=_alert(get_alert(session, alert.alert_id)), incident=_incident(view)
        )


# ---------------------------------------------------------------------------- incidents


@router.post(
    "/v1/incidents",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentOut,
    responses=ERRORS,
    summary="Record a security incident",
)
def create_incident(
    body: IncidentIn, runtime: RuntimeDep, actor: ActorDep, incidents: IncidentsDep
) -> IncidentOut:
    """Records the incident and computes the affected customers and kinds of personal
    information from the access log and the transfers in its window (PIPL Art. 57)."""
    now = utcnow()
    with transaction(runtime) as session:
        incident = incidents.open_incident(session, actor, _input(body), now=now)
        return _incident(incidents.view(session, actor, incident.incident_id, now=now))


@router.get(
    "/v1/incidents", response_model=list[IncidentSummary], responses=ERRORS, summary="Incidents"
)
def list_incidents(
    runtime: RuntimeDep,
    actor: ActorDep,
    incidents: IncidentsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[IncidentSummary]:
    """Most recently discovered first."""
    with transaction(runtime) as session:
        return [_summary(i) for i in incidents.list_incidents(session, actor, limit=limit)]


@router.get(
    "/v1/incidents/{incident_id}",
    response_model=IncidentOut,
    responses=ERRORS,
    summary="An incident: scope, affected, duties, history",
)
def get_incident(
    incident_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep, incidents: IncidentsDep
) -> IncidentOut:
    """With each jurisdiction's notification deadlines and whether they were met."""
    with transaction(runtime) as session:
        return _incident(incidents.view(session, actor, incident_id, now=utcnow()))


@router.post(
    "/v1/incidents/{incident_id}/actions",
    response_model=IncidentOut,
    responses=ERRORS,
    summary="Record a remedial action or a notification",
)
def add_action(
    incident_id: uuid.UUID,
    body: ActionIn,
    runtime: RuntimeDep,
    actor: ActorDep,
    incidents: IncidentsDep,
) -> IncidentOut:
    """Remedial measures appear in every notification draft; `authority_notified` and
    `individuals_notified` mark the duties done."""
    now = utcnow()
    with transaction(runtime) as session:
        incidents.add_action(
            session, actor, incident_id, kind=EventKind(body.kind), text=body.text,
            taken_at=body.taken_at, now=now, jurisdiction=body.jurisdiction,
        )
        return _incident(incidents.view(session, actor, incident_id, now=now))


@router.get(
    "/v1/incidents/{incident_id}/notifications",
    response_model=NotificationsOut,
    responses=ERRORS,
    summary="Draft notifications to the authority and each affected consumer",
)
def notifications(
    incident_id: uuid.UUID,
    runtime: RuntimeDep,
    actor: ActorDep,
    incidents: IncidentsDep,
    channel: str = "app",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: uuid.UUID | None = None,
) -> NotificationsOut:
    """Drafts in zh-CN and en with what PIPL Art. 57 asks: the kinds of information, the cause,
    the possible harm, the remedial measures, what individuals can do, the contact. Consumers'
    drafts are addressed by subject id and channel, one page at a time."""
    with transaction(runtime) as session:
        found = incidents.notifications(
            session, actor, incident_id, channel=channel, limit=limit, after=after
        )
    return NotificationsOut(
        authority=[
            AuthorityDraftOut(
                jurisdiction=a.deadlines.jurisdiction,
                authority=dict(a.deadlines.authority),
                due_by=a.deadlines.authority_by,
                basis=a.deadlines.basis,
                drafts=a.drafts,
            )
            for a in found.authority
        ],
        individuals=IndividualsOut(
            decision=found.individuals.value,
            reason=found.no_notify_reason,
            affected_subjects=found.affected_subjects,
            drafts=[
                IndividualDraftOut(
                    subject_id=d.subject_id, channel=d.channel, fields=d.fields, drafts=d.drafts
                )
                for d in found.drafts
            ],
            next_after=found.next_after,
        ),
    )


@router.post(
    "/v1/incidents/{incident_id}/no-notify",
    response_model=IncidentOut,
    responses=ERRORS,
    summary="Decide not to notify the individuals, with the reason",
)
def no_notify(
    incident_id: uuid.UUID,
    body: NoNotifyIn,
    runtime: RuntimeDep,
    actor: ActorDep,
    incidents: IncidentsDep,
) -> IncidentOut:
    """Logged with who, when and why; the authority's draft states the decision and reason."""
    now = utcnow()
    with transaction(runtime) as session:
        incidents.decide_no_notify(session, actor, incident_id, reason=body.reason, now=now)
        return _incident(incidents.view(session, actor, incident_id, now=now))
