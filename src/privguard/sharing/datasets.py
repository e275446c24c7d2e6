"""De-identified datasets for a recipient, read through the gate and released under an
agreement.

Each consumer's values are read once by the vault's gate with the action ``deidentify`` and the
purpose ``analytics`` (the shipped rule ``analytics.deidentify`` needs the consumer's consent),
then generalised to the spec's k (and l) by sharing/deid.py, with pseudonymous ids keyed for
this recipient. Only the generalised rows leave. The recipient's agreement in force must cover
the purpose and every source field; consumers whose consent is missing are left out. Each
consumer included gets a transfer record (their "who has my data" lists the recipient), and
the release itself is recorded with its report, never its rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy.orm import Session

from privguard.audit.service import log_access
from privguard.crypto.providers import KeyProvider
from privguard.policy.rules import Action, ActorRef, Decision, Role, View
from privguard.sharing.deid import DeidReport, build_dataset, record_dataset_release
from privguard.sharing.deid_rules import DatasetSpec
from privguard.sharing.models import Transfer
from privguard.sharing.pseudonyms import pseudonymiser_for
from privguard.sharing.rules import is_cross_border, outside
from privguard.sharing.service import REGISTRARS, RULE_NO_AGREEMENT, RULE_OUTSIDE, Sharing
from privguard.vault.errors import AccessDenied, SubjectErased, SubjectNotFound

PURPOSE = "analytics"


def source_fields(spec: DatasetSpec) -> list[str]:
    cols = [q.column for q in spec.quasi_identifiers]
    cols += [spec.sensitive] if spec.sensitive else []
    return cols + list(spec.keep)


def release_dataset(
    sharing: Sharing,
    keys: KeyProvider,
    session: Session,
    initiator: ActorRef,
    *,
    recipient_id: uuid.UUID,
    spec: DatasetSpec,
    subject_ids: Sequence[uuid.UUID],
    now: datetime,
) -> tuple[pd.DataFrame, DeidReport]:
    if initiator.role not in REGISTRARS:
        raise AccessDenied("sharing.registry", "the protection officer or an operator releases")
    recipient = sharing.recipient(session, recipient_id)
    fields = source_fields(spec)
    cover = sharing.cover(session, recipient_id, PURPOSE, now)
    refused = outside(fields, cover.fields) if cover is not None else fields
    if cover is None or refused:
        rule = RULE_NO_AGREEMENT if cover is None else RULE_OUTSIDE
        reason = (f"no agreement in force with {recipient.legal_entity} covers {PURPOSE}"
                  if cover is None else "outside the agreement: " + ", ".join(refused))
        log_access(session, actor=initiator, subject_id=None, action="release_dataset",
                   purpose=PURPOSE, decisions=[Decision(f, View.NONE, rule, reason)
                                               for f in refused],
                   now=now, detail={"recipient": str(recipient_id)})
        raise AccessDenied(rule, reason)
    reader = ActorRef(actor_id=initiator.actor_id, role=Role.ANALYST,
                      organisation_id=initiator.organisation_id,
                      display_name=f"de-identification for {recipient.legal_entity}")
    rows: list[dict[str, object]] = []
    for sid in subject_ids:
        try:
            result = sharing.vault.read(
                session, reader, sid, fields=fields, purpose=PURPOSE, view=View.PLAIN, now=now,
                action=Action.DEIDENTIFY, require_all=True,
                detail={"recipient": str(recipient_id)},
            )
        except (AccessDenied, SubjectNotFound, SubjectErased):
            continue  # no consent (refusal logged by the gate), or gone
        values = {n: v.value for n, v in result.values.items()}
        if any(values.get(f) is None for f in fields):
            continue  # a consumer without one of the fields cannot be placed in a class
        rows.append({spec.subject_column: str(sid), **values})
    dataset, report = build_dataset(rows, spec, pseudonymiser_for(keys, recipient_id))
    cross = is_cross_border(recipient.country, sharing.home)
    for row in rows:
        session.add(Transfer(subject_id=uuid.UUID(str(row[spec.subject_column])),
                             recipient_id=recipient_id, agreement_id=None, purpose=PURPOSE,
                             fields=sorted(fields), cross_border=cross, at=now,
                             actor_id=initiator.actor_id))
    record_dataset_release(session, recipient_id, spec, report, purpose=PURPOSE, now=now)
    return dataset, report
