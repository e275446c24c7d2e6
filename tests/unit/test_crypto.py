"""Envelope encryption, key wrapping, keyring files and blind indexes (no database)."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from privguard.crypto.blind_index import DIGEST_BYTES, BlindIndexer
from privguard.crypto.envelope import Sealer, field_aad, new_data_key
from privguard.crypto.errors import DecryptionError, KeyringError
from privguard.crypto.keyring import Keyring, read_keyring_file, write_keyring_file
from privguard.crypto.providers import FileKeyProvider, KeyringProvider

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def test_seal_and_open_round_trip_with_fresh_nonces() -> None:
    sealer = Sealer(new_data_key())
    aad = field_aad("s1", "name", 1)
    a = sealer.seal("张三".encode(), aad)
    b = sealer.seal("张三".encode(), aad)
    assert a != b  # a random nonce per value: equal plaintexts do not look equal
    assert sealer.open(a, aad).decode() == "张三"
    assert "张三".encode() not in a


@pytest.mark.parametrize(
    "other_aad",
    [field_aad("s2", "name", 1), field_aad("s1", "email", 1), field_aad("s1", "name", 2)],
    ids=["other-subject", "other-field", "other-key-version"],
)
def test_ciphertext_is_bound_to_subject_field_and_version(other_aad: bytes) -> None:
    sealer = Sealer(new_data_key())
    sealed = sealer.seal(b"13800138000", field_aad("s1", "name", 1))
    with pytest.raises(DecryptionError):
        sealer.open(sealed, other_aad)


def test_tampered_wrong_key_and_truncated_ciphertexts_give_one_error() -> None:
    key = new_data_key()
    aad = field_aad("s1", "name", 1)
    sealed = Sealer(key).seal(b"value", aad)
    tampered = bytearray(sealed)
    tampered[15] ^= 0x01
    messages = set()
    for attempt in (
        lambda: Sealer(key).open(bytes(tampered), aad),
        lambda: Sealer(new_data_key()).open(sealed, aad),
        lambda: Sealer(key).open(sealed[:10], aad),
    ):
        with pytest.raises(DecryptionError) as info:
            attempt()
        messages.add(str(info.value))
    assert len(messages) == 1


def test_key_wrap_round_trip_and_context_binding() -> None:
    provider = KeyringProvider(Keyring.generate(NOW))
    data_key = new_data_key()
    key_id, wrapped = provider.wrap(data_key, b"ctx-a")
    assert key_id == provider.active_key_id()
    assert data_key not in wrapped
    assert provider.unwrap(key_id, wrapped, b"ctx-a") == data_key
    with pytest.raises(DecryptionError):
        provider.unwrap(key_id, wrapped, b"ctx-b")
    with pytest.raises(DecryptionError):
        provider.unwrap("mk-unknown", wrapped, b"ctx-a")
    with pytest.raises(DecryptionError):
        KeyringProvider(Keyring.generate(NOW)).unwrap(key_id, wrapped, b"ctx-a")


def test_keyring_file_is_0600_and_round_trips(tmp_path: Path) -> None:
    ring = Keyring.generate(NOW)
    path = tmp_path / "master.key"
    write_keyring_file(path, ring)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = read_keyring_file(path)
    assert loaded.active == ring.active
    assert loaded.master_keys == ring.master_keys
    assert loaded.index_key == ring.index_key


def test_keyring_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    write_keyring_file(path, Keyring.generate(NOW))
    os.chmod(path, 0o644)
    with pytest.raises(KeyringError, match="chmod 600"):
        read_keyring_file(path)


def test_missing_keyring_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="privguard init"):
        read_keyring_file(tmp_path / "nope.key")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"format": "other"}', "format"),
        ('{"format": "privguard-keyring/1", "master_keys": {}}', "non-empty"),
        (
            '{"format": "privguard-keyring/1", "active": "a", '
            '"master_keys": {"a": {"key": "c2hvcnQ="}}, "index_key": ""}',
            "32 bytes",
        ),
    ],
)
def test_malformed_keyrings_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(KeyringError, match=message):
        Keyring.from_json(text)


def test_file_provider_rotation_keeps_old_keys_until_retired(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    write_keyring_file(path, Keyring.generate(NOW))
    provider = FileKeyProvider(path)
    old = provider.active_key_id()
    old_id, wrapped = provider.wrap(b"k" * 32, b"ctx")
    new = provider.add_master_key(NOW)
    assert new != old and provider.active_key_id() == new
    reloaded = FileKeyProvider(path)  # persisted
    assert reloaded.unwrap(old_id, wrapped, b"ctx") == b"k" * 32
    with pytest.raises(KeyringError):
        reloaded.retire(new)  # the active key cannot be retired
    reloaded.retire(old)
    with pytest.raises(DecryptionError):
        FileKeyProvider(path).unwrap(old_id, wrapped, b"ctx")


def test_blind_index_is_keyed_per_field_and_deterministic() -> None:
    root = os.urandom(32)
    idx = BlindIndexer(root)
    a = idx.digest("mobile_phone", "+8613800138000")
    assert a == BlindIndexer(root).digest("mobile_phone", "+8613800138000")
    assert len(a) == DIGEST_BYTES
    assert a != idx.digest("email", "+8613800138000")
    assert a != BlindIndexer(os.urandom(32)).digest("mobile_phone", "+8613800138000")
