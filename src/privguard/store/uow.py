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

from privguard.store.deferred import COMMITTER, discard_deferred, flush_deferred_at_commit
from privguard.store.group_commit import GroupCommitter


def session_factory(
    engine: Engine, *, committer: GroupCommitter | None = None
) -> sessionmaker[Session]:
    """Sessions that write queued inserts (store/deferred.py) as part of their commit; with
    ``committer``, a unit of work's lone row is written with other sessions' rows
    (store/group_commit.py)."""
    info = {} if committer is None else {COMMITTER: committer}
    factory = sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)
    event.listen(factory, "before_commit", flush_deferred_at_commit)
    event.listen(factory, "after_rollback", discard_deferred)
    return factory


@contextmanager
def unit_of_work(
    factory: sessionmaker[Session], *, commit_on: tuple[type[BaseException], ...] = ()
) -> Iterator[Session]:
    """Commit if the block finishes, roll back if it raises.

    Exceptions listed in ``commit_on`` commit before they propagate: a refusal is raised after
    its access-log entry and before any data change, so the entry must survive the refusal.
    """
    with factory() as session:
        session.begin()
        try:
            yield session
        except commit_on:
            session.commit()
            raise
        except BaseException:
            session.rollback()
            raise
        session.commit()
