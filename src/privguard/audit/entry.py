"""The access-log entry as bytes: the exact text that is hashed into the Merkle tree.

An entry is written once, as canonical JSON (keys sorted, no spaces, UTF-8), when the decision
it records is made; the sequencer later gives it a leaf index. The leaf's input is the index in
ASCII decimal, a newline, then the entry text, so moving an entry to another position changes
its leaf hash. docs/access-log.md documents the format for outside verifiers; change it only
with a new ``v``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FORMAT_VERSION = 1
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def format_time(at: datetime) -> str:
    """UTC, microseconds, ``Z``: one spelling per instant whatever the database returns."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class LogEntry:
    """One recorded decision set: who, for whom, what, why, and what the policy said.

    ``decisions`` holds one ``{"field", "view", "rule"}`` per field (``view`` ``none`` means
    denied). ``detail`` carries non-personal context such as an order id or a master-key id.
    """

    at: datetime
    actor_id: uuid.UUID | None
    role: str
    organisation_id: uuid.UUID | None
    subject_id: uuid.UUID | None
    action: str
    purpose: str
    request_id: str | None
    decisions: Sequence[Mapping[str, str]]
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return entry_json(
            at=self.at,
            actor_id=self.actor_id,
            role=self.role,
            organisation_id=self.organisation_id,
            subject_id=self.subject_id,
            action=self.action,
            purpose=self.purpose,
            request_id=self.request_id,
            decision_fragments=[decision_json(d) for d in self.decisions],
            detail=self.detail,
        )

    @classmethod
    def from_json(cls, text: str) -> LogEntry:
        raw = json.loads(text)
        return cls(
            at=parse_time(raw["at"]),
            actor_id=_uuid(raw["actor"]),
            role=raw["role"],
            organisation_id=_uuid(raw["org"]),
            subject_id=_uuid(raw["subject"]),
            action=raw["action"],
            purpose=raw["purpose"],
            request_id=raw["request"],
            decisions=raw["decisions"],
            detail=raw["detail"],
        )


def decision_json(decision: Mapping[str, str]) -> str:
    """One decision's canonical JSON (the gate caches it per decision object)."""
    return _CANONICAL.encode(
        {"field": decision["field"], "rule": decision["rule"], "view": decision["view"]}
    )


def entry_json(
    *,
    at: datetime,
    actor_id: uuid.UUID | None,
    role: str,
    organisation_id: uuid.UUID | None,
    subject_id: uuid.UUID | None,
    action: str,
    purpose: str,
    request_id: str | None,
    decision_fragments: Sequence[str],
    detail: Mapping[str, Any],
) -> str:
    """The canonical JSON of an entry, assembled in sorted key order.

    It is byte-for-byte what ``json.dumps(..., sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` gives for the same object (a unit test holds it to that), built by
    hand because every read of the gate writes one: this takes a third of the time.
    """
    return "".join(
        (
            '{"action":', _string(action),
            ',"actor":', _uuid_json(actor_id),
            ',"at":"', format_time(at),
            '","decisions":[', ",".join(decision_fragments),
            '],"detail":', _CANONICAL.encode(dict(detail)) if detail else "{}",
            ',"org":', _uuid_json(organisation_id),
            ',"purpose":', _string(purpose),
            ',"request":', "null" if request_id is None else _string(request_id),
            ',"role":', _string(role),
            ',"subject":', _uuid_json(subject_id),
            ',"v":', str(FORMAT_VERSION), "}",
        )
    )


_string = json.encoder.encode_basestring  # type: ignore[attr-defined]  # JSON string, non-ASCII kept


def _uuid_json(value: uuid.UUID | None) -> str:
    return "null" if value is None else f'"{value}"'


def leaf_input(seq: int, entry_text: str) -> bytes:
    """The bytes whose RFC 6962 leaf hash goes into the tree at position ``seq``."""
    return b"%d\n" % seq + entry_text.encode()


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)
