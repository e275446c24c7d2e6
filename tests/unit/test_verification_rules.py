"""Identity verification's pure rules (codes, expiry, attempts, rate limit) and the notifiers
with fakes for the network (issue 5 item 2; docs/identity-verification.md)."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from privguard.config import Settings
from privguard.notify import NotifierError, build_notifier, notifier_factory
from privguard.notify.notifiers import (
    CallableSmsGateway,
    RoutingNotifier,
    SmsGateway,
    SmsNotifier,
    SmtpNotifier,
)
from privguard.rights import verification as v
from privguard.rights.verification import ChallengeState, Limits
from privguard.testing import RecordingNotifier
from privguard.vault.errors import AccessDenied

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
LIMITS = Limits()


def state(*, attempts: int = 0, consumed: bool = False, ttl: timedelta = LIMITS.ttl) -> Any:
    return ChallengeState(NOW + ttl, attempts, LIMITS.max_attempts, consumed)


# ---------------------------------------------------------------------------------- codes
def test_codes_are_six_digits_and_keep_leading_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    codes = {v.new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 190  # drawn at random, not a counter
    monkeypatch.setattr(v.secrets, "randbelow", lambda n: 4213)
    assert v.new_code() == "004213"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("004213", "004213"),
        (" 004 213 ", "004213"),
        ("004-213", "004213"),
        ("００４２１３", "004213"),  # full-width digits from a Chinese input method
        ("04213", None),
        ("0042130", None),
        ("00421a", None),
        ("٠٠٤٢١٣", None),  # other scripts' digits are not codes
        ("", None),
        (None, None),
        (4213, None),
        ("1" * 100, None),
    ],
)
def test_normalise_code(typed: object, expected: str | None) -> None:
    assert v.normalise_code(typed) == expected


def test_message_holds_the_code_the_lifetime_and_the_warning() -> None:
    text = v.message_text("004213", timedelta(minutes=10))
    assert text.count("004213") == 2 and "10 分钟" in text and "10 minutes" in text
    assert "Never share it" in text and "请勿告诉任何人" in text


# ---------------------------------------------------------------------------------- expiry
def test_a_code_is_valid_for_exactly_the_ttl() -> None:
    s = ChallengeState(v.expiry(NOW, LIMITS), 0, 5, False)
    assert s.expires_at == NOW + timedelta(minutes=10)
    assert not v.is_expired(s, NOW)
    assert not v.is_expired(s, NOW + timedelta(minutes=10) - timedelta(microseconds=1))
    assert v.is_expired(s, NOW + timedelta(minutes=10))
    assert v.refusal(s, NOW + timedelta(minutes=10)) == v.RULE_EXPIRED


def test_the_ttl_is_configurable() -> None:
    assert v.expiry(NOW, Limits(ttl=timedelta(seconds=120))) == NOW + timedelta(minutes=2)
    assert Settings(verification_ttl_seconds=120).verification_ttl_seconds == 120
    with pytest.raises(ValueError):
        Settings(verification_ttl_seconds=5)  # a code nobody could type in time


# ---------------------------------------------------------------------------------- attempts
def test_five_attempts_then_the_challenge_is_dead() -> None:
    for used in range(5):
        assert v.attempts_left(state(attempts=used)) == 5 - used
        assert v.refusal(state(attempts=used), NOW) is None
    assert v.attempts_left(state(attempts=5)) == 0
    assert v.refusal(state(attempts=5), NOW) == v.RULE_TOO_MANY_ATTEMPTS
    assert v.attempts_left(state(attempts=9)) == 0


def test_a_used_code_is_spent_whatever_else_is_true() -> None:
    assert v.refusal(state(consumed=True), NOW) == v.RULE_ALREADY_USED
    assert v.refusal(state(consumed=True, attempts=5), NOW) == v.RULE_ALREADY_USED
    dead_and_late = state(attempts=5)
    assert v.refusal(dead_and_late, NOW + timedelta(hours=1)) == v.RULE_TOO_MANY_ATTEMPTS


# ---------------------------------------------------------------------------------- rate limit
def test_three_codes_per_rolling_hour() -> None:
    t = [NOW - timedelta(minutes=m) for m in (50, 20, 5)]
    assert v.rate_limited_until([], NOW, LIMITS) is None
    assert v.rate_limited_until(t[1:], NOW, LIMITS) is None
    until = v.rate_limited_until(t, NOW, LIMITS)
    assert until == NOW + timedelta(minutes=10)  # when the one sent 50 minutes ago leaves
    assert v.rate_limited_until(t, until - timedelta(microseconds=1), LIMITS) == until
    assert v.rate_limited_until(t, until, LIMITS) is None


def test_codes_older_than_the_window_do_not_count() -> None:
    old = [NOW - timedelta(hours=1), NOW - timedelta(hours=2), NOW - timedelta(days=1)]
    assert v.rate_limited_until([*old, NOW - timedelta(minutes=1)], NOW, LIMITS) is None


def test_with_more_codes_than_allowed_the_wait_is_for_enough_of_them_to_leave() -> None:
    t = [NOW - timedelta(minutes=m) for m in (55, 40, 30, 10)]
    # Four in the window (the limit was lowered since they were sent): the next is allowed once
    # fewer than three are left in it, when the second oldest leaves.
    assert v.rate_limited_until(t, NOW, LIMITS) == NOW + timedelta(minutes=20)
    tighter = Limits(per_window=1, window=timedelta(minutes=15))
    assert v.rate_limited_until(t, NOW, tighter) == NOW + timedelta(minutes=5)


def test_failures_are_refusals_that_name_their_rule() -> None:
    exc = v.VerificationFailed(v.RULE_WRONG_CODE, "the code is not right", attempts_left=3)
    assert isinstance(exc, AccessDenied)  # so the API's transaction keeps the attempt count
    assert exc.rule == "verification.wrong_code" and exc.attempts_left == 3
    assert "verification.wrong_code" in str(exc)


# ---------------------------------------------------------------------------------- notifiers
class FakeSMTP:
    instances: ClassVar[list[FakeSMTP]] = []

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.calls: list[str] = []
        self.messages: list[Any] = []
        FakeSMTP.instances.append(self)

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *_: object) -> None:
        self.calls.append("quit")

    def starttls(self, context: Any = None) -> None:
        self.calls.append("starttls")

    def login(self, user: str, password: str) -> None:
        self.calls.append(f"login {user}")

    def send_message(self, msg: Any) -> None:
        self.messages.append(msg)


def smtp(**kw: Any) -> SmtpNotifier:
    return SmtpNotifier("smtp.example.com", "noreply@example.com", smtp_factory=FakeSMTP, **kw)


def test_smtp_sends_over_starttls_and_logs_in_after_it() -> None:
    FakeSMTP.instances.clear()
    n = smtp(username="mailer", password="s3cret")
    n.send("email", "zhang.san@example.com", "code 004213")
    (conn,) = FakeSMTP.instances
    assert (conn.host, conn.port) == ("smtp.example.com", 587)
    assert conn.calls == ["starttls", "login mailer", "quit"]
    (msg,) = conn.messages
    assert msg["To"] == "zhang.san@example.com" and msg["From"] == "noreply@example.com"
    assert msg.get_content().strip() == "code 004213"
    assert "s3cret" not in repr(n)


def test_smtp_errors_never_quote_the_address(caplog: pytest.LogCaptureFixture) -> None:
    FakeSMTP.instances.clear()

    class Refusing(FakeSMTP):
        def send_message(self, msg: Any) -> None:
            raise smtplib.SMTPRecipientsRefused({msg["To"]: (550, b"no such user")})

    n = SmtpNotifier("smtp.example.com", "noreply@example.com", smtp_factory=Refusing)
    with pytest.raises(NotifierError) as info:
        n.send("email", "zhang.san@example.com", "code 004213")
    assert "zhang.san" not in str(info.value) and info.value.__suppress_context__
    assert "SMTPRecipientsRefused" in str(info.value)
    assert "zhang.san" not in caplog.text


def test_smtp_refuses_bad_setups() -> None:
    with pytest.raises(NotifierError, match="STARTTLS"):
        smtp(username="mailer", password="x", starttls=False)
    with pytest.raises(NotifierError, match="PRIVGUARD_SMTP_HOST"):
        build_notifier(Settings(notifier="smtp"))
    with pytest.raises(NotifierError, match="e-mail only"):
        smtp().send("mobile_phone", "+8613800138000", "code")
    built = build_notifier(
        Settings(notifier="smtp", smtp_host="mail.example.com", smtp_from="a@example.com",
                 smtp_port=2525)
    )
    assert isinstance(built, SmtpNotifier) and built.port == 2525


def test_sms_goes_through_the_configured_function_and_routes_by_channel() -> None:
    texts: list[tuple[str, str]] = []
    gateway = CallableSmsGateway(lambda phone, text: texts.append((phone, text)))
    assert isinstance(gateway, SmsGateway)
    mail = RecordingNotifier()
    router = RoutingNotifier({"mobile_phone": SmsNotifier(gateway), "email": mail})
    router.send("mobile_phone", "+8613800138000", "code 1")
    router.send("email", "a@example.com", "code 2")
    assert texts == [("+8613800138000", "code 1")]
    assert mail.messages_to("a@example.com") == ["code 2"]
    with pytest.raises(NotifierError, match="no notifier"):
        RoutingNotifier({}).send("email", "a@example.com", "x")
    with pytest.raises(NotifierError, match="mobile phones only"):
        SmsNotifier(gateway).send("email", "a@example.com", "x")
    with pytest.raises(NotifierError):
        CallableSmsGateway("not a function")  # type: ignore[arg-type]


def test_unknown_notifier_names_the_known_ones() -> None:
    with pytest.raises(NotifierError, match="outbox, smtp"):
        notifier_factory("carrier-pigeon")
