"""Errors the vault raises. None of them carries a personal-information value."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")


def field_label(name: object) -> str:
    """A caller-supplied field name, fit to repeat in an error.

    Names that look like identifiers are echoed so integrators see their typo; anything else
    (a CSV file without a header puts a customer's phone number where the column name should
    be) is not, because it may be personal information.
    """
    text = str(name)
    return text if _NAME.match(text) else "(unrecognised field name)"


@dataclass(frozen=True)
class FieldError:
    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class VaultError(Exception):
    code = "vault_error"


class InvalidPI(VaultError):
    """One or more fields broke their rules; nothing was written."""

    code = "validation_failed"

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__(
            "; ".join(f"{e.field}: {e.message} [{e.rule}]" for e in errors) or "invalid input"
        )


class SubjectNotFound(VaultError):
    code = "subject_not_found"

    def __init__(self, subject_id: uuid.UUID) -> None:
        self.subject_id = subject_id
        super().__init__(f"no subject {subject_id}")


class SubjectErased(VaultError):
    code = "subject_erased"

    def __init__(self, subject_id: uuid.UUID) -> None:
        self.subject_id = subject_id
        super().__init__(f"subject {subject_id} was erased; its data keys are destroyed")


class AccessDenied(VaultError):
    code = "access_denied"

    def __init__(self, rule: str, reason: str) -> None:
        self.rule = rule
        self.reason = reason
        super().__init__(f"{reason} (rule {rule})")


class Concealed(AccessDenied):
    """A refusal the caller must not be able to tell from something that does not exist
    (tenant isolation). The access log records the real rule; the API answers 404 with the
    same code and message as for a missing resource, and no rule."""

    def __init__(self, code: str, message: str, rule: str, reason: str) -> None:
        super().__init__(rule, reason)
        self.code = code
        self.message = message
        self.args = (message,)

    def __str__(self) -> str:
        return self.message


class ConcealedRefusal(Concealed):
    """Reads exactly like :class:`SubjectNotFound`."""

    def __init__(self, subject_id: uuid.UUID, rule: str, reason: str) -> None:
        super().__init__(SubjectNotFound.code, f"no subject {subject_id}", rule, reason)
        self.subject_id = subject_id


class UnknownSubject(ConcealedRefusal, SubjectNotFound):
    """A read of an id that does not exist, after its refusal was logged: an
    :class:`AccessDenied` to the unit of work (so the log entry commits) and a
    :class:`SubjectNotFound` to every caller that handles a missing subject."""

    rule = "subject.unknown"

    def __init__(self, subject_id: uuid.UUID) -> None:
        super().__init__(subject_id, self.rule, "no such subject")
