"""The shipped catalog and the loader's checks (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from privguard.catalog.loader import CatalogError, load_catalog, parse_catalog
from privguard.catalog.masking import MASKERS
from privguard.catalog.model import Sensitivity
from privguard.catalog.validators import VALIDATORS

REQUIRED = {
    "name": "user.name",
    "mobile_phone": "user.contact.phone_number",
    "landline": "user.contact.phone_number",
    "email": "user.contact.email",
    "shipping_addresses": "user.contact.address",
    "resident_id": "user.government_id.national_identification_number",
    "passport_number": "user.government_id.passport_number",
    "bank_card": "user.financial.bank_account",
    "payment_account": "user.financial",
    "date_of_birth": "user.demographic.date_of_birth",
    "gender": "user.demographic.gender",
    "device_id": "user.device.device_id",
    "ip_address": "user.device.ip_address",
    "precise_location": "user.location.precise",
    "purchase_history": "user.behavior.purchase_history",
    "browsing_history": "user.behavior.browsing_history",
    "search_history": "user.behavior.search_history",
}
# PIPL Art. 28: identity documents, financial accounts and whereabouts are sensitive.
SENSITIVE = {"resident_id", "passport_number", "bank_card", "payment_account", "precise_location"}


def test_shipped_catalog_has_every_required_field_with_its_fides_category() -> None:
    catalog = load_catalog()
    assert {f.name: f.category for f in catalog} == REQUIRED


def test_sensitivity_follows_pipl_article_28() -> None:
    catalog = load_catalog()
    assert {f.name for f in catalog if f.sensitivity is Sensitivity.SENSITIVE} == SENSITIVE


def test_every_field_has_known_rules_and_a_retention_basis() -> None:
    for spec in load_catalog():
        assert spec.validator in VALIDATORS
        assert spec.masking in MASKERS
        assert spec.retention.basis
        assert spec.label("zh-CN") and spec.label("en")


def test_lookup_fields_are_phone_email_and_id() -> None:
    assert set(load_catalog().searchable()) == {"mobile_phone", "email", "resident_id"}


GOOD = """
fields:
  name:
    category: user.name
    sensitivity: general
    validator: person_name
    masking: name
    retention: {keep_until: account_closure, days: 0, basis: "account"}
"""


def test_a_minimal_override_catalog_loads(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_catalog(path).names() == ["name"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("validator: person_name", "validator: nope", "name: unknown validator 'nope'"),
        ("masking: name", "masking: nope", "name: unknown masking rule 'nope'"),
        ("sensitivity: general", "sensitivity: secret", "name: sensitivity"),
        ("category: user.name", "category: name", "name: category"),
        ("keep_until: account_closure", "keep_until: never", "name: retention.keep_until"),
        ("days: 0", "days: -1", "name: retention.days"),
        ("days: 0", "days: true", "name: retention.days"),
        ("fields:", "version: 2\nfields:", "version 2 is not supported"),
        ("  name:\n", "  Name!:\n", "'Name!'"),
    ],
)
def test_mistakes_stop_loading_with_the_field_named(old: str, new: str, message: str) -> None:
    with pytest.raises(CatalogError) as info:
        parse_catalog(GOOD.replace(old, new), "test")
    assert message in str(info.value)


def test_unreadable_override_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.yaml")
