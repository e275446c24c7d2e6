"""The access-log entry text is hashed into the Merkle tree and re-hashed by outside verifiers,
so it must be exactly canonical JSON, whatever the strings hold."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from privguard.audit.entry import LogEntry, format_time, parse_time

ALPHABET = 'ab"\\/\n\t\x00\x1f\u2028\u00e9中文😀 {}[],:'


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 12)))


@pytest.mark.parametrize("seed", range(20))
def test_entry_text_is_canonical_json_and_round_trips(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        entry = LogEntry(
            at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10**12)),
            actor_id=rng.choice([None, uuid.UUID(int=rng.getrandbits(128))]),
            role=_text(rng),
            organisation_id=rng.choice([None, uuid.UUID(int=rng.getrandbits(128))]),
            subject_id=rng.choice([None, uuid.UUID(int=rng.getrandbits(128))]),
            action=_text(rng),
            purpose=_text(rng),
            request_id=rng.choice([None, _text(rng)]),
            decisions=[
                {"field": _text(rng), "view": _text(rng), "rule": _text(rng)}
                for _ in range(rng.randrange(0, 4))
            ],
            detail=rng.choice([{}, {_text(rng): _text(rng), "n": rng.randrange(99)}]),
        )
        text = entry.to_json()
        raw = json.loads(text)
        assert text == json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert LogEntry.from_json(text) == entry


def test_times_have_one_spelling() -> None:
    at = datetime(2026, 11, 29, 8, 0, 0, tzinfo=UTC)
    assert format_time(at) == "2026-11-29T08:00:00.000000Z"
    assert parse_time(format_time(at)) == at
