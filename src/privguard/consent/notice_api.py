"""GET /v1/notice: the privacy notice, readable by anyone, before sign-up too (PIPL Art. 17:
the notice comes before any processing, so it cannot sit behind an account)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from privguard.api.deps import RuntimeDep
from privguard.api.errors import ErrorResponse
from privguard.consent.notice import render_notice
from privguard.consent.notice_schemas import NoticeOut
from privguard.consent.notices import NoticeVersionInfo, require_notice

router = APIRouter(prefix="/v1/notice", tags=["privacy notice"])

LocaleQ = Annotated[Literal["zh-CN", "en"], Query(description="Language of the rendered body.")]
FormatQ = Annotated[
    Literal["json", "markdown", "html"],
    Query(alias="format", description="json: the document; markdown or html: the rendered body."),
]
RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorResponse, "description": "No notice published (yet), or no such version."}
}


def _out(info: NoticeVersionInfo, locale: str, fmt: str) -> NoticeOut:
    out = NoticeOut(
        version=info.version,
        content_hash=info.content_hash,
        published_at=info.published_at,
        material=info.material,
        affected=sorted(info.affected),
        locale=locale,
        format=fmt,
    )
    if fmt == "json":
        out.document = dict(info.document)
    else:
        out.body = render_notice(
            info.document,
            "en" if locale == "en" else "zh-CN",
            "html" if fmt == "html" else "markdown",
            version=info.version,
            published_at=info.published_at,
            content_hash_hex=info.content_hash,
        )
    return out


@router.get("", response_model=NoticeOut, responses=RESPONSES, summary="The notice in force")
def latest(
    runtime: RuntimeDep,
    response: Response,
    locale: LocaleQ = "zh-CN",
    fmt: FormatQ = "json",
) -> NoticeOut:
    """The latest published version. No API key needed. Consents are answered against it
    (quote its `version`)."""
    with runtime.sessions() as session:
        info = require_notice(session)
    # It changes only when a new version is published: a short cache spares the database.
    response.headers["Cache-Control"] = "public, max-age=60"
    return _out(info, locale, fmt)


@router.get(
    "/{version}", response_model=NoticeOut, responses=RESPONSES, summary="One notice version"
)
def one_version(
    runtime: RuntimeDep,
    response: Response,
    version: Annotated[int, Path(ge=1)],
    locale: LocaleQ = "zh-CN",
    fmt: FormatQ = "json",
) -> NoticeOut:
    """A published version exactly as it was, e.g. the one a consumer consented under.
    No API key needed."""
    with runtime.sessions() as session:
        info = require_notice(session, version)
    response.headers["Cache-Control"] = "public, max-age=3600"  # a version never changes
    return _out(info, locale, fmt)
