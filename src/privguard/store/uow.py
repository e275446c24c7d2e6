"""The unit of work: one transaction per use case.

Services receive the open :class:`~sqlalchemy.orm.Session` and never commit; the caller (API
route, CLI command) decides where the transaction ends, so a data change and its log entry
commit together or not at all (design.md, invariant 5).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from privguard.store.deferred import discard_deferred, flush_deferred


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that write queued inserts (store/deferred.py) as part of their commit."""
    factory = sessionmaker(engine, expire_on_commit=False, autoflush=False)
    event.listen(factory, "before_commit", flush_deferred)
    event.listen(factory, "after_rollback", discard_deferred)
    return factory


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit if the block finishes, roll back if it raises."""
    with factory() as session, session.begin():
        yield session
