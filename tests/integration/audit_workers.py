"""Process entry points for the access-log concurrency test (spawned, so importable by name)."""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import datetime
from typing import Any

from privguard.bootstrap import build_runtime
from privguard.config import Settings
from privguard.policy.rules import ActorRef, View
from privguard.store.uow import unit_of_work
from privguard.vault.errors import AccessDenied


def settings_from(fields: dict[str, Any]) -> Settings:
    return Settings(**fields)


def read_many(
    fields: dict[str, Any],
    actor: ActorRef,
    subject_ids: list[uuid.UUID],
    reads: int,
    now: datetime,
) -> int:
    """``reads`` vault reads, one transaction each (as API requests are); returns how many."""
    runtime = build_runtime(settings_from(fields))
    try:
        done = 0
        for i in range(reads):
            # A refusal is logged all the same: what the test counts is entries.
            with (
                unit_of_work(runtime.sessions, commit_on=(AccessDenied,)) as session,
                contextlib.suppress(AccessDenied),
            ):
                runtime.vault.read(
                    session, actor, subject_ids[i % len(subject_ids)], fields=["name"],
                    purpose="legal_obligation", view=View.MASKED, now=now,
                )
            done += 1
        return done
    finally:
        runtime.close()


def sequence_until(fields: dict[str, Any], ready: Any, stop: Any, batch: int) -> int:
    """Run the sequencer in small batches until ``stop`` is set; returns entries integrated."""
    from privguard.audit.sequencer import sequence_all

    runtime = build_runtime(settings_from(fields))
    try:
        ready.set()
        total = 0
        while not stop.is_set():
            total += sequence_all(runtime.sessions, runtime.signer, batch=batch)
            time.sleep(0.005)
        return total
    finally:
        runtime.close()
