"""``privguard relay``: the inbound mail front of contact relays, and the parties' mailboxes."""

from __future__ import annotations

import signal
import ssl
import threading
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from privguard.clock import utcnow
from privguard.store.uow import unit_of_work

relay_app = typer.Typer(
    help="Contact relays: the inbound mail front, merchants' and couriers' mailboxes.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)


@relay_app.command("mail-serve")
def mail_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 2525,
    tls_cert: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Certificate for STARTTLS.")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Its private key.")
    ] = None,
    auth: Annotated[
        bool,
        typer.Option(help="Offer SMTP AUTH: merchants and couriers log in with their API key "
                     "(after STARTTLS)."),
    ] = False,
    auth_without_tls: Annotated[
        bool,
        typer.Option(help="Offer AUTH without STARTTLS too (only behind an MTA that "
                     "terminates TLS, on a private interface)."),
    ] = False,
    max_bytes: Annotated[int, typer.Option(min=1024, help="Largest message accepted.")] = (
        10 * 1024 * 1024
    ),
) -> None:
    """Receive mail for o-…@relay.<PRIVGUARD_RELAY_DOMAIN> and relay it to the buyer or back
    to the merchant or courier, through PRIVGUARD_RELAY_SMTP_HOST (docs/relays.md). Runs until
    interrupted (Ctrl-C, SIGTERM)."""
    from privguard.cli import _fail, _runtime
    from privguard.sharing.relay import Relays
    from privguard.sharing.relay_mail import MailRelay, Upstream, smtp_front

    runtime = _runtime()
    try:
        upstream = Upstream.from_settings(runtime.settings)
        if upstream is None:
            raise _fail("PRIVGUARD_RELAY_SMTP_HOST is not set: relayed mail has nowhere to go")
        if (tls_cert is None) != (tls_key is None):
            raise _fail("--tls-cert and --tls-key go together")
        context = None
        if tls_cert is not None and tls_key is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls_cert, tls_key)
        if auth and context is None and not auth_without_tls:
            raise _fail("--auth needs --tls-cert/--tls-key (or --auth-without-tls)")
        try:
            relays = Relays.from_settings(runtime.vault, runtime.settings)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        relay = MailRelay(runtime.sessions, relays, upstream)
        front = smtp_front(relay, host, port, tls_context=context, allow_auth=auth,
                           auth_without_tls=auth_without_tls, max_bytes=max_bytes)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        front.start()
        console.print(
            f"relaying mail for *@{relays.config.mail_domain} on {host}:{port} "
            f"to {upstream.host}:{upstream.port}"
        )
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            front.stop()
    finally:
        runtime.close()


@relay_app.command("mailbox-add")
def mailbox_add(
    address: Annotated[str, typer.Argument(help="The merchant's or courier's e-mail address.")],
    organisation: Annotated[uuid.UUID, typer.Option(help="The merchant or carrier.")],
    actor: Annotated[
        uuid.UUID | None,
        typer.Option(help="The staff member or courier it belongs to; omit for a merchant's "
                     "shared inbox (where buyers' replies go)."),
    ] = None,
) -> None:
    """Register an address that may write to buyers through relay aliases."""
    from privguard.actors.system import cli_actor
    from privguard.cli import _fail, _runtime
    from privguard.sharing.relay import Relays
    from privguard.vault.errors import InvalidPI

    runtime = _runtime()
    try:
        relays = Relays.from_settings(runtime.vault, runtime.settings)
        now = utcnow()
        with unit_of_work(runtime.sessions) as session:
            relays.add_mailbox(session, cli_actor(session, now=now), address, organisation,
                               now=now, mailbox_actor=actor)
    except InvalidPI as exc:
        raise _fail(str(exc)) from None
    finally:
        runtime.close()
    console.print("registered")


@relay_app.command("mailbox-remove")
def mailbox_remove(address: Annotated[str, typer.Argument(help="A registered address.")]) -> None:
    """Stop an address from writing through relay aliases."""
    from privguard.cli import _fail, _runtime
    from privguard.sharing.relay import Relays

    runtime = _runtime()
    try:
        relays = Relays.from_settings(runtime.vault, runtime.settings)
        with unit_of_work(runtime.sessions) as session:
            removed = relays.remove_mailbox(session, address)
    finally:
        runtime.close()
    if not removed:
        raise _fail("no such relay mailbox")
    console.print("removed")
