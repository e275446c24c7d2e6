"""The byte layout of a subject's sealed record: every field's ciphertext in one column.

One row per customer instead of one per field: a read is one row fetch and a registration one
insert, which is what lets the vault stay within a small factor of plain columns (see
benchmarks/). Each field is still sealed on its own, with its own nonce and associated data
(subject, field, key version), so a field cannot be moved to another field or customer, and a
read decrypts only the fields the policy allowed.

Layout (big-endian): ``0x01`` then, per field, ``u8 name length, name (UTF-8), u64 collected-at
(Unix seconds, for retention), u32 ciphertext length, ciphertext``, then a 32-byte HMAC-SHA256 tag
over everything before it, keyed from the subject's data key: renaming, dropping or re-dating an
entry is detected, not only altering a value. A malformed or mis-tagged record raises
:class:`~privguard.crypto.errors.DecryptionError` like any other tampering.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from privguard.crypto.envelope import TAG_BYTES, Sealer
from privguard.crypto.errors import DecryptionError

FORMAT = 0x01
_ENTRY_HEAD = struct.Struct(">QI")


@dataclass(frozen=True)
class SealedField:
    collected_at: int  # Unix seconds when this value was written
    ciphertext: bytes


def pack(fields: dict[str, SealedField]) -> bytes:
    parts = [bytes([FORMAT])]
    for name, entry in fields.items():
        raw = name.encode()
        if not 0 < len(raw) < 256:
            raise ValueError("field names must be 1..255 bytes")
        parts.append(bytes([len(raw)]))
        parts.append(raw)
        parts.append(_ENTRY_HEAD.pack(entry.collected_at, len(entry.ciphertext)))
        parts.append(entry.ciphertext)
    return b"".join(parts)


def unpack(blob: bytes) -> dict[str, SealedField]:
    if not blob or blob[0] != FORMAT:
        raise DecryptionError()
    fields: dict[str, SealedField] = {}
    pos, end = 1, len(blob)
    try:
        while pos < end:
            size = blob[pos]
            name = blob[pos + 1 : pos + 1 + size].decode()
            pos += 1 + size
            collected_at, length = _ENTRY_HEAD.unpack_from(blob, pos)
            pos += _ENTRY_HEAD.size
            if pos + length > end or not name or name in fields:
                raise DecryptionError()
            fields[name] = SealedField(collected_at, blob[pos : pos + length])
            pos += length
    except (IndexError, UnicodeDecodeError, struct.error):
        raise DecryptionError() from None
    return fields


def seal_record(sealer: Sealer, fields: dict[str, SealedField]) -> bytes:
    body = pack(fields)
    return body + sealer.tag(body)


def open_record(sealer: Sealer, blob: bytes | None) -> dict[str, SealedField]:
    if blob is None or len(blob) <= TAG_BYTES:
        raise DecryptionError()
    body, tag = blob[:-TAG_BYTES], blob[-TAG_BYTES:]
    sealer.check(body, tag)
    return unpack(body)
