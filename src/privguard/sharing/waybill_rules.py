"""Privacy waybills: what a shipping label may show, and the claim its QR code carries.

Pure (no database, no clock, no keys). The service (``waybill.py``) reads the recipient's data
through the vault's gate in the ``waybill`` view and builds a :class:`WaybillPayload`; before any
label leaves the service or the renderer, :func:`require_compliant` checks it against
GB/T 41833-2022 (express waybills):

* the recipient's name hides at least one character;
* the phone number hides at least 6 digits (``*******5678``, not ``138****5678``), or a relay
  number stands in its place (the recipient's own number is then not even read);
* the address shows no unit or room number (here: no number of any kind, see below).

The check is deliberately written apart from the masking rules that produce the values
(catalog/masking.py): a mistake in one is caught by the other instead of being agreed with.

The QR code holds a signed claim (order id and expiry, no personal information); the claim's
text format and its lifetime live here, the signature in ``crypto/tokens.py``.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from privguard.policy.rules import OrderFacts, Windows
from privguard.vault.errors import FieldError, InvalidPI

# Every read behind a waybill states this purpose: delivering the parcel (necessary, PIPL Art.
# 13(2)), so no consent is asked and merchants, couriers and agents reach it only through the
# policy's delivery rules.
WAYBILL_PURPOSE = "delivery"

# GB/T 41833-2022: at least 6 digits of the phone number hidden. The masking rule shows the last
# 4; a label never shows more than that.
MIN_HIDDEN_DIGITS = 6
MAX_SHOWN_DIGITS = 4
HIDDEN = "*"

# Rule ids, shown in errors (and, for refusals, in the access log).
RULE_NAME = "gbt41833.name-hidden-char"
RULE_PHONE_SHAPE = "gbt41833.phone-shape"
RULE_PHONE_HIDDEN = "gbt41833.phone-hidden-digits"
RULE_PHONE_SHOWN = "gbt41833.phone-shown-digits"
RULE_RELAY = "waybill.relay-format"
RULE_NO_UNIT_OR_ROOM = "gbt41833.no-unit-or-room"
RULE_MISSING = "waybill.missing"


class WaybillNonCompliant(InvalidPI):
    """A label that would break GB/T 41833-2022 is never emitted; the error names the label
    field and the rule, never the value."""

    code = "waybill_noncompliant"


@dataclass(frozen=True)
class WaybillPayload:
    """Everything a label shows, and nothing else: the renderer draws only these values."""

    order_id: uuid.UUID
    carrier_id: uuid.UUID
    carrier_name: str
    sender_name: str  # the merchant, an organisation
    return_address: str | None  # the merchant's, cut like the recipient's
    recipient_name: str
    recipient_phone: str
    phone_is_relay: bool
    recipient_address: str
    qr_token: str
    expires_at: datetime  # when the QR code stops resolving

    def as_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "carrier_id": self.carrier_id,
            "carrier_name": self.carrier_name,
            "sender_name": self.sender_name,
            "return_address": self.return_address,
            "recipient_name": self.recipient_name,
            "recipient_phone": self.recipient_phone,
            "phone_is_relay": self.phone_is_relay,
            "recipient_address": self.recipient_address,
            "qr_token": self.qr_token,
            "expires_at": self.expires_at,
        }


# --------------------------------------------------------------------------------------------
# The GB/T 41833-2022 check
# --------------------------------------------------------------------------------------------

# A relay (virtual) number: digits, optionally a + and an extension (95013,1234 / 170…转123).
_RELAY = re.compile(r"\+?[0-9][0-9\-]{3,19}(?:(?:,|#|转|ext\.?|x)[0-9]{1,6})?")
# What counts as a unit or room number on a label. Stricter than what it guards against: no
# digit at all (any script: \d is Unicode-aware), no '#', none of the words that name a
# building, unit, floor or room, in Chinese or English.
_CN_NUMERALS = "零〇一二三四五六七八九十百千两"
_UNIT_OR_ROOM = re.compile(
    r"\d|#"
    r"|单元|室|栋|幢|号楼"
    rf"|[{_CN_NUMERALS}]+[号栋幢座楼层室户房]"
    r"|[A-Za-z][栋幢座楼层室户房]"
    r"|(?<![A-Za-z])(?i:room|rm|apt|apartment|unit|flat|suite|ste|floor|fl|building|bldg"
    r"|block|blk|tower)(?![A-Za-z])"
)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def check_name(text: str) -> list[FieldError]:
    if not text.strip():
        return [FieldError("recipient_name", RULE_MISSING, "the recipient has no name")]
    if HIDDEN not in text:
        return [FieldError("recipient_name", RULE_NAME, "must hide at least one character")]
    return []


def check_phone(text: str, *, relay: bool) -> list[FieldError]:
    compact = "".join(_norm(text).split())
    if relay:
        if not _RELAY.fullmatch(compact.lower()):
            return [
                FieldError(
                    "recipient_phone",
                    RULE_RELAY,
                    "a relay number is digits with an optional + and extension",
                )
            ]
        return []
    if not compact or set(compact) - set("*0123456789"):
        return [FieldError("recipient_phone", RULE_PHONE_SHAPE, "must be digits and * only")]
    errors = []
    shown = sum(ch.isdigit() for ch in compact)
    hidden = compact.count(HIDDEN)
    if shown > MAX_SHOWN_DIGITS:
        errors.append(
            FieldError(
                "recipient_phone", RULE_PHONE_SHOWN, f"must show at most {MAX_SHOWN_DIGITS} digits"
            )
        )
    # A fully hidden number (nothing shown) hides every digit it has, however short.
    if shown and hidden < MIN_HIDDEN_DIGITS:
        errors.append(
            FieldError(
                "recipient_phone",
                RULE_PHONE_HIDDEN,
                f"must hide at least {MIN_HIDDEN_DIGITS} digits",
            )
        )
    return errors


def check_address(field: str, text: str) -> list[FieldError]:
    if not text.strip(HIDDEN + " "):
        return [FieldError(field, RULE_MISSING, "no address to print")]
    if _UNIT_OR_ROOM.search(_norm(text)):
        return [
            FieldError(
                field, RULE_NO_UNIT_OR_ROOM, "must not show a house, building, unit or room number"
            )
        ]
    return []


def check_payload(payload: WaybillPayload) -> list[FieldError]:
    """Every way ``payload`` breaks GB/T 41833-2022 (empty when it complies)."""
    errors = [
        *check_name(payload.recipient_name),
        *check_phone(payload.recipient_phone, relay=payload.phone_is_relay),
        *check_address("recipient_address", payload.recipient_address),
    ]
    if payload.return_address is not None:
        errors += check_address("return_address", payload.return_address)
    return errors


def require_compliant(payload: WaybillPayload) -> WaybillPayload:
    """``payload`` unchanged if it complies, else :class:`WaybillNonCompliant`."""
    errors = check_payload(payload)
    if errors:
        raise WaybillNonCompliant(errors)
    return payload


# --------------------------------------------------------------------------------------------
# The QR claim
# --------------------------------------------------------------------------------------------

CLAIM_VERSION = "wb1"


@dataclass(frozen=True)
class Claim:
    """What a waybill's QR code says: which order, until when. Not a credential by itself:
    resolving it still needs the courier assigned to that order (waybill.py)."""

    order_id: uuid.UUID
    expires_at: datetime

    def text(self) -> str:
        return f"{CLAIM_VERSION}|{self.order_id.hex}|{int(self.expires_at.timestamp())}"

    def expired(self, now: datetime) -> bool:
        return now > self.expires_at


def parse_claim(text: str | None) -> Claim | None:
    """The claim in a signed token's payload, or ``None`` for anything else."""
    if not text:
        return None
    parts = text.split("|")
    if len(parts) != 3 or parts[0] != CLAIM_VERSION or not parts[2].isdigit():
        return None
    try:
        order_id = uuid.UUID(hex=parts[1])
        expires_at = datetime.fromtimestamp(int(parts[2]), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return Claim(order_id, expires_at)


def claim_lifetime(windows: Windows) -> timedelta:
    """How long a printed code resolves: the longest a shipment can keep its courier's access
    under the policy (undelivered window plus the courier's grace period). The policy still
    decides every scan: after delivery plus the grace period the code stops working sooner."""
    return windows.undelivered + windows.courier_grace


def new_claim(order_id: uuid.UUID, issued_at: datetime, windows: Windows) -> Claim:
    # Whole seconds: the token carries a Unix time, so the claim must round-trip exactly.
    expires = (issued_at + claim_lifetime(windows)).replace(microsecond=0)
    return Claim(order_id, expires)


def courier_access_until(order: OrderFacts, windows: Windows) -> datetime:
    """Until when the assigned courier's access lasts (policy/rules.py courier_window_open)."""
    if order.delivered_at is not None:
        return order.delivered_at + windows.courier_grace
    return order.placed_at + windows.undelivered
