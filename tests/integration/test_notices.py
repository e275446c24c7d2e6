"""Publishing the privacy notice, on SQLite and PostgreSQL: versions only when the content
changes, material changes that suspend consents until answered again, the CLI and the public
API (PIPL Art. 14, 17)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from privguard.api.app import create_app
from privguard.bootstrap import Runtime, build_runtime
from privguard.cli import app
from privguard.config import Settings
from privguard.consent.notice import content_hash
from privguard.consent.notices import (
    MaterialChange,
    NoticeRepublished,
    current_document,
    get_notice,
    latest_notice,
    material_changes,
    notice_history,
    publish_notice,
)
from privguard.policy.loader import shipped_policy_text
from privguard.policy.rules import ActorRef
from privguard.store.uow import unit_of_work

from ..conftest import NOW, empty_postgres
from .world import build_world

# marketing.sms gains the email address: new processing for a consent-based purpose.
SMS_RULE = "    purposes: [marketing_sms]\n    fields: [name, mobile_phone]\n"
WIDER_SMS_RULE = "    purposes: [marketing_sms]\n    fields: [name, mobile_phone, email]\n"


def _wider_policy(tmp_path: Path) -> Path:
    text = shipped_policy_text()
    assert SMS_RULE in text, "the shipped policy changed; update this mutation"
    path = tmp_path / "wider-policy.yaml"
    path.write_text(text.replace(SMS_RULE, WIDER_SMS_RULE, 1), encoding="utf-8")
    return path


def _wider_runtime(runtime: Runtime, tmp_path: Path) -> Runtime:
    """The same store under the wider policy (as another deployment of the same data would)."""
    path = _wider_policy(tmp_path)
    return build_runtime(runtime.settings.model_copy(update={"policy_path": path}))


def _document(runtime: Runtime) -> dict[str, Any]:
    return current_document(runtime.catalog, runtime.policy, runtime.settings.notice_path)


def _publish(runtime: Runtime) -> int:
    with unit_of_work(runtime.sessions) as session:
        return publish_notice(session, _document(runtime), now=NOW).version


def test_publishing_the_same_content_twice_makes_one_version(runtime: Runtime) -> None:
    document = _document(runtime)
    with unit_of_work(runtime.sessions) as session:
        first = publish_notice(session, document, now=NOW)
    with unit_of_work(runtime.sessions) as session:
        again = publish_notice(session, _document(runtime), now=NOW)
        history = notice_history(session)
    assert first.version == again.version == 1
    assert len(history) == 1
    assert first.content_hash == content_hash(document)
    assert not first.material and first.changes == () and first.affected == frozenset()
    with unit_of_work(runtime.sessions) as session:
        stored = get_notice(session, 1)
    assert stored is not None and stored.document == document
    assert content_hash(stored.document) == stored.content_hash  # stored as it was hashed


def test_a_policy_that_uses_more_data_publishes_a_material_version(
    runtime: Runtime, tmp_path: Path
) -> None:
    assert _publish(runtime) == 1
    wider = _wider_runtime(runtime, tmp_path)
    try:
        assert _publish(wider) == 2
    finally:
        wider.close()
    with unit_of_work(runtime.sessions) as session:
        latest = latest_notice(session)
        changes = material_changes(session)
    assert latest is not None and latest.version == 2 and latest.material
    assert latest.affected == {"purpose:marketing_sms"}
    assert [(c.kind, c.target) for c in latest.changes] == [("field_added", "marketing_sms")]
    assert changes == [MaterialChange(2, frozenset({"purpose:marketing_sms"}))]


def test_going_back_to_an_older_text_is_refused_and_changes_nothing(
    runtime: Runtime, tmp_path: Path
) -> None:
    original = _document(runtime)
    _publish(runtime)
    wider = _wider_runtime(runtime, tmp_path)
    try:
        _publish(wider)
    finally:
        wider.close()
    with (
        pytest.raises(NoticeRepublished, match="version 1"),
        unit_of_work(runtime.sessions) as session,
    ):
        publish_notice(session, original, now=NOW)
    with unit_of_work(runtime.sessions) as session:
        assert [v.version for v in notice_history(session)] == [1, 2]


def test_consents_under_the_old_notice_are_suspended_by_a_material_change(
    runtime: Runtime, admin: ActorRef, tmp_path: Path
) -> None:
    """The contract with the consent ledger: what the publisher marks as affected is asked again;
    other consents stand."""
    w = build_world(runtime, admin)
    assert _publish(runtime) == 1
    with TestClient(create_app(runtime)) as client:
        for purpose in ("marketing_sms", "marketing_email"):
            r = client.post("/v1/me/consents", headers=w.headers("consumer"), json={
                "kind": "purpose", "target": purpose, "notice_version": 1,
                "text_shown": "我同意接收营销信息"})
            assert r.status_code == 201, r.text
        wider = _wider_runtime(runtime, tmp_path)
        try:
            assert _publish(wider) == 2
        finally:
            wider.close()
        mine = client.get("/v1/me/consents", headers=w.headers("consumer")).json()["consents"]
        states = {c["target"]: c["state"] for c in mine}
    assert states["marketing_sms"] == "suspended"
    assert states["marketing_email"] == "granted"


# ------------------------------------------------------------------------------------ API
def test_the_notice_is_public_and_404_before_the_first_publish(runtime: Runtime) -> None:
    with TestClient(create_app(runtime)) as client:
        r = client.get("/v1/notice")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "notice_not_found"
        _publish(runtime)
        r = client.get("/v1/notice")  # no API key
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["version"] == 1 and body["format"] == "json"
        assert body["content_hash"] == content_hash(body["document"])
        assert body["document"]["controller"]["name"]["zh-CN"] == "示例商城平台运营有限公司"
        assert body["body"] is None

        html = client.get("/v1/notice", params={"locale": "en", "format": "html"}).json()
        assert html["document"] is None
        assert html["body"].startswith("<!DOCTYPE html>")
        assert "Example Marketplace Operations Co., Ltd." in html["body"]
        zh = client.get("/v1/notice/1", params={"format": "markdown"}).json()
        assert zh["locale"] == "zh-CN" and "# 个人信息保护政策" in zh["body"]

        missing = client.get("/v1/notice/7")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "notice_not_found"
        assert client.get("/v1/notice", params={"locale": "fr"}).status_code == 422


# ------------------------------------------------------------------------------------ CLI
@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    if settings.database_url:
        empty_postgres(settings.database_url)
        monkeypatch.setenv("PRIVGUARD_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("PRIVGUARD_DATABASE_URL", raising=False)
    monkeypatch.setenv("PRIVGUARD_HOME", str(settings.home))
    for name in ("KEY_FILE", "POLICY_PATH", "CATALOG_PATH", "NOTICE_PATH"):
        monkeypatch.delenv(f"PRIVGUARD_{name}", raising=False)
    yield settings


runner = CliRunner()


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_cli_publishes_shows_and_compares_versions(
    cli_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("init")
    assert "no privacy notice is published yet" in run("notice", "show", code=1)
    out = run("notice", "publish")
    assert re.search(r"published version 1 +sha256 [0-9a-f]{64}", out), out
    assert "unchanged: version 1 is in force" in run("notice", "publish")

    monkeypatch.setenv("PRIVGUARD_POLICY_PATH", str(_wider_policy(tmp_path)))
    out = run("notice", "publish")
    assert "published version 2" in out
    assert "MATERIAL: consents to ask again: purpose:marketing_sms" in out
    assert "purpose marketing_sms now uses email" in out

    out = run("notice", "diff", "1", "2")
    assert "notice version 1 -> 2" in out
    assert "MATERIAL: consents to ask again: purpose:marketing_sms" in out
    assert "not material" in run("notice", "diff", "2", "2")
    assert "does not exist" in run("notice", "diff", "1", "9", code=1)

    zh = run("notice", "show")
    assert "# 个人信息保护政策" in zh and "第 2 版" in zh
    en = run("notice", "show", "1", "--locale", "en")
    assert "# Privacy notice" in en and "Version 1" in en
    html = run("notice", "show", "--format", "html", "--locale", "en")
    assert html.startswith("<!DOCTYPE html>")
    listed = run("notice", "list")
    assert "MATERIAL" in listed and re.search(r"│ +2 │", listed)


def test_cli_names_the_key_of_an_invalid_notice_config(
    cli_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("init")
    bad = tmp_path / "notice.yaml"
    bad.write_text("controller: {name: {en: Shop}}\nofficer: {}\nrights: {}\n", encoding="utf-8")
    monkeypatch.setenv("PRIVGUARD_NOTICE_PATH", str(bad))
    out = run("notice", "publish", code=1)
    assert "controller" in out and "missing" in out
    assert "no privacy notice is published yet" in run("notice", "list")
