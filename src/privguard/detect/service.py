"""Tokenising detected PI into the vault, and the gate that turns a token back into its value.

``Tokens`` is built once per process (it holds the token key and the policy). For a request,
:meth:`Tokens.vault` gives a :class:`privguard.detect.operators.TokenVault` bound to that
request's session, actor and time, for the ``tokenise`` operator. Redacted text then carries
``<PHONE_NUMBER:tk_…>`` and the value sits sealed in ``detect_tokens``.

:meth:`Tokens.detokenise` is the only way back, and it works like the vault's gate (design.md
invariant 2): the policy decides for (actor's role, purpose, the catalog field that governs the
entity type, requested view); the decision is written to the access log whether it allows or
refuses; only then is the value decrypted, and shaped to the granted view (plain, or masked by
the catalog's masking rule). A token belongs to no subject, so only rules that need no
relationship can allow it: in the shipped policy, platform roles for their purposes (a
customer-service agent sees a masked phone for customer_support; the protection officer sees it
plain for legal_obligation); merchants, couriers and partners are refused.

Methods take the caller's session and never commit (store/uow.py).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from privguard.audit.service import log_access
from privguard.catalog.masking import MASKERS
from privguard.catalog.model import Catalog
from privguard.crypto.blind_index import BlindIndexer
from privguard.crypto.envelope import Sealer
from privguard.crypto.token_keys import detect_token_key
from privguard.detect.models import DetectToken
from privguard.detect.operators import Mask, normalise_value
from privguard.detect.rules import Finding
from privguard.policy.rules import Action, ActorRef, Decision, Facts, View
from privguard.policy.service import AccessPolicy
from privguard.vault.errors import AccessDenied, FieldError, InvalidPI

TOKENS = DetectToken.__table__
TOKEN_PATTERN = re.compile(r"tk_([0-9a-f]{32})")
TOKENISE_ACTION = "tokenise"
DETOKENISE_ACTION = "detokenise"

# The catalog field whose policy rules govern revealing a detected value of each type. Types
# with no field of their own borrow the closest one in kind and sensitivity: WeChat and QQ are
# online contact handles (like e-mail), a licence plate tracks whereabouts (PIPL Art. 28, like
# precise location), a USCC is an identity document of an organisation (strictest: like an ID).
ENTITY_FIELDS: dict[str, str] = {
    "PHONE_NUMBER": "mobile_phone",
    "CN_RESIDENT_ID": "resident_id",
    "BANK_CARD": "bank_card",
    "EMAIL_ADDRESS": "email",
    "IP_ADDRESS": "ip_address",
    "PASSPORT": "passport_number",
    "PERSON": "name",
    "ADDRESS": "shipping_addresses",
    "WECHAT_ID": "email",
    "QQ_NUMBER": "email",
    "CN_LICENSE_PLATE": "precise_location",
    "CN_USCC": "resident_id",
}
TOKENISE_DECISION = Decision(
    "*", View.PLAIN, "detect.tokenise", "detected PI sealed in the vault and replaced by a token"
)


def _aad(token_id: uuid.UUID, entity_type: str) -> bytes:
    return f"privguard/detect-token/v1|{token_id}|{entity_type}".encode()


def parse_token(token: str) -> uuid.UUID:
    """The id in ``tk_<32 hex>`` (also accepted inside ``<TYPE:tk_…>``)."""
    m = TOKEN_PATTERN.search(token or "")
    if m is None:
        raise InvalidPI([FieldError("token", "token.format", "must look like tk_ + 32 hex digits")])
    return uuid.UUID(hex=m.group(1))


@dataclass(frozen=True)
class Revealed:
    token: str
    entity_type: str
    view: View
    value: str
    rule: str


@dataclass
class BoundTokenVault:
    """A :class:`~privguard.detect.operators.TokenVault` for one unit of work."""

    tokens: Tokens
    session: Session
    now: datetime
    created: Counter[str] = field(default_factory=Counter)
    _seen: dict[tuple[str, bytes], str] = field(default_factory=dict)

    def tokenise(self, entity_type: str, value: str) -> str:
        digest = self.tokens.digest(entity_type, value)
        key = (entity_type, digest)
        found = self._seen.get(key)
        if found is None:
            found = self.tokens.store(self.session, entity_type, value, digest, self.now)
            self._seen[key] = found
            self.created[entity_type] += 1
        return found


class Tokens:
    """The token store and its gate; one per process (nothing here holds a session)."""

    def __init__(
        self,
        catalog: Catalog,
        access: AccessPolicy,
        index_root: bytes,
        indexer: BlindIndexer | None = None,
    ) -> None:
        self.catalog = catalog
        self.access = access
        self.indexer = indexer or BlindIndexer(index_root)
        self._sealer = Sealer(detect_token_key(index_root))

    # ------------------------------------------------------------------ tokenise
    def digest(self, entity_type: str, value: str) -> bytes:
        normalised = normalise_value(entity_type, value)
        return self.indexer.digest(f"detect-token:{entity_type}", normalised)

    def vault(self, session: Session, now: datetime) -> BoundTokenVault:
        return BoundTokenVault(self, session, now)

    def store(
        self, session: Session, entity_type: str, value: str, digest: bytes, now: datetime
    ) -> str:
        """The token of this value: an existing one when the same value was tokenised before
        (two concurrent first writers may each create one; both then decrypt to the value)."""
        conn = session.connection()
        existing = conn.execute(
            select(TOKENS.c.token_id)
            .where(TOKENS.c.entity_type == entity_type, TOKENS.c.digest == digest)
            .limit(1)
        ).scalar_one_or_none()
        if existing is not None:
            return f"tk_{existing.hex}"
        token_id = uuid.uuid4()
        sealed = self._sealer.seal(value.encode(), _aad(token_id, entity_type))
        conn.execute(
            TOKENS.insert(),
            {
                "token_id": token_id,
                "entity_type": entity_type,
                "digest": digest,
                "sealed": sealed,
                "created_at": now,
            },
        )
        return f"tk_{token_id.hex}"

    def log_tokenised(
        self,
        session: Session,
        actor: ActorRef,
        findings: list[Finding],
        purpose: str,
        now: datetime,
    ) -> None:
        """One access-log entry per request that sealed values, with counts by type."""
        if not findings:
            return
        log_access(
            session,
            actor=actor,
            subject_id=None,
            action=TOKENISE_ACTION,
            purpose=purpose,
            decisions=[TOKENISE_DECISION],
            now=now,
            detail={"entities": dict(Counter(f.entity_type for f in findings))},
        )

    # ------------------------------------------------------------------ the gate
    def detokenise(
        self,
        session: Session,
        actor: ActorRef,
        token: str,
        *,
        purpose: str,
        view: View,
        now: datetime,
    ) -> Revealed:
        """Decide, log, then decrypt: the value in the view the policy grants, or AccessDenied
        (logged before it is raised; the caller's unit of work commits the entry)."""
        token_id = parse_token(token)
        row = session.execute(
            select(TOKENS.c.entity_type, TOKENS.c.sealed).where(TOKENS.c.token_id == token_id)
        ).one_or_none()
        if row is None:
            raise InvalidPI([FieldError("token", "token.unknown", "no such token")])
        field_name = ENTITY_FIELDS.get(row.entity_type, "*")
        decision = self.access.policy.decide(
            actor.role, Action.READ, purpose, field_name, view, Facts()
        )
        log_access(
            session,
            actor=actor,
            subject_id=None,
            action=DETOKENISE_ACTION,
            purpose=purpose,
            decisions=[decision],
            now=now,
            detail={"token": str(token_id), "entity_type": row.entity_type},
        )
        if not decision.allowed:
            raise AccessDenied(decision.rule, decision.reason)
        value = self._sealer.open(row.sealed, _aad(token_id, row.entity_type)).decode()
        return Revealed(
            f"tk_{token_id.hex}", row.entity_type, decision.view,
            self._shape(field_name, decision.view, value), decision.rule,
        )

    def _shape(self, field_name: str, view: View, value: str) -> str:
        if view is View.PLAIN:
            return value
        spec = self.catalog.fields.get(field_name)
        rule = spec.masking if spec else "generic"
        masker = MASKERS.get(rule.removesuffix("_list"))
        shaped: Any = masker(value) if masker else None
        if isinstance(shaped, str) and shaped and shaped != value:
            return shaped
        return Mask().apply(value, Finding(0, len(value), "", 0.0))
