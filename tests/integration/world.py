"""A small marketplace for access-control tests: two merchants, a carrier, one actor per role,
and three customers seen from each actor as own / foreign / unrelated.

- ``own``: ordered from merchant A, parcel with courier 1 (in transit), a support ticket open,
  and is the consumer actor's own record;
- ``foreign``: ordered from merchant B, parcel with courier 2, no ticket, another consumer;
- ``none``: no orders, no tickets, no account.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from privguard.actors.service import create_actor, issue_api_key
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.marketplace.models import Order, Organisation
from privguard.marketplace.service import open_ticket
from privguard.policy.rules import ActorRef, Role
from privguard.store.uow import unit_of_work

from .samples import OTHER, RAW

SCENARIOS = ("own", "foreign", "none")


@dataclass
class World:
    runtime: Runtime
    orgs: dict[str, uuid.UUID] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # by role (the "own"-side actor)
    actors: dict[str, ActorRef] = field(default_factory=dict)
    subjects: dict[str, uuid.UUID] = field(default_factory=dict)  # by scenario
    pi: dict[str, dict[str, Any]] = field(default_factory=dict)  # raw PI by scenario

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


THIRD: dict[str, Any] = {
    "name": "司马相如",
    "mobile_phone": "13700001111",
    "email": "sima@example.net",
    "resident_id": "110105199003071239",
}


def _org(session: Any, kind: str, name: str) -> uuid.UUID:
    org = Organisation(organisation_id=uuid.uuid4(), kind=kind, name=name, created_at=utcnow())
    session.add(org)
    session.flush()
    return org.organisation_id


def add_order(
    runtime: Runtime,
    subject_id: uuid.UUID,
    merchant_id: uuid.UUID,
    *,
    carrier_id: uuid.UUID | None = None,
    courier_id: uuid.UUID | None = None,
    status: str = "shipped",
    delivered_days_ago: float | None = None,
) -> uuid.UUID:
    now = utcnow()
    order_id = uuid.uuid4()
    with unit_of_work(runtime.sessions) as session:
        session.add(
            Order(
                order_id=order_id, subject_id=subject_id, merchant_id=merchant_id,
                carrier_id=carrier_id, courier_id=courier_id, status=status, total_cents=5990,
                item_count=1, placed_at=now - timedelta(days=(delivered_days_ago or 0) + 2),
                delivered_at=None if delivered_days_ago is None
                else now - timedelta(days=delivered_days_ago),
            )
        )
    return order_id


def build_world(runtime: Runtime, admin: ActorRef) -> World:
    world = World(runtime)
    now = utcnow()
    with unit_of_work(runtime.sessions) as session:
        o = world.orgs
        o["platform"] = _org(session, "platform", "示例商城平台")
        o["merchant_a"] = _org(session, "merchant", "甲果园旗舰店")
        o["merchant_b"] = _org(session, "merchant", "乙数码专营店")
        o["carrier"] = _org(session, "carrier", "顺丰速运")
        o["partner"] = _org(session, "partner", "星云支付")
    for scenario, pi in (("own", RAW), ("foreign", OTHER), ("none", THIRD)):
        with unit_of_work(runtime.sessions) as session:
            world.subjects[scenario] = runtime.vault.register(session, admin, pi, now=now)
        world.pi[scenario] = pi

    def actor(key: str, role: Role, org: str | None, subject: str | None = None) -> None:
        with unit_of_work(runtime.sessions) as session:
            a = create_actor(
                session, display_name=f"{key} 张伟", role=role, now=now,
                organisation_id=world.orgs[org] if org else None,
                subject_id=world.subjects[subject] if subject else None,
            )
            world.tokens[key] = issue_api_key(session, a.actor_id, now=now).token
            world.actors[key] = ActorRef(
                a.actor_id, role, a.organisation_id, a.display_name, a.subject_id
            )

    actor("consumer", Role.CONSUMER, None, "own")
    actor("consumer_b", Role.CONSUMER, None, "foreign")
    actor("merchant_staff", Role.MERCHANT_STAFF, "merchant_a")
    actor("merchant_staff_b", Role.MERCHANT_STAFF, "merchant_b")
    actor("customer_service", Role.CUSTOMER_SERVICE, "platform")
    actor("courier", Role.COURIER, "carrier")
    actor("courier_b", Role.COURIER, "carrier")
    actor("marketing", Role.MARKETING, "platform")
    actor("analyst", Role.ANALYST, "platform")
    actor("platform_admin", Role.PLATFORM_ADMIN, "platform")
    actor("privacy_officer", Role.PRIVACY_OFFICER, "platform")
    actor("auditor", Role.AUDITOR, "platform")
    actor("partner", Role.PARTNER, "partner")

    add_order(runtime, world.subjects["own"], world.orgs["merchant_a"],
              carrier_id=world.orgs["carrier"], courier_id=world.actors["courier"].actor_id)
    add_order(runtime, world.subjects["foreign"], world.orgs["merchant_b"],
              carrier_id=world.orgs["carrier"], courier_id=world.actors["courier_b"].actor_id)
    with unit_of_work(runtime.sessions) as session:
        open_ticket(session, world.subjects["own"], topic="delivery", now=now)
    return world


def publish_stub_notice(runtime: Runtime, version: int, affected: tuple[str, ...] = ()) -> None:
    """A notice version as the notice publisher stores it (its content is not under test)."""
    import json

    from privguard.consent.models import NoticeVersion

    with unit_of_work(runtime.sessions) as session:
        session.add(
            NoticeVersion(
                version=version, content_hash=f"{version:064x}", document="{}",
                published_at=utcnow(), material=bool(affected), changes="[]",
                affected=json.dumps(sorted(affected)),
            )
        )
