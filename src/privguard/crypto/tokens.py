"""Signed, unforgeable links (one-click unsubscribe): HMAC-SHA256 under a key derived by HKDF
from the keyring's index root, so no new secret has to be managed and no state is stored.

A token is ``base64url(payload).base64url(tag)``; the payload is public (it names a subject id
and a channel, never a value of personal information), the tag makes it unforgeable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TAG_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, root_key: bytes, purpose: str) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"privguard/link/v1|" + purpose.encode(),
        ).derive(root_key)

    def make(self, payload: str) -> str:
        data = payload.encode()
        tag = hmac.new(self._key, data, hashlib.sha256).digest()[:TAG_BYTES]
        return f"{_b64(data)}.{_b64(tag)}"

    def open(self, token: str) -> str | None:
        """The payload if the token is intact, else ``None`` (one answer for every failure)."""
        body, sep, tag = token.partition(".")
        if not sep or len(token) > 512:
            return None
        try:
            data, given = _unb64(body), _unb64(tag)
        except (ValueError, UnicodeEncodeError):
            return None
        expected = hmac.new(self._key, data, hashlib.sha256).digest()[:TAG_BYTES]
        if not hmac.compare_digest(expected, given):
            return None
        try:
            return data.decode()
        except UnicodeDecodeError:
            return None
