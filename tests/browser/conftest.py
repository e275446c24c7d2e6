"""Browser tests: the real pages served by uvicorn on loopback, driven by Playwright in
Debian's Chromium (installed by .ci/run with apt; nothing is downloaded from a browser CDN).

Without Chromium the tests skip with the reason, except under CI (``CI=true``), where a missing
browser is a failure: the browser suite must run there. Screenshots of each main page go to
``docs/screenshots/`` (the README links them) when ``PRIVGUARD_SCREENSHOTS=1``, else to the
test's temporary folder.

The suite runs twice in CI (SQLite, PostgreSQL), so one world, one server and one browser serve
a whole module, and each account signs in once (:meth:`Site.context` keeps its cookies): a TOTP
code signs in once, and three sign-ins of one staff login in 30 seconds would need a code from
the future.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import uvicorn
from sqlalchemy import select

from privguard.actors.system import cli_actor
from privguard.api.app import create_app
from privguard.bootstrap import Runtime, build_runtime, initialise
from privguard.cases.incidents import IncidentInput, build_incidents
from privguard.cases.rules import Category
from privguard.clock import utcnow
from privguard.config import Settings
from privguard.consent.notices import current_document, publish_notice
from privguard.consent.rules import Action, Channel, Kind
from privguard.consent.service import ConsentRequest
from privguard.marketplace.models import Order
from privguard.rights.lifecycle import RequestState, RequestType
from privguard.sharing.relay import Relays
from privguard.store.uow import unit_of_work
from privguard.testing import RecordingNotifier

from ..conftest import NOW, empty_postgres
from ..integration.world import World, build_world

CHROMIUM = os.environ.get("PRIVGUARD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "correct horse battery"
WEB_ACCOUNTS = ("consumer", "consumer_b", "privacy_officer", "merchant_staff",
                "merchant_staff_b", "auditor", "platform_admin", "customer_service")
PHONE = {"width": 390, "height": 844}  # the privacy center is used on phones first
DESKTOP = {"width": 1280, "height": 900}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    """A running server with the test world and a web account for each of its actors."""

    url: str
    world: World
    runtime: Runtime
    totp: pyotp.TOTP
    shots: Path
    notifier: RecordingNotifier
    used_steps: dict[str, int] = field(default_factory=dict)
    states: dict[str, Any] = field(default_factory=dict)

    def code(self, login: str) -> str:
        """A TOTP code not used before by this login (a code signs in once)."""
        step = int(time.time()) // 30
        last = self.used_steps.get(login, -1)
        step = max(step, last + 1)
        self.used_steps[login] = step
        return self.totp.at(step * 30)

    def context(self, browser: Any, login: str, *, viewport: dict[str, int] | None = None,
                locale: str = "zh-CN") -> Any:
        """A browser context signed in as ``login``: signed in through the page the first
        time, with the same session cookie afterwards."""
        if login not in self.states:
            ctx = browser.new_context(locale=locale)
            page = ctx.new_page()
            sign_in(page, self, login, staff=not login.startswith("consumer"))
            page.wait_for_url("**/c*")  # /center or /console
            self.states[login] = ctx.storage_state()
            ctx.close()
        return browser.new_context(storage_state=self.states[login], locale=locale,
                                   viewport=viewport or (PHONE if login.startswith("consumer")
                                                         else DESKTOP))

    def shot(self, page: Any, name: str) -> None:
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


def sign_in(page: Any, site: Site, login: str, *, staff: bool = False) -> None:
    page.goto(f"{site.url}/login")
    page.get_by_label("账号").fill(login)
    page.get_by_label("密码").fill(PASSWORD)
    if staff:
        page.get_by_label("动态验证码（工作人员）").fill(site.code(login))
    page.get_by_role("button", name="登录").click()


@pytest.fixture(scope="module")
def browser_path() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}: .ci/run installs it with apt")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


def _furnish(runtime: Runtime, w: World) -> None:
    """What makes the pages worth looking at: the notice in force, a partner registered as a
    recipient with an agreement (a separate consent to answer), and a relay alias on the
    consumer's order (a revoke button)."""
    now = utcnow()
    officer = w.actors["privacy_officer"]
    with unit_of_work(runtime.sessions) as session:
        publish_notice(session, current_document(runtime.catalog, runtime.policy,
                                                 runtime.settings.notice_path), now=now)
        runtime.sharing.register(
            session, officer, organisation_id=w.orgs["partner"], legal_entity="星云支付有限公司",
            contact="privacy@nebula-pay.example", country="CN", processor_role="independent",
            category="advertising", now=now)
        runtime.sharing.add_agreement(
            session, officer, w.orgs["partner"], reference="NP-2026-01",
            purposes=["third_party_sharing"], fields=["name", "mobile_phone", "email"],
            retention_days=180, sub_processing=False, starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=365), now=now)
        order_id = session.execute(select(Order.order_id).where(
            Order.subject_id == w.subjects["own"])).scalar_one()
        Relays.from_settings(runtime.vault, runtime.settings).order_alias(
            session, w.actors["merchant_staff"], order_id, now=now)
    _history(runtime, w, now)


def _history(runtime: Runtime, w: World, now: datetime) -> None:
    """Some weeks of the other consumer's requests, complaints and consent answers, each filed
    and handled at its own past moment through the services, for the dashboard's charts."""
    other, subject = w.actors["consumer_b"], w.subjects["foreign"]
    officer = w.actors["privacy_officer"]
    with unit_of_work(runtime.sessions) as session:
        for weeks, kind, days in ((10, RequestType.ACCESS, 5), (8, RequestType.EXPLANATION, 9),
                                  (6, RequestType.ACCESS, 40), (4, RequestType.PORTABILITY, 3),
                                  (3, RequestType.EXPLANATION, 2), (1, RequestType.ACCESS, 0)):
            at = now - timedelta(weeks=weeks)
            filed = runtime.fulfilment.file(session, other, type=kind, details={}, now=at)
            runtime.rights.move(session, officer, filed.request_id, RequestState.VERIFYING,
                                now=at + timedelta(hours=1))
            if days:
                runtime.rights.move(session, officer, filed.request_id, RequestState.IN_PROGRESS,
                                    note="identity verified", now=at + timedelta(days=1))
                runtime.rights.move(session, officer, filed.request_id, RequestState.COMPLETED,
                                    note="answered", now=at + timedelta(days=days))
        for weeks, category in ((9, Category.HARASSMENT), (7, Category.MARKETING_WITHOUT_CONSENT),
                                (5, Category.MARKETING_WITHOUT_CONSENT), (2, Category.PI_LEAK),
                                (2, Category.AFTER_SALES)):
            runtime.cases.file(session, other, category=category, description="示例投诉",
                               now=now - timedelta(weeks=weeks))
        for weeks, target, action in ((11, "marketing_email", Action.GRANTED),
                                      (9, "personalised_recommendation", Action.GRANTED),
                                      (7, "marketing_email", Action.WITHDRAWN),
                                      (5, "analytics", Action.GRANTED),
                                      (2, "analytics", Action.WITHDRAWN)):
            runtime.consent.record(session, other, ConsentRequest(
                subject_id=subject, kind=Kind.PURPOSE, target=target, action=action,
                channel=Channel.WEB, text_shown=f"{target} (history)", notice_version=1,
            ), now=now - timedelta(weeks=weeks), birth_date=None)
        build_incidents(runtime).open_incident(session, officer, IncidentInput(
            title="乙数码专营店店员批量查看顾客信息", description="访问告警后确认的越权查看。",
            cause="店员账号被共享使用。", categories=["unauthorised_access"],
            discovered_at=now - timedelta(hours=2), window_start=now - timedelta(days=2),
            window_end=now - timedelta(hours=3), actor_ids=[w.actors["merchant_staff_b"].actor_id],
            jurisdictions=["CN"]), now=now)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, postgres_url: str | None,
         browser_path: str) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("browser")
    settings = Settings(home=tmp / "home", database_url=postgres_url, key_provider="file",
                        key_file=tmp / "home" / "master.key", sequencer_interval=0)
    if postgres_url:
        empty_postgres(postgres_url)
    initialise(settings, now=NOW)
    runtime = build_runtime(settings)
    notifier = RecordingNotifier()
    runtime.verifier.notifier = notifier  # the tests read the verification codes here
    with unit_of_work(runtime.sessions) as session:
        admin = cli_actor(session, now=NOW)
    w = build_world(runtime, admin)
    _furnish(runtime, w)
    secret = pyotp.random_base32()
    with unit_of_work(runtime.sessions) as session:
        for key in WEB_ACCOUNTS:
            runtime.web_auth.create_account(session, w.actors[key].actor_id, key, PASSWORD,
                                            now=utcnow(), totp_secret=secret)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    shots = SCREENSHOTS if os.environ.get("PRIVGUARD_SCREENSHOTS") == "1" else tmp / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield Site(f"http://127.0.0.1:{port}", w, runtime, pyotp.TOTP(secret), shots, notifier)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.close()


@pytest.fixture(scope="module")
def browser(browser_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()
