"""Complaints and reports: filing, following, the officer's workflow, attachments.

PIPL Art. 50 asks for a convenient way to complain and reasons for a refusal; a consumer's
report of a leak or harassment must lead somewhere. So every case has a queue, deadlines that
escalate, an append-only history the filer can read, and, when upheld against a merchant, a
consequence (cases/supervision.py). Services take the caller's session and never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from privguard.audit.service import log_access
from privguard.cases.models import Case, CaseAttachment, CaseEvent
from privguard.cases.rules import (
    OPEN_TO_ANYONE,
    CaseDeadlines,
    Category,
    Queue,
    State,
    check_transition,
    due_dates,
    queue_of,
)
from privguard.crypto.envelope import Sealer, new_data_key
from privguard.crypto.providers import KeyProvider
from privguard.marketplace.errors import MarketplaceNotFound
from privguard.marketplace.models import Order, Organisation
from privguard.policy.rules import ActorRef, Decision, Role, View
from privguard.vault.errors import AccessDenied, FieldError, InvalidPI

# Who works each queue. Customer service handles commerce complaints, not privacy ones: a
# complaint about misuse must not be handled by those it may be about.
HANDLERS: dict[Queue, frozenset[Role]] = {
    Queue.PRIVACY: frozenset({Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN}),
    Queue.COMMERCE: frozenset({Role.CUSTOMER_SERVICE, Role.PLATFORM_ADMIN, Role.PRIVACY_OFFICER}),
}
RULE_CASES = "cases.handlers"
RULE_FILER = "cases.filer"
MAX_TEXT = 5000
MAX_ATTACHMENT = 5 * 1024 * 1024
ATTACHMENT_TYPES = {  # media type -> leading bytes: the content must be what it claims
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
    "application/pdf": b"%PDF-",
}

Redactor = Callable[[str], tuple[str, int]]  # text -> (redacted text, spans hidden)


class CaseNotFound(MarketplaceNotFound):
    code = "case_not_found"

    def __init__(self, case_id: uuid.UUID) -> None:
        super().__init__(f"no case {case_id}")


def _attachment_context(attachment_id: uuid.UUID) -> bytes:
    return f"privguard/case-attachment/v1|{attachment_id}".encode()


def _bad(field_name: str, rule: str, message: str) -> InvalidPI:
    return InvalidPI([FieldError(field_name, rule, message)])


class Cases:
    def __init__(
        self,
        keys: KeyProvider,
        redactor: Redactor,
        deadlines: CaseDeadlines = CaseDeadlines(),
        on_resolved: list[Callable[[Session, Case, ActorRef, datetime], None]] | None = None,
    ) -> None:
        self.keys = keys
        self.redactor = redactor
        self.deadlines = deadlines
        self.on_resolved = on_resolved if on_resolved is not None else []

    # ------------------------------------------------------------------ filing
    def file(
        self,
        session: Session,
        actor: ActorRef,
        *,
        category: Category,
        description: str,
        now: datetime,
        order_id: uuid.UUID | None = None,
        merchant_id: uuid.UUID | None = None,
    ) -> Case:
        """A consumer complains about their own order or a merchant; anyone with an account
        may report a leak, harassment or misuse. The description is redacted before it is
        stored: the investigator needs what happened, not the numbers typed into it."""
        consumer = actor.role is Role.CONSUMER and actor.subject_id is not None
        if not consumer and category not in OPEN_TO_ANYONE:
            raise AccessDenied(RULE_FILER, "only consumers file complaints; others may report "
                               + ", ".join(sorted(c.value for c in OPEN_TO_ANYONE)))
        text = description.strip()
        if not text or len(text) > MAX_TEXT:
            raise _bad("description", "case.description", f"1 to {MAX_TEXT} characters")
        if order_id is not None:
            order = session.get(Order, order_id)
            if order is None or not consumer or order.subject_id != actor.subject_id:
                raise _bad("order_id", "case.order", "must be one of your orders")
            merchant_id = merchant_id or order.merchant_id
            if merchant_id != order.merchant_id:
                raise _bad("merchant_id", "case.merchant", "is not the order's merchant")
        if merchant_id is not None:
            org = session.get(Organisation, merchant_id)
            if org is None or org.kind != "merchant":
                raise _bad("merchant_id", "case.merchant", "must be a registered merchant")
        redacted, hidden = self.redactor(text)
        triage_by, resolve_by = due_dates(now, self.deadlines)
        case = Case(
            case_id=uuid.uuid4(),
            category=category.value,
            queue=queue_of(category).value,
            state=State.RECEIVED.value,
            filer_actor_id=actor.actor_id,
            subject_id=actor.subject_id if consumer else None,
            order_id=order_id,
            merchant_id=merchant_id,
            description=redacted,
            redactions=hidden,
            received_at=now,
            triage_by=triage_by,
            resolve_by=resolve_by,
        )
        session.add(case)
        session.flush()
        self._event(session, case, actor, "state", None, State.RECEIVED, "", now)
        return case

    # ------------------------------------------------------------------ reading
    def _visible(self, actor: ActorRef, case: Case) -> bool:
        return (
            actor.actor_id is not None and case.filer_actor_id == actor.actor_id
        ) or actor.role in HANDLERS[Queue(case.queue)] or actor.role is Role.AUDITOR

    def get(self, session: Session, actor: ActorRef, case_id: uuid.UUID, *,
            lock: bool = False) -> Case:
        stmt = select(Case).where(Case.case_id == case_id)
        if lock:
            stmt = stmt.with_for_update()
        case = session.execute(stmt).scalar_one_or_none()
        if case is None or not self._visible(actor, case):
            raise CaseNotFound(case_id)
        return case

    def history(self, session: Session, case_id: uuid.UUID) -> list[CaseEvent]:
        return list(session.execute(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.event_id)
        ).scalars())

    def mine(self, session: Session, actor: ActorRef) -> list[Case]:
        if actor.actor_id is None:
            return []
        return list(session.execute(
            select(Case).where(Case.filer_actor_id == actor.actor_id)
            .order_by(Case.received_at.desc())
        ).scalars())

    def queue(self, session: Session, actor: ActorRef, queue: Queue) -> list[Case]:
        """Open cases of a queue, soonest deadline first."""
        if actor.role not in HANDLERS[queue] and actor.role is not Role.AUDITOR:
            raise AccessDenied(RULE_CASES, f"the {queue.value} queue is not yours")
        open_states = [s.value for s in State if s not in (State.RESOLVED, State.REJECTED)]
        return list(session.execute(
            select(Case).where(Case.queue == queue.value, Case.state.in_(open_states))
            .order_by(Case.resolve_by)
        ).scalars())

    # ------------------------------------------------------------------ working
    def _handler(self, actor: ActorRef, case: Case) -> None:
        if actor.role not in HANDLERS[Queue(case.queue)]:
            raise AccessDenied(RULE_CASES, f"the {case.queue} queue's handlers work this case")

    def move(
        self,
        session: Session,
        actor: ActorRef,
        case_id: uuid.UUID,
        to: State,
        *,
        now: datetime,
        note: str = "",
    ) -> Case:
        """Triage, start investigating, or reject (the reason is shown to the filer)."""
        case = self.get(session, actor, case_id, lock=True)
        self._handler(actor, case)
        current = State(case.state)
        check_transition(current, to)
        if to is State.RESOLVED:
            raise _bad("state", "case.resolve", "resolve with a finding (resolve step)")
        if to is State.REJECTED:
            if not note.strip():
                raise _bad("note", "case.reason_required", "a rejection must say why")
            case.finding = self.redactor(note.strip())[0]
            case.closed_at = now
        case.state = to.value
        self._event(session, case, actor, "state", current, to, note, now)
        return case

    def resolve(
        self,
        session: Session,
        actor: ActorRef,
        case_id: uuid.UUID,
        *,
        upheld: bool,
        finding: str,
        corrective_action: str,
        now: datetime,
    ) -> Case:
        """Close an investigation with the finding the filer reads and the corrective action.
        An upheld case against a merchant counts on its compliance record at once."""
        case = self.get(session, actor, case_id, lock=True)
        self._handler(actor, case)
        current = State(case.state)
        check_transition(current, State.RESOLVED)
        problems = [
            FieldError(name, "required.text", "must say what was found and done")
            for name, value in (("finding", finding), ("corrective_action", corrective_action))
            if not value.strip()
        ]
        if problems:
            raise InvalidPI(problems)
        case.state = State.RESOLVED.value
        case.upheld = upheld
        case.finding = self.redactor(finding.strip())[0]
        case.corrective_action = self.redactor(corrective_action.strip())[0]
        case.closed_at = now
        self._event(session, case, actor, "state", current, State.RESOLVED,
                    "upheld" if upheld else "not upheld", now)
        for hook in self.on_resolved:
            hook(session, case, actor, now)
        return case

    def add_info(
        self, session: Session, actor: ActorRef, case_id: uuid.UUID, text: str, *, now: datetime
    ) -> CaseEvent:
        """The filer adds information, or a handler a note; redacted like the description."""
        case = self.get(session, actor, case_id)
        if State(case.state) in (State.RESOLVED, State.REJECTED):
            raise _bad("text", "case.closed", "the case is closed")
        if not text.strip() or len(text) > MAX_TEXT:
            raise _bad("text", "case.info", f"1 to {MAX_TEXT} characters")
        return self._event(session, case, actor, "info", None, None,
                           self.redactor(text.strip())[0], now)

    def attach(
        self,
        session: Session,
        actor: ActorRef,
        case_id: uuid.UUID,
        *,
        media_type: str,
        data: bytes,
        now: datetime,
    ) -> CaseAttachment:
        """A screenshot or document, checked for size and real type, sealed under a key of
        its own; only the case's handlers read it back (logged)."""
        case = self.get(session, actor, case_id)
        magic = ATTACHMENT_TYPES.get(media_type)
        if magic is None:
            raise _bad("media_type", "case.attachment_type",
                       "must be one of " + ", ".join(sorted(ATTACHMENT_TYPES)))
        if not data or len(data) > MAX_ATTACHMENT:
            raise _bad("file", "case.attachment_size", f"1 byte to {MAX_ATTACHMENT} bytes")
        if not data.startswith(magic):
            raise _bad("file", "case.attachment_content", f"is not a {media_type} file")
        attachment_id = uuid.uuid4()
        key = new_data_key()
        key_id, wrapped = self.keys.wrap(key, _attachment_context(attachment_id))
        row = CaseAttachment(
            attachment_id=attachment_id, case_id=case.case_id, media_type=media_type,
            size=len(data), master_key_id=key_id, wrapped_key=wrapped,
            sealed=Sealer(key).seal(data, _attachment_context(attachment_id)),
            added_at=now, added_by=actor.actor_id,
        )
        session.add(row)
        self._event(session, case, actor, "attachment", None, None, media_type, now)
        return row

    def read_attachment(
        self, session: Session, actor: ActorRef, attachment_id: uuid.UUID, *, now: datetime
    ) -> tuple[str, bytes]:
        row = session.get(CaseAttachment, attachment_id)
        case = session.get(Case, row.case_id) if row is not None else None
        if row is None or case is None or actor.role not in HANDLERS[Queue(case.queue)]:
            raise CaseNotFound(attachment_id)
        log_access(session, actor=actor, subject_id=case.subject_id, action="read_attachment",
                   purpose="complaint_investigation",
                   decisions=[Decision("attachment", View.PLAIN, RULE_CASES,
                                       "the case's handler reads its attachment")],
                   now=now, detail={"case": str(case.case_id)})
        key = self.keys.unwrap(row.master_key_id, row.wrapped_key,
                               _attachment_context(attachment_id))
        return row.media_type, Sealer(key).open(row.sealed, _attachment_context(attachment_id))

    def assign(self, session: Session, actor: ActorRef, case_id: uuid.UUID,
               assignee: uuid.UUID, *, now: datetime) -> Case:
        case = self.get(session, actor, case_id, lock=True)
        self._handler(actor, case)
        case.assigned_to = assignee
        self._event(session, case, actor, "assign", None, None, str(assignee), now)
        return case

    @staticmethod
    def _event(session: Session, case: Case, actor: ActorRef, kind: str,
               old: State | None, new: State | None, note: str, now: datetime) -> CaseEvent:
        event = CaseEvent(case_id=case.case_id, at=now, actor_id=actor.actor_id,
                          role=actor.role.value, kind=kind,
                          from_state=old.value if old else None,
                          to_state=new.value if new else None, note=note)
        session.add(event)
        session.flush()
        return event


def detector_redactor(text: str) -> tuple[str, int]:
    """The project's detector (privguard.detect) with type tags: ``<PHONE_NUMBER>``."""
    from privguard.detect import scan
    from privguard.detect.operators import Replace, redact_with

    findings = scan(text)
    return redact_with(text, findings, Replace(), None), len(findings)
