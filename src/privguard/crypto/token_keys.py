"""The key that seals values tokenised out of free text (detect/service.py).

Derived by HKDF-SHA256 from the keyring's index root with its own ``info``, like the log-signing
key (signing.py) and the recipients' pseudonym keys: nothing new is stored or backed up, every
process holding the keyring derives the same key, and the index root is stable across
master-key rotation, so tokens outlive rotations the way blind indexes do. Each token's
ciphertext is bound to its id and entity type by AES-GCM associated data (envelope.py).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_KEY_INFO = b"privguard/detect-token-key/v1"


def detect_token_key(root_key: bytes) -> bytes:
    """The 32-byte AES-256-GCM key for tokenised values."""
    if len(root_key) < 32:
        raise ValueError("the index root key must be at least 32 bytes")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=TOKEN_KEY_INFO).derive(
        root_key
    )
