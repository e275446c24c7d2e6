"""Retention rules without a database: when a value expires, what anonymising leaves behind,
and the catalog's checks of ``on_expiry`` (PIPL Art. 19 shortest retention, Art. 73(4))."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from privguard.catalog.generalisers import (
    GENERALISERS,
    GeneraliseError,
    birth_year_band,
    device_id_kind,
    ip_category,
    location_grid_1deg,
)
from privguard.catalog.loader import CatalogError, load_catalog, parse_catalog
from privguard.catalog.model import OnExpiry, Retention, RetentionStart
from privguard.catalog.retention import (
    due_fields,
    field_expiry,
    month_of,
    next_expiry,
    rules_digest,
)
from privguard.rights.holds import end_of

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECONDS = int(T0.timestamp())


def rule(start: RetentionStart, days: int) -> Retention:
    return Retention(keep_until=start, days=days, basis="b")


def test_collection_expiry_runs_from_when_the_value_was_written() -> None:
    later = T0 + timedelta(days=400)
    assert field_expiry(rule(RetentionStart.COLLECTION, 30), T0, later) == T0 + timedelta(30)


def test_last_activity_expiry_runs_from_the_last_activity() -> None:
    active = T0 + timedelta(days=100)
    assert field_expiry(rule(RetentionStart.LAST_ACTIVITY, 365), T0, active) == active + timedelta(
        365
    )


@pytest.mark.parametrize("start", [RetentionStart.ACCOUNT_CLOSURE, RetentionStart.LAST_TRANSACTION])
def test_account_and_transaction_fields_do_not_expire_while_the_account_exists(
    start: RetentionStart,
) -> None:
    assert field_expiry(rule(start, 0), T0, T0) is None


def test_next_expiry_is_the_earliest_present_field_and_due_is_inclusive() -> None:
    catalog = load_catalog()
    collected = {
        "name": SECONDS,  # account_closure: never by itself
        "precise_location": SECONDS,  # 30 days
        "browsing_history": SECONDS - 86_400 * 10,  # 90 days, collected 10 days earlier
        "not_in_catalog": 0,  # no rule: ignored
    }
    assert next_expiry(catalog, collected, T0) == T0 + timedelta(days=30)
    assert due_fields(catalog, collected, T0, T0 + timedelta(days=30)) == ["precise_location"]
    assert due_fields(catalog, collected, T0, T0 + timedelta(days=30, seconds=-1)) == []
    assert due_fields(catalog, collected, T0, T0 + timedelta(days=80)) == [
        "precise_location",
        "browsing_history",
    ]
    assert next_expiry(catalog, {"name": SECONDS}, T0) is None


def test_the_rules_digest_changes_with_a_period_but_not_with_a_basis() -> None:
    catalog = load_catalog()
    spec = catalog["precise_location"]

    def with_retention(**changes: object) -> str:
        changed = dataclasses.replace(
            spec, retention=dataclasses.replace(spec.retention, **changes)
        )
        return rules_digest(
            dataclasses.replace(catalog, fields={**catalog.fields, spec.name: changed})
        )

    assert with_retention(days=7) != rules_digest(catalog)
    assert with_retention(keep_until=RetentionStart.LAST_ACTIVITY) != rules_digest(catalog)
    assert with_retention(basis="another reason") == rules_digest(catalog)


def test_month_of_collection_is_the_utc_month() -> None:
    assert month_of(int(datetime(2026, 1, 31, 23, 59, tzinfo=UTC).timestamp())) == "2026-01"


@pytest.mark.parametrize(
    ("value", "band"),
    [("1949-12-31", "1940-1949"), ("1990-01-01", "1990-1999"), (date(2008, 5, 4), "2000-2009")],
)
def test_birth_dates_become_decades(value: object, band: str) -> None:
    assert birth_year_band(value) == band


@pytest.mark.parametrize(
    ("point", "cell"),
    [
        ({"lat": 22.543096, "lon": 113.934539}, "+22,+113"),  # Shenzhen
        ({"lat": 22.999, "lon": 113.001}, "+22,+113"),  # same cell, another street
        ({"lat": -33.45, "lon": -70.66}, "-34,-071"),
        ({"lat": 90.0, "lon": 180.0}, "+89,+179"),  # the edges fold into the last cell
    ],
)
def test_locations_become_one_degree_cells(point: dict[str, float], cell: str) -> None:
    assert location_grid_1deg(point) == cell


@pytest.mark.parametrize(
    ("ip", "category"),
    [
        ("8.8.8.8", "ipv4:global"),
        ("10.1.2.3", "ipv4:private"),
        ("127.0.0.1", "ipv4:loopback"),
        ("2400:3200::1", "ipv6:global"),
        ("fe80::1", "ipv6:link_local"),
    ],
)
def test_ip_addresses_become_family_and_scope(ip: str, category: str) -> None:
    assert ip_category(ip) == category


@pytest.mark.parametrize(
    ("device", "kind"),
    [
        ("A1B2C3D4-E5F6-0718-293A-4B5C6D7E8F90", "uuid"),
        ("3c:22:fb:01:02:03", "mac"),
        ("9774d56d682e549c", "android_id"),
        ("490154203237518", "imei"),
        ("device_abc_123", "other"),
    ],
)
def test_device_ids_become_their_kind(device: str, kind: str) -> None:
    assert device_id_kind(device) == kind


def test_no_generaliser_echoes_its_input() -> None:
    samples = {
        "birth_year_band": "1987-06-15",
        "location_grid_1deg": {"lat": 31.2304, "lon": 121.4737},
        "ip_category": "203.0.113.77",
        "device_id_kind": "A1B2C3D4-E5F6-0718-293A-4B5C6D7E8F90",
    }
    assert set(samples) == set(GENERALISERS)
    for name, value in samples.items():
        label = GENERALISERS[name].apply(value)
        assert str(value) not in label and "1987" not in label and "77" not in label, name
        assert len(label) <= 16


@pytest.mark.parametrize(
    ("name", "value"),
    [("birth_year_band", "not a date"), ("location_grid_1deg", {"lat": 1}), ("ip_category", "x")],
)
def test_generalisers_refuse_values_of_another_shape(name: str, value: object) -> None:
    with pytest.raises(GeneraliseError):
        GENERALISERS[name].apply(value)


def test_the_shipped_catalog_anonymises_location_device_and_ip() -> None:
    catalog = load_catalog()
    anonymised = {
        s.name: s.retention.generaliser
        for s in catalog
        if s.retention.on_expiry is OnExpiry.ANONYMISE
    }
    assert anonymised == {
        "precise_location": "location_grid_1deg",
        "device_id": "device_id_kind",
        "ip_address": "ip_category",
    }
    assert catalog["browsing_history"].retention.on_expiry is OnExpiry.DELETE


FIELD = """
fields:
  birth:
    category: user.demographic.date_of_birth
    sensitivity: general
    validator: date_of_birth
    masking: date
    retention: {keep_until: last_activity, days: 365, basis: "b"RETENTION}
"""


def catalog_with(extra: str) -> str:
    return FIELD.replace("RETENTION", extra)


def test_on_expiry_defaults_to_delete_and_anonymise_takes_a_generaliser() -> None:
    plain = parse_catalog(catalog_with(""), "t")["birth"].retention
    assert plain.on_expiry is OnExpiry.DELETE and plain.generaliser is None
    anon = parse_catalog(catalog_with(", on_expiry: anonymise, generaliser: birth_year_band"), "t")[
        "birth"
    ].retention
    assert anon.on_expiry is OnExpiry.ANONYMISE and anon.generaliser == "birth_year_band"
    assert anon.keep_until is RetentionStart.LAST_ACTIVITY


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (", on_expiry: shred", "birth: retention.on_expiry must be one of ['delete', 'anonymise']"),
        (", on_expiry: anonymise", "birth: retention.on_expiry anonymise needs a generaliser"),
        (
            ", on_expiry: anonymise, generaliser: ip_category",
            "birth: retention.generaliser ip_category takes values of ['ip_address']",
        ),
        (", generaliser: birth_year_band", "birth: retention.generaliser is only used with"),
        (", keep: 3", "birth: unknown retention keys ['keep']"),
    ],
)
def test_retention_mistakes_stop_loading_with_the_field_named(extra: str, message: str) -> None:
    with pytest.raises(CatalogError) as info:
        parse_catalog(catalog_with(extra), "t")
    assert message in str(info.value)


def test_anonymise_is_refused_for_values_deleted_with_the_account() -> None:
    text = catalog_with(", on_expiry: anonymise, generaliser: birth_year_band").replace(
        "last_activity", "account_closure"
    )
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "t")
    assert "birth: retention.on_expiry anonymise needs keep_until" in str(info.value)


def test_a_hold_until_a_date_lasts_through_that_day() -> None:
    assert end_of(date(2027, 6, 30)) == datetime(2027, 7, 1, tzinfo=UTC)
