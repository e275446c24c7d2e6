"""``privguard doctor``'s checks as pure rules: each finding's severity and fix from plain facts
(PIPL Art. 51 security measures; the deployment, not the code). The same checks against a real
deployment are in tests/integration/test_reports.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from privguard.policy.loader import Problem
from privguard.reports import doctor as D
from privguard.reports.doctor import Severity

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
KEY = Path("/srv/privguard/master.key")


def severities(findings: list[D.Finding]) -> list[str]:
    return [f.severity.value for f in findings]


def test_the_key_file_must_be_readable_by_its_owner_only() -> None:
    [bad] = D.check_key_file("file", KEY, 0o644)
    assert bad.severity is Severity.HIGH and bad.fix == f"chmod 600 {KEY}"
    assert "mode 644" in bad.title
    assert severities(D.check_key_file("file", KEY, 0o640)) == ["high"]
    assert severities(D.check_key_file("file", KEY, 0o600)) == ["ok"]
    assert severities(D.check_key_file("file", KEY, 0o400)) == ["ok"]
    assert severities(D.check_key_file("file", KEY, None)) == ["high"]
    assert severities(D.check_key_file("env", None, None)) == ["info"]
    assert severities(D.check_home(Path("/srv/privguard"), 0o755)) == ["medium"]
    assert D.check_home(Path("/srv/privguard"), 0o700) == []


def _tls(**kw: object) -> list[str]:
    args = dict(public_url=None, host="127.0.0.1", database_url="sqlite:///x.db",
                notifier="outbox", smtp_starttls=True)
    return severities(D.check_tls(**{**args, **kw}))  # type: ignore[arg-type]


def test_tls_is_judged_from_what_the_settings_say() -> None:
    assert _tls(public_url="https://privacy.example.com") == ["ok"]
    assert _tls(public_url="http://privacy.example.com") == ["high"]
    assert _tls(public_url="http://127.0.0.1:8000") == ["medium"]  # local: cannot tell
    assert _tls() == ["medium"]
    assert _tls(host="0.0.0.0") == ["high"]
    assert _tls(host="0.0.0.0", public_url="https://privacy.example.com") == ["ok"]
    remote = "postgresql+psycopg://pg@db.internal:5432/privguard"
    assert _tls(public_url="https://x.example", database_url=remote) == ["ok", "medium"]
    assert _tls(public_url="https://x.example",
                database_url=remote + "?sslmode=verify-full") == ["ok"]
    assert _tls(public_url="https://x.example",
                database_url="postgresql+psycopg://pg@127.0.0.1/privguard") == ["ok"]
    assert _tls(public_url="https://x.example", notifier="smtp", smtp_starttls=False) == [
        "ok", "medium"]


def test_demo_keys_are_default_credentials_outside_a_laptop_demo() -> None:
    [f] = D.check_credentials(demo_seeded=False, demo_keys_active=9, public=False)
    assert f.severity is Severity.HIGH and "revoke-key" in f.fix
    assert severities(D.check_credentials(demo_seeded=True, demo_keys_active=9,
                                          public=True)) == ["high"]
    assert severities(D.check_credentials(demo_seeded=True, demo_keys_active=9,
                                          public=False)) == ["info"]
    assert severities(D.check_credentials(demo_seeded=False, demo_keys_active=0,
                                          public=True)) == ["ok"]


def test_policy_lint_errors_are_high_and_warnings_low() -> None:
    error = Problem("error", "rule x.y", "unknown field 'shoe_size'")
    warning = Problem("warning", "field gender", "no rule lets anyone read it")
    assert severities(D.check_policy_lint([error, warning])) == ["high"]
    assert severities(D.check_policy_lint([warning])) == ["low"]
    assert severities(D.check_policy_lint([])) == ["ok"]


def test_overdue_requests_are_high() -> None:
    [f] = D.check_requests(2, 0)
    assert f.severity is Severity.HIGH and "2 data-subject requests" in f.title
    assert severities(D.check_requests(0, 3)) == ["info"]
    assert severities(D.check_requests(0, 0)) == ["ok"]


def test_unsigned_assessments_and_the_gate() -> None:
    gate = [Problem("error", "purposes.delivery", "needs an impact assessment"),
            Problem("error", "purposes.fraud_detection", "pia x is not signed")]
    found = D.check_assessments([("a1", "delivery")], gate, require_pia=False)
    assert severities(found) == ["medium", "medium"]
    assert "a1 of delivery is not signed" in found[0].title
    assert "delivery, fraud_detection" in found[1].title
    assert severities(D.check_assessments([], gate, require_pia=True)) == ["high"]
    assert severities(D.check_assessments([], [], require_pia=True)) == ["ok"]
    assert severities(D.check_assessments([], [], require_pia=False)) == ["low"]


def _retention(**kw: object) -> list[str]:
    args = dict(available=True, last_finished=NOW - timedelta(hours=5),
                unfinished_since=None, overdue_subjects=0, now=NOW)
    return severities(D.check_retention(**{**args, **kw}))  # type: ignore[arg-type]


def test_retention_runs_must_be_recent_and_nothing_left_past_its_period() -> None:
    assert _retention() == ["ok"]
    assert _retention(available=False) == ["info"]
    assert _retention(last_finished=None) == ["medium"]
    assert _retention(last_finished=NOW - timedelta(days=3)) == ["medium"]
    assert _retention(overdue_subjects=4) == ["high"]
    assert _retention(unfinished_since=NOW - timedelta(days=2)) == ["medium"]
    assert _retention(unfinished_since=NOW - timedelta(hours=2)) == ["ok"]


def test_the_access_log_must_be_sequenced_and_verified() -> None:
    def audit(**kw: object) -> list[str]:
        args = dict(last_head=NOW - timedelta(seconds=5), pending=0, oldest_pending=None,
                    now=NOW, verified=(True, "tree size 10"))
        return severities(D.check_audit(**{**args, **kw}))  # type: ignore[arg-type]

    assert audit() == ["ok", "ok"]
    assert audit(verified=None) == ["ok", "info"]
    assert audit(verified=(False, "entry 3 changed")) == ["ok", "high"]
    assert audit(verified=(None, "KeyringError")) == ["ok", "medium"]
    assert audit(pending=7, oldest_pending=NOW - timedelta(hours=3))[0] == "medium"
    assert audit(pending=7, oldest_pending=NOW - timedelta(days=2))[0] == "high"
    assert audit(pending=7, oldest_pending=NOW - timedelta(minutes=5)) == ["ok", "ok"]


def test_exit_status_is_1_exactly_when_a_finding_is_high() -> None:
    low = D.Finding("x", Severity.MEDIUM, "t")
    assert D.exit_code([low, D.Finding("y", Severity.OK, "t")]) == 0
    assert D.exit_code([low, D.Finding("z", Severity.HIGH, "t")]) == 1
    assert [f.severity for f in D.ordered([low, D.Finding("z", Severity.HIGH, "t")])] == [
        Severity.HIGH, Severity.MEDIUM]
