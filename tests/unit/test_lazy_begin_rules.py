"""Which statements make the API's lazy transaction begin (store/lazy_begin.py): anything that
is not a plain SELECT. A miss here would run a write or a lock outside its transaction."""

from __future__ import annotations

import pytest

from privguard.store.lazy_begin import needs_transaction


@pytest.mark.parametrize("statement", [
    "SELECT subjects.status FROM subjects WHERE subjects.subject_id = %(sid)s",
    "  select 1",
    "SELECT api_keys.key_id FROM api_keys -- FORM, FORMAT, FOREIGN are not locks",
])
def test_plain_selects_need_none(statement: str) -> None:
    assert not needs_transaction(statement)


@pytest.mark.parametrize("statement", [
    "INSERT INTO access_log (entry) VALUES (%(entry)s)",
    "UPDATE subjects SET status = %(s)s",
    "DELETE FROM subject_keys WHERE subject_id = %(sid)s",
    "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
    "SAVEPOINT sa_savepoint_1",
    "SELECT subjects.status FROM subjects WHERE subjects.subject_id = %(sid)s FOR UPDATE",
    "SELECT * FROM subjects FOR UPDATE OF subjects SKIP LOCKED",
    "SELECT * FROM t FOR NO KEY UPDATE",
    "SELECT * FROM t for share",
    "SELECT * FROM t FOR KEY SHARE",
    "SELECT pg_advisory_xact_lock(%(key)s)",
    "SELECT pg_try_advisory_xact_lock(%(key)s)",
    "SELECT pg_notify(%s, %s)",
    "SELECT set_config('privguard.x', 'y', true)",
])
def test_writes_locks_and_side_effects_need_one(statement: str) -> None:
    assert needs_transaction(statement)
