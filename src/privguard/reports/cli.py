"""``privguard report …``, ``privguard doctor`` and ``privguard policy activate``.

Registered on the main app in privguard/cli.py; runtime building and error display are the main
CLI's own (imported when a command runs, since that module imports this one).
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from privguard.yaml_files import parse_yaml

report_app = typer.Typer(
    help="Compliance reports: records of processing, impact assessments, the requirement "
    "checklist (docs/reports.md).",
    no_args_is_help=True,
)
pia_app = typer.Typer(
    help="Personal-information impact assessments (PIPL Art. 55-56): create, answer, sign.",
    no_args_is_help=True,
)
report_app.add_typer(pia_app, name="pia")

FormatOpt = Annotated[str, typer.Option("--format", help="md, html, pdf or json.")]
LangOpt = Annotated[str, typer.Option("--lang", help="zh-CN or en.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")]
OfficerOpt = Annotated[
    uuid.UUID,
    typer.Option("--officer", help="Actor id of the personal-information protection officer."),
]


def _cli() -> ModuleType:
    from privguard import cli

    return cli


def _check(cli: ModuleType, fmt: str, lang: str) -> None:
    if fmt not in ("md", "html", "pdf", "json"):
        raise cli._fail("--format must be md, html, pdf or json")
    if lang not in ("zh-CN", "en"):
        raise cli._fail("--lang must be zh-CN or en")


def _emit(cli: ModuleType, data: bytes, out: Path | None, what: str) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    out.write_bytes(data)
    cli.err.print(f"wrote {what} to {out}", highlight=False, soft_wrap=True)


def _document(document: dict[str, Any], build: Any, fmt: str, lang: str) -> bytes:
    from privguard.reports.render import render

    if fmt == "json":
        return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    return render(build(document, lang), fmt)  # type: ignore[arg-type]


def _actor(session: Any, actor_id: uuid.UUID) -> Any:
    """The named actor, active; the service decides whether its role may act."""
    from privguard.actors.models import Actor
    from privguard.policy.rules import ActorRef, Role

    found = session.get(Actor, actor_id)
    if found is None or found.disabled_at is not None:
        raise typer.BadParameter("no active actor with this id", param_hint="--officer")
    return ActorRef(actor_id=found.actor_id, role=Role(found.role),
                    organisation_id=found.organisation_id, display_name=found.display_name)


def _run(step: Any, officer: uuid.UUID | None = None) -> Any:
    """One unit of work as the officer (or the CLI operator); refusals print and exit 1."""
    from privguard.actors.system import cli_actor
    from privguard.clock import utcnow
    from privguard.reports.service import AssessmentRefused, Reports
    from privguard.store.uow import unit_of_work
    from privguard.vault.errors import VaultError

    cli = _cli()
    runtime = cli._runtime()
    try:
        now = utcnow()
        with unit_of_work(runtime.sessions) as session:
            actor = _actor(session, officer) if officer else cli_actor(session, now=now)
            return step(Reports.from_runtime(runtime), session, actor, now)
    except typer.BadParameter:
        raise
    except (LookupError, ValueError, VaultError, AssessmentRefused) as exc:
        raise cli._fail(str(exc)) from None
    finally:
        runtime.close()


# ------------------------------------------------------------------------------ RoPA
@report_app.command("ropa")
def ropa(fmt: FormatOpt = "md", lang: LangOpt = "zh-CN", out: OutOpt = None) -> None:
    """Records of processing activities (GDPR Art. 30; PIPL Art. 55-56), generated now from
    the catalog, the policy, the notice config and the recipient registry."""
    from privguard.reports.render import ropa_report

    cli = _cli()
    _check(cli, fmt, lang)
    document = _run(lambda reports, session, actor, now: reports.ropa(session, actor, now=now))
    _emit(cli, _document(document, ropa_report, fmt, lang), out, "the records of processing")


# ------------------------------------------------------------------------------ PIA
@pia_app.command("needs")
def pia_needs() -> None:
    """Which processing activities need an impact assessment, why, and what is linked."""
    from privguard.reports import rules

    def step(reports: Any, session: Any, actor: Any, now: Any) -> None:
        dm = reports.data_map(session, now=now)
        found = reports.assessments(session)
        table = Table(title="processing activities that need an impact assessment")
        for col in ("purpose", "cases (PIPL Art. 55)", "linked pia", "state"):
            table.add_column(col)
        for name, triggers in rules.purposes_needing_pia(dm).items():
            link = dm.policy.purposes[name].pia
            facts = found.get(link) if link else None
            state = ("-" if link is None else "missing" if facts is None
                     else "signed" if facts.signed else "draft")
            table.add_row(name, ", ".join(t.case.value for t in triggers), link or "-", state)
        _cli().console.print(table)

    _run(step)


@pia_app.command("new")
def pia_new(
    purpose: Annotated[str, typer.Argument(help="The purpose (processing activity) to assess.")],
    officer: OfficerOpt,
) -> None:
    """Create a draft assessment, pre-filled from the data map: the Art. 55 cases the purpose
    falls under, the risks found, and the questions to answer. Prints its id."""

    def step(reports: Any, session: Any, actor: Any, now: Any) -> None:
        row = reports.pia_create(session, actor, purpose, now=now)
        doc = row.document
        cli = _cli()
        cli.console.print(f"impact assessment {row.assessment_id} of {purpose} (draft)",
                          highlight=False)
        cli.console.print("cases: " + (", ".join(c["case"] for c in doc["cases"]) or "none"),
                          highlight=False)
        for r in doc["risks"]:
            cli.console.print(f"risk ({r['level']}): {r['id']}", highlight=False, markup=False,
                          soft_wrap=True)
        cli.console.print(f"{len(doc['questions'])} questions to answer: `privguard report pia "
                          f"show {row.assessment_id}`", highlight=False, markup=False,
                          soft_wrap=True)

    _run(step, officer)


@pia_app.command("list")
def pia_list(
    purpose: Annotated[str | None, typer.Option(help="Only this purpose.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every assessment: state, outcome, until when it is kept."""
    from privguard.reports.service import view

    def step(reports: Any, session: Any, actor: Any, now: Any) -> None:
        rows = [view(r) for r in reports.pia_list(session, actor, purpose)]
        if as_json:
            for r in rows:
                sys.stdout.write(json.dumps({k: v for k, v in r.items() if k != "document"},
                                            ensure_ascii=False) + "\n")
            return
        table = Table(title=f"{len(rows)} impact assessments")
        for col in ("assessment", "purpose", "state", "outcome", "signed", "kept until",
                    "unanswered"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["assessment_id"], r["purpose"], r["status"], r["outcome"] or "-",
                          (r["signed_at"] or "-")[:10], (r["keep_until"] or "-")[:10],
                          str(len(r["unanswered"])))
        _cli().console.print(table)

    _run(step)


@pia_app.command("show")
def pia_show(
    assessment_id: uuid.UUID, fmt: FormatOpt = "md", lang: LangOpt = "zh-CN",
    out: OutOpt = None,
) -> None:
    """The assessment report: the processing assessed, cases, risks, questions and answers,
    and the sign-off with its content hash (checked now)."""
    from privguard.reports.render import pia_report
    from privguard.reports.service import view

    cli = _cli()
    _check(cli, fmt, lang)
    document = _run(lambda reports, session, actor, now: view(
        reports.pia_get(session, actor, assessment_id)))
    _emit(cli, _document(document, pia_report, fmt, lang), out, "the assessment")


@pia_app.command("answer")
def pia_answer(
    assessment_id: uuid.UUID,
    officer: OfficerOpt,
    answer: Annotated[
        list[str] | None,
        typer.Option("--answer", help="QUESTION_ID=TEXT (repeatable)."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", exists=True, dir_okay=False,
                     help="A YAML mapping of question id to answer."),
    ] = None,
) -> None:
    """Record the officer's answers (a later answer to the same question replaces it)."""
    cli = _cli()
    answers: dict[str, str] = {}
    if file is not None:
        raw = parse_yaml(file.read_text("utf-8")) or {}
        if not isinstance(raw, dict):
            raise cli._fail(f"{file}: must map question ids to answers")
        answers.update({str(k): str(v) for k, v in raw.items()})
    for item in answer or []:
        qid, sep, text = item.partition("=")
        if not sep:
            raise cli._fail("--answer takes QUESTION_ID=TEXT")
        answers[qid.strip()] = text
    if not answers:
        raise cli._fail("give answers with --answer or --file")

    def step(reports: Any, session: Any, actor: Any, now: Any) -> None:
        row = reports.pia_answer(session, actor, assessment_id, answers, now=now)
        from privguard.reports.rules import unanswered

        left = unanswered(row.document, row.answers)
        cli.console.print(f"recorded {len(answers)} answers; {len(left)} questions left"
                          + (": " + ", ".join(left) if left else ""), highlight=False,
                          markup=False)

    _run(step, officer)


@pia_app.command("sign")
def pia_sign(
    assessment_id: uuid.UUID,
    officer: OfficerOpt,
    outcome: Annotated[str, typer.Option(help="approved or rejected.")] = "approved",
) -> None:
    """The officer signs: every question must be answered. The assessment is then frozen,
    its content hash recorded, and it is kept at least three years."""

    def step(reports: Any, session: Any, actor: Any, now: Any) -> None:
        row = reports.pia_sign(session, actor, assessment_id, outcome, now=now)
        _cli().console.print(
            f"signed {row.assessment_id} ({row.outcome}); content SHA-256 {row.content_hash}; "
            f"kept until {row.keep_until:%Y-%m-%d}. Link it in the policy: `pia: "
            f"{row.assessment_id}` under purposes.{row.purpose}", highlight=False, markup=False,
                          soft_wrap=True)

    _run(step, officer)


@pia_app.command("delete")
def pia_delete(assessment_id: uuid.UUID, officer: OfficerOpt) -> None:
    """Discard a draft, or a signed assessment whose three years are over."""

    def step(reports: Any, session: Any, actor: Any, now: Any) -> None:
        reports.pia_delete(session, actor, assessment_id, now=now)
        _cli().console.print(f"deleted {assessment_id}", highlight=False)

    _run(step, officer)


# ------------------------------------------------------------------------------ checklist
@report_app.command("checklist")
def checklist(
    run: Annotated[bool, typer.Option("--run", help="Run the named tests (pytest).")] = False,
    law: Annotated[str | None, typer.Option(help="Only this law, e.g. PIPL.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, md, html or json.")] = "table",
    lang: LangOpt = "en",
    root: Annotated[
        Path | None, typer.Option(help="The source checkout whose tests/ to run.")
    ] = None,
    test_database_url: Annotated[
        str | None,
        typer.Option(help="A PostgreSQL server for the integration tests (they create and "
                     "drop a database of their own on it); default: SQLite files."),
    ] = None,
    out: OutOpt = None,
) -> None:
    """Every requirement (PIPL, GB/T 35273, GB/T 41833, E-Commerce Law, CRPL, CSL, GDPR,
    CCPA), the feature that meets it and the tests that prove it. A requirement with no test
    is open. With --run, the named tests run and each requirement shows pass or fail; exit
    status 1 when any fails."""
    from privguard.reports import checklist as C
    from privguard.reports.render import checklist_report, render

    cli = _cli()
    requirements = [r for r in C.shipped_checklist() if law is None or r.law == law]
    if not requirements:
        raise cli._fail(f"no requirement of law {law!r}; laws: {', '.join(C.LAWS)}")
    results = None
    if run:
        where = root or C.source_root()
        if where is None or not (where / "tests").is_dir():
            raise cli._fail("the tests are not here (privguard is installed without its source "
                            "tree): run from a checkout or give --root")
        ids = [t for r in requirements for t in r.tests]
        cli.err.print(f"running {len(set(ids))} tests in {where} …", highlight=False)
        env = {"PRIVGUARD_DATABASE_URL": test_database_url} if test_database_url else None
        results = C.run_tests(where, ids, env=env)
    rows = C.rows(requirements, results)
    if fmt == "json":
        data = (json.dumps(rows, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        _emit(cli, data, out, "the checklist")
    elif fmt in ("md", "html"):
        _emit(cli, render(checklist_report(rows, lang), fmt), out, "the checklist")  # type: ignore[arg-type]
    elif fmt == "table":
        colours = {"pass": "green", "fail": "red", "open": "yellow", "covered": "cyan",
                   "skipped": "yellow"}
        table = Table(title="requirement checklist")
        for col in ("law", "item", "feature", "tests", "status"):
            table.add_column(col, overflow="fold")
        for r in rows:
            tests = "\n".join(
                f"{t} ({r['results'][t]})" if r["results"] else t for t in r["tests"]
            ) or "-"
            table.add_row(escape(r["law"]), escape(r["item"]), escape(r["feature"]),
                          escape(tests), f"[{colours[r['status']]}]{r['status']}[/]")
        cli.console.print(table)
        counts = {s: sum(1 for r in rows if r["status"] == s) for s in colours}
        cli.console.print(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    else:
        raise cli._fail("--format must be table, md, html or json")
    if results is not None and any(r["status"] == "fail" for r in rows):
        raise typer.Exit(1)


# ------------------------------------------------------------------------------ doctor
def doctor_command(
    verify: Annotated[
        bool, typer.Option("--verify", help="Also verify the whole access log now.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Inspect this deployment: master key file permissions, TLS, default credentials left,
    policy lint, overdue requests, unsigned impact assessments, retention runs, the access
    log. Prints each finding with its severity and how to fix it; exit status 1 when any
    finding is high."""
    from privguard.clock import utcnow
    from privguard.config import load_settings
    from privguard.reports.doctor import exit_code, inspect

    cli = _cli()
    findings = inspect(load_settings(), now=utcnow(), verify=verify)
    if as_json:
        sys.stdout.write(json.dumps([f.as_dict() for f in findings], ensure_ascii=False) + "\n")
    else:
        colours = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim",
                   "ok": "green"}
        for f in findings:
            cli.console.print(f"[{colours[f.severity.value]}]{f.severity.value:<6}[/] "
                              f"{f.check:<11} ", end="")
            cli.console.print(f.title, markup=False, highlight=False, soft_wrap=True)
            if f.fix:
                cli.console.print(f"{'':18} fix: ", end="")
                cli.console.print(f.fix, markup=False, highlight=False, soft_wrap=True)
        worst = [f for f in findings if f.severity.value == "high"]
        cli.console.print(f"{len(worst)} high, "
                          f"{sum(1 for f in findings if f.severity.value == 'medium')} medium, "
                          f"{sum(1 for f in findings if f.severity.value == 'low')} low")
    raise typer.Exit(exit_code(findings))


# ------------------------------------------------------------------------------ activation
def activate_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="The policy YAML to activate.")],
) -> None:
    """Activate a policy: it must load without errors, and every processing activity that
    needs an impact assessment (PIPL Art. 55) must link (`pia:`) a signed, approved one that
    covers what it does now. Records who activated which file (its SHA-256) and when. Exit 1
    with every reason otherwise. Then serve it with PRIVGUARD_POLICY_PATH=FILE."""
    from privguard.config import load_settings
    from privguard.policy.check import check_policy
    from privguard.policy.loader import parse_policy
    from privguard.reports.service import PolicyNotActivatable

    cli = _cli()
    text = file.read_text("utf-8")
    runtime = cli._runtime()
    try:
        problems = check_policy(text, runtime.catalog, source=str(file))
        errors = [p for p in problems if p.severity == "error"]
        policy, _ = parse_policy(text, runtime.catalog, source=str(file))
        if errors or policy is None:
            for p in errors:
                cli.err.print(str(p), markup=False, highlight=False, soft_wrap=True)
            raise cli._fail(f"{file} has {len(errors)} errors: not activated")
    finally:
        runtime.close()

    def step(reports: Any, session: Any, actor: Any, now: Any) -> Any:
        try:
            return reports.activate(session, actor, policy, text, now=now)
        except PolicyNotActivatable as exc:
            return exc.problems

    result = _run(step)
    if isinstance(result, list):
        for p in result:
            cli.err.print(f"{p.where}: ", end="", markup=False, highlight=False)
            cli.err.print(p.message, markup=False, highlight=False, soft_wrap=True)
        raise cli._fail(
            f"{file} not activated: {len(result)} processing activities lack a signed impact "
            "assessment that covers them (PIPL Art. 55)"
        )
    settings = load_settings()
    cli.console.print(f"activated {file} (SHA-256 {result['sha256']})", highlight=False)
    if settings.policy_path is None or settings.policy_path.resolve() != file.resolve():
        cli.console.print(f"serve it with PRIVGUARD_POLICY_PATH={file.resolve()}",
                          highlight=False, markup=False,
                          soft_wrap=True)


def refuse_unassessed(runtime: Any) -> None:
    """With PRIVGUARD_REQUIRE_PIA=1, stop `privguard serve` before it listens when a
    processing activity that needs an impact assessment has no signed one linked."""
    if not runtime.settings.require_pia:
        return
    from privguard.clock import utcnow
    from privguard.reports.service import PolicyNotActivatable, require_activation

    cli = _cli()
    try:
        require_activation(runtime, now=utcnow())
    except PolicyNotActivatable as exc:
        for p in exc.problems:
            cli.err.print(f"{p.where}: ", end="", markup=False, highlight=False)
            cli.err.print(p.message, markup=False, highlight=False, soft_wrap=True)
        raise cli._fail(
            f"PRIVGUARD_REQUIRE_PIA is on and {len(exc.problems)} processing activities lack a "
            "signed impact assessment: not serving this policy"
        ) from None
