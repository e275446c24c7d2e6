"""A small key/value table for facts about the deployment itself (schema-free, no PI)."""

from __future__ import annotations

from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from privguard.store.base import Base


class StoreMeta(Base):
    __tablename__ = "store_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def get_meta(session: Session, key: str) -> str | None:
    return session.execute(select(StoreMeta.value).where(StoreMeta.key == key)).scalar()


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(StoreMeta, key)
    if row is None:
        session.add(StoreMeta(key=key, value=value))
    else:
        row.value = value
