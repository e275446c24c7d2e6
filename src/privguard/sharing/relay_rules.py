"""Contact relays: when an order's alias works, who may use it, and what its addresses look like.

Pure (no database, no clock, no network). The service (``relay.py``) gathers the order's facts
and passes ``now``; everything that decides whether a merchant or a courier can still reach a
buyer through an alias is here, so it can be tested without a database.

An alias belongs to one order. It lets the order's merchant and the courier assigned to it
reach the buyer by phone (a platform number plus an extension), SMS or e-mail
(``o-<random>@relay.<domain>``) without ever learning the buyer's number or address. It works
while the order needs contact:

* while the order is not delivered, at most ``undelivered`` after placement (the policy's
  window for orders never marked delivered);
* while an after-sales case is open (a support ticket about the order, or a refund under way);
* then for ``after_close`` (``PRIVGUARD_RELAY_ALIAS_DAYS``, 15 days by default) after delivery
  or after the last after-sales case about the order closed, whichever is later.

The consumer can revoke it at any time; a revoked alias never works again. Couriers use it only
within their own window as the policy defines it (delivery plus the grace period): after that
the parcel is no longer theirs.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import phonenumbers

from privguard.policy.rules import OrderFacts, Role, Windows, courier_window_open

# Purposes the relay states when it reads the buyer's contact through the gate: the two the
# transaction needs (PIPL Art. 13(2)); which one depends on whether the parcel has arrived.
PURPOSE_DELIVERY = "delivery"
PURPOSE_AFTER_SALES = "after_sales"

# Rule ids of the relay's own decisions, as the access log and the API name them.
RULE_UNKNOWN = "relay.alias-unknown"
RULE_EXPIRED = "relay.alias-expired"
RULE_REVOKED = "relay.alias-revoked"
RULE_INACTIVE = "relay.alias-inactive"  # what a merchant or courier is told for both
RULE_NOT_A_PARTY = "relay.not-a-party"
RULE_COURIER_WINDOW = "relay.courier-window-closed"
RULE_PARTIES_ONLY = "relay.parties-only"
RULE_CONSUMERS_ONLY = "relay.consumers-only"
RULE_SENDER_UNKNOWN = "relay.sender-unknown"
RULE_NO_DESTINATION = "relay.no-destination"
RULE_NO_MAILBOX = "relay.no-party-mailbox"
RULE_REVOKE = "relay.consumer-revoke"

# Order statuses: the order system's (marketplace/models.py).
REFUNDING = "refunding"

EXTENSION_DIGITS = 4
MAIL_PREFIX = "o-"
MAIL_TOKEN_CHARS = 16  # base32: 80 random bits, so addresses cannot be guessed
COURIER_TAG = "c"  # o-…+c@relay.…: replies from the buyer go to the courier


class AliasStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class Party(StrEnum):
    """Who is on the other end of a relayed contact."""

    MERCHANT = "merchant"
    COURIER = "courier"
    CONSUMER = "consumer"


class Channel(StrEnum):
    CALL = "call"
    SMS = "sms"
    MAIL = "mail"


class Direction(StrEnum):
    TO_SUBJECT = "to_subject"  # a merchant or courier reaching the buyer
    FROM_SUBJECT = "from_subject"  # the buyer answering through the alias


class Outcome(StrEnum):
    CONNECTED = "connected"  # handed to the telephony provider or the upstream mail server
    REFUSED = "refused"  # the relay refused: the alias was not active, or the caller no party
    FAILED = "failed"  # allowed, but the provider or the mail server failed


@dataclass(frozen=True)
class OrderState:
    """What an alias's lifetime reads about its order; no personal information."""

    status: str
    placed_at: datetime
    delivered_at: datetime | None
    merchant_id: uuid.UUID
    courier_id: uuid.UUID | None
    after_sales_open: bool = False  # a ticket about the order is open
    after_sales_closed_at: datetime | None = None  # when the last ticket about it closed

    def facts(self) -> OrderFacts:
        return OrderFacts(
            merchant_id=self.merchant_id,
            courier_id=self.courier_id,
            status=self.status,
            placed_at=self.placed_at,
            delivered_at=self.delivered_at,
        )


@dataclass(frozen=True)
class RelayWindows:
    after_close: timedelta  # PRIVGUARD_RELAY_ALIAS_DAYS after delivery / after-sales closing
    undelivered: timedelta  # the policy's window for orders never marked delivered

    @classmethod
    def of(cls, alias_days: int, policy: Windows) -> RelayWindows:
        return cls(timedelta(days=alias_days), policy.undelivered)


def ends_at(order: OrderState, windows: RelayWindows) -> datetime | None:
    """When the alias stops working on the order's facts now; ``None`` while an after-sales
    case is open (it cannot end before the case closes)."""
    if order.after_sales_open or order.status == REFUNDING:
        return None
    closed = (
        None
        if order.after_sales_closed_at is None
        else order.after_sales_closed_at + windows.after_close
    )
    if order.delivered_at is None:
        # Not delivered: under way, or cancelled before delivery. Either way the order stops
        # granting contact where the policy stops granting access to it.
        end = order.placed_at + windows.undelivered
    else:
        end = order.delivered_at + windows.after_close
    return end if closed is None else max(end, closed)


def status(
    revoked_at: datetime | None, order: OrderState, windows: RelayWindows, now: datetime
) -> tuple[AliasStatus, datetime | None]:
    """The alias's status now, and when it ends (or ended); revocation is final."""
    if revoked_at is not None:
        return AliasStatus.REVOKED, revoked_at
    end = ends_at(order, windows)
    if end is not None and now > end:
        return AliasStatus.EXPIRED, end
    return AliasStatus.ACTIVE, end


def reusable(
    revoked_at: datetime | None,
    order: OrderState,
    windows: RelayWindows,
    quarantine: timedelta,
    now: datetime,
) -> bool:
    """Whether the alias's number and extension may be given to another order: only once it
    has not worked for ``quarantine``, so a merchant redialling an old number reaches nobody
    rather than the next buyer."""
    state, end = status(revoked_at, order, windows, now)
    return state is not AliasStatus.ACTIVE and end is not None and now >= end + quarantine


def contact_purpose(order: OrderState) -> str:
    """``delivery`` until the parcel has arrived, ``after_sales`` from then on."""
    return PURPOSE_DELIVERY if order.delivered_at is None else PURPOSE_AFTER_SALES


def party_of(
    role: Role,
    actor_id: uuid.UUID | None,
    organisation_id: uuid.UUID | None,
    order: OrderState,
) -> Party | None:
    """Which party of the order this actor is: staff of its merchant, or its assigned courier
    (whoever is assigned now: a parcel handed to another courier is no longer the first's)."""
    if role is Role.MERCHANT_STAFF and organisation_id is not None:
        return Party.MERCHANT if organisation_id == order.merchant_id else None
    if role is Role.COURIER and actor_id is not None:
        return Party.COURIER if actor_id == order.courier_id else None
    return None


def party_window_refusal(
    party: Party, order: OrderState, policy: Windows, now: datetime
) -> str | None:
    """A party-specific limit on top of the alias's own: a courier only within the policy's
    courier window (until delivery plus the grace period). ``None`` when the party may."""
    if party is Party.COURIER and not courier_window_open(order.facts(), now, policy):
        return RULE_COURIER_WINDOW
    return None


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

_E164 = re.compile(r"\+[1-9][0-9]{3,14}")
_DIAL_SEPARATORS = re.compile(r"[\s\-()]")


def check_pool(numbers: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The configured platform numbers, or ValueError naming the bad one's position."""
    if not numbers:
        raise ValueError("PRIVGUARD_RELAY_NUMBERS: at least one platform number is needed")
    out = []
    for i, raw in enumerate(numbers):
        number = _DIAL_SEPARATORS.sub("", raw)
        if not _E164.fullmatch(number):
            raise ValueError(
                f"PRIVGUARD_RELAY_NUMBERS[{i}]: a platform number is + and 4 to 15 digits"
            )
        out.append(number)
    return tuple(dict.fromkeys(out))


def pick_slot(numbers: tuple[str, ...]) -> tuple[str, str]:
    """A random (number, extension) from the pool; the service retries on a taken one."""
    number = numbers[secrets.randbelow(len(numbers))]
    extension = f"{secrets.randbelow(10**EXTENSION_DIGITS):0{EXTENSION_DIGITS}d}"
    return number, extension


def pool_size(numbers: tuple[str, ...]) -> int:
    return len(numbers) * 10**EXTENSION_DIGITS


def normalise_dialled(number: str, pool: tuple[str, ...]) -> str | None:
    """The pool number a caller dialled (E.164, or without +/country code), or ``None``."""
    compact = _DIAL_SEPARATORS.sub("", number)
    if not re.fullmatch(r"\+?[0-9]{3,16}", compact):
        return None
    digits = compact.lstrip("+")
    for candidate in pool:
        full = candidate.lstrip("+")
        if digits == full:
            return candidate
        if not compact.startswith("+"):
            # Dialled in the country itself: the number without its country code.
            national = str(phonenumbers.parse(candidate).national_number)
            if digits == national:
                return candidate
    return None


def valid_extension(extension: str) -> bool:
    return bool(re.fullmatch(rf"[0-9]{{{EXTENSION_DIGITS}}}", extension))


def label_number(number: str, extension: str) -> str:
    """How a waybill prints the alias: the number, 转 (transfer to), the extension."""
    return f"{number}转{extension}"


def dial_string(number: str, extension: str) -> str:
    """What a phone dials: the number, a pause, the extension (RFC 3966 style)."""
    return f"{number},{extension}"


# --------------------------------------------------------------------------------------------
# Mail addresses
# --------------------------------------------------------------------------------------------

_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_LOCAL = re.compile(rf"{MAIL_PREFIX}([{_B32}]{{{MAIL_TOKEN_CHARS}}})(?:\+([a-z]{{1,8}}))?")


def relay_domain(base: str) -> str:
    """The mail domain of aliases: ``relay.`` + the configured domain (it needs its own MX)."""
    return f"relay.{base.strip().strip('.').lower()}"


def new_mail_local() -> str:
    """``o-`` and 16 random base32 characters: nothing in it says whose it is."""
    return MAIL_PREFIX + "".join(_B32[secrets.randbelow(32)] for _ in range(MAIL_TOKEN_CHARS))


def mail_address(local: str, domain: str, tag: str | None = None) -> str:
    return f"{local}{'+' + tag if tag else ''}@{domain}"


@dataclass(frozen=True)
class RelayAddress:
    local: str  # o-…, as stored
    tag: str | None  # None: the merchant's side; "c": the courier's


def parse_relay_address(address: str, domain: str) -> RelayAddress | None:
    """The alias an envelope recipient names, or ``None`` when it is not one of ours."""
    text = address.strip().strip("<>").lower()
    local, at, host = text.rpartition("@")
    if not at or host != domain.lower():
        return None
    found = _LOCAL.fullmatch(local)
    if found is None:
        return None
    tag = found.group(2)
    if tag not in (None, COURIER_TAG):
        return None
    return RelayAddress(MAIL_PREFIX + found.group(1), tag)


def normalise_mailbox(address: str) -> str:
    """A registered sender address as compared: trimmed, without <>, lower-case."""
    return address.strip().strip("<>").strip().lower()
