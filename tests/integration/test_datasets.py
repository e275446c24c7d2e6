"""De-identified datasets released to a recipient through the gate (PIPL Art. 23, 73(4);
GB/T 35273-2020 6.2), on SQLite and PostgreSQL: only consenting consumers, only agreed fields,
generalised to k, pseudonyms keyed per recipient, and every consumer included can see it."""

from __future__ import annotations

import random
import re
import uuid
from datetime import date, timedelta

import pytest
from faker import Faker
from sqlalchemy import select

from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.consent.rules import Action, Channel, Kind
from privguard.consent.service import ConsentRequest
from privguard.marketplace.demo_data import consumer_pi
from privguard.marketplace.models import Organisation
from privguard.policy.rules import ActorRef, Role
from privguard.sharing.datasets import release_dataset
from privguard.sharing.deid_rules import AddressQI, AgeQI, DatasetSpec
from privguard.sharing.models import Transfer
from privguard.store.uow import unit_of_work
from privguard.vault.errors import AccessDenied

from .world import publish_stub_notice

OFFICER = ActorRef(actor_id=uuid.uuid4(), role=Role.PRIVACY_OFFICER)
SPEC = DatasetSpec(quasi_identifiers=(AgeQI("date_of_birth", birth_date=True),
                                      AddressQI("shipping_addresses")),
                   k=3, max_suppression=0.3, sensitive="gender", as_of=date(2026, 11, 29))


def _recipient(runtime: Runtime, fields: list[str]) -> uuid.UUID:
    now = utcnow()
    with unit_of_work(runtime.sessions) as session:
        org = Organisation(organisation_id=uuid.uuid4(), kind="partner", name="市场调研公司",
                           created_at=now)
        session.add(org)
        session.flush()
        runtime.sharing.register(session, OFFICER, organisation_id=org.organisation_id,
                                 legal_entity="某某市场调研有限公司", contact="dpo@example.com",
                                 country="CN", processor_role="independent",
                                 category="analytics", now=now)
        runtime.sharing.add_agreement(session, OFFICER, org.organisation_id, reference="R-1",
                                      purposes=["analytics"], fields=fields, retention_days=90,
                                      sub_processing=False, starts_at=now - timedelta(days=1),
                                      ends_at=now + timedelta(days=30), now=now)
    return org.organisation_id


@pytest.fixture
def consumers(runtime: Runtime, admin: ActorRef) -> list[uuid.UUID]:
    publish_stub_notice(runtime, 1)
    fake, rng, today = Faker("zh_CN"), random.Random(7), date(2026, 11, 29)
    fake.seed_instance(7)
    ids = []
    with unit_of_work(runtime.sessions) as session:
        for i in range(40):
            ids.append(runtime.vault.register(session, admin, consumer_pi(fake, rng, today, i),
                                              now=utcnow()))
    with unit_of_work(runtime.sessions) as session:
        for sid in ids[:30]:  # ten never agreed to analytics
            runtime.consent.record(session, ActorRef(None, Role.CONSUMER, subject_id=sid),
                                   ConsentRequest(sid, Kind.PURPOSE, "analytics", Action.GRANTED,
                                                  Channel.APP, "同意数据分析", notice_version=1),
                                   now=utcnow(), birth_date=None)
    return ids


def test_a_dataset_holds_only_consenting_generalised_pseudonymous_rows(
    runtime: Runtime, consumers: list[uuid.UUID]
) -> None:
    recipient = _recipient(runtime, ["date_of_birth", "gender", "shipping_addresses"])
    with unit_of_work(runtime.sessions) as session:
        data, report = release_dataset(runtime.sharing, runtime.keys, session, OFFICER,
                                       recipient_id=recipient, spec=SPEC, subject_ids=consumers,
                                       now=utcnow())
    assert report.rows_in == 30  # the ten without consent were never read
    assert report.k_achieved >= 3 and len(data) == report.rows_out
    assert data.groupby(["date_of_birth", "shipping_addresses"], observed=True).size().min() >= 3
    assert set(data.columns) == {"pid", "date_of_birth", "shipping_addresses", "gender"}
    assert all(len(p) == 32 for p in data["pid"])
    assert not {str(s) for s in consumers} & set(data["pid"])
    text = data.to_csv()
    assert not any(re.search(r"\d{4}-\d{2}", v) for v in data["date_of_birth"].astype(str))
    assert not any(ch.isdigit() for ch in "".join(data["shipping_addresses"].astype(str)))
    assert "****" not in text
    with unit_of_work(runtime.sessions) as session:
        got = set(session.execute(select(Transfer.subject_id).where(
            Transfer.recipient_id == recipient)).scalars())
    assert got == set(consumers[:30])
    # Another recipient's pseudonyms for the same people do not match.
    other = _recipient(runtime, ["date_of_birth", "gender", "shipping_addresses"])
    with unit_of_work(runtime.sessions) as session:
        data2, _ = release_dataset(runtime.sharing, runtime.keys, session, OFFICER,
                                   recipient_id=other, spec=SPEC, subject_ids=consumers,
                                   now=utcnow())
    assert not set(data["pid"]) & set(data2["pid"])


def test_fields_outside_the_agreement_are_refused_before_anything_is_read(
    runtime: Runtime, consumers: list[uuid.UUID]
) -> None:
    recipient = _recipient(runtime, ["date_of_birth", "gender"])  # no addresses agreed
    with pytest.raises(AccessDenied) as refused, unit_of_work(runtime.sessions) as session:
        release_dataset(runtime.sharing, runtime.keys, session, OFFICER, recipient_id=recipient,
                        spec=SPEC, subject_ids=consumers, now=utcnow())
    assert refused.value.rule == "sharing.outside-agreement"
    with pytest.raises(AccessDenied), unit_of_work(runtime.sessions) as session:
        release_dataset(runtime.sharing, runtime.keys, session,
                        ActorRef(uuid.uuid4(), Role.ANALYST), recipient_id=recipient, spec=SPEC,
                        subject_ids=consumers, now=utcnow())


def test_the_release_over_http(runtime: Runtime, admin: ActorRef,
                               consumers: list[uuid.UUID]) -> None:
    import json

    from fastapi.testclient import TestClient

    from privguard.api.app import create_app

    from .world import build_world

    w = build_world(runtime, admin)
    recipient = _recipient(runtime, ["date_of_birth", "gender", "shipping_addresses"])
    body = {"quasi_identifiers": [{"kind": "age_from_birth_date", "column": "date_of_birth"},
                                  {"kind": "address", "column": "shipping_addresses"}],
            "k": 3, "sensitive": "gender", "max_suppression": 0.3,
            "subject_ids": [str(s) for s in consumers]}
    with TestClient(create_app(runtime)) as client:
        url = f"/v1/recipients/{recipient}/datasets"
        r = client.post(url, headers=w.headers("privacy_officer"), json=body)
        assert r.status_code == 200, r.text
        assert r.text.splitlines()[0] == "pid,date_of_birth,shipping_addresses,gender"
        assert json.loads(r.headers["x-deid-report"])["k_achieved"] >= 3
        r = client.post(url, headers=w.headers("privacy_officer"), json={
            **body, "quasi_identifiers": [{"kind": "category", "column": "name"}]})
        assert r.status_code in (403, 422)  # a name is never a quasi-identifier to release
        assert client.post(url, headers=w.headers("analyst"), json=body).status_code == 403
        assert client.post(url, headers=w.headers("partner"), json=body).status_code == 403
