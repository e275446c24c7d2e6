"""The server-rendered pages: sign-in, the consumer's privacy center, the compliance console.

Every page reads through the same services and the same gate as the API, as the signed-in
actor, so a page can show no more than that actor's API key would get. Output is escaped by
Jinja2's autoescape; every POST carries a CSRF token; every response carries a strict
Content-Security-Policy (no inline script or style, nothing from another origin).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from privguard.cases.rules import CaseTransitionRefused
from privguard.clock import utcnow
from privguard.consent.notices import NoticeNotFound
from privguard.marketplace.errors import MarketplaceNotFound
from privguard.policy.rules import ActorRef, Role, View
from privguard.rights.lifecycle import TransitionRefused
from privguard.rights.service import RequestNotFound
from privguard.store.uow import unit_of_work
from privguard.vault.errors import (
    AccessDenied,
    Concealed,
    InvalidPI,
    SubjectErased,
    SubjectNotFound,
)
from privguard.web.auth import SignInRefused
from privguard.web.i18n import LOCALES, negotiate, translations
from privguard.web.models import WebSession

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "pg_session"
PRE_CSRF_COOKIE = "pg_presession"
LANG_COOKIE = "pg_lang"
MAX_FORM = 64 * 1024

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # pages hold personal information: never cached
}
CONSOLE_ROLES = frozenset({Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN, Role.AUDITOR})
# Who may act in the console: the auditor reads, the officer and operators act (the services
# refuse the auditor too; the pages do not even offer the forms).
OFFICER_ROLES = frozenset({Role.PRIVACY_OFFICER, Role.PLATFORM_ADMIN})
CONSUMER = frozenset({Role.CONSUMER})
# Times are shown in the platform's zone (the deadlines are computed in it too).
PAGE_ZONE = ZoneInfo("Asia/Shanghai")


def N_(message: str) -> str:
    """Marks a string for the catalogs without translating it here (babel's extractor and the
    catalog test find it); the page translates it when shown."""
    return message


# What a successful form says after its redirect (``?ok=<code>``): codes, never values, in URLs.
NOTICES = {
    "consent_granted": N_("Your consent is recorded."),
    "consent_withdrawn": N_("Your consent is withdrawn. It applies from now on."),
    "request_filed": N_("Your request is filed. Verify that it is you to start it."),
    "request_verified": N_("Thank you: your identity is verified and your request is in work."),
    "request_withdrawn": N_("Your request is withdrawn."),
    "complaint_filed": N_("Your complaint is filed. You can follow it here."),
    "info_added": N_("Your information is added to the case."),
    "alias_revoked": N_("The alias is revoked: nobody can reach you through it any more."),
    "done": N_("Done."),
}
router = APIRouter(include_in_schema=False)
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def display(value: Any) -> str:
    """A field's value as one line of text: structured values (addresses) joined in order."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return " ".join(display(v) for k, v in value.items() if k != "postal_code" and v)
    if isinstance(value, list | tuple):
        return "; ".join(display(v) for v in value)
    return str(value)


def when(value: datetime | None) -> str:
    """A moment in the platform's zone, to the minute."""
    if value is None:
        return ""
    return value.astimezone(PAGE_ZONE).strftime("%Y-%m-%d %H:%M")


def day(value: datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(PAGE_ZONE).date()
    return value.isoformat()


def short(value: object) -> str:
    """The first part of an id: enough to tell rows apart on a screen."""
    return str(value)[:8] if value is not None else ""


_env.filters["display"] = display
_env.filters["when"] = when
_env.filters["day"] = day
_env.filters["short"] = short
_env.filters["labelled"] = lambda names, labels: [labels.get(n, n) for n in names]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _cookie(response: Response, request: Request, name: str, value: str,
            max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=_secure(request), path="/")


@dataclass
class Page:
    """What one request knows: its runtime, language, and the signed-in session if any."""

    request: Request
    runtime: Any
    lang: str
    token: str | None = None
    row: WebSession | None = None
    actor: ActorRef | None = None
    # A refused form renders its page again with what went wrong (see :func:`act`).
    status: int = 200
    error: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def gettext(self) -> Callable[[str], str]:
        return translations(self.lang).gettext

    def render(self, template: str, status_code: int | None = None, **ctx: Any) -> HTMLResponse:
        csrf = (self.runtime.web_auth.csrf_token(self.token) if self.token
                else self.request.cookies.get(PRE_CSRF_COOKIE) or secrets.token_urlsafe(24))
        ok = NOTICES.get(self.request.query_params.get("ok", ""))
        ctx.setdefault("error", self.error)
        ctx.setdefault("problems", self.problems)
        html = _env.get_template(template).render(
            _=self.gettext, lang=self.lang, locales=LOCALES, actor=self.actor, csrf=csrf,
            path=self.request.url.path, flash=self.gettext(ok) if ok else None,
            is_officer=self.actor is not None and self.actor.role in OFFICER_ROLES, **ctx,
        )
        status = status_code if status_code is not None else self.status
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        if not self.token and PRE_CSRF_COOKIE not in self.request.cookies:
            _cookie(response, self.request, PRE_CSRF_COOKIE, csrf)
        if self.request.query_params.get("lang") in LOCALES:
            _cookie(response, self.request, LANG_COOKIE, self.lang, max_age=365 * 86400)
        return response


def redirect(to: str, ok: str | None = None) -> RedirectResponse:
    """303 to a page; ``ok`` names the notice it shows (a code from NOTICES, never a value)."""
    if ok is not None:
        to += ("&" if "?" in to else "?") + f"ok={ok}"
    return RedirectResponse(to, status_code=303, headers=SECURITY_HEADERS)


def page(request: Request, session: Session) -> Page:
    runtime = request.app.state.runtime
    lang = negotiate(request.cookies.get(LANG_COOKIE), request.query_params.get("lang"),
                     request.headers.get("accept-language"))
    p = Page(request, runtime, lang)
    token = request.cookies.get(SESSION_COOKIE)
    found = runtime.web_auth.resume(session, token, utcnow())
    if found is not None:
        p.token, (p.row, p.actor) = token, found
    return p


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form, size-limited; one value per name."""
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def csrf_ok(p: Page, data: Mapping[str, str]) -> bool:
    if p.token:
        return bool(p.runtime.web_auth.csrf_ok(p.token, data.get("csrf")))
    pre = p.request.cookies.get(PRE_CSRF_COOKIE)
    return bool(pre) and secrets.compare_digest(pre or "", data.get("csrf", ""))


def home_of(actor: ActorRef) -> str:
    return "/console" if actor.role in CONSOLE_ROLES else "/center"


# ---------------------------------------------------------------- sign in / out
@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    with unit_of_work(request.app.state.runtime.sessions) as session:
        p = page(request, session)
        return redirect(home_of(p.actor) if p.actor else "/login")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    with unit_of_work(request.app.state.runtime.sessions) as session:
        p = page(request, session)
        if p.actor is not None:
            return redirect(home_of(p.actor))
        return p.render("login.html")


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    data = await form(request)
    runtime = request.app.state.runtime
    try:
        # A refusal commits too: the failed attempt must count towards throttling.
        with unit_of_work(runtime.sessions, commit_on=(SignInRefused,)) as session:
            p = page(request, session)
            if not csrf_ok(p, data):
                return p.render("login.html", status_code=400,
                                error=p.gettext("Your form expired. Please try again."))
            token, actor = runtime.web_auth.sign_in(
                session, data.get("login", ""), data.get("password", ""), data.get("code"),
                client=request.client.host if request.client else None, now=utcnow())
    except SignInRefused as exc:
        with unit_of_work(runtime.sessions) as session:
            p = page(request, session)
            if exc.throttled:
                return p.render("login.html", status_code=429, error=p.gettext(
                    "Too many attempts. Wait a few minutes and try again."))
            return p.render("login.html", status_code=401, error=p.gettext(
                "Account name, password or code not accepted."))
    response = redirect(home_of(actor))
    _cookie(response, request, SESSION_COOKIE, token)
    response.delete_cookie(PRE_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    data = await form(request)
    with unit_of_work(request.app.state.runtime.sessions) as session:
        p = page(request, session)
        if p.token and csrf_ok(p, data):
            p.runtime.web_auth.sign_out(session, p.token)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def signed_in(p: Page, roles: frozenset[Role] | None = None) -> Response | None:
    """A redirect to sign in, or a 403 page, unless the actor may see this page."""
    if p.actor is None:
        return redirect("/login")
    if roles is not None and p.actor.role not in roles:
        return p.render("forbidden.html", status_code=403)
    return None


# What the services raise for a refused or impossible step, and how a page says it. A refusal
# from the gate has already written its access-log entry, so it commits like in the API.
PAGE_ERRORS: tuple[type[Exception], ...] = (
    InvalidPI, AccessDenied, SubjectNotFound, SubjectErased, RequestNotFound,
    MarketplaceNotFound, NoticeNotFound, TransitionRefused, CaseTransitionRefused,
)


def describe(exc: Exception, gettext: Callable[[str], str]) -> tuple[int, str, list[str]]:
    """(status, headline, details) for a service's error. Details are the services' own
    messages (they name the field and the rule, never a value)."""
    if isinstance(exc, InvalidPI):
        return 422, gettext("Please check the form."), [
            f"{e.field}: {e.message}" for e in exc.errors
        ]
    if isinstance(exc, Concealed | SubjectNotFound | RequestNotFound | MarketplaceNotFound
                  | NoticeNotFound):
        return 404, gettext("Not found, or not yours."), []
    if isinstance(exc, SubjectErased):
        return 410, gettext("This record has been deleted."), []
    if isinstance(exc, AccessDenied):
        return 403, gettext("This was not allowed."), [str(exc)]
    return 409, gettext("This cannot be done now."), [str(exc)]


def _error_page(request: Request, exc: Exception) -> Response:
    with unit_of_work(request.app.state.runtime.sessions) as session:
        p = page(request, session)
        status, headline, details = describe(exc, p.gettext)
        return p.render("error.html", status_code=status, error=headline, problems=details)


Build = Callable[[Page, Session], Response]


def show(request: Request, roles: frozenset[Role] | None, build: Build) -> Response:
    """A page behind sign-in and ``roles``, built in one transaction; a service's refusal
    becomes an error page with the right status (and its log entry is kept)."""
    runtime = request.app.state.runtime
    try:
        with unit_of_work(runtime.sessions, commit_on=(AccessDenied,)) as session:
            p = page(request, session)
            if (refused := signed_in(p, roles)) is not None:
                return refused
            return build(p, session)
    except PAGE_ERRORS as exc:
        return _error_page(request, exc)


Do = Callable[[Page, Session, dict[str, str]], Response]


async def act(request: Request, roles: frozenset[Role], do: Do,
              back: Build | None = None) -> Response:
    """A form post: signed in with one of ``roles``, a valid CSRF token, then ``do`` in one
    transaction (one write and its log entry commit together, or neither). When a service
    refuses, ``back`` renders the form's page again with the reason, in a new transaction."""
    data = await form(request)
    runtime = request.app.state.runtime
    try:
        with unit_of_work(runtime.sessions, commit_on=(AccessDenied,)) as session:
            p = page(request, session)
            if (refused := signed_in(p, roles)) is not None:
                return refused
            if not csrf_ok(p, data):
                return p.render("error.html", status_code=400, error=p.gettext(
                    "Your form expired. Please try again."))
            return do(p, session, data)
    except PAGE_ERRORS as exc:
        if back is None:
            return _error_page(request, exc)
        try:
            with unit_of_work(runtime.sessions) as session:
                p = page(request, session)
                p.status, p.error, p.problems = describe(exc, p.gettext)
                return back(p, session)
        except PAGE_ERRORS as again:
            return _error_page(request, again)



# ---------------------------------------------------------------- privacy center
CENTER_FIELDS = ("name", "mobile_phone", "email", "shipping_addresses", "birth_date")


@router.get("/center", response_class=HTMLResponse)
def center(request: Request) -> Response:
    """My data, masked by default; plain for a few minutes after re-entering the password."""
    runtime = request.app.state.runtime
    with unit_of_work(runtime.sessions) as session:
        p = page(request, session)
        if (refused := signed_in(p, frozenset({Role.CONSUMER}))) is not None:
            return refused
        assert p.actor is not None and p.actor.subject_id is not None and p.row is not None
        now = utcnow()
        reveal = runtime.web_auth.recently_reauthenticated(p.row, now)
        result = runtime.vault.read(
            session, p.actor, p.actor.subject_id,
            fields=[f for f in CENTER_FIELDS if f in runtime.catalog],
            purpose="account_management", view=View.PLAIN if reveal else View.MASKED, now=now)
        rows = [
            {"label": runtime.catalog[name].labels.get(p.lang) or name,
             "value": v.value, "view": v.view.value}
            for name, v in result.values.items() if v.present
        ]
        return p.render("center/home.html", rows=rows, revealed=reveal,
                         reveal_failed=request.query_params.get("reveal") == "failed")


@router.post("/center/reveal", response_class=HTMLResponse)
async def reveal(request: Request) -> Response:
    data = await form(request)
    runtime = request.app.state.runtime
    with unit_of_work(runtime.sessions) as session:
        p = page(request, session)
        if (refused := signed_in(p, frozenset({Role.CONSUMER}))) is not None:
            return refused
        if not csrf_ok(p, data):
            return p.render("forbidden.html", status_code=400)
        assert p.row is not None
        if not runtime.web_auth.reauthenticate(session, p.row, data.get("password", ""),
                                               utcnow()):
            return redirect("/center?reveal=failed")
    return redirect("/center")
