"""Pure rules of sharing: which agreement covers a purpose now, which fields it lets leave,
whether a transfer crosses a border, when an ended agreement's return-or-delete task is due.
Plain data in, plain answers out; no database and no clock (``now`` is passed)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

COUNTRY = re.compile(r"^[A-Z]{2}$")
# How long a recipient has to confirm return or deletion after an agreement ends.
RETURN_OR_DELETE_DAYS = 30


class ProcessorRole(StrEnum):
    ENTRUSTED = "entrusted"  # processes on the platform's behalf (PIPL Art. 21)
    INDEPENDENT = "independent"  # a handler with its own purposes (Art. 23: separate consent)


class Category(StrEnum):
    LOGISTICS = "logistics"
    PAYMENT = "payment"
    ADVERTISING = "advertising"
    ANALYTICS = "analytics"
    CLOUD = "cloud"
    OTHER = "other"


class NoticeEvent(StrEnum):
    DELETED = "deleted"
    CORRECTED = "corrected"
    CONSENT_WITHDRAWN = "consent_withdrawn"


@dataclass(frozen=True)
class Terms:
    """An agreement as the rules need it."""

    purposes: frozenset[str]
    fields: frozenset[str]
    starts_at: datetime
    ends_at: datetime
    terminated_at: datetime | None = None

    def in_force(self, now: datetime) -> bool:
        end = self.ends_at if self.terminated_at is None else min(self.ends_at, self.terminated_at)
        return self.starts_at <= now < end

    def ended_by(self, now: datetime) -> datetime | None:
        """When it ended, if it has."""
        end = self.ends_at if self.terminated_at is None else min(self.ends_at, self.terminated_at)
        return end if end <= now else None


def fields_covered(
    agreements: Iterable[Terms], purpose: str, now: datetime
) -> frozenset[str] | None:
    """The fields the agreements in force let leave for ``purpose``; None when none covers the
    purpose (then there is no agreement relationship at all)."""
    found: set[str] | None = None
    for terms in agreements:
        if purpose in terms.purposes and terms.in_force(now):
            found = (found or set()) | terms.fields
    return None if found is None else frozenset(found)


def is_cross_border(country: str, home: str) -> bool:
    """A transfer to a recipient in another country (PIPL Art. 38-39)."""
    return country.upper() != home.upper()


def return_due(ended_at: datetime) -> datetime:
    return ended_at + timedelta(days=RETURN_OR_DELETE_DAYS)


def outside(requested: Sequence[str], allowed: frozenset[str]) -> list[str]:
    """Requested fields no agreement covers, in the order asked: each is refused by name."""
    return [f for f in requested if f not in allowed]
