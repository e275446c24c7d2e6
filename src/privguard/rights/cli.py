"""``privguard retention``: delete or anonymise what may no longer be kept; legal holds."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from privguard.clock import utcnow
from privguard.store.uow import unit_of_work

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from privguard.rights.retention import Preview, RunSummary, Step

retention_app = typer.Typer(
    help="Retention: delete or anonymise what may no longer be kept; legal holds.",
    no_args_is_help=True,
)
hold_app = typer.Typer(
    help="Legal holds: suspend deletion for a named subject.", no_args_is_help=True
)
retention_app.add_typer(hold_app, name="hold")
console = Console()

PHASE_LABELS = {
    "reschedule": "recomputing expiry dates",
    "live": "expired fields",
    "restricted": "kept records past retention",
}


@retention_app.command("run")
def run(
    dry_run: Annotated[
        bool, typer.Option(help="Only report what would be deleted or anonymised.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Subjects or records per transaction.")
    ] = 1000,
) -> None:
    """Delete or anonymise expired fields of live accounts, then delete kept records
    (restricted after erasure) whose retention ended; legal holds are respected.

    Each batch is its own short transaction. A run that is stopped is continued by the next
    one with the same cut-off, so it deletes exactly what it should, nothing twice."""
    from privguard.actors.system import cli_actor
    from privguard.cli import _runtime
    from privguard.rights.retention import preview, run_retention

    runtime = _runtime()
    try:
        if dry_run:
            with unit_of_work(runtime.sessions) as session:
                report = preview(session, runtime.vault, now=utcnow(), batch_size=batch_size)
            _print_preview(report)
            return
        with unit_of_work(runtime.sessions) as session:
            actor = cli_actor(session, now=utcnow())
        bars = _Bars()
        with bars.progress:
            result = run_retention(
                runtime.sessions,
                runtime.vault,
                actor,
                now=utcnow,
                batch_size=batch_size,
                on_start=bars.start,
                on_batch=bars.advance,
            )
        _print_result(result)
    finally:
        runtime.close()


class _Bars:
    """One rich progress bar per phase of the run."""

    def __init__(self) -> None:
        from privguard.cli import _progress

        self.progress: Progress = _progress()
        self.tasks: dict[str, TaskID] = {}
        self.current: str | None = None

    def start(self, run: RunSummary, resumed: bool, totals: dict[str, int]) -> None:
        cutoff = run.cutoff.isoformat(timespec="seconds")
        if resumed:
            console.print(
                f"continuing unfinished run {run.run_id} (cut-off {cutoff}, "
                f"{run.batches} batches done)"
            )
        else:
            console.print(f"retention run {run.run_id}, cut-off {cutoff}")
        for phase, label in PHASE_LABELS.items():
            if phase == "reschedule" and not totals.get(phase):
                continue
            self.tasks[phase] = self.progress.add_task(label, total=totals.get(phase) or None)

    def advance(self, step: Step) -> None:
        if self.current not in (None, step.phase):
            self._close(self.current)
        self.current = step.phase
        task = self.tasks.get(step.phase)
        if task is not None:
            self.progress.advance(task, step.done)
        if step.finished:
            for phase in self.tasks:
                self._close(phase)

    def _close(self, phase: str) -> None:
        """A phase is over: its bar shows what was done (the totals were estimates)."""
        task = self.tasks.get(phase)
        if task is None:
            return
        done = next(t.completed for t in self.progress.tasks if t.id == task)
        self.progress.update(task, total=done, completed=done)


def _print_result(result: RunSummary) -> None:
    if result.finished_at is None:
        console.print(f"run {result.run_id} stopped in phase {result.phase}; run it again")
        return
    console.print(
        f"[green]run {result.run_id} finished[/]: {result.subjects} records changed "
        f"({result.fields_deleted} values deleted, {result.fields_anonymised} anonymised); "
        f"{result.restricted} kept records deleted; {result.held} subjects skipped "
        f"because of legal holds"
        + (f", {result.restricted_held} kept records held" if result.restricted_held else "")
        + (
            f"; {result.unreadable} records failed their integrity check (altered, or their "
            "key is missing) and were left as they are"
            if result.unreadable
            else ""
        ),
        highlight=False,
        soft_wrap=True,
    )


def _print_preview(report: Preview) -> None:
    cutoff = report.cutoff.isoformat(timespec="seconds")
    console.print(f"dry run (nothing changed), cut-off {cutoff}", highlight=False)
    if report.resuming is not None:
        console.print(
            f"an unfinished run {report.resuming} would be continued with its cut-off",
            highlight=False,
            soft_wrap=True,
        )
    if report.rules_changed:
        console.print("retention rules changed since the last run: every record was checked")
    names = sorted(
        set(report.deleted)
        | set(report.anonymised)
        | set(report.held_fields)
        | set(report.restricted)
        | set(report.restricted_held)
    )
    table = Table(title="per field")
    for column in ("field", "delete", "anonymise", "held", "kept records due", "kept, held"):
        table.add_column(column, justify="left" if column == "field" else "right")
    for name in names:
        table.add_row(
            name,
            str(report.deleted.get(name, 0)),
            str(report.anonymised.get(name, 0)),
            str(report.held_fields.get(name, 0)),
            str(report.restricted.get(name, 0)),
            str(report.restricted_held.get(name, 0)),
        )
    if names:
        console.print(table)
    console.print(
        f"dry run: {report.subjects} records would change "
        f"({sum(report.deleted.values())} values deleted, "
        f"{sum(report.anonymised.values())} anonymised); "
        f"{sum(report.restricted.values())} kept records have reached the end of their "
        f"retention; {report.held_subjects} subjects skipped because of legal holds",
        highlight=False,
        soft_wrap=True,
    )


@retention_app.command("status")
def status(
    limit: Annotated[int, typer.Option(min=1, help="How many runs to show.")] = 10,
) -> None:
    """The latest retention runs, newest first."""
    from privguard.cli import _runtime
    from privguard.rights.retention import recent_runs

    runtime = _runtime()
    try:
        with unit_of_work(runtime.sessions) as session:
            runs = recent_runs(session, limit)
    finally:
        runtime.close()
    if not runs:
        console.print("no retention run yet")
        return
    for r in runs:
        state = (
            f"finished {r.finished_at.isoformat(timespec='seconds')}"
            if r.finished_at
            else f"unfinished (phase {r.phase}; `privguard retention run` continues it)"
        )
        console.print(
            f"{r.run_id}  cut-off {r.cutoff.isoformat(timespec='seconds')}  {state}\n"
            f"    {r.subjects} records changed: {r.fields_deleted} values deleted, "
            f"{r.fields_anonymised} anonymised; {r.restricted} kept records deleted; "
            f"{r.held} subjects skipped (legal holds); {r.batches} batches"
            + (f", continued {r.resumed} times" if r.resumed else ""),
            highlight=False,
            soft_wrap=True,
            markup=False,
        )


def parse_until(text: str) -> datetime:
    """A date holds through that whole day (UTC); a date and time is taken as given (UTC if
    no offset)."""
    from privguard.rights.holds import end_of

    try:
        if len(text) == 10:
            return end_of(date.fromisoformat(text))
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("expected YYYY-MM-DD or an ISO 8601 date and time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _hold_errors() -> tuple[type[Exception], ...]:
    from privguard.rights.holds import HoldAlreadyReleased, HoldNotFound
    from privguard.vault.errors import VaultError

    return (VaultError, HoldNotFound, HoldAlreadyReleased)


@hold_app.command("add")
def hold_add(
    subject_id: uuid.UUID,
    reason: Annotated[str, typer.Option(help="Why (shown in the consumer's statement).")],
    until: Annotated[str, typer.Option(help="Expiry: YYYY-MM-DD (through that day, UTC).")],
) -> None:
    """Suspend deletion of one subject's data until a date."""
    from privguard.actors.system import cli_actor
    from privguard.cli import _fail, _runtime
    from privguard.rights.holds import place_hold

    expires = parse_until(until)
    runtime = _runtime()
    try:
        now = utcnow()
        with unit_of_work(runtime.sessions) as session:
            hold = place_hold(
                session,
                cli_actor(session, now=now),
                subject_id,
                reason=reason,
                until=expires,
                now=now,
            )
            hold_id, expires_at = hold.hold_id, hold.expires_at
    except _hold_errors() as exc:
        raise _fail(str(exc)) from None
    finally:
        runtime.close()
    console.print(
        f"legal hold {hold_id} on {subject_id} until {expires_at.isoformat(timespec='seconds')}",
        highlight=False,
        soft_wrap=True,
    )


@hold_app.command("release")
def hold_release(
    hold_id: uuid.UUID,
    reason: Annotated[str, typer.Option(help="Why the hold ends.")],
) -> None:
    """End a legal hold; the next retention run deletes what it kept."""
    from privguard.actors.system import cli_actor
    from privguard.cli import _fail, _runtime
    from privguard.rights.holds import release_hold

    runtime = _runtime()
    try:
        now = utcnow()
        with unit_of_work(runtime.sessions) as session:
            release_hold(session, cli_actor(session, now=now), hold_id, reason=reason, now=now)
    except _hold_errors() as exc:
        raise _fail(str(exc)) from None
    finally:
        runtime.close()
    console.print(f"legal hold {hold_id} released", highlight=False)


@hold_app.command("list")
def hold_list(
    all_: Annotated[
        bool, typer.Option("--all", help="Include released and expired holds.")
    ] = False,
) -> None:
    """Legal holds, the soonest to expire first."""
    from privguard.actors.system import cli_actor
    from privguard.cli import _runtime
    from privguard.rights.holds import list_holds, view

    runtime = _runtime()
    try:
        now = utcnow()
        with unit_of_work(runtime.sessions) as session:
            holds = [
                view(h, now)
                for h in list_holds(
                    session, cli_actor(session, now=now), now=now, active_only=not all_
                )
            ]
    finally:
        runtime.close()
    if not holds:
        console.print("no legal holds" if all_ else "no legal holds in force")
        return
    # Plain lines, not a table: an id cut to the terminal width cannot be copied.
    for h in holds:
        console.print(
            f"{h.hold_id}  {h.state.value:<8} subject {h.subject_id}  "
            f"until {h.expires_at.isoformat(timespec='seconds')}  {h.reason}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
