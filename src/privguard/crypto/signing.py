"""Ed25519 signatures on the access log's tree heads.

A signed tree head says "the log had this many entries and this root at this time". Whoever holds
one can later show that the log was changed, even by someone with write access to the database,
as long as the signing key stays out of the database.

The private key is derived from the key provider's blind-index root (HKDF-SHA256, its own
``info``), not stored anywhere: every keyring and every provider plug-in already has that root
and already keeps it stable across master-key rotation (blind indexes depend on it), so the log
key needs no new keyring format, no migration and no second secret to back up. The public key is
what auditors and consumers pin (``privguard audit public-key``).

The signed message is plain text so that an outside verifier can rebuild it byte for byte
(docs/access-log.md, docs/verify_proof.py)::

    privguard-tree-head/v1\\n{tree_size}\\n{timestamp}\\n{root hex}\\n
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from privguard.audit.entry import format_time

SIGNING_INFO = b"privguard/log-signing/v1"
MESSAGE_FORMAT = "privguard-tree-head/v1\\n{tree_size}\\n{timestamp}\\n{root_hash}\\n"
"""How the signed message is spelled, for documents and proofs (``\\n`` is one LF byte)."""
KEY_ID_CHARS = 16


class _HasIndexRoot(Protocol):
    def blind_index_root(self) -> bytes: ...


def tree_head_message(tree_size: int, at: datetime, root: bytes) -> bytes:
    """The exact bytes signed for a tree head; ``at`` must be timezone-aware."""
    if tree_size < 0 or len(root) != 32:
        raise ValueError("a tree head has a non-negative size and a 32-byte root")
    return b"privguard-tree-head/v1\n%d\n%s\n%s\n" % (
        tree_size,
        format_time(at).encode(),
        root.hex().encode(),
    )


def key_id_of(public_key_bytes: bytes) -> str:
    """A short name for a public key: the first 16 hex characters of SHA-256 of its raw bytes."""
    return hashlib.sha256(public_key_bytes).hexdigest()[:KEY_ID_CHARS]


class LogSigner:
    """Signs and checks tree heads with one Ed25519 key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self._public = private_key.public_key()
        self.public_key_bytes = self._public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id_of(self.public_key_bytes)

    def sign(self, tree_size: int, at: datetime, root: bytes) -> bytes:
        return self._private.sign(tree_head_message(tree_size, at, root))

    def verify(self, tree_size: int, at: datetime, root: bytes, signature: bytes) -> bool:
        return verify_tree_head(self.public_key_bytes, tree_size, at, root, signature)

    def __repr__(self) -> str:  # never the private key
        return f"LogSigner(key_id={self.key_id!r})"


def log_signer(keys: _HasIndexRoot) -> LogSigner:
    """The log signer of this keyring: the same key in every process that holds the keyring."""
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SIGNING_INFO).derive(
        keys.blind_index_root()
    )
    return LogSigner(Ed25519PrivateKey.from_private_bytes(seed))


def verify_tree_head(
    public_key_bytes: bytes, tree_size: int, at: datetime, root: bytes, signature: bytes
) -> bool:
    """True only when ``signature`` is this key's signature on exactly this head."""
    try:
        key = Ed25519PublicKey.from_public_bytes(public_key_bytes)
        key.verify(signature, tree_head_message(tree_size, at, root))
    except (InvalidSignature, ValueError):
        return False
    return True
