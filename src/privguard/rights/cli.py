"""``privguard retention``: delete what the law no longer lets us keep."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import func, select

from privguard.clock import utcnow
from privguard.store.uow import unit_of_work
from privguard.vault.models import RestrictedRecord

retention_app = typer.Typer(
    help="Retention: delete what may no longer be kept.", no_args_is_help=True
)
console = Console()


@retention_app.command("run")
def run(
    dry_run: Annotated[bool, typer.Option(help="Only report what would be deleted.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Records per transaction.")] = 1000,
) -> None:
    """Delete kept records (restricted storage) whose retention has ended, key and all.

    Each batch is its own short transaction, so tables are never locked for long; a run that is
    killed deletes nothing twice and the next run finishes the rest (it deletes by condition)."""
    from privguard.cli import _progress, _runtime

    runtime = _runtime()
    try:
        now = utcnow()
        with unit_of_work(runtime.sessions) as session:
            due = session.execute(
                select(func.count())
                .select_from(RestrictedRecord)
                .where(RestrictedRecord.keep_until <= now)
            ).scalar_one()
        if dry_run:
            console.print(f"dry run: {due} kept records have reached the end of their retention")
            return
        done = 0
        with _progress() as progress:
            task = progress.add_task("deleting expired records", total=due)
            while True:
                with unit_of_work(runtime.sessions) as session:
                    n = runtime.vault.purge_restricted(session, now=now, limit=batch_size)
                if n == 0:
                    break
                done += n
                progress.update(task, completed=min(done, due))
        console.print(f"deleted {done} kept records whose retention ended")
    finally:
        runtime.close()
