"""The pages' security over HTTP (no browser), on SQLite and PostgreSQL: sign-in with argon2id
and TOTP for staff, throttling, CSRF on every form, session cookies, a strict CSP, escaped
output, roles enforced on the server, and the privacy center's reveal step."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyotp
import pytest
from fastapi.testclient import TestClient

from privguard.api.app import create_app
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.policy.rules import ActorRef
from privguard.store.uow import unit_of_work

from .world import World, build_world

PASSWORD = "correct horse battery"
SECRET = pyotp.random_base32()


@pytest.fixture
def web(runtime: Runtime, admin: ActorRef) -> Iterator[tuple[World, TestClient]]:
    w = build_world(runtime, admin)
    with unit_of_work(runtime.sessions) as session:
        for key in ("consumer", "privacy_officer", "merchant_staff"):
            runtime.web_auth.create_account(session, w.actors[key].actor_id, key, PASSWORD,
                                            now=utcnow(), totp_secret=SECRET)
    with TestClient(create_app(runtime), base_url="https://testserver") as client:
        yield w, client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(client: TestClient, login: str, password: str = PASSWORD,
            code: str | None = None):  # type: ignore[no-untyped-def]
    token = csrf_of(client.get("/login").text)
    data = {"csrf": token, "login": login, "password": password}
    if code is not None:
        data["code"] = code
    return client.post("/login", data=data, follow_redirects=False)


def test_a_consumer_signs_in_sees_masked_data_and_reveals_it(
    web: tuple[World, TestClient],
) -> None:
    w, client = web
    page = client.get("/center", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    r = sign_in(client, "consumer")
    assert r.status_code == 303 and r.headers["location"] == "/center"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    page = client.get("/center")
    assert page.status_code == 200
    phone = re.sub(r"\D", "", w.pi["own"]["mobile_phone"])[-11:]
    assert phone not in re.sub(r"\D", "", page.text) and "****" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert page.headers["cache-control"] == "no-store"
    # Revealing needs the password again and a valid CSRF token.
    assert client.post("/center/reveal", data={"password": PASSWORD}).status_code == 400
    client.post("/center/reveal", data={"password": "wrong", "csrf": csrf_of(page.text)})
    assert phone not in re.sub(r"\D", "", client.get("/center").text)
    client.post("/center/reveal", data={"password": PASSWORD, "csrf": csrf_of(page.text)})
    assert phone in re.sub(r"\D", "", client.get("/center").text)
    # The consumer's pages are not the console.
    assert client.get("/console").status_code == 403


def test_staff_need_their_second_factor_and_stay_in_their_pages(
    web: tuple[World, TestClient],
) -> None:
    _, client = web
    assert sign_in(client, "privacy_officer").status_code == 401  # no code
    assert sign_in(client, "privacy_officer", code="000000").status_code == 401
    r = sign_in(client, "privacy_officer", code=pyotp.TOTP(SECRET).now())
    assert r.status_code == 303 and r.headers["location"] == "/console"
    assert client.get("/console").status_code == 200
    assert client.get("/center").status_code == 403
    client.cookies.clear()
    # A merchant's staff member reaches neither the console nor a consumer's center.
    r = sign_in(client, "merchant_staff", code=pyotp.TOTP(SECRET).at(utcnow().timestamp() + 30))
    assert r.status_code == 303
    assert client.get("/console").status_code == 403
    assert client.get("/center").status_code == 403


def test_forms_need_csrf_and_guessing_is_throttled(web: tuple[World, TestClient]) -> None:
    _, client = web
    r = client.post("/login", data={"login": "consumer", "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 400  # no token: nothing is checked
    for _ in range(5):
        assert sign_in(client, "consumer", password="wrong password!").status_code == 401
    # Locked for now, even with the right password; the message does not say which was wrong.
    r = sign_in(client, "consumer")
    assert r.status_code == 429
    other = sign_in(client, "nobody-at-all", password="whatever it is")
    assert other.status_code == 401 and ("not accepted" in other.text or "不正确" in other.text)


def test_output_is_escaped(runtime: Runtime, web: tuple[World, TestClient]) -> None:
    """A name like <script> is refused by the catalog; whatever reaches a page is escaped."""
    from privguard.vault.errors import InvalidPI
    from privguard.web.pages import _env

    w, _ = web
    with pytest.raises(InvalidPI), unit_of_work(runtime.sessions) as session:
        runtime.vault.update(session, w.actors["consumer"], w.subjects["own"],
                             {"name": "<script>alert(1)</script>"}, now=utcnow())
    html = _env.get_template("center/home.html").render(
        _=str, lang="en", locales=(), actor=None, csrf="t", path="/center", revealed=True,
        rows=[{"label": "<b>x</b>", "value": ["<script>alert(1)</script>"], "view": "plain"}])
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<b>x</b>" not in html


def test_both_languages_render(web: tuple[World, TestClient]) -> None:
    _, client = web
    zh = client.get("/login")
    assert "<html lang=\"zh-CN\">" in zh.text and "登录" in zh.text
    en = client.get("/login?lang=en")
    assert "<html lang=\"en\">" in en.text and "Sign in" in en.text and "登录" not in en.text
    assert "pg_lang=en" in en.headers["set-cookie"]
    assert "Sign in" in client.get("/login").text  # the choice is remembered
