"""The vault: validated, encrypted storage of customers' PI and the one gate that reads it.

Every read goes through :meth:`Vault.read` with (actor, subject, fields, purpose): the policy
decides per field, the decision is logged, and only then are the allowed fields decrypted and
shaped into the granted view (design.md invariant 2). Methods take the caller's session and never
commit (store/uow.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import and_, bindparam, delete, func, not_, or_, select, update
from sqlalchemy.orm import Session

from privguard.audit.service import log_access
from privguard.catalog.masking import MASKERS
from privguard.catalog.model import Catalog, FieldSpec, RetentionStart
from privguard.catalog.retention import next_expiry
from privguard.catalog.validators import RuleViolation, ValidationContext, validate
from privguard.crypto.blind_index import BlindIndexer
from privguard.crypto.envelope import Sealer, field_aad, new_data_key
from privguard.crypto.errors import DecryptionError, KeyringError
from privguard.crypto.providers import KeyProvider
from privguard.marketplace.service import open_ticket_column
from privguard.policy.rules import Action, ActorRef, Decision, Facts, OrderFacts, View
from privguard.policy.service import AccessPolicy
from privguard.rights.retention_models import LegalHold, hold_active
from privguard.store.meta import get_meta, set_meta
from privguard.vault.errors import (
    AccessDenied,
    ConcealedRefusal,
    FieldError,
    InvalidPI,
    SubjectErased,
    SubjectNotFound,
    UnknownSubject,
    field_label,
)
from privguard.vault.models import BlindIndex, RestrictedRecord, Subject, SubjectKey
from privguard.vault.record import SealedField, open_record, seal_record

KEYRING_CHECK = "keyring_check"
WRITE_PURPOSE = "account_management"
SUBJECTS = Subject.__table__
SUBJECT_KEYS = SubjectKey.__table__
BLIND_INDEXES = BlindIndex.__table__
RESTRICTED = RestrictedRecord.__table__
ACTIVE = "active"
ERASED = "erased"


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _encode(value: Any) -> bytes:
    """Plaintext bytes of a canonical value: ``s`` + UTF-8 for strings (most fields), ``j`` +
    JSON for structured ones. Strings skip JSON both ways, which is most of a read's CPU."""
    if isinstance(value, str):
        return b"s" + value.encode()
    return b"j" + _JSON.encode(value).encode()


def _decode(raw: bytes) -> Any:
    if raw[:1] == b"s":
        return raw[1:].decode()
    if raw[:1] == b"j":
        return json.loads(raw[1:])
    raise DecryptionError()  # authenticated, yet not a value this code wrote


def _wrap_context(subject_id: uuid.UUID, version: int) -> bytes:
    return f"privguard/dk/v1|{subject_id}|{version}".encode()


def _restricted_context(record_id: uuid.UUID) -> bytes:
    return f"privguard/restricted/v1|{record_id}".encode()


def _restricted_aad(record_id: uuid.UUID, subject_id: uuid.UUID, field_name: str) -> bytes:
    return f"privguard/restricted/v1|{record_id}|{subject_id}|{field_name}".encode()


# (session, actor, subject, purpose, allowed decisions, now)
DisclosureListener = Callable[[Session, ActorRef, uuid.UUID, str, list[Decision], datetime], None]
# (session, subject, "updated" | "erased", field names, now)
ChangeListener = Callable[[Session, uuid.UUID, str, list[str], datetime], None]


def _aside_aad(context: str, subject_id: uuid.UUID, field_name: str) -> bytes:
    return f"privguard/aside/v1|{context}|{subject_id}|{field_name}".encode()


def hold_basis(hold: LegalHold) -> str:
    """How a legal hold reads in the consumer's statement and on the records it keeps."""
    return f"Legal hold until {hold.expires_at.date().isoformat()}: {hold.reason}"


def retained_until(spec: FieldSpec, last_transaction: datetime | None) -> datetime | None:
    """When a field kept after erasure may finally go: only fields whose retention runs from the
    last transaction outlive the account (E-Commerce Law Art. 31); ``None`` = delete now."""
    if spec.retention.keep_until is not RetentionStart.LAST_TRANSACTION or last_transaction is None:
        return None
    return last_transaction + timedelta(days=spec.retention.days)


@dataclass(frozen=True)
class KeptRecord:
    field: str
    until: datetime
    basis: str


@dataclass(frozen=True)
class ErasureStatement:
    """What the consumer is told after deletion (PIPL Art. 47): deleted, kept, why, until."""

    subject_id: uuid.UUID
    deleted: list[str]
    kept: list[KeptRecord]


def _refuse(
    session: Session,
    actor: ActorRef,
    action: str,
    subject_id: uuid.UUID | None,
    purpose: str,
    decisions: Sequence[Decision],
    now: datetime,
    *,
    conceal: bool = False,
    detail: Mapping[str, Any] | None = None,
) -> NoReturn:
    """Log a refusal, then raise it (the caller's unit of work commits the entry).

    With ``conceal`` the caller is told the subject does not exist, exactly as for an unknown
    id, so a merchant cannot probe for other merchants' customers; the log keeps the truth.
    """
    log_access(
        session,
        actor=actor,
        subject_id=subject_id,
        action=action,
        purpose=purpose,
        decisions=decisions,
        now=now,
        detail=detail,
    )
    first = next((d for d in decisions if not d.allowed), decisions[0])
    if conceal and subject_id is not None:
        raise ConcealedRefusal(subject_id, first.rule, first.reason)
    raise AccessDenied(first.rule, first.reason)


@dataclass(frozen=True)
class FieldValue:
    """One field as returned by the gate: the view granted, the value in that view, the rule."""

    field: str
    view: View
    value: Any
    present: bool
    rule: str


@dataclass(frozen=True)
class ReadResult:
    subject_id: uuid.UUID
    purpose: str
    values: dict[str, FieldValue]
    denied: list[Decision] = field(default_factory=list)


class Vault:
    """Holds the catalog and key material; all state lives in the database session passed in."""

    def __init__(
        self,
        catalog: Catalog,
        keys: KeyProvider,
        access: AccessPolicy,
        indexer: BlindIndexer | None = None,
        default_region: str = "CN",
    ) -> None:
        self.catalog = catalog
        self.keys = keys
        self.access = access
        self.indexer = indexer or BlindIndexer(keys.blind_index_root())
        self.default_region = default_region
        # Called for every allowed read, in its transaction, before decryption: sharing/
        # records a transfer when the reader is a third party (design.md: one gate).
        self.disclosure_listeners: list[DisclosureListener] = []
        # Called after an update or an erasure, in its transaction: sharing/ tells the
        # recipients that received the data (PIPL Art. 47; GDPR Art. 19).
        self.change_listeners: list[ChangeListener] = []
        self._all_fields = catalog.names()
        # Built once: every read and change loads the subject with one of these statements.
        record = (
            select(
                SUBJECTS.c.status,
                SUBJECTS.c.key_version,
                SUBJECTS.c.sealed,
                SUBJECT_KEYS.c.master_key_id,
                SUBJECT_KEYS.c.wrapped_key,
            )
            .select_from(SUBJECTS)
            .outerjoin(
                SUBJECT_KEYS,
                and_(
                    SUBJECT_KEYS.c.subject_id == SUBJECTS.c.subject_id,
                    SUBJECT_KEYS.c.version == SUBJECTS.c.key_version,
                ),
            )
            .where(SUBJECTS.c.subject_id == bindparam("sid"))
        )
        # By (lock, open_ticket). Changes rewrite the whole sealed record, so they lock the
        # subject's row first: two concurrent updates of different fields must not lose one
        # another (PostgreSQL; SQLite already serialises writers with BEGIN IMMEDIATE). A gated
        # read may also ask for the open-ticket fact in the same statement.
        with_ticket = record.add_columns(open_ticket_column(SUBJECTS.c.subject_id))
        self._record_stmts = {
            (False, False): record,
            (True, False): record.with_for_update(of=SUBJECTS),
            (False, True): with_ticket,
            (True, True): with_ticket.with_for_update(of=SUBJECTS),
        }

    # ----------------------------------------------------------------- validation
    def validate(
        self, pi: Mapping[str, Any], *, today: date, allow_null: bool = False
    ) -> dict[str, Any]:
        """Canonical values for every field, or :class:`InvalidPI` listing every broken rule."""
        ctx = ValidationContext(today=today, default_region=self.default_region)
        errors: list[FieldError] = []
        out: dict[str, Any] = {}
        for name, value in pi.items():
            spec = self.catalog.fields.get(name)
            if spec is None:
                errors.append(
                    FieldError(field_label(name), "catalog.unknown_field", "is not a catalog field")
                )
                continue
            if value is None:
                if allow_null:
                    out[name] = None
                else:
                    errors.append(FieldError(name, "required.null", "must not be null"))
                continue
            try:
                out[name] = validate(spec.validator, value, ctx)
            except RuleViolation as exc:
                errors.append(FieldError(name, exc.rule, exc.message))
        if errors:
            raise InvalidPI(errors)
        return out

    def _reject_unknown(self, names: Iterable[str]) -> None:
        """Unknown field names are the caller's mistake whoever asks: name them before the
        policy is consulted (the policy only knows catalog fields)."""
        unknown = [n for n in names if n not in self.catalog.fields]
        if unknown:
            raise InvalidPI(
                [
                    FieldError(field_label(n), "catalog.unknown_field", "is not a catalog field")
                    for n in unknown
                ]
            )

    def _index_value(self, spec: FieldSpec, canonical: Any) -> str:
        text = str(canonical)
        if spec.index_normalise == "lower":
            return text.lower()
        if spec.index_normalise == "upper":
            return text.upper()
        return text

    # ----------------------------------------------------------------- writes
    def _require_write(
        self,
        session: Session,
        actor: ActorRef,
        action: Action,
        subject_id: uuid.UUID | None,
        fields: Sequence[str],
        now: datetime,
        purpose: str = WRITE_PURPOSE,
    ) -> list[Decision]:
        """One decision per field written (``*`` for erase); any refusal refuses the whole
        change, logged before AccessDenied is raised."""
        names = list(fields) or ["*"]
        facts = self.access.facts(session, actor, action, purpose, names, subject_id, now)
        decisions = self.access.decide(actor, action, purpose, names, View.PLAIN, facts)
        if not all(d.allowed for d in decisions):
            policy = self.access.policy
            # Conceal only refusals that depend on the subject's facts (see read()).
            conceal = (
                subject_id is not None
                and policy.conceals(actor.role)
                and policy.could_allow(actor.role, action, purpose, names)
                and not any(d.allowed for d in decisions)
            )
            _refuse(session, actor, action, subject_id, purpose, decisions, now, conceal=conceal)
        return decisions

    def register(
        self, session: Session, actor: ActorRef, pi: Mapping[str, Any], *, now: datetime
    ) -> uuid.UUID:
        """Validate, encrypt and store a new subject; returns its id."""
        self._reject_unknown(pi)
        self._require_write(session, actor, Action.REGISTER, None, list(pi), now)
        canonical = self.validate(pi, today=now.date())
        return self._insert(session, actor, [canonical], now)[0]

    def insert_validated(
        self,
        session: Session,
        actor: ActorRef,
        rows: Sequence[Mapping[str, Any]],
        *,
        now: datetime,
    ) -> list[uuid.UUID]:
        """Store already-validated subjects in bulk (import, demo seed): one statement per table.

        Rows must come from :meth:`validate` (import and the demo seeder validate row by row so
        one bad row cannot sink the batch); the actor is checked here as in :meth:`register`.
        """
        names = sorted({n for row in rows for n in row})
        self._require_write(session, actor, Action.REGISTER, None, names, now)
        return self._insert(session, actor, rows, now)

    def _insert(
        self,
        session: Session,
        actor: ActorRef,
        rows: Sequence[Mapping[str, Any]],
        now: datetime,
    ) -> list[uuid.UUID]:
        subjects, keys, indexes, ids = [], [], [], []
        for row in rows:
            subject_id = uuid.uuid4()
            ids.append(subject_id)
            data_key = new_data_key()
            key_id, wrapped = self.keys.wrap(data_key, _wrap_context(subject_id, 1))
            sealer = Sealer(data_key)
            sealed = self._seal_fields(subject_id, 1, sealer, row, now, indexes)
            subjects.append(
                {
                    "subject_id": subject_id,
                    "status": ACTIVE,
                    "key_version": 1,
                    "sealed": seal_record(sealer, sealed),
                    "created_at": now,
                    "updated_at": now,
                    "erased_at": None,
                    "last_active_at": now,
                    "next_expiry": self.schedule(sealed, now),
                }
            )
            keys.append(
                {
                    "subject_id": subject_id,
                    "version": 1,
                    "master_key_id": key_id,
                    "wrapped_key": wrapped,
                    "created_at": now,
                }
            )
        if not ids:
            return ids
        conn = session.connection()
        conn.execute(SUBJECTS.insert(), subjects)
        conn.execute(SUBJECT_KEYS.insert(), keys)
        if indexes:
            conn.execute(BLIND_INDEXES.insert(), indexes)
        policy = self.access.policy
        for subject_id, row in zip(ids, rows, strict=True):
            log_access(
                session,
                actor=actor,
                subject_id=subject_id,
                action=Action.REGISTER,
                purpose=WRITE_PURPOSE,
                decisions=[
                    policy.decide(
                        actor.role, Action.REGISTER, WRITE_PURPOSE, n, View.PLAIN, Facts()
                    )
                    for n in row
                ],
                now=now,
            )
        return ids

    def _seal_fields(
        self,
        subject_id: uuid.UUID,
        version: int,
        sealer: Sealer,
        canonical: Mapping[str, Any],
        now: datetime,
        indexes: list[dict[str, Any]],
    ) -> dict[str, SealedField]:
        """Seal each field on its own, and append the blind-index rows of searchable ones."""
        sid = str(subject_id)
        collected = int(now.timestamp())
        sealed = {}
        for name, value in canonical.items():
            spec = self.catalog[name]
            sealed[name] = SealedField(
                collected, sealer.seal(_encode(value), field_aad(sid, name, version))
            )
            if spec.searchable:
                indexes.append(
                    {
                        "subject_id": subject_id,
                        "field": name,
                        "digest": self.indexer.digest(name, self._index_value(spec, value)),
                    }
                )
        return sealed

    def schedule(
        self, record: Mapping[str, SealedField], last_active_at: datetime
    ) -> datetime | None:
        """``subjects.next_expiry`` for a record: set wherever a record is (re)sealed, so the
        retention run finds due subjects by index (catalog/retention.py)."""
        return next_expiry(
            self.catalog, {n: e.collected_at for n, e in record.items()}, last_active_at
        )

    @staticmethod
    def touch(session: Session, subject_id: uuid.UUID, now: datetime) -> bool:
        """The customer was active (an order placed): last_activity retention starts again.

        One UPDATE, no record opened: activity only ever postpones expiry, so a ``next_expiry``
        left as it was is at worst early, and the retention run, which decides under the row
        lock from ``last_active_at`` itself, then finds nothing due and moves it on.
        """
        result = session.connection().execute(
            update(SUBJECTS)
            .where(
                SUBJECTS.c.subject_id == subject_id,
                SUBJECTS.c.status == ACTIVE,
                or_(SUBJECTS.c.last_active_at.is_(None), SUBJECTS.c.last_active_at < now),
            )
            .values(last_active_at=now)
        )
        return bool(result.rowcount)

    def _load(
        self,
        session: Session,
        subject_id: uuid.UUID,
        *,
        lock: bool = False,
        open_ticket: bool = False,
    ) -> Any:
        """The subject's status, sealed record and wrapped data key, in one row (or None);
        with ``open_ticket``, also whether the subject has an open support ticket."""
        stmt = self._record_stmts[lock, open_ticket]
        return session.connection().execute(stmt, {"sid": subject_id}).one_or_none()

    def _open_for_change(
        self, session: Session, subject_id: uuid.UUID
    ) -> tuple[Any, Sealer, dict[str, SealedField]]:
        """The active subject's row locked for this transaction, its key and its open record."""
        row = self._load(session, subject_id, lock=True)
        if row is None:
            raise SubjectNotFound(subject_id)
        if row.status == ERASED:
            raise SubjectErased(subject_id)
        sealer = self._open_key(subject_id, row)
        return row, sealer, open_record(sealer, row.sealed)

    def _open_key(self, subject_id: uuid.UUID, row: Any) -> Sealer:
        if row.wrapped_key is None:
            raise SubjectErased(subject_id)
        data_key = self.keys.unwrap(
            row.master_key_id, row.wrapped_key, _wrap_context(subject_id, row.key_version)
        )
        return Sealer(data_key)

    def held_fields(self, session: Session, subject_id: uuid.UUID) -> list[str]:
        """Names of the fields the vault holds for an active subject, in catalog order. Names
        are not personal information, so nothing is decrypted or logged; the record's tag is
        still checked, so a tampered record cannot misstate what is held."""
        row = self._load(session, subject_id)
        if row is None:
            raise SubjectNotFound(subject_id)
        if row.status == ERASED:
            raise SubjectErased(subject_id)
        held = open_record(self._open_key(subject_id, row), row.sealed)
        return [name for name in self._all_fields if name in held]

    def seal_aside(
        self,
        session: Session,
        subject_id: uuid.UUID,
        values: Mapping[str, Any],
        *,
        context: str,
        now: datetime,
    ) -> bytes:
        """Validate catalog values and seal them under the subject's own key, bound to
        ``context``, for use later (a correction the officer approves). Kept outside the record,
        they are still crypto-shredded with the subject, and a blob cannot be replayed under
        another context or subject. Nothing is decided or logged here: nothing is read."""
        self._reject_unknown(values)
        return self._seal_aside(
            session, subject_id, self.validate(values, today=now.date()), context, now
        )

    def seal_text(
        self, session: Session, subject_id: uuid.UUID, text: str, *, context: str, now: datetime
    ) -> bytes:
        """Free text about a subject (the original of a redacted chat message), sealed like
        :meth:`seal_aside`: shredded with the subject, bound to its context."""
        return self._seal_aside(session, subject_id, {"text": text}, context, now)

    def _seal_aside(
        self,
        session: Session,
        subject_id: uuid.UUID,
        canonical: Mapping[str, Any],
        context: str,
        now: datetime,
    ) -> bytes:
        row = self._load(session, subject_id)
        if row is None:
            raise SubjectNotFound(subject_id)
        sealer = self._open_key(subject_id, row)
        collected = int(now.timestamp())
        sealed = {
            name: SealedField(
                collected, sealer.seal(_encode(value), _aside_aad(context, subject_id, name))
            )
            for name, value in canonical.items()
        }
        return seal_record(sealer, sealed)

    def open_aside(
        self, session: Session, subject_id: uuid.UUID, blob: bytes, *, context: str
    ) -> dict[str, Any]:
        """The values of :meth:`seal_aside` or :meth:`seal_text` (``{"text": ...}``), for the
        caller that decided and logged their use; never returned to anyone else."""
        row = self._load(session, subject_id)
        if row is None:
            raise SubjectNotFound(subject_id)
        sealer = self._open_key(subject_id, row)
        return {
            name: _decode(sealer.open(entry.ciphertext, _aside_aad(context, subject_id, name)))
            for name, entry in open_record(sealer, blob).items()
        }

    def update(
        self,
        session: Session,
        actor: ActorRef,
        subject_id: uuid.UUID,
        changes: Mapping[str, Any],
        *,
        now: datetime,
        purpose: str = WRITE_PURPOSE,
    ) -> list[str]:
        """Set (or with ``None`` remove) fields. Returns the names of the fields changed."""
        self._reject_unknown(changes)
        decisions = self._require_write(
            session, actor, Action.UPDATE, subject_id, list(changes), now, purpose
        )
        canonical = self.validate(changes, today=now.date(), allow_null=True)
        changed = self._rewrite(
            session, actor, subject_id, decisions, purpose, now, lambda _current: canonical
        )
        for listener in self.change_listeners:
            listener(session, subject_id, "updated", changed, now)
        return changed

    def append_records(
        self,
        session: Session,
        actor: ActorRef,
        subject_id: uuid.UUID,
        field_name: str,
        items: Sequence[Mapping[str, Any]],
        *,
        purpose: str,
        now: datetime,
        keep: int = 200,
    ) -> None:
        """Add events to a history field (browsing, search), keeping the newest ``keep``.

        It is an update of that field under ``purpose``, decided by the policy like any other;
        the collector never sees the history it appends to.
        """
        self._reject_unknown([field_name])
        decisions = self._require_write(
            session, actor, Action.UPDATE, subject_id, [field_name], now, purpose
        )

        def appended(current: Mapping[str, Any]) -> dict[str, Any]:
            merged = [*(current.get(field_name) or []), *items][-keep:]
            return self.validate({field_name: merged}, today=now.date())

        self._rewrite(
            session, actor, subject_id, decisions, purpose, now, appended, reads=[field_name]
        )

    def _rewrite(
        self,
        session: Session,
        actor: ActorRef,
        subject_id: uuid.UUID,
        decisions: list[Decision],
        purpose: str,
        now: datetime,
        changes_for: Any,
        reads: Sequence[str] = (),
    ) -> list[str]:
        """Lock, open, change and reseal one subject's record, then log the change.

        ``changes_for`` gets the current plaintext of the fields named in ``reads`` and returns
        canonical values (``None`` removes a field).
        """
        row, sealer, record = self._open_for_change(session, subject_id)
        sid = str(subject_id)
        current = {
            n: _decode(sealer.open(record[n].ciphertext, field_aad(sid, n, row.key_version)))
            for n in reads
            if n in record
        }
        canonical = changes_for(current)
        names = list(canonical)
        if not names:
            return names
        indexes: list[dict[str, Any]] = []
        present = {n: v for n, v in canonical.items() if v is not None}
        for name in names:
            record.pop(name, None)
        record.update(self._seal_fields(subject_id, row.key_version, sealer, present, now, indexes))
        conn = session.connection()
        conn.execute(
            update(SUBJECTS)
            .where(SUBJECTS.c.subject_id == subject_id)
            .values(
                sealed=seal_record(sealer, record),
                updated_at=now,
                last_active_at=now,
                next_expiry=self.schedule(record, now),
            )
        )
        conn.execute(
            delete(BLIND_INDEXES).where(
                BLIND_INDEXES.c.subject_id == subject_id, BLIND_INDEXES.c.field.in_(names)
            )
        )
        if indexes:
            conn.execute(BLIND_INDEXES.insert(), indexes)
        log_access(
            session,
            actor=actor,
            subject_id=subject_id,
            action=Action.UPDATE,
            purpose=purpose,
            decisions=decisions,
            now=now,
        )
        return names

    def erase(
        self,
        session: Session,
        actor: ActorRef,
        subject_id: uuid.UUID,
        *,
        now: datetime,
        last_transaction: datetime | None = None,
    ) -> ErasureStatement:
        """Crypto-shred a subject: destroy its data keys, then its sealed record and indexes.

        Without the wrapped data key no copy of the ciphertext (replica, dump, backup taken
        afterwards) can be decrypted, even with the master key (design.md invariant 6). Fields
        whose retention runs from the last transaction and has not ended at ``now`` are first
        moved to the restricted store (E-Commerce Law Art. 31), under a key of their own; the
        statement says what was deleted and what was kept, why and until when.

        A subject under a legal hold (rights/holds.py) still loses its key, but every field is
        kept restricted until the later of its own retention and the hold's expiry, the hold
        named as the reason; releasing the hold lets the next retention run delete them.
        """
        decisions = self._require_write(session, actor, Action.ERASE, subject_id, [], now)
        row, sealer, record = self._open_for_change(session, subject_id)
        hold = self.active_hold(session, subject_id, now)
        sid = str(subject_id)
        kept: list[KeptRecord] = []
        deleted: list[str] = []
        for name, entry in record.items():
            spec = self.catalog.fields.get(name)
            until = retained_until(spec, last_transaction) if spec else None
            ends = until if until is not None and until > now else None
            if ends is None and hold is None:
                deleted.append(name)
                continue
            plain = sealer.open(entry.ciphertext, field_aad(sid, name, row.key_version))
            kept.append(self._restrict(session, subject_id, name, plain, ends or now, now, hold))
        conn = session.connection()
        conn.execute(delete(SUBJECT_KEYS).where(SUBJECT_KEYS.c.subject_id == subject_id))
        conn.execute(delete(BLIND_INDEXES).where(BLIND_INDEXES.c.subject_id == subject_id))
        conn.execute(
            update(SUBJECTS)
            .where(SUBJECTS.c.subject_id == subject_id)
            .values(status=ERASED, sealed=None, erased_at=now, updated_at=now, next_expiry=None)
        )
        detail: dict[str, Any] = {"kept": [k.field for k in kept]} if kept else {}
        if hold is not None:
            detail["legal_hold"] = str(hold.hold_id)
        log_access(
            session,
            actor=actor,
            subject_id=subject_id,
            action=Action.ERASE,
            purpose=WRITE_PURPOSE,
            decisions=decisions,
            now=now,
            detail=detail or None,
        )
        for listener in self.change_listeners:
            listener(session, subject_id, "erased", sorted(record), now)
        return ErasureStatement(subject_id, sorted(deleted), kept)

    @staticmethod
    def active_hold(session: Session, subject_id: uuid.UUID, at: datetime) -> LegalHold | None:
        """The legal hold in force on a subject at ``at`` that lasts longest, if any."""
        return session.execute(
            select(LegalHold)
            .where(
                LegalHold.subject_id == subject_id,
                LegalHold.released_at.is_(None),
                LegalHold.expires_at > at,
            )
            .order_by(LegalHold.expires_at.desc())
            .limit(1)
        ).scalar_one_or_none()

    def _restrict(
        self,
        session: Session,
        subject_id: uuid.UUID,
        name: str,
        plain: bytes,
        ends: datetime,
        now: datetime,
        hold: LegalHold | None = None,
    ) -> KeptRecord:
        """Seal one value under a key of its own. ``ends`` is its own retention; a hold keeps
        it at least until the hold expires, and the hold is then the reason given."""
        record_id = uuid.uuid4()
        data_key = new_data_key()
        key_id, wrapped = self.keys.wrap(data_key, _restricted_context(record_id))
        sealed = Sealer(data_key).seal(plain, _restricted_aad(record_id, subject_id, name))
        spec = self.catalog.fields.get(name)
        basis = spec.retention.basis if spec is not None else ""
        until = ends
        if hold is not None:
            until = max(ends, hold.expires_at)
            basis = hold_basis(hold) + (f"; {basis}" if ends > hold.expires_at and basis else "")
        if len(basis) > 256:
            basis = basis[:255] + "…"
        session.connection().execute(
            RESTRICTED.insert(),
            {
                "record_id": record_id,
                "subject_id": subject_id,
                "field": name,
                "master_key_id": key_id,
                "wrapped_key": wrapped,
                "sealed": sealed,
                "keep_until": until,
                "retention_ends": ends,
                "hold_id": hold.hold_id if hold is not None else None,
                "basis": basis,
                "created_at": now,
            },
        )
        return KeptRecord(name, until, basis)

    def read_restricted(
        self,
        session: Session,
        actor: ActorRef,
        subject_id: uuid.UUID,
        *,
        purpose: str,
        now: datetime,
    ) -> dict[str, Any]:
        """What was kept after erasure, only for a purpose whose rule shows those fields plain
        (the shipped policy: legal_obligation). Decided and logged like any read."""
        rows = (
            session.execute(
                select(RestrictedRecord).where(RestrictedRecord.subject_id == subject_id)
            )
            .scalars()
            .all()
        )
        if not rows:
            raise SubjectNotFound(subject_id)
        names = sorted({r.field for r in rows})
        decisions = self.access.decide(actor, Action.READ, purpose, names, View.PLAIN, Facts())
        if not all(d.view is View.PLAIN for d in decisions):
            refused = [d for d in decisions if d.view is not View.PLAIN]
            _refuse(session, actor, "read_restricted", subject_id, purpose, refused, now)
        log_access(
            session,
            actor=actor,
            subject_id=subject_id,
            action="read_restricted",
            purpose=purpose,
            decisions=decisions,
            now=now,
        )
        out: dict[str, Any] = {}
        for r in rows:
            key = self.keys.unwrap(r.master_key_id, r.wrapped_key, _restricted_context(r.record_id))
            out[r.field] = _decode(
                Sealer(key).open(r.sealed, _restricted_aad(r.record_id, subject_id, r.field))
            )
        return out

    def purge_restricted(self, session: Session, *, now: datetime, limit: int = 1000) -> int:
        """Delete up to ``limit`` kept records whose retention has ended (key and ciphertext)."""
        return sum(self.purge_restricted_fields(session, cutoff=now, limit=limit).values())

    def purge_restricted_fields(
        self, session: Session, *, cutoff: datetime, limit: int = 1000
    ) -> dict[str, int]:
        """Delete up to ``limit`` kept records whose own retention ended by ``cutoff`` and whose
        subject has no legal hold in force then; how many of each field. By condition, so a
        run killed between batches leaves nothing half-done and deletes nothing twice."""
        rows = session.execute(
            select(RESTRICTED.c.record_id, RESTRICTED.c.field)
            .where(
                RESTRICTED.c.retention_ends <= cutoff,
                not_(hold_active(RESTRICTED.c.subject_id, cutoff)),
            )
            .order_by(RESTRICTED.c.retention_ends, RESTRICTED.c.record_id)
            .limit(limit)
        ).all()
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.field] = counts.get(row.field, 0) + 1
        if rows:
            ids = [r.record_id for r in rows]
            session.execute(delete(RESTRICTED).where(RESTRICTED.c.record_id.in_(ids)))
        return counts

    # ----------------------------------------------------------------- the gate
    def read(
        self,
        session: Session,
        actor: ActorRef,
        subject_id: uuid.UUID,
        *,
        fields: Iterable[str] | None,
        purpose: str,
        view: View,
        now: datetime,
        orders: Sequence[OrderFacts] | None = None,
        detail: Mapping[str, Any] | None = None,
        require_all: bool = False,
        action: Action = Action.READ,
    ) -> ReadResult:
        """The one way to see PI: decide per field, log, then decrypt what was allowed.

        ``orders`` narrows the order relationships to these orders (a waybill is about one
        order: another order with the same buyer must not open it); ``detail`` is non-personal
        context for the log entry, such as that order's id. With ``require_all`` a request that
        is useless in part (a label without the address) is refused whole, before anything is
        decrypted, and the log lists the fields refused. ``action`` is ``deidentify`` for the
        reads that feed a de-identified dataset (sharing/datasets.py), which the policy grants
        separately from reading.
        """
        names = list(dict.fromkeys(fields)) if fields is not None else self._all_fields
        self._reject_unknown(names)
        policy = self.access.policy
        if not policy.could_allow(actor.role, action, purpose, names):
            # No facts could change this answer, so it says nothing about the subject.
            denied = [policy.default_deny(actor.role, action, purpose, n) for n in names]
            _refuse(session, actor, action, subject_id, purpose, denied, now, detail=detail)
        conceal = policy.conceals(actor.role)
        ticket = self.access.needs_open_ticket(actor, action, purpose, names)
        row = self._load(session, subject_id, open_ticket=ticket)
        if row is None:
            # A probe for an id that does not exist is logged like any refusal: guessing ids
            # is what an attacker does (the anomaly scan and the evidence view see it), and
            # answering it costs the same commit as a concealed refusal, so the two take
            # about as long (tests/integration/test_authz_attacks.py times them).
            unknown = [Decision(n, View.NONE, UnknownSubject.rule, "no such subject")
                       for n in names]
            log_access(session, actor=actor, subject_id=subject_id, action=action,
                       purpose=purpose, decisions=unknown, now=now, detail=detail)
            raise UnknownSubject(subject_id)
        if row.status == ERASED:
            if conceal:
                raise SubjectNotFound(subject_id)
            raise SubjectErased(subject_id)
        facts = self.access.facts(
            session,
            actor,
            action,
            purpose,
            names,
            subject_id,
            now,
            orders=None if orders is None else list(orders),
            open_ticket=row.open_ticket if ticket else None,
        )
        decisions = self.access.decide(actor, action, purpose, names, view, facts)
        allowed = [d for d in decisions if d.allowed]
        denied = [d for d in decisions if not d.allowed]
        if require_all and allowed and denied:
            _refuse(session, actor, action, subject_id, purpose, denied, now, detail=detail)
        if not allowed:
            _refuse(
                session,
                actor,
                action,
                subject_id,
                purpose,
                decisions,
                now,
                conceal=conceal,
                detail=detail,
            )
        log_access(
            session,
            actor=actor,
            subject_id=subject_id,
            action=action,
            purpose=purpose,
            decisions=decisions,
            now=now,
            detail=detail,
        )

        for listener in self.disclosure_listeners:
            listener(session, actor, subject_id, purpose, allowed, now)
        sealer = self._open_key(subject_id, row)
        record = open_record(sealer, row.sealed)
        sid = str(subject_id)
        values: dict[str, FieldValue] = {}
        for d in allowed:
            entry = record.get(d.field)
            if entry is None:
                values[d.field] = FieldValue(d.field, d.view, None, False, d.rule)
                continue
            plain = _decode(sealer.open(entry.ciphertext, field_aad(sid, d.field, row.key_version)))
            values[d.field] = FieldValue(
                d.field,
                d.view,
                self._shape(self.catalog.fields[d.field], d.view, plain),
                True,
                d.rule,
            )
        return ReadResult(subject_id=subject_id, purpose=purpose, values=values, denied=denied)

    @staticmethod
    def _shape(spec: FieldSpec, view: View, value: Any) -> Any:
        if view is View.PLAIN:
            return value
        if view is View.WAYBILL and spec.waybill_masking:
            return MASKERS[spec.waybill_masking](value)
        return MASKERS[spec.masking](value)

    def lookup(
        self,
        session: Session,
        actor: ActorRef,
        field_name: str,
        value: Any,
        *,
        purpose: str,
        now: datetime,
    ) -> list[uuid.UUID]:
        """Active subjects whose ``field_name`` equals ``value`` exactly (via the blind index)."""
        spec = self.catalog.fields.get(field_name)
        if spec is None or not spec.searchable:
            raise InvalidPI(
                [
                    FieldError(
                        field_label(field_name),
                        "lookup.not_searchable",
                        f"lookup works only on {', '.join(self.catalog.searchable())}",
                    )
                ]
            )
        policy = self.access.policy
        if not policy.could_allow(actor.role, Action.LOOKUP, purpose, [field_name]):
            denied = policy.default_deny(actor.role, Action.LOOKUP, purpose, field_name)
            _refuse(session, actor, Action.LOOKUP, None, purpose, [denied], now)
        canonical = self.validate({field_name: value}, today=now.date())[field_name]
        digest = self.indexer.digest(field_name, self._index_value(spec, canonical))
        candidates = list(
            session.execute(
                select(BlindIndex.subject_id)
                .join(Subject, Subject.subject_id == BlindIndex.subject_id)
                .where(
                    BlindIndex.field == field_name,
                    BlindIndex.digest == digest,
                    Subject.status == ACTIVE,
                )
                .order_by(BlindIndex.subject_id)
            ).scalars()
        )
        # Each match is decided on its own facts; the ones refused are left out silently, so
        # a merchant's answer for another merchant's customer is the answer for nobody.
        found = []
        for subject_id in candidates:
            facts = self.access.facts(
                session, actor, Action.LOOKUP, purpose, [field_name], subject_id, now
            )
            decision = policy.decide(
                actor.role, Action.LOOKUP, purpose, field_name, View.MASKED, facts
            )
            log_access(
                session,
                actor=actor,
                subject_id=subject_id,
                action=Action.LOOKUP,
                purpose=purpose,
                decisions=[decision],
                now=now,
            )
            if decision.allowed:
                found.append(subject_id)
        if not candidates:
            decision = policy.decide(
                actor.role, Action.LOOKUP, purpose, field_name, View.MASKED, Facts()
            )
            log_access(
                session,
                actor=actor,
                subject_id=None,
                action=Action.LOOKUP,
                purpose=purpose,
                decisions=[decision],
                now=now,
            )
        return found

    # ----------------------------------------------------------------- keys
    def keys_to_rewrap(self, session: Session) -> int:
        active = self.keys.active_key_id()
        subjects = session.execute(
            select(func.count()).select_from(SubjectKey).where(SubjectKey.master_key_id != active)
        ).scalar_one()
        kept = session.execute(
            select(func.count())
            .select_from(RestrictedRecord)
            .where(RestrictedRecord.master_key_id != active)
        ).scalar_one()
        return int(subjects) + int(kept)

    def rewrap_batch(self, session: Session, batch_size: int = 500) -> int:
        """Re-wrap up to ``batch_size`` data keys under the active master key.

        Only wrapped keys change; ciphertexts are untouched, so a rotation costs one small update
        per subject and an interrupted run is completed by running it again.
        """
        active = self.keys.active_key_id()
        rows = session.execute(
            select(
                SubjectKey.subject_id,
                SubjectKey.version,
                SubjectKey.master_key_id,
                SubjectKey.wrapped_key,
            )
            .where(SubjectKey.master_key_id != active)
            .order_by(SubjectKey.subject_id, SubjectKey.version)
            .limit(batch_size)
        ).all()
        for row in rows:
            ctx = _wrap_context(row.subject_id, row.version)
            data_key = self.keys.unwrap(row.master_key_id, row.wrapped_key, ctx)
            key_id, wrapped = self.keys.wrap(data_key, ctx)
            session.execute(
                update(SubjectKey)
                .where(SubjectKey.subject_id == row.subject_id, SubjectKey.version == row.version)
                .values(master_key_id=key_id, wrapped_key=wrapped)
            )
        if rows:
            return len(rows)
        # Then the records kept after erasure, which have keys of their own.
        kept = session.execute(
            select(
                RestrictedRecord.record_id,
                RestrictedRecord.master_key_id,
                RestrictedRecord.wrapped_key,
            )
            .where(RestrictedRecord.master_key_id != active)
            .order_by(RestrictedRecord.record_id)
            .limit(batch_size)
        ).all()
        for r in kept:
            ctx = _restricted_context(r.record_id)
            key_id, wrapped = self.keys.wrap(
                self.keys.unwrap(r.master_key_id, r.wrapped_key, ctx), ctx
            )
            session.execute(
                update(RestrictedRecord)
                .where(RestrictedRecord.record_id == r.record_id)
                .values(master_key_id=key_id, wrapped_key=wrapped)
            )
        return len(kept)

    def master_keys_in_use(self, session: Session) -> set[str]:
        used = set(session.execute(select(SubjectKey.master_key_id).distinct()).scalars())
        used |= set(session.execute(select(RestrictedRecord.master_key_id).distinct()).scalars())
        return used

    def keyring_fingerprint(self) -> str:
        """A value derived from the index key: tells whether a keyring belongs to a database."""
        return self.indexer.digest("__keyring_check__", "privguard").hex()

    def record_keyring(self, session: Session) -> None:
        set_meta(session, KEYRING_CHECK, self.keyring_fingerprint())

    def check_keyring(self, session: Session) -> None:
        """Refuse to run with a keyring that does not belong to this database."""
        stored = get_meta(session, KEYRING_CHECK)
        if stored is not None and stored != self.keyring_fingerprint():
            raise KeyringError(
                "the master keyring does not belong to this database (its index key differs); "
                "check PRIVGUARD_KEY_FILE / PRIVGUARD_KEYRING"
            )
        missing = self.master_keys_in_use(session) - set(self.keys.key_ids())
        if missing:
            raise KeyringError(
                "data keys are wrapped by master keys missing from the keyring: "
                + ", ".join(sorted(missing))
            )
