"""Load and check the catalog YAML: the shipped one, or a file named in settings.

Every reference (validator, masking rule, retention start) is checked at load, so a typo stops
start-up with a message naming the field instead of failing on the first customer's write.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from privguard.catalog.generalisers import GENERALISERS
from privguard.catalog.masking import MASKERS
from privguard.catalog.model import (
    Catalog,
    FieldSpec,
    OnExpiry,
    Retention,
    RetentionStart,
    Sensitivity,
)
from privguard.catalog.validators import VALIDATORS
from privguard.yaml_files import parse_yaml

FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
CATEGORY = re.compile(r"^user(\.[a-z0-9_]+)*$")
NORMALISERS = ("exact", "lower", "upper")
FORMAT_VERSION = 1


class CatalogError(ValueError):
    """The catalog file is invalid; the message names the field and the problem."""


def _require(cond: bool, where: str, problem: str) -> None:
    if not cond:
        raise CatalogError(f"catalog field {where}: {problem}")


def _field(name: str, raw: Any) -> FieldSpec:
    _require(bool(FIELD_NAME.match(name)), repr(name), "name must match [a-z][a-z0-9_]*")
    _require(isinstance(raw, dict), name, "must be a mapping")
    known = {
        "label",
        "category",
        "sensitivity",
        "validator",
        "masking",
        "waybill_masking",
        "retention",
        "searchable",
        "index_normalise",
    }
    unknown = set(raw) - known
    _require(not unknown, name, f"unknown keys {sorted(unknown)}")
    category = raw.get("category")
    _require(
        isinstance(category, str) and bool(CATEGORY.match(category)),
        name,
        "category must be a Fides data-category key under 'user' (e.g. user.contact.email)",
    )
    try:
        sensitivity = Sensitivity(raw.get("sensitivity"))
    except ValueError:
        raise CatalogError(
            f"catalog field {name}: sensitivity must be general or sensitive"
        ) from None
    validator = raw.get("validator")
    _require(validator in VALIDATORS, name, f"unknown validator {validator!r}")
    masking = raw.get("masking")
    _require(masking in MASKERS, name, f"unknown masking rule {masking!r}")
    waybill = raw.get("waybill_masking")
    _require(waybill is None or waybill in MASKERS, name, f"unknown masking rule {waybill!r}")
    retention = _retention(name, raw.get("retention"), validator)
    labels = raw.get("label") or {}
    _require(
        isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values()),
        name,
        "label must map locales to strings",
    )
    searchable = raw.get("searchable", False)
    _require(isinstance(searchable, bool), name, "searchable must be true or false")
    normalise = raw.get("index_normalise", "exact")
    _require(normalise in NORMALISERS, name, f"index_normalise must be one of {NORMALISERS}")
    return FieldSpec(
        name=name,
        labels=dict(labels),
        category=category,
        sensitivity=sensitivity,
        validator=validator,
        masking=masking,
        waybill_masking=waybill,
        retention=retention,
        searchable=searchable,
        index_normalise=normalise,
    )


RETENTION_KEYS = {"keep_until", "days", "basis", "on_expiry", "generaliser"}


def _retention(name: str, ret: Any, validator: str) -> Retention:
    _require(isinstance(ret, dict), name, "retention must be a mapping")
    unknown = set(ret) - RETENTION_KEYS
    _require(not unknown, name, f"unknown retention keys {sorted(unknown)}")
    try:
        start = RetentionStart(ret.get("keep_until"))
    except ValueError:
        raise CatalogError(
            f"catalog field {name}: retention.keep_until must be one of "
            f"{[s.value for s in RetentionStart]}"
        ) from None
    days = ret.get("days", 0)
    _require(
        isinstance(days, int) and not isinstance(days, bool) and days >= 0,
        name,
        "retention.days must be an integer >= 0",
    )
    basis = ret.get("basis")
    _require(isinstance(basis, str) and bool(basis.strip()), name, "retention.basis is required")
    try:
        on_expiry = OnExpiry(ret.get("on_expiry", OnExpiry.DELETE.value))
    except ValueError:
        raise CatalogError(
            f"catalog field {name}: retention.on_expiry must be one of "
            f"{[o.value for o in OnExpiry]}"
        ) from None
    generaliser = ret.get("generaliser")
    if on_expiry is OnExpiry.ANONYMISE:
        # Only the retention run anonymises, and it runs only over values that expire while
        # the account exists; erasure deletes (the customer asked for exactly that).
        _require(
            start in (RetentionStart.COLLECTION, RetentionStart.LAST_ACTIVITY),
            name,
            "retention.on_expiry anonymise needs keep_until collection or last_activity "
            "(other values are deleted with the account)",
        )
        _require(
            isinstance(generaliser, str) and generaliser in GENERALISERS,
            name,
            f"retention.on_expiry anonymise needs a generaliser, one of {sorted(GENERALISERS)}",
        )
        accepts = GENERALISERS[generaliser].accepts
        _require(
            validator in accepts,
            name,
            f"retention.generaliser {generaliser} takes values of {sorted(accepts)}, "
            f"not {validator}",
        )
    else:
        _require(
            generaliser is None,
            name,
            "retention.generaliser is only used with on_expiry: anonymise",
        )
    return Retention(
        keep_until=start,
        days=days,
        basis=basis.strip(),
        on_expiry=on_expiry,
        generaliser=generaliser,
    )


def parse_catalog(text: str, source: str) -> Catalog:
    try:
        doc = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"catalog {source}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("fields"), dict) or not doc["fields"]:
        raise CatalogError(f"catalog {source}: expected a mapping with a non-empty 'fields'")
    if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise CatalogError(
            f"catalog {source}: version {doc.get('version')!r} is not supported "
            f"(this privguard reads version {FORMAT_VERSION})"
        )
    fields = {name: _field(str(name), raw) for name, raw in doc["fields"].items()}
    return Catalog(fields=fields, source=source)


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalog at ``path``, or the one shipped in the package."""
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"catalog {path}: cannot read ({exc.strerror})") from None
        return parse_catalog(text, str(path))
    text = resources.files("privguard.catalog").joinpath("catalog.yaml").read_text("utf-8")
    return parse_catalog(text, "privguard/catalog/catalog.yaml")
