"""Field validators for the PI catalog.

Every value written to a catalog field passes through that field's validator, which returns the
canonical value to store or raises :class:`RuleViolation` naming the rule that failed.

Two properties matter more than anything else here:

* **Errors never contain the value.** The input is personal information and error messages end
  up in logs and HTTP responses, so messages only describe the rule. Library exceptions (whose
  messages may quote the input) are never chained: we ``raise ... from None``.
* **Validators are pure.** No I/O, no clock: "today" comes from :class:`ValidationContext`, so
  results are reproducible and testable.

Validators are registered by name in :data:`VALIDATORS`; the catalog YAML refers to these names.
"""

from __future__ import annotations

import datetime
import ipaddress
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import PhoneNumberType
from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

__all__ = [
    "VALIDATORS",
    "RuleViolation",
    "ValidationContext",
    "Validator",
    "validate",
]


@dataclass(frozen=True)
class ValidationContext:
    """Inputs a validator may depend on besides the value; keeps validators free of clock reads."""

    today: datetime.date
    default_region: str = "CN"


class RuleViolation(ValueError):
    """A value broke a validation rule. Carries the rule id and a human message; never the value."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(rule, message)
        self.rule = rule
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} [{self.rule}]"


Validator = Callable[[Any, ValidationContext], Any]


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _text(value: Any, max_len: int) -> str:
    """Require a string, NFKC-normalise (full-width -> ASCII) and strip; reject empty/too long.

    A cheap raw-length guard runs before normalisation so huge inputs are not normalised at all.
    """
    if not isinstance(value, str):
        raise RuleViolation("type.string", "must be a string")
    if len(value) > 8 * max_len + 64:
        raise RuleViolation("length.max", f"must be at most {max_len} characters")
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        raise RuleViolation("required.empty", "must not be empty")
    if len(text) > max_len:
        raise RuleViolation("length.max", f"must be at most {max_len} characters")
    return text


def _prefixed(prefix: str, exc: RuleViolation) -> RuleViolation:
    """Re-label a nested violation (list item, dict part) without losing its rule id."""
    return RuleViolation(exc.rule, f"{prefix}: {exc.message}")


def _is_number(value: Any) -> bool:
    """int/float but not bool (bool is an int subclass and ``True`` is not a coordinate)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

_NAME_MAX = 64
_NAME_FORBIDDEN = frozenset("<>{}")
# Invisible characters that reorder or hide text ("Trojan Source", CVE-2021-42574): a name shown
# on a waybill, a console or a log must read as it is stored. Zero-width joiners (U+200C/D) stay
# allowed: Persian and Indic names need them.
_NAME_INVISIBLE = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\u2060\u2061\u2062\u2063\u2064\ufeff\u180e"
)


def person_name(value: Any, ctx: ValidationContext) -> str:
    """A person's name; rejects digits, markup, control characters and invisible reordering
    characters, which indicate garbage or injection."""
    text = _text(value, 4 * _NAME_MAX)
    for ch in text:
        if (ch.isdigit() or ch in _NAME_FORBIDDEN or ch in _NAME_INVISIBLE
                or unicodedata.category(ch) == "Cc"):
            raise RuleViolation(
                "name.characters",
                "must not contain digits, control or bidirectional formatting characters, "
                "or <>{}",
            )
    text = " ".join(text.split())
    if len(text) > _NAME_MAX:
        raise RuleViolation("length.max", f"must be at most {_NAME_MAX} characters")
    return text


# --------------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------------

# Only what people really type around a number. Excluding letters and '#'/';'/',' also rules out
# extensions and vanity numbers, which E.164 cannot represent (they would be silently dropped).
_PHONE_CHARS = re.compile(r"[0-9+()\-. ]+")
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_LANDLINE_TYPES = frozenset({PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def _parse_phone(value: Any, ctx: ValidationContext) -> phonenumbers.PhoneNumber:
    """Parse in the context's default region (handles +86, 0086, spaces, dashes, parentheses)."""
    text = _text(value, 32)
    invalid = RuleViolation("phone.invalid", "must be a valid phone number")
    if not _PHONE_CHARS.fullmatch(text):
        raise invalid
    try:
        number = phonenumbers.parse(text, ctx.default_region)
    except phonenumbers.NumberParseException:
        raise invalid from None
    if number.extension or not phonenumbers.is_valid_number(number):
        raise invalid
    return number


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mobile_phone(value: Any, ctx: ValidationContext) -> str:
    """A mobile number (foreign ones allowed), stored as E.164 so one person has one spelling."""
    number = _parse_phone(value, ctx)
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise RuleViolation("phone.not_mobile", "must be a valid mobile phone number")
    return _e164(number)


def landline(value: Any, ctx: ValidationContext) -> str:
    """A fixed-line number, stored as E.164."""
    number = _parse_phone(value, ctx)
    if phonenumbers.number_type(number) not in _LANDLINE_TYPES:
        raise RuleViolation("phone.not_landline", "must be a valid landline phone number")
    return _e164(number)


def phone(value: Any, ctx: ValidationContext) -> str:
    """Any valid phone number, stored as E.164."""
    return _e164(_parse_phone(value, ctx))


# --------------------------------------------------------------------------------------------
# E-mail
# --------------------------------------------------------------------------------------------


def _email(value: Any) -> str:
    text = _text(value, 254)
    try:
        # check_deliverability=False: validators do no I/O (no DNS).
        # test_environment/globally_deliverable are passed explicitly so a process-wide change of
        # email_validator.TEST_ENVIRONMENT / GLOBALLY_DELIVERABLE cannot alter what we accept.
        # With these settings email-validator (2.x) accepts the RFC 2606 demo domains Faker uses
        # (example.com/.net/.org are deliberately *not* in its special-use list) and rejects
        # reserved ones (.test, .invalid, .local, .localhost, .onion, .arpa) and dotless domains.
        result = validate_email(
            text,
            check_deliverability=False,
            test_environment=False,
            globally_deliverable=True,
        )
    except EmailNotValidError:
        # The library's message may quote parts of the address: never propagate it.
        raise RuleViolation("email.invalid", "must be a valid email address") from None
    return result.normalized


def email(value: Any, ctx: ValidationContext) -> str:
    """An e-mail address in email-validator's normalized form (lower-case domain, NFC)."""
    return _email(value)


# --------------------------------------------------------------------------------------------
# Identity documents
# --------------------------------------------------------------------------------------------

_RIC_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_MIN_BIRTH_YEAR = 1900


def cn_resident_id(value: Any, ctx: ValidationContext) -> str:
    """PRC resident identity card number (18 digits, GB 11643-1999); 15-digit legacy IDs rejected.

    Returns the compact upper-case form (check digit ``X`` upper-case).
    """
    text = _text(value, 32)
    # Accept the common "110105 19491231 002X" display grouping.
    number = ric.compact(text.replace(" ", "").replace("-", ""))
    if not _RIC_SHAPE.fullmatch(number):
        raise RuleViolation("ric.format", "must be 18 characters: 17 digits and a digit or X")
    try:
        ric.validate(number)
    except InvalidChecksum:
        raise RuleViolation("ric.checksum", "check digit does not match (GB 11643-1999)") from None
    except InvalidComponent:
        try:
            ric.get_birth_date(number)
        except InvalidComponent:
            raise RuleViolation("ric.birth_date", "must contain a valid birth date") from None
        raise RuleViolation("ric.region", "must start with a known region code") from None
    except (InvalidLength, InvalidFormat, ValidationError):
        raise RuleViolation("ric.format", "must be a valid resident ID number") from None
    born = ric.get_birth_date(number)
    if born > ctx.today:
        raise RuleViolation("ric.birth_date", "birth date must not be in the future")
    if born.year < _MIN_BIRTH_YEAR:
        raise RuleViolation("ric.birth_date", f"birth year must be {_MIN_BIRTH_YEAR} or later")
    return number


# PRC passports: E + 8 digits, E[A-Z] + 7 digits (2019+), G + 8 digits (older ordinary),
# D/S/P + 7-8 digits (diplomatic, service, public affairs).
_PRC_PASSPORT = re.compile(r"E[0-9]{8}|E[A-Z][0-9]{7}|G[0-9]{8}|[DSP][0-9]{7,8}")
# Foreign passports vary by country; 6..9 alphanumerics covers ICAO 9303 document numbers.
_FOREIGN_PASSPORT = re.compile(r"[A-Z0-9]{6,9}")


def passport(value: Any, ctx: ValidationContext) -> str:
    """A passport number (PRC or foreign), upper-case without separators."""
    text = _text(value, 32).upper().replace(" ", "").replace("-", "")
    # Note: every PRC pattern is also 8-9 alphanumerics, so the foreign pattern subsumes it; the
    # PRC patterns are listed to document the formats we expect most often.
    if _PRC_PASSPORT.fullmatch(text) or _FOREIGN_PASSPORT.fullmatch(text):
        return text
    raise RuleViolation("passport.format", "must be 6 to 9 letters or digits")


# --------------------------------------------------------------------------------------------
# Payment
# --------------------------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")


def bank_card(value: Any, ctx: ValidationContext) -> str:
    """A payment card number (UnionPay, Visa, ...): 13..19 digits passing Luhn, digits only."""
    digits = _text(value, 40).replace(" ", "").replace("-", "")
    if not _DIGITS.fullmatch(digits):
        raise RuleViolation("card.format", "must contain only digits, spaces or dashes")
    if not 13 <= len(digits) <= 19:
        raise RuleViolation("card.length", "must have 13 to 19 digits")
    try:
        luhn.validate(digits)
    except ValidationError:
        raise RuleViolation("card.luhn", "check digit does not match (Luhn)") from None
    return digits


_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_.\-]{4,64}")


def payment_account(value: Any, ctx: ValidationContext) -> str:
    """Alipay/WeChat Pay account: an e-mail, a mobile number (-> E.164) or an opaque account id."""
    text = _text(value, 254)
    account_format = RuleViolation(
        "account.format",
        "must be an email address, a mobile phone number or an account id "
        "(4 to 64 characters of A-Z, a-z, 0-9, _ . -)",
    )
    if "@" in text:
        try:
            return _email(text)
        except RuleViolation:
            raise account_format from None
    if _PHONE_CHARS.fullmatch(text):
        try:
            return mobile_phone(text, ctx)
        except RuleViolation:
            pass  # e.g. a numeric account id: fall through to the opaque-id check
    if _ACCOUNT_ID.fullmatch(text):
        return text
    raise account_format


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------

# fromisoformat alone is too lenient on 3.11 (accepts 20240101, 2024-W01-1, ...).
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _as_date(value: Any) -> datetime.date:
    if isinstance(value, datetime.datetime):
        # A timestamp needs a time zone to become a calendar date; refuse to guess.
        raise RuleViolation("date.format", "must be a calendar date without a time")
    if isinstance(value, datetime.date):
        return value
    text = _text(value, 32)
    if _ISO_DATE.fullmatch(text):
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            pass
    raise RuleViolation("date.format", "must be an existing date in ISO format YYYY-MM-DD")


def date(value: Any, ctx: ValidationContext) -> str:
    """A calendar date (ISO string or ``datetime.date``), stored as ISO ``YYYY-MM-DD``."""
    return _as_date(value).isoformat()


def date_of_birth(value: Any, ctx: ValidationContext) -> str:
    """A birth date: not after ``ctx.today`` and not before 1900 (typo guards)."""
    born = _as_date(value)
    if born > ctx.today:
        raise RuleViolation("date.future", "must not be in the future")
    if born.year < _MIN_BIRTH_YEAR:
        raise RuleViolation("date.too_old", f"year must be {_MIN_BIRTH_YEAR} or later")
    return born.isoformat()


# --------------------------------------------------------------------------------------------
# Enumerations and identifiers
# --------------------------------------------------------------------------------------------

_GENDERS = ("male", "female", "other", "undisclosed")
_GENDER_ALIASES = {
    **{g: g for g in _GENDERS},
    "m": "male",
    "f": "female",
    "男": "male",
    "女": "female",
}


def gender(value: Any, ctx: ValidationContext) -> str:
    """Gender as a closed enum so downstream reporting has a fixed vocabulary."""
    text = _text(value, 32).casefold()
    try:
        return _GENDER_ALIASES[text]
    except KeyError:
        raise RuleViolation("enum.choice", f"must be one of: {', '.join(_GENDERS)}") from None


_DEVICE_ID = re.compile(r"[A-Za-z0-9:_\-]{8,128}")


def device_id(value: Any, ctx: ValidationContext) -> str:
    """A device identifier (IDFA/OAID/Android ID/MAC-like); restricted charset, case kept."""
    text = _text(value, 128)
    if not _DEVICE_ID.fullmatch(text):
        raise RuleViolation(
            "device_id.format", "must be 8 to 128 characters of A-Z, a-z, 0-9, ':', '_' or '-'"
        )
    return text


def ip_address(value: Any, ctx: ValidationContext) -> str:
    """An IPv4/IPv6 address in its compressed canonical text form."""
    text = _text(value, 64)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise RuleViolation("ip.invalid", "must be a valid IPv4 or IPv6 address") from None


# --------------------------------------------------------------------------------------------
# Structured values
# --------------------------------------------------------------------------------------------

_LOCATION_KEYS = frozenset({"lat", "lon"})


def location(value: Any, ctx: ValidationContext) -> dict[str, float]:
    """A WGS-84 point ``{"lat": ..., "lon": ...}`` with finite, in-range coordinates."""
    if not isinstance(value, dict) or set(value) != _LOCATION_KEYS:
        raise RuleViolation("location.type", "must be an object with exactly lat and lon")
    lat, lon = value["lat"], value["lon"]
    if not (_is_number(lat) and _is_number(lon)):
        raise RuleViolation("location.type", "lat and lon must be numbers")
    lat_f, lon_f = float(lat), float(lon)
    if not (math.isfinite(lat_f) and math.isfinite(lon_f)):
        raise RuleViolation("location.range", "lat and lon must be finite numbers")
    if not -90.0 <= lat_f <= 90.0:
        raise RuleViolation("location.range", "lat must be between -90 and 90")
    if not -180.0 <= lon_f <= 180.0:
        raise RuleViolation("location.range", "lon must be between -180 and 180")
    return {"lat": lat_f, "lon": lon_f}


_ADDRESS_PARTS = {"province": 100, "city": 100, "district": 100, "detail": 200}
_ADDRESS_KEYS = frozenset({*_ADDRESS_PARTS, "postal_code"})
_POSTAL_CODE = re.compile(r"[0-9]{6}")


def address(value: Any, ctx: ValidationContext) -> dict[str, str | None]:
    """A PRC postal address; returns exactly province/city/district/detail/postal_code."""
    if not isinstance(value, dict):
        raise RuleViolation("address.type", "must be an object")
    if not set(value) <= _ADDRESS_KEYS:
        # Do not name the unknown keys: they are caller-supplied and could themselves be PI.
        raise RuleViolation(
            "address.unknown_key",
            f"has unknown fields; allowed: {', '.join([*_ADDRESS_PARTS, 'postal_code'])}",
        )
    out: dict[str, str | None] = {}
    for part, max_len in _ADDRESS_PARTS.items():
        raw = value.get(part)
        if raw is None:
            raise RuleViolation("address.missing_part", f"{part} is required")
        try:
            out[part] = _text(raw, max_len)
        except RuleViolation as exc:
            if exc.rule == "required.empty":
                raise RuleViolation("address.missing_part", f"{part} is required") from None
            raise _prefixed(part, exc) from None
    raw_code = value.get("postal_code")
    code: str | None = None
    if raw_code is not None:
        if not isinstance(raw_code, str):
            raise RuleViolation("type.string", "postal_code: must be a string")
        code = unicodedata.normalize("NFKC", raw_code).strip() or None
        if code is not None and not _POSTAL_CODE.fullmatch(code):
            raise RuleViolation("address.postal_code", "postal_code must be 6 digits")
    out["postal_code"] = code
    return out


_ADDRESS_LIST_MAX = 20


def address_list(value: Any, ctx: ValidationContext) -> list[dict[str, str | None]]:
    """1..20 addresses (an address book); item errors say which item, by 0-based index."""
    if not isinstance(value, list):
        raise RuleViolation("address_list.type", "must be a list of addresses")
    if not value:
        raise RuleViolation("required.empty", "must contain at least one address")
    if len(value) > _ADDRESS_LIST_MAX:
        raise RuleViolation(
            "address_list.too_many", f"must contain at most {_ADDRESS_LIST_MAX} addresses"
        )
    out = []
    for i, item in enumerate(value):
        try:
            out.append(address(item, ctx))
        except RuleViolation as exc:
            raise _prefixed(f"item {i}", exc) from None
    return out


_RECORDS_MAX = 10_000
_RECORD_KEY_MAX = 64
_RECORD_STR_MAX = 1_000


def _record_value_ok(v: Any) -> bool:
    if v is None or isinstance(v, bool | int):
        return True
    if isinstance(v, float):
        return math.isfinite(v)  # NaN/inf are not JSON
    if isinstance(v, str):
        return len(v) <= _RECORD_STR_MAX
    return False


def records(value: Any, ctx: ValidationContext) -> list[dict[str, Any]]:
    """Purchase/browsing/search history: a bounded list of flat, JSON-safe dicts."""
    if not isinstance(value, list):
        raise RuleViolation("records.type", "must be a list of records")
    if len(value) > _RECORDS_MAX:
        raise RuleViolation("records.too_many", f"must contain at most {_RECORDS_MAX} records")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise RuleViolation("records.item", f"item {i}: must be an object")
        for key, val in item.items():
            if not isinstance(key, str) or not 1 <= len(key) <= _RECORD_KEY_MAX:
                raise RuleViolation(
                    "records.item",
                    f"item {i}: field names must be strings of 1 to {_RECORD_KEY_MAX} characters",
                )
            if not _record_value_ok(val):
                raise RuleViolation(
                    "records.item",
                    f"item {i}: values must be strings (at most {_RECORD_STR_MAX} characters), "
                    "finite numbers, booleans or null",
                )
        out.append(dict(item))
    return out


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

VALIDATORS: dict[str, Validator] = {
    "person_name": person_name,
    "mobile_phone": mobile_phone,
    "landline": landline,
    "phone": phone,
    "email": email,
    "cn_resident_id": cn_resident_id,
    "passport": passport,
    "bank_card": bank_card,
    "payment_account": payment_account,
    "date": date,
    "date_of_birth": date_of_birth,
    "gender": gender,
    "device_id": device_id,
    "ip_address": ip_address,
    "location": location,
    "address": address,
    "address_list": address_list,
    "records": records,
}


def validate(name: str, value: Any, ctx: ValidationContext) -> Any:
    """Run the validator registered as ``name``; unknown names raise ``KeyError`` naming it."""
    try:
        validator = VALIDATORS[name]
    except KeyError:
        raise KeyError(f"unknown validator: {name!r}") from None
    return validator(value, ctx)
