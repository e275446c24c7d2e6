"""Contact relays' pure rules: when an alias works, who may use it, what its addresses look like,
and how a relayed message is rewritten (no database)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from privguard.policy.rules import Role, Windows
from privguard.sharing import relay_rules as rules
from privguard.sharing.relay import MailRoute
from privguard.sharing.relay_mail import rewrite
from privguard.sharing.relay_rules import AliasStatus, OrderState, Party, RelayWindows
from privguard.sharing.waybill_rules import check_phone

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
POLICY = Windows(after_sales=timedelta(days=15), courier_grace=timedelta(hours=24),
                 undelivered=timedelta(days=30))
WINDOWS = RelayWindows.of(15, POLICY)
MERCHANT, OTHER_MERCHANT = uuid.uuid4(), uuid.uuid4()
COURIER, OTHER_COURIER = uuid.uuid4(), uuid.uuid4()
DAY = timedelta(days=1)


def order(**kw: object) -> OrderState:
    base: dict[str, object] = {
        "status": "delivered", "placed_at": NOW - 20 * DAY, "delivered_at": NOW - 10 * DAY,
        "merchant_id": MERCHANT, "courier_id": COURIER,
    }
    return OrderState(**{**base, **kw})  # type: ignore[arg-type]


# ------------------------------------------------------------------ lifetime
def test_an_alias_works_for_the_configured_days_after_delivery() -> None:
    delivered = order(delivered_at=NOW - 15 * DAY)
    assert rules.ends_at(delivered, WINDOWS) == NOW
    assert rules.status(None, delivered, WINDOWS, NOW) == (AliasStatus.ACTIVE, NOW)
    later = NOW + timedelta(seconds=1)
    assert rules.status(None, delivered, WINDOWS, later) == (AliasStatus.EXPIRED, NOW)
    # The setting, not a constant: 3 days makes the same order's alias long expired.
    short = RelayWindows.of(3, POLICY)
    assert rules.status(None, delivered, short, NOW) == (AliasStatus.EXPIRED, NOW - 12 * DAY)


def test_after_sales_keeps_it_open_and_its_closing_restarts_the_clock() -> None:
    long_ago = order(delivered_at=NOW - 60 * DAY, placed_at=NOW - 65 * DAY)
    assert rules.status(None, long_ago, WINDOWS, NOW)[0] is AliasStatus.EXPIRED
    for open_case in (
        order(delivered_at=NOW - 60 * DAY, after_sales_open=True),
        order(delivered_at=NOW - 60 * DAY, status="refunding"),
    ):
        assert rules.ends_at(open_case, WINDOWS) is None
        assert rules.status(None, open_case, WINDOWS, NOW) == (AliasStatus.ACTIVE, None)
    closed = order(delivered_at=NOW - 60 * DAY, after_sales_closed_at=NOW - 14 * DAY)
    assert rules.status(None, closed, WINDOWS, NOW) == (AliasStatus.ACTIVE, NOW + DAY)
    closed_long_ago = order(delivered_at=NOW - 60 * DAY, after_sales_closed_at=NOW - 16 * DAY)
    assert rules.status(None, closed_long_ago, WINDOWS, NOW)[0] is AliasStatus.EXPIRED
    # A case that closed before delivery does not shorten the delivery window.
    early = order(delivered_at=NOW - DAY, after_sales_closed_at=NOW - 5 * DAY)
    assert rules.ends_at(early, WINDOWS) == NOW + 14 * DAY


def test_an_order_never_delivered_stops_at_the_policys_undelivered_window() -> None:
    stuck = order(status="shipped", delivered_at=None, placed_at=NOW - 30 * DAY)
    assert rules.status(None, stuck, WINDOWS, NOW) == (AliasStatus.ACTIVE, NOW)
    assert rules.status(None, stuck, WINDOWS, NOW + DAY)[0] is AliasStatus.EXPIRED


def test_revocation_is_final_whatever_the_order_does() -> None:
    open_case = order(after_sales_open=True)
    assert rules.status(NOW - DAY, open_case, WINDOWS, NOW) == (AliasStatus.REVOKED, NOW - DAY)


def test_a_number_is_reused_only_after_the_quarantine() -> None:
    expired = order(delivered_at=NOW - 20 * DAY)  # ended 5 days ago
    assert not rules.reusable(None, expired, WINDOWS, timedelta(days=30), NOW)
    assert rules.reusable(None, expired, WINDOWS, timedelta(days=5), NOW)
    assert not rules.reusable(None, order(), WINDOWS, timedelta(0), NOW)  # still active
    assert rules.reusable(NOW - 2 * DAY, order(), WINDOWS, timedelta(days=2), NOW)
    assert not rules.reusable(NOW - 2 * DAY, order(), WINDOWS, timedelta(days=3), NOW)


def test_the_purpose_follows_the_parcel() -> None:
    assert rules.contact_purpose(order(delivered_at=None, status="shipped")) == "delivery"
    assert rules.contact_purpose(order()) == "after_sales"


# ------------------------------------------------------------------ parties
@pytest.mark.parametrize(
    ("role", "actor", "org", "expected"),
    [
        (Role.MERCHANT_STAFF, uuid.uuid4(), MERCHANT, Party.MERCHANT),
        (Role.MERCHANT_STAFF, uuid.uuid4(), OTHER_MERCHANT, None),
        (Role.MERCHANT_STAFF, uuid.uuid4(), None, None),
        (Role.COURIER, COURIER, uuid.uuid4(), Party.COURIER),
        (Role.COURIER, OTHER_COURIER, uuid.uuid4(), None),
        # Roles that are no party, even with the merchant's organisation or the courier's id.
        (Role.CUSTOMER_SERVICE, COURIER, MERCHANT, None),
        (Role.PLATFORM_ADMIN, COURIER, MERCHANT, None),
        (Role.CONSUMER, COURIER, MERCHANT, None),
        (Role.PARTNER, COURIER, MERCHANT, None),
    ],
)
def test_only_the_orders_merchant_and_assigned_courier_are_parties(
    role: Role, actor: uuid.UUID, org: uuid.UUID | None, expected: Party | None
) -> None:
    assert rules.party_of(role, actor, org, order()) is expected


def test_a_courier_uses_the_alias_only_within_the_courier_window() -> None:
    just = order(delivered_at=NOW - timedelta(hours=23))
    assert rules.party_window_refusal(Party.COURIER, just, POLICY, NOW) is None
    late = order(delivered_at=NOW - timedelta(hours=25))
    assert rules.party_window_refusal(Party.COURIER, late, POLICY, NOW) == (
        rules.RULE_COURIER_WINDOW
    )
    assert rules.party_window_refusal(Party.MERCHANT, late, POLICY, NOW) is None


# ------------------------------------------------------------------ numbers and addresses
def test_the_pool_is_checked_and_normalised() -> None:
    assert rules.check_pool(["+86 95000", "+86-95001", "+8695000"]) == ("+8695000", "+8695001")
    for bad in ([], ["95000"], ["+0123"], ["+86 950 00 x1"]):
        with pytest.raises(ValueError, match="PRIVGUARD_RELAY_NUMBERS"):
            rules.check_pool(bad)


def test_slots_are_drawn_from_the_pool_with_four_digit_extensions() -> None:
    pool = ("+8695000", "+8695001")
    slots = {rules.pick_slot(pool) for _ in range(300)}
    assert {n for n, _ in slots} == set(pool)
    assert all(re.fullmatch(r"[0-9]{4}", e) for _, e in slots)
    assert len(slots) > 250  # random, not sequential guesses from one another
    assert rules.pool_size(pool) == 20_000


@pytest.mark.parametrize(
    ("dialled", "expected"),
    [("+8695000", "+8695000"), ("+86 950-00", "+8695000"), ("95000", "+8695000"),
     ("8695000", "+8695000"), ("+8695001", None), ("5000", None), ("call me", None), ("", None)],
)
def test_a_dialled_number_is_matched_to_the_pool(dialled: str, expected: str | None) -> None:
    assert rules.normalise_dialled(dialled, ("+8695000",)) == expected


def test_the_label_number_is_a_valid_relay_number_on_a_waybill() -> None:
    label = rules.label_number("+8695000", "0421")
    assert label == "+8695000转0421"
    assert check_phone(label, relay=True) == []
    assert check_phone(rules.dial_string("+8695000", "0421"), relay=True) == []


def test_mail_aliases_are_random_and_say_nothing() -> None:
    locals_ = {rules.new_mail_local() for _ in range(200)}
    assert len(locals_) == 200
    assert all(re.fullmatch(r"o-[a-z2-7]{16}", x) for x in locals_)
    assert rules.relay_domain(" Shop.Example. ") == "relay.shop.example"


def test_relay_addresses_are_parsed_strictly() -> None:
    domain = "relay.shop.example"
    local = rules.new_mail_local()
    assert rules.parse_relay_address(f"<{local.upper()}@RELAY.shop.example>", domain) == (
        rules.RelayAddress(local, None)
    )
    assert rules.parse_relay_address(f"{local}+c@{domain}", domain) == rules.RelayAddress(
        local, "c"
    )
    for other in (f"{local}@shop.example", f"{local}+x@{domain}", f"x{local}@{domain}",
                  f"{local[:-1]}@{domain}", "postmaster@relay.shop.example", local, ""):
        assert rules.parse_relay_address(other, domain) is None, other


# ------------------------------------------------------------------ rewriting a message
CONSUMER_MAIL = b"""\
Return-Path: <ZhangSan@example.com>
Received: from [192.168.31.7] (home-router.example.net [203.0.113.9])
\tby mx.example.com with ESMTPSA id 123 for <o-x@relay.shop.example>
Received: from localhost by mx.example.com
From: =?utf-8?b?5qyn6Ziz5aic5aic?= <ZhangSan@example.com>
Sender: ZhangSan@example.com
Reply-To: zhangsan@example.com
To: o-abcdefghijklmnop@relay.shop.example
Cc: friend@example.org
Subject: Re: your order, ZhangSan@example.com
Date: Sun, 29 Nov 2026 08:00:00 +0800
Message-ID: <CAF1234@mail.example.com>
In-Reply-To: <r1@relay.shop.example>
References: <orig@merchant.example> <r1@relay.shop.example>
X-Originating-IP: [203.0.113.9]
X-Mailer: HomeMail 3.1
DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; b=abc
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Yes, please send a new one.
Write to me at zhangsan@EXAMPLE.com any time.
"""


def test_a_reply_leaves_with_the_alias_and_nothing_of_the_sender() -> None:
    route = MailRoute(
        alias_id=uuid.uuid4(), event_id=1, direction=rules.Direction.FROM_SUBJECT,
        envelope_from="o-abcdefghijklmnop@relay.shop.example",
        from_display="Buyer of order 1234 via privguard relay",
        destination="service@merchant.example", hide=("ZhangSan@example.com",),
    )
    out = rewrite(CONSUMER_MAIL, route, "relay.shop.example")
    text = out.as_bytes().decode()
    assert "zhangsan@example.com" not in text.lower()
    for gone in ("203.0.113.9", "192.168.31.7", "home-router", "mx.example.com", "HomeMail",
                 "friend@example.org", "CAF1234", "orig@merchant.example", "DKIM",
                 "Received", "Return-Path", "Sender", "Reply-To", "X-Originating-IP"):
        assert gone not in text, gone
    (sender,) = out["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Buyer of order 1234 via privguard relay", "o-abcdefghijklmnop@relay.shop.example"
    )
    assert out["To"] == "service@merchant.example"
    assert out["In-Reply-To"] == "<r1@relay.shop.example>"
    assert out["References"] == "<r1@relay.shop.example>"
    assert out["Message-ID"].endswith("@relay.shop.example>")
    assert out["Subject"] == "Re: your order, o-abcdefghijklmnop@relay.shop.example"
    assert out["Date"] == "Sun, 29 Nov 2026 08:00:00 +0800"
    body = out.get_content()
    assert "Yes, please send a new one." in body
    assert "Write to me at o-abcdefghijklmnop@relay.shop.example any time." in body


def test_attachments_and_html_parts_survive_and_html_is_scrubbed() -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "Shop <service@merchant.example>"
    msg["Subject"] = "发票"
    msg.set_content("您好，发票见附件。 service@merchant.example")
    msg.add_alternative('<p>您好 <a href="mailto:service@merchant.example">联系</a></p>',
                        subtype="html")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf",
                       filename="invoice.pdf")
    route = MailRoute(
        alias_id=uuid.uuid4(), event_id=1, direction=rules.Direction.TO_SUBJECT,
        envelope_from="o-abcdefghijklmnop@relay.shop.example", from_display="甲果园旗舰店",
        destination="buyer@example.com", hide=("service@merchant.example",),
    )
    out = rewrite(msg.as_bytes(), route, "relay.shop.example")
    assert "service@merchant.example" not in out.as_string()
    parts = list(out.walk())
    html = next(p for p in parts if p.get_content_type() == "text/html").get_content()
    assert "mailto:o-abcdefghijklmnop@relay.shop.example" in html
    pdf = next(p for p in parts if p.get_content_type() == "application/pdf")
    assert pdf.get_filename() == "invoice.pdf" and pdf.get_content() == b"%PDF-1.4 fake"
    assert out["Subject"] == "发票"
    assert "甲果园旗舰店" in str(out["From"])
