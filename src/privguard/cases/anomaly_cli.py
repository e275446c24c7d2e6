"""``privguard cases …``: the anomaly scanner (``cases scan``).

Registered on the main app in privguard/cli.py as the ``cases`` group; runtime building and
error display are the main CLI's own (imported when a command runs, since it imports this).
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from privguard.cases.anomaly_models import AccessAlert

cases_app = typer.Typer(
    help="Complaints, access anomalies and security incidents.", no_args_is_help=True
)


def _cli() -> ModuleType:
    from privguard import cli

    return cli


@cases_app.command("scan")
def scan_command(
    batch: Annotated[
        int, typer.Option(min=1, help="Access-log entries per transaction.")
    ] = 5000,
    every: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Keep scanning every SECONDS until interrupted (Ctrl-C), as a service would.",
        ),
    ] = None,
    sequence: Annotated[
        bool,
        typer.Option(
            help="First integrate pending access-log entries into the Merkle tree: the scanner "
            "reads the log in tree order, so entries not yet sequenced wait for the next run.",
        ),
    ] = True,
) -> None:
    """Run the anomaly rules over the access-log entries written since the last scan.

    Incremental: a cursor in the database says how far the last scan got, so each run reads
    only new entries and an alert never fires twice. Thresholds: privguard/cases/anomalies.yaml,
    overridden by PRIVGUARD_ANOMALY_CONFIG. Exit status 0 (alerts are results, not errors), or 1
    if the configuration or the database cannot be used."""
    from privguard.audit.sequencer import sequence_all
    from privguard.cases.anomalies import Scanner, alerts_by_id, cursor_position, scan
    from privguard.cases.anomaly_rules import AnomalyConfigError, load_anomaly_config
    from privguard.clock import utcnow
    from privguard.store.uow import unit_of_work

    cli = _cli()
    settings = cli.load_settings()
    try:
        config = load_anomaly_config(settings.anomaly_config)
    except AnomalyConfigError as exc:
        raise cli._fail(str(exc)) from None
    runtime = cli._runtime(settings)
    scanner = Scanner(config)
    try:
        while True:
            if sequence:
                sequence_all(runtime.sessions, runtime.signer, now_fn=utcnow)
            report = scan(runtime.sessions, scanner, now_fn=utcnow, batch=batch)
            if every is None or report.entries or report.fired:
                with unit_of_work(runtime.sessions) as session:
                    position, processed = cursor_position(session)
                    raised = alerts_by_id(session, report.alerts)
                _print(cli, report.entries, report.fired, report.extended, position, processed,
                       report.busy, raised)
            if every is None:
                return
            time.sleep(every)
    except KeyboardInterrupt:
        cli.console.print("stopped")
    finally:
        runtime.close()


def _print(
    cli: ModuleType,
    entries: int,
    fired: int,
    extended: int,
    position: int,
    processed: int,
    busy: bool,
    raised: list[AccessAlert],
) -> None:
    console = cli.console
    if busy:
        console.print("another scanner is running; this run did nothing")
        return
    console.print(
        f"scanned {entries} entries (up to leaf {position}; {processed} in all); "
        f"{fired} new alerts, {extended} updates of open ones"
    )
    # Plain lines, not a table: ids cut to the terminal width could not be copied.
    for a in sorted(raised, key=lambda a: a.alert_id):
        evidence = ", ".join(
            f"{k}={v}" for k, v in sorted(a.evidence.items()) if not isinstance(v, list | dict)
        )
        console.print(
            f"  alert {a.alert_id}  {a.rule}  {a.role} {a.actor_id}", highlight=False,
            soft_wrap=True,
        )
        console.print(
            f"    {a.window_start:%Y-%m-%d %H:%M}-{a.window_end:%H:%M} UTC, entries "
            f"{a.first_entry_id}-{a.last_entry_id}: {evidence}",
            highlight=False, soft_wrap=True,
        )
