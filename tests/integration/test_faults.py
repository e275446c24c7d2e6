"""Crashes and faults (issue 10, item 4), against a real server process (`privguard serve`).

- kill -9 of the server during a write load, then a restart: every acknowledged write is
  there, none is half-applied, `privguard audit verify` passes (PostgreSQL: the session's own
  throw-away database);
- PostgreSQL restarted during load: requests fail with 503 and Retry-After, and the same
  server process serves again once the database is back. This restarts a private PostgreSQL
  cluster made for the test (initdb into a temporary directory, its own port), never the
  machine's shared one;
- the key file missing or wrong: the server refuses to start with a clear message and touches
  nothing (both backends);
- SIGTERM: the server drains and shuts down cleanly, its background sequencer stopped (both
  backends);
- the disk full under the default embedded SQLite: a clear 503 ``storage_full``, no read
  without its access-log entry, and the database intact once space is freed (a small tmpfs;
  skipped where mounting is not allowed).

Bounded: each server runs for seconds; the whole module takes well under a minute and a half.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from privguard.actors.service import create_actor, issue_api_key
from privguard.actors.system import cli_actor
from privguard.audit.models import AccessLogEntry
from privguard.audit.sequencer import pending_entries
from privguard.bootstrap import Runtime, build_runtime, initialise
from privguard.config import Settings
from privguard.crypto.keyring import Keyring
from privguard.policy.rules import Role, View
from privguard.store.uow import unit_of_work
from privguard.vault.models import BlindIndex, Subject, SubjectKey

from .test_hostile import row_counts

pytestmark = pytest.mark.faults

PRIVGUARD = str(Path(sys.executable).with_name("privguard"))
START_SECONDS = 60.0
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def postgres_run(settings: Settings) -> bool:
    return bool(settings.database_url) and make_url(
        settings.database_url).get_backend_name() == "postgresql"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(settings: Settings, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVGUARD_")}
    env.update({
        "PRIVGUARD_HOME": str(settings.home),
        "PRIVGUARD_KEY_FILE": str(settings.resolved_key_file),
        "PRIVGUARD_PORT": str(port),
        "PRIVGUARD_SEQUENCER_INTERVAL": "0.2",
        "PRIVGUARD_RATE_LIMIT_PER_MINUTE": "0",
        "COLUMNS": "200",
    })
    if settings.database_url:
        env["PRIVGUARD_DATABASE_URL"] = settings.database_url
    env.update(extra)
    return env


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def served(
    settings: Settings, workdir: Path, *args: str, **extra: str
) -> Iterator[Server]:
    """`privguard serve [args]` on a free port until /readyz answers; killed at the end if
    still up."""
    port = free_port()
    log = workdir / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PRIVGUARD, "serve", "--port", str(port), *args], cwd=workdir,
            env=server_env(settings, port, **extra), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert proc.poll() is None, f"server exited {proc.returncode}:\n{server.output()}"
            try:
                if httpx.get(f"{server.base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"server did not start:\n{server.output()}"
            time.sleep(0.1)
        yield server
    finally:
        # The whole process group: with --workers the workers too, which would otherwise go
        # on running (and sequencing) against the next test's database.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def api_key(runtime: Runtime, role: Role = Role.PLATFORM_ADMIN) -> str:
    with unit_of_work(runtime.sessions) as session:
        actor = create_actor(session, display_name="故障测试", role=role, now=datetime.now(UTC))
        return issue_api_key(session, actor.actor_id, now=datetime.now(UTC)).token


# ----------------------------------------------------------------------------- kill -9
@dataclass
class Acks:
    registered: dict[str, str] = field(default_factory=dict)  # subject id -> email
    updated: dict[str, str] = field(default_factory=dict)  # subject id -> new email, acked
    attempted: dict[str, str] = field(default_factory=dict)  # update sent, answer unknown
    lock: threading.Lock = field(default_factory=threading.Lock)


def _writer(base: str, token: str, tag: int, acks: Acks, stop: threading.Event) -> None:
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=h, timeout=10) as client:
        i = 0
        while not stop.is_set():
            i += 1
            email = f"crash{tag}-{i}@example.com"
            try:
                r = client.post("/v1/subjects", json={"pi": {"name": "李娜", "email": email}})
            except httpx.TransportError:
                return  # the server is gone: whatever was unanswered was not acknowledged
            if r.status_code != 201:
                continue
            sid = r.json()["subject_id"]
            with acks.lock:
                acks.registered[sid] = email
            new = f"crash{tag}-{i}-v2@example.com"
            with acks.lock:
                acks.attempted[sid] = new
            try:
                r = client.patch(f"/v1/subjects/{sid}", json={"pi": {"email": new}})
            except httpx.TransportError:
                return
            if r.status_code == 200:
                with acks.lock:
                    acks.updated[sid] = new


def test_kill_9_during_writes_loses_no_acknowledged_write(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    if not postgres_run(settings):
        pytest.skip("kill -9 durability is tested on PostgreSQL (SQLite: synchronous=FULL, "
                    "covered by SQLite's own guarantees)")
    token = api_key(runtime)
    acks = Acks()
    stop = threading.Event()
    with served(settings, tmp_path) as server:
        writers = [threading.Thread(target=_writer, args=(server.base, token, n, acks, stop))
                   for n in range(4)]
        for w in writers:
            w.start()
        deadline = time.monotonic() + 15
        while len(acks.updated) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(server.proc.pid, signal.SIGKILL)  # mid-load: requests are in flight
        server.proc.wait(10)
        stop.set()
        for w in writers:
            w.join(15)
    assert len(acks.registered) >= 20, "the load never got going"

    admin = _admin(runtime)
    with unit_of_work(runtime.sessions) as session:
        subjects = list(session.execute(select(Subject.subject_id)).scalars())
        keyed = set(session.execute(select(SubjectKey.subject_id)).scalars())
        indexed: dict[uuid.UUID, set[str]] = {}
        for sid, fname in session.execute(select(BlindIndex.subject_id, BlindIndex.field)):
            indexed.setdefault(sid, set()).add(fname)
        registers = [json.loads(e) for e in session.execute(select(AccessLogEntry.entry))
                     .scalars()]
    registered_in_log = {e["subject"] for e in registers if e["action"] == "register"}
    updated_in_log = {e["subject"] for e in registers if e["action"] == "update"}
    # Every acknowledged write is there, with the value acknowledged.
    for sid, email in acks.registered.items():
        expected = acks.updated.get(sid)
        with unit_of_work(runtime.sessions) as session:
            got = runtime.vault.read(session, admin, uuid.UUID(sid), fields=["email"],
                                     purpose="account_management", view=View.PLAIN,
                                     now=datetime.now(UTC)).values["email"].value
        if expected is not None:
            assert got == expected, f"{sid}: acknowledged update lost"
        else:  # an update may have committed without its answer arriving
            assert got in (email, acks.attempted.get(sid)), sid
    # Nothing half-applied: each stored subject has its key, its blind index and its log entry;
    # each committed update has its log entry.
    for sid in subjects:
        assert sid in keyed, f"{sid} has no data key"
        assert indexed.get(sid) == {"email"}, f"{sid}: blind index {indexed.get(sid)}"
        assert str(sid) in registered_in_log, f"{sid}: stored without its access-log entry"
    assert {str(s) for s in subjects} >= set(acks.registered)
    assert updated_in_log >= set(acks.updated)
    for sid, email in acks.updated.items():
        with unit_of_work(runtime.sessions) as session:
            found = runtime.vault.lookup(session, admin, "email", email,
                                         purpose="account_management", now=datetime.now(UTC))
        assert found == [uuid.UUID(sid)], f"{sid}: index does not match the record"

    # A restarted server serves the same data, its sequencer integrates what the killed one
    # left, and the log verifies end to end.
    with served(settings, tmp_path) as server:
        some = next(iter(acks.registered))
        r = httpx.get(f"{server.base}/v1/subjects/{some}", headers={
            "Authorization": f"Bearer {token}"}, params={"purpose": "account_management"})
        assert r.status_code == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with unit_of_work(runtime.sessions) as session:
                if pending_entries(session) == 0:
                    break
            time.sleep(0.2)
    verify = subprocess.run([PRIVGUARD, "audit", "verify"], env=server_env(settings, 0),
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _admin(runtime: Runtime) -> Any:
    with unit_of_work(runtime.sessions) as session:
        return cli_actor(session, now=datetime.now(UTC))


# ----------------------------------------------------------------------------- PostgreSQL restart
@dataclass
class PrivateCluster:
    data: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"), "-D", str(self.data),
             "-l", str(self.data.parent / "pg.log"), "-w", "-t", "30", *args],
            check=True, capture_output=True, timeout=60,
        )


@pytest.fixture
def private_cluster(settings: Settings) -> Iterator[PrivateCluster]:
    """A PostgreSQL cluster of the test's own: initdb into a temporary directory, started on a
    free port as the postgres user; stopped and removed at the end."""
    if not postgres_run(settings):
        pytest.skip("runs in the PostgreSQL pass (it needs no shared database, only time)")
    if not PG_BIN or shutil.which("runuser") is None or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL server binaries (/usr/lib/postgresql/*/bin) and root")
    # Not under pytest's tmp_path: the postgres user must be able to reach it.
    root = Path(tempfile.mkdtemp(prefix="privguard-pg-"))
    shutil.chown(root, "postgres", "postgres")
    cluster = PrivateCluster(root / "data", free_port(), PG_BIN[-1])
    subprocess.run(
        ["runuser", "-u", "postgres", "--", str(cluster.bin / "initdb"), "-D", str(cluster.data),
         "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True, capture_output=True, timeout=120,
    )
    options = f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1"
    cluster.ctl("-o", options, "start")
    cluster.options = options  # type: ignore[attr-defined]
    try:
        yield cluster
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(cluster.bin / "pg_ctl"), "-D",
             str(cluster.data), "-m", "immediate", "-w", "stop"],
            capture_output=True, timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def _reader(base: str, token: str, sid: str, seen: list[tuple[float, int, str | None]],
            stop: threading.Event) -> None:
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=h, timeout=15) as client:
        i = 0
        while not stop.is_set():
            i += 1
            if i % 3:
                r = client.get(f"/v1/subjects/{sid}", params={"purpose": "account_management"})
            else:
                r = client.post("/v1/subjects", json={"pi": {"name": "王芳"}})
            seen.append((time.monotonic(), r.status_code, r.headers.get("retry-after")))
            time.sleep(0.01)


def test_postgres_restart_during_load_is_503_then_recovers_without_a_restart(
    settings: Settings, private_cluster: PrivateCluster, tmp_path: Path
) -> None:
    own = settings.model_copy(update={"database_url": private_cluster.url,
                                      "home": tmp_path / "own-home",
                                      "key_file": tmp_path / "own-home" / "master.key"})
    initialise(own, now=datetime.now(UTC))
    rt = build_runtime(own)
    try:
        token = api_key(rt)
        with unit_of_work(rt.sessions) as session:
            sid = str(rt.vault.register(session, _admin(rt), {"name": "张伟"},
                                        now=datetime.now(UTC)))
    finally:
        rt.close()
    seen: list[tuple[float, int, str | None]] = []
    stop = threading.Event()
    with served(own, tmp_path) as server:
        pid = server.proc.pid
        loaders = [threading.Thread(target=_reader, args=(server.base, token, sid, seen, stop))
                   for _ in range(3)]
        for t in loaders:
            t.start()
        try:
            time.sleep(1.0)
            private_cluster.ctl("-m", "fast", "stop")
            down_at = time.monotonic()
            time.sleep(2.0)
            start_at = time.monotonic()  # PostgreSQL is surely down until here
            private_cluster.ctl("-o", private_cluster.options, "start")  # type: ignore[attr-defined]
            up_at = time.monotonic()
            deadline = up_at + 60  # generous: a loaded CI machine restarts slowly
            while time.monotonic() < deadline:
                recent = [s for t, s, _ in seen if t > up_at]
                if len(recent) >= 30 and all(s in (200, 201) for s in recent[-20:]):
                    break
                time.sleep(0.1)
        finally:
            stop.set()
            for t in loaders:
                t.join(20)
        assert server.proc.poll() is None and server.proc.pid == pid  # never restarted
        assert httpx.get(f"{server.base}/readyz", timeout=5).status_code == 200
        log = server.output()
    statuses = {s for _, s, _ in seen}
    problems = [line for line in log.splitlines() if '"level": "info"' not in line]
    assert statuses <= {200, 201, 503}, f"unexpected statuses {statuses}\n" + "\n".join(
        problems[-60:])
    # Answered while the database was down (a request in flight at the stop may still finish
    # within the first half second): all 503.
    during = [(s, ra) for t, s, ra in seen if down_at + 0.5 < t < start_at]
    assert during and all(s == 503 for s, _ in during), during[:10]
    assert all(ra is not None and int(ra) > 0 for _, s, ra in seen if s == 503)
    after = [s for t, s, _ in seen if t > up_at]
    assert after[-20:] == [s for s in after[-20:] if s in (200, 201)] and len(after) >= 30, (
        f"did not recover: {after[-20:]}\n{log[-3000:]}")
    # No request failed with a traceback; the sequencer logs its first failure with one, by
    # design (audit/sequencer.py), then one line a tick, then "recovered".
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert {e["logger"] for e in entries if "exception" in e} <= {"privguard.audit.sequencer"}
    assert not [line for line in log.splitlines()
                if "Traceback" in line and not line.startswith("{")]


# ----------------------------------------------------------------------------- key file
def _snapshot(runtime: Runtime) -> tuple[dict[str, int], list[Any]]:
    with runtime.engine.connect() as conn:
        sealed = conn.execute(text("SELECT subject_id, sealed FROM subjects ORDER BY 1")).all()
    return row_counts(runtime), [tuple(r) for r in sealed]


def _serve_once(settings: Settings, workdir: Path, key_file: Path) -> subprocess.CompletedProcess:
    port = free_port()
    env = server_env(settings, port, PRIVGUARD_KEY_FILE=str(key_file))
    return subprocess.run([PRIVGUARD, "serve", "--port", str(port)], env=env, cwd=workdir,
                          capture_output=True, text=True, timeout=90)


def test_a_missing_or_wrong_key_file_stops_the_server_before_it_touches_anything(
    runtime: Runtime, admin: Any, settings: Settings, tmp_path: Path
) -> None:
    with unit_of_work(runtime.sessions) as session:
        runtime.vault.register(session, admin, {"name": "赵敏", "email": "zm@example.com"},
                               now=datetime.now(UTC))
    before = _snapshot(runtime)
    key = settings.resolved_key_file
    original = key.read_bytes()
    moved = tmp_path / "key-backup"
    key.rename(moved)
    try:
        result = _serve_once(settings, tmp_path, key)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert "master key file" in output and "does not exist" in output, output
        assert "Traceback" not in output
        assert not key.exists(), "a missing key file must not be replaced by a new one"
        assert _snapshot(runtime) == before

        wrong = tmp_path / "wrong.key"
        wrong.write_text(Keyring.generate(datetime.now(UTC)).to_json())
        wrong.chmod(0o600)
        wrong_bytes = wrong.read_bytes()
        result = _serve_once(settings, tmp_path, wrong)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert "does not belong to this database" in output, output
        assert "Traceback" not in output
        assert wrong.read_bytes() == wrong_bytes
        assert _snapshot(runtime) == before
    finally:
        moved.rename(key)
    assert key.read_bytes() == original


# ----------------------------------------------------------------------------- SIGTERM
def test_sigterm_drains_requests_and_stops_the_sequencer(
    runtime: Runtime, admin: Any, settings: Settings, tmp_path: Path
) -> None:
    token = api_key(runtime)
    with unit_of_work(runtime.sessions) as session:
        sid = runtime.vault.register(session, admin, {"name": "周杰"}, now=datetime.now(UTC))
    with served(settings, tmp_path) as server:
        h = {"Authorization": f"Bearer {token}"}
        for _ in range(5):
            r = httpx.get(f"{server.base}/v1/subjects/{sid}", headers=h,
                          params={"purpose": "account_management"})
            assert r.status_code == 200
        time.sleep(0.6)  # a few sequencer ticks
        server.proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal so the exit status says
        # what stopped it (0 on older uvicorn releases).
        assert server.proc.wait(20) in (0, -signal.SIGTERM)
        log = server.output()
    assert "Traceback" not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    messages = [entry["message"] for entry in lines]
    assert any("Shutting down" in m for m in messages), messages[-10:]
    # The lifespan's shutdown ran: the sequencer thread was stopped and the pool closed.
    assert "Application shutdown complete." in messages, messages[-10:]
    assert any("Finished server process" in m for m in messages)
    with unit_of_work(runtime.sessions) as session:
        assert pending_entries(session) == 0  # the sequencer ran while it served


# ----------------------------------------------------------------------------- disk full
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a size-limited tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_sqlite_disk_full_is_a_clear_error_and_the_database_survives(
    settings: Settings, small_disk: Path
) -> None:
    if settings.database_url:
        pytest.skip("the disk-full case is the embedded SQLite default's")
    from fastapi.testclient import TestClient

    from privguard.api.app import create_app

    own = settings.model_copy(update={"home": small_disk / "home",
                                      "key_file": small_disk / "home" / "master.key"})
    initialise(own, now=datetime.now(UTC))
    rt = build_runtime(own)
    try:
        h = {"Authorization": f"Bearer {api_key(rt)}"}
        client = TestClient(create_app(rt), raise_server_exceptions=False)
        kept = []
        for i in range(5):
            r = client.post("/v1/subjects", headers=h,
                            json={"pi": {"name": "孙丽", "email": f"k{i}@example.com"}})
            assert r.status_code == 201
            kept.append(r.json()["subject_id"])
        before = row_counts(rt)
        filler = small_disk / "filler"
        with filler.open("wb") as fh:
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass
        failed = None
        for i in range(50):  # SQLite has a few free pages left: write until it needs more
            r = client.post("/v1/subjects", headers=h, json={"pi": {
                "name": "孙丽", "email": f"f{i}@example.com",
                "shipping_addresses": [{"province": "北京市", "city": "北京市",
                                        "district": "朝阳区", "detail": "建国路" + "八" * 60}]}})
            if r.status_code != 201:
                failed = r
                break
        assert failed is not None, "the disk never filled"
        assert failed.status_code == 503, failed.text
        assert failed.json()["error"]["code"] == "storage_full"
        assert int(failed.headers["retry-after"]) > 0
        # No read without its access-log entry: with the log unwritable, reads are refused too.
        r = client.get(f"/v1/subjects/{kept[0]}", headers=h,
                       params={"purpose": "account_management"})
        assert r.status_code == 503
        filler.unlink()
        with rt.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        after = row_counts(rt)
        assert after["subjects"] >= before["subjects"]  # acknowledged writes all there
        for sid in kept:
            r = client.get(f"/v1/subjects/{sid}", headers=h, params={
                "purpose": "account_management", "view": "plain", "fields": ["email"]})
            assert r.status_code == 200 and r.json()["fields"]["email"]["value"].startswith("k")
        r = client.post("/v1/subjects", headers=h, json={"pi": {"name": "孙丽"}})
        assert r.status_code == 201  # and writes work again, no restart needed
    finally:
        rt.close()
