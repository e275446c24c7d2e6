"""Consent receipts: what the consumer agreed to (or withdrew), when, under which notice, and
how to take it back (PIPL Art. 15: withdrawal as convenient as consent; GDPR Art. 7(1)).

A receipt is built from one ledger event; it holds the exact words shown and the notice's
content hash, so the consumer can later prove what they were asked.
"""

from __future__ import annotations

import uuid
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from privguard.catalog.model import Catalog
from privguard.consent.models import ConsentEvent
from privguard.consent.rules import Kind
from privguard.policy.rules import Policy

_KIND_LABELS = {
    "zh-CN": {
        Kind.PURPOSE: "用途",
        Kind.THIRD_PARTY: "向第三方提供（单独同意）",
        Kind.SENSITIVE: "处理敏感个人信息（单独同意）",
        Kind.PUBLIC_DISCLOSURE: "公开（单独同意）",
        Kind.CROSS_BORDER: "向境外提供（单独同意）",
    },
    "en": {
        Kind.PURPOSE: "Purpose",
        Kind.THIRD_PARTY: "Provision to a third party (separate consent)",
        Kind.SENSITIVE: "Sensitive personal information (separate consent)",
        Kind.PUBLIC_DISCLOSURE: "Public disclosure (separate consent)",
        Kind.CROSS_BORDER: "Transfer abroad (separate consent)",
    },
}


class ReceiptNotFound(LookupError):
    code = "receipt_not_found"

    def __init__(self, event_id: int) -> None:
        super().__init__(f"no consent event {event_id} of yours")


def build_receipt(
    session: Session,
    policy: Policy,
    catalog: Catalog,
    subject_id: uuid.UUID,
    event_id: int,
    locale: str,
) -> dict[str, Any]:
    event = session.get(ConsentEvent, event_id)
    if event is None or event.subject_id != subject_id:
        raise ReceiptNotFound(event_id)
    kind = Kind(event.kind)
    what = event.target
    if kind is Kind.PURPOSE and event.target in policy.purposes:
        what = policy.purposes[event.target].label(locale)
    elif kind is Kind.SENSITIVE and event.target in catalog:
        what = catalog[event.target].label(locale)
    return {
        "receipt": "privguard-consent-receipt/v1",
        "event_id": event.event_id,
        "subject_id": str(subject_id),
        "kind": kind.value,
        "kind_label": _KIND_LABELS.get(locale, _KIND_LABELS["en"])[kind],
        "target": event.target,
        "what": what,
        "action": event.action,
        "at": event.at.isoformat(),
        "expires_at": event.expires_at.isoformat() if event.expires_at else None,
        "channel": event.channel,
        "notice_version": event.notice_version,
        "notice_hash": event.notice_hash,
        "text_shown": event.text_shown,
        "by_guardian": event.guardian_subject_id is not None,
        "withdraw": {
            "api": "POST /v1/me/consents/withdraw",
            "body": {"kind": kind.value, "target": event.target},
        },
    }


_ENV = None


def render_receipt_html(receipt: dict[str, Any], locale: str) -> str:
    global _ENV
    if _ENV is None:  # built on first use, not at import
        _ENV = Environment(
            loader=PackageLoader("privguard.consent", "templates"),
            autoescape=select_autoescape(["html", "j2"]),
        )
    return _ENV.get_template("receipt.html.j2").render(r=receipt, zh=locale == "zh-CN")
