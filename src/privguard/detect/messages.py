"""Ingestion: chat messages and order notes stored through privguard, redacted before storage.

Consumers type phone numbers, addresses and ID numbers into chats and order notes; merchants and
agents must not see them in plaintext. So a message is scanned as it arrives and stored with
every finding replaced by its type tag (``<PHONE_NUMBER>``): that is what merchants, couriers
and customer service read. The original is sealed under the consumer's own data key (so it is
crypto-shredded with them) and opened only for the consumer themself, or for the protection
officer under the legal-obligation purpose; each opening is logged like any read of the gate.
Erasing the consumer deletes their messages altogether, since no detector finds everything.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from privguard.audit.service import log_access
from privguard.detect import scan
from privguard.detect.message_models import OrderMessage
from privguard.detect.operators import Replace, redact_with
from privguard.marketplace.errors import MarketplaceNotFound
from privguard.marketplace.models import Order
from privguard.policy.rules import ActorRef, Decision, Role, View
from privguard.vault.errors import AccessDenied, FieldError, InvalidPI
from privguard.vault.service import Vault

KINDS = frozenset({"chat", "note"})
MAX_TEXT = 4000
RULE_POST = "messages.parties"
RULE_OWN = "messages.own-original"
RULE_OFFICER = "messages.officer-original"


class OrderNotFound(MarketplaceNotFound):
    code = "order_not_found"

    def __init__(self, order_id: uuid.UUID) -> None:
        super().__init__(f"no order {order_id}")


def _party(actor: ActorRef, order: Order) -> bool:
    """Who may write and read an order's messages: its buyer, its merchant's staff, its
    courier, and customer service."""
    if actor.role is Role.CONSUMER:
        return actor.subject_id == order.subject_id
    if actor.role is Role.MERCHANT_STAFF:
        return actor.organisation_id == order.merchant_id
    if actor.role is Role.COURIER:
        return actor.actor_id is not None and actor.actor_id == order.courier_id
    return actor.role in (Role.CUSTOMER_SERVICE, Role.PRIVACY_OFFICER)


def _context(message_id: uuid.UUID) -> str:
    return f"message:{message_id}"


class Messages:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def _order(self, session: Session, actor: ActorRef, order_id: uuid.UUID) -> Order:
        order = session.get(Order, order_id)
        if order is None or not _party(actor, order):
            raise OrderNotFound(order_id)  # another's order reads as a missing one
        return order

    def post(
        self,
        session: Session,
        actor: ActorRef,
        order_id: uuid.UUID,
        *,
        kind: str,
        text: str,
        now: datetime,
    ) -> OrderMessage:
        order = self._order(session, actor, order_id)
        if actor.role is Role.PRIVACY_OFFICER:
            raise AccessDenied(RULE_POST, "the officer reads messages, the parties write them")
        if kind not in KINDS:
            raise InvalidPI([FieldError("kind", "message.kind", "chat or note")])
        body = text.strip()
        if not body or len(body) > MAX_TEXT:
            raise InvalidPI([FieldError("text", "message.text", f"1 to {MAX_TEXT} characters")])
        findings = scan(body)
        message_id = uuid.uuid4()
        message = OrderMessage(
            message_id=message_id,
            order_id=order.order_id,
            subject_id=order.subject_id,
            author_actor_id=actor.actor_id,
            author_role=actor.role.value,
            kind=kind,
            redacted=redact_with(body, findings, Replace(), None) if findings else body,
            found=[f.entity_type for f in findings],
            sealed_original=(
                self.vault.seal_text(session, order.subject_id, body,
                                     context=_context(message_id), now=now)
                if findings else None
            ),
            created_at=now,
        )
        session.add(message)
        session.flush()
        return message

    def read(
        self,
        session: Session,
        actor: ActorRef,
        order_id: uuid.UUID,
        *,
        now: datetime,
        originals: bool = False,
        purpose: str = "customer_support",
    ) -> list[dict[str, Any]]:
        """The order's messages, oldest first, redacted. With ``originals`` the consumer gets
        their own order's originals, and the officer gets them for ``legal_obligation``; each
        such opening is logged; everyone else is refused."""
        order = self._order(session, actor, order_id)
        rows = list(session.execute(
            select(OrderMessage).where(OrderMessage.order_id == order.order_id)
            .order_by(OrderMessage.created_at, OrderMessage.message_id)
        ).scalars())
        show = False
        if originals:
            own = actor.role is Role.CONSUMER and actor.subject_id == order.subject_id
            officer = actor.role is Role.PRIVACY_OFFICER and purpose == "legal_obligation"
            rule = RULE_OWN if own else RULE_OFFICER if officer else RULE_POST
            view = View.PLAIN if own or officer else View.NONE
            log_access(
                session, actor=actor, subject_id=order.subject_id, action="read_messages",
                purpose=purpose,
                decisions=[Decision("messages", view, rule,
                                    "originals of messages typed into an order's chat")],
                now=now, detail={"order": str(order.order_id)},
            )
            if view is View.NONE:
                raise AccessDenied(rule, "originals are for the consumer and, for legal duties, "
                                   "the protection officer")
            show = True
        out = []
        for m in rows:
            text = m.redacted
            if show and m.sealed_original is not None:
                text = self.vault.open_aside(session, m.subject_id, m.sealed_original,
                                             context=_context(m.message_id))["text"]
            out.append({"message_id": m.message_id, "kind": m.kind, "author_role": m.author_role,
                        "text": text, "redacted": not show and bool(m.found),
                        "found": list(m.found), "created_at": m.created_at})
        return out

    def on_change(self, session: Session, subject_id: uuid.UUID, event: str,
                  fields: list[str], now: datetime) -> None:
        """The vault's change listener: an erased consumer's messages go with them."""
        if event == "erased":
            session.execute(delete(OrderMessage).where(OrderMessage.subject_id == subject_id))
