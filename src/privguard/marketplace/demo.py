"""Seeding the demo marketplace: merchants, carriers, staff, couriers, consumers and orders.

Everything goes through the same vault and validators as production writes, so the demo shows
real behaviour (and the database-dump test can prove no plaintext was stored).
"""

from __future__ import annotations

import json
import random
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from faker import Faker
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from privguard.actors.models import Actor, ApiKey
from privguard.actors.service import create_actor, issue_api_key
from privguard.actors.system import cli_actor
from privguard.bootstrap import Runtime
from privguard.consent.notices import current_document, publish_notice
from privguard.marketplace.demo_data import PRODUCTS, consumer_pi, plan_orders
from privguard.marketplace.models import Order, Organisation
from privguard.marketplace.service import open_ticket
from privguard.policy.rules import Role
from privguard.store.meta import get_meta, set_meta
from privguard.store.uow import unit_of_work

SEEDED = "demo_seeded"
DEMO_ACTORS = "demo_actor_ids"
DEMO_KEY_LABEL = "demo"
DEMO_CONSUMERS = 3  # consumers with an account (API key and web sign-in)
BATCH = 250

MERCHANTS = list(PRODUCTS)
CARRIERS = ["顺丰速运", "中通快递"]


@dataclass(frozen=True)
class DemoSize:
    consumers: int = 2000
    orders: int = 5000
    seed: int = 2026


@dataclass(frozen=True)
class Credential:
    display_name: str
    role: str
    token: str


@dataclass(frozen=True)
class WebCredential:
    """A demo account for the pages: staff also get a TOTP secret for an authenticator app."""

    display_name: str
    role: str
    login: str
    password: str
    totp_secret: str | None
    totp_uri: str | None


Progress = Callable[[int, int], None]


def _org(session: Session, kind: str, name: str, now: datetime) -> uuid.UUID:
    org = Organisation(organisation_id=uuid.uuid4(), kind=kind, name=name, created_at=now)
    session.add(org)
    session.flush()
    return org.organisation_id


def _seed_organisations(
    session: Session, now: datetime
) -> tuple[
    dict[str, uuid.UUID], dict[str, uuid.UUID], dict[uuid.UUID, list[uuid.UUID]], list[uuid.UUID]
]:
    """Organisations and their staff; returns merchants, carriers, couriers per carrier, and the
    actors whose keys `privguard demo` prints (one per role)."""
    platform = _org(session, "platform", "示例商城平台", now)
    merchants = {name: _org(session, "merchant", name, now) for name in MERCHANTS}
    carriers = {name: _org(session, "carrier", name, now) for name in CARRIERS}
    partner = _org(session, "partner", "星云广告数据合作方", now)

    def actor(name: str, role: Role, org: uuid.UUID | None) -> uuid.UUID:
        return create_actor(
            session, display_name=name, role=role, now=now, organisation_id=org
        ).actor_id

    shown = [
        actor("平台管理员 王磊", Role.PLATFORM_ADMIN, platform),
        actor("个人信息保护负责人 李静", Role.PRIVACY_OFFICER, platform),
        actor("审计员 赵敏", Role.AUDITOR, platform),
        actor("客服 陈晨", Role.CUSTOMER_SERVICE, platform),
    ]
    actor("客服 刘洋", Role.CUSTOMER_SERVICE, platform)
    for i, (name, org) in enumerate(merchants.items()):
        staff = actor(f"{name} 店员", Role.MERCHANT_STAFF, org)
        actor(f"{name} 店长", Role.MERCHANT_STAFF, org)
        if i == 0:
            shown.append(staff)
    couriers: dict[uuid.UUID, list[uuid.UUID]] = {}
    for name, org in carriers.items():
        couriers[org] = [actor(f"{name} 快递员 {n}号", Role.COURIER, org) for n in range(1, 4)]
    shown.append(couriers[carriers[CARRIERS[0]]][0])
    shown.append(actor("营销专员 孙悦", Role.MARKETING, platform))
    shown.append(actor("数据分析师 周航", Role.ANALYST, platform))
    shown.append(actor("合作方接口", Role.PARTNER, partner))
    return merchants, carriers, couriers, shown


def seed_demo(
    runtime: Runtime, size: DemoSize, *, now: datetime, on_progress: Progress | None = None
) -> bool:
    """Seed once; returns False (and changes nothing) if this database is already seeded."""
    with unit_of_work(runtime.sessions) as session:
        if get_meta(session, SEEDED):
            return False
        admin = cli_actor(session, now=now)
        merchants, carriers, couriers, shown = _seed_organisations(session, now)
        set_meta(session, DEMO_ACTORS, json.dumps([str(a) for a in shown]))
        # A privacy notice in force, so consents can be answered against it (PIPL Art. 17).
        notice = current_document(runtime.catalog, runtime.policy, runtime.settings.notice_path)
        publish_notice(session, notice, now=now)

    rng = random.Random(size.seed)
    fake = Faker("zh_CN")
    fake.seed_instance(size.seed)
    planned = plan_orders(rng, size.consumers, size.orders, MERCHANTS, now)
    by_consumer: dict[int, list[int]] = defaultdict(list)
    for n, order in enumerate(planned):
        by_consumer[order.consumer].append(n)
    order_ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in planned]

    total = size.consumers + len(planned)
    done = 0
    subject_ids: list[uuid.UUID] = []
    for start in range(0, size.consumers, BATCH):
        rows = []
        for index in range(start, min(start + BATCH, size.consumers)):
            pi = consumer_pi(fake, rng, now.date(), index)
            history = [
                {
                    "order_id": str(order_ids[n]),
                    "merchant": planned[n].merchant,
                    "item": planned[n].item,
                    "amount": planned[n].total_cents / 100,
                    "at": planned[n].placed_at.isoformat(),
                }
                for n in by_consumer.get(index, [])
            ]
            if history:
                pi["purchase_history"] = history
                pi["browsing_history"] = [{"item": h["item"], "at": h["at"]} for h in history[:3]]
            rows.append(runtime.vault.validate(pi, today=now.date()))
        with unit_of_work(runtime.sessions) as session:
            subject_ids.extend(runtime.vault.insert_validated(session, admin, rows, now=now))
        done += len(rows)
        if on_progress:
            on_progress(done, total)

    carrier_ids = list(carriers.values())
    for start in range(0, len(planned), 1000):
        chunk = []
        for n in range(start, min(start + 1000, len(planned))):
            order = planned[n]
            carrier = rng.choice(carrier_ids)
            age = now - order.placed_at
            status = (
                "placed"
                if age < timedelta(days=1)
                else "shipped"
                if age < timedelta(days=3)
                else "delivered"
                if age < timedelta(days=15)
                else "completed"
            )
            chunk.append(
                {
                    "order_id": order_ids[n],
                    "subject_id": subject_ids[order.consumer],
                    "merchant_id": merchants[order.merchant],
                    "carrier_id": carrier,
                    "courier_id": rng.choice(couriers[carrier]),
                    "status": status,
                    "total_cents": order.total_cents,
                    "item_count": 1,
                    "placed_at": order.placed_at,
                    "delivered_at": order.placed_at + timedelta(days=2)
                    if status in ("delivered", "completed")
                    else None,
                }
            )
        with unit_of_work(runtime.sessions) as session:
            session.execute(Order.__table__.insert(), chunk)
        done += len(chunk)
        if on_progress:
            on_progress(done, total)

    with unit_of_work(runtime.sessions) as session:
        # Consumer accounts for the first customers (to try the privacy center and "who saw my
        # data"), and a support ticket of the first one open, so customer service sees them
        # plain until it is closed.
        consumers = [
            create_actor(
                session,
                display_name=f"消费者 {n + 1} (示例)",
                role=Role.CONSUMER,
                now=now,
                subject_id=subject_ids[n],
            ).actor_id
            for n in range(min(DEMO_CONSUMERS, len(subject_ids)))
        ]
        open_ticket(session, subject_ids[0], topic="delivery", now=now)
        set_meta(session, DEMO_ACTORS, json.dumps([str(a) for a in [*shown, *consumers]]))
        set_meta(session, SEEDED, now.isoformat())
    return True


def issue_demo_keys(runtime: Runtime, *, now: datetime) -> list[Credential]:
    """Revoke the previous demo keys and issue fresh ones (secrets are only ever shown once)."""
    with unit_of_work(runtime.sessions) as session:
        raw = get_meta(session, DEMO_ACTORS)
        if not raw:
            return []
        ids = [uuid.UUID(a) for a in json.loads(raw)]
        session.execute(
            update(ApiKey)
            .where(ApiKey.label == DEMO_KEY_LABEL, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        actors = {
            a.actor_id: a
            for a in session.execute(select(Actor).where(Actor.actor_id.in_(ids))).scalars()
        }
        creds = []
        for actor_id in ids:
            actor = actors[actor_id]
            key = issue_api_key(session, actor_id, now=now, label=DEMO_KEY_LABEL)
            creds.append(Credential(actor.display_name, actor.role, key.token))
        return creds


def issue_demo_web_accounts(runtime: Runtime, *, now: datetime) -> list[WebCredential]:
    """Sign-in accounts for the demo actors, made afresh on every run (like the API keys, the
    passwords and TOTP secrets are shown once): consumers ``consumer1``..., staff by role."""
    import pyotp

    from privguard.web.models import WebAccount, WebSession

    with unit_of_work(runtime.sessions) as session:
        raw = get_meta(session, DEMO_ACTORS)
        if not raw:
            return []
        ids = [uuid.UUID(a) for a in json.loads(raw)]
        session.execute(delete(WebSession).where(WebSession.actor_id.in_(ids)))
        session.execute(delete(WebAccount).where(WebAccount.actor_id.in_(ids)))
        actors = {
            a.actor_id: a
            for a in session.execute(select(Actor).where(Actor.actor_id.in_(ids))).scalars()
        }
        creds = []
        consumers = 0
        for actor_id in ids:
            actor = actors[actor_id]
            if actor.role == Role.CONSUMER.value:
                consumers += 1
                login = f"consumer{consumers}"
            else:
                login = actor.role
            password = secrets.token_urlsafe(12)
            secret = None if actor.role == Role.CONSUMER.value else pyotp.random_base32()
            made = runtime.web_auth.create_account(
                session, actor_id, login, password, now=now, totp_secret=secret
            )
            creds.append(WebCredential(actor.display_name, actor.role, made.login, password,
                                       secret, made.totp_uri))
        return creds
