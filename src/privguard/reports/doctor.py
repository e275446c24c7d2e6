"""``privguard doctor``: what a deployment gets wrong that privguard can see from the inside.

The upper half is pure: each ``check_*`` takes plain facts and returns findings, so every
severity and every fix is tested without a database. :func:`inspect` gathers the facts: the
settings, the key file's mode, the policy file, and the database (opened without the keyring,
so a key file with the wrong mode is reported instead of stopping the check).

What it cannot see it says so rather than guess: privguard serves plain HTTP and cannot tell
whether a proxy in front of it terminates TLS unless PRIVGUARD_PUBLIC_URL says how clients
reach it; and ``privguard audit verify`` records nothing, so the age of the last full
verification is unknown unless ``--verify`` runs one now.
"""

from __future__ import annotations

import ipaddress
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from privguard.policy.loader import Problem


class Severity(StrEnum):
    HIGH = "high"  # fix before serving customers; `privguard doctor` exits 1
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"  # what could not be checked, or worth knowing
    OK = "ok"  # the check ran and passed


ORDER = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2, Severity.INFO: 3, Severity.OK: 4}


@dataclass(frozen=True)
class Finding:
    check: str
    severity: Severity
    title: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "severity": self.severity.value, "title": self.title,
                "fix": self.fix}


def exit_code(findings: Iterable[Finding]) -> int:
    return 1 if any(f.severity is Severity.HIGH for f in findings) else 0


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: ORDER[f.severity])


# ------------------------------------------------------------------------------ pure checks
def check_key_file(provider: str, path: Path | None, mode: int | None) -> list[Finding]:
    """``mode``: the file's permission bits, None when it does not exist."""
    if provider != "file":
        return [Finding(
            "key_file", Severity.INFO,
            f"master keys come from the {provider!r} key provider, not a file: protect that "
            "secret store (for env, anyone who can read the process environment can read it)",
        )]
    if mode is None:
        return [Finding("key_file", Severity.HIGH, f"master key file {path} does not exist",
                        "restore it from your key backup, or run `privguard init` on a new "
                        "deployment")]
    if mode & 0o077:
        return [Finding("key_file", Severity.HIGH,
                        f"master key file {path} has mode {mode:o}: others can read it",
                        f"chmod 600 {path}")]
    return [Finding("key_file", Severity.OK, f"master key file {path} has mode {mode:o}")]


def check_home(path: Path, mode: int | None) -> list[Finding]:
    if mode is None or not mode & 0o077:
        return []
    return [Finding("key_file", Severity.MEDIUM,
                    f"data directory {path} has mode {mode:o}: others can list it",
                    f"chmod 700 {path}")]


def _loopback(host: str | None) -> bool:
    if not host or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_tls(
    *, public_url: str | None, host: str, database_url: str, notifier: str,
    smtp_starttls: bool,
) -> list[Finding]:
    """privguard itself speaks plain HTTP (uvicorn, no TLS settings): TLS belongs to a reverse
    proxy. What can be checked is what the settings say about it."""
    out: list[Finding] = []
    scheme = urlsplit(public_url).scheme.lower() if public_url else None
    if scheme == "https":
        out.append(Finding("tls", Severity.OK, f"clients reach the API at {public_url}"))
    elif scheme == "http" and not _loopback(urlsplit(public_url or "").hostname):
        out.append(Finding("tls", Severity.HIGH,
                           f"PRIVGUARD_PUBLIC_URL is {public_url}: API keys and personal "
                           "information would cross the network in clear",
                           "terminate TLS in a reverse proxy and set PRIVGUARD_PUBLIC_URL to "
                           "its https:// address"))
    elif not _loopback(host):
        out.append(Finding("tls", Severity.HIGH,
                           f"the server listens on {host} over plain HTTP and no https "
                           "PRIVGUARD_PUBLIC_URL says a TLS proxy is in front of it",
                           "listen on 127.0.0.1 behind a TLS-terminating proxy and set "
                           "PRIVGUARD_PUBLIC_URL=https://…"))
    else:
        out.append(Finding("tls", Severity.MEDIUM,
                           "cannot tell whether clients reach privguard over TLS: it serves "
                           "plain HTTP on loopback and PRIVGUARD_PUBLIC_URL is not set",
                           "put a TLS-terminating proxy in front and set "
                           "PRIVGUARD_PUBLIC_URL=https://…"))
    db = urlsplit(database_url)
    if db.scheme.startswith("postgresql") and not _loopback(db.hostname) and db.hostname:
        query = dict(p.split("=", 1) for p in db.query.split("&") if "=" in p)
        if query.get("sslmode") not in ("require", "verify-ca", "verify-full"):
            out.append(Finding("tls", Severity.MEDIUM,
                               f"the database at {db.hostname} is reached without "
                               "sslmode=require (or verify-full): ciphertext, keys' wrapping and "
                               "the access log may cross the network unencrypted",
                               "add ?sslmode=verify-full to PRIVGUARD_DATABASE_URL"))
    if notifier == "smtp" and not smtp_starttls:
        out.append(Finding("tls", Severity.MEDIUM,
                           "verification codes are mailed without STARTTLS",
                           "set PRIVGUARD_SMTP_STARTTLS=true"))
    return out


def check_credentials(
    *, demo_seeded: bool, demo_keys_active: int, public: bool
) -> list[Finding]:
    """The demo prints its API keys; they are default credentials anywhere but a laptop."""
    if demo_keys_active and not demo_seeded:
        return [Finding("credentials", Severity.HIGH,
                        f"{demo_keys_active} demo API keys are active in a database that is not "
                        "the demo marketplace",
                        "revoke them: `privguard actors revoke-key KEY_ID` for each key "
                        "labelled demo")]
    if demo_seeded and public:
        return [Finding("credentials", Severity.HIGH,
                        "this database is the demo marketplace (fake customers, keys printed "
                        f"on screen; {demo_keys_active} active) on what looks like a real "
                        "deployment",
                        "start production from an empty database with `privguard init`")]
    if demo_seeded:
        return [Finding("credentials", Severity.INFO,
                        f"demo marketplace database with {demo_keys_active} demo API keys "
                        "active: fine on a laptop, never deploy it")]
    return [Finding("credentials", Severity.OK, "no demo API key is active")]


def check_policy_lint(problems: Sequence[Problem]) -> list[Finding]:
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity != "error"]
    if errors:
        return [Finding("policy", Severity.HIGH,
                        f"the policy has {len(errors)} errors: " + "; ".join(map(str, errors[:3])),
                        "fix them; `privguard policy check` lists all")]
    if warnings:
        return [Finding("policy", Severity.LOW,
                        f"the policy loads with {len(warnings)} warnings, e.g. "
                        + "; ".join(map(str, warnings[:2])),
                        "review them with `privguard policy check`")]
    return [Finding("policy", Severity.OK, "the policy has no errors or warnings")]


def check_requests(overdue: int, due_soon: int) -> list[Finding]:
    out = []
    if overdue:
        out.append(Finding("requests", Severity.HIGH,
                           f"{overdue} data-subject requests are past their deadline",
                           "work the queue: `privguard requests queue --officer ID`"))
    if due_soon:
        out.append(Finding("requests", Severity.INFO,
                           f"{due_soon} data-subject requests are due within 3 days"))
    if not out:
        out.append(Finding("requests", Severity.OK, "no data-subject request is overdue"))
    return out


def check_assessments(
    unsigned: Sequence[tuple[str, str]], gate: Sequence[Problem], require_pia: bool
) -> list[Finding]:
    """``unsigned``: (assessment id, purpose) of drafts; ``gate``: the activation problems of
    the policy in force."""
    out = [
        Finding("pia", Severity.MEDIUM, f"impact assessment {aid} of {purpose} is not signed",
                f"answer it and sign it: `privguard report pia sign {aid} --officer ID`")
        for aid, purpose in unsigned
    ]
    if gate:
        purposes = sorted({p.where.removeprefix("purposes.") for p in gate})
        out.append(Finding(
            "pia", Severity.HIGH if require_pia else Severity.MEDIUM,
            f"{len(purposes)} processing activities that need an impact assessment have no "
            "signed one linked in the policy: " + ", ".join(purposes),
            "`privguard report pia new PURPOSE`, sign it, add `pia: <id>` to the purpose and "
            "`privguard policy activate FILE`; then set PRIVGUARD_REQUIRE_PIA=1",
        ))
    elif require_pia:
        out.append(Finding("pia", Severity.OK,
                           "every processing activity that needs an assessment has a signed one "
                           "(PRIVGUARD_REQUIRE_PIA=1)"))
    else:
        out.append(Finding("pia", Severity.LOW,
                           "every processing activity that needs an assessment has a signed "
                           "one, but PRIVGUARD_REQUIRE_PIA is off",
                           "set PRIVGUARD_REQUIRE_PIA=1 so a server refuses a policy without"))
    return out


RETENTION_EVERY = timedelta(days=2)  # run daily (docs/retention.md); a missed day is tolerated


def check_retention(
    *, available: bool, last_finished: datetime | None, unfinished_since: datetime | None,
    overdue_subjects: int, now: datetime,
) -> list[Finding]:
    if not available:
        return [Finding("retention", Severity.INFO,
                        "this database records no retention runs (no retention_runs table)",
                        "`privguard db upgrade`")]
    out = []
    if overdue_subjects:
        out.append(Finding("retention", Severity.HIGH,
                           f"{overdue_subjects} customers hold values more than a day past "
                           "their retention period (PIPL Art. 19)",
                           "`privguard retention run`, and schedule it daily"))
    if last_finished is None:
        out.append(Finding("retention", Severity.MEDIUM, "`privguard retention run` has never "
                           "finished on this database",
                           "schedule it daily (docs/retention.md: cron or a systemd timer)"))
    elif now - last_finished > RETENTION_EVERY:
        out.append(Finding("retention", Severity.MEDIUM,
                           f"the last retention run finished {_ago(now - last_finished)} ago",
                           "check the daily schedule of `privguard retention run`"))
    if unfinished_since is not None and now - unfinished_since > timedelta(days=1):
        out.append(Finding("retention", Severity.MEDIUM,
                           f"a retention run started {_ago(now - unfinished_since)} ago never "
                           "finished", "run `privguard retention run` again: it continues it"))
    if not out:
        out.append(Finding("retention", Severity.OK,
                           f"the last retention run finished {_ago(now - last_finished)} ago"
                           if last_finished else "retention runs are current"))
    return out


def check_audit(
    *, last_head: datetime | None, pending: int, oldest_pending: datetime | None, now: datetime,
    verified: tuple[bool | None, str] | None,
) -> list[Finding]:
    """``verified``: the result of a verification run now (intact? None when it could not
    run, message), or None when none was asked for."""
    out = []
    if oldest_pending is not None and now - oldest_pending > timedelta(hours=1):
        late = now - oldest_pending
        out.append(Finding(
            "audit", Severity.HIGH if late > timedelta(days=1) else Severity.MEDIUM,
            f"{pending} access-log entries are not covered by a signed tree head; the oldest "
            f"for {_ago(late)}: no sequencer is running",
            "run servers with PRIVGUARD_SEQUENCER_INTERVAL > 0, or schedule "
            "`privguard audit sequence`"))
    if last_head is not None:
        out.append(Finding("audit", Severity.OK if not out else Severity.INFO,
                           f"the last tree head was signed {_ago(now - last_head)} ago"))
    if verified is None:
        out.append(Finding("audit", Severity.INFO,
                           "when `privguard audit verify` last ran is not recorded, so the age "
                           "of the last verification is unknown",
                           "schedule `privguard audit verify` (alert on exit 1), or run "
                           "`privguard doctor --verify`"))
    elif verified[0] is None:
        out.append(Finding("audit", Severity.MEDIUM,
                           f"the access log could not be verified now: {verified[1]}",
                           "fix what stops it, then `privguard audit verify`"))
    elif verified[0]:
        out.append(Finding("audit", Severity.OK, f"the access log verified now: {verified[1]}"))
    else:
        out.append(Finding("audit", Severity.HIGH, f"the access log is NOT intact: {verified[1]}",
                           "stop and investigate (docs/access-log.md)"))
    return out


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{max(seconds // 60, 0)} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


# ------------------------------------------------------------------------------ gathering
def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


def inspect(settings: Any, *, now: datetime, verify: bool = False) -> list[Finding]:
    """Every check against this deployment. Never raises for what it finds: a part that
    cannot be inspected is a finding itself."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import Session

    from privguard.audit.verify import read_snapshot
    from privguard.catalog.loader import CatalogError, load_catalog
    from privguard.policy.check import check_policy
    from privguard.policy.loader import PolicyError, load_policy, shipped_policy_text
    from privguard.store.engine import make_engine
    from privguard.store.migrate import schema_problem

    out: list[Finding] = []
    key_file = settings.resolved_key_file if settings.key_provider == "file" else None
    out += check_key_file(settings.key_provider, key_file,
                          _mode(key_file) if key_file is not None else None)
    out += check_home(settings.resolved_home, _mode(settings.resolved_home))
    url = settings.resolved_database_url
    out += check_tls(public_url=settings.public_url, host=settings.host, database_url=url,
                     notifier=settings.notifier, smtp_starttls=settings.smtp_starttls)

    catalog = policy = None
    try:
        catalog = load_catalog(settings.catalog_path)
        path = settings.policy_path
        text = path.read_text("utf-8") if path else shipped_policy_text()
        out += check_policy_lint(check_policy(text, catalog, source=str(path or "shipped")))
        policy = load_policy(path, catalog)
    except (CatalogError, PolicyError, OSError) as exc:
        out.append(Finding("policy", Severity.HIGH, f"the catalog or policy does not load: {exc}",
                           "`privguard policy check`"))

    engine = make_engine(url)
    try:
        problem = schema_problem(engine)
        if problem:
            out.append(Finding("database", Severity.HIGH, problem))
            return ordered(out)
        verified = _verify(settings) if verify else None
        # One read-only snapshot: the checks see one state and never block a writer.
        with read_snapshot(engine) as conn, Session(bind=conn) as session:
            out += _database(session, settings, catalog, policy, now)
            out += _audit(session, now, verified)
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        out.append(Finding("database", Severity.HIGH, f"cannot inspect the database: {first}"))
    finally:
        engine.dispose()
    return ordered(out)


def _database(
    session: Any, settings: Any, catalog: Any, policy: Any, now: datetime
) -> list[Finding]:
    from sqlalchemy import func, select
    from sqlalchemy import inspect as sa_inspect

    from privguard.actors.models import ApiKey
    from privguard.marketplace.demo import DEMO_KEY_LABEL, SEEDED
    from privguard.reports.models import ImpactAssessment
    from privguard.reports.service import DRAFT, Reports
    from privguard.rights.deadlines import Urgency, urgency
    from privguard.rights.lifecycle import RequestState, is_open
    from privguard.rights.models import SubjectRequest
    from privguard.store.meta import get_meta
    from privguard.vault.models import Subject

    out: list[Finding] = []
    seeded = get_meta(session, SEEDED) is not None
    demo_keys = int(session.execute(
        select(func.count()).select_from(ApiKey)
        .where(ApiKey.label == DEMO_KEY_LABEL, ApiKey.revoked_at.is_(None))
    ).scalar_one())
    public = not _loopback(settings.host) or (
        bool(settings.public_url) and not _loopback(urlsplit(settings.public_url).hostname)
    )
    out += check_credentials(demo_seeded=seeded, demo_keys_active=demo_keys, public=public)

    open_states = [s.value for s in RequestState if is_open(s)]
    levels = [
        urgency(r, now)
        for r in session.execute(
            select(SubjectRequest).where(SubjectRequest.state.in_(open_states))
        ).scalars()
    ]
    out += check_requests(levels.count(Urgency.OVERDUE), levels.count(Urgency.DUE_SOON))

    drafts = [
        (str(a), p) for a, p in session.execute(
            select(ImpactAssessment.assessment_id, ImpactAssessment.purpose)
            .where(ImpactAssessment.status == DRAFT)
            .order_by(ImpactAssessment.created_at)
        ).all()
    ]
    gate: list[Problem] = []
    if catalog is not None and policy is not None:
        reports = Reports(catalog, policy, settings.notice_path,
                          settings.default_region.upper(), settings.key_provider,
                          settings.sequencer_interval)
        try:
            gate = reports.activation_problems(session, now=now)
        except ValueError as exc:  # an invalid notice config
            out.append(Finding("pia", Severity.HIGH,
                               f"the processing activities cannot be assessed: {exc}"))
    out += check_assessments(drafts, gate, settings.require_pia)

    available = sa_inspect(session.connection()).has_table("retention_runs")
    last = unfinished = None
    if available:
        from privguard.rights.retention_models import RetentionRun

        last = session.execute(select(func.max(RetentionRun.finished_at))).scalar()
        unfinished = session.execute(
            select(func.min(RetentionRun.started_at)).where(RetentionRun.finished_at.is_(None))
        ).scalar()
    overdue_subjects = int(session.execute(
        select(func.count()).select_from(Subject)
        .where(Subject.next_expiry <= now - timedelta(days=1))
    ).scalar_one())
    out += check_retention(available=available, last_finished=_aware(last),
                           unfinished_since=_aware(unfinished),
                           overdue_subjects=overdue_subjects, now=now)
    return out


def _audit(
    session: Any, now: datetime, verified: tuple[bool | None, str] | None
) -> list[Finding]:
    from sqlalchemy import func, select

    from privguard.audit.models import AccessLogEntry, TreeHead

    last_head = session.execute(select(func.max(TreeHead.signed_at))).scalar()
    pending, oldest = session.execute(
        select(func.count(), func.min(AccessLogEntry.at)).where(AccessLogEntry.seq.is_(None))
    ).one()
    return check_audit(last_head=_aware(last_head), pending=int(pending),
                       oldest_pending=_aware(oldest), now=now, verified=verified)


def _verify(settings: Any) -> tuple[bool | None, str]:
    """Run the full verification now, with this deployment's public key."""
    from privguard.audit.verify import read_snapshot, verify_log
    from privguard.bootstrap import build_runtime

    try:
        runtime = build_runtime(settings)
    except Exception as exc:  # the key file, the schema: reported above in their own words
        return None, f"{type(exc).__name__}: {exc}"
    try:
        with read_snapshot(runtime.engine) as conn:
            report = verify_log(conn, runtime.signer.public_key_bytes)
    finally:
        runtime.close()
    if report.problem is not None:
        return False, report.problem.message
    return True, (f"tree size {report.tree_size}, {report.heads_checked} heads, "
                  f"{report.pending} pending")


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
