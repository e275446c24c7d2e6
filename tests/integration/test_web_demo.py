"""`privguard demo` prints web accounts that sign in: consumers with a password, every staff
role with a password and a TOTP secret; a second run replaces them (shown once)."""

from __future__ import annotations

import re

import pyotp
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from privguard.api.app import create_app
from privguard.bootstrap import build_runtime
from privguard.cli import app
from privguard.config import Settings
from privguard.policy.rules import Role

from ..conftest import empty_postgres

ACCOUNT = re.compile(r"^  (\w+) .*\n    account (\S+)  password (\S+)\n"
                     r"(?:    TOTP secret ([A-Z2-7]+)\n    (otpauth://\S+)\n)?", re.M)


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    if settings.database_url:
        empty_postgres(settings.database_url)
        monkeypatch.setenv("PRIVGUARD_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("PRIVGUARD_DATABASE_URL", raising=False)
    monkeypatch.setenv("PRIVGUARD_HOME", str(settings.home))
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.delenv("PRIVGUARD_KEY_FILE", raising=False)
    return settings


def demo() -> dict[str, tuple[str, str, str | None]]:
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--consumers", "12",
                                      "--orders", "20"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    web = result.output[result.output.index("web sign-in"):]
    return {m.group(2): (m.group(1), m.group(3), m.group(4)) for m in ACCOUNT.finditer(web)}


def sign_in(client: TestClient, login: str, password: str, secret: str | None) -> int:
    page = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    data = {"csrf": csrf, "login": login, "password": password}
    if secret:
        data["code"] = pyotp.TOTP(secret).now()
    return client.post("/login", data=data, follow_redirects=False).status_code


def test_the_demo_prints_accounts_that_sign_in(cli_env: Settings) -> None:
    accounts = demo()
    roles = {role for role, _, _ in accounts.values()}
    assert roles == {r.value for r in Role}  # a few consumers and every staff role
    assert [login for login, (role, _, _) in accounts.items() if role == "consumer"] == [
        "consumer1", "consumer2", "consumer3"]
    assert all((secret is None) == (role == "consumer")
               for role, _, secret in accounts.values())
    again = demo()  # new passwords and secrets; the old ones stop working
    runtime = build_runtime(cli_env)
    try:
        fastapi_app = create_app(runtime)
        for login in ("consumer1", "privacy_officer", "auditor"):
            role, password, secret = again[login]
            assert password != accounts[login][1]
            client = TestClient(fastapi_app, base_url="https://testserver")
            assert sign_in(client, login, accounts[login][1], accounts[login][2]) == 401
            assert sign_in(client, login, password, secret) == 303
            home = client.get("/", follow_redirects=True)
            assert home.status_code == 200
            assert home.url.path == ("/center" if role == "consumer" else "/console")
    finally:
        runtime.close()
