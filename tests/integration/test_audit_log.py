"""The tamper-evident access log end to end, on SQLite and PostgreSQL.

A log of a few hundred entries is made by real vault writes and reads and sequenced in several
batches; then each test changes the database behind privguard's back, the way someone with
database access but without the signing key could, and checks that ``verify_log`` and
``privguard audit verify`` both refuse the log and name the position (or the range) that was
changed. Also: many processes writing while two sequencers run, the inclusion proofs and the
standard-library proof checker, and a log migrated from revision 0001.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from privguard.api.app import create_app
from privguard.audit.entry import LogEntry
from privguard.audit.merkle import verify_inclusion
from privguard.audit.models import AccessLogEntry, TreeHead
from privguard.audit.proof import PROOF_FORMAT, ProofUnavailable, subject_proof
from privguard.audit.sequencer import (
    BackgroundSequencer,
    CorruptTreeHead,
    pending_entries,
    sequence_all,
    sequence_batch,
)
from privguard.audit.verify import Problem, read_snapshot, verify_log
from privguard.bootstrap import Runtime
from privguard.cli import app
from privguard.config import Settings
from privguard.crypto.keyring import Keyring
from privguard.crypto.providers import KeyringProvider
from privguard.crypto.signing import log_signer
from privguard.policy.rules import ActorRef, View
from privguard.store.engine import make_engine
from privguard.store.migrate import upgrade
from privguard.store.uow import session_factory, unit_of_work
from privguard.vault.errors import AccessDenied

from ..conftest import NOW
from . import audit_workers
from .samples import OTHER

LOG = AccessLogEntry.__table__
HEADS = TreeHead.__table__
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "verify_proof.py"
runner = CliRunner()


# ------------------------------------------------------------------------------ building a log
@dataclasses.dataclass
class Log:
    runtime: Runtime
    subjects: list[uuid.UUID]
    size: int
    head_sizes: list[int]


def clock(start: int = 0) -> Callable[[], Any]:
    ticks = iter(range(start, 10**9))
    return lambda: NOW + timedelta(seconds=next(ticks))


def register(runtime: Runtime, actor: ActorRef, n: int) -> list[uuid.UUID]:
    with unit_of_work(runtime.sessions) as session:
        return [
            runtime.vault.register(session, actor, {**OTHER, "name": f"王{chr(0x4E00 + i)}"},
                                   now=NOW)
            for i in range(n)
        ]


def read_many(runtime: Runtime, actor: ActorRef, subjects: list[uuid.UUID], n: int,
              offset: int = 0) -> None:
    """``n`` gate reads in one transaction; each appends one entry, allowed or not."""
    with unit_of_work(runtime.sessions, commit_on=(AccessDenied,)) as session:
        for i in range(n):
            with contextlib.suppress(AccessDenied):
                runtime.vault.read(
                    session, actor, subjects[(offset + i) % len(subjects)], fields=["name"],
                    purpose="legal_obligation", view=View.MASKED,
                    now=NOW + timedelta(seconds=offset + i),
                )


def count(runtime: Runtime, where: Any = None) -> int:
    with unit_of_work(runtime.sessions) as session:
        q = select(func.count()).select_from(LOG)
        return session.execute(q if where is None else q.where(where)).scalar_one()


def head_sizes(runtime: Runtime) -> list[int]:
    with unit_of_work(runtime.sessions) as session:
        return list(session.execute(select(HEADS.c.tree_size).order_by(HEADS.c.tree_size))
                    .scalars())


@pytest.fixture
def log(runtime: Runtime, admin: ActorRef) -> Log:
    """~300 entries from real vault writes and reads, sequenced in batches of 37 after each of
    four rounds, so heads sit at irregular sizes."""
    subjects = register(runtime, admin, 8)
    now = clock()
    for round_ in range(4):
        read_many(runtime, admin, subjects, 70, offset=round_ * 70)
        sequence_all(runtime.sessions, runtime.signer, now_fn=now, batch=37)
    size = count(runtime)
    assert count(runtime, LOG.c.seq.is_(None)) == 0
    heads = head_sizes(runtime)
    assert heads[-1] == size and len(heads) >= 8
    return Log(runtime, subjects, size, heads)


def verify(runtime: Runtime) -> Problem | None:
    with read_snapshot(runtime.engine) as conn:
        report = verify_log(conn, runtime.signer.public_key_bytes)
    return report.problem


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI pointed at the same store as the ``runtime`` fixture."""
    if settings.database_url:
        monkeypatch.setenv("PRIVGUARD_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("PRIVGUARD_DATABASE_URL", raising=False)
    monkeypatch.setenv("PRIVGUARD_HOME", str(settings.home))
    monkeypatch.delenv("PRIVGUARD_KEY_FILE", raising=False)
    monkeypatch.setenv("COLUMNS", "300")  # one line per message, whatever the terminal
    return settings


def cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def execute(runtime: Runtime, sql: str, **params: Any) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(text(sql), params)


def row(runtime: Runtime, seq: int) -> Any:
    with runtime.engine.connect() as conn:
        return conn.execute(select(LOG).where(LOG.c.seq == seq)).one()


def shift(runtime: Runtime, from_seq: int, by: int) -> None:
    """Renumber every entry at or after ``from_seq`` by ``by``, in two steps so the unique
    index on seq never sees two rows with one value mid-statement (PostgreSQL checks per row)."""
    execute(runtime, "UPDATE access_log SET seq = -seq - 1 WHERE seq >= :s", s=from_seq)
    execute(runtime, "UPDATE access_log SET seq = -seq - 1 + :by WHERE seq < 0", by=by)


def leaf(seq: int, entry: str) -> bytes:
    return sha256(b"\x00%d\n" % seq + entry.encode()).digest()


def forged_entry(template: str, **changes: Any) -> str:
    data = json.loads(template)
    data.update(changes)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


# ---------------------------------------------------------------------------------- tampering
# Each returns what verify must say: (kind, first position or None, head size or None).
Expected = tuple[str, int | None, int | None]


def edit_entry(log: Log) -> Expected:
    r = row(log.runtime, 123)
    execute(log.runtime, "UPDATE access_log SET entry = :e WHERE seq = 123",
            e=forged_entry(r.entry, purpose="marketing"))
    return ("altered", 123, None)


def edit_entry_and_leaf_hash(log: Log) -> Expected:
    """The attacker also fixes the stored leaf hash: only the signed root can tell."""
    r = row(log.runtime, 123)
    e = forged_entry(r.entry, purpose="marketing")
    execute(log.runtime, "UPDATE access_log SET entry = :e, leaf_hash = :h WHERE seq = 123",
            e=e, h=leaf(123, e))
    after = min(h for h in log.head_sizes if h > 123)
    return ("root_mismatch", None, after)


def delete_entry(log: Log) -> Expected:
    execute(log.runtime, "DELETE FROM access_log WHERE seq = 77")
    return ("missing", 77, None)


def delete_entry_and_renumber(log: Log) -> Expected:
    execute(log.runtime, "DELETE FROM access_log WHERE seq = 77")
    shift(log.runtime, 78, -1)
    return ("missing", 77, None)


def insert_entry_and_renumber(log: Log) -> Expected:
    """A made-up entry slipped in at position 150 with a correct leaf hash for there."""
    r = row(log.runtime, 150)
    e = forged_entry(r.entry, purpose="marketing", request="forged")
    shift(log.runtime, 150, +1)
    with log.runtime.engine.begin() as conn:
        conn.execute(sa.insert(LOG).values(
            seq=150, at=r.at, actor_id=r.actor_id, organisation_id=r.organisation_id,
            subject_id=r.subject_id, entry=e, leaf_hash=leaf(150, e),
        ))
    return ("inserted", 150, None)


def insert_entry_beyond_last_head(log: Log) -> Expected:
    r = row(log.runtime, 5)
    e = forged_entry(r.entry, request="forged")
    with log.runtime.engine.begin() as conn:
        conn.execute(sa.insert(LOG).values(
            seq=log.size, at=r.at, actor_id=r.actor_id, organisation_id=r.organisation_id,
            subject_id=r.subject_id, entry=e, leaf_hash=leaf(log.size, e),
        ))
    return ("unsigned", log.size, None)


def swap_positions(log: Log) -> Expected:
    execute(log.runtime, "UPDATE access_log SET seq = -1 WHERE seq = 40")
    execute(log.runtime, "UPDATE access_log SET seq = 40 WHERE seq = 200")
    execute(log.runtime, "UPDATE access_log SET seq = 200 WHERE seq = -1")
    return ("altered", 40, None)


def swap_entries(log: Log) -> Expected:
    a, b = row(log.runtime, 41), row(log.runtime, 201)
    execute(log.runtime, "UPDATE access_log SET entry = :e WHERE seq = 41", e=b.entry)
    execute(log.runtime, "UPDATE access_log SET entry = :e WHERE seq = 201", e=a.entry)
    return ("altered", 41, None)


def edit_subject_column(log: Log) -> Expected:
    """Hide an access from the person it was about: the entry is untouched, the index lies."""
    r = row(log.runtime, 222)
    other = next(s for s in log.subjects if s != r.subject_id)
    with log.runtime.engine.begin() as conn:
        conn.execute(sa.update(LOG).where(LOG.c.seq == 222).values(subject_id=other))
    return ("column_mismatch", 222, None)


def edit_organisation_column(log: Log) -> Expected:
    with log.runtime.engine.begin() as conn:
        conn.execute(sa.update(LOG).where(LOG.c.seq == 9).values(organisation_id=uuid.uuid4()))
    return ("column_mismatch", 9, None)


def forge_head_signature(log: Log) -> Expected:
    middle = log.head_sizes[len(log.head_sizes) // 2]
    other = log_signer(KeyringProvider(Keyring.generate(NOW)))
    with log.runtime.engine.begin() as conn:
        h = conn.execute(select(HEADS).where(HEADS.c.tree_size == middle)).one()
        conn.execute(sa.update(HEADS).where(HEADS.c.tree_size == middle).values(
            signature=other.sign(middle, h.signed_at, h.root_hash), key_id=other.key_id))
    return ("bad_signature", None, middle)


def forge_head_root(log: Log) -> Expected:
    """A head re-rooted over forged entries cannot be re-signed without the key."""
    middle = log.head_sizes[2]
    execute(log.runtime, "UPDATE log_tree_heads SET root_hash = :r WHERE tree_size = :s",
            r=sha256(b"forged").digest(), s=middle)
    return ("bad_signature", None, middle)


def truncate_newest_entries(log: Log) -> Expected:
    execute(log.runtime, "DELETE FROM access_log WHERE seq >= :s", s=log.size - 5)
    return ("missing", log.size - 5, log.size)


def corrupt_frontier(log: Log) -> Expected:
    last = log.head_sizes[-1]
    with log.runtime.engine.begin() as conn:
        f = conn.execute(select(HEADS.c.frontier).where(HEADS.c.tree_size == last)).scalar_one()
        conn.execute(sa.update(HEADS).where(HEADS.c.tree_size == last)
                     .values(frontier=bytes(f)[:-1] + bytes([f[-1] ^ 1])))
    return ("frontier_mismatch", None, last)


TAMPERINGS = [
    edit_entry, edit_entry_and_leaf_hash, delete_entry, delete_entry_and_renumber,
    insert_entry_and_renumber, insert_entry_beyond_last_head, swap_positions, swap_entries,
    edit_subject_column, edit_organisation_column, forge_head_signature, forge_head_root,
    truncate_newest_entries, corrupt_frontier,
]


def test_an_untouched_log_verifies(log: Log, cli_env: Settings) -> None:
    with read_snapshot(log.runtime.engine) as conn:
        report = verify_log(conn, log.runtime.signer.public_key_bytes)
    assert report.ok, report.problem
    assert report.tree_size == report.entries_checked == log.size
    assert report.heads_checked == len(log.head_sizes)
    assert report.pending == 0
    out = cli("audit", "verify")
    assert "intact" in out and f"tree size {log.size}" in out
    # Writes after the last head are pending, not a problem.
    read_many(log.runtime, admin_of(log), log.subjects, 3)
    assert verify_log_ok(log.runtime).pending == 3


def admin_of(log: Log) -> ActorRef:
    from privguard.actors.system import cli_actor

    with unit_of_work(log.runtime.sessions) as session:
        return cli_actor(session, now=NOW)


def verify_log_ok(runtime: Runtime) -> Any:
    with unit_of_work(runtime.sessions) as session:
        report = verify_log(session, runtime.signer.public_key_bytes)
    assert report.ok, report.problem
    return report


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda f: f.__name__)
def test_tampering_is_found_and_located(
    log: Log, cli_env: Settings, tamper: Callable[[Log], Expected]
) -> None:
    assert verify(log.runtime) is None
    kind, seq, head_size = tamper(log)
    problem = verify(log.runtime)
    assert problem is not None, "the tampering went unnoticed"
    assert problem.kind == kind, problem
    if seq is not None:
        assert problem.seq == seq, problem
        assert re.search(rf"\bpositions? {seq}\b", problem.message), problem.message
    if head_size is not None:
        assert problem.head_size == head_size, problem
    if kind == "root_mismatch":
        # Named as the range between the two heads around the forged entry, which lies in it.
        before = max(h for h in [0, *log.head_sizes] if h <= 123)
        assert problem.seq is not None and problem.last_seq is not None
        assert before <= problem.seq <= 123 <= problem.last_seq < problem.head_size
        assert f"positions {before}..{problem.head_size - 1}" in problem.message
    out = cli("audit", "verify", code=1)
    assert "NOT intact" in out
    assert problem.message in " ".join(out.split()), out


def test_a_duplicated_position_is_found(log: Log) -> None:
    """Only possible once the unique index on seq is dropped, which an attacker could do."""
    r = row(log.runtime, 60)
    execute(log.runtime, "DROP INDEX ix_access_log_seq")
    try:
        with log.runtime.engine.begin() as conn:
            conn.execute(sa.insert(LOG).values(
                seq=60, at=r.at, actor_id=r.actor_id, organisation_id=r.organisation_id,
                subject_id=r.subject_id, entry=r.entry, leaf_hash=r.leaf_hash,
            ))
        problem = verify(log.runtime)
        assert problem is not None and problem.kind == "duplicate" and problem.seq == 60
        assert "position 60 occurs twice" in problem.message
    finally:  # the PostgreSQL database outlives this test: put the schema back
        execute(log.runtime, "DELETE FROM access_log WHERE seq = 60 AND entry_id > :e",
                e=r.entry_id)
        execute(log.runtime, "CREATE UNIQUE INDEX ix_access_log_seq ON access_log (seq)")
    assert verify(log.runtime) is None


def test_the_sequencer_refuses_to_extend_a_corrupt_head(log: Log, admin: ActorRef) -> None:
    corrupt_frontier(log)
    read_many(log.runtime, admin, log.subjects, 2)
    with pytest.raises(CorruptTreeHead):
        sequence_all(log.runtime.sessions, log.runtime.signer)
    assert count(log.runtime, LOG.c.seq.is_(None)) == 2  # rolled back, nothing signed
    assert head_sizes(log.runtime)[-1] == log.size


def test_an_auditor_verifies_with_the_published_key_and_no_keyring(
    log: Log, cli_env: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    published = cli("audit", "public-key").strip()
    monkeypatch.setenv("PRIVGUARD_KEY_FILE", str(tmp_path / "no-such-keyring"))
    cli("audit", "public-key", code=1)  # no keyring here...
    assert "intact" in cli("audit", "verify", "--public-key", published)  # ...none needed
    edit_entry(log)
    assert "position 123" in cli("audit", "verify", "--public-key", published, code=1)


def test_cli_verify_with_someone_elses_key_fails(log: Log, cli_env: Settings) -> None:
    other = log_signer(KeyringProvider(Keyring.generate(NOW))).public_key_bytes.hex()
    out = cli("audit", "verify", "--public-key", other, code=1)
    assert "signature" in out
    cli("audit", "verify", "--public-key", "zz", code=1)
    own = cli("audit", "public-key").strip()
    assert own == log.runtime.signer.public_key_bytes.hex()
    assert "intact" in cli("audit", "verify", "--public-key", own)


# ---------------------------------------------------------------------------------- sequencer
def test_sequencing_numbers_entries_in_order_and_signs_each_batch(
    runtime: Runtime, admin: ActorRef
) -> None:
    subjects = register(runtime, admin, 2)
    read_many(runtime, admin, subjects, 25)
    n = count(runtime)
    with unit_of_work(runtime.sessions) as session:
        assert pending_entries(session) == n
        assert sequence_batch(session, runtime.signer, now=NOW, limit=10) == 10
    with unit_of_work(runtime.sessions) as session:
        rows = session.execute(select(LOG.c.entry_id, LOG.c.seq, LOG.c.entry, LOG.c.leaf_hash)
                               .order_by(LOG.c.entry_id)).all()
        head = session.execute(select(HEADS)).one()
    assert [r.seq for r in rows[:10]] == list(range(10))  # oldest first
    assert all(r.seq is None and r.leaf_hash is None for r in rows[10:])
    assert all(r.leaf_hash == leaf(r.seq, r.entry) for r in rows[:10])
    assert head.tree_size == 10 and head.key_id == runtime.signer.key_id
    assert runtime.signer.verify(10, head.signed_at, head.root_hash, head.signature)
    total = sequence_all(runtime.sessions, runtime.signer, now_fn=clock(), batch=7)
    assert total == n - 10
    assert head_sizes(runtime)[0] == 10 and head_sizes(runtime)[-1] == n
    with unit_of_work(runtime.sessions) as session:
        assert sequence_batch(session, runtime.signer, now=NOW) == 0  # nothing pending
    assert head_sizes(runtime)[-1] == n  # and no empty head signed
    verify_log_ok(runtime)


def test_cli_sequence_head_and_public_key(
    runtime: Runtime, admin: ActorRef, cli_env: Settings
) -> None:
    cli("audit", "head", code=1)  # nothing signed yet
    subjects = register(runtime, admin, 2)
    read_many(runtime, admin, subjects, 5)
    n = count(runtime)
    assert f"sequenced {n} entries" in cli("audit", "sequence", "--batch", "3")
    head = json.loads(cli("audit", "head"))
    assert head["tree_size"] == n
    assert head["public_key"] == cli("audit", "public-key").strip()
    assert head["key_id"] == runtime.signer.key_id
    assert "sequenced 0 entries" in cli("audit", "sequence")


def test_background_sequencer_catches_up_and_survives_failures(
    runtime: Runtime, admin: ActorRef, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    subjects = register(runtime, admin, 2)
    sequencer = BackgroundSequencer(runtime.sessions, runtime.signer, 0.02, batch=4)
    sequencer.start()
    try:
        read_many(runtime, admin, subjects, 10)
        wait_for(lambda: count(runtime, LOG.c.seq.is_(None)) == 0)
    finally:
        sequencer.stop()
    assert not sequencer.running
    assert sequencer.sequenced == count(runtime)
    verify_log_ok(runtime)

    broken_engine = make_engine(f"sqlite:///{tmp_path}/no/such/dir/db.sqlite")
    broken = BackgroundSequencer(session_factory(broken_engine), runtime.signer, 0.01)
    broken.start()
    try:
        wait_for(lambda: broken.failures >= 3)
        assert broken.running  # it logs and carries on
    finally:
        broken.stop()
        broken_engine.dispose()
    failures = [r for r in caplog.records if "access-log sequencer failed" in r.getMessage()]
    assert failures and failures[0].exc_info is not None  # the first one with its traceback
    assert not any(r.exc_info for r in failures[1:])


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_server_runs_the_sequencer_while_it_serves(runtime: Runtime, admin: ActorRef) -> None:
    subjects = register(runtime, admin, 1)
    fast = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"sequencer_interval": 0.02})
    )
    asgi = create_app(fast)
    with TestClient(asgi):
        sequencer = asgi.fastapi.state.sequencer  # type: ignore[attr-defined]
        assert sequencer is not None and sequencer.running
        read_many(runtime, admin, subjects, 3)
        wait_for(lambda: count(runtime, LOG.c.seq.is_(None)) == 0)
    assert not sequencer.running  # stopped with the server
    off = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"sequencer_interval": 0})
    )
    asgi = create_app(off)
    with TestClient(asgi):
        assert asgi.fastapi.state.sequencer is None  # type: ignore[attr-defined]


def test_concurrent_writers_and_sequencers_give_one_gapless_verified_log(
    runtime: Runtime, admin: ActorRef
) -> None:
    """Four processes read through the gate while two sequencer processes run."""
    subjects = register(runtime, admin, 4)
    before = count(runtime)
    fields = runtime.settings.model_dump(exclude={"keyring"})
    ctx = multiprocessing.get_context("spawn")
    writers, reads = 4, 75
    with ctx.Pool(writers + 2) as pool:
        manager = ctx.Manager()
        stop, ready = manager.Event(), [manager.Event(), manager.Event()]
        sequencers = [
            pool.apply_async(audit_workers.sequence_until, (fields, ready[i], stop, 3 + 2 * i))
            for i in range(2)
        ]
        for event in ready:
            assert event.wait(60), "a sequencer process did not start"
        done = [
            pool.apply_async(audit_workers.read_many, (fields, admin, subjects, reads, NOW))
            for _ in range(writers)
        ]
        total_reads = sum(d.get(timeout=120) for d in done)
        stop.set()
        by_sequencers = sum(s.get(timeout=60) for s in sequencers)
        manager.shutdown()
    assert total_reads == writers * reads
    assert by_sequencers > 0, "the sequencers never ran alongside the writers"
    sequence_all(runtime.sessions, runtime.signer, wait=True)
    n = before + total_reads
    with unit_of_work(runtime.sessions) as session:
        seqs = sorted(session.execute(select(LOG.c.seq)).scalars())
    assert seqs == list(range(n))
    assert head_sizes(runtime)[-1] == n
    report = verify_log_ok(runtime)
    assert report.tree_size == n and report.pending == 0


# ------------------------------------------------------------------------------------- proofs
def test_subject_proof_covers_exactly_the_subjects_entries(log: Log) -> None:
    subject = log.subjects[3]
    with read_snapshot(log.runtime.engine) as conn:
        proof = subject_proof(conn, log.runtime.signer, subject)
    assert proof["format"] == PROOF_FORMAT and proof["subject_id"] == str(subject)
    head = proof["tree_head"]
    assert head["tree_size"] == log.size
    assert head["public_key"] == log.runtime.signer.public_key_bytes.hex()
    with unit_of_work(log.runtime.sessions) as session:
        expected = list(session.execute(
            select(LOG.c.seq).where(LOG.c.subject_id == subject).order_by(LOG.c.seq)).scalars())
    assert [e["leaf_index"] for e in proof["entries"]] == expected and len(expected) > 10
    root = bytes.fromhex(head["root_hash"])
    for item in proof["entries"]:
        assert LogEntry.from_json(item["entry"]).subject_id == subject
        path = [bytes.fromhex(h) for h in item["audit_path"]]
        assert verify_inclusion(leaf(item["leaf_index"], item["entry"]), item["leaf_index"],
                                log.size, path, root)


def test_no_proof_from_a_log_that_disagrees_with_its_head(log: Log) -> None:
    edit_entry_and_leaf_hash(log)
    with read_snapshot(log.runtime.engine) as conn, pytest.raises(ProofUnavailable):
        subject_proof(conn, log.runtime.signer, log.subjects[0])


def run_script(proof: Path, key: str, *, pure: bool) -> subprocess.CompletedProcess[str]:
    # -I -S: no site-packages at all, so the standard-library-only claim is really tested.
    python = [sys.executable, "-I", "-S"] if pure else [sys.executable]
    return subprocess.run([*python, str(SCRIPT), str(proof), key], capture_output=True,
                          text=True, timeout=120, check=False)


def test_proof_from_the_cli_verifies_with_the_standalone_script(
    log: Log, cli_env: Settings, tmp_path: Path
) -> None:
    subject = log.subjects[1]
    read_many(log.runtime, admin_of(log), [subject], 2)  # pending: the command sequences them
    out_file = tmp_path / "proof.json"
    cli("audit", "proof", str(subject), "--output", str(out_file))
    proof = json.loads(out_file.read_text(encoding="utf-8"))
    assert proof["tree_head"]["tree_size"] == log.size + 2
    key_file = tmp_path / "log.pub"
    key_file.write_text(cli("audit", "public-key"))
    key = key_file.read_text().strip()

    for pure in (True, False):
        ok = run_script(out_file, key, pure=pure)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert ok.stdout.count("\nOK    leaf") == len(proof["entries"]) > 10
        assert "FAIL" not in ok.stdout
    assert run_script(out_file, str(key_file), pure=True).returncode == 0  # key from a file

    def tampered(name: str, change: Callable[[dict[str, Any]], None]) -> Path:
        doc = json.loads(out_file.read_text(encoding="utf-8"))
        change(doc)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        return path

    def entry_text(doc: dict[str, Any]) -> None:
        doc["entries"][2]["entry"] = doc["entries"][2]["entry"].replace(
            '"action":"read"', '"action":"list"')

    def audit_path(doc: dict[str, Any]) -> None:
        h = doc["entries"][0]["audit_path"][1]
        doc["entries"][0]["audit_path"][1] = ("0" if h[0] != "0" else "1") + h[1:]

    def leaf_index(doc: dict[str, Any]) -> None:
        doc["entries"][1]["leaf_index"] += 1

    def root(doc: dict[str, Any]) -> None:
        doc["tree_head"]["root_hash"] = sha256(b"other").hexdigest()

    def signature(doc: dict[str, Any]) -> None:
        s = doc["tree_head"]["signature"]
        doc["tree_head"]["signature"] = s[:10] + ("0" if s[10] != "0" else "1") + s[11:]

    def tree_size(doc: dict[str, Any]) -> None:
        doc["tree_head"]["tree_size"] -= 1

    def subject_swap(doc: dict[str, Any]) -> None:
        doc["subject_id"] = str(uuid.uuid4())

    for change, failing_line in [
        (entry_text, "leaf"), (audit_path, "leaf"), (leaf_index, "leaf"),
        (root, "tree head"), (signature, "tree head"), (tree_size, "tree head"),
        (subject_swap, "leaf"),
    ]:
        path = tampered(change.__name__, change)
        for pure in (True, False) if change is signature else (True,):
            result = run_script(path, key, pure=pure)
            assert result.returncode == 1, (change.__name__, result.stdout, result.stderr)
            assert re.search(rf"^FAIL  {failing_line}", result.stdout, re.M), result.stdout
            assert "SOME CHECKS FAILED" in result.stdout
    other_key = log_signer(KeyringProvider(Keyring.generate(NOW))).public_key_bytes.hex()
    assert run_script(out_file, other_key, pure=True).returncode == 1
    assert run_script(tmp_path / "missing.json", key, pure=True).returncode == 2


def test_cli_proof_rejects_a_bad_subject_id(log: Log, cli_env: Settings) -> None:
    assert "not a subject id" in cli("audit", "proof", "not-a-uuid", code=1)


# ---------------------------------------------------------------------------------- migration
@pytest.fixture
def fresh_url(tmp_path: Path, postgres_url: str | None) -> Iterator[str]:
    """An empty database of its own (the session's PostgreSQL one is already migrated)."""
    if postgres_url is None:
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"privguard_t_mig_{secrets.token_hex(4)}"
    admin_engine = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin_engine.dispose()


def test_entries_from_revision_0001_are_rewritten_sequenced_and_verified(
    fresh_url: str,
) -> None:
    from privguard.store.base import UTCDateTime

    engine = make_engine(fresh_url)
    try:
        upgrade(engine, "0001")
        old_log = sa.table(
            "access_log",
            sa.column("at", UTCDateTime()), sa.column("actor_id", sa.Uuid()),
            sa.column("role", sa.String()), sa.column("organisation_id", sa.Uuid()),
            sa.column("subject_id", sa.Uuid()), sa.column("action", sa.String()),
            sa.column("purpose", sa.String()), sa.column("decisions", sa.JSON()),
        )
        actor, org = uuid.uuid4(), uuid.uuid4()
        subjects = [uuid.uuid4() for _ in range(3)]
        old_rows = [
            {
                "at": NOW + timedelta(minutes=i, microseconds=i), "actor_id": actor,
                "role": "customer_service", "organisation_id": org if i % 2 else None,
                "subject_id": subjects[i % 3], "action": "read", "purpose": "customer_support",
                "decisions": [{"field": "name", "view": "masked", "rule": "cs.support"}],
            }
            for i in range(25)
        ]
        with engine.begin() as conn:
            conn.execute(sa.insert(old_log), old_rows)
        upgrade(engine)
        sessions = session_factory(engine)
        signer = log_signer(KeyringProvider(Keyring.generate(NOW)))
        assert sequence_all(sessions, signer, now_fn=clock(), batch=10) == 25
        with unit_of_work(sessions) as session:
            report = verify_log(session, signer.public_key_bytes)
            entries = list(session.execute(select(LOG.c.entry).order_by(LOG.c.seq)).scalars())
            proof = subject_proof(session, signer, subjects[1])
        assert report.ok, report.problem
        assert report.tree_size == 25 and report.heads_checked == 3
        for text_, old in zip(entries, old_rows, strict=True):
            entry = LogEntry.from_json(text_)
            assert entry.to_json() == text_  # canonical
            assert (entry.at, entry.actor_id, entry.organisation_id, entry.subject_id) == (
                old["at"], old["actor_id"], old["organisation_id"], old["subject_id"])
            assert (entry.role, entry.action, entry.purpose) == (
                "customer_service", "read", "customer_support")
            assert list(entry.decisions) == old["decisions"]
            assert entry.detail == {"migrated": "0001"}
        assert [e["leaf_index"] for e in proof["entries"]] == [1, 4, 7, 10, 13, 16, 19, 22]
    finally:
        engine.dispose()


def test_script_is_standard_library_only() -> None:
    imports = set(re.findall(r"^\s*(?:from|import) (\w+)", SCRIPT.read_text(), re.M))
    assert imports <= {"__future__", "hashlib", "json", "sys", "cryptography"}, imports
    assert os.access(SCRIPT, os.R_OK)
