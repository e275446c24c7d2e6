"""Every error is JSON ``{"error": {"code", "message", "fields"?}}`` with a stable code.

No handler echoes request input: a rejected phone number is still personal information.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from privguard.actors.service import AuthenticationFailed, offered_token
from privguard.audit.proof import ProofUnavailable
from privguard.cases.rules import CaseTransitionRefused
from privguard.clock import utcnow
from privguard.consent.notices import NoticeNotFound
from privguard.consent.receipts import ReceiptNotFound
from privguard.crypto.errors import DecryptionError, KeyringError
from privguard.marketplace.errors import MarketplaceNotFound
from privguard.ops.ratelimit import retry_after
from privguard.rights.lifecycle import TransitionRefused
from privguard.rights.service import RequestNotFound
from privguard.rights.verification import VerificationFailed
from privguard.sharing.deid_rules import DeidError, SpecRefused
from privguard.sharing.dp import DPError
from privguard.vault.errors import (
    AccessDenied,
    Concealed,
    InvalidPI,
    SubjectErased,
    SubjectNotFound,
    VaultError,
)

log = logging.getLogger("privguard.api")


class FieldErrorOut(BaseModel):
    field: str
    rule: str
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: list[FieldErrorOut] | None = None
    rule: str | None = None
    retry_at: datetime | None = Field(
        default=None, description="With 429: when to try again (also in `Retry-After`)."
    )
    attempts_left: int | None = Field(
        default=None, description="A wrong verification code: tries left for this code."
    )


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"code": code, "message": message, **{k: v for k, v in extra.items() if v is not None}}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


STATUS = {
    Concealed: 404,  # before AccessDenied: it must read exactly like a missing resource
    InvalidPI: 422,
    SubjectNotFound: 404,
    SubjectErased: 410,
    AccessDenied: 403,
}


def _key_id(request: Request) -> str | None:
    """The id part of the API key offered (``pgk_…``, before the dot; never the secret)."""
    token = offered_token(request.headers)
    if not token:
        return None
    key_id = token.partition(".")[0]
    return key_id[:32] if key_id.startswith("pgk_") else "malformed"


def log_refusal(request: Request, status: int, code: str, rule: str | None) -> None:
    """One warning per refused request: who (actor and role when authenticated, else the key
    id offered), which route template, the status and the rule. No path, no body: ids are in
    the access log, values nowhere."""
    actor = getattr(request.state, "actor", None)
    route = getattr(request.scope.get("route"), "path_format", None) or "unmatched"
    who = (
        f"actor={actor.actor_id} role={actor.role.value}"
        if actor is not None
        else f"key={_key_id(request) or 'none'}"
    )
    log.warning(
        "refused %s %s: %d %s rule=%s %s", request.method, route, status, code, rule or "-", who
    )


def storage_full(exc: OperationalError | InterfaceError) -> bool:
    """SQLite's SQLITE_FULL or PostgreSQL's disk_full (SQLSTATE 53100)."""
    orig = exc.orig
    return (
        getattr(orig, "sqlite_errorname", None) == "SQLITE_FULL"
        or getattr(orig, "sqlstate", None) == "53100"
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VaultError)
    async def _vault(request: Request, exc: VaultError) -> JSONResponse:
        status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
        fields = [e.as_dict() for e in exc.errors] if isinstance(exc, InvalidPI) else None
        rule = (
            exc.rule
            if isinstance(exc, AccessDenied) and not isinstance(exc, Concealed)
            else None
        )
        headers, extra = None, {}
        if isinstance(exc, VerificationFailed):
            extra = {"attempts_left": exc.attempts_left}
            if exc.retry_at is not None:
                # Too many codes asked for (RFC 6585): when to ask again, as the API's own
                # rate limit says it (ops/ratelimit.py).
                status = 429
                wait = retry_after((exc.retry_at - utcnow()).total_seconds())
                headers = {"Retry-After": str(wait)}
                extra["retry_at"] = exc.retry_at.isoformat()
        if isinstance(exc, AccessDenied):
            # The server log names every refusal, including those decided by a route rather
            # than the gate (which also writes its own access-log entry).
            log_refusal(request, status, exc.code, getattr(exc, "rule", None))
        return error_response(status, exc.code, str(exc), headers, fields=fields, rule=rule,
                              **extra)

    @app.exception_handler(MarketplaceNotFound)
    @app.exception_handler(ReceiptNotFound)
    @app.exception_handler(RequestNotFound)
    async def _missing(
        request: Request, exc: MarketplaceNotFound | ReceiptNotFound | RequestNotFound
    ) -> JSONResponse:
        # Logged like a refusal: ids of orders, tickets, requests or receipts that are not the
        # caller's (or do not exist) are what an enumeration tries (issue 10).
        log_refusal(request, 404, exc.code, None)
        return error_response(404, exc.code, str(exc))

    @app.exception_handler(NoticeNotFound)
    async def _no_notice(request: Request, exc: NoticeNotFound) -> JSONResponse:
        log_refusal(request, 404, exc.code, None)
        return error_response(404, exc.code, str(exc))

    @app.exception_handler(ProofUnavailable)
    async def _proof(_: Request, exc: ProofUnavailable) -> JSONResponse:
        log.error("access log does not match its signed head: %s", exc)
        return error_response(
            503, "log_unverifiable",
            "the access log does not match its signed tree head; the operator has been told",
        )

    @app.exception_handler(DeidError)
    async def _deid(_: Request, exc: DeidError) -> JSONResponse:
        fields = (
            [{"field": exc.field, "rule": exc.rule, "message": str(exc)}]
            if isinstance(exc, SpecRefused)
            else None
        )
        return error_response(422, exc.code, str(exc), fields=fields)

    @app.exception_handler(DPError)
    async def _dp(_: Request, exc: DPError) -> JSONResponse:
        return error_response(422, getattr(exc, "code", "dp_error"), str(exc))

    @app.exception_handler(CaseTransitionRefused)
    async def _case_transition(_: Request, exc: CaseTransitionRefused) -> JSONResponse:
        return error_response(409, exc.code, str(exc))

    @app.exception_handler(TransitionRefused)
    async def _transition(_: Request, exc: TransitionRefused) -> JSONResponse:
        return error_response(409, exc.code, str(exc))

    @app.exception_handler(AuthenticationFailed)
    async def _auth(request: Request, exc: AuthenticationFailed) -> JSONResponse:
        log_refusal(request, 401, exc.code, None)
        return error_response(
            401, exc.code, str(exc), headers={"WWW-Authenticate": 'Bearer realm="privguard"'}
        )

    @app.exception_handler(RequestValidationError)
    async def _request(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            if err.get("type") == "json_invalid":
                loc = []  # the location is a character offset, not a field
            fields.append(
                {
                    "field": ".".join(loc) or "body",
                    "rule": f"request.{err.get('type', 'invalid')}",
                    "message": str(err.get("msg", "invalid")),
                }
            )
        return error_response(422, "invalid_request", "the request is not valid", fields=fields)

    @app.exception_handler(DecryptionError)
    async def _decrypt(_: Request, exc: DecryptionError) -> JSONResponse:
        log.error("decryption failed: stored data was altered or its key is missing")
        return error_response(500, "decryption_failed", str(exc))

    @app.exception_handler(KeyringError)
    async def _keyring(_: Request, exc: KeyringError) -> JSONResponse:
        log.error("keyring error: %s", exc)
        return error_response(500, "keyring_error", "the key provider failed")

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the request carried (PostgreSQL: a NUL character in
        # text, a number out of range): the transaction rolled back, nothing was written.
        log.warning("database refused a value: %s", type(exc.orig).__name__ if exc.orig else "")
        return error_response(
            422, "invalid_request", "the request is not valid",
            fields=[{"field": "body", "rule": "request.unstorable_value",
                     "message": "a value cannot be stored (for example a NUL character)"}],
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)  # a connection the server closed mid-request
    async def _database(_: Request, exc: OperationalError | InterfaceError) -> JSONResponse:
        # The database is unreachable or restarting: nothing was committed, retrying is safe.
        if storage_full(exc):
            log.error("database storage is full: writes fail until space is freed")
            return error_response(
                503, "storage_full",
                "the database's disk is full; nothing was written. Retry after the operator "
                "frees space",
                headers={"Retry-After": "60"},
            )
        log.error("database unavailable: %s", type(exc.orig).__name__ if exc.orig else "error")
        return error_response(
            503,
            "database_unavailable",
            "the database is unavailable; retry shortly",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Log the type only: an exception's text may quote the data it choked on.
        log.error("unexpected %s", type(exc).__name__)
        return error_response(500, "internal_error", "unexpected error; nothing was committed")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's "There was an error parsing the body": bytes that are not UTF-8, JSON
            # nested past the parser's recursion limit, a number too long to convert. It is
            # invalid input like any other, so it gets the same 422 shape.
            return error_response(
                422, "invalid_request", "the request is not valid",
                fields=[{"field": "body", "rule": "request.body_unreadable",
                         "message": "the body could not be read as JSON (UTF-8, not nested "
                         "too deeply, numbers of reasonable length)"}],
            )
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail))
