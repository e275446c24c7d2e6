"""Consent state as a function of the ledger (PIPL Art. 14-16, 23, 31), without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from privguard.consent.rules import (
    Action,
    ConsentRecord,
    Kind,
    State,
    age_on,
    consented_purposes,
    current_states,
    is_minor,
)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
G, W = Action.GRANTED, Action.WITHDRAWN


def ev(target: str, action: Action, minutes: int, *, kind: Kind = Kind.PURPOSE,
       version: int | None = 1, expires: datetime | None = None) -> ConsentRecord:
    return ConsentRecord(kind.value, target, action, T0 + timedelta(minutes=minutes), version,
                         expires)


def states(*events: ConsentRecord, material=(), now: datetime = T0 + timedelta(days=1)):  # type: ignore[no-untyped-def]
    return current_states(events, list(material), now)


def test_the_last_answer_counts() -> None:
    s = states(ev("marketing_sms", G, 0), ev("marketing_sms", W, 1), ev("marketing_sms", G, 2))
    assert s["purpose:marketing_sms"].state is State.GRANTED
    s = states(ev("marketing_sms", G, 0), ev("marketing_sms", W, 1))
    assert s["purpose:marketing_sms"].state is State.WITHDRAWN
    assert s["purpose:marketing_sms"].since == T0 + timedelta(minutes=1)


def test_topics_are_independent() -> None:
    s = states(ev("marketing_sms", G, 0), ev("analytics", W, 1))
    assert consented_purposes(s, ["marketing_sms", "analytics", "marketing_email"], None) == {
        "marketing_sms"
    }


def test_expiry_is_the_end_of_consent() -> None:
    end = T0 + timedelta(hours=1)
    e = ev("analytics", G, 0, expires=end)
    before = states(e, now=end - timedelta(microseconds=1))
    assert before["purpose:analytics"].state is State.GRANTED
    assert states(e, now=end)["purpose:analytics"].state is State.EXPIRED


@pytest.mark.parametrize(
    ("given_under", "material", "expected"),
    [
        (1, [(2, frozenset({"purpose:marketing_sms"}))], State.SUSPENDED),
        (2, [(2, frozenset({"purpose:marketing_sms"}))], State.GRANTED),  # answered v2 itself
        (1, [(2, frozenset({"purpose:analytics"}))], State.GRANTED),  # other topic changed
        (None, [(1, frozenset({"purpose:marketing_sms"}))], State.SUSPENDED),  # no version known
    ],
)
def test_a_material_change_suspends_consents_given_before_it(
    given_under: int | None, material: list, expected: State
) -> None:
    s = states(ev("marketing_sms", G, 0, version=given_under), material=material)
    assert s["purpose:marketing_sms"].state is expected


def test_sharing_needs_the_named_recipients_own_consent() -> None:
    a, b = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    s = states(ev(a, G, 0, kind=Kind.THIRD_PARTY))
    assert consented_purposes(s, ["third_party_sharing"], a) == {"third_party_sharing"}
    assert consented_purposes(s, ["third_party_sharing"], b) == frozenset()
    assert consented_purposes(s, ["third_party_sharing"], None) == frozenset()
    # A general purpose-level grant names no recipient, so it is not enough...
    s = states(ev("third_party_sharing", G, 0))
    assert consented_purposes(s, ["third_party_sharing"], a) == frozenset()
    # ...but a general refusal (or a Sec-GPC opt-out) stops every recipient.
    s = states(ev(a, G, 0, kind=Kind.THIRD_PARTY), ev("third_party_sharing", W, 1))
    assert consented_purposes(s, ["third_party_sharing"], a) == frozenset()


@pytest.mark.parametrize(
    ("birth", "today", "age"),
    [
        (date(2012, 11, 30), date(2026, 11, 29), 13),
        (date(2012, 11, 29), date(2026, 11, 29), 14),
        (date(2012, 2, 29), date(2026, 2, 28), 13),  # a leap-day birthday comes on 1 March
        (date(2012, 2, 29), date(2026, 3, 1), 14),
    ],
)
def test_age_and_minority(birth: date, today: date, age: int) -> None:
    assert age_on(birth, today) == age
    assert is_minor(birth, today) is (age < 14)


def test_an_unknown_birth_date_is_not_a_minor() -> None:
    assert is_minor(None, date(2026, 11, 29)) is False


@pytest.mark.parametrize(
    ("text", "stop"),
    [("TD", True), (" td ", True), ("ＴＤ", True), ("退订", True), ("退订。", True),
     ("STOP", True), ("Unsubscribe!", True), ("好的", False), ("TD我要退款", False), ("", False)],
)
def test_unsubscribe_replies(text: str, stop: bool) -> None:
    from privguard.consent.unsubscribe import is_unsubscribe_reply

    assert is_unsubscribe_reply(text) is stop


def test_unsubscribe_links_cannot_be_forged_or_moved() -> None:
    import uuid

    from privguard.consent.unsubscribe import link_payload, parse_link_payload
    from privguard.crypto.tokens import LinkSigner

    signer = LinkSigner(b"k" * 32, "unsubscribe")
    sid = uuid.uuid4()
    token = signer.make(link_payload(sid, "email"))
    assert parse_link_payload(signer.open(token) or "") == (sid, "email")
    body = token.partition(".")[0]
    other = signer.make(link_payload(uuid.uuid4(), "email")).partition(".")[2]
    assert signer.open(f"{body}.{other}") is None  # a tag from another link
    assert LinkSigner(b"x" * 32, "unsubscribe").open(token) is None  # another deployment
    assert LinkSigner(b"k" * 32, "other").open(token) is None  # another kind of link
    assert signer.open("garbage") is None and signer.open("a.b") is None
