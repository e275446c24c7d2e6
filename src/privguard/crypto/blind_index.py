"""Blind indexes: keyed hashes that let the vault find a subject by an exact value (phone,
email, ID number) without storing or comparing the value itself.

Each field gets its own HMAC-SHA256 key derived by HKDF from the keyring's index root key, so the
same phone number produces unrelated digests in two fields and a leaked digest table cannot be
joined across fields. The index root key is separate from the master wrapping keys: rotating the
master key must not invalidate every index.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DIGEST_BYTES = 16  # 128 bits: no practical false positives, half the storage of a full digest


class BlindIndexer:
    """Computes blind-index digests for normalised values. Field keys are derived once."""

    def __init__(self, root_key: bytes) -> None:
        if len(root_key) < 32:
            raise ValueError("the blind-index root key must be at least 32 bytes")
        self._root = root_key
        self._field_keys: dict[str, bytes] = {}

    def _key(self, field: str) -> bytes:
        key = self._field_keys.get(field)
        if key is None:
            key = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=b"privguard/blind-index/v1|" + field.encode(),
            ).derive(self._root)
            self._field_keys[field] = key
        return key

    def digest(self, field: str, normalised_value: str) -> bytes:
        return hmac.new(self._key(field), normalised_value.encode(), hashlib.sha256).digest()[
            :DIGEST_BYTES
        ]
