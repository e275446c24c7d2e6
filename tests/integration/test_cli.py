"""The command line: init, demo, key rotation (incl. an interrupted one), CSV import."""

from __future__ import annotations

import csv
import json
import os
import re
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from privguard.bootstrap import Runtime, build_runtime
from privguard.cli import app
from privguard.config import Settings
from privguard.crypto.providers import FileKeyProvider
from privguard.marketplace.models import Order, Organisation
from privguard.policy.rules import View
from privguard.store.uow import unit_of_work
from privguard.vault.models import Subject, SubjectKey

from ..conftest import NOW, empty_postgres
from .samples import OTHER, RAW


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    if settings.database_url:
        empty_postgres(settings.database_url)
        monkeypatch.setenv("PRIVGUARD_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("PRIVGUARD_DATABASE_URL", raising=False)
    monkeypatch.setenv("PRIVGUARD_HOME", str(settings.home))
    monkeypatch.delenv("PRIVGUARD_KEY_FILE", raising=False)
    return settings


runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_init_creates_a_private_keyring_and_is_repeatable(cli_env: Settings) -> None:
    out = run("init")
    assert "created (mode 0600)" in out
    key = cli_env.resolved_key_file
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli_env.resolved_home.stat().st_mode) == 0o700
    before = key.read_bytes()
    assert "existing" in run("init")
    assert key.read_bytes() == before  # never overwritten


def test_demo_seeds_and_prints_working_credentials(cli_env: Settings) -> None:
    out = run("demo", "--no-serve", "--consumers", "40", "--orders", "90")
    tokens = re.findall(r"pgk_[0-9a-f]{16}\.[A-Za-z0-9_-]+", out)
    assert len(tokens) >= 9
    runtime = build_runtime(cli_env)
    try:
        with unit_of_work(runtime.sessions) as session:
            assert session.execute(select(func.count()).select_from(Subject)).scalar() == 40
            assert session.execute(select(func.count()).select_from(Order)).scalar() == 90
            merchants = session.execute(
                select(func.count())
                .select_from(Organisation)
                .where(Organisation.kind == "merchant")
            ).scalar()
            assert merchants >= 3
    finally:
        runtime.close()
    # A second run does not seed twice; it issues new keys and revokes the old ones.
    again = run("demo", "--no-serve", "--consumers", "40", "--orders", "90")
    assert "already seeded" in again
    new_tokens = re.findall(r"pgk_[0-9a-f]{16}\.[A-Za-z0-9_-]+", again)
    assert set(new_tokens).isdisjoint(tokens)

    from fastapi.testclient import TestClient

    from privguard.api.app import create_app

    runtime = build_runtime(cli_env)
    try:
        with TestClient(create_app(runtime)) as client:
            me = client.get("/v1/me", headers={"Authorization": f"Bearer {new_tokens[0]}"})
            assert me.status_code == 200 and me.json()["role"] == "platform_admin"
            old = client.get("/v1/me", headers={"Authorization": f"Bearer {tokens[0]}"})
            assert old.status_code == 401
    finally:
        runtime.close()


def names(n: int) -> list[str]:
    return [f"李{chr(0x4E00 + 7 * i)}" for i in range(n)]


def _seed(settings: Settings, n: int) -> list:
    runtime = build_runtime(settings)
    try:
        from privguard.actors.system import cli_actor

        with unit_of_work(runtime.sessions) as session:
            actor = cli_actor(session, now=NOW)
            rows = [
                runtime.vault.validate({**OTHER, "name": name}, today=NOW.date())
                for name in names(n)
            ]
            return runtime.vault.insert_validated(session, actor, rows, now=NOW)
    finally:
        runtime.close()


def _read_all(settings: Settings, ids: list) -> list[str]:
    runtime = build_runtime(settings)
    try:
        from privguard.actors.system import cli_actor

        names = []
        with unit_of_work(runtime.sessions) as session:
            actor = cli_actor(session, now=NOW)
            for subject_id in ids:
                result = runtime.vault.read(
                    session,
                    actor,
                    subject_id,
                    fields=["name"],
                    purpose="legal_obligation",
                    view=View.PLAIN,
                    now=NOW,
                )
                names.append(result.values["name"].value)
        return names
    finally:
        runtime.close()


def _key_ids_in_use(settings: Settings) -> set[str]:
    runtime = build_runtime(settings)
    try:
        with unit_of_work(runtime.sessions) as session:
            return set(session.execute(select(SubjectKey.master_key_id).distinct()).scalars())
    finally:
        runtime.close()


def test_keys_rotate_rewraps_everything_and_keeps_data(cli_env: Settings) -> None:
    run("init")
    ids = _seed(cli_env, 30)
    old = FileKeyProvider(cli_env.resolved_key_file).active_key_id()
    out = run("keys", "rotate", "--batch-size", "7")
    new = FileKeyProvider(cli_env.resolved_key_file).active_key_id()
    assert new != old and "30 data keys" in out
    assert _key_ids_in_use(cli_env) == {new}
    assert _read_all(cli_env, ids) == names(30)
    # The old master key can now be retired; the active one cannot.
    run("keys", "retire", old)
    assert old not in FileKeyProvider(cli_env.resolved_key_file).key_ids()
    result = runner.invoke(app, ["keys", "retire", new])
    assert result.exit_code != 0
    assert _read_all(cli_env, ids[:3]) == names(3)


def test_interrupted_rotation_is_completed_by_running_it_again(cli_env: Settings) -> None:
    run("init")
    ids = _seed(cli_env, 25)
    # Simulate a crash after the new key was added and one batch was re-wrapped.
    runtime = build_runtime(cli_env)
    try:
        provider = runtime.keys
        assert isinstance(provider, FileKeyProvider)
        old = provider.active_key_id()
        new = provider.add_master_key(NOW)
        with unit_of_work(runtime.sessions) as session:
            assert runtime.vault.rewrap_batch(session, 10) == 10
    finally:
        runtime.close()
    assert _key_ids_in_use(cli_env) == {old, new}
    assert _read_all(cli_env, ids) == names(25)  # both keys still work
    # Retiring the old key now would orphan data: refused.
    assert runner.invoke(app, ["keys", "retire", old]).exit_code != 0
    out = run("keys", "rotate")
    assert "resuming" in out
    assert FileKeyProvider(cli_env.resolved_key_file).active_key_id() == new
    assert _key_ids_in_use(cli_env) == {new}
    assert _read_all(cli_env, ids) == names(25)


def test_csv_import_keeps_good_rows_and_reports_bad_ones(cli_env: Settings, tmp_path: Path) -> None:
    run("init")
    path = tmp_path / "customers.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "mobile_phone", "email", "resident_id", "shipping_addresses"])
        writer.writerow(
            [
                "张三",
                "13800138000",
                "zs@example.com",
                "11010519491231002X",
                json.dumps(RAW["shipping_addresses"], ensure_ascii=False),
            ]
        )
        writer.writerow(["李四", "12345", "ls@example.com", "", ""])  # bad phone
        writer.writerow(["王五", "13912345678", "", "110108199001011234", ""])  # bad checksum
        writer.writerow(["赵六", "13712345678", "not-an-email", "", "{broken"])  # two errors
        writer.writerow(["", "", "", "", ""])  # empty
        writer.writerow(["钱七", "+86 137 0000 0000", "qq@example.com", "", ""])
    rejects = tmp_path / "rejects.csv"
    result = runner.invoke(app, ["subjects", "import", str(path), "--rejects", str(rejects)])
    assert result.exit_code == 2  # partly imported: a script must notice
    out = result.output
    assert "imported 2, rejected 4" in out
    with rejects.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["line"], r["field"], r["rule"]) for r in rows} == {
        ("3", "mobile_phone", "phone.invalid"),
        ("4", "resident_id", "ric.checksum"),
        ("5", "email", "email.invalid"),
        ("5", "shipping_addresses", "csv.json"),
        ("6", "*", "row.empty"),
    }
    text = rejects.read_text(encoding="utf-8") + out
    for value in ("12345", "110108199001011234", "not-an-email", "李四", "王五"):
        assert value not in text
    runtime = build_runtime(cli_env)
    try:
        from privguard.actors.system import cli_actor

        with unit_of_work(runtime.sessions) as session:
            assert session.execute(select(func.count()).select_from(Subject)).scalar() == 2
            actor = cli_actor(session, now=NOW)
            found = runtime.vault.lookup(
                session, actor, "mobile_phone", "13700000000", purpose="legal_obligation", now=NOW
            )
            assert len(found) == 1
    finally:
        runtime.close()


def test_csv_import_refuses_unknown_columns(cli_env: Settings, tmp_path: Path) -> None:
    run("init")
    path = tmp_path / "bad.csv"
    path.write_text("name,shoe_size\n张三,42\n", encoding="utf-8")
    result = runner.invoke(app, ["subjects", "import", str(path)])
    assert result.exit_code == 1
    assert "shoe_size" in result.output


def test_csv_without_header_does_not_echo_the_first_customer(
    cli_env: Settings, tmp_path: Path
) -> None:
    run("init")
    path = tmp_path / "noheader.csv"
    path.write_text("张三丰,13800138000,zsf@example.com\n", encoding="utf-8")
    result = runner.invoke(app, ["subjects", "import", str(path)])
    assert result.exit_code == 1
    assert "first row must name catalog fields" in result.output
    for value in ("张三丰", "13800138000", "zsf@example.com"):
        assert value not in result.output


def test_clean_import_exits_0_and_replaces_an_old_rejects_file(
    cli_env: Settings, tmp_path: Path
) -> None:
    run("init")
    path = tmp_path / "ok.csv"
    path.write_text("name,mobile_phone\n张三,13800138000\n", encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    rejects.write_text("line,field,rule,message\n9,x,y,z\n", encoding="utf-8")
    assert "imported 1, rejected 0" in run(
        "subjects", "import", str(path), "--rejects", str(rejects)
    )
    assert rejects.read_text(encoding="utf-8").strip() == "line,field,rule,message"


def test_init_refuses_to_mint_a_keyring_for_a_database_that_has_one(cli_env: Settings) -> None:
    run("init")
    os.remove(cli_env.resolved_key_file)
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 1
    assert "restore the key file" in result.output
    assert not cli_env.resolved_key_file.exists()


def test_serve_refuses_to_start_without_its_key(cli_env: Settings) -> None:
    run("init")
    os.remove(cli_env.resolved_key_file)
    result = runner.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "does not exist" in result.output and "privguard init" in result.output


def test_serve_refuses_an_uninitialised_database(cli_env: Settings) -> None:
    if cli_env.database_url:
        pytest.skip("the session's PostgreSQL database is already migrated")
    from privguard.crypto.keyring import Keyring, write_keyring_file

    write_keyring_file(cli_env.resolved_key_file, Keyring.generate(NOW))
    result = runner.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "privguard init" in result.output


def test_actors_create_issues_a_key(cli_env: Settings) -> None:
    run("init")
    # In a fresh process: the command must not depend on another feature's tables having been
    # imported by someone else first.
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "privguard.cli",
            "actors",
            "create",
            "--name",
            "客服 小王",
            "--role",
            "customer_service",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "40"},
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["api_key"].startswith("pgk_")
    bad = runner.invoke(app, ["actors", "create", "--name", "x", "--role", "king"])
    assert bad.exit_code == 1 and "unknown role" in bad.output


def test_a_running_server_follows_a_rotation_made_by_another_process(cli_env: Settings) -> None:
    run("init")
    ids = _seed(cli_env, 3)
    server = build_runtime(cli_env)  # started before the rotation
    try:
        run("keys", "rotate")
        new = FileKeyProvider(cli_env.resolved_key_file).active_key_id()
        from privguard.actors.system import cli_actor

        with unit_of_work(server.sessions) as session:
            actor = cli_actor(session, now=NOW)
            # Reads of re-wrapped keys work, and new subjects are wrapped under the new key.
            result = server.vault.read(
                session,
                actor,
                ids[0],
                fields=["name"],
                purpose="legal_obligation",
                view=View.PLAIN,
                now=NOW,
            )
            assert result.values["name"].value == names(1)[0]
            fresh = server.vault.register(session, actor, OTHER, now=NOW)
            wrapped_by = session.execute(
                select(SubjectKey.master_key_id).where(SubjectKey.subject_id == fresh)
            ).scalar_one()
        assert wrapped_by == new
    finally:
        server.close()


def test_actors_create_names_a_missing_organisation_or_subject(runtime: Runtime) -> None:
    import uuid as _uuid

    from privguard.cli import app as cli_app

    env = {"PRIVGUARD_HOME": str(runtime.settings.home),
           "PRIVGUARD_KEY_FILE": str(runtime.settings.key_file)}
    if runtime.settings.database_url:
        env["PRIVGUARD_DATABASE_URL"] = runtime.settings.database_url
    missing = _uuid.uuid4()
    result = CliRunner().invoke(cli_app, ["actors", "create", "--name", "x", "--role",
                                          "merchant_staff", "--organisation", str(missing)],
                                env=env)
    assert result.exit_code == 1
    assert f"no organisation {missing}" in result.output
    result = CliRunner().invoke(cli_app, ["actors", "create", "--name", "x", "--role",
                                          "consumer", "--subject", str(missing)], env=env)
    assert result.exit_code == 1
    assert f"no active subject {missing}" in result.output
