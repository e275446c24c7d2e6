"""The access / portability package: a consumer's copy of their data (PIPL Art. 45; GDPR
Art. 15 and 20), as one zip of machine-readable files with a bilingual README.

Why it is built this way:

- The personal information is read through :meth:`Vault.read` as the consumer themselves, for
  ``legal_obligation`` (rule ``self.copy-of-own-data``), so the export is one more logged access
  and nothing here decrypts on its own (design.md invariant 2).
- A busy buyer can have 100,000 orders and a long access history, so every table is streamed
  from the database in chunks (``yield_per``; a server-side cursor on PostgreSQL) straight into
  zip members opened for writing. Nothing holds a whole file, let alone the whole package.
- Members, their order and their timestamps are fixed (the timestamp is ``now``), so the same
  data exported at the same instant gives the same bytes, which makes packages comparable.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from privguard.audit.entry import LogEntry
from privguard.audit.models import AccessLogEntry
from privguard.audit.service import pending_written
from privguard.catalog.model import Catalog
from privguard.consent.models import ConsentEvent
from privguard.marketplace.models import Order, Organisation
from privguard.policy.rules import ActorRef, Policy, View
from privguard.vault.service import Vault

PURPOSE = "legal_obligation"  # policy rule self.copy-of-own-data (PIPL Art. 45)
CHUNK = 1000  # rows fetched per round trip: memory stays flat whatever the history holds

ORDER_COLUMNS = (
    "order_id", "merchant", "status", "total", "item_count", "placed_at", "delivered_at"
)
CONSENT_KEYS = (
    "kind", "target", "action", "at", "expires_at", "notice_version", "channel", "text_shown"
)
ACCESS_COLUMNS = (
    "at", "role", "organisation", "organisation_kind", "action", "purpose", "purpose_label",
    "fields", "views", "rules",
)
MEMBERS = (
    "README.md",
    "personal_information.json",
    "orders.csv",
    "orders.json",
    "consents.json",
    "access_history.csv",
)

_ORDERS = Order.__table__
_ORGS = Organisation.__table__
_CONSENTS = ConsentEvent.__table__
_LOG = AccessLogEntry.__table__
_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


def _time(at: datetime | None) -> str | None:
    """One spelling per instant (UTC, ISO 8601) whatever the database hands back."""
    return at.astimezone(UTC).isoformat() if at is not None else None


def _yuan(cents: int) -> str:
    """Totals as decimal text, never floats: 5990 -> "59.90"."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def write_export(
    session: Session,
    vault: Vault,
    catalog: Catalog,
    policy: Policy,
    actor: ActorRef,
    subject_id: uuid.UUID,
    out: BinaryIO,
    *,
    now: datetime,
) -> None:
    """Write the package for ``subject_id`` to ``out``, reading PI as ``actor`` (the consumer).

    The gate's access-log entry is added to ``session``; the caller's unit of work commits it
    with whatever else it does, and a failure part way rolls the entry back with it.
    """
    stamp = now.astimezone(UTC).timetuple()[:6]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as package:

        @contextmanager
        def member(name: str) -> Iterator[IO[str]]:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16  # the consumer's own data: not world-readable
            with package.open(info, "w") as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                try:
                    yield text
                finally:
                    text.flush()
                    text.detach()  # the zip member closes itself; keep the wrapper from it

        with member("README.md") as f:
            f.write(_readme(catalog, now))
        with member("personal_information.json") as f:
            _personal_information(f, session, vault, catalog, actor, subject_id, now)
        with member("orders.csv") as f:
            _csv(f, ORDER_COLUMNS, (_order_row(r) for r in _orders(session, subject_id)))
        with member("orders.json") as f:
            _json_array(f, (_order_row(r) for r in _orders(session, subject_id)))
        with member("consents.json") as f:
            _json_array(f, _consents(session, subject_id))
        with member("access_history.csv") as f:
            _csv(f, ACCESS_COLUMNS, _accesses(session, policy, subject_id))


# ---------------------------------------------------------------------- members


def _personal_information(
    f: IO[str],
    session: Session,
    vault: Vault,
    catalog: Catalog,
    actor: ActorRef,
    subject_id: uuid.UUID,
    now: datetime,
) -> None:
    """Every catalog field through the gate, in catalog order, with its labels and the rule
    that let it out; a field the policy withholds is listed with the rule that withheld it."""
    result = vault.read(
        session, actor, subject_id, fields=None, purpose=PURPOSE, view=View.PLAIN, now=now
    )
    withheld = {d.field: d.rule for d in result.denied}
    fields: list[dict[str, Any]] = []
    for spec in catalog:
        got = result.values.get(spec.name)
        fields.append(
            {
                "field": spec.name,
                "label": {"zh-CN": spec.label("zh-CN"), "en": spec.label("en")},
                "present": bool(got and got.present),
                "value": got.value if got and got.present else None,
                "view": got.view.value if got else View.NONE.value,
                "rule": got.rule if got else withheld.get(spec.name, "default.deny"),
            }
        )
    f.write(
        _JSON.encode(
            {
                "subject_id": str(subject_id),
                "exported_at": _time(now),
                "purpose": PURPOSE,
                "fields": fields,
            }
        )
    )
    f.write("\n")


def _orders(session: Session, subject_id: uuid.UUID) -> Iterator[Any]:
    stmt = (
        select(
            _ORDERS.c.order_id,
            _ORGS.c.name.label("merchant"),
            _ORDERS.c.status,
            _ORDERS.c.total_cents,
            _ORDERS.c.item_count,
            _ORDERS.c.placed_at,
            _ORDERS.c.delivered_at,
        )
        .select_from(_ORDERS)
        .outerjoin(_ORGS, _ORGS.c.organisation_id == _ORDERS.c.merchant_id)
        .where(_ORDERS.c.subject_id == subject_id)
        .order_by(_ORDERS.c.placed_at, _ORDERS.c.order_id)
        .execution_options(yield_per=CHUNK)
    )
    yield from session.execute(stmt)


def _order_row(row: Any) -> dict[str, Any]:
    return {
        "order_id": str(row.order_id),
        "merchant": row.merchant,
        "status": row.status,
        "total": _yuan(row.total_cents),
        "item_count": row.item_count,
        "placed_at": _time(row.placed_at),
        "delivered_at": _time(row.delivered_at),
    }


def _consents(session: Session, subject_id: uuid.UUID) -> Iterator[dict[str, Any]]:
    """The ledger's events as recorded, oldest first, with the exact words the consumer was
    shown: that is what they answered, and what the platform must be able to demonstrate."""
    stmt = (
        select(*(_CONSENTS.c[k] for k in CONSENT_KEYS))
        .where(_CONSENTS.c.subject_id == subject_id)
        .order_by(_CONSENTS.c.event_id)
        .execution_options(yield_per=CHUNK)
    )
    for row in session.execute(stmt):
        event = dict(row._mapping)
        event["at"] = _time(event["at"])
        event["expires_at"] = _time(event["expires_at"])
        yield event


def _accesses(session: Session, policy: Policy, subject_id: uuid.UUID) -> Iterator[dict[str, Any]]:
    """Every access-log entry about the subject, oldest first, naming the organisation and role
    but never the staff member (see audit/history.py for why). Entries queued in this
    transaction, this export's own read among them, are written first so they are included."""
    pending_written(session)
    stmt = (
        select(_LOG.c.entry, _ORGS.c.organisation_id, _ORGS.c.name, _ORGS.c.kind)
        .select_from(_LOG)
        .outerjoin(_ORGS, _ORGS.c.organisation_id == _LOG.c.organisation_id)
        .where(_LOG.c.subject_id == subject_id)
        .order_by(_LOG.c.entry_id)
        .execution_options(yield_per=CHUNK)
    )
    for row in session.execute(stmt):
        entry = LogEntry.from_json(row.entry)
        if entry.subject_id != subject_id:
            continue  # the indexed column was altered; `privguard audit verify` reports it
        org = entry.organisation_id
        same_org = org is not None and org == row.organisation_id
        spec = policy.purposes.get(entry.purpose)
        yield {
            "at": _time(entry.at),
            "role": entry.role,
            "organisation": row.name if same_org else None,
            "organisation_kind": row.kind if same_org else None,
            "action": entry.action,
            "purpose": entry.purpose,
            "purpose_label": spec.label("zh-CN") if spec else entry.purpose,
            "fields": ";".join(d["field"] for d in entry.decisions),
            "views": ";".join(d["view"] for d in entry.decisions),
            "rules": ";".join(d["rule"] for d in entry.decisions),
        }


# ---------------------------------------------------------------------- writers


def _csv(f: IO[str], columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> None:
    """UTF-8 with a byte-order mark, so spreadsheet programs open Chinese text correctly."""
    f.write("\ufeff")
    writer = csv.DictWriter(f, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _json_array(f: IO[str], rows: Iterable[dict[str, Any]]) -> None:
    """A JSON array written one element at a time (one element per line)."""
    first = True
    f.write("[")
    for row in rows:
        f.write("\n" if first else ",\n")
        f.write(_JSON.encode(row))
        first = False
    f.write("\n]\n")


# ---------------------------------------------------------------------- README

_FILES: tuple[tuple[str, str, str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "personal_information.json",
        "您在本平台保存的个人信息（每个字段一项，逐项经访问控制读取并记入访问日志）。",
        "The personal information the platform holds about you, one entry per field, each read "
        "through the access gate and recorded in the access log.",
        (
            ("subject_id", "您的主体编号", "Your subject id"),
            ("exported_at", "导出时间（UTC）", "When the package was made (UTC)"),
            ("purpose", "读取目的：履行法定义务（个人信息保护法第四十五条）",
             "Purpose of the read: legal obligation (PIPL Art. 45)"),
            ("fields[].field", "字段名（见下方字段表）", "Field name (see the field table below)"),
            ("fields[].label", "字段的中文与英文名称", "The field's name in Chinese and English"),
            ("fields[].present", "是否保存了该字段", "Whether a value is held"),
            ("fields[].value", "字段值（未保存时为 null）", "The value (null when none is held)"),
            ("fields[].view", "提供方式：plain 为完整值", "How it is given: plain is in full"),
            ("fields[].rule", "允许（或不允许）提供的访问规则", "The access rule that allowed "
             "(or withheld) it"),
        ),
    ),
    (
        "orders.csv / orders.json",
        "您的全部订单，按下单时间排列；两个文件内容相同，CSV 便于表格软件，JSON 便于程序导入。",
        "All your orders, oldest first; the two files hold the same rows, CSV for spreadsheets "
        "and JSON for programs.",
        (
            ("order_id", "订单号", "Order id"),
            ("merchant", "商家名称", "Merchant name"),
            ("status", "订单状态（placed 已下单, shipped 已发货, delivered 已送达, "
             "completed 已完成）", "Order status (placed, shipped, delivered, completed)"),
            ("total", "订单金额（人民币元，两位小数）", "Order total (CNY, two decimals)"),
            ("item_count", "商品件数", "Number of items"),
            ("placed_at", "下单时间（UTC）", "When the order was placed (UTC)"),
            ("delivered_at", "送达时间（UTC，未送达为空）", "When it was delivered (UTC; "
             "empty if not yet)"),
        ),
    ),
    (
        "consents.json",
        "您的同意记录：每一次同意、撤回或到期都是一条记录，按时间排列。",
        "Your consent record: every grant, withdrawal or expiry is one event, oldest first.",
        (
            ("kind", "同意类型（目的、第三方、敏感个人信息等）", "What kind of consent "
             "(purpose, third party, sensitive information, ...)"),
            ("target", "同意针对的目的或接收方", "The purpose or recipient it concerns"),
            ("action", "granted 同意，withdrawn 撤回", "granted or withdrawn"),
            ("at", "记录时间（UTC）", "When it was recorded (UTC)"),
            ("expires_at", "同意到期时间（UTC，无期限为 null）", "When the consent expires "
             "(UTC; null if it does not)"),
            ("notice_version", "当时的隐私政策版本", "The privacy notice version in force"),
            ("channel", "渠道（app、web、api、客服、短信、邮件、gpc）", "Channel (app, web, api, "
             "support, sms, email, gpc)"),
            ("text_shown", "当时向您展示的原文", "The exact words you were shown"),
        ),
    ),
    (
        "access_history.csv",
        "谁因何目的访问过您的个人信息（包括本次导出），按时间排列；只列组织与角色，不列员工姓名。",
        "Who accessed your personal information and why (this export included), oldest first; "
        "organisations and roles are named, staff members are not.",
        (
            ("at", "访问时间（UTC）", "When (UTC)"),
            ("role", "访问者角色", "The accessor's role"),
            ("organisation", "访问者所属组织", "The accessor's organisation"),
            ("organisation_kind", "组织类型（merchant 商家, carrier 承运商, partner 合作方, "
             "platform 平台）", "Kind of organisation (merchant, carrier, partner, platform)"),
            ("action", "操作（read 读取、lookup 查找等）", "Action (read, lookup, ...)"),
            ("purpose", "目的", "Purpose"),
            ("purpose_label", "目的的中文名称", "The purpose's name in Chinese"),
            ("fields", "涉及的字段，以分号分隔", "Fields concerned, separated by semicolons"),
            ("views", "每个字段的提供方式（plain 完整、masked 去标识、none 拒绝），与 fields "
             "一一对应", "How each field was given (plain, masked, none = refused), matching "
             "fields one to one"),
            ("rules", "作出决定的访问规则，与 fields 一一对应", "The access rule that decided each "
             "field, matching fields one to one"),
        ),
    ),
)


def _readme(catalog: Catalog, now: datetime) -> str:
    """Every file and column in Chinese and English; field names with the catalog's labels."""
    lines = [
        "# 个人信息副本 / Copy of your personal information",
        "",
        f"导出时间 / Exported at: {_time(now)}",
        "",
        "本压缩包是根据您的查阅、复制或转移请求（《个人信息保护法》第四十五条）生成的。"
        "文件均为 UTF-8 编码；CSV 文件带字节顺序标记，可直接用表格软件打开。",
        "",
        "This package answers your request to access, copy or port your data (PIPL Art. 45). "
        "All files are UTF-8; CSV files carry a byte-order mark so spreadsheets open them "
        "correctly. Times are UTC, ISO 8601.",
        "",
    ]
    for name, zh, en, columns in _FILES:
        lines += [f"## {name}", "", zh, "", en, "", "| 列 / column | 说明 | meaning |",
                  "|---|---|---|"]
        lines += [f"| `{c}` | {czh} | {cen} |" for c, czh, cen in columns]
        lines.append("")
    lines += ["## 字段 / Fields", "", "| field | 名称 | name |", "|---|---|---|"]
    lines += [f"| `{s.name}` | {s.label('zh-CN')} | {s.label('en')} |" for s in catalog]
    lines.append("")
    return "\n".join(lines)

