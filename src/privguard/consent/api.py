"""HTTP routes for consent: the consumer's own answers, relayed withdrawals, guardians."""

from __future__ import annotations

import html
import uuid
from typing import Literal

from fastapi import APIRouter, Response, status
from fastapi.responses import HTMLResponse, JSONResponse

from privguard.api.deps import ActorDep, RuntimeDep, transaction
from privguard.api.errors import ErrorResponse
from privguard.api.threads import run_sync
from privguard.audit.service import log_access
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.consent.decisions import CHANNEL_PURPOSES, purpose_of_channel
from privguard.consent.models import Guardianship
from privguard.consent.notices import latest_notice
from privguard.consent.receipts import build_receipt, render_receipt_html
from privguard.consent.rules import Action, Channel, Kind, State, Status, topic
from privguard.consent.schemas import (
    ConsentCheck,
    ConsentCheckOut,
    ConsentGrant,
    ConsentsOut,
    ConsentWithdraw,
    GuardianIn,
    HistoryEvent,
    InboundSms,
    InboundSmsOut,
    Recorded,
    RelayedWithdraw,
    SendOut,
    SendRequest,
    StatusOut,
)
from privguard.consent.service import ConsentRequest
from privguard.consent.unsubscribe import is_unsubscribe_reply, link_payload, parse_link_payload
from privguard.crypto.tokens import LinkSigner
from privguard.policy.rules import ActorRef, Decision, Role, View
from privguard.vault.errors import AccessDenied, FieldError, InvalidPI, SubjectNotFound
from privguard.vault.models import Subject

router = APIRouter(tags=["consent"])

ERRORS = {
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."},
    403: {"model": ErrorResponse, "description": "Not yours to answer; `rule` says why."},
    404: {"model": ErrorResponse, "description": "No such subject."},
    410: {"model": ErrorResponse, "description": "The subject was erased."},
    422: {"model": ErrorResponse, "description": "Invalid answer; `fields` names the rule."},
}
RULE_CONSUMERS_ONLY = "consent.consumers-only"
RULE_GUARDIANS = "consent.guardians-recorded-by-officers"


def _status_out(s: Status) -> StatusOut:
    return StatusOut(
        kind=s.kind,
        target=s.target,
        state=s.state.value,
        since=s.since,
        notice_version=s.notice_version,
    )


def _whose(actor: ActorRef, subject_id: uuid.UUID | None) -> uuid.UUID:
    if actor.role is not Role.CONSUMER or actor.subject_id is None:
        raise AccessDenied(RULE_CONSUMERS_ONLY, "consents are given by consumer accounts")
    return subject_id or actor.subject_id


def _state_after(
    runtime: Runtime, session: object, subject_id: uuid.UUID, kind: str, target: str
) -> StatusOut:
    states = runtime.consent.states(session, subject_id, utcnow())  # type: ignore[arg-type]
    found = states.get(topic(kind, target))
    if found is None:
        found = Status(kind, target, State.NEVER_ASKED, None, None)
    return _status_out(found)


@router.get("/v1/me/consents", response_model=ConsentsOut, responses=ERRORS, summary="My consents")
def my_consents(runtime: RuntimeDep, actor: ActorDep) -> ConsentsOut:
    """Every consent you have answered and its state now; purposes you never answered are
    `never_asked` and therefore refused."""
    subject_id = _whose(actor, None)
    now = utcnow()
    with transaction(runtime) as session:
        states = runtime.consent.states(session, subject_id, now)
        notice = latest_notice(session)
        latest = notice.version if notice is not None else None
    optional = runtime.consent.optional_purposes()
    listed = dict(states)
    for purpose in optional:
        key = topic(Kind.PURPOSE, purpose)
        listed.setdefault(key, Status(Kind.PURPOSE.value, purpose, State.NEVER_ASKED, None, None))
    return ConsentsOut(
        subject_id=subject_id,
        notice_version=latest,
        optional_purposes=optional,
        consents=[_status_out(s) for _, s in sorted(listed.items())],
    )


@router.post(
    "/v1/me/consents",
    status_code=status.HTTP_201_CREATED,
    response_model=Recorded,
    responses=ERRORS,
    summary="Give one consent",
)
def give_consent(body: ConsentGrant, runtime: RuntimeDep, actor: ActorDep) -> Recorded:
    """Exactly one consent per request, against the notice in force, with the words shown.
    Separate consents (third party, sensitive, public disclosure, cross-border) are each their
    own request and can never ride along with another answer."""
    subject_id = _whose(actor, body.subject_id)
    now = utcnow()
    with transaction(runtime) as session:
        birth = runtime.consent.birth_date(session, runtime.vault, subject_id, now)
        event_id = runtime.consent.record(
            session,
            actor,
            ConsentRequest(
                subject_id=subject_id,
                kind=Kind(body.kind),
                target=body.target,
                action=Action.GRANTED,
                channel=Channel(body.channel),
                text_shown=body.text_shown,
                notice_version=body.notice_version,
                expires_at=body.expires_at,
            ),
            now=now,
            birth_date=birth,
        )
        state = _state_after(runtime, session, subject_id, body.kind, body.target)
    return Recorded(event_id=event_id, state=state)


@router.post(
    "/v1/me/consents/withdraw",
    response_model=Recorded,
    responses=ERRORS,
    summary="Withdraw one consent",
)
def withdraw_consent(body: ConsentWithdraw, runtime: RuntimeDep, actor: ActorDep) -> Recorded:
    """One call; the next decision anywhere already sees it (PIPL Art. 15)."""
    subject_id = _whose(actor, body.subject_id)
    return _withdraw(
        runtime,
        actor,
        subject_id,
        body.kind,
        body.target,
        Channel(body.channel),
        "withdrawn by the consumer",
    )


@router.post(
    "/v1/subjects/{subject_id}/consents/withdraw",
    response_model=Recorded,
    responses=ERRORS,
    summary="Record a withdrawal received elsewhere",
)
def relay_withdrawal(
    subject_id: uuid.UUID, body: RelayedWithdraw, runtime: RuntimeDep, actor: ActorDep
) -> Recorded:
    """Customer service records a withdrawal asked for on the phone (`support`); the platform's
    inbound hooks record unsubscribe replies (`sms`: 退订/TD), links (`email`) and Sec-GPC (`gpc`).
    Nothing can be granted this way."""
    return _withdraw(
        runtime,
        actor,
        subject_id,
        body.kind,
        body.target,
        Channel(body.channel),
        body.text_shown or f"withdrawal received via {body.channel}",
    )


def _withdraw(
    runtime: Runtime,
    actor: ActorRef,
    subject_id: uuid.UUID,
    kind: str,
    target: str,
    channel: Channel,
    text: str,
) -> Recorded:
    now = utcnow()
    with transaction(runtime) as session:
        event_id = runtime.consent.record(
            session,
            actor,
            ConsentRequest(
                subject_id=subject_id,
                kind=Kind(kind),
                target=target,
                action=Action.WITHDRAWN,
                channel=channel,
                text_shown=text,
            ),
            now=now,
            birth_date=None,
        )
        state = _state_after(runtime, session, subject_id, kind, target)
    return Recorded(event_id=event_id, state=state)


@router.post(
    "/v1/subjects/{subject_id}/guardians",
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
    summary="Record a verified guardian",
)
def add_guardian(
    subject_id: uuid.UUID, body: GuardianIn, runtime: RuntimeDep, actor: ActorDep
) -> dict[str, str]:
    """The protection officer records a guardian verified outside privguard; from then on only
    the guardian can consent for the child while the child is under 14 (PIPL Art. 31)."""
    if actor.role not in (Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN):
        raise AccessDenied(RULE_GUARDIANS, "guardians are recorded by the protection officer")
    if body.guardian_subject_id == subject_id:
        raise InvalidPI(
            [
                FieldError(
                    "guardian_subject_id", "guardian.self", "a person cannot be their own guardian"
                )
            ]
        )
    with transaction(runtime) as session:
        for sid in (subject_id, body.guardian_subject_id):
            row = session.get(Subject, sid)
            if row is None or row.status != "active":
                raise SubjectNotFound(sid)
        session.merge(
            Guardianship(
                subject_id=subject_id,
                guardian_subject_id=body.guardian_subject_id,
                relation=body.relation,
                recorded_at=utcnow(),
                recorded_by=actor.actor_id,
            )
        )
    return {"subject_id": str(subject_id), "guardian_subject_id": str(body.guardian_subject_id)}


RULE_NOT_YOUR_PURPOSE = "consent.check-not-your-purpose"
RULE_CONTACT = "consent.contact"


def _service_purpose(
    runtime: Runtime, actor: ActorRef, purpose: str | None, channel: str | None
) -> str:
    if (purpose is None) == (channel is None):
        raise InvalidPI(
            [FieldError("purpose", "request.one_of", "give exactly one of purpose and channel")]
        )
    name = purpose or purpose_of_channel(str(channel))
    if name not in runtime.policy.purposes:
        raise InvalidPI(
            [FieldError("purpose", "policy.unknown_purpose", "is not a purpose of the policy")]
        )
    if not runtime.policy.works_for(actor.role, name):
        raise AccessDenied(
            RULE_NOT_YOUR_PURPOSE, f"{actor.role.value} does not work for purpose {name}"
        )
    return name


@router.post(
    "/v1/consent/check",
    response_model=ConsentCheckOut,
    responses=ERRORS,
    summary="May we? For up to 1,000 customers",
)
async def check_consent(
    body: ConsentCheck, runtime: RuntimeDep, actor: ActorDep
) -> ConsentCheckOut:
    """For recommendation, search, ads and messaging services: whether each customer currently
    consents to the purpose (or the marketing channel). Only roles that work for that purpose
    may ask; the answer for sharing is for the asking organisation as recipient."""
    purpose = _service_purpose(runtime, actor, body.purpose, body.channel)

    def check() -> dict[uuid.UUID, bool]:
        allowed = runtime.consent_cache.may_use_many(
            body.subject_ids, purpose, recipient=actor.organisation_id
        )
        with transaction(runtime) as session:
            log_access(
                session,
                actor=actor,
                subject_id=None,
                action="consent.check",
                purpose=purpose,
                decisions=[Decision("*", View.MASKED, RULE_CONTACT, "consent states asked")],
                now=utcnow(),
                detail={"subjects": len(allowed)},
            )
        return allowed

    return ConsentCheckOut(purpose=purpose, allowed=await run_sync(check))


@router.post(
    "/v1/contact/sends",
    response_model=SendOut,
    responses=ERRORS,
    summary="Send a marketing message (consent checked per customer)",
)
def send_marketing(body: SendRequest, runtime: RuntimeDep, actor: ActorDep) -> SendOut:
    """Each customer without a current consent for the channel is refused, and every answer is
    in that customer's access log (Consumer Rights Protection Law Art. 29: no commercial
    messages without consent or after a refusal). Accepted messages go to the relay."""
    purpose = _service_purpose(runtime, actor, None, body.channel)
    now = utcnow()
    allowed = runtime.consent_cache.may_use_many(body.subject_ids, purpose, now=now)
    ok = Decision("*", View.MASKED, RULE_CONTACT, f"consent to {purpose} on record")
    refused = Decision("*", View.NONE, "consent.missing", f"consent missing for purpose {purpose}")
    with transaction(runtime) as session:
        for sid, yes in allowed.items():
            log_access(
                session,
                actor=actor,
                subject_id=sid,
                action="contact.send",
                purpose=purpose,
                decisions=[ok if yes else refused],
                now=now,
                detail={"channel": body.channel, "campaign": body.campaign},
            )
    accepted = [s for s, yes in allowed.items() if yes]
    links = {}
    if body.channel == "email":
        signer = _link_signer(runtime)
        links = {
            s: "/v1/unsubscribe?token=" + signer.make(link_payload(s, body.channel))
            for s in accepted
        }
    return SendOut(
        channel=body.channel,
        accepted=accepted,
        refused=[s for s, yes in allowed.items() if not yes],
        unsubscribe_links=links,
    )


HISTORY_FIELDS = {"browsing": "browsing_history", "search": "search_history"}


@router.post(
    "/v1/subjects/{subject_id}/history",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
    summary="Collect a browsing or search event",
)
def collect_history(
    subject_id: uuid.UUID, body: HistoryEvent, runtime: RuntimeDep, actor: ActorDep
) -> None:
    """The collector appends one event to the customer's encrypted history, only while the
    customer allows collection (purpose `history_collection`); otherwise 403
    `consent.missing` and nothing is stored."""
    record: dict[str, str] = {"at": body.at.isoformat()}
    if body.kind == "browsing":
        if not body.item:
            raise InvalidPI([FieldError("item", "required.missing", "a browsing event needs item")])
        record["item"] = body.item
    else:
        if not body.query:
            raise InvalidPI([FieldError("query", "required.missing", "a search event needs query")])
        record["query"] = body.query
    with transaction(runtime) as session:
        runtime.vault.append_records(
            session,
            actor,
            subject_id,
            HISTORY_FIELDS[body.kind],
            [record],
            purpose="history_collection",
            now=utcnow(),
        )


@router.get(
    "/v1/me/consents/{event_id}/receipt",
    responses={
        **ERRORS,
        200: {"description": "The receipt as JSON, or a readable page with `format=html`."},
    },
    summary="A receipt for one consent answer",
)
def consent_receipt(
    event_id: int,
    runtime: RuntimeDep,
    actor: ActorDep,
    format: Literal["json", "html"] = "json",
    locale: Literal["zh-CN", "en"] = "zh-CN",
) -> Response:
    """What you agreed to or withdrew, when, under which notice version (with its hash), the
    exact words shown, and how to withdraw."""
    subject_id = _whose(actor, None)
    with transaction(runtime) as session:
        receipt = build_receipt(
            session, runtime.policy, runtime.catalog, subject_id, event_id, locale
        )
    if format == "html":
        return HTMLResponse(render_receipt_html(receipt, locale))
    return JSONResponse(receipt)


# The platform's own hooks (the SMS gateway, the unsubscribe page) record withdrawals as this.
UNSUBSCRIBE_RELAY = ActorRef(actor_id=None, role=Role.PLATFORM_ADMIN, display_name="unsubscribe")


def _link_signer(runtime: Runtime) -> LinkSigner:
    return LinkSigner(runtime.keys.blind_index_root(), "unsubscribe")


@router.post(
    "/v1/inbound/sms",
    response_model=InboundSmsOut,
    responses=ERRORS,
    summary="An SMS reply (unsubscribe keywords)",
)
def inbound_sms(body: InboundSms, runtime: RuntimeDep, actor: ActorDep) -> InboundSmsOut:
    """For the SMS gateway: a reply of TD, 退订, STOP… withdraws marketing SMS for every
    customer with that number. Any other reply is ignored and not stored."""
    if actor.role is not Role.PLATFORM_ADMIN:
        raise AccessDenied(RULE_NOT_YOUR_PURPOSE, "only the platform's SMS gateway reports replies")
    if not is_unsubscribe_reply(body.text):
        return InboundSmsOut(unsubscribe=False, withdrawn=[])
    now = utcnow()
    keyword = body.text.strip()[:16]
    with transaction(runtime) as session:
        subjects = runtime.vault.lookup(
            session, actor, "mobile_phone", body.phone, purpose="account_management", now=now
        )
        for sid in subjects:
            runtime.consent.record(
                session,
                UNSUBSCRIBE_RELAY,
                ConsentRequest(
                    subject_id=sid,
                    kind=Kind.PURPOSE,
                    target="marketing_sms",
                    action=Action.WITHDRAWN,
                    channel=Channel.SMS,
                    text_shown=f"SMS reply: {keyword}",
                ),
                now=now,
                birth_date=None,
            )
    return InboundSmsOut(unsubscribe=True, withdrawn=subjects)


_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>
</head><body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">{body}</body></html>"""


@router.get(
    "/v1/unsubscribe",
    response_class=HTMLResponse,
    include_in_schema=True,
    summary="Unsubscribe page (from an email link)",
)
def unsubscribe_page(token: str) -> HTMLResponse:
    """Shows a one-button page; the button POSTs the same link (RFC 8058 one-click). Nothing is
    recorded on GET, so link scanners in mail systems cannot unsubscribe anyone."""
    form = (
        f'<form method="post" action="/v1/unsubscribe?token={html.escape(token, quote=True)}">'
        "<p>不再接收此类邮件？ / Stop these emails?</p>"
        '<button type="submit">退订 / Unsubscribe</button></form>'
    )
    return HTMLResponse(_PAGE.format(title="退订 / Unsubscribe", body=form))


@router.post(
    "/v1/unsubscribe",
    response_class=HTMLResponse,
    summary="Unsubscribe (one click)",
    responses={404: {"description": "A forged, altered or unknown link (an HTML page)."}},
)
def unsubscribe(token: str, runtime: RuntimeDep) -> HTMLResponse:
    """Records the withdrawal of the link's channel for the link's customer; no sign-in, the
    signed token is the authority. A forged or altered link changes nothing."""
    parsed = None
    payload = _link_signer(runtime).open(token)
    if payload is not None:
        parsed = parse_link_payload(payload)
    if parsed is None or parsed[1] not in CHANNEL_PURPOSES:
        return HTMLResponse(
            _PAGE.format(title="链接无效", body="<p>链接无效 / Invalid link</p>"), status_code=404
        )
    subject_id, channel = parsed
    with transaction(runtime) as session:
        runtime.consent.record(
            session,
            UNSUBSCRIBE_RELAY,
            ConsentRequest(
                subject_id=subject_id,
                kind=Kind.PURPOSE,
                target=CHANNEL_PURPOSES[channel],
                action=Action.WITHDRAWN,
                channel=Channel.EMAIL,
                text_shown="unsubscribe link",
            ),
            now=utcnow(),
            birth_date=None,
        )
    return HTMLResponse(_PAGE.format(title="已退订", body="<p>已退订 / You are unsubscribed.</p>"))
