"""Identity verification for data-subject requests: a one-time code to the contact on file.

Before privguard hands someone a copy of a person's data or deletes an account, it must know the
requester is that person (PIPL Art. 50 lets a handler verify identity; GB/T 35273-2020 8.7
asks for it before acting on a request; CCPA regs s. 7060 likewise). A code sent to the phone
number or e-mail address *already on file* proves control of that contact, which is what the
account itself rests on.

The rules, and why:

* The destination is read from the vault, through the gate, as a system actor for the purpose
  ``legal_obligation`` (so the read is in the access log like any other, design.md invariant 2).
  A caller can never supply a destination: "send the code to this new number" is exactly what an
  impostor would ask for.
* Six digits from :mod:`secrets`, valid 10 minutes (``PRIVGUARD_VERIFICATION_TTL_SECONDS``).
* Only an argon2id hash of the code is stored. Six digits are a million guesses, so a fast hash
  would be no protection for someone holding a copy of the table; the hashed input is also
  keyed by the keyring (a pepper derived like blind-index keys), so the table alone is useless.
* At most 5 attempts per code, then the challenge is dead; at most 3 codes per person per
  rolling hour, counting every code sent (a used or dead one still cost a message and gave 5
  guesses). So a guesser gets 15 tries an hour at a one-in-a-million chance each, and nobody
  can use privguard to flood a person's phone.
* A verified challenge is used up at once: a code proves one thing once.
* A wrong code is checked with argon2's verify, which takes the same time whatever the guess.
* Errors name the rule (``verification.expired`` ...) and show a destination only masked
  (``138****8000``), as the catalog masks it on screens.

Failures raise :class:`VerificationFailed`, an :class:`~privguard.vault.errors.AccessDenied`:
the API's transaction commits on those (api/deps.py), which is required here, because a wrong
code's attempt count must survive the refusal or a guesser would get unlimited tries. A caller
running its own unit of work must commit on :class:`VerificationFailed` too.

Pure parts (codes, expiry, attempts, rate limit) are plain functions with the time passed in
(design.md invariant 7); :class:`IdentityVerifier` applies them to the store.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from privguard.catalog.masking import MASKERS
from privguard.crypto.blind_index import BlindIndexer
from privguard.notify import CHANNELS, Notifier, send_after_commit
from privguard.policy.rules import ActorRef, Role, View
from privguard.rights.verification_models import VerificationChallenge
from privguard.vault.errors import AccessDenied, FieldError, InvalidPI, SubjectNotFound
from privguard.vault.models import Subject
from privguard.vault.service import Vault

CHALLENGES = VerificationChallenge.__table__
CODE_DIGITS = 6

RULE_EXPIRED = "verification.expired"
RULE_TOO_MANY_ATTEMPTS = "verification.too_many_attempts"
RULE_NO_CONTACT = "verification.no_contact_on_file"
RULE_RATE_LIMITED = "verification.rate_limited"
RULE_WRONG_CODE = "verification.wrong_code"
RULE_ALREADY_USED = "verification.already_used"
RULE_UNKNOWN = "verification.unknown_challenge"
RULE_MALFORMED = "verification.malformed_code"

# The contact is read through the gate like any other read, so it is logged (policy rule
# legal.admin lets a platform_admin read plain for a legal obligation).
VERIFIER = ActorRef(actor_id=None, role=Role.PLATFORM_ADMIN, display_name="identity verification")
CONTACT_PURPOSE = "legal_obligation"

_REQUEST_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_CODE_SEPARATORS = re.compile(r"[\s\-]+")
_LABELS = {"mobile_phone": "mobile phone number", "email": "e-mail address"}


# ---------------------------------------------------------------------------------- pure rules
@dataclass(frozen=True)
class Limits:
    """How long a code lives and how often one may be tried or sent."""

    ttl: timedelta = timedelta(minutes=10)
    max_attempts: int = 5
    per_window: int = 3
    window: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class ChallengeState:
    """What the rules need to know about a challenge (a row, or a test's literal)."""

    expires_at: datetime
    attempts: int
    max_attempts: int
    consumed: bool


def new_code() -> str:
    """Six digits, uniformly from the OS's CSPRNG (leading zeros kept: ``004213``)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def normalise_code(raw: object) -> str | None:
    """The code as typed, or ``None`` if it cannot be one.

    Full-width digits from a Chinese input method become ASCII (NFKC), and spaces or dashes
    a person adds to read the code more easily are dropped.
    """
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    text = _CODE_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    if len(text) != CODE_DIGITS or not all("0" <= ch <= "9" for ch in text):
        return None
    return text


def expiry(now: datetime, limits: Limits) -> datetime:
    return now + limits.ttl


def is_expired(state: ChallengeState, now: datetime) -> bool:
    """Expired from ``expires_at`` on: a code is valid for exactly ``ttl``, not a tick more."""
    return now >= state.expires_at


def attempts_left(state: ChallengeState) -> int:
    return max(0, state.max_attempts - state.attempts)


def refusal(state: ChallengeState, now: datetime) -> str | None:
    """The rule that stops a check before the code is even looked at, or ``None``.

    Used first (a verified code is spent whatever else is true), then attempts, then time.
    """
    if state.consumed:
        return RULE_ALREADY_USED
    if attempts_left(state) == 0:
        return RULE_TOO_MANY_ATTEMPTS
    if is_expired(state, now):
        return RULE_EXPIRED
    return None


def rate_limited_until(
    started: Iterable[datetime], now: datetime, limits: Limits
) -> datetime | None:
    """When the next code may be sent, or ``None`` if one may be sent now.

    ``started`` are the creation times of the subject's codes; those within the rolling
    ``window`` before ``now`` count. The next code is allowed once enough of them have left it.
    """
    recent = sorted(t for t in started if t > now - limits.window)
    if len(recent) < limits.per_window:
        return None
    return recent[len(recent) - limits.per_window] + limits.window


def message_text(code: str, ttl: timedelta) -> str:
    """The text sent: the code, how long it lasts, and the warning never to pass it on."""
    minutes = max(1, int(ttl.total_seconds()) // 60)
    return (
        f"【privguard】您的验证码是 {code}，{minutes} 分钟内有效。"
        "请勿告诉任何人，我们不会向您索要。"
        f" Your privguard verification code is {code}. It expires in {minutes} minutes."
        " Never share it; we will never ask you for it."
    )


# ---------------------------------------------------------------------------------- service
class VerificationFailed(AccessDenied):
    """A verification could not start or did not pass; ``rule`` says which rule stopped it."""

    code = "verification_failed"

    def __init__(
        self,
        rule: str,
        reason: str,
        *,
        attempts_left: int | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        super().__init__(rule, reason)
        self.attempts_left = attempts_left
        self.retry_at = retry_at


@dataclass(frozen=True)
class Challenge:
    """What the requester is told: where the code went (masked) and until when it works."""

    challenge_id: uuid.UUID
    channel: str
    masked_destination: str
    expires_at: datetime


class IdentityVerifier:
    """Starts and checks verification challenges. Holds no state of its own between calls.

    ``indexer`` supplies the keyed pepper (the vault's :class:`BlindIndexer`); ``hasher``
    defaults to argon2-cffi's argon2id profile (RFC 9106, low memory: 64 MiB, 3 passes).
    """

    def __init__(
        self,
        notifier: Notifier,
        indexer: BlindIndexer,
        *,
        limits: Limits | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.notifier = notifier
        self.limits = limits or Limits()
        self._indexer = indexer
        self._hasher = hasher or PasswordHasher()

    def _secret(self, challenge_id: uuid.UUID, code: str) -> str:
        """The hashed input: the code bound to its challenge, keyed by the keyring."""
        return self._indexer.digest("verification.code", f"{challenge_id}|{code}").hex()

    def start(
        self,
        session: Session,
        vault: Vault,
        subject_id: uuid.UUID,
        channel: str,
        request_ref: str | None,
        now: datetime,
    ) -> Challenge:
        """Send a new code to the subject's ``channel`` on file; the code leaves on commit."""
        if channel not in CHANNELS:
            raise InvalidPI(
                [
                    FieldError(
                        "channel",
                        "verification.unknown_channel",
                        "must be one of " + ", ".join(CHANNELS),
                    )
                ]
            )
        if request_ref is not None and not _REQUEST_REF.match(request_ref):
            raise InvalidPI(
                [
                    FieldError(
                        "request_ref",
                        "verification.bad_request_ref",
                        "must be an identifier of at most 64 letters, digits and . _ : -",
                    )
                ]
            )
        # Lock the subject so two concurrent starts cannot both pass the rate limit
        # (PostgreSQL; SQLite serialises writers already).
        found = session.execute(
            select(Subject.subject_id).where(Subject.subject_id == subject_id).with_for_update()
        ).first()
        if found is None:
            raise SubjectNotFound(subject_id)
        started = session.execute(
            select(CHALLENGES.c.created_at).where(
                CHALLENGES.c.subject_id == subject_id,
                CHALLENGES.c.created_at > now - self.limits.window,
            )
        ).scalars()
        until = rate_limited_until(started, now, self.limits)
        if until is not None:
            raise VerificationFailed(
                RULE_RATE_LIMITED,
                f"at most {self.limits.per_window} codes are sent to one person per "
                f"{_duration(self.limits.window)}; try again after {until:%Y-%m-%d %H:%M} UTC",
                retry_at=until,
            )

        result = vault.read(
            session,
            VERIFIER,
            subject_id,
            fields=[channel],
            purpose=CONTACT_PURPOSE,
            view=View.PLAIN,
            now=now,
        )
        value = result.values.get(channel)
        if value is None or not value.present or not value.value:
            raise VerificationFailed(
                RULE_NO_CONTACT,
                f"no {_LABELS[channel]} is on file for this person; verify through another "
                "channel or in person",
            )
        destination = str(value.value)

        challenge_id = uuid.uuid4()
        code = new_code()
        expires_at = expiry(now, self.limits)
        session.execute(
            CHALLENGES.insert().values(
                challenge_id=challenge_id,
                subject_id=subject_id,
                request_ref=request_ref,
                channel=channel,
                code_hash=self._hasher.hash(self._secret(challenge_id, code)),
                created_at=now,
                expires_at=expires_at,
                attempts=0,
                max_attempts=self.limits.max_attempts,
                verified_at=None,
                consumed=False,
            )
        )
        send_after_commit(
            session,
            self.notifier,
            channel,
            destination,
            message_text(code, self.limits.ttl),
            subject_id=subject_id,
        )
        masker = MASKERS[vault.catalog.fields[channel].masking]
        return Challenge(challenge_id, channel, str(masker(destination)), expires_at)

    def check(
        self,
        session: Session,
        challenge_id: uuid.UUID | str,
        code: str,
        now: datetime,
        *,
        subject_id: uuid.UUID | None = None,
        request_ref: str | None = None,
    ) -> bool:
        """True if ``code`` is right (and the challenge is now spent); raises otherwise.

        Pass the ``subject_id`` (and ``request_ref``) you are about to act on: a challenge for
        anyone or anything else then reads as unknown, so a person who verified their own
        account cannot present that proof for somebody else's request.
        """
        try:
            cid = challenge_id if isinstance(challenge_id, uuid.UUID) else uuid.UUID(challenge_id)
        except ValueError:
            raise _unknown() from None
        row = session.execute(
            select(CHALLENGES).where(CHALLENGES.c.challenge_id == cid).with_for_update()
        ).first()
        if (
            row is None
            or (subject_id is not None and row.subject_id != subject_id)
            or (request_ref is not None and row.request_ref != request_ref)
        ):
            raise _unknown()
        state = ChallengeState(row.expires_at, row.attempts, row.max_attempts, row.consumed)
        rule = refusal(state, now)
        if rule is not None:
            raise VerificationFailed(rule, _REASONS[rule], attempts_left=attempts_left(state))
        typed = normalise_code(code)
        if typed is None:  # cannot be right, so it costs no attempt
            raise VerificationFailed(
                RULE_MALFORMED,
                f"the code is {CODE_DIGITS} digits",
                attempts_left=attempts_left(state),
            )
        # Count the attempt before looking at the code: the count holds whatever happens next.
        attempts = row.attempts + 1
        session.execute(
            update(CHALLENGES).where(CHALLENGES.c.challenge_id == cid).values(attempts=attempts)
        )
        try:
            right = self._hasher.verify(row.code_hash, self._secret(cid, typed))
        except (VerificationError, InvalidHashError):
            right = False
        if not right:
            left = max(0, row.max_attempts - attempts)
            raise VerificationFailed(
                RULE_WRONG_CODE,
                f"the code is not right; {left} attempt{'s' if left != 1 else ''} left"
                + ("" if left else ", so start a new verification"),
                attempts_left=left,
            )
        session.execute(
            update(CHALLENGES)
            .where(CHALLENGES.c.challenge_id == cid)
            .values(verified_at=now, consumed=True)
        )
        return True


_REASONS = {
    RULE_ALREADY_USED: "this code was already used; start a new verification",
    RULE_TOO_MANY_ATTEMPTS: "too many wrong codes; start a new verification",
    RULE_EXPIRED: "the code has expired; start a new verification",
}


def _unknown() -> VerificationFailed:
    return VerificationFailed(RULE_UNKNOWN, "no such verification; start a new one")


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    if minutes % 60 == 0:
        hours = minutes // 60
        return "hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minutes"
