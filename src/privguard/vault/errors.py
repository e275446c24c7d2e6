"""Errors the vault raises. None of them carries a personal-information value."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


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
