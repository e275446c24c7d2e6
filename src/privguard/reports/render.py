"""Reports as people read them: Markdown, a standalone HTML page, or PDF.

A report document (plain JSON from reports/rules.py) is first laid out as a :class:`Report`, a
list of headings, paragraphs, bullet lists and tables in one locale; the three formats then only
draw that layout. So Markdown, HTML and PDF always say the same thing, and the templates
(reports/templates/) hold no wording of their own.

HTML is autoescaped and Markdown escapes its own syntax (consent/notice_text.py
``markdown_escape``), so a recipient's name cannot inject markup. The PDF sets Chinese in
ReportLab's built-in CID font STSong-Light (viewers supply the glyphs; no font file ships), as
the waybills do (sharing/waybill_render.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from io import BytesIO
from typing import Any, Literal
from xml.sax.saxutils import escape

from privguard.consent.notice_text import markdown_escape
from privguard.reports.text import label, message, role_name

Format = Literal["md", "html", "pdf"]
FORMATS: tuple[Format, ...] = ("md", "html", "pdf")
LOCALES = ("zh-CN", "en")


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Block:
    kind: Literal["heading", "paragraph", "bullets", "table"]
    text: str = ""
    level: int = 2
    items: list[str] = field(default_factory=list)
    table: Table | None = None


@dataclass
class Report:
    title: str
    lang: str
    meta: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(Block("heading", text, level=level))

    def paragraph(self, text: str) -> None:
        self.blocks.append(Block("paragraph", text))

    def bullets(self, items: Sequence[str]) -> None:
        if items:
            self.blocks.append(Block("bullets", items=list(items)))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        if rows:
            self.blocks.append(
                Block("table", table=Table(list(header), [list(r) for r in rows]))
            )


def _when(value: str | None, locale: str) -> str:
    if not value:
        return "-"
    at = datetime.fromisoformat(value)
    return at.strftime("%Y-%m-%d %H:%M UTC") if locale == "en" else at.strftime(
        "%Y-%m-%d %H:%M（UTC）"
    )


def _day(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d") if value else "-"


def _yes(flag: bool, locale: str) -> str:
    return message(locale, "yes" if flag else "no")


def _sep(locale: str) -> str:
    return "、" if locale == "zh-CN" else ", "


def _join(items: Sequence[str], locale: str) -> str:
    return _sep(locale).join(items) if items else message(locale, "none")


def retention_text(retention: Mapping[str, Any], locale: str) -> str:
    start, days = retention["keep_until"], int(retention["days"])
    if start == "account_closure":
        key = "keep_account_closure_days" if days else "keep_account_closure"
    else:
        key = f"keep_{start}"
    return message(locale, key, days=days)


def _contact(contact: Mapping[str, Any]) -> str:
    return " / ".join(v for v in (contact.get("email"), contact.get("phone")) if v)


# ------------------------------------------------------------------------------ RoPA
def measure_text(measure: Mapping[str, Any], locale: str) -> str:
    facts = dict(measure["facts"])
    key = measure["key"]
    if key == "access_log":
        interval = float(facts["interval"])
        facts["interval"] = (
            message(locale, "measure_access_log_server", seconds=f"{interval:g}")
            if interval > 0
            else message(locale, "measure_access_log_scheduled")
        )
    for name, value in list(facts.items()):
        if isinstance(value, list):
            facts[name] = _join([str(v) for v in value], locale)
    return message(locale, f"measure_{key}", **facts)


def ropa_report(doc: Mapping[str, Any], locale: str) -> Report:
    t = lambda key, **kw: message(locale, key, **kw)  # noqa: E731
    report = Report(t("ropa_title"), locale)
    report.meta.append(t("generated", at=_when(doc["generated_at"], locale)))
    src = doc["sources"]
    report.meta.append(
        t("sources", catalog=src["catalog"], policy=src["policy"], notice=src["notice_config"])
    )
    controller, officer = doc["controller"], doc["officer"]
    report.heading(t("h_controller"))
    report.bullets([
        label(controller["name"], locale),
        label(controller["address"], locale) + f" ({controller['country']})",
        f"{t('contact')}: {_contact(controller['contact'])}",
        " ".join(x for x in (label(officer["title"], locale),
                             label(officer["name"], locale) if officer["name"] else "") if x)
        + f": {_contact(officer['contact'])}",
    ])
    report.heading(t("h_activities"))
    for a in doc["activities"]:
        _activity(report, a, locale)
    report.heading(t("h_registry"))
    _recipients(report, doc["recipients"], locale)
    report.heading(t("h_security"))
    for m in doc["security"]:
        report.paragraph(measure_text(m, locale))
        report.bullets([f"{t('where')}: {m['where']}", f"{t('law')}: {m['law']}"])
    return report


def _activity(report: Report, a: Mapping[str, Any], locale: str) -> None:
    t = lambda key, **kw: message(locale, key, **kw)  # noqa: E731
    report.heading(t("activity", label=label(a["labels"], locale), name=a["purpose"]), 3)
    basis = a["legal_basis"]
    lines = []
    if a["description"]:
        lines.append(f"{t('description')}: {label(a['description'], locale)}")
    lines.append(
        f"{t('legal_basis')}: {t('basis_' + basis['basis'])} ({basis['pipl']}; {basis['gdpr']})"
    )
    lines.append(
        f"{t('subjects')}: {_join([t('subject_' + s) for s in a['subjects']], locale)}"
    )
    lines.append(f"{t('categories')}: {_join(a['categories'], locale)}")
    if a["automated"]:
        lines.append(f"{t('automated')}: {label(a['automated'], locale)}")
    report.bullets(lines)
    report.table(
        [t("col_field"), t("col_category"), t("col_sensitive"), t("col_masking"),
         t("col_retention"), t("col_basis")],
        [
            [f"{label(f['labels'], locale)} ({f['name']})", f["category"],
             (f["kind"] or "") if f["sensitive"] else t("no"), f["masking"],
             retention_text(f["retention"], locale), label(f["retention"]["basis"], locale)]
            for f in a["fields"]
        ],
    )
    report.paragraph(t("h_access"))
    report.table(
        [t("col_rule"), t("col_roles"), t("col_actions"), t("col_fields"), t("col_view"),
         t("col_when")],
        [
            [r["rule"], _join([role_name(x, locale) for x in r["roles"]], locale),
             ", ".join(r["actions"]), _join(r["fields"], locale) if r["fields"] else "*",
             r["view"], r["when"]]
            for r in a["access"]
        ],
    )
    report.paragraph(t("h_recipients"))
    if a["recipients"]:
        _recipients(report, a["recipients"], locale)
    else:
        report.paragraph(t("no_recipients"))
    if a["declared_recipients"]:
        report.paragraph(t("declared_recipients"))
        report.table(
            [t("col_recipient"), t("col_country"), t("col_cross_border"), t("col_fields"),
             t("col_registered")],
            [
                [f"{label(d['name'], locale)} ({d['key']})", d["country"],
                 _yes(d["cross_border"], locale), _join(d["fields"], locale),
                 _yes(d["registered"], locale)]
                for d in a["declared_recipients"]
            ],
        )
    pia = a["pia"]
    if pia["needed"]:
        report.paragraph(
            t("pia_needed", cases=_join([c["case"] for c in pia["cases"]], locale))
            + " "
            + (t("pia_linked", id=pia["link"]) if pia["link"] else t("pia_unlinked"))
        )
    else:
        report.paragraph(t("pia_not_needed"))


def _recipients(report: Report, recipients: Sequence[Mapping[str, Any]], locale: str) -> None:
    t = lambda key, **kw: message(locale, key, **kw)  # noqa: E731
    rows = []
    for r in recipients:
        agreements = r["agreements"] or [None]
        for a in agreements:
            rows.append([
                r["legal_entity"],
                t(r["processor_role"]) if r["processor_role"] in ("entrusted", "independent")
                else r["processor_role"],
                r["country"],
                _yes(r["cross_border"], locale),
                f"{a['reference']} ({_day(a['starts_at'])} – {_day(a['ends_at'])})" if a else "-",
                _join(a["fields"], locale) if a else "-",
                t("days", days=a["retention_days"]) if a else "-",
                _yes(a["in_force"], locale) if a else t("no"),
            ])
    if not rows:
        report.paragraph(t("no_recipients"))
        return
    report.table(
        [t("col_recipient"), t("col_role"), t("col_country"), t("col_cross_border"),
         t("col_agreement"), t("col_fields"), t("col_agreement_retention"), t("col_in_force")],
        rows,
    )


# ------------------------------------------------------------------------------ PIA
def risk_text(risk: Mapping[str, Any], locale: str) -> str:
    params = dict(risk["params"])
    kind = risk["kind"]
    if kind == "sensitive_plain":
        params["roles"] = _join([role_name(r, locale) for r in params["roles"]], locale)
        params["fields"] = _join(params["fields"], locale)
    if kind == "no_agreement":
        return message(locale, f"risk_no_agreement_{params['reason']}", **params)
    if kind == "cross_border_unconsented":
        params["reasons"] = "; ".join(
            message(locale, f"reason_{r}") for r in params["reasons"]
        )
    return message(locale, f"risk_{kind}", **params)


def pia_report(assessment: Mapping[str, Any], locale: str) -> Report:
    """An assessment (service.Reports.pia_view) as its report."""
    t = lambda key, **kw: message(locale, key, **kw)  # noqa: E731
    doc = assessment["document"]
    report = Report(t("pia_title"), locale)
    report.meta.append(t("assessment", id=assessment["assessment_id"],
                         purpose=assessment["purpose"],
                         at=_when(assessment["created_at"], locale)))
    report.meta.append(t("template", version=doc["template"]["version"]))
    _activity(report, doc["activity"], locale)
    report.heading(t("h_cases"))
    report.bullets([
        f"{label(c['title'], locale)} ({c['law']}): {_join(c['items'], locale)}"
        for c in doc["cases"]
    ])
    report.heading(t("h_risks"))
    if doc["risks"]:
        report.table(
            [t("col_level"), t("col_risk")],
            [[t("risk_" + r["level"]), risk_text(r, locale)] for r in doc["risks"]],
        )
    else:
        report.paragraph(t("no_risks"))
    report.heading(t("h_questions"))
    answers = assessment["answers"]
    risks = {f"risk.{r['id']}": r for r in doc["risks"]}
    for q in doc["questions"]:
        asked = label(q["text"], locale)
        if q["id"] in risks:
            asked = f"{risk_text(risks[q['id']], locale)} {asked}"
        report.paragraph(f"{q['id']}: {asked}")
        report.bullets([answers.get(q["id"]) or t("unanswered")])
    report.heading(t("h_signoff"))
    if assessment["status"] != "signed":
        report.paragraph(t("status_draft"))
        return report
    report.paragraph(t("signed", by=assessment["signed_by"],
                       at=_when(assessment["signed_at"], locale),
                       outcome=t("outcome_" + assessment["outcome"])))
    report.paragraph(t("content_hash", hash=assessment["content_hash"]))
    report.paragraph(t("intact") if assessment["intact"] else t("altered"))
    report.paragraph(t("kept_until", date=_day(assessment["keep_until"])))
    return report


# ------------------------------------------------------------------------------ checklist
def checklist_report(rows: Sequence[Mapping[str, Any]], locale: str) -> Report:
    """rows: law, item, feature, tests (list), status (open | covered | pass | fail | skipped)."""
    t = lambda key, **kw: message(locale, key, **kw)  # noqa: E731
    report = Report(t("checklist_title"), locale)
    report.table(
        [t("col_law"), t("col_item"), t("col_feature"), t("col_tests"), t("col_status")],
        [[r["law"], r["item"], r["feature"], "\n".join(r["tests"]) or "-",
          t("status_" + r["status"])] for r in rows],
    )
    return report


# ------------------------------------------------------------------------------ drawing
def render(report: Report, fmt: Format) -> bytes:
    if fmt == "pdf":
        return render_pdf(report)
    if fmt not in ("md", "html"):
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    template = _environment(fmt).get_template(f"report.{fmt}.j2")
    return template.render(report=report).encode("utf-8")


@cache
def _environment(fmt: str) -> Any:
    """One Jinja2 environment per format, built on first use (never at import)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("privguard.reports", "templates"),
        autoescape=fmt == "html",
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = markdown_escape
    return env


CJK_FONT = "STSong-Light"


@cache
def _font() -> str:
    """Register the CID font once per process (registration is global in ReportLab)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def render_pdf(report: Report) -> bytes:
    """A4 PDF; byte-for-byte the same for the same report (ReportLab's invariant mode)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        ListFlowable,
        ListItem,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        TableStyle,
    )
    from reportlab.platypus import Table as PdfTable

    font = _font()

    def style(name: str, size: float, **kw: Any) -> ParagraphStyle:
        return ParagraphStyle(name, fontName=font, fontSize=size, leading=size * 1.35,
                              wordWrap="CJK", **kw)

    body, small = style("body", 9), style("small", 7.5)
    heads = {1: style("h1", 16, spaceAfter=4 * mm), 2: style("h2", 13, spaceBefore=4 * mm,
                                                            spaceAfter=2 * mm),
             3: style("h3", 11, spaceBefore=3 * mm, spaceAfter=1.5 * mm)}

    def para(text: str, st: ParagraphStyle = body) -> Any:
        return Paragraph(escape(text).replace("\n", "<br/>"), st)

    story: list[Any] = [para(report.title, heads[1])]
    story += [para(m, small) for m in report.meta]
    story.append(Spacer(1, 3 * mm))
    width = A4[0] - 30 * mm
    for block in report.blocks:
        if block.kind == "heading":
            story.append(para(block.text, heads.get(block.level, heads[3])))
        elif block.kind == "paragraph":
            story.append(para(block.text))
            story.append(Spacer(1, 1.5 * mm))
        elif block.kind == "bullets":
            story.append(ListFlowable([ListItem(para(i), leftIndent=10) for i in block.items],
                                      bulletType="bullet", bulletFontName="Helvetica", start="•"))
        elif block.table is not None:
            columns = len(block.table.header)
            data = [[para(h, small) for h in block.table.header]]
            data += [[para(c, small) for c in row] for row in block.table.rows]
            table = PdfTable(data, colWidths=[width / columns] * columns, repeatRows=1)
            table.setStyle(TableStyle([
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]))
            story.append(table)
            story.append(Spacer(1, 2 * mm))
    out = BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=15 * mm, bottomMargin=15 * mm, title=report.title,
                            author="privguard", creator="privguard", invariant=True)
    doc.build(story)
    return out.getvalue()
