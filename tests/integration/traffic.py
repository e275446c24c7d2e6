"""Access-log traffic for anomaly and incident tests: a day of ordinary work in the demo
marketplace, and an insider reading customers in bulk. Every read goes through the vault's gate
with an explicit time, as the API would make it at that moment."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from privguard.actors.models import Actor
from privguard.actors.service import create_actor
from privguard.audit.models import AccessLogEntry
from privguard.audit.sequencer import sequence_all
from privguard.bootstrap import Runtime
from privguard.cases.anomalies import Scanner, ScanReport, scan
from privguard.cases.anomaly_rules import AnomalyConfig, load_anomaly_config
from privguard.marketplace.customers import list_customers
from privguard.marketplace.models import Order, Organisation
from privguard.policy.rules import ActorRef, Role, View
from privguard.store.uow import unit_of_work
from privguard.vault.errors import AccessDenied
from privguard.vault.models import Subject

CONTACT = ["name", "mobile_phone", "shipping_addresses"]


def actor_ref(row: Actor) -> ActorRef:
    return ActorRef(row.actor_id, Role(row.role), row.organisation_id, row.display_name,
                    row.subject_id)


def actors(runtime: Runtime, role: Role) -> list[ActorRef]:
    with unit_of_work(runtime.sessions) as session:
        rows = session.execute(
            select(Actor).where(Actor.role == role.value).order_by(Actor.display_name)
        ).scalars()
        return [actor_ref(a) for a in rows]


def new_actor(runtime: Runtime, role: Role, name: str, now: datetime) -> ActorRef:
    with unit_of_work(runtime.sessions) as session:
        platform = session.execute(
            select(Organisation.organisation_id).where(Organisation.kind == "platform")
        ).scalars().first()
        row = create_actor(session, display_name=name, role=role, now=now,
                           organisation_id=platform)
        return actor_ref(row)


def subjects(runtime: Runtime) -> list[uuid.UUID]:
    with unit_of_work(runtime.sessions) as session:
        return list(
            session.execute(
                select(Subject.subject_id).where(Subject.status == "active")
                .order_by(Subject.subject_id)
            ).scalars()
        )


def read(runtime: Runtime, actor: ActorRef, subject_id: uuid.UUID, at: datetime, *,
         purpose: str, fields: Sequence[str] = CONTACT, view: View = View.MASKED) -> bool:
    """One read through the gate at ``at``; a refusal is logged and reported as False."""
    try:
        with unit_of_work(runtime.sessions, commit_on=(AccessDenied,)) as session:
            runtime.vault.read(session, actor, subject_id, fields=fields, purpose=purpose,
                               view=view, now=at)
    except AccessDenied:
        return False
    return True


@dataclass
class Step:
    at: datetime
    run: Callable[[datetime], object]


def demo_day(runtime: Runtime, day_start: datetime, seed: int = 11) -> int:
    """A working day (``day_start`` to ten hours later) of what the demo's actors do: merchant
    staff handle their orders and look at their customer list, couriers read the parcels
    assigned to them, customer service helps callers (and sometimes misses a lookup), the
    consumer looks at their own data, a merchant clerk once opens a customer of another shop.
    Returns the number of steps taken."""
    rng = random.Random(seed)
    with unit_of_work(runtime.sessions) as session:
        orders = session.execute(
            select(Order.order_id, Order.subject_id, Order.merchant_id, Order.courier_id,
                   Order.status)
        ).all()
    staff = actors(runtime, Role.MERCHANT_STAFF)
    by_merchant: dict[uuid.UUID, list[ActorRef]] = {}
    for s in staff:
        assert s.organisation_id is not None
        by_merchant.setdefault(s.organisation_id, []).append(s)
    couriers = {c.actor_id: c for c in actors(runtime, Role.COURIER)}
    agents = actors(runtime, Role.CUSTOMER_SERVICE)
    consumer = actors(runtime, Role.CONSUMER)[0]
    admin = next(a for a in actors(runtime, Role.PLATFORM_ADMIN) if a.organisation_id)
    everyone = subjects(runtime)

    steps: list[Callable[[datetime], object]] = []
    for _order_id, subject_id, merchant_id, courier_id, status in orders:
        # An open order is looked at a few times a day: picking, packing, a buyer's question.
        if status in ("placed", "shipped", "delivered"):
            for _ in range(4):
                clerk = rng.choice(by_merchant[merchant_id])
                steps.append(lambda at, c=clerk, s=subject_id: read(
                    runtime, c, s, at, purpose="order_fulfilment"))
        if status in ("placed", "shipped") and courier_id in couriers:
            for _ in range(3):
                steps.append(lambda at, c=couriers[courier_id], s=subject_id: read(
                    runtime, c, s, at, purpose="delivery", view=View.PLAIN))
    for clerk in staff:
        for _ in range(5):
            steps.append(lambda at, c=clerk: _list(runtime, c, at))
    # Two agents answering about 12 callers an hour each.
    for _ in range(240):
        agent, subject_id = rng.choice(agents), rng.choice(everyone)
        steps.append(lambda at, a=agent, s=subject_id: read(
            runtime, a, s, at, purpose="customer_support", fields=["name", "mobile_phone"]))
    for _ in range(20):
        phone = f"+86139{rng.randrange(10**8):08d}"
        agent = rng.choice(agents)
        steps.append(lambda at, a=agent, p=phone: _lookup(runtime, a, p, at))
    for _ in range(3):
        steps.append(lambda at: read(runtime, consumer, consumer.subject_id, at,  # type: ignore[arg-type]
                                     purpose="account_management", view=View.PLAIN))
    stranger = next(s for s in everyone if all(o[1] != s or o[2] != staff[0].organisation_id
                                              for o in orders))
    steps.append(lambda at: read(runtime, staff[0], stranger, at, purpose="order_fulfilment"))
    steps.append(lambda at: _admin_list(runtime, admin, staff[1].organisation_id, at))
    rng.shuffle(steps)
    span = timedelta(hours=10)
    for n, step in enumerate(steps):
        step(day_start + span * n / len(steps))
    return len(steps)


def _list(runtime: Runtime, clerk: ActorRef, at: datetime) -> None:
    assert clerk.organisation_id is not None
    with unit_of_work(runtime.sessions, commit_on=(AccessDenied,)) as session:
        list_customers(session, runtime.vault.access, clerk, clerk.organisation_id,
                       purpose="order_fulfilment", now=at, limit=50)


def _admin_list(runtime: Runtime, admin: ActorRef, merchant: uuid.UUID | None,
                at: datetime) -> None:
    assert merchant is not None
    with unit_of_work(runtime.sessions, commit_on=(AccessDenied,)) as session:
        list_customers(session, runtime.vault.access, admin, merchant,
                       purpose="fraud_detection", now=at, limit=50)


def _lookup(runtime: Runtime, agent: ActorRef, phone: str, at: datetime) -> None:
    with unit_of_work(runtime.sessions, commit_on=(AccessDenied,)) as session:
        runtime.vault.lookup(session, agent, "mobile_phone", phone, purpose="customer_support",
                             now=at)


def insider(runtime: Runtime, agent: ActorRef, targets: Sequence[uuid.UUID], start: datetime,
            over: timedelta = timedelta(minutes=9, seconds=30)) -> None:
    """``agent`` reads each of ``targets`` once, evenly over ``over``, 50 reads a transaction."""
    step = over / len(targets)
    for begin in range(0, len(targets), 50):
        with unit_of_work(runtime.sessions) as session:
            for n in range(begin, min(begin + 50, len(targets))):
                runtime.vault.read(session, agent, targets[n], fields=["name", "mobile_phone"],
                                   purpose="customer_support", view=View.MASKED,
                                   now=start + step * n)


def scan_now(runtime: Runtime, now: datetime, config: AnomalyConfig | None = None,
             scanner: Scanner | None = None, batch: int = 5000) -> ScanReport:
    """Sequence the log, then scan it, as `privguard cases scan` does."""
    sequence_all(runtime.sessions, runtime.signer, now_fn=lambda: now)
    scanner = scanner or Scanner(config or load_anomaly_config(None))
    return scan(runtime.sessions, scanner, now_fn=lambda: now, batch=batch)


def log_size(runtime: Runtime) -> int:
    with unit_of_work(runtime.sessions) as session:
        return session.execute(select(func.count()).select_from(AccessLogEntry)).scalar_one()
