"""Recipient-keyed pseudonyms: stable per recipient, unrelated across recipients (no database)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pytest

from privguard.crypto.keyring import Keyring
from privguard.crypto.providers import KeyringProvider
from privguard.crypto.pseudonym_keys import recipient_pseudonym_key
from privguard.sharing.deid import build_dataset
from privguard.sharing.deid_rules import AgeQI, CategoryQI, DatasetSpec
from privguard.sharing.pseudonyms import Pseudonymiser, pseudonymiser_for

NOW = datetime(2026, 11, 29, tzinfo=UTC)
RECIPIENT_A = uuid.UUID("0b7e6a52-4a51-4f57-9d43-3c1f5a1c0001")
RECIPIENT_B = uuid.UUID("0b7e6a52-4a51-4f57-9d43-3c1f5a1c0002")
SUBJECTS = [uuid.UUID(int=i * 7919 + 1) for i in range(2000)]
# Pinned: a change to the key derivation or the digest would give every recipient new ids, so
# their datasets could no longer be followed across releases. Change only with a new generation.
PINNED = "2e8983fc87cee89406f1228d0b6a012f"


@dataclass
class FixedRoot:
    root: bytes

    def blind_index_root(self) -> bytes:
        return self.root


ROOT = FixedRoot(hashlib.sha256(b"privguard test root").digest())


def test_the_same_recipient_gets_the_same_ids_in_every_release_and_process() -> None:
    first = pseudonymiser_for(ROOT, RECIPIENT_A).many(SUBJECTS)
    later = pseudonymiser_for(FixedRoot(ROOT.root), RECIPIENT_A).many(SUBJECTS)
    assert first == later
    assert [pseudonymiser_for(ROOT, RECIPIENT_A).pseudonym(s) for s in SUBJECTS[:50]] == first[:50]
    assert len(set(first)) == len(SUBJECTS)  # one id per subject
    assert pseudonymiser_for(ROOT, RECIPIENT_A).pseudonym(SUBJECTS[0]) == PINNED


def test_two_recipients_cannot_join_on_their_pseudonyms() -> None:
    a = set(pseudonymiser_for(ROOT, RECIPIENT_A).many(SUBJECTS))
    b = set(pseudonymiser_for(ROOT, RECIPIENT_B).many(SUBJECTS))
    assert a.isdisjoint(b)


def test_ids_are_opaque_and_depend_on_the_secret_and_the_generation() -> None:
    p = pseudonymiser_for(ROOT, RECIPIENT_A)
    ids = p.many(SUBJECTS[:100])
    for subject, pid in zip(SUBJECTS[:100], ids, strict=True):
        assert len(pid) == 32 and int(pid, 16) >= 0
        plain_hash = hashlib.sha256(subject.bytes).hexdigest()[:32]
        assert pid not in (subject.hex, str(subject), plain_hash)
    other_root = pseudonymiser_for(FixedRoot(hashlib.sha256(b"another").digest()), RECIPIENT_A)
    assert set(other_root.many(SUBJECTS[:100])).isdisjoint(ids)
    rekeyed = pseudonymiser_for(ROOT, RECIPIENT_A, generation=2)
    assert set(rekeyed.many(SUBJECTS[:100])).isdisjoint(ids)
    assert recipient_pseudonym_key(ROOT.root, RECIPIENT_A).hex() not in repr(p)


def test_ids_survive_master_key_rotation() -> None:
    """Rotation re-wraps data keys; it must not re-key recipients (the index root stays)."""
    ring = Keyring.generate(NOW)
    before = pseudonymiser_for(KeyringProvider(ring), RECIPIENT_A).many(SUBJECTS[:20])
    rotated = KeyringProvider(ring.with_new_master_key(NOW))
    assert pseudonymiser_for(rotated, RECIPIENT_A).many(SUBJECTS[:20]) == before


def test_non_uuid_subject_ids_are_refused() -> None:
    with pytest.raises(TypeError):
        Pseudonymiser(b"k" * 32, RECIPIENT_A).pseudonym("13800138000")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Pseudonymiser(b"short", RECIPIENT_A)


def test_datasets_for_two_recipients_share_no_row_id() -> None:
    frame = pd.DataFrame(
        {
            "subject_id": SUBJECTS,
            "age": [20 + i % 40 for i in range(len(SUBJECTS))],
            "gender": ["male" if i % 3 else "female" for i in range(len(SUBJECTS))],
        }
    )
    spec = DatasetSpec(quasi_identifiers=(AgeQI("age"), CategoryQI("gender")), k=5)
    a, _ = build_dataset(frame, spec, pseudonymiser_for(ROOT, RECIPIENT_A))
    b, _ = build_dataset(frame, spec, pseudonymiser_for(ROOT, RECIPIENT_B))
    again, _ = build_dataset(frame, spec, pseudonymiser_for(ROOT, RECIPIENT_A))
    assert a.merge(b, on="pid").empty
    assert list(a["pid"]) == list(again["pid"])
    assert "subject_id" not in a.columns
    assert not {str(s) for s in SUBJECTS} & set(a.astype(str).to_numpy().ravel())
