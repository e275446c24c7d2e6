"""The compliance console: dashboard, the queues (rights requests, complaints, alerts and
incidents) with their deadlines and actions, merchant supervision, the data map, the access
log (search and verify), recipients and agreements, retention runs and legal holds.

For the protection officer and platform operators, who act, and auditors, who read: every
page needs one of those roles, every form one of the two acting roles. Each action calls the
service its API route calls, with the same arguments, in one transaction; the services keep
their own checks, so a page can never do more than the same actor's API key.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from privguard.audit.search import LogQuery, search_log
from privguard.audit.verify import read_snapshot, verify_log
from privguard.cases.anomalies import AlertState, dismiss_alert, list_alerts
from privguard.cases.anomaly_api import incidents_service
from privguard.cases.incident_rules import EventKind
from privguard.cases.incidents import Incidents
from privguard.cases.rules import ALLOWED as CASE_MOVES
from privguard.cases.rules import Queue, escalated
from privguard.cases.rules import State as CaseState
from privguard.clock import utcnow
from privguard.consent.notice import ROLE_LABELS
from privguard.marketplace.models import Organisation
from privguard.policy.rules import Role
from privguard.reports.service import Reports
from privguard.rights.deadlines import urgency
from privguard.rights.holds import end_of, list_holds, place_hold, release_hold
from privguard.rights.holds import view as hold_view
from privguard.rights.lifecycle import ALLOWED as REQUEST_MOVES
from privguard.rights.lifecycle import RequestState, RequestType, is_open
from privguard.rights.retention import recent_runs
from privguard.sharing.rules import is_cross_border
from privguard.vault.errors import FieldError, InvalidPI
from privguard.web import dashboard
from privguard.web.center import (
    CASE_CATEGORIES,
    CASE_STATES,
    REQUEST_STATES,
    REQUEST_TYPES,
    URGENCY,
    VIEWS,
)
from privguard.web.datamap import field_access
from privguard.web.pages import (
    CONSOLE_ROLES,
    N_,
    OFFICER_ROLES,
    Page,
    act,
    redirect,
    show,
)

router = APIRouter(include_in_schema=False)

ROLES_SHOWN = [r for r in Role if r is not Role.CONSUMER]
ALERT_RULES = {
    "bulk_access": N_("Many customers read in a short time"),
    "off_hours": N_("Access outside working hours"),
    "enumeration": N_("Looking up many customers one by one"),
    "no_relationship": N_("Refused: no relationship with the customer"),
    "large_export": N_("Large export"),
    "new_network": N_("Sign-in from a new network"),
}
INCIDENT_ACTIONS = {
    "action": N_("Remedial measure taken"),
    "authority_notified": N_("Authority notified"),
    "individuals_notified": N_("Individuals notified"),
}
# The officer's buttons for a request, by the state it is in (the lifecycle decides which
# moves exist; these only name them).
REQUEST_STEPS = {
    "verifying": N_("Start identity check"),
    "start": N_("Identity verified: start work"),
    "complete": N_("Complete"),
    "complete-partly": N_("Complete in part"),
    "refuse": N_("Refuse"),
    "fulfil-deletion": N_("Carry out the deletion"),
    "fulfil-cancellation": N_("Close the account"),
    "fulfil-correction": N_("Apply the correction"),
    "fulfil-consent-withdrawal": N_("Withdraw the consents"),
}
FULFIL = {
    RequestType.DELETION.value: "fulfil-deletion",
    RequestType.ACCOUNT_CANCELLATION.value: "fulfil-cancellation",
    RequestType.CORRECTION.value: "fulfil-correction",
    RequestType.CONSENT_WITHDRAWAL.value: "fulfil-consent-withdrawal",
}
NEEDS_REASON = frozenset({"complete-partly", "refuse"})
CASE_STEPS = {
    "triaged": N_("Triage"),
    "investigating": N_("Start investigating"),
    "rejected": N_("Reject"),
    "resolved": N_("Resolve"),
}


def _bad(field_name: str, rule: str, message: str) -> InvalidPI:
    return InvalidPI([FieldError(field_name, rule, message)])


def _uuid(value: str | None, field_name: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise _bad(field_name, "form.uuid", "must be an id (8-4-4-4-12 hex digits)") from None


def _org_names(session: Session, ids: set[Any]) -> dict[Any, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {o.organisation_id: o.name for o in session.execute(
        select(Organisation).where(Organisation.organisation_id.in_(ids))).scalars()}


# ---------------------------------------------------------------- dashboard
@router.get("/console", response_class=HTMLResponse)
def home(request: Request) -> Response:
    """Requests per week and deadline compliance, complaints by category, alerts, consents
    granted and withdrawn: drawn here as SVG, with each chart's numbers as a table."""

    def build(p: Page, session: Session) -> Response:
        board = dashboard.build(session, utcnow(), p.gettext,
                                lambda c: p.gettext(CASE_CATEGORIES.get(c, c)))
        return p.render("console/home.html", board=board)

    return show(request, CONSOLE_ROLES, build)


# ---------------------------------------------------------------- rights requests
@router.get("/console/requests", response_class=HTMLResponse)
def requests_queue(request: Request) -> Response:
    """Open requests, soonest deadline first (the officer's; auditors see the dashboard's
    figures, as the rights service shows them no queue)."""

    def build(p: Page, session: Session) -> Response:
        assert p.actor is not None
        if p.actor.role not in OFFICER_ROLES:
            return p.render("console/requests.html", rows=None)
        now = utcnow()
        rows = [{
            "id": r.request_id, "type": r.type, "state": r.state, "received_at": r.received_at,
            "answer_by": r.extended_answer_by or r.answer_by,
            "urgency": urgency(r, now).value, "subject": r.subject_id,
        } for r in p.runtime.rights.queue(session, p.actor)]
        return p.render("console/requests.html", rows=rows, types=REQUEST_TYPES,
                        states=REQUEST_STATES, urgencies=URGENCY)

    return show(request, CONSOLE_ROLES, build)


def _request_page(request_id: uuid.UUID) -> Any:
    def build(p: Page, session: Session) -> Response:
        runtime = p.runtime
        found = runtime.rights.get(session, p.actor, request_id)
        state = RequestState(found.state)
        steps: list[str] = []
        moves = REQUEST_MOVES.get(state, frozenset())
        if RequestState.VERIFYING in moves:
            steps.append("verifying")
        if state is RequestState.VERIFYING:
            steps.append("start")
        if state is RequestState.IN_PROGRESS:
            if found.type in FULFIL:
                steps.append(FULFIL[found.type])
            else:
                steps.append("complete")
            steps.append("complete-partly")
        if RequestState.REFUSED in moves:
            steps.append("refuse")
        return p.render(
            "console/request.html", r=found, history=runtime.rights.history(session, request_id),
            types=REQUEST_TYPES, states=REQUEST_STATES, urgencies=URGENCY, steps=steps,
            step_labels=REQUEST_STEPS, needs_reason=NEEDS_REASON,
            urgency=urgency(found, utcnow()).value if is_open(state) else None,
            fields=[runtime.catalog[f].label(p.lang) if f in runtime.catalog else f
                    for f in (found.details or {}).get("fields") or []],
        )

    return build


@router.get("/console/requests/{request_id}", response_class=HTMLResponse)
def request_detail(request: Request, request_id: uuid.UUID) -> Response:
    return show(request, CONSOLE_ROLES, _request_page(request_id))


@router.post("/console/requests/{request_id}/{step}", response_class=HTMLResponse)
async def request_step(request: Request, request_id: uuid.UUID, step: str) -> Response:
    """One step of a request, through the rights service and its fulfilment, as the API's
    /v1/requests/{id}/... routes."""

    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        runtime = p.runtime
        now = utcnow()
        note = data.get("note", "")
        moves = {"verifying": RequestState.VERIFYING, "start": RequestState.IN_PROGRESS,
                 "complete": RequestState.COMPLETED,
                 "complete-partly": RequestState.PARTIALLY_COMPLETED,
                 "refuse": RequestState.REFUSED}
        if step in moves:
            runtime.rights.move(session, p.actor, request_id, moves[step],
                                note=note or ("identity verified" if step == "start" else ""),
                                now=now)
        elif step == "fulfil-deletion":
            runtime.fulfilment.delete(session, p.actor, request_id, now=now)
        elif step == "fulfil-cancellation":
            runtime.fulfilment.cancel_account(session, p.actor, request_id, now=now)
        elif step == "fulfil-correction":
            runtime.fulfilment.correct(session, p.actor, request_id, now=now)
        elif step == "fulfil-consent-withdrawal":
            runtime.fulfilment.withdraw_consents(session, p.actor, request_id, now=now)
        else:
            raise _bad("step", "request.step", "must be one of " + ", ".join(REQUEST_STEPS))
        return redirect(f"/console/requests/{request_id}", ok="done")

    return await act(request, OFFICER_ROLES, do, back=_request_page(request_id))


# ---------------------------------------------------------------- complaints
@router.get("/console/complaints", response_class=HTMLResponse)
def complaints_queue(request: Request) -> Response:
    """Open cases of a queue (privacy: the officer's; commerce: the service desk's), soonest
    deadline first, those past a deadline marked."""

    def build(p: Page, session: Session) -> Response:
        try:
            queue = Queue(request.query_params.get("queue", Queue.PRIVACY.value))
        except ValueError:
            raise _bad("queue", "case.queue", "privacy or commerce") from None
        now = utcnow()
        cases = p.runtime.cases.queue(session, p.actor, queue)
        names = _org_names(session, {c.merchant_id for c in cases})
        rows = [{"case": c, "merchant": names.get(c.merchant_id),
                 "late": escalated(CaseState(c.state), now, c.triage_by, c.resolve_by)}
                for c in cases]
        return p.render("console/complaints.html", rows=rows, queue=queue.value,
                        categories=CASE_CATEGORIES, states=CASE_STATES)

    return show(request, CONSOLE_ROLES, build)


def _case_page(case_id: uuid.UUID) -> Any:
    def build(p: Page, session: Session) -> Response:
        case = p.runtime.cases.get(session, p.actor, case_id)
        state = CaseState(case.state)
        names = _org_names(session, {case.merchant_id})
        return p.render(
            "console/complaint.html", case=case, history=p.runtime.cases.history(session, case_id),
            categories=CASE_CATEGORIES, states=CASE_STATES,
            steps=[s for s in ("triaged", "investigating", "rejected")
                   if CaseState(s) in CASE_MOVES.get(state, frozenset())],
            can_resolve=CaseState.RESOLVED in CASE_MOVES.get(state, frozenset()),
            step_labels=CASE_STEPS,
            merchant=names.get(case.merchant_id),
            late=escalated(state, utcnow(), case.triage_by, case.resolve_by),
            open=state not in (CaseState.RESOLVED, CaseState.REJECTED),
        )

    return build


@router.get("/console/complaints/{case_id}", response_class=HTMLResponse)
def complaint_detail(request: Request, case_id: uuid.UUID) -> Response:
    return show(request, CONSOLE_ROLES, _case_page(case_id))


@router.post("/console/complaints/{case_id}/{step}", response_class=HTMLResponse)
async def complaint_step(request: Request, case_id: uuid.UUID, step: str) -> Response:
    """Triage, investigate, reject (with the reason the filer reads), resolve (finding and
    corrective action), or add a note, through the cases service."""

    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        cases = p.runtime.cases
        now = utcnow()
        if step == "resolved":
            cases.resolve(session, p.actor, case_id, upheld=data.get("upheld") == "yes",
                          finding=data.get("finding", ""),
                          corrective_action=data.get("corrective_action", ""), now=now)
        elif step == "note":
            cases.add_info(session, p.actor, case_id, data.get("note", ""), now=now)
        elif step in ("triaged", "investigating", "rejected"):
            cases.move(session, p.actor, case_id, CaseState(step), note=data.get("note", ""),
                       now=now)
        else:
            raise _bad("step", "case.step", "triaged, investigating, rejected, resolved or note")
        return redirect(f"/console/complaints/{case_id}", ok="done")

    return await act(request, OFFICER_ROLES, do, back=_case_page(case_id))


# ---------------------------------------------------------------- alerts and incidents
def _incidents(request: Request) -> Incidents:
    return incidents_service(request, request.app.state.runtime)


@router.get("/console/incidents", response_class=HTMLResponse)
def incidents_page(request: Request) -> Response:
    """Open access alerts (dismiss or escalate) and incidents with their notification
    deadlines per jurisdiction."""

    return show(request, CONSOLE_ROLES, lambda p, s: _render_incidents(p, s, request))


def _incident_page(incident_id: uuid.UUID, request: Request) -> Any:
    def build(p: Page, session: Session) -> Response:
        v = _incidents(request).view(session, p.actor, incident_id, now=utcnow())
        return p.render("console/incident.html", v=v, i=v.incident, kinds=INCIDENT_ACTIONS,
                        catalog=p.runtime.catalog)

    return build


@router.get("/console/incidents/{incident_id}", response_class=HTMLResponse)
def incident_detail(request: Request, incident_id: uuid.UUID) -> Response:
    return show(request, CONSOLE_ROLES, _incident_page(incident_id, request))


@router.post("/console/incidents/{incident_id}/actions", response_class=HTMLResponse)
async def incident_action(request: Request, incident_id: uuid.UUID) -> Response:
    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        try:
            kind = EventKind(data.get("kind", ""))
        except ValueError:
            raise _bad("kind", "incident.action_kind", "choose what was done") from None
        _incidents(request).add_action(session, p.actor, incident_id, kind=kind,
                                       text=data.get("text", ""), taken_at=None, now=utcnow(),
                                       jurisdiction=data.get("jurisdiction") or None)
        return redirect(f"/console/incidents/{incident_id}", ok="done")

    return await act(request, OFFICER_ROLES, do, back=_incident_page(incident_id, request))


def _render_incidents(p: Page, session: Session, request: Request) -> Response:
    now = utcnow()
    service = _incidents(request)
    alerts = list_alerts(session, p.actor, state=AlertState.OPEN, limit=100)
    incidents = [service.view(session, p.actor, i.incident_id, now=now)
                 for i in service.list_incidents(session, p.actor, limit=50)]
    return p.render("console/incidents.html", alerts=alerts,
                    names=_org_names(session, {a.organisation_id for a in alerts}),
                    incidents=incidents, rules=ALERT_RULES)


@router.post("/console/alerts/{alert_id}/dismiss", response_class=HTMLResponse)
async def dismiss(request: Request, alert_id: int) -> Response:
    """A false positive, closed with the reason (it then no longer counts against the
    merchant)."""

    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        dismiss_alert(session, p.actor, alert_id, reason=data.get("reason", ""), now=utcnow())
        return redirect("/console/incidents", ok="done")

    return await act(request, OFFICER_ROLES, do,
                     back=lambda p, s: _render_incidents(p, s, request))


@router.post("/console/alerts/{alert_id}/escalate", response_class=HTMLResponse)
async def escalate(request: Request, alert_id: int) -> Response:
    """Open an incident scoped to the alert's actor and window; the affected customers are
    computed at once."""

    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        _, incident = _incidents(request).escalate(session, p.actor, alert_id, now=utcnow())
        return redirect(f"/console/incidents/{incident.incident_id}", ok="done")

    return await act(request, OFFICER_ROLES, do,
                     back=lambda p, s: _render_incidents(p, s, request))


# ---------------------------------------------------------------- merchant supervision
@router.get("/console/merchants", response_class=HTMLResponse)
def merchants(request: Request) -> Response:
    """Every merchant's score, grade, record over the supervision window and sanction."""

    def build(p: Page, session: Session) -> Response:
        now = utcnow()
        rows = []
        for m in session.execute(select(Organisation).where(Organisation.kind == "merchant")
                                 .order_by(Organisation.name)).scalars():
            standing = p.runtime.supervision.standing(session, m.organisation_id, now)
            rows.append({"id": m.organisation_id, **standing})
        rows.sort(key=lambda r: (r["score"], r["name"]))
        return p.render("console/merchants.html", rows=rows)

    return show(request, CONSOLE_ROLES, build)


@router.post("/console/merchants/{merchant_id}/evaluate", response_class=HTMLResponse)
async def evaluate(request: Request, merchant_id: uuid.UUID) -> Response:
    """Impose the sanction the record earns now, if stricter than any in force."""

    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        now = utcnow()
        p.runtime.supervision.standing(session, merchant_id, now)  # not found for non-merchants
        p.runtime.supervision.evaluate(session, p.actor, merchant_id, now)
        return redirect("/console/merchants", ok="done")

    return await act(request, OFFICER_ROLES, do)


# ---------------------------------------------------------------- the data map
@router.get("/console/data-map", response_class=HTMLResponse)
def data_map(request: Request) -> Response:
    """Each catalog field: category, sensitivity, retention, the purposes that use it, and
    the most each role may see of it, derived from the policy in force."""

    def build(p: Page, session: Session) -> Response:
        runtime = p.runtime
        dm = Reports.from_runtime(runtime).data_map(session, now=utcnow())
        reach = field_access(runtime.policy, runtime.catalog)
        fields = []
        for f in runtime.catalog:
            listed = dm.notice_fields.get(f.name, {})
            basis = (listed.get("retention") or {}).get("basis") or {}
            fields.append({
                "name": f.name, "label": f.label(p.lang), "category": f.category,
                "sensitive": f.sensitive, "masking": f.masking, "retention": f.retention,
                "basis": basis.get(p.lang) or f.retention.basis,
                "purposes": [runtime.policy.purposes[x].label(p.lang)
                             for x in listed.get("purposes", []) if x in runtime.policy.purposes],
                "reach": reach[f.name],
            })
        roles = [(r, ROLE_LABELS[r].get(p.lang, r.value)) for r in ROLES_SHOWN]
        return p.render("console/datamap.html", fields=fields, roles=roles, views=VIEWS,
                        purpose_labels={n: s.label(p.lang)
                                        for n, s in runtime.policy.purposes.items()})

    return show(request, CONSOLE_ROLES, build)


# ---------------------------------------------------------------- the access log
def _query(params: dict[str, str]) -> LogQuery:
    def moment(name: str, next_day: bool = False) -> datetime | None:
        try:
            d = date.fromisoformat(params.get(name, ""))
        except ValueError:
            return None
        start = datetime.combine(d + timedelta(days=1 if next_day else 0), time(), UTC)
        return start

    outcome = params.get("outcome") or None
    return LogQuery(
        subject_id=_uuid(params.get("subject"), "subject"),
        actor_id=_uuid(params.get("actor"), "actor"),
        organisation_id=_uuid(params.get("organisation"), "organisation"),
        purpose=(params.get("purpose") or None),
        outcome=outcome if outcome in ("allowed", "refused") else None,
        since=moment("from"), until=moment("to", next_day=True),
    )


def _log_page(p: Page, session: Session, params: dict[str, str],
              verified: Any = None) -> Response:
    searched = any(params.get(k) for k in ("subject", "actor", "organisation", "purpose",
                                           "outcome", "from", "to", "search"))
    rows: list[Any] = []
    next_link = None
    if searched:
        try:
            before = int(params["before"]) if params.get("before") else None
        except ValueError:
            before = None
        rows, next_before = search_log(session, p.actor, _query(params), now=utcnow(),
                                       before=before)
        if next_before is not None:
            keep = {k: v for k, v in params.items() if k not in ("before", "ok", "lang")}
            next_link = "/console/access-log?" + urlencode({**keep, "before": str(next_before)})
    names = _org_names(session, {r.entry.organisation_id for r in rows})
    return p.render("console/accesslog.html", rows=rows, params=params, searched=searched,
                    next_link=next_link, names=names, verified=verified,
                    purposes=[(n, s.label(p.lang)) for n, s in p.runtime.policy.purposes.items()])


@router.get("/console/access-log", response_class=HTMLResponse)
def access_log(request: Request) -> Response:
    """Search by customer, actor, organisation, purpose, outcome and date; and verify the
    whole log against its signed tree heads."""
    return show(request, CONSOLE_ROLES,
                lambda p, s: _log_page(p, s, dict(request.query_params)))


@router.post("/console/access-log/verify", response_class=HTMLResponse)
async def verify(request: Request) -> Response:
    """Recompute the whole log and check every signed head (as `privguard audit verify`);
    reads a consistent snapshot and writes nothing. Auditors may run it: it is a check."""

    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        with read_snapshot(p.runtime.engine) as conn:
            report = verify_log(conn, p.runtime.signer.public_key_bytes)
        return _log_page(p, session, {}, verified=report)

    return await act(request, CONSOLE_ROLES, do)


# ---------------------------------------------------------------- recipients and agreements
@router.get("/console/recipients", response_class=HTMLResponse)
def recipients(request: Request) -> Response:
    """The recipient registry, each recipient's agreements, and the open return-or-delete
    tasks of agreements that ended."""

    def build(p: Page, session: Session) -> Response:
        runtime = p.runtime
        now = utcnow()
        rows = [{"r": r, "abroad": is_cross_border(r.country, runtime.sharing.home),
                 "agreements": runtime.sharing.agreements(session, p.actor, r.recipient_id)}
                for r in runtime.sharing.recipients(session, p.actor)]
        tasks = runtime.sharing.tasks(session, p.actor, now=now)
        return p.render("console/recipients.html", rows=rows, tasks=tasks, now=now,
                        purpose_labels={n: s.label(p.lang)
                                        for n, s in runtime.policy.purposes.items()})

    return show(request, CONSOLE_ROLES, build)


# ---------------------------------------------------------------- retention and holds
def _retention_page(p: Page, session: Session) -> Response:
    now = utcnow()
    assert p.actor is not None
    holds = None
    if p.actor.role in OFFICER_ROLES:  # the holds service is the officer's alone
        holds = [hold_view(h, now) for h in list_holds(session, p.actor, now=now,
                                                       active_only=False)]
    return p.render("console/retention.html", runs=recent_runs(session, 20), holds=holds,
                    today=now.date())


@router.get("/console/retention", response_class=HTMLResponse)
def retention(request: Request) -> Response:
    """The latest retention runs (what was deleted, anonymised, kept) and the legal holds."""
    return show(request, CONSOLE_ROLES, _retention_page)


@router.post("/console/holds", response_class=HTMLResponse)
async def place(request: Request) -> Response:
    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        subject = _uuid(data.get("subject_id"), "subject_id")
        if subject is None:
            raise _bad("subject_id", "required.missing", "the customer's subject id")
        try:
            until = end_of(date.fromisoformat(data.get("until", "")))
        except ValueError:
            raise _bad("until", "legal_hold.until", "a date, YYYY-MM-DD") from None
        place_hold(session, p.actor, subject, reason=data.get("reason", ""), until=until,
                   now=utcnow())
        return redirect("/console/retention", ok="done")

    return await act(request, OFFICER_ROLES, do, back=_retention_page)


@router.post("/console/holds/{hold_id}/release", response_class=HTMLResponse)
async def release(request: Request, hold_id: uuid.UUID) -> Response:
    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        release_hold(session, p.actor, hold_id, reason=data.get("reason", ""), now=utcnow())
        return redirect("/console/retention", ok="done")

    return await act(request, OFFICER_ROLES, do, back=_retention_page)
