"""HTTP routes: scan and redact free text (one text or a batch), and reveal a token through
the gate.

Who may call: scanning and redacting are for the platform's own roles that process customers'
free text (customer_service, platform_admin, privacy_officer, analyst); ``tokenise`` stores
values in the vault, so it is for customer_service, platform_admin and privacy_officer only.
Consumers, merchants, couriers, marketing, auditors and partners are refused (403, rule
``detect.role``): text reaches them already redacted. Revealing a token is open to every
authenticated actor because the policy decides it per (role, purpose, field) and logs it, as
the vault's gate does. Findings hold positions, never values; responses are not logged.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from privguard.api.deps import ActorDep, RuntimeDep, transaction
from privguard.api.errors import ErrorResponse
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.detect import default_detector
from privguard.detect.operators import Operator, operator_by_name, redact_with
from privguard.detect.rules import Finding
from privguard.detect.schemas import (
    DetokeniseRequest,
    DetokeniseResult,
    FindingOut,
    RedactBatchRequest,
    RedactBatchResult,
    RedactOptions,
    RedactRequest,
    RedactResult,
    ScanBatchRequest,
    ScanBatchResult,
    ScanRequest,
    ScanResult,
)
from privguard.detect.service import Tokens
from privguard.policy.rules import ActorRef, Role, View
from privguard.vault.errors import AccessDenied, FieldError, InvalidPI

router = APIRouter(prefix="/v1/detect", tags=["detect"])

SCAN_ROLES = frozenset(
    {Role.CUSTOMER_SERVICE, Role.PLATFORM_ADMIN, Role.PRIVACY_OFFICER, Role.ANALYST}
)
TOKENISE_ROLES = frozenset({Role.CUSTOMER_SERVICE, Role.PLATFORM_ADMIN, Role.PRIVACY_OFFICER})
ROLE_RULE = "detect.role"

ERRORS = {
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."},
    403: {"model": ErrorResponse, "description": "This role may not call it (rule detect.role)."},
    422: {"model": ErrorResponse, "description": "Invalid input; `fields` names field and rule."},
}


def _require(actor: ActorRef, roles: frozenset[Role], what: str) -> None:
    if actor.role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise AccessDenied(ROLE_RULE, f"{what} is for {allowed}, not {actor.role.value}")


def tokens_of(request: Request, runtime: Runtime) -> Tokens:
    """The process's token store, built on first use."""
    tokens = getattr(request.app.state, "detect_tokens", None)
    if tokens is None:
        tokens = Tokens(
            runtime.catalog, runtime.vault.access, runtime.keys.blind_index_root(),
            runtime.vault.indexer,
        )
        request.app.state.detect_tokens = tokens
    return tokens


def _out(findings: list[Finding]) -> list[FindingOut]:
    return [FindingOut(entity_type=f.entity_type, start=f.start, end=f.end, score=f.score)
            for f in findings]


@router.post("/scan", response_model=ScanResult, responses=ERRORS, summary="Find PI in a text")
def scan(body: ScanRequest, actor: ActorDep) -> ScanResult:
    """Positions (Python string indices, i.e. Unicode code points) and types of the PI found."""
    _require(actor, SCAN_ROLES, "scanning")
    return ScanResult(findings=_out(default_detector().scan(body.text, body.lang,
                                                            entities=body.entities)))


@router.post(
    "/scan/batch", response_model=ScanBatchResult, responses=ERRORS, summary="Find PI in texts"
)
def scan_batch(body: ScanBatchRequest, actor: ActorDep) -> ScanBatchResult:
    """One result per text, in order (at most 1,000 texts)."""
    _require(actor, SCAN_ROLES, "scanning")
    detector = default_detector()
    return ScanBatchResult(
        results=[ScanResult(findings=_out(detector.scan(t, body.lang, entities=body.entities)))
                 for t in body.texts]
    )


def _redact_all(
    texts: list[str], opts: RedactOptions, request: Request, runtime: Runtime, actor: ActorRef
) -> list[RedactResult]:
    _require(actor, SCAN_ROLES, "redaction")
    detector = default_detector()
    found = [detector.scan(t, opts.lang, entities=opts.entities) for t in texts]
    if opts.operator != "tokenise":
        op: Operator = operator_by_name(
            opts.operator, keep_suffix=opts.keep_suffix, digester=runtime.vault.indexer
        )
        return [RedactResult(text=redact_with(t, f, op), findings=_out(f))
                for t, f in zip(texts, found, strict=True)]
    _require(actor, TOKENISE_ROLES, "tokenising")
    if opts.purpose is None:
        raise InvalidPI([FieldError("purpose", "required", "tokenise needs a purpose")])
    tokens = tokens_of(request, runtime)
    now = utcnow()
    with transaction(runtime) as session:
        vault = tokens.vault(session, now)
        op = operator_by_name("tokenise", vault=vault)
        results = [RedactResult(text=redact_with(t, f, op), findings=_out(f))
                   for t, f in zip(texts, found, strict=True)]
        tokens.log_tokenised(session, actor, [x for f in found for x in f], opts.purpose, now)
    return results


@router.post("/redact", response_model=RedactResult, responses=ERRORS, summary="Redact a text")
def redact(
    body: RedactRequest, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> RedactResult:
    """The text with each finding replaced by the operator's output; findings index the text
    as sent. ``tokenise`` seals the values in the vault in one transaction (logged)."""
    return _redact_all([body.text], body, request, runtime, actor)[0]


@router.post(
    "/redact/batch", response_model=RedactBatchResult, responses=ERRORS, summary="Redact texts"
)
def redact_batch(
    body: RedactBatchRequest, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> RedactBatchResult:
    """One result per text, in order; with ``tokenise`` all texts share one transaction."""
    return RedactBatchResult(results=_redact_all(body.texts, body, request, runtime, actor))


@router.post(
    "/detokenise",
    response_model=DetokeniseResult,
    responses=ERRORS,
    summary="Reveal a token through the gate",
)
def detokenise(
    body: DetokeniseRequest, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> DetokeniseResult:
    """The policy decides for your role, the purpose and the catalog field that governs the
    token's type; the decision is logged (also a refusal, 403 with its rule) before anything is
    decrypted; the value comes in the view granted (plain or masked)."""
    tokens = tokens_of(request, runtime)
    with transaction(runtime) as session:
        shown = tokens.detokenise(
            session, actor, body.token, purpose=body.purpose, view=View(body.view), now=utcnow()
        )
    return DetokeniseResult(
        token=shown.token, entity_type=shown.entity_type, view=shown.view.value,
        value=shown.value, rule=shown.rule,
    )
