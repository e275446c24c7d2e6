"""The one place that reads the wall clock. Rules receive ``now``; only entry points call this."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
