"""``privguard audit …``: sequence, verify and prove the tamper-evident access log.

Registered on the main app in privguard/cli.py; runtime building, error display and progress bars
are the main CLI's own (imported when a command runs, since that module imports this one).
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer
from sqlalchemy import Engine

audit_app = typer.Typer(
    help="The tamper-evident access log: sequence, verify, prove.\n\n"
    "Exit status: 0 success; 1 failure (for `verify`: the log is not intact, and the message "
    "names the first bad position).",
    no_args_is_help=True,
)


def _cli() -> ModuleType:
    from privguard import cli

    return cli


@audit_app.command("sequence")
def sequence(
    batch: Annotated[
        int, typer.Option(min=1, help="Entries per transaction and tree head.")
    ] = 1000,
) -> None:
    """Integrate every pending entry into the Merkle tree and sign tree heads, until caught up.

    Servers do this every PRIVGUARD_SEQUENCER_INTERVAL seconds; use this when none runs.
    Exit status 0, or 1 if the database cannot be used."""
    from privguard.audit.sequencer import pending_entries, sequence_all
    from privguard.clock import utcnow
    from privguard.store.uow import unit_of_work

    cli = _cli()
    runtime = cli._runtime()
    try:
        with unit_of_work(runtime.sessions) as session:
            pending = pending_entries(session)
        with cli._progress() as progress:
            task = progress.add_task("sequencing access log", total=pending)
            done = sequence_all(
                runtime.sessions,
                runtime.signer,
                now_fn=utcnow,
                batch=batch,
                wait=True,
                on_progress=lambda n: progress.advance(task, n),
            )
    finally:
        runtime.close()
    cli.console.print(f"sequenced {done} entries")


@audit_app.command("verify")
def verify(
    public_key: Annotated[
        str | None,
        typer.Option(
            help="The log's public key (hex) to check the heads with. Given, no keyring is "
            "needed (an auditor's read-only access suffices) and the check does not rest on the "
            "server's own key; default: the key of this keyring."
        ),
    ] = None,
) -> None:
    """Recompute the whole access log and check every signed tree head. Writes nothing.

    Exit status 0: the log is intact. 1: it is not (the message names the first bad position
    and what is wrong there), or the check could not run."""
    from privguard.audit.verify import read_snapshot, verify_log

    cli = _cli()
    key = _public_key_option(cli, public_key)
    if key is None:
        runtime = cli._runtime()
        engine, key, close = runtime.engine, runtime.signer.public_key_bytes, runtime.close
    else:
        engine = _engine_only(cli)
        close = engine.dispose
    try:
        with cli._progress() as progress:
            task = progress.add_task("verifying access log", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            with read_snapshot(engine) as conn:
                report = verify_log(conn, key, on_progress=advance)
    finally:
        close()
    rate = f"{report.entries_per_second:,.0f} entries/s" if report.entries_checked else "-"
    cli.console.print(
        f"tree size {report.tree_size}, heads checked {report.heads_checked}, "
        f"entries checked {report.entries_checked}, pending (not yet sequenced) "
        f"{report.pending}, {report.elapsed_seconds:.2f} s ({rate})",
        highlight=False,
    )
    if report.problem is not None:
        raise cli._fail(f"access log NOT intact: {report.problem.message}")
    cli.console.print(f"[green]intact[/]: root {report.root_hash.hex()}", highlight=False)
    if report.pending:
        cli.console.print(
            f"{report.pending} newer entries are not in the tree yet (a running server "
            "sequences them within seconds; or run `privguard audit sequence`)",
            highlight=False,
        )


def _engine_only(cli: ModuleType) -> Engine:
    """The database alone, for checks that need no keyring; refuses an unusable schema."""
    from sqlalchemy.exc import OperationalError

    from privguard.config import load_settings
    from privguard.store.engine import make_engine
    from privguard.store.migrate import schema_problem

    url = load_settings().resolved_database_url
    engine = make_engine(url)
    try:
        problem = schema_problem(engine)
    except OperationalError as exc:
        engine.dispose()
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise cli._fail(f"cannot open the database at {cli._safe_url(url)}: {first}") from None
    if problem:
        engine.dispose()
        raise cli._fail(problem)
    return engine


@audit_app.command("proof")
def proof(
    subject_id: Annotated[str, typer.Argument(help="The customer's subject id (UUID).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the proof here, not to stdout.")
    ] = None,
) -> None:
    """Inclusion proof of every logged access to one customer's data (JSON).

    Sequences pending entries first, so recent accesses are included. Check it with
    docs/verify_proof.py and the key from `privguard audit public-key`.
    Exit status 0, or 1 (bad subject id, or the log does not match its signed head)."""
    from privguard.audit.proof import ProofUnavailable, subject_proof
    from privguard.audit.sequencer import sequence_all
    from privguard.audit.verify import read_snapshot
    from privguard.clock import utcnow

    cli = _cli()
    try:
        sid = uuid.UUID(subject_id)
    except ValueError:
        raise cli._fail(f"not a subject id (UUID): {subject_id!r}") from None
    runtime = cli._runtime()
    try:
        sequence_all(runtime.sessions, runtime.signer, now_fn=utcnow, wait=True)
        with read_snapshot(runtime.engine) as conn:
            try:
                document = subject_proof(conn, runtime.signer, sid)
            except ProofUnavailable as exc:
                raise cli._fail(
                    f"no proof: {exc}; run `privguard audit verify` to find out more"
                ) from None
    finally:
        runtime.close()
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    n = len(document["entries"])
    cli.err.print(
        f"{n} {'entry' if n == 1 else 'entries'} proven against the tree head of size "
        f"{(document['tree_head'] or {}).get('tree_size', 0)}; written to {output}",
        highlight=False,
        soft_wrap=True,
    )


@audit_app.command("public-key")
def public_key() -> None:
    """Print the log's Ed25519 public key (hex): give it to auditors and consumers."""
    cli = _cli()
    runtime = cli._runtime()
    try:
        sys.stdout.write(runtime.signer.public_key_bytes.hex() + "\n")
    finally:
        runtime.close()


@audit_app.command("head")
def head() -> None:
    """Print the latest signed tree head as JSON. Exit status 1 if there is none yet."""
    from privguard.audit.proof import latest_head
    from privguard.audit.verify import read_snapshot

    cli = _cli()
    runtime = cli._runtime()
    try:
        with read_snapshot(runtime.engine) as conn:
            found = latest_head(conn)
        key = runtime.signer.public_key_bytes
    finally:
        runtime.close()
    if found is None:
        raise cli._fail("no signed tree head yet: run `privguard audit sequence`")
    sys.stdout.write(json.dumps({**found, "public_key": key.hex()}) + "\n")


def _public_key_option(cli: ModuleType, value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        key = bytes.fromhex(value.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise cli._fail("--public-key must be 64 hex characters (an Ed25519 public key)")
    return key
