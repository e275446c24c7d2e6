"""The sealed-record byte layout (no database, no keys)."""

from __future__ import annotations

import pytest

from privguard.crypto.errors import DecryptionError
from privguard.vault.record import SealedField, pack, unpack


def test_round_trip_keeps_order_times_and_bytes() -> None:
    fields = {"name": SealedField(1, b"\x00" * 30), "手机": SealedField(2**40, b"ct")}
    assert unpack(pack(fields)) == fields
    assert unpack(pack({})) == {}


@pytest.mark.parametrize(
    "blob",
    [b"", b"\x02", b"\x01\x05na", b"\x01\x04name" + b"\x00" * 8 + b"\x00\x00\x00\x09abc",
     b"\x01\x02\xff\xfe" + b"\x00" * 12],
    ids=["empty", "unknown-format", "cut-name", "cut-ciphertext", "bad-utf8"],
)
def test_malformed_records_are_one_opaque_error(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        unpack(blob)


def test_a_field_cannot_appear_twice() -> None:
    one = pack({"name": SealedField(1, b"a")})
    with pytest.raises(DecryptionError):
        unpack(one + one[1:])
