"""``privguard policy``: lint a policy file and explain decisions, without a database."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from privguard.catalog.loader import CatalogError, load_catalog
from privguard.config import load_settings
from privguard.policy.check import check_policy
from privguard.policy.explain import explain
from privguard.policy.loader import PolicyError, load_policy, shipped_policy_text
from privguard.policy.rules import Action, Facts, Relationship, Role, View

policy_app = typer.Typer(
    help="The access policy: check a policy file, explain a decision.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)

FACTS = [r.value for r in Relationship] + ["consent"]


def _catalog():  # type: ignore[no-untyped-def]
    try:
        return load_catalog(load_settings().catalog_path)
    except CatalogError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from None


@policy_app.command("check")
def check(
    file: Annotated[
        Path | None,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="Policy YAML; default: PRIVGUARD_POLICY_PATH or the shipped policy.",
        ),
    ] = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 on warnings too.")] = False,
) -> None:
    """Lint a policy: errors (it would not load), and warnings: rules that can never fire,
    catalog fields no rule lets anyone read, roles and purposes no rule uses, sensitive fields
    shown plain. Exit 0 clean, 1 errors (or warnings with --strict)."""
    path = file or load_settings().policy_path
    try:
        text = path.read_text("utf-8") if path else shipped_policy_text()
    except OSError as exc:
        err.print(f"error: cannot read {path}: {exc.strerror}", markup=False)
        raise typer.Exit(1) from None
    problems = check_policy(text, _catalog(), source=str(path or "shipped policy"))
    errors = [p for p in problems if p.severity == "error"]
    for p in problems:
        style = "red" if p.severity == "error" else "yellow"
        console.print(f"[{style}]{p.severity}[/]: {p.where}: ", end="")
        console.print(p.message, markup=False, highlight=False, soft_wrap=True)
    warnings = len(problems) - len(errors)
    console.print(f"{len(errors)} errors, {warnings} warnings in {path or 'shipped policy'}")
    if errors or (strict and warnings):
        raise typer.Exit(1)


@policy_app.command("explain")
def explain_cmd(
    role: Annotated[str, typer.Option(help="Role, e.g. merchant_staff.")],
    purpose: Annotated[str, typer.Option(help="Purpose, e.g. after_sales.")],
    field: Annotated[str, typer.Option(help="Catalog field; `*` for list and erase.")],
    action: Annotated[
        str, typer.Option(help="read, lookup, list, register, update, erase")
    ] = "read",
    view: Annotated[str, typer.Option(help="View asked for: plain, masked, waybill.")] = "plain",
    fact: Annotated[
        list[str] | None,
        typer.Option(help=f"Assume this holds (repeatable): {', '.join(FACTS)}."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The rule chain for a hypothetical request, in the order the gate tries it."""
    try:
        role_v, action_v, view_v = Role(role), Action(action), View(view)
        facts = None
        if fact is not None:
            unknown = sorted(set(fact) - set(FACTS))
            if unknown:
                raise ValueError(f"unknown facts {unknown}; known: {', '.join(FACTS)}")
            facts = Facts(
                frozenset(Relationship(f) for f in fact if f != "consent"),
                frozenset({purpose}) if "consent" in fact else frozenset(),
            )
    except ValueError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from None
    catalog = _catalog()
    if field != "*" and field not in catalog:
        err.print(
            f"error: unknown field {field!r}; fields: {', '.join(catalog.names())}", markup=False
        )
        raise typer.Exit(1)
    try:
        policy = load_policy(load_settings().policy_path, catalog)
    except PolicyError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from None
    result = explain(policy, role_v, action_v, purpose, field, view_v, facts)
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "outcome": result.outcome,
                    "view": result.view.value if result.view else None,
                    "rule": result.rule,
                    "chain": [
                        {
                            "rule": s.rule,
                            "view": s.view.value,
                            "conditions": s.conditions,
                            "holds": s.holds,
                            "decides": s.decides,
                        }
                        for s in result.chain
                    ],
                },
                ensure_ascii=False,
            )
            + "\n"
        )
        return
    table = Table(title=f"{role} {action} {field} for {purpose}")
    for col in ("#", "rule", "grants", "when", "holds", "decides"):
        table.add_column(col)
    for s in result.chain:
        holds = "?" if s.holds is None else ("yes" if s.holds else "no")
        table.add_row(
            str(s.position), s.rule, s.view.value, s.conditions, holds, "<-" if s.decides else ""
        )
    console.print(table)
    console.print(result.outcome, markup=False, highlight=False, soft_wrap=True)
