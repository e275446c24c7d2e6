"""Imports every feature's table module so ``Base.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

from sqlalchemy import MetaData


def all_metadata() -> MetaData:
    from privguard.actors import models as _actors  # noqa: F401
    from privguard.audit import models as _audit  # noqa: F401
    from privguard.cases import anomaly_models as _cases_anomalies  # noqa: F401
    from privguard.cases import incident_models as _cases_incidents  # noqa: F401
    from privguard.cases import models as _cases  # noqa: F401
    from privguard.consent import models as _consent  # noqa: F401
    from privguard.detect import message_models as _messages  # noqa: F401
    from privguard.detect import models as _detect  # noqa: F401
    from privguard.marketplace import models as _marketplace  # noqa: F401
    from privguard.notify import notifiers as _notify  # noqa: F401
    from privguard.reports import models as _reports  # noqa: F401
    from privguard.rights import models as _rights  # noqa: F401
    from privguard.rights import retention_models as _retention  # noqa: F401
    from privguard.rights import verification_models as _verification  # noqa: F401
    from privguard.sharing import dp_models as _sharing_dp  # noqa: F401
    from privguard.sharing import models as _sharing  # noqa: F401
    from privguard.sharing import relay_models as _sharing_relay  # noqa: F401
    from privguard.store import meta as _meta  # noqa: F401
    from privguard.store.base import Base
    from privguard.vault import models as _vault  # noqa: F401
    from privguard.web import models as _web  # noqa: F401

    return Base.metadata
