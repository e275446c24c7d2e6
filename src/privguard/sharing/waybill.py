"""Privacy waybills: the label payload for a shipment, and resolving its QR code.

Both go through the vault's gate (design.md invariant 2) with purpose ``delivery``, and both
narrow the policy's order relationships to the one order the label is for: a merchant or a
courier tied to the buyer by another order does not get this order's label or address.

* :meth:`Waybills.label` reads name, phone and address in the ``waybill`` view (the catalog's
  GB/T 41833-2022 masking) as the actor printing it; whoever the policy lets read those fields
  for delivery may print it (the shipped policy: the order's merchant while its window is open,
  the assigned courier, customer-service agents). The payload is checked before it is returned.
* :meth:`Waybills.resolve` turns a scanned code into the full delivery address, for the courier
  assigned to that order only, while the policy's courier window is open. Every other caller
  gets one and the same refusal, whether the code is forged, expired or someone else's, and the
  refusal is logged.

Methods take the caller's session and never commit (store/uow.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from privguard.audit.service import log_access
from privguard.catalog.masking import mask_address_waybill
from privguard.crypto.providers import KeyProvider
from privguard.crypto.tokens import LinkSigner
from privguard.marketplace.errors import MarketplaceNotFound
from privguard.marketplace.models import Order, Organisation
from privguard.policy.rules import ActorRef, Decision, OrderFacts, Role, View, Windows
from privguard.sharing.waybill_rules import (
    RULE_MISSING,
    WAYBILL_PURPOSE,
    WaybillPayload,
    check_phone,
    courier_access_until,
    new_claim,
    parse_claim,
    require_compliant,
)
from privguard.vault.errors import (
    AccessDenied,
    Concealed,
    FieldError,
    InvalidPI,
    SubjectErased,
    SubjectNotFound,
)
from privguard.vault.service import ReadResult, Vault

# The signing key of waybill codes is derived for this purpose alone: an unsubscribe link (or
# any other signed link) is never a valid waybill code, and the other way round.
QR_PURPOSE = "waybill-qr"
ADDRESS_FIELD = "shipping_addresses"

# Rules of this module's own refusals, as the access log records them.
RULE_TOKEN_INVALID = "waybill.token-invalid"
RULE_TOKEN_EXPIRED = "waybill.token-expired"
RULE_COURIERS_ONLY = "waybill.resolve-assigned-courier"
RULE_NOT_RESOLVABLE = "waybill.not-resolvable"


class OrderNotFound(Concealed):
    """Reads the same for an order that does not exist and one the caller may not see (the
    gate's concealed refusal would name the buyer's subject id; this names only the order)."""

    def __init__(
        self, order_id: uuid.UUID, rule: str = "waybill.order-unknown", reason: str = ""
    ) -> None:
        super().__init__("order_not_found", f"no order {order_id}", rule, reason or "no order")
        self.order_id = order_id


class ShipmentNotFound(MarketplaceNotFound):
    code = "shipment_not_found"

    def __init__(self, order_id: uuid.UUID) -> None:
        super().__init__(f"order {order_id} has no carrier yet: a waybill is for a shipment")


class WaybillIncomplete(InvalidPI):
    code = "waybill_incomplete"


class WaybillRefused(AccessDenied):
    """The one answer to every code that does not resolve for this caller now: forged,
    expired, not a courier, not the assigned courier, outside the courier's window. A valid
    code is not a credential, so it must not be told apart from a forged one."""

    def __init__(self) -> None:
        super().__init__(
            RULE_NOT_RESOLVABLE,
            "this code does not resolve for you: it is not valid, or the parcel is not "
            "yours to deliver now",
        )


@dataclass(frozen=True)
class ResolvedAddress:
    order_id: uuid.UUID
    address: dict[str, Any]
    deliver_until: datetime


def _facts(order: Order) -> OrderFacts:
    return OrderFacts(
        merchant_id=order.merchant_id,
        courier_id=order.courier_id,
        status=order.status,
        placed_at=order.placed_at,
        delivered_at=order.delivered_at,
    )


class Waybills:
    """Builds labels and resolves their codes; holds only the vault and the code signer."""

    def __init__(self, vault: Vault, keys: KeyProvider) -> None:
        self.vault = vault
        self.signer = LinkSigner(keys.blind_index_root(), QR_PURPOSE)

    @property
    def _windows(self) -> Windows:
        return self.vault.access.policy.windows

    # ------------------------------------------------------------------ labels
    def label(
        self,
        session: Session,
        actor: ActorRef,
        order_id: uuid.UUID,
        *,
        now: datetime,
        relay: str | None = None,
        return_address: dict[str, Any] | None = None,
    ) -> WaybillPayload:
        """The checked label payload for ``order_id``, read as ``actor`` through the gate.

        ``relay`` is a relay number to print instead of the recipient's phone (the recipient's
        number is then not read at all); ``return_address`` is the merchant's structured
        address, cut like the recipient's. Raises :class:`OrderNotFound` (also for orders the
        actor may not see), :class:`ShipmentNotFound`, the gate's refusals, or
        :class:`WaybillIncomplete` / ``WaybillNonCompliant`` naming the field and the rule.
        """
        if relay is not None:
            errors = check_phone(relay, relay=True)
            if errors:
                raise WaybillIncomplete(errors)
        order = session.get(Order, order_id)
        if order is None:
            raise OrderNotFound(order_id)
        if order.carrier_id is None:
            raise ShipmentNotFound(order_id)
        fields = ["name", ADDRESS_FIELD]
        if relay is None:
            fields.insert(1, "mobile_phone")
        # All or nothing: a label missing a part the policy refuses is no label, and the parts
        # it would allow are not decrypted for nothing.
        result = self._read(session, actor, order, fields, View.WAYBILL, now, "waybill_label")
        values = {name: v.value for name, v in result.values.items() if v.present and v.value}
        missing = [f for f in fields if f not in values]
        if missing:
            raise WaybillIncomplete(
                [FieldError(f, RULE_MISSING, "the recipient has none on record") for f in missing]
            )
        carrier = session.get(Organisation, order.carrier_id)
        merchant = session.get(Organisation, order.merchant_id)
        claim = new_claim(order.order_id, now, self._windows)
        payload = WaybillPayload(
            order_id=order.order_id,
            carrier_id=order.carrier_id,
            carrier_name=carrier.name if carrier else "",
            sender_name=merchant.name if merchant else "",
            return_address=None if return_address is None else mask_address_waybill(return_address),
            recipient_name=values["name"],
            recipient_phone=relay if relay is not None else values["mobile_phone"],
            phone_is_relay=relay is not None,
            # Orders do not record which address of the book they ship to: the first one is the
            # default delivery address.
            recipient_address=values[ADDRESS_FIELD][0],
            qr_token=self.signer.make(claim.text()),
            expires_at=claim.expires_at,
        )
        return require_compliant(payload)

    # ------------------------------------------------------------------ resolving a code
    def resolve(
        self, session: Session, actor: ActorRef, token: str, *, now: datetime
    ) -> ResolvedAddress:
        """The full delivery address behind a scanned code, for the assigned courier only.

        Every refusal is logged and raised as the same :class:`WaybillRefused`.
        """
        claim = parse_claim(self.signer.open(token)) if token else None
        order = session.get(Order, claim.order_id) if claim is not None else None
        if claim is None or order is None:
            self._refuse(session, actor, None, RULE_TOKEN_INVALID, "not a waybill code", now)
        if claim.expired(now):
            self._refuse(session, actor, order, RULE_TOKEN_EXPIRED, "the code has expired", now)
        if actor.role is not Role.COURIER:
            # Other roles may hold delivery rules (merchants: masked; agents: masked or plain
            # with a ticket open), but scanning a label is how a courier delivers, nothing else.
            self._refuse(
                session,
                actor,
                order,
                RULE_COURIERS_ONLY,
                "only the courier assigned to the parcel resolves its code",
                now,
            )
        try:
            # Assigned to this order, within its courier window: the policy decides, on this
            # order's facts only, and logs either way.
            result = self._read(
                session, actor, order, [ADDRESS_FIELD], View.PLAIN, now, "waybill_resolve"
            )
        except (AccessDenied, SubjectNotFound, SubjectErased):
            raise WaybillRefused() from None
        value = result.values.get(ADDRESS_FIELD)
        if value is None or value.view is not View.PLAIN or not value.present or not value.value:
            raise WaybillRefused()
        return ResolvedAddress(
            order_id=order.order_id,
            address=dict(value.value[0]),
            deliver_until=courier_access_until(_facts(order), self._windows),
        )

    # ------------------------------------------------------------------ helpers
    def _read(
        self,
        session: Session,
        actor: ActorRef,
        order: Order,
        fields: list[str],
        view: View,
        now: datetime,
        use: str,
    ) -> ReadResult:
        try:
            return self.vault.read(
                session,
                actor,
                order.subject_id,
                fields=fields,
                purpose=WAYBILL_PURPOSE,
                view=view,
                now=now,
                orders=[_facts(order)],
                detail={"order_id": str(order.order_id), "use": use},
                require_all=True,
            )
        except Concealed as exc:
            raise OrderNotFound(order.order_id, exc.rule, exc.reason) from None
        except SubjectNotFound:  # an erased buyer, to a role that must not learn it
            raise OrderNotFound(order.order_id) from None

    def _refuse(
        self,
        session: Session,
        actor: ActorRef,
        order: Order | None,
        rule: str,
        reason: str,
        now: datetime,
    ) -> NoReturn:
        """Log a refusal decided here (before the gate is asked), then raise the one answer."""
        detail: dict[str, str] = {"use": "waybill_resolve"}
        if order is not None:
            detail["order_id"] = str(order.order_id)
        log_access(
            session,
            actor=actor,
            subject_id=order.subject_id if order is not None else None,
            action="read",
            purpose=WAYBILL_PURPOSE,
            decisions=[Decision(ADDRESS_FIELD, View.NONE, rule, reason)],
            now=now,
            detail=detail,
        )
        raise WaybillRefused()
