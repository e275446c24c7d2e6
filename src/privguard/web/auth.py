"""Signing in to the pages: argon2id passwords, TOTP for staff, throttling, server-side
sessions, CSRF tokens.

Consumers sign in with an account name and password; every other role also needs a TOTP code
(pyotp), because staff accounts reach other people's data. Failed attempts are counted per
account name and per client network, and too many lock that door for a while, so neither one
account nor a whole address range can be guessed at speed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from privguard.actors.models import Actor
from privguard.crypto.envelope import Sealer, new_data_key
from privguard.crypto.providers import KeyProvider
from privguard.crypto.tokens import LinkSigner
from privguard.policy.rules import ActorRef, Role
from privguard.web.models import LoginAttempt, WebAccount, WebSession

SESSION_LIFETIME = timedelta(hours=8)
IDLE_TIMEOUT = timedelta(minutes=30)
REAUTH_VALID = timedelta(minutes=5)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_LOGIN = 5
MAX_FAILURES_PER_NETWORK = 30
MIN_PASSWORD = 10

_HASHER = PasswordHasher()  # argon2id with the library's recommended parameters
# Verifying against this when the account does not exist keeps the time the same.
_DUMMY_HASH = _HASHER.hash("privguard-no-such-account")


class SignInRefused(Exception):
    """One message for every reason (unknown account, wrong password, wrong code), so the page
    does not tell a guesser which part was right."""

    def __init__(self, throttled: bool = False) -> None:
        self.throttled = throttled
        super().__init__("too many attempts: wait and try again" if throttled
                         else "account name, password or code not accepted")


class WeakPassword(ValueError):
    pass


def network_of(address: str | None) -> str:
    """The /24 (IPv4) or /48 (IPv6) a client is in: enough to throttle, not to identify."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _totp_context(actor_id: uuid.UUID) -> bytes:
    return f"privguard/web-totp/v1|{actor_id}".encode()


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class NewAccount:
    login: str
    totp_uri: str | None  # shown once, for the staff member's authenticator app


class WebAuth:
    def __init__(self, keys: KeyProvider) -> None:
        self.keys = keys
        self.csrf = LinkSigner(keys.blind_index_root(), "web-csrf")

    # ------------------------------------------------------------------ accounts
    def create_account(
        self, session: Session, actor_id: uuid.UUID, login: str, password: str, *,
        now: datetime, totp_secret: str | None = None,
    ) -> NewAccount:
        actor = session.get(Actor, actor_id)
        if actor is None:
            raise ValueError(f"no actor {actor_id}")
        if len(password) < MIN_PASSWORD:
            raise WeakPassword(f"a password needs at least {MIN_PASSWORD} characters")
        account = WebAccount(actor_id=actor_id, login=login.strip().lower(),
                             password_hash=_HASHER.hash(password), created_at=now)
        uri = None
        if Role(actor.role) is not Role.CONSUMER:
            secret = totp_secret or pyotp.random_base32()
            key = new_data_key()
            key_id, wrapped = self.keys.wrap(key, _totp_context(actor_id))
            account.totp_master_key_id, account.totp_wrapped_key = key_id, wrapped
            account.totp_sealed = Sealer(key).seal(secret.encode(), _totp_context(actor_id))
            uri = pyotp.TOTP(secret).provisioning_uri(name=account.login, issuer_name="privguard")
        session.add(account)
        session.flush()
        return NewAccount(account.login, uri)

    def _totp(self, account: WebAccount) -> pyotp.TOTP | None:
        if account.totp_sealed is None or account.totp_wrapped_key is None:
            return None
        key = self.keys.unwrap(account.totp_master_key_id or "", account.totp_wrapped_key,
                               _totp_context(account.actor_id))
        secret = Sealer(key).open(account.totp_sealed, _totp_context(account.actor_id))
        return pyotp.TOTP(secret.decode())

    # ------------------------------------------------------------------ signing in
    def _throttled(self, session: Session, login: str, network: str, now: datetime) -> bool:
        since = now - THROTTLE_WINDOW
        by_login = session.execute(
            select(func.count()).select_from(LoginAttempt).where(
                LoginAttempt.login == login, LoginAttempt.at >= since, LoginAttempt.ok.is_(False))
        ).scalar_one()
        by_network = session.execute(
            select(func.count()).select_from(LoginAttempt).where(
                LoginAttempt.network == network, LoginAttempt.at >= since,
                LoginAttempt.ok.is_(False))
        ).scalar_one()
        return by_login >= MAX_FAILURES_PER_LOGIN or by_network >= MAX_FAILURES_PER_NETWORK

    def sign_in(
        self, session: Session, login: str, password: str, code: str | None, *,
        client: str | None, now: datetime,
    ) -> tuple[str, ActorRef]:
        """A new session token (the cookie's value) and the actor; or SignInRefused. The
        attempt is recorded whatever happens, so the caller must commit on refusal too."""
        name = login.strip().lower()[:64]
        network = network_of(client)
        if self._throttled(session, name, network, now):
            session.add(LoginAttempt(login=name, network=network, at=now, ok=False))
            raise SignInRefused(throttled=True)
        account = session.execute(
            select(WebAccount).where(WebAccount.login == name)
        ).scalar_one_or_none()
        ok = False
        try:
            _HASHER.verify(account.password_hash if account else _DUMMY_HASH, password)
            ok = account is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        actor = session.get(Actor, account.actor_id) if account is not None and ok else None
        if actor is None or actor.disabled_at is not None:
            ok = False
        if ok and account is not None:
            totp = self._totp(account)
            if totp is not None:
                matched = _totp_step(totp, code, now)
                last = account.totp_last_step
                if matched is None or (last is not None and matched <= last):
                    ok = False
                else:
                    account.totp_last_step = matched  # a code signs in once
        session.add(LoginAttempt(login=name, network=network, at=now, ok=ok))
        if not ok or actor is None:
            raise SignInRefused()
        token = os.urandom(32).hex()
        session.add(WebSession(session_hash=_hash(token), actor_id=actor.actor_id,
                               created_at=now, last_seen=now,
                               expires_at=now + SESSION_LIFETIME))
        return token, _ref(actor)

    def resume(self, session: Session, token: str | None, now: datetime) -> (
        tuple[WebSession, ActorRef] | None
    ):
        """The signed-in actor of a cookie, or None (unknown, expired, idle, disabled)."""
        if not token or len(token) > 128:
            return None
        row = session.get(WebSession, _hash(token))
        if row is None or now >= row.expires_at or now - row.last_seen > IDLE_TIMEOUT:
            return None
        actor = session.get(Actor, row.actor_id)
        if actor is None or actor.disabled_at is not None:
            return None
        row.last_seen = now
        return row, _ref(actor)

    def reauthenticate(self, session: Session, row: WebSession, password: str,
                       now: datetime) -> bool:
        account = session.get(WebAccount, row.actor_id)
        try:
            _HASHER.verify(account.password_hash if account else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        row.reauth_at = now
        return account is not None

    @staticmethod
    def recently_reauthenticated(row: WebSession, now: datetime) -> bool:
        return row.reauth_at is not None and now - row.reauth_at <= REAUTH_VALID

    def sign_out(self, session: Session, token: str | None) -> None:
        if token:
            session.execute(delete(WebSession).where(WebSession.session_hash == _hash(token)))

    # ------------------------------------------------------------------ CSRF
    def csrf_token(self, token: str) -> str:
        return self.csrf.make(_hash(token).hex())

    def csrf_ok(self, token: str | None, submitted: str | None) -> bool:
        if not token or not submitted:
            return False
        return self.csrf.open(submitted) == _hash(token).hex()


def _totp_step(totp: pyotp.TOTP, code: str | None, now: datetime) -> int | None:
    """The 30-second step the code belongs to (now, or one step either side for clock
    drift), or None."""
    given = (code or "").strip()
    if not given.isdigit():
        return None
    step = int(now.timestamp()) // 30
    for candidate in (step - 1, step, step + 1):
        if hmac.compare_digest(totp.at(candidate * 30), given):
            return candidate
    return None


def _ref(actor: Actor) -> ActorRef:
    return ActorRef(actor.actor_id, Role(actor.role), actor.organisation_id,
                    actor.display_name, actor.subject_id)
