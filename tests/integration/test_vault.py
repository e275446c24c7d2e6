"""The vault against a real database: round trips, integrity failures, crypto-shredding."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from privguard.bootstrap import Runtime, build_runtime
from privguard.config import Settings
from privguard.crypto.envelope import TAG_BYTES, Sealer, field_aad
from privguard.crypto.errors import DecryptionError, KeyringError
from privguard.crypto.keyring import Keyring, write_keyring_file
from privguard.crypto.providers import FileKeyProvider
from privguard.policy.rules import ActorRef, Role, View
from privguard.store.uow import unit_of_work
from privguard.vault.errors import AccessDenied, InvalidPI, SubjectErased, SubjectNotFound
from privguard.vault.models import BlindIndex, Subject, SubjectKey
from privguard.vault.record import SealedField, pack, unpack
from privguard.vault.service import _wrap_context

from ..conftest import NOW
from .samples import CANONICAL, OTHER, RAW


def register(runtime: Runtime, actor: ActorRef, pi: dict) -> uuid.UUID:
    with unit_of_work(runtime.sessions) as session:
        return runtime.vault.register(session, actor, pi, now=NOW)


def read(
    runtime: Runtime,
    actor: ActorRef,
    subject_id: uuid.UUID,
    view: View = View.PLAIN,
    fields: list[str] | None = None,
) -> dict:
    with unit_of_work(runtime.sessions) as session:
        result = runtime.vault.read(
            session,
            actor,
            subject_id,
            fields=fields,
            purpose="legal_obligation",
            view=view,
            now=NOW,
        )
    return {name: v.value for name, v in result.values.items() if v.present}


def test_every_catalog_field_round_trips(runtime: Runtime, admin: ActorRef) -> None:
    assert set(RAW) == set(runtime.catalog.names()), "samples must cover the whole catalog"
    subject_id = register(runtime, admin, RAW)
    assert read(runtime, admin, subject_id) == CANONICAL


def test_masked_and_waybill_views(runtime: Runtime, admin: ActorRef) -> None:
    subject_id = register(runtime, admin, RAW)
    masked = read(runtime, admin, subject_id, View.MASKED)
    assert masked["name"] == "欧阳**"
    assert masked["mobile_phone"] == "138****8000"
    assert masked["resident_id"] == "1101**********002X"
    assert masked["bank_card"] == "**** **** **** 0128"
    assert masked["email"] == "Z***@example.com"
    assert masked["shipping_addresses"] == ["广东省深圳市南山区****"]
    waybill = read(runtime, admin, subject_id, View.WAYBILL, ["name", "mobile_phone"])
    assert waybill == {"name": "欧阳**", "mobile_phone": "*******8000"}


def test_no_plaintext_in_the_vault_tables(runtime: Runtime, admin: ActorRef) -> None:
    subject_id = register(runtime, admin, RAW)
    blob = _record(runtime, subject_id)
    assert set(unpack(blob[:-TAG_BYTES])) == set(RAW)  # every field sealed on its own
    for needle in ("13800138000", "11010519491231002X", "欧阳娜娜", "example.com"):
        assert needle.encode() not in blob


def test_invalid_fields_are_all_reported_and_nothing_is_written(
    runtime: Runtime, admin: ActorRef
) -> None:
    bad = {
        **OTHER,
        "mobile_phone": "12345",
        "resident_id": "110108199001011234",
        "bank_card": "6222021234567890127",
        "email": "lisi@",
    }
    with pytest.raises(InvalidPI) as info:
        register(runtime, admin, bad)
    rules = {e.field: e.rule for e in info.value.errors}
    assert rules == {
        "mobile_phone": "phone.invalid",
        "resident_id": "ric.checksum",
        "bank_card": "card.luhn",
        "email": "email.invalid",
    }
    for needle in ("12345", "110108199001011234", "6222021234567890127", "lisi@"):
        assert needle not in str(info.value)
    with unit_of_work(runtime.sessions) as session:
        assert session.execute(select(func.count()).select_from(Subject)).scalar() == 0
        assert session.execute(select(func.count()).select_from(SubjectKey)).scalar() == 0


def test_unknown_fields_are_rejected(runtime: Runtime, admin: ActorRef) -> None:
    with pytest.raises(InvalidPI) as info:
        register(runtime, admin, {"name": "李四", "shoe_size": "42"})
    assert [(e.field, e.rule) for e in info.value.errors] == [
        ("shoe_size", "catalog.unknown_field")
    ]


def _record(runtime: Runtime, subject_id: uuid.UUID) -> bytes:
    with unit_of_work(runtime.sessions) as session:
        return session.execute(
            select(Subject.sealed).where(Subject.subject_id == subject_id)
        ).scalar_one()


def _set_record(runtime: Runtime, subject_id: uuid.UUID, blob: bytes) -> None:
    with unit_of_work(runtime.sessions) as session:
        session.execute(update(Subject).where(Subject.subject_id == subject_id).values(sealed=blob))


def _blob(runtime: Runtime, subject_id: uuid.UUID, field: str) -> bytes:
    return unpack(_record(runtime, subject_id)[:-TAG_BYTES])[field].ciphertext


def _tamper(runtime: Runtime, subject_id: uuid.UUID, field: str, ciphertext: bytes) -> None:
    """Replace one field's ciphertext, as an attacker who knows the record layout would (the
    record's tag cannot be recomputed without the data key, so the old one stays)."""
    blob = _record(runtime, subject_id)
    record = unpack(blob[:-TAG_BYTES])
    record[field] = SealedField(record[field].collected_at, ciphertext)
    _set_record(runtime, subject_id, pack(record) + blob[-TAG_BYTES:])


def test_tampered_ciphertext_fails_to_decrypt(runtime: Runtime, admin: ActorRef) -> None:
    subject_id = register(runtime, admin, RAW)
    blob = bytearray(_blob(runtime, subject_id, "mobile_phone"))
    blob[-1] ^= 0x80
    _tamper(runtime, subject_id, "mobile_phone", bytes(blob))
    with pytest.raises(DecryptionError) as info:
        read(runtime, admin, subject_id, fields=["mobile_phone"])
    assert "13800138000" not in str(info.value)


def test_ciphertext_swapped_between_subjects_fails(runtime: Runtime, admin: ActorRef) -> None:
    a = register(runtime, admin, RAW)
    b = register(runtime, admin, OTHER)
    _tamper(runtime, b, "mobile_phone", _blob(runtime, a, "mobile_phone"))
    with pytest.raises(DecryptionError):
        read(runtime, admin, b, fields=["mobile_phone"])
    # Even a whole row moved with its data key does not open: the key is bound to its subject.
    with unit_of_work(runtime.sessions) as session:
        key_a = session.execute(
            select(SubjectKey.wrapped_key).where(SubjectKey.subject_id == a)
        ).scalar_one()
        session.execute(
            update(SubjectKey).where(SubjectKey.subject_id == b).values(wrapped_key=key_a)
        )
    with pytest.raises(DecryptionError):
        read(runtime, admin, b, fields=["name"])


def test_any_flipped_bit_in_the_stored_record_fails(runtime: Runtime, admin: ActorRef) -> None:
    subject_id = register(runtime, admin, OTHER)
    blob = _record(runtime, subject_id)
    # The format byte, a field name's byte, a collected-at byte, a ciphertext byte, the tag.
    for position in (0, 2, 8, len(blob) // 2, len(blob) - 1):
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        _set_record(runtime, subject_id, bytes(damaged))
        with pytest.raises(DecryptionError):
            read(runtime, admin, subject_id)
    _set_record(runtime, subject_id, blob)
    assert read(runtime, admin, subject_id)["name"] == "李四"


def test_whole_records_swapped_between_subjects_fail(runtime: Runtime, admin: ActorRef) -> None:
    a = register(runtime, admin, RAW)
    b = register(runtime, admin, OTHER)
    _set_record(runtime, b, _record(runtime, a))
    with pytest.raises(DecryptionError):
        read(runtime, admin, b, fields=["name"])


def test_ciphertext_moved_to_another_field_fails(runtime: Runtime, admin: ActorRef) -> None:
    subject_id = register(runtime, admin, RAW)
    _tamper(runtime, subject_id, "email", _blob(runtime, subject_id, "payment_account"))
    with pytest.raises(DecryptionError):
        read(runtime, admin, subject_id, fields=["email"])


def test_wrong_master_key_fails_with_the_same_error(
    runtime: Runtime, admin: ActorRef, settings: Settings, tmp_path: Path
) -> None:
    subject_id = register(runtime, admin, RAW)
    # A keyring whose master key has the right id but the wrong bytes.
    real = FileKeyProvider(settings.resolved_key_file)
    forged = Keyring.generate(NOW)
    forged = Keyring(
        active=real.active_key_id(),
        master_keys={real.active_key_id(): forged.master_keys[forged.active]},
        index_key=real.blind_index_root(),
    )
    path = tmp_path / "forged.key"
    write_keyring_file(path, forged)
    wrong = build_runtime(settings.model_copy(update={"key_file": path}), check=False)
    try:
        with pytest.raises(DecryptionError) as info:
            read(wrong, admin, subject_id, fields=["name"])
    finally:
        wrong.close()
    assert str(info.value) == str(DecryptionError())


def test_a_keyring_from_another_deployment_is_refused_at_start(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "other.key"
    write_keyring_file(path, Keyring.generate(NOW))
    with pytest.raises(KeyringError, match="does not belong to this database"):
        build_runtime(settings.model_copy(update={"key_file": path}))


def test_crypto_shredding_makes_every_copy_unreadable(runtime: Runtime, admin: ActorRef) -> None:
    subject_id = register(runtime, admin, RAW)
    keep = register(runtime, admin, OTHER)
    # A "backup" of the subject's ciphertexts taken before erasure.
    sealed = _record(runtime, subject_id)
    copies = [(n, 1, e.ciphertext) for n, e in unpack(sealed[:-TAG_BYTES]).items()]
    with unit_of_work(runtime.sessions) as session:
        wrapped = session.execute(
            select(SubjectKey.wrapped_key).where(SubjectKey.subject_id == subject_id)
        ).scalar_one()
        runtime.vault.erase(session, admin, subject_id, now=NOW)

    with pytest.raises(SubjectErased):
        read(runtime, admin, subject_id)
    with unit_of_work(runtime.sessions) as session:
        for model in (SubjectKey, BlindIndex):
            count = session.execute(
                select(func.count()).select_from(model).where(model.subject_id == subject_id)
            ).scalar()
            assert count == 0, model.__tablename__
        assert session.get(Subject, subject_id).sealed is None
        # Everything still in the database, plus the master keyring, cannot open the copies:
        # the only thing that could (the subject's data key) is gone.
        remaining_keys = session.execute(
            select(SubjectKey.subject_id, SubjectKey.master_key_id, SubjectKey.wrapped_key)
        ).all()
    assert [k.subject_id for k in remaining_keys] == [keep]
    for other in remaining_keys:
        data_key = runtime.keys.unwrap(
            other.master_key_id, other.wrapped_key, _wrap_context(other.subject_id, 1)
        )
        for field, version, blob in copies:
            with pytest.raises(DecryptionError):
                Sealer(data_key).open(blob, field_aad(str(subject_id), field, version))
    assert read(runtime, admin, keep, fields=["name"]) == {"name": "李四"}
    # The lookup index forgot the subject too.
    with unit_of_work(runtime.sessions) as session:
        assert (
            runtime.vault.lookup(
                session,
                admin,
                "mobile_phone",
                RAW["mobile_phone"],
                purpose="account_management",
                now=NOW,
            )
            == []
        )
    if runtime.engine.dialect.name == "sqlite":
        # secure_delete: the erased wrapped key is not left behind in free pages of the file.
        runtime.engine.dispose()
        db = Path(runtime.engine.url.database or "")
        raw = db.read_bytes() + (
            db.with_name(db.name + "-wal").read_bytes()
            if db.with_name(db.name + "-wal").exists()
            else b""
        )
        assert wrapped not in raw
        assert sealed not in raw
        assert all(blob not in raw for _, _, blob in copies)


def test_update_replaces_and_removes_fields(runtime: Runtime, admin: ActorRef) -> None:
    subject_id = register(runtime, admin, OTHER)
    with unit_of_work(runtime.sessions) as session:
        changed = runtime.vault.update(
            session,
            admin,
            subject_id,
            {"email": "NEW@example.org", "resident_id": None},
            now=NOW,
        )
    assert changed == ["email", "resident_id"]
    values = read(runtime, admin, subject_id)
    assert values["email"] == "NEW@example.org"
    assert "resident_id" not in values
    with unit_of_work(runtime.sessions) as session:
        assert runtime.vault.lookup(
            session, admin, "email", "new@EXAMPLE.org", purpose="account_management", now=NOW
        ) == [subject_id]
        assert (
            runtime.vault.lookup(
                session, admin, "email", OTHER["email"], purpose="account_management", now=NOW
            )
            == []
        )


def test_invalid_update_changes_nothing(runtime: Runtime, admin: ActorRef) -> None:
    subject_id = register(runtime, admin, OTHER)
    with pytest.raises(InvalidPI), unit_of_work(runtime.sessions) as session:
        runtime.vault.update(
            session,
            admin,
            subject_id,
            {"email": "x@example.org", "mobile_phone": "1"},
            now=NOW,
        )
    assert read(runtime, admin, subject_id)["email"] == OTHER["email"]


def test_lookup_normalises_formats(runtime: Runtime, admin: ActorRef) -> None:
    subject_id = register(runtime, admin, RAW)
    register(runtime, admin, OTHER)
    with unit_of_work(runtime.sessions) as session:
        for field, value in [
            ("mobile_phone", "13800138000"),
            ("mobile_phone", "0086 138 0013 8000"),
            ("mobile_phone", "１３８００１３８０００"),
            ("email", "zhangsan@EXAMPLE.COM"),
            ("resident_id", "11010519491231002X"),
        ]:
            found = runtime.vault.lookup(
                session, admin, field, value, purpose="account_management", now=NOW
            )
            assert found == [subject_id], (field, value)
        with pytest.raises(InvalidPI):
            runtime.vault.lookup(
                session, admin, "name", "欧阳娜娜", purpose="account_management", now=NOW
            )


def test_service_staff_get_at_most_the_view_their_rule_grants(
    runtime: Runtime, admin: ActorRef
) -> None:
    subject_id = register(runtime, admin, RAW)
    staff = ActorRef(actor_id=uuid.uuid4(), role=Role.CUSTOMER_SERVICE)
    with unit_of_work(runtime.sessions) as session:
        result = runtime.vault.read(
            session,
            staff,
            subject_id,
            fields=["mobile_phone", "resident_id"],
            purpose="customer_support",
            view=View.PLAIN,
            now=NOW,
        )
    # Asking for plain gets the masked view the rules allow, and says which rule decided.
    assert {n: (v.view, v.value, v.rule) for n, v in result.values.items()} == {
        "mobile_phone": (View.MASKED, "138****8000", "support.masked-contact"),
        "resident_id": (View.MASKED, result.values["resident_id"].value, "support.identity-check"),
    }
    assert "*" in result.values["resident_id"].value
    with pytest.raises(AccessDenied) as info:
        read(runtime, staff, subject_id, View.PLAIN, ["mobile_phone"])  # legal_obligation
    assert info.value.rule == "default.deny"
    with pytest.raises(AccessDenied):
        register(runtime, staff, OTHER)


def test_unknown_and_erased_subjects(runtime: Runtime, admin: ActorRef) -> None:
    with pytest.raises(SubjectNotFound):
        read(runtime, admin, uuid.uuid4())
    subject_id = register(runtime, admin, OTHER)
    with unit_of_work(runtime.sessions) as session:
        runtime.vault.erase(session, admin, subject_id, now=NOW)
    with pytest.raises(SubjectErased), unit_of_work(runtime.sessions) as session:
        runtime.vault.update(session, admin, subject_id, {"name": "王五"}, now=NOW)


def test_concurrent_updates_of_one_subject_lose_nothing(runtime: Runtime, admin: ActorRef) -> None:
    """Each update rewrites the sealed record; the row lock keeps both writers' changes."""
    import threading

    subject_id = register(runtime, admin, OTHER)
    changes = [
        {"email": f"u{i}@example.org"} if i % 2 else {"landline": f"010-6234{i:04d}"}
        for i in range(12)
    ]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(changes))

    def worker(change: dict) -> None:
        try:
            barrier.wait()
            with unit_of_work(runtime.sessions) as session:
                runtime.vault.update(session, admin, subject_id, change, now=NOW)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(c,)) for c in changes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    values = read(runtime, admin, subject_id)
    assert "email" in values and "landline" in values  # neither writer's field was lost
    assert values["name"] == OTHER["name"]


def test_a_read_of_an_unknown_id_is_logged_and_answered_as_not_found(
    runtime: Runtime, admin: ActorRef
) -> None:
    """Guessing ids is what a prober does: the refusal is in the log (rule subject.unknown)
    while the caller sees the plain not-found it always saw."""
    from privguard.audit.entry import LogEntry
    from privguard.audit.models import AccessLogEntry

    probed = uuid.uuid4()
    with pytest.raises(SubjectNotFound) as raised, unit_of_work(
        runtime.sessions, commit_on=(AccessDenied,)
    ) as session:
        runtime.vault.read(session, admin, probed, fields=["name", "mobile_phone"],
                           purpose="legal_obligation", view=View.MASKED, now=NOW)
    assert str(raised.value) == f"no subject {probed}"
    with unit_of_work(runtime.sessions) as session:
        rows = session.execute(
            select(AccessLogEntry.entry).where(AccessLogEntry.subject_id == probed)
        ).scalars().all()
    assert len(rows) == 1
    entry = LogEntry.from_json(rows[0])
    assert entry.actor_id == admin.actor_id
    assert [(d["field"], d["view"], d["rule"]) for d in entry.decisions] == [
        ("name", "none", "subject.unknown"), ("mobile_phone", "none", "subject.unknown")]
