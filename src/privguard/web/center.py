"""The privacy center: a consumer's own data, who saw it, consents, the notice, requests,
complaints, relay aliases and merchants' privacy ratings (PIPL Art. 44-50; E-Commerce Law
Art. 24; GB/T 35273-2020 8.7).

Every handler calls the service its API route calls, with the same arguments and the same
transaction pattern, as the signed-in consumer: nothing here decides who may see or change
what, so the pages can do no more than the consumer's own API key. Only consumer accounts
reach these pages (``signed_in`` with the consumer role); staff have no privacy center.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import IO, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from jinja2.exceptions import UndefinedError
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from privguard.audit.history import AccessRecord, accesses_to
from privguard.cases.rules import Category, State
from privguard.clock import utcnow
from privguard.consent.notice import ROLE_LABELS, diff_notices, render_notice
from privguard.consent.notices import NoticeVersionInfo, get_notice, latest_notice
from privguard.consent.rules import Action, Channel, Kind, Status, topic
from privguard.consent.rules import State as ConsentState
from privguard.consent.service import ConsentRequest
from privguard.marketplace.models import Order, Organisation
from privguard.policy.rules import Role
from privguard.reports.service import Reports
from privguard.rights.api import EXPORT_STATES, EXPORT_TYPES, VERIFIED_BY_CODE, ExportNotReady
from privguard.rights.api import NoExport as NoExportPackage
from privguard.rights.deadlines import urgency
from privguard.rights.export import write_export
from privguard.rights.lifecycle import RequestState, RequestType, is_open
from privguard.rights.models import SubjectRequest
from privguard.rights.service import RequestNotFound
from privguard.sharing.relay_api import relays_of
from privguard.sharing.rules import is_cross_border
from privguard.vault.errors import FieldError, InvalidPI
from privguard.web.pages import (
    CONSUMER,
    N_,
    SECURITY_HEADERS,
    Page,
    act,
    form,
    redirect,
    show,
)

router = APIRouter(include_in_schema=False)

# ---------------------------------------------------------------- labels shown to consumers
ORG_KINDS = {
    "self": N_("You"),
    "merchant": N_("Merchants"),
    "carrier": N_("Carriers and couriers"),
    "platform": N_("The platform"),
    "partner": N_("Partners"),
}
VIEWS = {
    "plain": N_("in full"),
    "masked": N_("masked"),
    "waybill": N_("as on a waybill"),
    "none": N_("refused"),
}
ACTIONS = {
    "read": N_("read"),
    "lookup": N_("looked up"),
    "list": N_("listed"),
    "update": N_("changed"),
    "erase": N_("erased"),
    "register": N_("registered"),
}
REQUEST_TYPES = {
    "access": N_("Download my data"),
    "portability": N_("Copy of my data for another service"),
    "correction": N_("Correct my data"),
    "deletion": N_("Delete my data"),
    "consent_withdrawal": N_("Withdraw consents"),
    "account_cancellation": N_("Close my account"),
    "explanation": N_("Explain how my data is used"),
    "deceased_relative": N_("About a deceased relative"),
}
# What a consumer files here (the API takes the other types too).
FILED_HERE = ("access", "correction", "deletion", "account_cancellation")
REQUEST_STATES = {
    "received": N_("Received"),
    "verifying": N_("Verifying your identity"),
    "in_progress": N_("In progress"),
    "completed": N_("Completed"),
    "partially_completed": N_("Partly completed"),
    "refused": N_("Refused"),
    "withdrawn": N_("Withdrawn"),
}
URGENCY = {"ok": N_("on time"), "due_soon": N_("due soon"), "overdue": N_("overdue")}
CHANNELS = {"mobile_phone": N_("Text message to my phone"), "email": N_("E-mail")}
CASE_CATEGORIES = {
    "pi_leak": N_("My personal information leaked"),
    "harassment": N_("Harassing calls or messages"),
    "marketing_without_consent": N_("Marketing I did not agree to"),
    "over_collection": N_("Asked for more information than needed"),
    "rights_ignored": N_("My request was ignored or refused"),
    "merchant_misuse": N_("A merchant misused my information"),
    "after_sales": N_("After-sales problem"),
    "counterfeit": N_("Counterfeit goods"),
}
CASE_STATES = {
    "received": N_("Received"),
    "triaged": N_("Being assessed"),
    "investigating": N_("Under investigation"),
    "resolved": N_("Resolved"),
    "rejected": N_("Rejected"),
}
CONSENT_STATES = {
    "granted": N_("On"),
    "withdrawn": N_("Off"),
    "expired": N_("Expired"),
    "suspended": N_("Ask again: the notice changed"),
    "never_asked": N_("Off (never answered)"),
}
ALIAS_STATES = {"active": N_("Active"), "expired": N_("Expired"), "revoked": N_("Revoked")}
CHANGE_KINDS = {
    "purpose_added": N_("New purpose"),
    "purpose_removed": N_("Purpose removed"),
    "purpose_changed": N_("Purpose changed"),
    "field_added": N_("A purpose uses more information"),
    "field_removed": N_("A purpose uses less information"),
    "access_changed": N_("Who can access it changed"),
    "recipient_added": N_("New recipient"),
    "recipient_changed": N_("Recipient changed"),
    "recipient_removed": N_("Recipient removed"),
    "retention_changed": N_("How long it is kept changed"),
    "field_listed": N_("Information newly listed"),
    "field_unlisted": N_("Information no longer listed"),
    "field_changed": N_("Information changed"),
    "controller_changed": N_("Our details changed"),
    "officer_changed": N_("The protection officer's details changed"),
    "rights_changed": N_("Your rights section changed"),
    "other": N_("Wording changed"),
}
GRADES = {
    "A": N_("Excellent privacy record"),
    "B": N_("Good privacy record"),
    "C": N_("Some problems found"),
    "D": N_("Serious problems found"),
    "E": N_("Very poor privacy record"),
}
MARKETING = ("marketing_sms", "marketing_email", "marketing_phone", "marketing_push")
PERSONALISATION = ("personalised_recommendation", "history_collection")
SHARING_PURPOSE = "third_party_sharing"
# Fields a consumer may correct here: single values (an address is changed in the shop).
CORRECTABLE = ("name", "mobile_phone", "email", "landline", "date_of_birth", "gender")


def _subject(p: Page) -> uuid.UUID:
    assert p.actor is not None and p.actor.subject_id is not None
    return p.actor.subject_id


def _bad(field_name: str, rule: str, message: str) -> InvalidPI:
    return InvalidPI([FieldError(field_name, rule, message)])


def _uuid(value: str | None, field_name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value or "")
    except ValueError:
        raise _bad(field_name, "form.uuid", "must be an id from this page") from None


# ---------------------------------------------------------------- who accessed my data
@dataclass(frozen=True)
class AccessFilter:
    kind: str = ""
    purpose: str = ""
    outcome: str = ""  # allowed | refused | ""
    since: date | None = None
    until: date | None = None

    @classmethod
    def of(cls, query: Mapping[str, str]) -> AccessFilter:
        def day_of(name: str) -> date | None:
            try:
                return date.fromisoformat(query.get(name, ""))
            except ValueError:
                return None

        kind = query.get("kind", "")
        outcome = query.get("outcome", "")
        return cls(kind if kind in ORG_KINDS else "", query.get("purpose", "")[:64],
                   outcome if outcome in ("allowed", "refused") else "",
                   day_of("from"), day_of("to"))

    def keeps(self, record: AccessRecord, kind: str) -> bool:
        from privguard.web.pages import PAGE_ZONE

        local = record.at.astimezone(PAGE_ZONE).date()
        return (
            (not self.kind or kind == self.kind)
            and (not self.purpose or record.purpose == self.purpose)
            and (not self.outcome or record.allowed == (self.outcome == "allowed"))
            and (self.since is None or local >= self.since)
            and (self.until is None or local <= self.until)
        )


def kind_of(record: AccessRecord) -> str:
    """Which kind of organisation acted: the consumer's own reads are "self"; the platform's
    system actors (age check, verification) have no organisation of their own."""
    if record.organisation_kind:
        return record.organisation_kind
    return "self" if record.role == Role.CONSUMER.value else "platform"


PAGE_SIZE = 50
SCAN_LIMIT = 2000  # entries read per page view at most, however narrow the filter


def _matching(session: Session, subject_id: uuid.UUID, wanted: AccessFilter,
              before: int | None) -> tuple[list[AccessRecord], int | None]:
    """Up to a page of matching records, newest first, and where the next page starts."""
    found: list[AccessRecord] = []
    scanned = 0
    cursor = before
    while len(found) < PAGE_SIZE and scanned < SCAN_LIMIT:
        batch = accesses_to(session, subject_id, limit=200, before=cursor)
        if not batch:
            return found, None
        for record in batch:
            scanned += 1
            cursor = record.entry_id
            if wanted.keeps(record, kind_of(record)):
                found.append(record)
                if len(found) == PAGE_SIZE:
                    return found, cursor
        if len(batch) < 200:
            return found, None
    return found, cursor


@router.get("/center/access", response_class=HTMLResponse)
def access_timeline(request: Request) -> Response:
    """Who accessed my data, filterable by kind of organisation, purpose, outcome and date;
    and who outside the platform received it."""

    def build(p: Page, session: Session) -> Response:
        runtime = p.runtime
        lang = p.lang
        query = dict(request.query_params)
        wanted = AccessFilter.of(query)
        try:
            before = int(query["before"]) if query.get("before") else None
        except ValueError:
            before = None
        records, next_before = _matching(session, _subject(p), wanted, before)
        rows = []
        for r in records:
            purpose = runtime.policy.purposes.get(r.purpose)
            try:
                role_label = ROLE_LABELS[Role(r.role)][lang]
            except (ValueError, KeyError):
                role_label = r.role
            rows.append({
                "at": r.at,
                "kind": kind_of(r),
                "organisation": r.organisation_name,
                "role": role_label,
                "action": ACTIONS.get(r.action),
                "action_raw": r.action,
                "purpose": purpose.label(lang) if purpose else r.purpose,
                "allowed": r.allowed,
                "fields": [
                    {"label": runtime.catalog[f.field].label(lang)
                     if f.field in runtime.catalog else f.field,
                     "view": f.view, "rule": f.rule}
                    for f in r.fields
                ],
            })
        holders = runtime.sharing.who_has_my_data(session, _subject(p))
        for h in holders:
            h["purpose_text"] = (h["purpose_label"] or {}).get(lang) or h["purpose"]
            h["field_labels"] = [runtime.catalog[f].label(lang) if f in runtime.catalog else f
                                 for f in h["fields"]]
        next_link = None
        if next_before is not None:
            keep = {k: v for k, v in query.items() if k not in ("before", "ok", "lang")}
            next_link = "/center/access?" + urlencode({**keep, "before": str(next_before)})
        return p.render(
            "center/access.html", rows=rows, holders=holders, wanted=wanted,
            kinds=ORG_KINDS, views=VIEWS,
            purposes=[(name, spec.label(lang)) for name, spec in runtime.policy.purposes.items()],
            next_link=next_link,
        )

    return show(request, CONSUMER, build)


# ---------------------------------------------------------------- consents
@dataclass(frozen=True)
class Separate:
    """A recipient the consumer answers for separately (PIPL Art. 23, 39)."""

    recipient_id: str
    name: str
    country: str
    abroad: bool
    fields: list[str]


def _separate_recipients(p: Page, session: Session,
                         states: Mapping[str, Status]) -> list[Separate]:
    """Registered recipients with an agreement in force for sharing on consent, and any other
    recipient the consumer has already answered for (so it can be withdrawn)."""
    runtime = p.runtime
    now = utcnow()
    out: dict[str, Separate] = {}
    for r in Reports.recipients(session):
        agreements = [a for a in r.for_purpose(SHARING_PURPOSE) if a.in_force(now)]
        answered = any(s.target == r.recipient_id for s in states.values()
                       if s.kind in (Kind.THIRD_PARTY.value, Kind.CROSS_BORDER.value))
        if not agreements and not answered:
            continue
        fields = sorted({f for a in agreements for f in a.fields})
        out[r.recipient_id] = Separate(
            r.recipient_id, r.legal_entity, r.country,
            is_cross_border(r.country, runtime.sharing.home),
            [runtime.catalog[f].label(p.lang) if f in runtime.catalog else f for f in fields],
        )
    for s in states.values():
        if s.kind in (Kind.THIRD_PARTY.value, Kind.CROSS_BORDER.value) and s.target not in out:
            try:
                org = session.get(Organisation, uuid.UUID(s.target))
            except ValueError:
                org = None
            out[s.target] = Separate(s.target, org.name if org else s.target, "", False, [])
    return sorted(out.values(), key=lambda r: r.name)


def consent_text(p: Page, session: Session, kind: Kind, target: str,
                 notice: NoticeVersionInfo) -> str:
    """The exact words shown beside a consent switch, recorded with the answer (PIPL Art. 14:
    informed). Built the same way when the page is drawn and when the answer arrives."""
    _ = p.gettext
    if kind is Kind.PURPOSE:
        purpose = next((x for x in notice.document.get("purposes", []) if x["name"] == target),
                       None)
        spec = p.runtime.policy.purposes.get(target)
        label = spec.label(p.lang) if spec else target
        description = ((purpose or {}).get("description") or {}).get(p.lang) or ""
        return _("I agree: %(what)s. %(why)s (privacy notice version %(version)s)") % {
            "what": label, "why": description, "version": notice.version}
    states = p.runtime.consent.states(session, _subject(p), utcnow())
    recipient = next((r for r in _separate_recipients(p, session, states)
                      if r.recipient_id == target), None)
    name = recipient.name if recipient else target
    sep = ", " if p.lang == "en" else "、"
    fields = sep.join(recipient.fields) if recipient and recipient.fields else "-"
    if kind is Kind.CROSS_BORDER:
        return _("I separately agree that my information (%(fields)s) is sent abroad to "
                 "%(recipient)s (privacy notice version %(version)s)") % {
            "fields": fields, "recipient": name, "version": notice.version}
    return _("I separately agree that %(recipient)s receives my %(fields)s "
             "(privacy notice version %(version)s)") % {
        "recipient": name, "fields": fields, "version": notice.version}


def _consents_page(p: Page, session: Session) -> Response:
    runtime = p.runtime
    now = utcnow()
    subject = _subject(p)
    states = runtime.consent.states(session, subject, now)
    notice = latest_notice(session)

    def row(purpose: str) -> dict[str, Any]:
        status = states.get(topic(Kind.PURPOSE, purpose))
        state = status.state.value if status else ConsentState.NEVER_ASKED.value
        spec = runtime.policy.purposes[purpose]
        return {
            "kind": Kind.PURPOSE.value, "target": purpose, "label": spec.label(p.lang),
            "state": state, "on": state == ConsentState.GRANTED.value,
            "since": status.since if status else None,
            "text": consent_text(p, session, Kind.PURPOSE, purpose, notice) if notice else "",
        }

    optional = runtime.consent.optional_purposes()
    groups = [
        (p.gettext("Marketing messages"), p.gettext(
            "Each channel is its own switch. Refusing changes nothing about your orders."),
         [row(x) for x in MARKETING if x in optional]),
        (p.gettext("Personalisation"), p.gettext(
            "Off means you see results not based on your personal characteristics "
            "(E-Commerce Law Art. 18)."),
         [row(x) for x in PERSONALISATION if x in optional]),
        (p.gettext("Other optional processing"), "",
         [row(x) for x in optional if x not in MARKETING and x not in PERSONALISATION]),
    ]
    separate = []
    for r in _separate_recipients(p, session, states):
        answers = []
        kinds = [Kind.THIRD_PARTY] + ([Kind.CROSS_BORDER] if r.abroad else [])
        for kind in kinds:
            status = states.get(topic(kind, r.recipient_id))
            state = status.state.value if status else ConsentState.NEVER_ASKED.value
            answers.append({
                "kind": kind.value, "target": r.recipient_id, "state": state,
                "on": state == ConsentState.GRANTED.value,
                "label": p.gettext("Give my information to %(recipient)s")
                % {"recipient": r.name} if kind is Kind.THIRD_PARTY
                else p.gettext("Send my information abroad to %(recipient)s")
                % {"recipient": r.name},
                "text": consent_text(p, session, kind, r.recipient_id, notice) if notice else "",
            })
        separate.append({"recipient": r, "answers": answers})
    return p.render("center/consents.html", groups=groups, separate=separate, notice=notice,
                    states=CONSENT_STATES)


@router.get("/center/consents", response_class=HTMLResponse)
def consents(request: Request) -> Response:
    """Each optional purpose its own switch (no bundling, PIPL Art. 14), marketing per channel,
    personalisation, and the separate consents per recipient (Art. 23, 39)."""
    return show(request, CONSUMER, _consents_page)


@router.post("/center/consents", response_class=HTMLResponse)
async def answer_consent(request: Request) -> Response:
    """One answer per post: grant (against the notice in force, with the words shown) or
    withdraw; the next decision anywhere sees it (PIPL Art. 15)."""

    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        runtime = p.runtime
        now = utcnow()
        subject = _subject(p)
        try:
            kind = Kind(data.get("kind", ""))
        except ValueError:
            raise _bad("kind", "consent.kind", "must be one of "
                       + ", ".join(k.value for k in Kind)) from None
        target = data.get("target", "")[:64]
        answer = data.get("answer")
        if answer == "grant":
            try:
                version = int(data.get("notice_version", ""))
            except ValueError:
                version = None
            notice = latest_notice(session)
            shown = notice if notice is not None and notice.version == version else None
            text = consent_text(p, session, kind, target, shown) if shown else ""
            birth = runtime.consent.birth_date(session, runtime.vault, subject, now)
            runtime.consent.record(session, p.actor, ConsentRequest(
                subject_id=subject, kind=kind, target=target, action=Action.GRANTED,
                channel=Channel.WEB, text_shown=text, notice_version=version,
            ), now=now, birth_date=birth)
            return redirect("/center/consents", ok="consent_granted")
        if answer == "withdraw":
            runtime.consent.record(session, p.actor, ConsentRequest(
                subject_id=subject, kind=kind, target=target, action=Action.WITHDRAWN,
                channel=Channel.WEB, text_shown="withdrawn by the consumer",
            ), now=now, birth_date=None)
            return redirect("/center/consents", ok="consent_withdrawn")
        raise _bad("answer", "consent.answer", "must be grant or withdraw")

    return await act(request, CONSUMER, do, back=_consents_page)


# ---------------------------------------------------------------- the privacy notice
_HEADING = re.compile(r"<(/?)h([1-5])\b")


def notice_body(info: NoticeVersionInfo, lang: str) -> Markup | None:
    """The published notice as the notice renderer writes it (autoescaped there), without its
    own page and style, headings one level down to sit under this page's title. None for a
    stored document the renderer cannot read (only hand-made test versions)."""
    try:
        html = render_notice(info.document, "en" if lang == "en" else "zh-CN", "html",
                             version=info.version, published_at=info.published_at,
                             content_hash_hex=info.content_hash)
    except (UndefinedError, KeyError, TypeError):
        return None
    body = html.split("<body>", 1)[-1].rsplit("</body>", 1)[0]
    return Markup(_HEADING.sub(lambda m: f"<{m.group(1)}h{int(m.group(2)) + 1}", body))


def last_agreed(states: Mapping[str, Status]) -> int | None:
    """The latest notice version the consumer consented under, or None."""
    versions = [s.notice_version for s in states.values() if s.notice_version is not None]
    return max(versions) if versions else None


@router.get("/center/notice", response_class=HTMLResponse)
def notice(request: Request) -> Response:
    """The notice in force, and what changed since the version the consumer last agreed to:
    the changes, and which of their consents must be given again."""

    def build(p: Page, session: Session) -> Response:
        runtime = p.runtime
        lang = p.lang
        current = latest_notice(session)
        if current is None:
            return p.render("center/notice.html", current=None)
        states = runtime.consent.states(session, _subject(p), utcnow())
        agreed = last_agreed(states)
        changes: list[dict[str, str]] = []
        if agreed is not None and agreed < current.version:
            before = get_notice(session, agreed)
            if before is not None:
                for c in diff_notices(before.document, current.document).changes:
                    changes.append({
                        "kind": CHANGE_KINDS.get(c.kind, CHANGE_KINDS["other"]),
                        "target": _target_label(p, c.target), "text": c.text,
                        "material": "yes" if c.material else "",
                    })
        suspended = [
            runtime.policy.purposes[s.target].label(lang)
            if s.kind == Kind.PURPOSE.value and s.target in runtime.policy.purposes
            else s.target
            for s in states.values() if s.state is ConsentState.SUSPENDED
        ]
        return p.render("center/notice.html", current=current, agreed=agreed,
                        changes=changes, suspended=suspended,
                        body=notice_body(current, lang))

    return show(request, CONSUMER, build)


def _target_label(p: Page, target: str) -> str:
    runtime = p.runtime
    if target in runtime.policy.purposes:
        return runtime.policy.purposes[target].label(p.lang)
    if target in runtime.catalog:
        return runtime.catalog[target].label(p.lang)
    return target


# ---------------------------------------------------------------- requests
def _request_row(p: Page, session: Session, r: SubjectRequest) -> dict[str, Any]:
    now = utcnow()
    state = RequestState(r.state)
    return {
        "id": r.request_id, "type": r.type, "state": r.state,
        "received_at": r.received_at,
        "answer_by": r.extended_answer_by or r.answer_by,
        "urgency": urgency(r, now).value if is_open(state) else None,
        "open": is_open(state),
        "verify": state in (RequestState.RECEIVED, RequestState.VERIFYING),
        "download": r.type in EXPORT_TYPES and r.state in EXPORT_STATES,
        "outcome": r.outcome,
        "statement": r.statement,
        "fields": [p.runtime.catalog[f].label(p.lang) if f in p.runtime.catalog else f
                   for f in (r.details or {}).get("fields") or []],
        "history": p.runtime.rights.history(session, r.request_id),
    }


def _requests_page(p: Page, session: Session, challenge: dict[str, Any] | None = None) -> Response:
    runtime = p.runtime
    mine = runtime.rights.mine(session, p.actor)
    correctable = [(f, runtime.catalog[f].label(p.lang)) for f in CORRECTABLE
                   if f in runtime.catalog]
    return p.render(
        "center/requests.html", requests=[_request_row(p, session, r) for r in mine],
        types=REQUEST_TYPES, filed_here=FILED_HERE, states=REQUEST_STATES, urgencies=URGENCY,
        channels=CHANNELS, correctable=correctable, challenge=challenge,
    )


@router.get("/center/requests", response_class=HTMLResponse)
def requests_page(request: Request) -> Response:
    return show(request, CONSUMER, _requests_page)


@router.post("/center/requests", response_class=HTMLResponse)
async def file_request(request: Request) -> Response:
    """Download my data, correct, delete or close my account; the deadline runs from now."""

    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        kind = data.get("type", "")
        if kind not in FILED_HERE:
            raise _bad("type", "request.type", "must be one of " + ", ".join(FILED_HERE))
        values = None
        if kind == RequestType.CORRECTION.value:
            field_name = data.get("field", "")
            if field_name not in CORRECTABLE:
                raise _bad("field", "request.field", "choose the information to correct")
            values = {field_name: data.get("value", "")}
        p.runtime.fulfilment.file(session, p.actor, type=RequestType(kind), details={},
                                  values=values, now=utcnow())
        return redirect("/center/requests", ok="request_filed")

    return await act(request, CONSUMER, do, back=_requests_page)


def _own_request(p: Page, session: Session, request_id: uuid.UUID) -> SubjectRequest:
    """As the API: only the requester's own request, else not found."""
    found = p.runtime.rights.get(session, p.actor, request_id)
    assert p.actor is not None
    if p.actor.role is not Role.CONSUMER or p.actor.subject_id != found.requester_subject_id:
        raise RequestNotFound(request_id)
    return found


@router.post("/center/requests/{request_id}/verify/start", response_class=HTMLResponse)
async def start_verification(request: Request, request_id: uuid.UUID) -> Response:
    """A one-time code to the phone or e-mail on file (shown masked), as the API does."""

    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        now = utcnow()
        found = _own_request(p, session, request_id)
        challenge = p.runtime.verifier.start(
            session, p.runtime.vault, found.requester_subject_id, data.get("channel", ""),
            str(request_id), now)
        if found.state == RequestState.RECEIVED.value:
            p.runtime.rights.move(session, p.actor, request_id, RequestState.VERIFYING, now=now)
        return _requests_page(p, session, challenge={
            "request_id": request_id, "challenge_id": challenge.challenge_id,
            "to": challenge.masked_destination, "expires_at": challenge.expires_at})

    return await act(request, CONSUMER, do, back=_requests_page)


@router.post("/center/requests/{request_id}/verify", response_class=HTMLResponse)
async def verify(request: Request, request_id: uuid.UUID) -> Response:
    """The right code moves the request into work; a wrong one counts against the limit (and
    that count commits with the refusal)."""
    data = await form(request)

    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        now = utcnow()
        found = _own_request(p, session, request_id)
        p.runtime.verifier.check(session, data.get("challenge_id", ""), data.get("code", ""),
                                 now, subject_id=found.requester_subject_id,
                                 request_ref=str(request_id))
        p.runtime.rights.move(session, VERIFIED_BY_CODE, request_id, RequestState.IN_PROGRESS,
                              note="identity verified", now=now)
        return redirect("/center/requests", ok="request_verified")

    def again(p: Page, session: Session) -> Response:
        # The code form stays, for the same challenge, so a typo costs one attempt only.
        challenge = None
        with contextlib.suppress(ValueError):
            challenge = {"request_id": request_id,
                         "challenge_id": uuid.UUID(data.get("challenge_id", ""))}
        return _requests_page(p, session, challenge=challenge)

    return await act(request, CONSUMER, do, back=again)


@router.post("/center/requests/{request_id}/withdraw", response_class=HTMLResponse)
async def withdraw_request(request: Request, request_id: uuid.UUID) -> Response:
    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        p.runtime.rights.move(session, p.actor, request_id, RequestState.WITHDRAWN, note="",
                              now=utcnow())
        return redirect("/center/requests", ok="request_withdrawn")

    return await act(request, CONSUMER, do, back=_requests_page)


SPOOL_BYTES = 1 << 20
STREAM_CHUNK = 64 * 1024


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        while block := spool.read(STREAM_CHUNK):
            yield block
    finally:
        spool.close()


@router.get("/center/requests/{request_id}/export")
def export(request: Request, request_id: uuid.UUID) -> Response:
    """The access package (zip) of the consumer's own verified request, made inside the
    transaction (so the gate's log entry commits only with a package) and streamed from a
    spooled file, exactly as GET /v1/me/requests/{id}/export."""
    now = utcnow()
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 closed by _chunks

    def build(p: Page, session: Session) -> Response:
        found = _own_request(p, session, request_id)
        if found.subject_id != _subject(p):
            raise RequestNotFound(request_id)
        if found.type not in EXPORT_TYPES:
            raise NoExportPackage(request_id)
        if found.state not in EXPORT_STATES:
            raise ExportNotReady(RequestState(found.state))
        write_export(session, p.runtime.vault, p.runtime.catalog, p.runtime.policy, p.actor,
                     found.subject_id, spool, now=now)
        spool.seek(0)
        filename = f"privguard-export-{now.date().isoformat()}.zip"
        return StreamingResponse(
            _chunks(spool), media_type="application/zip",
            headers={**SECURITY_HEADERS,
                     "Content-Disposition": f'attachment; filename="{filename}"'},
            background=BackgroundTask(spool.close),
        )

    response = show(request, CONSUMER, build)
    if not isinstance(response, StreamingResponse):
        spool.close()
    return response


# ---------------------------------------------------------------- complaints
def _orders(session: Session, subject_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Order.order_id, Order.placed_at, Organisation.name)
        .join(Organisation, Organisation.organisation_id == Order.merchant_id)
        .where(Order.subject_id == subject_id)
        .order_by(Order.placed_at.desc()).limit(50)
    ).all()
    return [{"id": r.order_id, "placed_at": r.placed_at, "merchant": r.name} for r in rows]


def _complaints_page(p: Page, session: Session) -> Response:
    cases = p.runtime.cases.mine(session, p.actor)
    return p.render("center/complaints.html", cases=cases, categories=CASE_CATEGORIES,
                    states=CASE_STATES, orders=_orders(session, _subject(p)))


@router.get("/center/complaints", response_class=HTMLResponse)
def complaints(request: Request) -> Response:
    return show(request, CONSUMER, _complaints_page)


@router.post("/center/complaints", response_class=HTMLResponse)
async def file_complaint(request: Request) -> Response:
    """A complaint: redacted by the detector before it is stored; deadlines in the answer."""

    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        try:
            category = Category(data.get("category", ""))
        except ValueError:
            raise _bad("category", "case.category", "choose what the complaint is about") \
                from None
        order_id = _uuid(data["order_id"], "order_id") if data.get("order_id") else None
        case = p.runtime.cases.file(session, p.actor, category=category,
                                    description=data.get("description", ""), order_id=order_id,
                                    merchant_id=None, now=utcnow())
        return redirect(f"/center/complaints/{case.case_id}", ok="complaint_filed")

    return await act(request, CONSUMER, do, back=_complaints_page)


def _case_page(case_id: uuid.UUID) -> Any:
    def build(p: Page, session: Session) -> Response:
        case = p.runtime.cases.get(session, p.actor, case_id)
        return p.render("center/complaint.html", case=case,
                        history=p.runtime.cases.history(session, case_id),
                        categories=CASE_CATEGORIES, states=CASE_STATES,
                        open=State(case.state) not in (State.RESOLVED, State.REJECTED))

    return build


@router.get("/center/complaints/{case_id}", response_class=HTMLResponse)
def complaint(request: Request, case_id: uuid.UUID) -> Response:
    """Follow one complaint: its state, deadlines, history and the finding."""
    return show(request, CONSUMER, _case_page(case_id))


@router.post("/center/complaints/{case_id}/info", response_class=HTMLResponse)
async def add_info(request: Request, case_id: uuid.UUID) -> Response:
    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        p.runtime.cases.add_info(session, p.actor, case_id, data.get("text", ""), now=utcnow())
        return redirect(f"/center/complaints/{case_id}", ok="info_added")

    return await act(request, CONSUMER, do, back=_case_page(case_id))


# ---------------------------------------------------------------- relay aliases
def _relays_page(p: Page, session: Session) -> Response:
    rows = relays_of(p.runtime).mine(session, p.actor, now=utcnow())
    names = {o.organisation_id: o.name for o in session.execute(select(Organisation).where(
        Organisation.organisation_id.in_({v.merchant_id for v, _ in rows}))).scalars()} \
        if rows else {}
    return p.render("center/relays.html", aliases=[
        {"view": v, "merchant": names.get(v.merchant_id, ""), "contacts": contacts}
        for v, contacts in rows], states=ALIAS_STATES)


@router.get("/center/relays", response_class=HTMLResponse)
def relays(request: Request) -> Response:
    """My orders' relay numbers and addresses, who used them, and a revoke button each."""
    return show(request, CONSUMER, _relays_page)


@router.post("/center/relays/{alias_id}/revoke", response_class=HTMLResponse)
async def revoke_alias(request: Request, alias_id: uuid.UUID) -> Response:
    def do(p: Page, session: Session, data: dict[str, str]) -> Response:
        relays_of(p.runtime).revoke(session, p.actor, alias_id, now=utcnow())
        return redirect("/center/relays", ok="alias_revoked")

    return await act(request, CONSUMER, do, back=_relays_page)


# ---------------------------------------------------------------- merchants' ratings
MAX_MERCHANTS = 100


@router.get("/center/ratings", response_class=HTMLResponse)
def ratings(request: Request) -> Response:
    """Each merchant's privacy grade (A best, E worst), as on its shop page; merchants the
    consumer bought from first."""

    def build(p: Page, session: Session) -> Response:
        now = utcnow()
        mine = set(session.execute(select(Order.merchant_id).where(
            Order.subject_id == _subject(p))).scalars())
        merchants = session.execute(
            select(Organisation).where(Organisation.kind == "merchant")
            .order_by(Organisation.name).limit(MAX_MERCHANTS)
        ).scalars().all()
        rows = []
        for m in merchants:
            standing = p.runtime.supervision.standing(session, m.organisation_id, now)
            rows.append({"name": m.name, "grade": standing["grade"],
                         "mine": m.organisation_id in mine})
        rows.sort(key=lambda r: (not r["mine"], r["name"]))
        return p.render("center/ratings.html", rows=rows, grades=GRADES)

    return show(request, CONSUMER, build)
