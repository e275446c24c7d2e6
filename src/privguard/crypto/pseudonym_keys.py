"""Keys for recipient-scoped pseudonyms (sharing/pseudonyms.py).

Each recipient gets its own HMAC key, derived by HKDF-SHA256 from the keyring's index root with an
``info`` that names the recipient (and a generation number). Like the blind indexes and the
log-signing key, nothing new is stored or backed up: whoever holds the keyring can rebuild every
recipient's key, and the index root stays the same across master-key rotation, so a recipient's
pseudonyms stay stable across releases. Because the ``info`` differs per recipient, two recipients'
keys are unrelated and so are their pseudonyms for the same person: their datasets cannot be
joined on the pseudonym column.

``generation`` lets the platform re-key one recipient (for example after a new agreement, or if a
recipient's mapping leaked) without touching anyone else: generation 2 gives ids unrelated to
generation 1.
"""

from __future__ import annotations

import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PSEUDONYM_INFO = b"privguard/recipient-pseudonym/v1|"
KEY_BYTES = 32


def recipient_pseudonym_key(root_key: bytes, recipient_id: uuid.UUID, generation: int = 1) -> bytes:
    """The 32-byte HMAC key of one recipient's pseudonyms (same inputs, same key, any process)."""
    if len(root_key) < 32:
        raise ValueError("the index root key must be at least 32 bytes")
    if generation < 1:
        raise ValueError("the pseudonym key generation starts at 1")
    info = PSEUDONYM_INFO + recipient_id.bytes + b"|%d" % generation
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(
        root_key
    )
