"""The privacy notice's own settings: who we are, who the officer is, how to reach us, and who
else receives data. Loaded from the shipped notice.yaml or the file in PRIVGUARD_NOTICE_PATH.

Everything else a notice says (purposes, fields, retention, who sees what) comes from the catalog
and the policy, so the notice cannot drift from what the system really does. This file holds only
what the code cannot know. It is checked at load against the catalog and the policy, so a typo
(an unknown purpose, a recipient's field that does not exist, a missing translation) stops the
publish with a message naming the key, instead of publishing a notice that misleads consumers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from privguard.catalog.model import Catalog
from privguard.policy.rules import Policy
from privguard.yaml_files import parse_yaml

FORMAT_VERSION = 1
# A notice must read well in both languages (PIPL Art. 17: "clear and easy to understand").
LOCALES = ("zh-CN", "en")
# Recipient keys become consent topics `third_party:<key>` (ConsentEvent.target is 64 chars).
RECIPIENT_KEY = re.compile(r"^[a-z][a-z0-9_-]{1,63}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2
EMAIL = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{2,31}$")
URL = re.compile(r"^https?://[^\s<>\"']+$")

Text = Mapping[str, str]  # locale -> text


class NoticeConfigError(ValueError):
    """The notice config is invalid; the message names the key and the problem."""


@dataclass(frozen=True)
class Contact:
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class Controller:
    """The personal-information handler (PIPL Art. 17(1)(1): name and contact)."""

    name: Text
    address: Text
    country: str
    contact: Contact


@dataclass(frozen=True)
class Officer:
    """The personal-information protection officer (PIPL Art. 52), published with a contact."""

    title: Text
    name: Text | None
    contact: Contact


@dataclass(frozen=True)
class Rights:
    """How consumers exercise their rights (PIPL Art. 17(1)(4), Art. 50)."""

    privacy_center_url: str
    email: str
    phone: str | None
    response_days: int


@dataclass(frozen=True)
class Recipient:
    """Another handler that receives personal information (PIPL Art. 23: name, contact,
    purposes, kinds of information; Art. 39 when abroad)."""

    key: str
    name: Text
    description: Text | None
    country: str
    purposes: tuple[str, ...]
    fields: tuple[str, ...]
    contact: Contact
    # The registered organisation (marketplace) the ledger records consents against:
    # consent topics `third_party:<organisation_id>` (consent/rules.py Kind.THIRD_PARTY).
    organisation_id: uuid.UUID | None = None


@dataclass(frozen=True)
class NoticeConfig:
    controller: Controller
    officer: Officer
    rights: Rights
    recipients: tuple[Recipient, ...]
    purpose_descriptions: Mapping[str, Text]  # purpose -> one plain sentence per locale
    retention_basis: Mapping[str, Text]  # field -> the catalog's basis (en) and translations
    source: str


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> NoticeConfigError:
        return NoticeConfigError(f"notice config {self.source}, {where}: {problem}")

    def mapping(self, raw: Any, where: str, known: set[str], required: set[str]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(where, "must be a mapping")
        unknown = set(raw) - known
        if unknown:
            raise self.fail(where, f"unknown keys {sorted(map(str, unknown))}")
        missing = required - set(raw)
        if missing:
            raise self.fail(where, f"missing {sorted(missing)}")
        return raw

    def text(self, raw: Any, where: str) -> dict[str, str]:
        if not isinstance(raw, dict):
            raise self.fail(where, f"must map each locale ({', '.join(LOCALES)}) to text")
        unknown = set(raw) - set(LOCALES)
        if unknown:
            raise self.fail(where, f"unknown locales {sorted(map(str, unknown))}")
        for locale in LOCALES:
            value = raw.get(locale)
            if not isinstance(value, str) or not value.strip():
                raise self.fail(f"{where}.{locale}", "text is required in every locale")
        return {locale: " ".join(str(raw[locale]).split()) for locale in LOCALES}

    def pattern(self, raw: Any, where: str, regex: re.Pattern[str], what: str) -> str:
        if not isinstance(raw, str) or not regex.match(raw.strip()):
            raise self.fail(where, f"must be {what}")
        return raw.strip()

    def contact(self, raw: Any, where: str) -> Contact:
        raw = self.mapping(raw, where, {"email", "phone"}, set())
        if not raw.get("email") and not raw.get("phone"):
            raise self.fail(where, "needs an email or a phone (or both)")
        email = raw.get("email")
        phone = raw.get("phone")
        return Contact(
            email=self.pattern(email, f"{where}.email", EMAIL, "an email address")
            if email
            else None,
            phone=self.pattern(str(phone), f"{where}.phone", PHONE, "a phone number")
            if phone
            else None,
        )


def parse_notice_config(
    text: str, source: str, catalog: Catalog, policy: Policy
) -> NoticeConfig:
    """Parse and check notice config text against the catalog and policy in force."""
    check = _Checker(source)
    try:
        doc = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise NoticeConfigError(f"notice config {source}: not valid YAML ({exc})") from None
    doc = check.mapping(
        doc,
        "file",
        {"version", "controller", "officer", "rights", "recipients", "purposes",
         "retention_basis"},
        {"controller", "officer", "rights"},
    )
    if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise check.fail("version", f"must be {FORMAT_VERSION}")

    raw = check.mapping(
        doc["controller"], "controller", {"name", "address", "country", "contact"},
        {"name", "address", "contact"},
    )
    controller = Controller(
        name=check.text(raw["name"], "controller.name"),
        address=check.text(raw["address"], "controller.address"),
        country=check.pattern(
            raw.get("country", "CN"), "controller.country", COUNTRY, "an ISO 3166 code like CN"
        ),
        contact=check.contact(raw["contact"], "controller.contact"),
    )

    raw = check.mapping(doc["officer"], "officer", {"title", "name", "contact"},
                        {"title", "contact"})
    officer = Officer(
        title=check.text(raw["title"], "officer.title"),
        name=check.text(raw["name"], "officer.name") if raw.get("name") is not None else None,
        contact=check.contact(raw["contact"], "officer.contact"),
    )

    raw = check.mapping(
        doc["rights"], "rights", {"privacy_center_url", "email", "phone", "response_days"},
        {"privacy_center_url", "email", "response_days"},
    )
    days = raw["response_days"]
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 90:
        raise check.fail("rights.response_days", "must be a whole number of days from 1 to 90")
    rights = Rights(
        privacy_center_url=check.pattern(
            raw["privacy_center_url"], "rights.privacy_center_url", URL, "an http(s) URL"
        ),
        email=check.pattern(raw["email"], "rights.email", EMAIL, "an email address"),
        phone=check.pattern(str(raw["phone"]), "rights.phone", PHONE, "a phone number")
        if raw.get("phone")
        else None,
        response_days=days,
    )

    recipients = _recipients(doc.get("recipients") or [], check, catalog, policy)

    descriptions: dict[str, Text] = {}
    raw = doc.get("purposes") or {}
    if not isinstance(raw, dict):
        raise check.fail("purposes", "must map purpose names to {description}")
    for name, spec in raw.items():
        where = f"purposes.{name}"
        if name not in policy.purposes:
            raise check.fail(where, "not a purpose of the policy in force")
        spec = check.mapping(spec, where, {"description"}, {"description"})
        descriptions[str(name)] = check.text(spec["description"], f"{where}.description")

    basis: dict[str, Text] = {}
    raw = doc.get("retention_basis") or {}
    if not isinstance(raw, dict):
        raise check.fail("retention_basis", "must map catalog field names to translations")
    for name, spec in raw.items():
        where = f"retention_basis.{name}"
        if name not in catalog:
            raise check.fail(where, "not a field of the catalog in force")
        text = check.text(spec, where)
        # The en text is the catalog's own basis: a translation made for an older basis is
        # caught here instead of telling Chinese readers something the catalog no longer says.
        if text["en"] != " ".join(catalog[name].retention.basis.split()):
            raise check.fail(
                f"{where}.en",
                f"must repeat the catalog's basis {catalog[name].retention.basis!r} "
                "(the catalog changed: update the translations)",
            )
        basis[str(name)] = text

    return NoticeConfig(
        controller=controller,
        officer=officer,
        rights=rights,
        recipients=recipients,
        purpose_descriptions=descriptions,
        retention_basis=basis,
        source=source,
    )


def _recipients(
    raw: Any, check: _Checker, catalog: Catalog, policy: Policy
) -> tuple[Recipient, ...]:
    if not isinstance(raw, list):
        raise check.fail("recipients", "must be a list")
    out: list[Recipient] = []
    seen: set[str] = set()
    for n, item in enumerate(raw):
        key = item.get("key") if isinstance(item, dict) else None
        where = f"recipients[{n}]" + (f" ({key})" if isinstance(key, str) else "")
        item = check.mapping(
            item, where,
            {"key", "name", "description", "country", "purposes", "fields", "contact",
             "organisation_id"},
            {"key", "name", "country", "purposes", "fields", "contact"},
        )
        key = check.pattern(
            item["key"], f"{where}.key", RECIPIENT_KEY, "lower-case letters, digits, _ or -"
        )
        if key in seen:
            raise check.fail(f"{where}.key", "used by another recipient")
        seen.add(key)
        purposes = item["purposes"]
        if not isinstance(purposes, list) or not purposes:
            raise check.fail(f"{where}.purposes", "must be a non-empty list of policy purposes")
        for p in purposes:
            if p not in policy.purposes:
                raise check.fail(f"{where}.purposes", f"{p!r} is not a purpose of the policy")
        fields = item["fields"]
        if not isinstance(fields, list) or not fields:
            raise check.fail(f"{where}.fields", "must be a non-empty list of catalog fields")
        for f in fields:
            if f not in catalog:
                raise check.fail(f"{where}.fields", f"{f!r} is not a field of the catalog")
        out.append(
            Recipient(
                key=key,
                name=check.text(item["name"], f"{where}.name"),
                description=check.text(item["description"], f"{where}.description")
                if item.get("description") is not None
                else None,
                country=check.pattern(
                    item["country"], f"{where}.country", COUNTRY, "an ISO 3166 code like CN"
                ),
                purposes=tuple(dict.fromkeys(purposes)),
                fields=tuple(dict.fromkeys(fields)),
                contact=check.contact(item["contact"], f"{where}.contact"),
                organisation_id=_uuid(item.get("organisation_id"), f"{where}.organisation_id",
                                      check),
            )
        )
    return tuple(out)


def _uuid(raw: Any, where: str, check: _Checker) -> uuid.UUID | None:
    if raw is None:
        return None
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise check.fail(where, "must be an organisation id (a UUID)") from None


def load_notice_config(path: Path | None, catalog: Catalog, policy: Policy) -> NoticeConfig:
    """The notice config at ``path``, or the one shipped in the package."""
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise NoticeConfigError(f"notice config {path}: cannot read ({exc.strerror})") from None
        return parse_notice_config(text, str(path), catalog, policy)
    text = resources.files("privguard.consent").joinpath("notice.yaml").read_text("utf-8")
    return parse_notice_config(text, "privguard/consent/notice.yaml", catalog, policy)
