"""The console dashboard's figures: counts over the last weeks, read from the services' own
tables. Only counts leave here (no subject, no value), so the auditor sees them too.

Deadlines are the ones the rights service stored on each request when it was filed; "on
time" means closed by that deadline (or its extension). Nothing here decides anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from privguard.cases.anomaly_models import AccessAlert
from privguard.cases.incident_models import Incident
from privguard.cases.models import Case
from privguard.cases.rules import CLOSED as CASES_CLOSED
from privguard.cases.rules import State as CaseState
from privguard.cases.rules import escalated
from privguard.consent.models import ConsentEvent
from privguard.rights.deadlines import Urgency, urgency
from privguard.rights.lifecycle import RequestState, is_open
from privguard.rights.models import SubjectRequest
from privguard.web.charts import (
    BarList,
    ColumnChart,
    bar_list,
    column_chart,
    per_week,
    week_label,
    week_starts,
)
from privguard.web.pages import PAGE_ZONE

WEEKS = 12
CATEGORY_DAYS = 90
ANSWERED = frozenset({RequestState.COMPLETED.value, RequestState.PARTIALLY_COMPLETED.value,
                      RequestState.REFUSED.value})
OPEN_REQUESTS = [s.value for s in RequestState if is_open(s)]
OPEN_CASES = [s.value for s in CaseState if s not in CASES_CLOSED]


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    tone: str  # ok | warn | bad | ""
    href: str | None = None


@dataclass(frozen=True)
class Dashboard:
    tiles: list[Tile]
    requests: ColumnChart
    compliance: str  # share of answered requests answered by their deadline, or "-"
    complaints: BarList
    alerts: ColumnChart
    consents: ColumnChart


def build(session: Session, now: datetime, gettext: Callable[[str], str],
          category_label: Callable[[str], str]) -> Dashboard:
    zone = PAGE_ZONE
    starts = week_starts(now, WEEKS, zone)
    since = datetime.combine(starts[0], time(), zone)
    labels = [week_label(s) for s in starts]

    # Rights requests: received per week; answered per week, on time or late.
    rows = session.execute(
        select(SubjectRequest.received_at, SubjectRequest.closed_at, SubjectRequest.state,
               SubjectRequest.confirm_by, SubjectRequest.answer_by,
               SubjectRequest.extended_answer_by)
        .where(or_(SubjectRequest.received_at >= since, SubjectRequest.closed_at >= since,
                   SubjectRequest.state.in_(OPEN_REQUESTS)))
    ).all()
    received = per_week((r.received_at for r in rows), starts, zone)
    answered = [r for r in rows if r.state in ANSWERED and r.closed_at is not None]
    on_time = [r for r in answered if r.closed_at <= (r.extended_answer_by or r.answer_by)]
    late = [r for r in answered if r.closed_at > (r.extended_answer_by or r.answer_by)]
    in_window = [r for r in answered if r.closed_at >= since]
    share = "-"
    if in_window:
        kept = sum(1 for r in in_window if r.closed_at <= (r.extended_answer_by or r.answer_by))
        share = f"{round(100 * kept / len(in_window))}%"
    open_rows = [r for r in rows if r.state in OPEN_REQUESTS]
    overdue = sum(1 for r in open_rows if urgency(r, now) is Urgency.OVERDUE)
    requests = column_chart(labels, {
        "received": received,
        "on_time": per_week((r.closed_at for r in on_time), starts, zone),
        "late": per_week((r.closed_at for r in late), starts, zone),
    }, label_every=2)

    # Complaints by category over the last 90 days; open ones past a deadline.
    by_category = Counter(dict(session.execute(
        select(Case.category, func.count()).where(
            Case.received_at >= now - timedelta(days=CATEGORY_DAYS)).group_by(Case.category)
    ).all()))
    complaints = bar_list([(category_label(c), n) for c, n in by_category.most_common()])
    open_cases = session.execute(
        select(Case.state, Case.triage_by, Case.resolve_by).where(Case.state.in_(OPEN_CASES))
    ).all()
    late_cases = sum(1 for c in open_cases
                     if escalated(CaseState(c.state), now, c.triage_by, c.resolve_by))

    # Access alerts fired per week, by what became of them.
    fired = session.execute(
        select(AccessAlert.fired_at, AccessAlert.state).where(AccessAlert.fired_at >= since)
    ).all()
    alerts = column_chart(labels, {
        state: per_week((a.fired_at for a in fired if a.state == state), starts, zone)
        for state in ("open", "escalated", "dismissed")
    }, label_every=2)
    open_alerts = session.execute(
        select(func.count()).select_from(AccessAlert).where(AccessAlert.state == "open")
    ).scalar_one()
    incidents = session.execute(
        select(func.count()).select_from(Incident).where(
            Incident.discovered_at >= now - timedelta(days=CATEGORY_DAYS))
    ).scalar_one()

    # Consents granted and withdrawn per week (every kind, every channel).
    events = session.execute(
        select(ConsentEvent.at, ConsentEvent.action).where(ConsentEvent.at >= since)
    ).all()
    consents = column_chart(labels, {
        action: per_week((e.at for e in events if e.action == action), starts, zone)
        for action in ("granted", "withdrawn")
    }, label_every=2)

    tiles = [
        Tile(gettext("open rights requests"), str(len(open_rows)), "", "/console/requests"),
        Tile(gettext("requests past their deadline"), str(overdue), "bad" if overdue else "ok",
             "/console/requests"),
        Tile(gettext("answered by the deadline (12 weeks)"), share, ""),
        Tile(gettext("open complaints"), str(len(open_cases)), "", "/console/complaints"),
        Tile(gettext("complaints past a deadline"), str(late_cases),
             "bad" if late_cases else "ok", "/console/complaints"),
        Tile(gettext("open access alerts"), str(open_alerts), "warn" if open_alerts else "ok",
             "/console/incidents"),
        Tile(gettext("incidents (90 days)"), str(incidents), "", "/console/incidents"),
    ]
    return Dashboard(tiles, requests, share, complaints, alerts, consents)
