"""HTTP route of the reports: the records of processing (officer, auditors, operators)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from privguard.api.deps import ActorDep, RuntimeDep, transaction
from privguard.api.errors import ErrorResponse
from privguard.clock import utcnow
from privguard.reports.render import render, ropa_report
from privguard.reports.schemas import ReportFormat, ReportLang, RopaOut
from privguard.reports.service import Reports

router = APIRouter(tags=["reports"])

MEDIA = {"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8",
         "pdf": "application/pdf"}


@router.get(
    "/v1/reports/ropa",
    response_model=RopaOut,
    responses={
        200: {"content": {m.split(";")[0]: {} for m in MEDIA.values()},
              "description": "JSON by default; HTML, Markdown or PDF with `format`."},
        401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."},
        403: {"model": ErrorResponse,
              "description": "Only the protection officer, operators and auditors."},
    },
    summary="Records of processing activities (GDPR Art. 30; PIPL Art. 55-56)",
)
def get_ropa(
    runtime: RuntimeDep,
    actor: ActorDep,
    format: ReportFormat = Query("json", description="json, html, md or pdf."),
    lang: ReportLang = Query("zh-CN", description="Language of html, md and pdf."),
) -> RopaOut | Response:
    """Generated now from the catalog, the policy, the notice config and the recipient
    registry: per processing activity (policy purpose) its legal basis, data subjects,
    personal information and retention, who can access it, recipients (entrusted or third
    party, country, cross-border), and the security measures in place."""
    with transaction(runtime) as session:
        document = Reports.from_runtime(runtime).ropa(session, actor, now=utcnow())
    if format == "json":
        return RopaOut.model_validate(document)
    body = render(ropa_report(document, lang), format)
    return Response(body, media_type=MEDIA[format], headers={
        "Cache-Control": "no-store",
        "Content-Disposition": f'inline; filename="ropa.{format}"',
    })
