"""Identity verification for data-subject requests against a real store (SQLite and PostgreSQL):
the code goes only to the contact on file, read through the gate and logged; attempts, expiry,
single use and the hourly limit hold; and no phone number, address or code is left in any table
(design.md invariants 1 and 2; docs/identity-verification.md)."""

from __future__ import annotations

import inspect
import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from privguard.audit.models import AccessLogEntry
from privguard.bootstrap import Runtime
from privguard.notify import NotifierError
from privguard.notify.notifiers import OutboxMessage, OutboxNotifier
from privguard.policy.rules import ActorRef
from privguard.rights import verification as v
from privguard.rights.verification import Challenge, IdentityVerifier, VerificationFailed
from privguard.rights.verification_models import VerificationChallenge
from privguard.store.uow import unit_of_work
from privguard.testing import RecordingNotifier, Sent
from privguard.vault.errors import AccessDenied, InvalidPI

from ..conftest import NOW

PHONE = "+8613800138000"
EMAIL = "Zhang.San@example.com"


@pytest.fixture
def subject(runtime: Runtime, admin: ActorRef) -> uuid.UUID:
    with unit_of_work(runtime.sessions) as session:
        return runtime.vault.register(
            session,
            admin,
            {"name": "张三丰", "mobile_phone": "+86 138-0013-8000", "email": EMAIL},
            now=NOW,
        )


@pytest.fixture
def phone_only(runtime: Runtime, admin: ActorRef) -> uuid.UUID:
    with unit_of_work(runtime.sessions) as session:
        return runtime.vault.register(
            session, admin, {"name": "李四", "mobile_phone": "13900139000"}, now=NOW
        )


@pytest.fixture
def recorder() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def verifier(runtime: Runtime, recorder: RecordingNotifier) -> IdentityVerifier:
    return IdentityVerifier(recorder, runtime.vault.indexer)


def start(
    runtime: Runtime,
    verifier: IdentityVerifier,
    subject_id: uuid.UUID,
    channel: str = "mobile_phone",
    *,
    ref: str | None = "req-1",
    now: datetime = NOW,
) -> Challenge:
    # As the API does: a refusal commits (its gate read is logged), anything else rolls back.
    with unit_of_work(runtime.sessions, commit_on=(AccessDenied,)) as session:
        return verifier.start(session, runtime.vault, subject_id, channel, ref, now)


def check(
    runtime: Runtime,
    verifier: IdentityVerifier,
    challenge_id: uuid.UUID,
    code: str,
    *,
    now: datetime = NOW + timedelta(minutes=1),
    **expected: object,
) -> bool:
    with unit_of_work(runtime.sessions, commit_on=(AccessDenied,)) as session:
        return verifier.check(session, challenge_id, code, now, **expected)  # type: ignore[arg-type]


def refused(rule: str) -> Any:
    return pytest.raises(VerificationFailed, match=re.escape(rule))


def challenge_row(runtime: Runtime, challenge_id: uuid.UUID) -> VerificationChallenge:
    with unit_of_work(runtime.sessions) as session:
        row = session.get(VerificationChallenge, challenge_id)
        assert row is not None
        return row


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# ---------------------------------------------------------------------------------- destination
def test_the_code_goes_only_to_the_contact_on_file(
    runtime: Runtime, verifier: IdentityVerifier, recorder: RecordingNotifier, subject: uuid.UUID
) -> None:
    params = set(inspect.signature(IdentityVerifier.start).parameters)
    assert params == {"self", "session", "vault", "subject_id", "channel", "request_ref", "now"}

    sms = start(runtime, verifier, subject, "mobile_phone")
    assert sms.masked_destination == "138****8000"
    assert sms.expires_at == NOW + timedelta(minutes=10) and sms.channel == "mobile_phone"
    mail = start(runtime, verifier, subject, "email")
    assert mail.masked_destination == "Z***@example.com"
    assert [(s.channel, s.destination) for s in recorder.sent] == [
        ("mobile_phone", PHONE),
        ("email", EMAIL),
    ]
    assert recorder.subject_ids == [subject, subject]
    assert re.search(r"\b\d{6}\b", recorder.sent[0].message)


def test_the_contact_is_read_through_the_gate_and_logged(
    runtime: Runtime, verifier: IdentityVerifier, subject: uuid.UUID
) -> None:
    start(runtime, verifier, subject, "mobile_phone")
    with unit_of_work(runtime.sessions) as session:
        entries = [
            json.loads(e)
            for e in session.execute(
                select(AccessLogEntry.entry)
                .where(AccessLogEntry.subject_id == subject)
                .order_by(AccessLogEntry.entry_id)
            ).scalars()
        ]
    reads = [e for e in entries if e["action"] == "read"]
    assert len(reads) == 1
    (entry,) = reads
    assert entry["purpose"] == "legal_obligation" and entry["role"] == "platform_admin"
    assert entry["decisions"] == [{"field": "mobile_phone", "view": "plain", "rule": "legal.admin"}]
    assert PHONE not in json.dumps(entries) and "13800138000" not in json.dumps(entries)


def test_no_contact_on_file_is_refused_after_a_logged_read(
    runtime: Runtime, verifier: IdentityVerifier, recorder: RecordingNotifier, phone_only: uuid.UUID
) -> None:
    with refused(v.RULE_NO_CONTACT) as info:
        start(runtime, verifier, phone_only, "email")
    assert "e-mail address" in str(info.value)
    assert recorder.sent == []
    with unit_of_work(runtime.sessions) as session:
        purposes = list(
            session.execute(
                select(AccessLogEntry.entry).where(AccessLogEntry.subject_id == phone_only)
            ).scalars()
        )
        assert sum('"action":"read"' in e and '"field":"email"' in e for e in purposes) == 1
        assert session.execute(select(VerificationChallenge)).first() is None


def test_bad_channels_and_request_refs_are_rejected(
    runtime: Runtime, verifier: IdentityVerifier, subject: uuid.UUID
) -> None:
    with pytest.raises(InvalidPI, match=r"verification\.unknown_channel"):
        start(runtime, verifier, subject, "landline")
    with pytest.raises(InvalidPI, match=r"verification\.bad_request_ref"):
        start(runtime, verifier, subject, ref="+86 138 0013 8000")  # a reference, not PI
    assert start(runtime, verifier, subject, ref=None).challenge_id


# ---------------------------------------------------------------------------------- checking
def test_the_right_code_verifies_once(
    runtime: Runtime, verifier: IdentityVerifier, recorder: RecordingNotifier, subject: uuid.UUID
) -> None:
    challenge = start(runtime, verifier, subject)
    code = recorder.last_code()
    assert check(runtime, verifier, challenge.challenge_id, code, subject_id=subject,
                 request_ref="req-1") is True
    row = challenge_row(runtime, challenge.challenge_id)
    assert row.consumed and row.verified_at == NOW + timedelta(minutes=1) and row.attempts == 1
    with refused(v.RULE_ALREADY_USED):
        check(runtime, verifier, challenge.challenge_id, code)


def test_wrong_codes_are_counted_and_lock_the_challenge_after_five(
    runtime: Runtime, verifier: IdentityVerifier, recorder: RecordingNotifier, subject: uuid.UUID
) -> None:
    challenge = start(runtime, verifier, subject)
    code = recorder.last_code()
    for left in (4, 3, 2, 1, 0):
        with refused(v.RULE_WRONG_CODE) as info:
            check(runtime, verifier, challenge.challenge_id, wrong(code))
        assert info.value.attempts_left == left
    assert "start a new verification" in str(info.value)
    assert challenge_row(runtime, challenge.challenge_id).attempts == 5
    with refused(v.RULE_TOO_MANY_ATTEMPTS):
        check(runtime, verifier, challenge.challenge_id, code)  # even the right one
    row = challenge_row(runtime, challenge.challenge_id)
    assert row.attempts == 5 and not row.consumed and row.verified_at is None


def test_a_malformed_code_costs_no_attempt(
    runtime: Runtime, verifier: IdentityVerifier, recorder: RecordingNotifier, subject: uuid.UUID
) -> None:
    challenge = start(runtime, verifier, subject)
    with refused(v.RULE_MALFORMED):
        check(runtime, verifier, challenge.challenge_id, "12345")
    assert challenge_row(runtime, challenge.challenge_id).attempts == 0
    full_width = recorder.last_code().translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert check(runtime, verifier, challenge.challenge_id, full_width)


def test_an_expired_code_fails(
    runtime: Runtime, verifier: IdentityVerifier, recorder: RecordingNotifier, subject: uuid.UUID
) -> None:
    challenge = start(runtime, verifier, subject)
    code = recorder.last_code()
    with refused(v.RULE_EXPIRED):
        check(runtime, verifier, challenge.challenge_id, code, now=challenge.expires_at)
    assert challenge_row(runtime, challenge.challenge_id).attempts == 0
    later = challenge.expires_at - timedelta(microseconds=1)
    assert check(runtime, verifier, challenge.challenge_id, code, now=later)


def test_a_challenge_for_someone_else_reads_as_unknown(
    runtime: Runtime,
    verifier: IdentityVerifier,
    recorder: RecordingNotifier,
    subject: uuid.UUID,
    phone_only: uuid.UUID,
) -> None:
    mine = start(runtime, verifier, phone_only)
    code = recorder.last_code()
    with refused(v.RULE_UNKNOWN):
        check(runtime, verifier, mine.challenge_id, code, subject_id=subject)
    with refused(v.RULE_UNKNOWN):
        check(runtime, verifier, mine.challenge_id, code, request_ref="req-2")
    with refused(v.RULE_UNKNOWN):
        check(runtime, verifier, uuid.uuid4(), code)
    with refused(v.RULE_UNKNOWN):
        check(runtime, verifier, "not-a-uuid", code)  # type: ignore[arg-type]
    assert challenge_row(runtime, mine.challenge_id).attempts == 0
    assert check(runtime, verifier, mine.challenge_id, code, subject_id=phone_only)


# ---------------------------------------------------------------------------------- limits
def test_at_most_three_codes_per_person_per_hour(
    runtime: Runtime,
    verifier: IdentityVerifier,
    recorder: RecordingNotifier,
    subject: uuid.UUID,
    phone_only: uuid.UUID,
) -> None:
    first = start(runtime, verifier, subject, now=NOW)
    assert check(runtime, verifier, first.challenge_id, recorder.last_code())  # used ones count
    start(runtime, verifier, subject, "email", now=NOW + timedelta(minutes=20))
    start(runtime, verifier, subject, now=NOW + timedelta(minutes=40))
    with refused(v.RULE_RATE_LIMITED) as info:
        start(runtime, verifier, subject, "email", now=NOW + timedelta(minutes=59))
    assert info.value.retry_at == NOW + timedelta(hours=1)
    assert "2026-11-29 09:00 UTC" in str(info.value)
    assert len(recorder.sent) == 3
    start(runtime, verifier, phone_only, now=NOW + timedelta(minutes=59))  # per person
    start(runtime, verifier, subject, now=NOW + timedelta(hours=1))
    assert len(recorder.sent) == 5


# ---------------------------------------------------------------------------------- delivery
def test_nothing_is_sent_when_the_transaction_rolls_back(
    runtime: Runtime, verifier: IdentityVerifier, recorder: RecordingNotifier, subject: uuid.UUID
) -> None:
    with pytest.raises(RuntimeError), unit_of_work(runtime.sessions) as session:
        verifier.start(session, runtime.vault, subject, "mobile_phone", None, NOW)
        raise RuntimeError("the request failed later on")
    assert recorder.sent == []
    with unit_of_work(runtime.sessions) as session:
        assert session.execute(select(VerificationChallenge)).first() is None


def test_a_failed_delivery_is_reported_without_the_destination(
    runtime: Runtime, verifier: IdentityVerifier, recorder: RecordingNotifier, subject: uuid.UUID
) -> None:
    recorder.fail = OSError(f"gateway refused {PHONE}")
    with pytest.raises(NotifierError) as info:
        start(runtime, verifier, subject)
    assert PHONE not in str(info.value) and "OSError" in str(info.value)
    with unit_of_work(runtime.sessions) as session:  # committed before sending: it counts
        assert len(session.execute(select(VerificationChallenge)).all()) == 1


# ---------------------------------------------------------------------------------- at rest
def table_texts(runtime: Runtime) -> Iterator[tuple[str, str]]:
    """Every row of every table in the database (as found there, not as the models say), each
    value as text (bytes byte for byte as latin-1)."""
    tables = MetaData()
    tables.reflect(bind=runtime.engine)
    with unit_of_work(runtime.sessions) as session:
        for table in tables.sorted_tables:
            for row in session.execute(select(table)):
                parts = [
                    value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    for value in row
                ]
                yield table.name, "\x1f".join(parts)


def test_no_phone_address_or_code_is_left_in_any_table(
    runtime: Runtime, subject: uuid.UUID
) -> None:
    outbox = runtime.verifier.notifier
    assert isinstance(outbox, OutboxNotifier)  # the default PRIVGUARD_NOTIFIER
    verifier = runtime.verifier
    sms = start(runtime, verifier, subject, "mobile_phone")
    mail = start(runtime, verifier, subject, "email")
    (sms_text,) = outbox.messages_to("mobile_phone", PHONE)
    (mail_text,) = outbox.messages_to("email", EMAIL.upper())  # addresses compare caselessly
    assert outbox.messages_to("mobile_phone", "+8613900139000") == []
    sms_code = re.findall(r"\b\d{6}\b", sms_text)[0]
    mail_code = re.findall(r"\b\d{6}\b", mail_text)[0]
    with pytest.raises(VerificationFailed):
        check(runtime, verifier, sms.challenge_id, wrong(sms_code))
    assert check(runtime, verifier, sms.challenge_id, sms_code)
    assert check(runtime, verifier, mail.challenge_id, mail_code)

    with unit_of_work(runtime.sessions) as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        assert [(r.channel, r.subject_id) for r in rows] == [
            ("mobile_phone", subject),
            ("email", subject),
        ]
        assert rows[0].destination_hash == outbox.destination_hash("mobile_phone", PHONE)

    dump = list(table_texts(runtime))
    tables = {name for name, _ in dump}
    assert {"verification_challenges", "outbox", "access_log", "subjects"} <= tables
    text = "\n".join(row for _, row in dump)
    assert str(subject) in text  # positive control: the search sees the rows
    for needle in (PHONE, PHONE.removeprefix("+86"), "138-0013-8000", "zhang.san", sms_text,
                   mail_text, "verification code"):
        assert needle.lower() not in text.lower(), needle
    for code in (sms_code, mail_code):
        assert not re.search(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])", text), code


def test_the_runtime_verifier_uses_the_configured_ttl(runtime: Runtime) -> None:
    assert runtime.verifier.limits.ttl == timedelta(seconds=600)
    assert runtime.verifier.limits.max_attempts == 5 and runtime.verifier.limits.per_window == 3


def test_recorder_keeps_what_it_was_given() -> None:
    r = RecordingNotifier()
    r.send("email", "a@example.com", "code 123456")
    assert r.sent == [Sent("email", "a@example.com", "code 123456")]
    assert r.last_code() == "123456"
