"""After the full demo seed, the whole database holds no plaintext PI (design.md invariant 1).

The SQLite file (with its WAL) or a pg_dump of PostgreSQL is searched for every seeded phone
number (national and E.164), ID number, bank card, email and name, as read back through the gate.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from privguard.actors.models import Actor
from privguard.bootstrap import Runtime
from privguard.marketplace.demo import DemoSize, seed_demo
from privguard.marketplace.models import Order, Organisation
from privguard.policy.rules import ActorRef, View
from privguard.store.uow import unit_of_work
from privguard.vault.models import Subject

from ..conftest import NOW

FIELDS = ["name", "mobile_phone", "email", "resident_id", "bank_card", "landline"]


NUMBER_RUN = re.compile(rb"[+0-9Xx]{7,}")
EMAIL_RUN = re.compile(rb"[A-Za-z0-9._%+@-]{6,}")
CJK_RUN = re.compile(rb"(?:[\xe3-\xe9][\x80-\xbf]{2}){2,}")


def runs(dump: bytes, kind: str) -> str:
    """Every maximal run of one character class in the dump, one per line.

    A needle made only of that class is in the dump iff it is inside one of these runs, so
    searching them (kilobytes) instead of the dump (megabytes) finds exactly the same needles,
    10,000 of them in seconds instead of a minute.
    """
    if kind == "number":
        return "\n".join(m.group().decode() for m in NUMBER_RUN.finditer(dump))
    if kind == "email":
        found = (m.group() for m in EMAIL_RUN.finditer(dump))
        return "\n".join(r.decode() for r in found if b"@" in r)
    texts = []
    for m in CJK_RUN.finditer(dump):
        try:
            texts.append(m.group().decode("utf-8"))
        except UnicodeDecodeError:  # random bytes that merely look like UTF-8 lead bytes
            continue
    return "\n".join(texts)


KIND = {"name": "cjk", "email": "email", "resident_id": "number", "bank_card": "number",
        "phone_e164": "number", "phone_national": "number"}


def _database_bytes(runtime: Runtime) -> bytes:
    url = runtime.engine.url
    runtime.engine.dispose()
    if url.get_backend_name() == "sqlite":
        db = Path(url.database or "")
        parts = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-journal")]
        return b"".join(p.read_bytes() for p in parts if p.exists())
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is needed to check a PostgreSQL dump")
    plain_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run(
        [pg_dump, "--no-owner", "--dbname", plain_url], check=True, capture_output=True
    ).stdout


def test_demo_database_dump_contains_no_seeded_pi(runtime: Runtime, admin: ActorRef) -> None:
    assert seed_demo(runtime, DemoSize(), now=NOW)
    needles: dict[str, set[str]] = {f: set() for f in FIELDS}
    with unit_of_work(runtime.sessions) as session:
        assert session.execute(select(func.count()).select_from(Subject)).scalar() == 2000
        assert session.execute(select(func.count()).select_from(Order)).scalar() == 5000
        merchants = session.execute(
            select(func.count()).select_from(Organisation).where(Organisation.kind == "merchant")
        ).scalar()
        assert merchants >= 3
        staff_texts = list(session.execute(select(Actor.display_name)).scalars())
        staff_texts += list(session.execute(select(Organisation.name)).scalars())
        for subject_id in session.execute(select(Subject.subject_id)).scalars().all():
            result = runtime.vault.read(session, admin, subject_id, fields=FIELDS,
                                        purpose="legal_obligation", view=View.PLAIN, now=NOW)
            for name, value in result.values.items():
                if value.present:
                    needles[name].add(value.value)
    phones = needles.pop("mobile_phone") | needles.pop("landline")
    needles["phone_e164"] = phones
    needles["phone_national"] = {p.removeprefix("+86") for p in phones}
    # A staff member may share a consumer's name (王磊 is common): such a name appearing in the
    # staff list proves nothing, so it is not searched for.
    needles["name"] = {n for n in needles["name"] if not any(n in t for t in staff_texts)}
    assert len(needles["phone_e164"]) > 1900 and len(needles["resident_id"]) > 1000
    assert len(needles["email"]) == 2000 and len(needles["name"]) > 500

    dump = _database_bytes(runtime)
    assert len(dump) > 1_000_000  # the data really is in there, as ciphertext
    texts = {kind: runs(dump, kind) for kind in set(KIND.values())}
    # Positive control: plaintext that is meant to be there (staff and merchant names, which
    # are not consumers' PI) is found by the same search.
    controls = [part for t in staff_texts for part in re.findall(r"[\u4e00-\u9fff]{2,}", t)]
    assert len(controls) > 20
    assert all(part in texts["cjk"] for part in controls)
    found = {
        kind: [v for v in values if v in texts[KIND[kind]]] for kind, values in needles.items()
    }
    assert {k: len(v) for k, v in found.items() if v} == {}
