"""Every error is JSON ``{"error": {"code", "message", "fields"?}}`` with a stable code.

No handler echoes request input: a rejected phone number is still personal information.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from privguard.actors.service import AuthenticationFailed
from privguard.audit.proof import ProofUnavailable
from privguard.consent.notices import NoticeNotFound
from privguard.consent.receipts import ReceiptNotFound
from privguard.crypto.errors import DecryptionError, KeyringError
from privguard.marketplace.errors import MarketplaceNotFound
from privguard.rights.lifecycle import TransitionRefused
from privguard.rights.service import RequestNotFound
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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VaultError)
    async def _vault(_: Request, exc: VaultError) -> JSONResponse:
        status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
        fields = [e.as_dict() for e in exc.errors] if isinstance(exc, InvalidPI) else None
        rule = (
            exc.rule
            if isinstance(exc, AccessDenied) and not isinstance(exc, Concealed)
            else None
        )
        return error_response(status, exc.code, str(exc), fields=fields, rule=rule)

    @app.exception_handler(MarketplaceNotFound)
    @app.exception_handler(ReceiptNotFound)
    @app.exception_handler(RequestNotFound)
    async def _missing(
        _: Request, exc: MarketplaceNotFound | ReceiptNotFound | RequestNotFound
    ) -> JSONResponse:
        return error_response(404, exc.code, str(exc))

    @app.exception_handler(NoticeNotFound)
    async def _no_notice(_: Request, exc: NoticeNotFound) -> JSONResponse:
        return error_response(404, exc.code, str(exc))

    @app.exception_handler(ProofUnavailable)
    async def _proof(_: Request, exc: ProofUnavailable) -> JSONResponse:
        log.error("access log does not match its signed head: %s", exc)
        return error_response(
            503, "log_unverifiable",
            "the access log does not match its signed tree head; the operator has been told",
        )

    @app.exception_handler(TransitionRefused)
    async def _transition(_: Request, exc: TransitionRefused) -> JSONResponse:
        return error_response(409, exc.code, str(exc))

    @app.exception_handler(AuthenticationFailed)
    async def _auth(_: Request, exc: AuthenticationFailed) -> JSONResponse:
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

    @app.exception_handler(OperationalError)
    async def _database(_: Request, exc: OperationalError) -> JSONResponse:
        # The database is unreachable or restarting: nothing was committed, retrying is safe.
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
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail))
