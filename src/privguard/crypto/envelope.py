"""Envelope encryption of single field values with AES-256-GCM.

Each value gets a fresh 96-bit random nonce. The associated data binds a ciphertext to the record
it belongs to (subject, field, data-key version), so a ciphertext copied into another subject's row
or another field fails authentication instead of silently decrypting (design.md, Crypto).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privguard.crypto.errors import DecryptionError

DATA_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 32


def new_data_key() -> bytes:
    """A fresh 256-bit key from the OS CSPRNG."""
    return AESGCM.generate_key(bit_length=256)


def field_aad(subject_id: str, field: str, key_version: int) -> bytes:
    """The associated data for one field value; changing any part makes decryption fail."""
    return f"privguard/v1|{subject_id}|{field}|{key_version}".encode()


class Sealer:
    """Encrypts and decrypts many values under one key without rebuilding the cipher each time."""

    __slots__ = ("_aead", "_mac_key")

    def __init__(self, key: bytes) -> None:
        if len(key) != DATA_KEY_BYTES:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aead = AESGCM(key)
        # A separate key for record tags, derived so the same key never serves two algorithms.
        self._mac_key = hmac.new(key, b"privguard/record-mac/v1", hashlib.sha256).digest()

    def tag(self, data: bytes) -> bytes:
        """HMAC-SHA256 over a whole record, so entries cannot be renamed, dropped or re-dated
        without detection (each value's own GCM tag covers only that value)."""
        return hmac.new(self._mac_key, data, hashlib.sha256).digest()

    def check(self, data: bytes, tag: bytes) -> None:
        if not hmac.compare_digest(self.tag(data), tag):
            raise DecryptionError()

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < NONCE_BYTES + 16:
            raise DecryptionError()
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag:
            raise DecryptionError() from None
