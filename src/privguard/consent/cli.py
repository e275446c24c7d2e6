"""``privguard notice …``: publish, show, compare and list versions of the privacy notice.

Registered on the main app in privguard/cli.py; runtime building and error display are the main
CLI's own (imported when a command runs, since that module imports this one).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, cast

import typer

if TYPE_CHECKING:
    from privguard.consent.notice import Change, Fmt, Locale

notice_app = typer.Typer(
    help="The privacy notice (PIPL Art. 17): publish a new version when the catalog, policy or "
    "notice config changed; show, compare and list versions.",
    no_args_is_help=True,
)


class LocaleChoice(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


class FormatChoice(StrEnum):
    MARKDOWN = "markdown"
    HTML = "html"
    JSON = "json"


def _cli() -> ModuleType:
    from privguard import cli

    return cli


def _say(text: str) -> None:
    """Print data as it is: no rich markup or highlighting (names may hold [brackets])."""
    _cli().console.print(text, markup=False, highlight=False, soft_wrap=True)


def _topics(affected: frozenset[str]) -> str:
    return ", ".join(sorted(affected)) or "none"


@notice_app.command("publish")
def publish() -> None:
    """Build the notice from the catalog, policy and notice config in force
    (PRIVGUARD_NOTICE_PATH) and publish it as a new version if its content changed.

    Prints the version, its SHA-256, whether the change is material, and what changed.
    Exit status 0: published, or unchanged; 1: the notice config is invalid, or the content
    repeats an older version."""
    from sqlalchemy.exc import IntegrityError

    from privguard.actors.system import cli_actor
    from privguard.audit.service import log_operation
    from privguard.clock import utcnow
    from privguard.consent.notice_config import NoticeConfigError
    from privguard.consent.notices import (
        NoticeRepublished,
        current_document,
        latest_notice,
        publish_notice,
    )
    from privguard.store.uow import unit_of_work

    cli = _cli()
    runtime = cli._runtime()
    try:
        try:
            document = current_document(
                runtime.catalog, runtime.policy, runtime.settings.notice_path
            )
        except NoticeConfigError as exc:
            raise cli._fail(str(exc)) from None
        now = utcnow()
        try:
            with unit_of_work(runtime.sessions) as session:
                before = latest_notice(session)
                info = publish_notice(session, document, now=now)
                published = before is None or info.version != before.version
                if published:
                    # Who published which text, in the tamper-evident log (design.md inv. 5).
                    log_operation(
                        session, actor=cli_actor(session, now=now), action="notice.publish",
                        rule="notice.operator",
                        reason="the command-line operator publishes the privacy notice",
                        now=now,
                        detail={"version": info.version, "content_hash": info.content_hash,
                                "material": info.material},
                    )
        except NoticeRepublished as exc:
            raise cli._fail(str(exc)) from None
        except IntegrityError:
            raise cli._fail(
                "another publish committed the same version first; nothing was changed, "
                "run `privguard notice publish` again"
            ) from None
    finally:
        runtime.close()
    if not published:
        _say(f"unchanged: version {info.version} is in force (sha256 {info.content_hash})")
        return
    _say(f"published version {info.version}  sha256 {info.content_hash}")
    if before is None:
        _say("first version: nothing to compare with")
        return
    _print_changes(info.changes, info.material, info.affected)


def _print_changes(
    changes: tuple[Change, ...], material: bool, affected: frozenset[str]
) -> None:
    if material:
        _say(f"MATERIAL: consents to ask again: {_topics(affected)}")
    else:
        _say("not material: no consent needs to be asked again")
    _say(f"{len(changes)} change(s):")
    for change in changes:
        _say(f"  {'*' if change.material else '-'} {change.text}")


@notice_app.command("show")
def show(
    version: Annotated[
        int | None, typer.Argument(min=1, help="Version to show; default: the latest.")
    ] = None,
    locale: Annotated[LocaleChoice, typer.Option(help="Language.")] = LocaleChoice.ZH_CN,
    fmt: Annotated[
        FormatChoice, typer.Option("--format", help="markdown, html, or the json document.")
    ] = FormatChoice.MARKDOWN,
) -> None:
    """Print a published notice as consumers read it (or its JSON document).

    Exit status 0, or 1 if no such version is published."""
    from privguard.consent.notice import render_notice
    from privguard.consent.notices import NoticeNotFound, require_notice
    from privguard.store.uow import unit_of_work

    cli = _cli()
    runtime = cli._runtime()
    try:
        with unit_of_work(runtime.sessions) as session:
            info = require_notice(session, version)
    except NoticeNotFound as exc:
        hint = "; run `privguard notice publish`" if version is None else ""
        raise cli._fail(f"{exc}{hint}") from None
    finally:
        runtime.close()
    if fmt is FormatChoice.JSON:
        sys.stdout.write(json.dumps(info.document, ensure_ascii=False, indent=2, sort_keys=True))
        sys.stdout.write("\n")
        return
    sys.stdout.write(
        render_notice(
            info.document,
            cast("Locale", locale.value),
            cast("Fmt", fmt.value),
            version=info.version,
            published_at=info.published_at,
            content_hash_hex=info.content_hash,
        )
    )


@notice_app.command("diff")
def diff(
    old: Annotated[int, typer.Argument(min=1, help="The earlier version.")],
    new: Annotated[int, typer.Argument(min=1, help="The later version.")],
) -> None:
    """What changed from OLD to NEW, whether it is MATERIAL (adds processing consumers had not
    agreed to) and which consents must be asked again. Exit status 0, or 1 if a version does
    not exist."""
    from privguard.consent.notice import diff_notices
    from privguard.consent.notices import NoticeNotFound, require_notice
    from privguard.store.uow import unit_of_work

    cli = _cli()
    runtime = cli._runtime()
    try:
        with unit_of_work(runtime.sessions) as session:
            before = require_notice(session, old)
            after = require_notice(session, new)
    except NoticeNotFound as exc:
        raise cli._fail(str(exc)) from None
    finally:
        runtime.close()
    result = diff_notices(before.document, after.document)
    _say(f"notice version {old} -> {new}")
    _print_changes(result.changes, result.material, result.affected)


@notice_app.command("list")
def list_versions() -> None:
    """Every published version: when, its hash, whether it was material, how many changes."""
    from rich.table import Table

    from privguard.consent.notices import notice_history
    from privguard.store.uow import unit_of_work

    cli = _cli()
    runtime = cli._runtime()
    try:
        with unit_of_work(runtime.sessions) as session:
            versions = notice_history(session)
    finally:
        runtime.close()
    if not versions:
        _say("no privacy notice is published yet; run `privguard notice publish`")
        return
    table = Table(title="privacy notice versions")
    table.add_column("version", justify="right")
    table.add_column("published (UTC)")
    table.add_column("material")
    table.add_column("changes", justify="right")
    table.add_column("consents to ask again")
    table.add_column("sha256")
    for v in versions:
        table.add_row(
            str(v.version),
            v.published_at.strftime("%Y-%m-%d %H:%M:%S"),
            "MATERIAL" if v.material else "",
            str(len(v.changes)),
            "\n".join(sorted(v.affected)) if v.material else "",
            v.content_hash[:16] + "…",
        )
    _cli().console.print(table)
