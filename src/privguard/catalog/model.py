"""The catalog's shape: what privguard knows about each personal-information field.

Plain frozen dataclasses, no database: the vault, the policy, notices and reports all read the
same :class:`Catalog`, built once by :func:`privguard.catalog.loader.load_catalog`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Sensitivity(StrEnum):
    GENERAL = "general"
    SENSITIVE = "sensitive"  # PIPL Art. 28


class RetentionStart(StrEnum):
    """The event a field's retention period runs from."""

    ACCOUNT_CLOSURE = "account_closure"  # lives until the account is erased
    COLLECTION = "collection"  # expires ``days`` after the value was written
    LAST_TRANSACTION = "last_transaction"  # outlives erasure, restricted (E-Commerce Law Art. 31)
    LAST_ACTIVITY = "last_activity"  # expires ``days`` after the customer was last active


# Starts whose values expire while the account still exists (the retention run removes them).
LIVE_STARTS = frozenset({RetentionStart.COLLECTION, RetentionStart.LAST_ACTIVITY})


class OnExpiry(StrEnum):
    """What the retention run does with an expired value."""

    DELETE = "delete"
    ANONYMISE = "anonymise"  # count its generalisation (no subject id), then delete it


@dataclass(frozen=True)
class Retention:
    keep_until: RetentionStart
    days: int
    basis: str
    on_expiry: OnExpiry = OnExpiry.DELETE
    generaliser: str | None = None  # name in catalog/generalisers.py, with ANONYMISE only

    @property
    def expires_live(self) -> bool:
        return self.keep_until in LIVE_STARTS


@dataclass(frozen=True)
class FieldSpec:
    name: str
    labels: Mapping[str, str]
    category: str
    sensitivity: Sensitivity
    validator: str
    masking: str
    waybill_masking: str | None
    retention: Retention
    searchable: bool
    index_normalise: str

    @property
    def sensitive(self) -> bool:
        return self.sensitivity is Sensitivity.SENSITIVE

    def label(self, locale: str = "zh-CN") -> str:
        return self.labels.get(locale) or self.labels.get("en") or self.name


@dataclass(frozen=True)
class Catalog:
    fields: Mapping[str, FieldSpec]
    source: str

    def __getitem__(self, name: str) -> FieldSpec:
        return self.fields[name]

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def __iter__(self) -> Iterator[FieldSpec]:
        return iter(self.fields.values())

    def names(self) -> list[str]:
        return list(self.fields)

    def searchable(self) -> list[str]:
        return [f.name for f in self if f.searchable]
