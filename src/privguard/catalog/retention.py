"""When each value held for a customer expires, from the catalog's retention rules.

Pure functions over plain values (no database, no clock): the vault calls them whenever it
reseals a record, to keep ``subjects.next_expiry`` current, and the retention run calls them
again under the row lock to decide exactly which fields go. ``collected`` maps a field to the
Unix second its value was written (the sealed record keeps that per field, vault/record.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from privguard.catalog.model import Catalog, Retention, RetentionStart


def collected_time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def field_expiry(
    retention: Retention, collected_at: datetime, last_active_at: datetime
) -> datetime | None:
    """When a live value expires, or ``None`` when it lives as long as the account
    (account_closure) or outlives it under its own rule (last_transaction, at erasure)."""
    if retention.keep_until is RetentionStart.COLLECTION:
        return collected_at + timedelta(days=retention.days)
    if retention.keep_until is RetentionStart.LAST_ACTIVITY:
        return last_active_at + timedelta(days=retention.days)
    return None


DAY = 86_400


def expiry_seconds(
    catalog: Catalog, collected: Mapping[str, int], last_active_at: datetime
) -> dict[str, float]:
    """Unix time at which each present field expires, for fields that expire while the account
    exists. A value of a field no longer in the catalog has no rule, so nothing expires it.
    In seconds, not datetimes: the sweep calls this for every due subject."""
    fields = catalog.fields
    active = last_active_at.timestamp()
    out: dict[str, float] = {}
    for name, seconds in collected.items():
        spec = fields.get(name)
        if spec is None:
            continue
        retention = spec.retention
        if retention.keep_until is RetentionStart.COLLECTION:
            out[name] = seconds + retention.days * DAY
        elif retention.keep_until is RetentionStart.LAST_ACTIVITY:
            out[name] = active + retention.days * DAY
    return out


def expiries(
    catalog: Catalog, collected: Mapping[str, int], last_active_at: datetime
) -> dict[str, datetime]:
    """:func:`expiry_seconds` as datetimes (UTC)."""
    return {
        n: datetime.fromtimestamp(t, UTC)
        for n, t in expiry_seconds(catalog, collected, last_active_at).items()
    }


def next_expiry(
    catalog: Catalog, collected: Mapping[str, int], last_active_at: datetime
) -> datetime | None:
    """The earliest moment any present field expires: what the sweep selects subjects by."""
    times = expiry_seconds(catalog, collected, last_active_at).values()
    return datetime.fromtimestamp(min(times), UTC) if times else None


def due_fields(
    catalog: Catalog, collected: Mapping[str, int], last_active_at: datetime, cutoff: datetime
) -> list[str]:
    """Fields expired at ``cutoff`` (inclusive), in record order."""
    limit = cutoff.timestamp()
    return [
        n for n, t in expiry_seconds(catalog, collected, last_active_at).items() if t <= limit
    ]


def uses_last_activity(catalog: Catalog, names: Iterable[str] | None = None) -> bool:
    """Whether activity can move any expiry (of the named fields, or of any field)."""
    specs = catalog if names is None else (catalog.fields[n] for n in names if n in catalog)
    return any(s.retention.keep_until is RetentionStart.LAST_ACTIVITY for s in specs)


def rules_digest(catalog: Catalog) -> str:
    """A fingerprint of every rule that decides an expiry date. Stored ``next_expiry`` values
    were computed under one digest; when the catalog's changes, the retention run recomputes
    them all before it trusts them (a shortened period must not wait for the old date)."""
    rules = sorted(
        (s.name, s.retention.keep_until.value, s.retention.days)
        for s in catalog
        if s.retention.expires_live
    )
    return hashlib.sha256(json.dumps(rules).encode()).hexdigest()[:32]


def month_of(seconds: int) -> str:
    """The calendar month (UTC) a value was collected, the time grain of anonymised counts."""
    return collected_time(seconds).strftime("%Y-%m")
