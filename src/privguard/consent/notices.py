"""Published versions of the privacy notice: publish, read, and the material changes the
consent ledger suspends consents for.

A version is immutable once published (design.md invariant 5): each consent event records the
version and hash the consumer answered, so the exact text they saw can always be shown again.
A new version is made only when the content hash differs from the latest, so publishing on
every deploy is safe. Functions take the caller's session and never commit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from privguard.catalog.model import Catalog
from privguard.consent.models import NoticeVersion
from privguard.consent.notice import (
    Change,
    build_notice,
    canonical_json,
    content_hash,
    diff_notices,
)
from privguard.consent.notice_config import load_notice_config
from privguard.policy.rules import Policy


class NoticeNotFound(LookupError):
    """No notice is published yet, or not the version asked for."""

    code = "notice_not_found"

    def __init__(self, version: int | None = None) -> None:
        self.version = version
        super().__init__(
            "no privacy notice is published yet"
            if version is None
            else f"privacy notice version {version} does not exist"
        )


class NoticeRepublished(ValueError):
    """The content equals an older version's, which the unique content hash cannot hold twice.

    Going back to an earlier text is a real change for consumers who answered the versions in
    between, so it needs a version of its own: change the wording (e.g. the purpose
    description) so the new version can be told apart from the old one.
    """

    code = "notice_republished"

    def __init__(self, version: int) -> None:
        self.version = version
        super().__init__(
            f"this content was already published as version {version}, which is not the "
            "latest; a notice cannot return to an earlier version's exact text: change its "
            "wording (for example a purpose description) and publish again"
        )


@dataclass(frozen=True)
class NoticeVersionInfo:
    version: int
    content_hash: str
    published_at: datetime
    material: bool  # adds processing the consumer had not agreed to
    changes: tuple[Change, ...]  # from the previous version
    affected: frozenset[str]  # consent topics to ask again
    document: Mapping[str, Any]


@dataclass(frozen=True)
class MaterialChange:
    """A version whose consents for ``affected`` topics, given under older versions, no longer
    hold until the consumer answers again (consent/rules.py suspends them)."""

    version: int
    affected: frozenset[str]


def current_document(
    catalog: Catalog, policy: Policy, notice_path: Path | None
) -> dict[str, Any]:
    """The notice that the catalog, policy and notice config in force describe, ready to
    publish. Raises NoticeConfigError (naming the key) for an invalid notice config."""
    return build_notice(catalog, policy, load_notice_config(notice_path, catalog, policy))


def _info(row: NoticeVersion) -> NoticeVersionInfo:
    return NoticeVersionInfo(
        version=row.version,
        content_hash=row.content_hash,
        published_at=row.published_at,
        material=row.material,
        changes=tuple(Change.from_dict(c) for c in json.loads(row.changes)),
        affected=frozenset(json.loads(row.affected)),
        document=json.loads(row.document),
    )


def latest_notice(session: Session) -> NoticeVersionInfo | None:
    """The notice in force: the highest version, or None before the first publish."""
    row = session.execute(
        select(NoticeVersion).order_by(NoticeVersion.version.desc()).limit(1)
    ).scalar_one_or_none()
    return _info(row) if row is not None else None


def get_notice(session: Session, version: int) -> NoticeVersionInfo | None:
    row = session.get(NoticeVersion, version)
    return _info(row) if row is not None else None


def require_notice(session: Session, version: int | None = None) -> NoticeVersionInfo:
    """``version`` (the latest when None), or :class:`NoticeNotFound`."""
    found = latest_notice(session) if version is None else get_notice(session, version)
    if found is None:
        raise NoticeNotFound(version)
    return found


def notice_history(session: Session) -> list[NoticeVersionInfo]:
    """Every published version, oldest first."""
    rows = session.execute(select(NoticeVersion).order_by(NoticeVersion.version)).scalars()
    return [_info(row) for row in rows]


def publish_notice(
    session: Session, document: Mapping[str, Any], *, now: datetime
) -> NoticeVersionInfo:
    """Publish ``document`` as the next version, unless it equals the latest (then the latest
    is returned unchanged). The stored changes, ``material`` and ``affected`` are the diff
    against the previous version; the first version has no changes and is not material.

    Raises :class:`NoticeRepublished` for the content of an older, superseded version.
    Two publishers racing for the same version number: one commits, the other's commit fails
    on the primary key and changes nothing (run it again).
    """
    digest = content_hash(document)
    latest = latest_notice(session)
    if latest is not None and latest.content_hash == digest:
        return latest
    older = session.execute(
        select(NoticeVersion.version).where(NoticeVersion.content_hash == digest)
    ).scalar_one_or_none()
    if older is not None:
        raise NoticeRepublished(older)
    if latest is None:
        changes: tuple[Change, ...] = ()
        material = False
        affected: frozenset[str] = frozenset()
    else:
        diff = diff_notices(latest.document, document)
        changes, material, affected = diff.changes, diff.material, diff.affected
    row = NoticeVersion(
        version=(latest.version + 1) if latest is not None else 1,
        content_hash=digest,
        document=canonical_json(document),
        published_at=now,
        material=material,
        changes=json.dumps([c.as_dict() for c in changes], ensure_ascii=False),
        affected=json.dumps(sorted(affected)),
    )
    session.add(row)
    session.flush()
    return _info(row)


def material_changes(session: Session) -> list[MaterialChange]:
    """Every material version, oldest first, with the topics whose older consents it suspends."""
    rows = session.execute(
        select(NoticeVersion.version, NoticeVersion.affected)
        .where(NoticeVersion.material.is_(True))
        .order_by(NoticeVersion.version)
    ).all()
    return [MaterialChange(r.version, frozenset(json.loads(r.affected))) for r in rows]
