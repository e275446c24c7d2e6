"""Tree-head signing: the exact message, the key derivation, and what a signature binds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from privguard.crypto.keyring import Keyring
from privguard.crypto.providers import KeyringProvider
from privguard.crypto.signing import (
    MESSAGE_FORMAT,
    key_id_of,
    log_signer,
    tree_head_message,
    verify_tree_head,
)

AT = datetime(2026, 11, 29, 8, 0, 1, 250, tzinfo=UTC)
ROOT = hashlib.sha256(b"root").digest()
PINNED_PUBLIC_KEY = "26a779cb87a8156215a79ee59f03f18de45defffb94e23565abb6dbb1efd1d6e"


@dataclass
class FixedRoot:
    root: bytes

    def blind_index_root(self) -> bytes:
        return self.root


def test_the_signed_message_is_exactly_the_documented_text() -> None:
    message = tree_head_message(42, AT, ROOT)
    assert message == (
        b"privguard-tree-head/v1\n42\n2026-11-29T08:00:01.000250Z\n" + ROOT.hex().encode() + b"\n"
    )
    documented = MESSAGE_FORMAT.replace("\\n", "\n").format(
        tree_size=42, timestamp="2026-11-29T08:00:01.000250Z", root_hash=ROOT.hex()
    )
    assert message == documented.encode()
    # The same instant in another zone is the same message: it is spelled in UTC.
    shanghai = AT.astimezone(timezone(timedelta(hours=8)))
    assert tree_head_message(42, shanghai, ROOT) == message


def test_key_is_derived_from_the_index_root_and_pinned() -> None:
    signer = log_signer(FixedRoot(bytes(range(32))))
    again = log_signer(FixedRoot(bytes(range(32))))
    other = log_signer(FixedRoot(bytes(range(1, 33))))
    assert signer.public_key_bytes == again.public_key_bytes  # every process, the same key
    assert other.public_key_bytes != signer.public_key_bytes
    # Pinned: changing the HKDF info or the derivation would orphan every signed head.
    assert signer.public_key_bytes.hex() == PINNED_PUBLIC_KEY
    assert signer.key_id == hashlib.sha256(signer.public_key_bytes).hexdigest()[:16]
    assert key_id_of(signer.public_key_bytes) == signer.key_id
    assert repr(signer) == f"LogSigner(key_id={signer.key_id!r})"  # no key material


def test_master_key_rotation_keeps_the_log_key() -> None:
    keyring = Keyring.generate(AT)
    before = log_signer(KeyringProvider(keyring)).public_key_bytes
    rotated = keyring.with_new_master_key(AT + timedelta(days=1))
    assert rotated.active != keyring.active
    assert log_signer(KeyringProvider(rotated)).public_key_bytes == before
    fresh = log_signer(KeyringProvider(Keyring.generate(AT))).public_key_bytes
    assert fresh != before


def test_signature_verifies_and_binds_size_time_root_and_key() -> None:
    signer = log_signer(FixedRoot(bytes(range(32))))
    sig = signer.sign(42, AT, ROOT)
    assert len(sig) == 64
    assert signer.verify(42, AT, ROOT, sig)
    assert verify_tree_head(signer.public_key_bytes, 42, AT, ROOT, sig)
    # Anyone with only the raw public key can check it with a stock Ed25519 implementation.
    Ed25519PublicKey.from_public_bytes(signer.public_key_bytes).verify(
        sig, tree_head_message(42, AT, ROOT)
    )
    other = log_signer(FixedRoot(bytes(range(1, 33))))
    assert not verify_tree_head(signer.public_key_bytes, 43, AT, ROOT, sig)
    assert not verify_tree_head(signer.public_key_bytes, 42, AT + timedelta(microseconds=1),
                                ROOT, sig)
    assert not verify_tree_head(signer.public_key_bytes, 42, AT, hashlib.sha256(b"x").digest(),
                                sig)
    assert not verify_tree_head(other.public_key_bytes, 42, AT, ROOT, sig)
    assert not verify_tree_head(signer.public_key_bytes, 42, AT, ROOT, bytes(64))
    assert not verify_tree_head(signer.public_key_bytes, 42, AT, ROOT, sig[:63])
    assert not verify_tree_head(b"short", 42, AT, ROOT, sig)
