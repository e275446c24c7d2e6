"""Pseudonymous ids keyed per recipient: HMAC-SHA256(recipient key, subject id).

A de-identified dataset still needs a row id, so that a recipient can count distinct customers or
follow one customer's rows within a release. The subject's own id must never leave (it is the
key of every vault table), and a shared hash of it would let two recipients join their datasets
(or anyone holding a subject id test membership). So each recipient gets its own key
(crypto/pseudonym_keys.py, HKDF from the keyring's index root):

* the same subject has the same pseudonym in every release to the same recipient (stable ids: a
  recipient can update its analysis with the next month's data);
* two recipients see unrelated pseudonyms for the same subject, so they cannot join on them;
* without the keyring, a pseudonym cannot be turned back into a subject id, and no table maps
  one to the other (the platform can recompute it; that is what makes it *pseudonymised*, not
  anonymised, data: GB/T 35273-2020 3.15 and docs/anonymisation.md).

The digest is truncated to 128 bits: collisions among even billions of subjects are negligible
(birthday bound ~2^64), and shorter ids are cheaper to ship.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable
from typing import Protocol

from privguard.crypto.pseudonym_keys import recipient_pseudonym_key

PSEUDONYM_BYTES = 16


class _HasIndexRoot(Protocol):
    def blind_index_root(self) -> bytes: ...


class Pseudonymiser:
    """Turns subject ids into one recipient's pseudonyms (32 lower-case hex characters)."""

    def __init__(self, key: bytes, recipient_id: uuid.UUID) -> None:
        if len(key) < 32:
            raise ValueError("a pseudonym key must be at least 32 bytes")
        self._key = key
        self.recipient_id = recipient_id

    def pseudonym(self, subject_id: uuid.UUID) -> str:
        if not isinstance(subject_id, uuid.UUID):
            raise TypeError("pseudonyms are computed from subject ids (uuid.UUID)")
        return hmac.new(self._key, subject_id.bytes, hashlib.sha256).digest()[
            :PSEUDONYM_BYTES
        ].hex()

    def many(self, subject_ids: Iterable[uuid.UUID]) -> list[str]:
        """Pseudonyms for many subjects. The keyed HMAC state is copied per id rather than
        re-keyed (``hmac.digest`` re-derives the pads on every call: ~1.6x slower here)."""
        base = hmac.new(self._key, digestmod=hashlib.sha256)
        out: list[str] = []
        for subject_id in subject_ids:
            if not isinstance(subject_id, uuid.UUID):
                raise TypeError("pseudonyms are computed from subject ids (uuid.UUID)")
            mac = base.copy()
            mac.update(subject_id.bytes)
            out.append(mac.digest()[:PSEUDONYM_BYTES].hex())
        return out

    def __repr__(self) -> str:  # never the key
        return f"Pseudonymiser(recipient_id={self.recipient_id!s})"


def pseudonymiser_for(
    keys: _HasIndexRoot, recipient_id: uuid.UUID, generation: int = 1
) -> Pseudonymiser:
    """The recipient's pseudonymiser from the runtime's key provider (``runtime.keys``)."""
    key = recipient_pseudonym_key(keys.blind_index_root(), recipient_id, generation)
    return Pseudonymiser(key, recipient_id)
