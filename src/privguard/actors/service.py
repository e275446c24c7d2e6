"""Creating actors, issuing API keys and authenticating requests.

API keys are 256-bit random secrets, so a fast SHA-256 digest is enough to store them safely
(nobody can brute-force 2^256); a slow password hash such as Argon2 would add tens of
milliseconds to every request for no gain. Consumer passwords, which are guessable, are a
different matter and use Argon2 where they appear.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from privguard.actors.models import Actor, ApiKey
from privguard.policy.rules import ActorRef, Role

TOKEN_PREFIX = "pgk_"


class AuthenticationFailed(Exception):
    code = "unauthenticated"

    def __init__(self, reason: str = "missing, malformed, unknown or revoked API key") -> None:
        super().__init__(reason)


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    token: str  # shown once; only its digest is stored


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def create_actor(
    session: Session,
    *,
    display_name: str,
    role: Role,
    now: datetime,
    organisation_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
) -> Actor:
    actor = Actor(
        actor_id=actor_id or uuid.uuid4(),
        display_name=display_name,
        role=role.value,
        organisation_id=organisation_id,
        subject_id=subject_id,
        created_at=now,
    )
    session.add(actor)
    session.flush()
    return actor


def issue_api_key(
    session: Session, actor_id: uuid.UUID, *, now: datetime, label: str = ""
) -> IssuedKey:
    key_id = TOKEN_PREFIX + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            key_id=key_id,
            actor_id=actor_id,
            secret_hash=_digest(secret),
            label=label,
            created_at=now,
        )
    )
    session.flush()
    return IssuedKey(key_id=key_id, token=f"{key_id}.{secret}")


def revoke_api_key(session: Session, key_id: str, *, now: datetime) -> bool:
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = now
    return True


def offered_token(headers: Mapping[str, str]) -> str | None:
    """The API key a request offers: ``Authorization: Bearer …`` (scheme in any case), else
    ``X-API-Key``; None when neither carries one. The one reading of those headers, for
    authentication, the rate limit's bucket and the refusal log's key id alike."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else ""
    return token or headers.get("x-api-key", "").strip() or None


def parse_token(token: str) -> tuple[str, bytes]:
    """A token's key id and the digest of its secret (what ``api_keys`` stores), or
    :class:`AuthenticationFailed` when it cannot be a key of ours."""
    key_id, sep, secret = token.partition(".")
    if not sep or not key_id.startswith(TOKEN_PREFIX) or len(key_id) > 32 or not secret:
        raise AuthenticationFailed()
    return key_id, _digest(secret)


def authenticate(session: Session, token: str) -> ActorRef:
    """The actor behind a token, or :class:`AuthenticationFailed` (same error for every cause)."""
    return verify_key(session, *parse_token(token))


def verify_key(session: Session, key_id: str, secret_digest: bytes) -> ActorRef:
    """The actor behind a parsed token (:func:`parse_token`), or :class:`AuthenticationFailed`:
    for callers that parsed it already (the API's cache is keyed by the parse)."""
    row = session.execute(
        select(
            ApiKey.secret_hash,
            ApiKey.revoked_at,
            Actor.actor_id,
            Actor.role,
            Actor.organisation_id,
            Actor.display_name,
            Actor.subject_id,
            Actor.disabled_at,
        )
        .join(Actor, Actor.actor_id == ApiKey.actor_id)
        .where(ApiKey.key_id == key_id)
    ).one_or_none()
    # Compare against a dummy digest when the key is unknown so timing does not tell.
    expected = row.secret_hash if row is not None else _digest("privguard-no-such-key")
    matches = hmac.compare_digest(expected, secret_digest)
    if row is None or not matches or row.revoked_at is not None or row.disabled_at is not None:
        raise AuthenticationFailed()
    return ActorRef(
        actor_id=row.actor_id,
        role=Role(row.role),
        organisation_id=row.organisation_id,
        display_name=row.display_name,
        subject_id=row.subject_id,
    )
