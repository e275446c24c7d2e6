"""``privguard requests``: the protection officer's queue from the command line.

The same steps as the HTTP routes (rights/fulfilment.py), attributed to a named officer
(``--officer``, an actor with the privacy_officer or platform_admin role), so the access log and
the request's history say who did what, whichever door was used.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from privguard.clock import utcnow
from privguard.policy.rules import ActorRef, Role
from privguard.rights.deadlines import urgency
from privguard.rights.fulfilment import statement_json
from privguard.rights.lifecycle import RequestState, RequestType
from privguard.rights.service import OFFICERS
from privguard.store.uow import unit_of_work
from privguard.vault.errors import VaultError

requests_app = typer.Typer(
    help="Data-subject requests: the officer's queue, decisions and fulfilment.",
    no_args_is_help=True,
)
console = Console()

OfficerOpt = Annotated[
    uuid.UUID,
    typer.Option("--officer", help="Actor id of the officer acting (privacy_officer role)."),
]
NoteOpt = Annotated[str, typer.Option("--note", help="What the consumer reads.")]


def _officer(session: Session, actor_id: uuid.UUID) -> ActorRef:
    from privguard.actors.models import Actor

    found = session.get(Actor, actor_id)
    if found is None or found.disabled_at is not None or Role(found.role) not in OFFICERS:
        raise typer.BadParameter(
            "must be an active actor with the privacy_officer or platform_admin role",
            param_hint="--officer",
        )
    return ActorRef(
        actor_id=found.actor_id,
        role=Role(found.role),
        organisation_id=found.organisation_id,
        display_name=found.display_name,
    )


def _run(officer_id: uuid.UUID, step: Any) -> Any:
    """Run one step in one unit of work as the officer; errors print and exit 1."""
    from privguard.cli import _runtime

    runtime = _runtime()
    try:
        with unit_of_work(runtime.sessions) as session:
            officer = _officer(session, officer_id)
            return step(runtime, session, officer, utcnow())
    except typer.BadParameter:
        raise
    except (LookupError, ValueError, VaultError) as exc:
        console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        runtime.close()


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@requests_app.command("queue")
def queue(
    officer: OfficerOpt,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Open requests, soonest deadline first, with ok / due_soon / overdue."""

    def step(runtime: Any, session: Session, actor: ActorRef, now: datetime) -> None:
        rows = runtime.rights.queue(session, actor)
        if as_json:
            for r in rows:
                print(json.dumps({
                    "request_id": str(r.request_id), "type": r.type, "state": r.state,
                    "jurisdiction": r.jurisdiction, "answer_by": r.answer_by.isoformat(),
                    "urgency": urgency(r, now).value,
                }))
            return
        table = Table(title=f"{len(rows)} open requests")
        for col in ("request", "type", "state", "jur.", "received", "answer by", "urgency"):
            table.add_column(col)
        colours = {"overdue": "red", "due_soon": "yellow", "ok": "green"}
        for r in rows:
            level = urgency(r, now).value
            table.add_row(
                str(r.request_id), r.type, r.state, r.jurisdiction, _when(r.received_at),
                _when(r.answer_by), f"[{colours[level]}]{level}[/]",
            )
        console.print(table)

    _run(officer, step)


@requests_app.command("show")
def show(request_id: uuid.UUID, officer: OfficerOpt) -> None:
    """One request with its whole history."""

    def step(runtime: Any, session: Session, actor: ActorRef, now: datetime) -> None:
        r = runtime.rights.get(session, actor, request_id)
        console.print(
            f"[bold]{r.type}[/bold] {r.request_id}  state={r.state}  jurisdiction="
            f"{r.jurisdiction}  answer by {_when(r.answer_by)} ({urgency(r, now).value})"
        )
        if r.details.get("fields"):
            console.print("fields: " + ", ".join(r.details["fields"]))
        if r.outcome:
            console.print(f"outcome: {r.outcome}")
        for e in runtime.rights.history(session, request_id):
            console.print(f"  {_when(e.at)}  {e.role:<16} {e.from_state or '-'} -> {e.to_state}"
                          + (f"  {e.note}" if e.note else ""))

    _run(officer, step)


def _move(request_id: uuid.UUID, officer: uuid.UUID, to: RequestState, note: str) -> None:
    def step(runtime: Any, session: Session, actor: ActorRef, now: datetime) -> None:
        r = runtime.rights.move(session, actor, request_id, to, note=note, now=now)
        console.print(f"{r.request_id} is now {r.state}")

    _run(officer, step)


@requests_app.command("start")
def start(request_id: uuid.UUID, officer: OfficerOpt, note: NoteOpt = "") -> None:
    """Start work on a request whose identity was verified another way."""
    _move(request_id, officer, RequestState.IN_PROGRESS, note)


@requests_app.command("refuse")
def refuse(
    request_id: uuid.UUID,
    officer: OfficerOpt,
    reason: Annotated[str, typer.Option(help="Why, for the consumer (PIPL Art. 50).")],
) -> None:
    """Refuse a request with the reason the consumer sees."""
    _move(request_id, officer, RequestState.REFUSED, reason)


@requests_app.command("complete")
def complete(
    request_id: uuid.UUID,
    officer: OfficerOpt,
    note: NoteOpt = "",
    partly: Annotated[bool, typer.Option(help="Only part was done; --note says why.")] = False,
) -> None:
    """Mark a request done (or partly done, with a reason)."""
    to = RequestState.PARTIALLY_COMPLETED if partly else RequestState.COMPLETED
    _move(request_id, officer, to, note)


@requests_app.command("assign")
def assign(request_id: uuid.UUID, officer: OfficerOpt, to: uuid.UUID) -> None:
    """Assign a request to a colleague (actor id)."""

    def step(runtime: Any, session: Session, actor: ActorRef, now: datetime) -> None:
        runtime.rights.assign(session, actor, request_id, to, now=now)
        console.print(f"{request_id} assigned to {to}")

    _run(officer, step)


@requests_app.command("fulfil")
def fulfil(request_id: uuid.UUID, officer: OfficerOpt) -> None:
    """Carry out a verified correction, deletion, account cancellation or consent withdrawal,
    whichever the request is; prints what was done (field names and dates, never values)."""

    def step(runtime: Any, session: Session, actor: ActorRef, now: datetime) -> None:
        f = runtime.fulfilment
        kind = RequestType(runtime.rights.get(session, actor, request_id).type)
        if kind is RequestType.CORRECTION:
            r = f.correct(session, actor, request_id, now=now)
            console.print(r.outcome)
        elif kind is RequestType.DELETION:
            _, statement = f.delete(session, actor, request_id, now=now)
            console.print_json(data=statement_json(statement))
        elif kind is RequestType.ACCOUNT_CANCELLATION:
            result = f.cancel_account(session, actor, request_id, now=now)
            if not result.closed:
                console.print(
                    f"not closed: {result.unsettled_orders} order(s) still on their way or "
                    "being refunded; the consumer has been told"
                )
            else:
                console.print("account closed")
                console.print_json(data=statement_json(result.statement))
        elif kind is RequestType.CONSENT_WITHDRAWAL:
            _, done = f.withdraw_consents(session, actor, request_id, now=now)
            console.print("withdrawn: " + (", ".join(done) or "nothing was granted"))
        else:
            console.print(
                f"[red]refused:[/red] a {kind.value} request is answered with `complete` "
                "(access and portability: the consumer downloads the package; explanation: "
                "GET /v1/requests/{id}/explanation)"
            )
            raise typer.Exit(1)

    _run(officer, step)
