"""Imports every feature's table module so ``Base.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

from sqlalchemy import MetaData


def all_metadata() -> MetaData:
    from privguard.actors import models as _actors  # noqa: F401
    from privguard.audit import models as _audit  # noqa: F401
    from privguard.consent import models as _consent  # noqa: F401
    from privguard.marketplace import models as _marketplace  # noqa: F401
    from privguard.notify import notifiers as _notify  # noqa: F401
    from privguard.rights import models as _rights  # noqa: F401
    from privguard.rights import verification_models as _verification  # noqa: F401
    from privguard.store import meta as _meta  # noqa: F401
    from privguard.store.base import Base
    from privguard.vault import models as _vault  # noqa: F401

    return Base.metadata
