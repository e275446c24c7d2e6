"""Composition root: the one place that wires settings, engine, key provider and catalog.

Nothing is built at import; entry points (CLI, server, tests) call :func:`build_runtime`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property, partial

from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session, sessionmaker

from privguard.actors.auth_cache import AuthCache
from privguard.actors.auth_listener import install_local_invalidation
from privguard.audit.service import ACCESS_LOG
from privguard.cases.anomalies import count_alerts
from privguard.cases.evidence import RelayContacts
from privguard.cases.service import Cases, detector_redactor
from privguard.cases.supervision import Supervision
from privguard.catalog.loader import load_catalog
from privguard.catalog.model import Catalog
from privguard.config import Settings
from privguard.consent.decisions import ConsentCache
from privguard.consent.service import ConsentLedger
from privguard.crypto.errors import KeyringError
from privguard.crypto.keyring import Keyring, write_keyring_file
from privguard.crypto.providers import KeyProvider, provider_factory
from privguard.crypto.signing import LogSigner, log_signer
from privguard.detect.messages import Messages
from privguard.notify import build_notifier
from privguard.ops.metrics import GROUP_COMMIT_ROWS
from privguard.policy.loader import load_policy
from privguard.policy.rules import Policy
from privguard.policy.service import AccessPolicy
from privguard.rights.deadlines import DeadlineConfigError, due_dates, load_deadline_policies
from privguard.rights.fulfilment import Fulfilment
from privguard.rights.service import Rights, VerifiedRequests
from privguard.rights.verification import IdentityVerifier, Limits
from privguard.sharing.relay import relay_contacts
from privguard.sharing.service import Sharing
from privguard.store.engine import make_engine
from privguard.store.group_commit import GroupCommitter
from privguard.store.lazy_begin import lazy_begin_engine
from privguard.store.meta import get_meta
from privguard.store.migrate import schema_problem, upgrade
from privguard.store.tables import all_metadata
from privguard.store.uow import session_factory, unit_of_work
from privguard.vault.service import KEYRING_CHECK, Vault
from privguard.web.auth import WebAuth


class NotInitialised(RuntimeError):
    """The database schema is missing or out of date."""


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    catalog: Catalog
    keys: KeyProvider
    vault: Vault
    policy: Policy
    signer: LogSigner  # signs access-log tree heads (audit/sequencer.py)
    consent: ConsentLedger
    consent_cache: ConsentCache  # fast answers for services outside the gate
    rights: Rights
    verifier: IdentityVerifier  # codes for data-subject requests (rights/verification.py)
    fulfilment: Fulfilment  # carries out verified requests (rights/fulfilment.py)
    sharing: Sharing  # recipients, agreements, transfers (sharing/service.py)
    cases: Cases  # complaints and reports (cases/service.py)
    web_auth: WebAuth  # browser sign-in, sessions, CSRF (web/auth.py)
    messages: Messages  # order chats and notes, redacted before storage (detect/messages.py)
    supervision: Supervision  # merchants' compliance records and sanctions
    # (session, subject, since) -> relay contacts for the evidence view (sharing/relay.py)
    relay_contacts: RelayContacts | None = None
    # verified API keys, live only while a server's AuthChangeListener is (actors/auth_cache.py)
    auth_cache: AuthCache = field(default_factory=lambda: AuthCache(0.0))

    @cached_property
    def log_committer(self) -> GroupCommitter:
        """Writes concurrent API requests' lone access-log rows together
        (store/group_commit.py); used by :attr:`request_sessions` on PostgreSQL only."""
        return GroupCommitter(ACCESS_LOG, on_batch=GROUP_COMMIT_ROWS.observe)

    @cached_property
    def request_sessions(self) -> sessionmaker[Session]:
        """Sessions for the API's units of work. On PostgreSQL under READ COMMITTED their
        transaction begins at the first write, and a read whose only write is its log entry
        needs none (store/lazy_begin.py); elsewhere they are :attr:`sessions`. Made on first
        use, when the server is reachable: the dialect asks it for its isolation level."""
        lazy = lazy_begin_engine(self.engine)
        if lazy is None:
            return self.sessions
        return session_factory(lazy, committer=self.log_committer)

    def close(self) -> None:
        self.engine.dispose()


def build_keys(settings: Settings) -> KeyProvider:
    """The configured provider. Factories get every key setting as keywords and take what
    they need (see docs/keys.md for writing one)."""
    factory = provider_factory(settings.key_provider)
    return factory(key_file=settings.resolved_key_file, keyring=settings.keyring,
                   settings=settings)


def _rights(settings: Settings, catalog: Catalog) -> Rights:
    """Requests with the configured deadlines; an unknown default jurisdiction stops start-up."""
    policies = load_deadline_policies(settings.rights_deadlines)
    if settings.default_jurisdiction not in policies:
        raise DeadlineConfigError(
            f"PRIVGUARD_DEFAULT_JURISDICTION {settings.default_jurisdiction!r} has no deadlines; "
            "known: " + ", ".join(sorted(policies))
        )
    return Rights(
        catalog, partial(due_dates, policies=policies), frozenset(policies),
        settings.default_jurisdiction,
    )


def _verifier(
    settings: Settings, sessions: sessionmaker[Session], vault: Vault
) -> IdentityVerifier:
    """The configured notifier (PRIVGUARD_NOTIFIER; a bad SMTP setup stops start-up) and TTL."""
    notifier = build_notifier(settings, sessions=sessions, indexer=vault.indexer)
    limits = Limits(ttl=timedelta(seconds=settings.verification_ttl_seconds))
    return IdentityVerifier(notifier, vault.indexer, limits=limits)


def build_runtime(settings: Settings, *, check: bool = True) -> Runtime:
    """Wire everything. With ``check``, refuse a stale schema or a keyring of another database
    before serving a single request, so a wrong key file fails loudly and touches nothing."""
    all_metadata()  # every table class registered, so foreign keys between features resolve
    keys = build_keys(settings)
    catalog = load_catalog(settings.catalog_path)
    policy = load_policy(settings.policy_path, catalog)
    engine = make_engine(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    sessions = session_factory(engine)
    consent = ConsentLedger(policy, catalog)
    access = AccessPolicy(policy, consent=consent, requests=VerifiedRequests())
    vault = Vault(
        catalog,
        keys,
        access,
        default_region=settings.default_region,
    )
    sharing = Sharing(vault, policy, catalog, home=settings.default_region)
    access.agreements = sharing
    supervision = Supervision(anomalies=count_alerts)
    messages = Messages(vault)
    vault.change_listeners.append(messages.on_change)
    access.sanctions = supervision
    vault.disclosure_listeners.append(sharing.record_disclosure)
    vault.change_listeners.append(sharing.on_change)
    consent.withdrawal_hooks.append(sharing.on_withdrawal)
    rights = _rights(settings, catalog)
    runtime = Runtime(
        settings, engine, sessions, catalog, keys, vault, policy, log_signer(keys), consent,
        ConsentCache(consent, sessions, ttl=settings.consent_cache_seconds),
        rights,
        verifier=_verifier(settings, sessions, vault),
        fulfilment=Fulfilment(rights, vault, consent, policy),
        sharing=sharing,
        cases=Cases(keys, detector_redactor, on_resolved=[supervision.on_case_resolved]),
        supervision=supervision,
        web_auth=WebAuth(keys),
        messages=messages,
        relay_contacts=relay_contacts,
        auth_cache=AuthCache(settings.auth_cache_seconds),
    )
    install_local_invalidation()
    if check:
        try:
            problem = schema_problem(engine)
            if problem:
                raise NotInitialised(problem)
            with unit_of_work(sessions) as session:
                vault.check_keyring(session)
        except BaseException:
            engine.dispose()
            raise
    return runtime


def _database_has_keyring(settings: Settings) -> bool:
    """True when the database was initialised before (a keyring fingerprint is recorded)."""
    engine = make_engine(settings.resolved_database_url)
    try:
        if not inspect(engine).has_table("store_meta"):
            return False
        with unit_of_work(session_factory(engine)) as session:
            return get_meta(session, KEYRING_CHECK) is not None
    finally:
        engine.dispose()


@dataclass(frozen=True)
class InitReport:
    home: str
    database_url: str
    key_file: str | None
    created_key: bool


def initialise(settings: Settings, *, now: datetime) -> InitReport:
    """Create the data directory and master keyring (if missing), migrate, bind the keyring."""
    home = settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    created = False
    key_file = None
    if settings.key_provider == "file":
        path = settings.resolved_key_file
        key_file = str(path)
        if not path.exists():
            if _database_has_keyring(settings):
                raise KeyringError(
                    f"master key file {path} is missing but this database already holds data "
                    "encrypted under a keyring: restore the key file from your key backup "
                    "(a new keyring could not decrypt anything)"
                )
            write_keyring_file(path, Keyring.generate(now))
            created = True
    elif settings.key_provider == "env" and not settings.keyring:
        raise KeyringError("PRIVGUARD_KEYRING is empty; generate one with `privguard keys new`")
    runtime = build_runtime(settings, check=False)
    try:
        upgrade(runtime.engine)
        with unit_of_work(runtime.sessions) as session:
            runtime.vault.check_keyring(session)
            runtime.vault.record_keyring(session)
    finally:
        runtime.close()
    return InitReport(str(home), settings.resolved_database_url, key_file, created)
