"""The ``privguard`` command line (typer + rich).

Command and option names are stable: scripts and docs depend on them.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from privguard.audit.cli import audit_app
from privguard.audit.context import bind_request_id
from privguard.bootstrap import NotInitialised, Runtime, build_runtime, initialise
from privguard.cases.anomaly_cli import cases_app
from privguard.catalog.loader import CatalogError
from privguard.clock import utcnow
from privguard.config import Settings, load_settings
from privguard.consent.cli import notice_app
from privguard.crypto.errors import KeyringError
from privguard.crypto.keyring import Keyring
from privguard.crypto.providers import RotatingKeyProvider
from privguard.detect.cli import scan_command
from privguard.policy.cli import policy_app
from privguard.policy.loader import PolicyError
from privguard.reports.cli import activate_command, doctor_command, refuse_unassessed, report_app
from privguard.rights.cli import retention_app
from privguard.rights.requests_cli import requests_app
from privguard.sharing.relay_cli import relay_app
from privguard.store.uow import unit_of_work

app = typer.Typer(
    help="privguard: keep customers' personal information safe.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="Master keys: rotate, retire, status.", no_args_is_help=True)
subjects_app = typer.Typer(help="Customers (data subjects) in the vault.", no_args_is_help=True)
actors_app = typer.Typer(help="Actors and their API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(subjects_app, name="subjects")
app.add_typer(actors_app, name="actors")
app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")
app.add_typer(retention_app, name="retention")
app.add_typer(requests_app, name="requests")
app.add_typer(notice_app, name="notice")
app.add_typer(relay_app, name="relay")
app.add_typer(cases_app, name="cases")  # privguard cases scan: cases/anomaly_cli.py
app.command("scan")(scan_command)  # privguard scan FILE: detect/cli.py
app.add_typer(report_app, name="report")  # reports/cli.py
app.command("doctor")(doctor_command)  # privguard doctor: reports/cli.py
policy_app.command("activate")(activate_command)  # the impact-assessment gate: reports/cli.py

@app.callback()
def _command_scope() -> None:
    """Every command is one request: its access-log entries share one request id."""
    bind_request_id()


console = Console()
err = Console(stderr=True)

HostOpt = Annotated[str | None, typer.Option(help="Interface to listen on (default 127.0.0.1).")]
PortOpt = Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print("[bold red]error:[/] ", end="")
    # No markup (messages hold [brackets] of their own); no hard wraps (paths stay whole).
    err.print(message, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or load_settings()
    try:
        return build_runtime(settings)
    except (KeyringError, NotInitialised, CatalogError, PolicyError) as exc:
        raise _fail(str(exc)) from None
    except OperationalError as exc:
        raise _fail(
            f"cannot open the database at {_safe_url(settings.resolved_database_url)}: "
            f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}"
        ) from None


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@app.command()
def init() -> None:
    """Create the data directory and master keyring (if missing) and migrate the database."""
    try:
        report = initialise(load_settings(), now=utcnow())
    except (KeyringError, CatalogError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"data directory  {report.home}")
    console.print(f"database        {_safe_url(report.database_url)}")
    if report.key_file:
        state = "created (mode 0600) — back it up now" if report.created_key else "existing"
        console.print(f"master keyring  {report.key_file} ({state})")
    console.print("[green]ready[/]")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (never done implicitly at start-up)."""
    from privguard.store.engine import make_engine
    from privguard.store.migrate import current_revision, upgrade

    settings = load_settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
        console.print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and the newest one this version knows."""
    from privguard.store.engine import make_engine
    from privguard.store.migrate import current_revision, head_revision

    engine = make_engine(load_settings().resolved_database_url)
    try:
        console.print(f"current {current_revision(engine)}  head {head_revision()}")
    finally:
        engine.dispose()


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    from privguard.api.asgi import serving
    from privguard.api.workers import Workers, reuse_port_supported
    from privguard.ops.logs import configure_logging

    # JSON lines on stderr, PI redacted (ops/logs.py); uvicorn stops on SIGTERM after the
    # requests in flight, then the app's lifespan stops the sequencer (graceful shutdown).
    served = {
        "host": host,
        "port": port,
        "log_config": configure_logging(settings.log_level, settings.log_format),
        "log_level": settings.log_level.lower(),
        "access_log": settings.access_log,
        "timeout_graceful_shutdown": 30,
    }
    if workers > 1 and reuse_port_supported():
        try:
            pool = Workers("privguard.api.asgi:app", served, workers)
        except OSError as exc:
            raise _fail(f"cannot listen on {host}:{port}: {exc}") from None
        raise typer.Exit(pool.run())
    if workers > 1:
        uvicorn.run("privguard.api.asgi:app", factory=True, workers=workers, **served)
        return
    runtime = _runtime(settings)
    try:
        uvicorn.run(serving(runtime), **served)
    finally:
        runtime.close()


@app.command()
def serve(
    host: HostOpt = None,
    port: PortOpt = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    settings = load_settings(host=host, port=port)
    runtime = _runtime(settings)  # refuse early, with a clear message, if anything is wrong
    try:
        refuse_unassessed(runtime)  # PRIVGUARD_REQUIRE_PIA (docs/reports.md)
    finally:
        runtime.close()
    console.print(f"privguard on http://{settings.host}:{settings.port}  (docs: /docs)")
    _serve(settings, settings.host, settings.port, workers)


@app.command()
def demo(
    host: HostOpt = None,
    port: PortOpt = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Seed and exit.")] = False,
    consumers: Annotated[int, typer.Option(min=1, help="Consumers to seed.")] = 2000,
    orders: Annotated[int, typer.Option(min=0, help="Orders to seed.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same marketplace.")] = 2026,
) -> None:
    """Create a local demo marketplace (embedded SQLite by default) and serve it."""
    from privguard.marketplace.demo import (
        DemoSize,
        issue_demo_keys,
        issue_demo_web_accounts,
        seed_demo,
    )

    settings = load_settings(host=host, port=port)
    try:
        initialise(settings, now=utcnow())
    except (KeyringError, CatalogError) as exc:
        raise _fail(str(exc)) from None
    runtime = _runtime(settings)
    try:
        size = DemoSize(consumers=consumers, orders=orders, seed=seed)
        with _progress() as progress:
            task = progress.add_task("seeding demo marketplace", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            seeded = seed_demo(runtime, size, now=utcnow(), on_progress=advance)
        if not seeded:
            console.print("demo marketplace already seeded; issuing fresh demo API keys")
        credentials = issue_demo_keys(runtime, now=utcnow())
        web_accounts = issue_demo_web_accounts(runtime, now=utcnow())
    finally:
        runtime.close()
    console.print("\n[bold]demo credentials[/] (API keys, shown once; every run issues new ones)")
    for cred in credentials:
        # Plain lines, not a table: a key cut to the terminal width cannot be copied.
        console.print(f"  {cred.role:<17} {cred.display_name}", highlight=False)
        console.print(f"    {cred.token}", soft_wrap=True, highlight=False)
    url = f"http://{settings.host}:{settings.port}"
    console.print(f"\n[bold]web sign-in[/] at {url}/login (shown once; every run makes new "
                  "passwords and, for staff, new TOTP secrets: add the otpauth URI or the "
                  "secret to an authenticator app for the 6-digit code)")
    for web in web_accounts:
        console.print(f"  {web.role:<17} {web.display_name}", highlight=False)
        console.print(f"    account {web.login}  password {web.password}", highlight=False)
        if web.totp_uri:
            console.print(f"    TOTP secret {web.totp_secret}", highlight=False)
            console.print(f"    {web.totp_uri}", soft_wrap=True, highlight=False)
    console.print(f"database  {_safe_url(settings.resolved_database_url)}")
    if no_serve:
        return
    console.print(f"\n[bold]privguard demo at {url}[/]  — API docs: {url}/docs")
    console.print(f"try: curl -H 'Authorization: Bearer {credentials[0].token}' {url}/v1/catalog")
    _serve(settings, settings.host, settings.port, 1)


@app.command()
def waybill(
    order_id: Annotated[uuid.UUID, typer.Argument(help="The order (shipment) to label.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the PDF.")] = Path(
        "waybill.pdf"
    ),
    api_key: Annotated[
        str,
        typer.Option(
            "--api-key",
            envvar="PRIVGUARD_API_KEY",
            help="The printing actor's API key (merchant staff or courier); prefer the env var.",
        ),
    ] = "",
) -> None:
    """Print an order's privacy waybill (GB/T 41833-2022) as a 100 x 150 mm PDF label.

    The label is read through the gate as the actor whose API key is given, exactly as
    GET /v1/orders/{order_id}/waybill.pdf does, and logged as theirs.
    """
    from privguard.actors.service import AuthenticationFailed, authenticate
    from privguard.marketplace.errors import MarketplaceNotFound
    from privguard.sharing.waybill import Waybills
    from privguard.sharing.waybill_render import render_pdf
    from privguard.vault.errors import AccessDenied, InvalidPI, VaultError

    runtime = _runtime()
    try:
        with runtime.sessions() as session:
            actor = authenticate(session, api_key)
        with unit_of_work(runtime.sessions, commit_on=(AccessDenied, InvalidPI)) as session:
            payload = Waybills(runtime.vault, runtime.keys).label(
                session, actor, order_id, now=utcnow()
            )
    except (AuthenticationFailed, VaultError, MarketplaceNotFound) as exc:
        raise _fail(str(exc)) from None
    finally:
        runtime.close()
    out.write_bytes(render_pdf(payload))
    console.print(f"wrote {out} (order {order_id})")


def _log_key_operation(session: Session, action: str, detail: dict[str, object]) -> None:
    """Key operations go into the access log like every access (issue 3, item 4)."""
    from privguard.actors.system import cli_actor
    from privguard.audit.service import log_operation

    now = utcnow()
    log_operation(
        session, actor=cli_actor(session, now=now), action=action, rule="keys.operator",
        reason="the command-line operator manages master keys", now=now, detail=detail,
    )


@keys_app.command("status")
def keys_status() -> None:
    """Master keys in the keyring and how many data keys each wraps."""
    from sqlalchemy import func, select

    from privguard.vault.models import SubjectKey

    runtime = _runtime()
    try:
        with unit_of_work(runtime.sessions) as session:
            counts = dict(
                session.execute(
                    select(SubjectKey.master_key_id, func.count()).group_by(
                        SubjectKey.master_key_id
                    )
                ).all()
            )
        table = Table(title=f"key provider: {runtime.keys.name}")
        table.add_column("master key")
        table.add_column("active")
        table.add_column("data keys wrapped", justify="right")
        for key_id in runtime.keys.key_ids():
            active = "yes" if key_id == runtime.keys.active_key_id() else ""
            table.add_row(key_id, active, str(counts.get(key_id, 0)))
        console.print(table)
    finally:
        runtime.close()


@keys_app.command("rotate")
def keys_rotate(
    batch_size: Annotated[int, typer.Option(min=1, help="Data keys per transaction.")] = 500,
) -> None:
    """Re-wrap every data key under a new master key. Interrupted? Run it again to finish."""
    runtime = _runtime()
    try:
        provider = runtime.keys
        if not isinstance(provider, RotatingKeyProvider):
            raise _fail(
                f"the {provider.name!r} key provider cannot add keys; see docs/keys.md "
                "(rotate with a file keyring, then store the new keyring in your secret manager)"
            )
        with unit_of_work(runtime.sessions) as session:
            pending = runtime.vault.keys_to_rewrap(session)
        if pending:
            console.print(
                f"resuming: {pending} data keys still wrapped by an older master key; "
                f"finishing under {provider.active_key_id()}"
            )
        else:
            new_id = provider.add_master_key(utcnow())
            console.print(f"new active master key {new_id}")
            with unit_of_work(runtime.sessions) as session:
                _log_key_operation(session, "key.add", {"key_id": new_id})
                pending = runtime.vault.keys_to_rewrap(session)
        done = 0
        with _progress() as progress:
            task = progress.add_task("re-wrapping data keys", total=pending)
            while True:
                with unit_of_work(runtime.sessions) as session:
                    n = runtime.vault.rewrap_batch(session, batch_size)
                    if n:
                        _log_key_operation(
                            session, "key.rewrap",
                            {"key_id": provider.active_key_id(), "data_keys": n},
                        )
                if n == 0:
                    break
                done += n
                progress.update(task, completed=min(done, pending))
        with unit_of_work(runtime.sessions) as session:
            in_use = runtime.vault.master_keys_in_use(session)
        old = [k for k in provider.key_ids() if k not in in_use and k != provider.active_key_id()]
        console.print(
            f"[green]rotated[/]: {done} data keys now wrapped by {provider.active_key_id()}"
        )
        if old:
            console.print(
                "older master keys no longer wrap any data key: "
                + ", ".join(old)
                + "\nkeep them while you may need to restore older backups; then "
                "`privguard keys retire KEY_ID`"
            )
    finally:
        runtime.close()


@keys_app.command("retire")
def keys_retire(key_id: str) -> None:
    """Remove an old master key from the keyring (refused while any data key uses it).

    Backups taken while it was active can no longer be decrypted afterwards: that is the point.
    """
    runtime = _runtime()
    try:
        provider = runtime.keys
        if not isinstance(provider, RotatingKeyProvider):
            raise _fail(f"the {provider.name!r} key provider is read-only")
        with unit_of_work(runtime.sessions) as session:
            if key_id in runtime.vault.master_keys_in_use(session):
                raise _fail(f"{key_id} still wraps data keys; run `privguard keys rotate` first")
        try:
            provider.retire(key_id)
        except KeyringError as exc:
            raise _fail(str(exc)) from None
        with unit_of_work(runtime.sessions) as session:
            _log_key_operation(session, "key.retire", {"key_id": key_id})
        console.print(f"retired {key_id}")
    finally:
        runtime.close()


@keys_app.command("new")
def keys_new() -> None:
    """Print a new keyring as JSON (for PRIVGUARD_KEYRING with the env provider)."""
    sys.stdout.write(Keyring.generate(utcnow()).to_json() + "\n")


@subjects_app.command("import")
def subjects_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    rejects: Annotated[
        Path | None, typer.Option(help="Write rejected rows (line, field, rule) to this CSV.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 500,
) -> None:
    """Import customers from CSV (columns = catalog field names; JSON in structured columns).

    Exit status 0: every row imported; 2: some rows rejected (the others are imported);
    1: nothing imported (unusable file)."""
    from privguard.actors.system import cli_actor
    from privguard.vault.csv_import import (
        CsvHeaderError,
        count_records,
        import_subjects,
        read_rows,
    )

    runtime = _runtime()
    try:
        now = utcnow()
        with unit_of_work(runtime.sessions) as session:
            actor = cli_actor(session, now=now)
        with file.open(newline="", encoding="utf-8-sig") as fh:
            try:
                total = count_records(fh)
            except CsvHeaderError as exc:
                raise _fail(str(exc)) from None
        with file.open(newline="", encoding="utf-8-sig") as fh, _progress() as progress:
            task = progress.add_task("importing", total=total)
            try:
                report = import_subjects(
                    runtime.sessions,
                    runtime.vault,
                    actor,
                    read_rows(fh, runtime.vault),
                    now=now,
                    batch_size=batch_size,
                    on_progress=lambda n: progress.advance(task, n),
                )
            except CsvHeaderError as exc:
                raise _fail(str(exc)) from None
    finally:
        runtime.close()
    console.print(f"imported {report.imported}, rejected {len(report.rejected)}")
    if rejects:
        # Written even when empty, so a report left by an earlier run is never mistaken for
        # this one's.
        with rejects.open("w", newline="", encoding="utf-8") as out:
            report.write_rejects_csv(out)
        console.print(f"rejected rows written to {rejects}")
    if report.rejected:
        table = Table(title="rejected rows (values are never shown)")
        for col in ("line", "field", "rule", "message"):
            table.add_column(col)
        for row in report.rejected[:50]:
            for e in row.errors:
                table.add_row(str(row.line), e.field, e.rule, e.message)
        console.print(table)
        if len(report.rejected) > 50:
            console.print(f"… and {len(report.rejected) - 50} more")
        raise typer.Exit(2)  # partly imported: scripts must notice


@actors_app.command("create")
def actors_create(
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[str, typer.Option(help="Role, e.g. customer_service.")],
    organisation: Annotated[str | None, typer.Option(help="Organisation id (UUID).")] = None,
    subject: Annotated[
        str | None, typer.Option(help="For a consumer: the subject id of their own record.")
    ] = None,
) -> None:
    """Create an actor and print a new API key for it (shown once)."""

    from privguard.actors.service import create_actor, issue_api_key
    from privguard.policy.rules import Role

    try:
        role_value = Role(role)
    except ValueError:
        raise _fail(f"unknown role {role!r}; roles: {', '.join(r.value for r in Role)}") from None
    if (subject is not None) != (role_value is Role.CONSUMER):
        raise _fail("--subject is required for a consumer and only for a consumer")
    try:
        org_id = uuid.UUID(organisation) if organisation else None
        subject_id = uuid.UUID(subject) if subject else None
    except ValueError:
        raise _fail("--organisation and --subject must be UUIDs") from None
    runtime = _runtime()
    try:
        now = utcnow()
        with unit_of_work(runtime.sessions) as session:
            _require_rows(session, org_id, subject_id)
            actor = create_actor(
                session,
                display_name=name,
                role=role_value,
                now=now,
                organisation_id=org_id,
                subject_id=subject_id,
            )
            key = issue_api_key(session, actor.actor_id, now=now, label="cli")
        # Plain stdout, not rich: the JSON must survive any terminal width for scripts.
        sys.stdout.write(
            json.dumps({"actor_id": str(actor.actor_id), "api_key": key.token}) + "\n"
        )
    finally:
        runtime.close()


def _require_rows(
    session: Session, org_id: uuid.UUID | None, subject_id: uuid.UUID | None
) -> None:
    from privguard.marketplace.models import Organisation
    from privguard.vault.models import Subject

    if org_id is not None and session.get(Organisation, org_id) is None:
        raise _fail(f"no organisation {org_id}")
    if subject_id is not None:
        subject = session.get(Subject, subject_id)
        if subject is None or subject.status != "active":
            raise _fail(f"no active subject {subject_id}")


@actors_app.command("revoke-key")
def actors_revoke_key(key_id: str) -> None:
    """Revoke an API key by its id (the part before the dot)."""
    from privguard.actors.service import revoke_api_key

    runtime = _runtime()
    try:
        with unit_of_work(runtime.sessions) as session:
            ok = revoke_api_key(session, key_id, now=utcnow())
    finally:
        runtime.close()
    if not ok:
        raise _fail(f"no active API key {key_id}")
    console.print(f"revoked {key_id}")


if __name__ == "__main__":  # pragma: no cover
    app()
