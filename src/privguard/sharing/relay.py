"""Contact relays: aliases per order, and the checks made before a call, SMS or mail connects.

Merchants and couriers reach a buyer through an order's alias and never see the buyer's number
or address (issue 6; GB/T 35273-2020 7.2; Cybersecurity Law Art. 42). The relay decides in two
steps, every time:

1. its own rules (``relay_rules.py``): the alias is active (not revoked, not past its order's
   contact period), and the caller is a party of the order (its merchant's staff, its assigned
   courier within the courier window);
2. the vault's gate: the relay reads the buyer's contact as its own system actor ("privguard
   contact relay", role ``platform_admin``, policy rule ``relay.connect``) for ``delivery`` or
   ``after_sales``, with the caller, the alias and the channel in the log entry's detail. That
   read is the only place the number or address exists, in memory, for one connection.

Both steps are logged: refusals the relay decides get an access-log entry of their own (as the
caller when the caller is an authenticated actor), and every contact or refused attempt gets a
``relay_events`` row for the consumer's "who contacted me". Methods take the caller's session
and never commit (store/uow.py); the call, SMS or mail goes out after the commit (the API and
``relay_mail.py``), so the log entry is durable before anything leaves.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from privguard.actors.models import Actor
from privguard.actors.service import create_actor
from privguard.audit.service import log_access
from privguard.marketplace.models import Order, Organisation, SupportTicket
from privguard.policy.rules import Action, ActorRef, Decision, Role, View
from privguard.sharing import relay_rules as rules
from privguard.sharing.relay_models import RelayAlias, RelayEvent, RelayMailbox
from privguard.sharing.relay_rules import (
    AliasStatus,
    Channel,
    Direction,
    OrderState,
    Outcome,
    Party,
    RelayAddress,
    RelayWindows,
)
from privguard.sharing.waybill import OrderNotFound
from privguard.vault.errors import (
    AccessDenied,
    Concealed,
    FieldError,
    InvalidPI,
    SubjectErased,
    SubjectNotFound,
)
from privguard.vault.models import Subject
from privguard.vault.service import Vault

# The relay's own actor: one per deployment, the same id everywhere so that it is created once
# even when two processes need it at the same moment.
RELAY_ACTOR_ID = uuid.uuid5(uuid.NAMESPACE_URL, "urn:privguard:actor:contact-relay")
RELAY_ACTOR_NAME = "privguard contact relay"
ALLOCATION_ATTEMPTS = 64
PARTY_ROLES = (Role.MERCHANT_STAFF, Role.COURIER)


# --------------------------------------------------------------------------------------------
# Errors (none carries a number or an address)
# --------------------------------------------------------------------------------------------


class RelayNotFound(Concealed):
    """The same answer for an alias that does not exist and one the caller is no party of."""

    def __init__(self, rule: str = rules.RULE_UNKNOWN, reason: str = "no such alias") -> None:
        super().__init__(
            "relay_not_found", "no active relay alias matches this number and extension",
            rule, reason,
        )


class RelayInactive(AccessDenied):
    """The alias no longer works for this caller. One rule for every reason (expired, revoked
    by the consumer, the courier's window closed): the log keeps the real one."""

    code = "relay_inactive"

    def __init__(self, actual_rule: str) -> None:
        super().__init__(
            rules.RULE_INACTIVE,
            "this order's relay alias no longer works: its contact period is over",
        )
        self.actual_rule = actual_rule


class RelayUnreachable(InvalidPI):
    code = "relay_unreachable"


class RelayPoolExhausted(RuntimeError):
    """Every platform number and extension is held: the pool needs more numbers."""

    code = "relay_pool_exhausted"


class MailRefused(AccessDenied):
    """A relay mail refused, with the SMTP reply the sending server gets."""

    code = "relay_mail_refused"

    def __init__(self, smtp_code: int, status: str, text: str, rule: str) -> None:
        super().__init__(rule, text)
        self.smtp_code = smtp_code
        self.smtp_reply = f"{smtp_code} {status} {text}"


# --------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelayConfig:
    """The relay's settings (PRIVGUARD_RELAY_*), checked once."""

    base_domain: str
    numbers: tuple[str, ...]
    alias_days: int = 15
    quarantine: timedelta = timedelta(days=30)

    @property
    def mail_domain(self) -> str:
        return rules.relay_domain(self.base_domain)

    @classmethod
    def from_settings(cls, settings: Any) -> RelayConfig:
        return cls(
            base_domain=settings.relay_domain,
            numbers=rules.check_pool(settings.relay_numbers),
            alias_days=settings.relay_alias_days,
            quarantine=timedelta(days=settings.relay_number_quarantine_days),
        )


@dataclass(frozen=True)
class AliasView:
    """An alias as anyone may see it: no number or address of the buyer."""

    alias_id: uuid.UUID
    order_id: uuid.UUID
    subject_id: uuid.UUID
    merchant_id: uuid.UUID
    phone_number: str
    extension: str
    mail_address: str
    status: AliasStatus
    ends_at: datetime | None  # None while an after-sales case is open
    created_at: datetime
    revoked_at: datetime | None

    @property
    def label_number(self) -> str:
        return rules.label_number(self.phone_number, self.extension)

    @property
    def dial(self) -> str:
        return rules.dial_string(self.phone_number, self.extension)


@dataclass(frozen=True)
class ContactView:
    at: datetime
    channel: str
    direction: str
    party: str
    organisation_id: uuid.UUID | None
    organisation_name: str | None
    actor_id: uuid.UUID | None
    outcome: str


@dataclass(frozen=True)
class Connection:
    """An allowed call or SMS: what the telephony provider gets, after the commit."""

    alias: AliasView
    event_id: int
    party: Party
    caller: uuid.UUID
    destination: str = field(repr=False)  # the buyer's number, in memory for this one send


@dataclass(frozen=True)
class MailRoute:
    """An allowed relay mail: who it goes to, as whom, and what must not show in it."""

    alias_id: uuid.UUID
    event_id: int
    direction: Direction
    envelope_from: str  # an alias address
    from_display: str
    destination: str = field(repr=False)  # the buyer's or the party's real address
    hide: tuple[str, ...] = field(default=(), repr=False)  # addresses to scrub from the text


# --------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------


def relay_actor(session: Session, *, now: datetime) -> ActorRef:
    """The relay's system actor (platform_admin), created on first use."""
    if session.get(Actor, RELAY_ACTOR_ID) is None:
        try:
            with session.begin_nested():
                create_actor(
                    session, display_name=RELAY_ACTOR_NAME, role=Role.PLATFORM_ADMIN, now=now,
                    actor_id=RELAY_ACTOR_ID,
                )
        except IntegrityError:  # another process created it meanwhile
            pass
    return ActorRef(RELAY_ACTOR_ID, Role.PLATFORM_ADMIN, None, RELAY_ACTOR_NAME)


class Relays:
    """Aliases and the relay's decisions; holds only the vault and the settings."""

    def __init__(self, vault: Vault, config: RelayConfig) -> None:
        self.vault = vault
        self.config = config

    @classmethod
    def from_settings(cls, vault: Vault, settings: Any) -> Relays:
        return cls(vault, RelayConfig.from_settings(settings))

    @property
    def windows(self) -> RelayWindows:
        return RelayWindows.of(self.config.alias_days, self.vault.access.policy.windows)

    # ------------------------------------------------------------------ facts
    def order_state(self, session: Session, order: Order) -> OrderState:
        """The order's facts plus its after-sales cases (support tickets about it)."""
        open_count, last_closed = session.execute(
            select(
                func.coalesce(
                    func.sum(case((SupportTicket.closed_at.is_(None), 1), else_=0)), 0
                ),
                func.max(SupportTicket.closed_at),
            ).where(SupportTicket.order_id == order.order_id)
        ).one()
        return OrderState(
            status=order.status,
            placed_at=order.placed_at,
            delivered_at=order.delivered_at,
            merchant_id=order.merchant_id,
            courier_id=order.courier_id,
            after_sales_open=bool(open_count),
            after_sales_closed_at=last_closed,
        )

    def _view(self, alias: RelayAlias, state: OrderState, now: datetime) -> AliasView:
        status, end = rules.status(alias.revoked_at, state, self.windows, now)
        return AliasView(
            alias_id=alias.alias_id,
            order_id=alias.order_id,
            subject_id=alias.subject_id,
            merchant_id=alias.merchant_id,
            phone_number=alias.phone_number,
            extension=alias.extension,
            mail_address=rules.mail_address(alias.mail_local, self.config.mail_domain),
            status=status,
            ends_at=end,
            created_at=alias.created_at,
            revoked_at=alias.revoked_at,
        )

    def _subject_active(self, session: Session, subject_id: uuid.UUID) -> bool:
        status = session.execute(
            select(Subject.status).where(Subject.subject_id == subject_id)
        ).scalar()
        return status == "active"

    # ------------------------------------------------------------------ aliases
    def order_alias(
        self, session: Session, actor: ActorRef, order_id: uuid.UUID, *, now: datetime
    ) -> AliasView:
        """The order's alias for its merchant's staff or its assigned courier, created on
        first request. Anyone else: :class:`OrderNotFound` (relationship roles, exactly as for
        an order that does not exist) or :class:`AccessDenied` (every other role)."""
        if actor.role not in PARTY_ROLES:
            raise AccessDenied(
                rules.RULE_PARTIES_ONLY,
                "only the order's merchant and its assigned courier get its relay alias",
            )
        order = session.get(Order, order_id)
        if order is None:
            raise OrderNotFound(order_id)
        state = self.order_state(session, order)
        party = rules.party_of(actor.role, actor.actor_id, actor.organisation_id, state)
        if party is None:
            raise OrderNotFound(order_id, rules.RULE_NOT_A_PARTY, "not a party of this order")
        alias = self._alias_of_order(session, order_id)
        if alias is None:
            status, _ = rules.status(None, state, self.windows, now)
            if status is not AliasStatus.ACTIVE:
                raise RelayInactive(rules.RULE_EXPIRED)
            if not self._subject_active(session, order.subject_id):
                raise RelayInactive(rules.RULE_EXPIRED)
            alias = self._create(session, order, actor, now)
        view = self._view(alias, state, now)
        refusal = self._inactive_rule(view, party, state, now)
        if refusal is not None:
            raise RelayInactive(refusal)
        return view

    def label_alias(self, session: Session, order_id: uuid.UUID, *, now: datetime) -> str | None:
        """The number a waybill prints for this order, if it has an active alias (none is
        created here: printing a label is not a request for one)."""
        alias = self._alias_of_order(session, order_id)
        order = session.get(Order, order_id)
        if alias is None or order is None:
            return None
        view = self._view(alias, self.order_state(session, order), now)
        return view.label_number if view.status is AliasStatus.ACTIVE else None

    def mine(
        self, session: Session, actor: ActorRef, *, now: datetime
    ) -> list[tuple[AliasView, list[ContactView]]]:
        """A consumer's aliases, newest first, each with who used it (or tried to)."""
        subject_id = self._consumer_subject(actor)
        aliases = (
            session.execute(
                select(RelayAlias)
                .where(RelayAlias.subject_id == subject_id)
                .order_by(RelayAlias.created_at.desc(), RelayAlias.alias_id)
            )
            .scalars()
            .all()
        )
        if not aliases:
            return []
        ids = [a.alias_id for a in aliases]
        events = (
            session.execute(
                select(RelayEvent, Organisation.name)
                .outerjoin(
                    Organisation, Organisation.organisation_id == RelayEvent.organisation_id
                )
                .where(RelayEvent.alias_id.in_(ids))
                .order_by(RelayEvent.at, RelayEvent.event_id)
            ).all()
        )
        by_alias: dict[uuid.UUID, list[ContactView]] = {i: [] for i in ids}
        for event, org_name in events:
            by_alias[event.alias_id].append(
                ContactView(
                    at=event.at,
                    channel=event.channel,
                    direction=event.direction,
                    party=event.party,
                    organisation_id=event.organisation_id,
                    organisation_name=org_name,
                    actor_id=event.actor_id,
                    outcome=event.outcome,
                )
            )
        out = []
        for alias in aliases:
            order = session.get(Order, alias.order_id)
            assert order is not None  # orders are never deleted while an alias points at them
            out.append(
                (self._view(alias, self.order_state(session, order), now), by_alias[alias.alias_id])
            )
        return out

    def revoke(
        self, session: Session, actor: ActorRef, alias_id: uuid.UUID, *, now: datetime
    ) -> AliasView:
        """The consumer ends one of their aliases now, for good. Revoking twice is harmless."""
        subject_id = self._consumer_subject(actor)
        alias = session.get(RelayAlias, alias_id)
        if alias is None or alias.subject_id != subject_id:
            raise Concealed(
                "relay_not_found", f"no relay alias {alias_id}", rules.RULE_NOT_A_PARTY,
                "not the consumer's own alias",
            )
        if alias.revoked_at is None:
            alias.revoked_at = now
            alias.revoked_by = actor.actor_id
            log_access(
                session,
                actor=actor,
                subject_id=subject_id,
                action="relay_revoke",
                purpose="account_management",
                decisions=[
                    Decision("*", View.PLAIN, rules.RULE_REVOKE,
                             "the consumer revoked an order's relay alias")
                ],
                now=now,
                detail={"alias_id": str(alias.alias_id), "order_id": str(alias.order_id)},
            )
        order = session.get(Order, alias.order_id)
        assert order is not None
        return self._view(alias, self.order_state(session, order), now)

    # ------------------------------------------------------------------ calls and SMS
    def connect(
        self,
        session: Session,
        actor: ActorRef,
        channel: Channel,
        number: str,
        extension: str,
        *,
        now: datetime,
    ) -> Connection:
        """Check a call or SMS from ``actor`` to the alias (number, extension), then read the
        buyer's number through the gate. The provider is called by the caller, after commit."""
        if actor.role not in PARTY_ROLES or actor.actor_id is None:
            raise AccessDenied(
                rules.RULE_PARTIES_ONLY,
                "only merchants' staff and couriers call or text through relay aliases",
            )
        dialled = rules.normalise_dialled(number, self.config.numbers)
        alias = (
            self._alias_by_slot(session, dialled, extension)
            if dialled is not None and rules.valid_extension(extension)
            else None
        )
        if alias is None:
            raise RelayNotFound()
        order = session.get(Order, alias.order_id)
        assert order is not None
        state = self.order_state(session, order)
        detail = {
            "order_id": str(alias.order_id),
            "alias_id": str(alias.alias_id),
            "channel": channel.value,
            "use": f"relay_{channel.value}",
        }
        party = rules.party_of(actor.role, actor.actor_id, actor.organisation_id, state)
        if party is None:
            self._log_refusal(session, actor, alias.subject_id, "mobile_phone",
                              rules.RULE_NOT_A_PARTY, "not a party of this order", now, detail,
                              state)
            raise RelayNotFound(rules.RULE_NOT_A_PARTY, "not a party of this order")
        view = self._view(alias, state, now)
        refusal = self._inactive_rule(view, party, state, now)
        if refusal is None and not self._subject_active(session, alias.subject_id):
            refusal = rules.RULE_EXPIRED
        if refusal is not None:
            self._record(session, alias, channel, Direction.TO_SUBJECT, party, actor.actor_id,
                         actor.organisation_id, Outcome.REFUSED, refusal, now)
            self._log_refusal(session, actor, alias.subject_id, "mobile_phone", refusal,
                              "the relay alias is not active", now, detail, state)
            raise RelayInactive(refusal)
        relay = relay_actor(session, now=now)
        destination = self._read_contact(
            session, relay, alias, state, "mobile_phone", now,
            {**detail, "direction": Direction.TO_SUBJECT.value, "party": party.value,
             "caller_actor_id": str(actor.actor_id),
             "caller_organisation_id": str(actor.organisation_id or "")},
        )
        if destination is None:
            raise RelayUnreachable(
                [FieldError("mobile_phone", rules.RULE_NO_DESTINATION,
                            "the customer cannot be reached by phone through this alias")]
            )
        event_id = self._record(session, alias, channel, Direction.TO_SUBJECT, party,
                                actor.actor_id, actor.organisation_id, Outcome.CONNECTED,
                                "relay.connect", now)
        return Connection(view, event_id, party, actor.actor_id, destination)

    def mark_failed(self, session: Session, event_id: int) -> None:
        """The provider or mail server failed after the relay allowed the contact."""
        event = session.get(RelayEvent, event_id)
        if event is not None:
            event.outcome = Outcome.FAILED.value

    # ------------------------------------------------------------------ mail
    def mail_alias(self, session: Session, address: str) -> tuple[RelayAlias, RelayAddress]:
        """The alias an envelope recipient names, or a 550 for anything else."""
        parsed = rules.parse_relay_address(address, self.config.mail_domain)
        alias = (
            session.execute(
                select(RelayAlias).where(RelayAlias.mail_local == parsed.local)
            ).scalar_one_or_none()
            if parsed is not None
            else None
        )
        if parsed is None or alias is None:
            raise MailRefused(550, "5.1.1", "no such relay address", rules.RULE_UNKNOWN)
        return alias, parsed

    def route_mail(
        self,
        session: Session,
        recipient: str,
        envelope_from: str,
        *,
        now: datetime,
        sender: ActorRef | None = None,
    ) -> MailRoute:
        """Decide a relay mail: which alias, from which side, to whom; a :class:`MailRefused`
        with the SMTP reply otherwise. Sender: an authenticated actor, else the registered
        mailbox the envelope sender names, else the buyer themselves (checked through the
        gate), else nobody."""
        alias, address = self.mail_alias(session, recipient)
        order = session.get(Order, alias.order_id)
        assert order is not None
        state = self.order_state(session, order)
        relay = relay_actor(session, now=now)
        detail: dict[str, str] = {
            "order_id": str(alias.order_id),
            "alias_id": str(alias.alias_id),
            "channel": Channel.MAIL.value,
            "use": "relay_mail",
        }
        party, party_actor, party_org, mailbox = self._mail_sender(
            session, sender, envelope_from, state
        )
        if party_org is not None:
            detail["caller_organisation_id"] = str(party_org)
        if party_actor is not None:
            detail["caller_actor_id"] = str(party_actor)
        if (sender is not None or mailbox is not None) and party is None:
            self._log_refusal(session, sender or relay, alias.subject_id, "email",
                              rules.RULE_NOT_A_PARTY, "the sender is no party of this order",
                              now, detail, state)
            raise MailRefused(550, "5.7.1", "the sender is not a party of this order",
                              rules.RULE_NOT_A_PARTY)
        view = self._view(alias, state, now)
        refusal = self._inactive_rule(view, party or Party.MERCHANT, state, now)
        if refusal is None and address.tag == rules.COURIER_TAG and party is None:
            # The buyer writing to the courier: only while the parcel is the courier's.
            refusal = rules.party_window_refusal(Party.COURIER, state,
                                                 self.vault.access.policy.windows, now)
        if refusal is None and not self._subject_active(session, alias.subject_id):
            refusal = rules.RULE_EXPIRED
        if refusal is not None:
            if party is not None:
                self._record(session, alias, Channel.MAIL, Direction.TO_SUBJECT, party,
                             party_actor, party_org, Outcome.REFUSED, refusal, now)
            self._log_refusal(session, sender or relay, alias.subject_id, "email", refusal,
                              "the relay alias is not active", now, detail, state)
            text = (
                "this relay address was revoked by its owner"
                if refusal == rules.RULE_REVOKED
                else "this relay address has expired"
            )
            raise MailRefused(550, "5.7.1", text, refusal)

        purpose_detail = {**detail}
        if party is not None:  # a merchant or courier writing to the buyer
            purpose_detail |= {"direction": Direction.TO_SUBJECT.value, "party": party.value}
            buyer = self._read_contact(session, relay, alias, state, "email", now,
                                       purpose_detail)
            if buyer is None:
                raise MailRefused(550, "5.1.1", "this relay address cannot deliver mail",
                                  rules.RULE_NO_DESTINATION)
            event_id = self._record(session, alias, Channel.MAIL, Direction.TO_SUBJECT, party,
                                    party_actor, party_org, Outcome.CONNECTED, "relay.connect",
                                    now)
            tag = rules.COURIER_TAG if party is Party.COURIER else None
            org = session.get(Organisation, party_org) if party_org is not None else None
            return MailRoute(
                alias_id=alias.alias_id,
                event_id=event_id,
                direction=Direction.TO_SUBJECT,
                envelope_from=rules.mail_address(alias.mail_local, self.config.mail_domain, tag),
                from_display=f"{org.name if org else party.value} via privguard relay",
                destination=buyer,
                hide=tuple(a for a in (envelope_from, mailbox) if a),
            )

        # Nobody we know: perhaps the buyer answering. Compared with their address on file,
        # read through the gate like any other use of it.
        purpose_detail |= {"direction": Direction.FROM_SUBJECT.value, "use": "relay_mail_reply"}
        buyer = self._read_contact(session, relay, alias, state, "email", now, purpose_detail)
        if buyer is None or rules.normalise_mailbox(envelope_from) != buyer.strip().lower():
            self._log_refusal(session, relay, alias.subject_id, "email",
                              rules.RULE_SENDER_UNKNOWN,
                              "the sender is neither the buyer nor a party of the order",
                              now, detail, state)
            raise MailRefused(550, "5.7.1", "the sender is not a party of this order",
                              rules.RULE_SENDER_UNKNOWN)
        to_courier = address.tag == rules.COURIER_TAG
        target = self._party_mailbox(session, state, courier=to_courier)
        if target is None:
            raise MailRefused(550, "5.1.1", "nobody receives mail at this relay address",
                              rules.RULE_NO_MAILBOX)
        party = Party.COURIER if to_courier else Party.MERCHANT
        event_id = self._record(session, alias, Channel.MAIL, Direction.FROM_SUBJECT, party,
                                target.actor_id, target.organisation_id, Outcome.CONNECTED,
                                "relay.connect", now)
        return MailRoute(
            alias_id=alias.alias_id,
            event_id=event_id,
            direction=Direction.FROM_SUBJECT,
            envelope_from=rules.mail_address(alias.mail_local, self.config.mail_domain),
            from_display=f"Buyer of order {str(alias.order_id)[:8]} via privguard relay",
            destination=target.address,
            hide=(buyer, rules.normalise_mailbox(envelope_from)),
        )

    # ------------------------------------------------------------------ mailboxes
    def add_mailbox(
        self,
        session: Session,
        actor: ActorRef,
        address: str,
        organisation_id: uuid.UUID,
        *,
        now: datetime,
        mailbox_actor: uuid.UUID | None = None,
    ) -> RelayMailbox:
        """Register a merchant's inbox (no actor) or a staff member's or courier's address
        (operators only: the platform vouches for the address)."""
        if actor.role is not Role.PLATFORM_ADMIN:
            raise AccessDenied("relay.mailbox-admin", "only operators register relay mailboxes")
        normalised = rules.normalise_mailbox(address)
        errors = self._mailbox_errors(session, normalised, organisation_id, mailbox_actor)
        if errors:
            raise InvalidPI(errors)
        box = RelayMailbox(
            address=normalised,
            organisation_id=organisation_id,
            actor_id=mailbox_actor,
            created_at=now,
            created_by=actor.actor_id,
        )
        session.add(box)
        session.flush()
        return box

    def remove_mailbox(self, session: Session, address: str) -> bool:
        box = session.get(RelayMailbox, rules.normalise_mailbox(address))
        if box is None:
            return False
        session.delete(box)
        return True

    # ------------------------------------------------------------------ helpers
    def _consumer_subject(self, actor: ActorRef) -> uuid.UUID:
        if actor.role is not Role.CONSUMER or actor.subject_id is None:
            raise AccessDenied(rules.RULE_CONSUMERS_ONLY,
                               "only a consumer sees and revokes their own relay aliases")
        return actor.subject_id

    def _inactive_rule(
        self, view: AliasView, party: Party, state: OrderState, now: datetime
    ) -> str | None:
        if view.status is AliasStatus.REVOKED:
            return rules.RULE_REVOKED
        if view.status is AliasStatus.EXPIRED:
            return rules.RULE_EXPIRED
        return rules.party_window_refusal(party, state, self.vault.access.policy.windows, now)

    def _alias_of_order(self, session: Session, order_id: uuid.UUID) -> RelayAlias | None:
        return session.execute(
            select(RelayAlias).where(RelayAlias.order_id == order_id)
        ).scalar_one_or_none()

    def _alias_by_slot(self, session: Session, number: str, extension: str) -> RelayAlias | None:
        return session.execute(
            select(RelayAlias).where(
                RelayAlias.phone_number == number,
                RelayAlias.extension == extension,
                RelayAlias.slot_held.is_(True),
            )
        ).scalar_one_or_none()

    def _create(self, session: Session, order: Order, actor: ActorRef, now: datetime) -> RelayAlias:
        for _ in range(3):
            number, extension = self._free_slot(session, now)
            alias = RelayAlias(
                alias_id=uuid.uuid4(),
                order_id=order.order_id,
                subject_id=order.subject_id,
                merchant_id=order.merchant_id,
                phone_number=number,
                extension=extension,
                slot_held=True,
                mail_local=rules.new_mail_local(),
                created_at=now,
                created_by=actor.actor_id,
            )
            try:
                with session.begin_nested():
                    session.add(alias)
                    session.flush()
            except IntegrityError:
                # Another request took the slot (or created this order's alias) meanwhile.
                existing = self._alias_of_order(session, order.order_id)
                if existing is not None:
                    return existing
                continue
            return alias
        raise RelayPoolExhausted("could not allocate a relay number; try again")

    def _free_slot(self, session: Session, now: datetime) -> tuple[str, str]:
        """A random (number, extension) that no alias holds, taking back one whose alias has
        not worked for the quarantine period."""
        numbers = self.config.numbers
        for _ in range(ALLOCATION_ATTEMPTS):
            number, extension = rules.pick_slot(numbers)
            holder = self._alias_by_slot(session, number, extension)
            if holder is None:
                return number, extension
            order = session.get(Order, holder.order_id)
            if order is not None and rules.reusable(
                holder.revoked_at, self.order_state(session, order), self.windows,
                self.config.quarantine, now,
            ):
                holder.slot_held = False
                session.flush()
                return number, extension
        raise RelayPoolExhausted(
            f"no free relay number after {ALLOCATION_ATTEMPTS} tries: the pool of "
            f"{rules.pool_size(numbers)} slots is nearly full (PRIVGUARD_RELAY_NUMBERS)"
        )

    def _read_contact(
        self,
        session: Session,
        relay: ActorRef,
        alias: RelayAlias,
        state: OrderState,
        field_name: str,
        now: datetime,
        detail: dict[str, str],
    ) -> str | None:
        """The buyer's number or address through the gate, as the relay, or ``None``."""
        try:
            result = self.vault.read(
                session,
                relay,
                alias.subject_id,
                fields=[field_name],
                purpose=rules.contact_purpose(state),
                view=View.PLAIN,
                now=now,
                orders=[state.facts()],
                detail=detail,
            )
        except (SubjectErased, SubjectNotFound):
            return None
        value = result.values.get(field_name)
        if value is None or value.view is not View.PLAIN or not value.present or not value.value:
            return None
        return str(value.value)

    def _mail_sender(
        self,
        session: Session,
        sender: ActorRef | None,
        envelope_from: str,
        state: OrderState,
    ) -> tuple[Party | None, uuid.UUID | None, uuid.UUID | None, str | None]:
        """(party, actor, organisation, mailbox address) of a mail's sender, if we know it."""
        if sender is not None:
            party = rules.party_of(sender.role, sender.actor_id, sender.organisation_id, state)
            return party, sender.actor_id, sender.organisation_id, None
        box = session.get(RelayMailbox, rules.normalise_mailbox(envelope_from))
        if box is None:
            return None, None, None, None
        if box.actor_id is None:
            party = Party.MERCHANT if box.organisation_id == state.merchant_id else None
            return party, None, box.organisation_id, box.address
        owner = session.get(Actor, box.actor_id)
        party = (
            rules.party_of(Role(owner.role), owner.actor_id, owner.organisation_id, state)
            if owner is not None and owner.disabled_at is None
            else None
        )
        return party, box.actor_id, box.organisation_id, box.address

    def _party_mailbox(
        self, session: Session, state: OrderState, *, courier: bool
    ) -> RelayMailbox | None:
        if courier:
            if state.courier_id is None:
                return None
            stmt = select(RelayMailbox).where(RelayMailbox.actor_id == state.courier_id)
        else:
            stmt = select(RelayMailbox).where(
                RelayMailbox.organisation_id == state.merchant_id,
                RelayMailbox.actor_id.is_(None),
            )
        return session.execute(
            stmt.order_by(RelayMailbox.created_at, RelayMailbox.address).limit(1)
        ).scalar_one_or_none()

    def _mailbox_errors(
        self,
        session: Session,
        address: str,
        organisation_id: uuid.UUID,
        mailbox_actor: uuid.UUID | None,
    ) -> list[FieldError]:
        errors = []
        local, at, host = address.rpartition("@")
        if not at or not local or "." not in host or len(address) > 254 or " " in address:
            errors.append(FieldError("address", "relay.mailbox-format", "is not an e-mail address"))
        elif host == self.config.mail_domain:
            errors.append(FieldError("address", "relay.mailbox-loop",
                                     "must not be a relay address itself"))
        elif session.get(RelayMailbox, address) is not None:
            errors.append(FieldError("address", "relay.mailbox-taken", "is registered already"))
        org = session.get(Organisation, organisation_id)
        if org is None or org.kind not in ("merchant", "carrier"):
            errors.append(FieldError("organisation_id", "relay.mailbox-organisation",
                                     "must be a merchant or a carrier"))
        if mailbox_actor is not None:
            owner = session.get(Actor, mailbox_actor)
            if owner is None or owner.organisation_id != organisation_id or owner.role not in (
                Role.MERCHANT_STAFF.value, Role.COURIER.value
            ):
                errors.append(FieldError("actor_id", "relay.mailbox-actor",
                                         "must be staff or a courier of that organisation"))
        elif org is not None and org.kind == "carrier":
            errors.append(FieldError("actor_id", "relay.mailbox-actor",
                                     "a carrier's relay mailbox belongs to one courier"))
        return errors

    def _record(
        self,
        session: Session,
        alias: RelayAlias,
        channel: Channel,
        direction: Direction,
        party: Party,
        actor_id: uuid.UUID | None,
        organisation_id: uuid.UUID | None,
        outcome: Outcome,
        rule: str,
        now: datetime,
    ) -> int:
        event = RelayEvent(
            alias_id=alias.alias_id,
            subject_id=alias.subject_id,
            order_id=alias.order_id,
            at=now,
            channel=channel.value,
            direction=direction.value,
            party=party.value,
            actor_id=actor_id,
            organisation_id=organisation_id,
            outcome=outcome.value,
            rule=rule,
        )
        session.add(event)
        session.flush()
        return event.event_id

    def _log_refusal(
        self,
        session: Session,
        actor: ActorRef,
        subject_id: uuid.UUID,
        field_name: str,
        rule: str,
        reason: str,
        now: datetime,
        detail: dict[str, str],
        state: OrderState,
    ) -> None:
        """A refusal decided by the relay, before the gate was asked: logged like the gate's."""
        log_access(
            session,
            actor=actor,
            subject_id=subject_id,
            action=Action.READ,
            purpose=rules.contact_purpose(state),
            decisions=[Decision(field_name, View.NONE, rule, reason)],
            now=now,
            detail=detail,
        )


def relay_contacts(
    session: Session, subject_id: uuid.UUID, since: datetime
) -> list[dict[str, Any]]:
    """Every contact through the subject's aliases since ``since``: who (party, organisation,
    actor), when, channel, direction, outcome; never content. The evidence view of a complaint
    (cases/evidence.py) shows these."""
    from privguard.marketplace.models import Organisation
    from privguard.sharing.relay_models import RelayEvent

    rows = session.execute(
        select(RelayEvent, Organisation.name)
        .outerjoin(Organisation, Organisation.organisation_id == RelayEvent.organisation_id)
        .where(RelayEvent.subject_id == subject_id, RelayEvent.at >= since)
        .order_by(RelayEvent.event_id)
    ).all()
    return [
        {"at": e.at.isoformat(), "channel": e.channel, "direction": e.direction,
         "party": e.party, "organisation": name, "actor_id": str(e.actor_id) if e.actor_id
         else None, "order_id": str(e.order_id), "outcome": e.outcome, "rule": e.rule}
        for e, name in rows
    ]
