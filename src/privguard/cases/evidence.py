"""The investigator's view of a case, and the bundle that holds up in a dispute.

For the consumer concerned, over the case's window: every access to their data (who, which
organisation, which fields, purpose, allowed or refused, the rule), every transfer to a
recipient, every relay contact (which merchant or courier reached them through an alias), and
their consent history. Opening it is itself a read through the gate with the
``complaint_investigation`` purpose, so the consumer sees that their complaint was looked into.
The bundle adds inclusion proofs for the access entries against the signed tree head: anyone
with the log's public key can check that the entries are the ones the platform committed to.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from privguard.audit.entry import LogEntry
from privguard.audit.models import AccessLogEntry
from privguard.audit.proof import subject_proof
from privguard.cases.models import Case
from privguard.cases.rules import Queue
from privguard.cases.service import HANDLERS, CaseNotFound
from privguard.consent.models import ConsentEvent
from privguard.crypto.signing import LogSigner
from privguard.marketplace.models import Organisation
from privguard.policy.rules import ActorRef, View
from privguard.sharing.models import Recipient, Transfer
from privguard.vault.errors import FieldError, InvalidPI
from privguard.vault.service import Vault

PURPOSE = "complaint_investigation"
LOOKBACK = timedelta(days=90)  # before the case was received
# (session, subject, since) -> relay contacts as dicts (sharing/relay.py provides it)
RelayContacts = Callable[[Session, uuid.UUID, datetime], list[dict[str, Any]]]


def _window(case: Case, now: datetime) -> tuple[datetime, datetime]:
    return case.received_at - LOOKBACK, now


def evidence(
    session: Session,
    vault: Vault,
    actor: ActorRef,
    case: Case,
    *,
    now: datetime,
    relay_contacts: RelayContacts | None = None,
) -> dict[str, Any]:
    if actor.role not in HANDLERS[Queue(case.queue)]:
        raise CaseNotFound(case.case_id)
    if case.subject_id is None:
        raise InvalidPI([FieldError("case", "case.no_subject",
                                    "a report without a consumer concerned has no evidence view")])
    since, until = _window(case, now)
    who = vault.read(session, actor, case.subject_id, fields=["name", "mobile_phone"],
                     purpose=PURPOSE, view=View.MASKED, now=now)
    rows = session.execute(
        select(AccessLogEntry.entry_id, AccessLogEntry.seq, AccessLogEntry.entry)
        .where(AccessLogEntry.subject_id == case.subject_id, AccessLogEntry.at >= since)
        .order_by(AccessLogEntry.entry_id)
    ).all()
    orgs = {o.organisation_id: o for o in session.execute(select(Organisation)).scalars()}
    accesses = []
    for entry_id, seq, text in rows:
        e = LogEntry.from_json(text)
        if e.subject_id != case.subject_id:
            continue  # a tampered index column; `privguard audit verify` names it
        org = orgs.get(e.organisation_id) if e.organisation_id else None
        accesses.append({
            "entry_id": entry_id,
            "leaf_index": seq,
            "at": e.at.isoformat(),
            "actor_id": str(e.actor_id) if e.actor_id else None,
            "role": e.role,
            "organisation": org.name if org else None,
            "organisation_kind": org.kind if org else None,
            "action": e.action,
            "purpose": e.purpose,
            "allowed": any(d.get("view") != "none" for d in e.decisions),
            "fields": [{"field": d["field"], "view": d["view"], "rule": d["rule"]}
                       for d in e.decisions],
        })
    transfers = [
        {"at": t.at.isoformat(), "recipient": r.legal_entity, "country": r.country,
         "purpose": t.purpose, "fields": list(t.fields), "cross_border": t.cross_border}
        for t, r in session.execute(
            select(Transfer, Recipient)
            .join(Recipient, Recipient.recipient_id == Transfer.recipient_id)
            .where(Transfer.subject_id == case.subject_id, Transfer.at >= since)
            .order_by(Transfer.at)
        ).all()
    ]
    consents = [
        {"at": c.at.isoformat(), "kind": c.kind, "target": c.target, "action": c.action,
         "channel": c.channel, "notice_version": c.notice_version}
        for c in session.execute(
            select(ConsentEvent).where(ConsentEvent.subject_id == case.subject_id)
            .order_by(ConsentEvent.event_id)
        ).scalars()
    ]
    return {
        "case_id": str(case.case_id),
        "category": case.category,
        "window": {"from": since.isoformat(), "to": until.isoformat()},
        "consumer": {n: v.value for n, v in who.values.items() if v.present},
        "accesses": accesses,
        "transfers": transfers,
        "relay_contacts": relay_contacts(session, case.subject_id, since) if relay_contacts else [],
        "consents": consents,
    }


def bundle(
    session: Session,
    vault: Vault,
    signer: LogSigner,
    actor: ActorRef,
    case: Case,
    *,
    now: datetime,
    relay_contacts: RelayContacts | None = None,
) -> dict[str, Any]:
    """The evidence plus inclusion proofs of its access entries (those already sequenced into
    the signed tree; run the sequencer first for the newest)."""
    view = evidence(session, vault, actor, case, now=now, relay_contacts=relay_contacts)
    wanted = {a["leaf_index"] for a in view["accesses"] if a["leaf_index"] is not None}
    assert case.subject_id is not None
    proof = subject_proof(session, signer, case.subject_id)
    proof["entries"] = [e for e in proof["entries"] if e["leaf_index"] in wanted]
    return {"format": "privguard.evidence/1", "evidence": view, "proof": proof,
            "verify_with": "docs/verify_proof.py (standard library only)"}
