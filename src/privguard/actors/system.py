"""The CLI's own actor, so changes made from the command line are attributed in the log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from privguard.actors.models import Actor
from privguard.actors.service import create_actor
from privguard.policy.rules import ActorRef, Role
from privguard.store.meta import get_meta, set_meta

CLI_ACTOR_KEY = "cli_actor_id"


def cli_actor(session: Session, *, now: datetime) -> ActorRef:
    """The ``privguard`` command-line operator (platform_admin), created on first use."""
    stored = get_meta(session, CLI_ACTOR_KEY)
    actor = session.get(Actor, uuid.UUID(stored)) if stored else None
    if actor is None:
        actor = create_actor(
            session, display_name="privguard CLI operator", role=Role.PLATFORM_ADMIN, now=now
        )
        set_meta(session, CLI_ACTOR_KEY, str(actor.actor_id))
    return ActorRef(actor_id=actor.actor_id, role=Role(actor.role), display_name=actor.display_name)
