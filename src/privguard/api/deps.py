"""Request dependencies: the runtime, the authenticated actor, and the transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from privguard.actors.service import (
    AuthenticationFailed,
    offered_token,
    parse_token,
    verify_key,
)
from privguard.api.threads import run_sync
from privguard.bootstrap import Runtime
from privguard.clock import utcnow
from privguard.consent.rules import Action, Channel, Kind, State, topic
from privguard.consent.service import ConsentRequest
from privguard.policy.rules import ActorRef, Role
from privguard.store.uow import unit_of_work
from privguard.vault.errors import AccessDenied

# How a caller authenticates, for the OpenAPI document (api/app.py adds them to every operation
# that depends on current_actor). Not FastAPI security dependencies: each dependency is solved
# again on every request, and the three that resolved these headers cost about as much CPU as
# the rest of the framework's work on a gated read (benchmarks/read_cpu.py).
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "HTTPBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer pgk_….<secret>`",
    },
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "Or `X-API-Key`.",
    },
}


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI runs a sync dependency in the thread pool, one thread hop per request
    # for an attribute read (benchmarks/load.py).
    return request.app.state.runtime


@contextmanager
def transaction(runtime: Runtime) -> Iterator[Session]:
    """One transaction per request. A refusal still commits its access-log entry (the refusal
    is checked before any data change, so nothing else can be in the transaction). On
    PostgreSQL the transaction begins at the first write (store/lazy_begin.py)."""
    with unit_of_work(runtime.request_sessions, commit_on=(AccessDenied,)) as session:
        yield session


def _authenticate(runtime: Runtime, key_id: str, secret_digest: bytes) -> ActorRef:
    """One SELECT: on PostgreSQL no BEGIN or ROLLBACK round trip (store/lazy_begin.py)."""
    with runtime.request_sessions() as session:
        return verify_key(session, key_id, secret_digest)


async def current_actor(request: Request) -> ActorRef:
    """The caller's actor. A key this process verified moments ago is answered from the
    authentication cache (live on PostgreSQL only, emptied by any change to keys or actors:
    actors/auth_cache.py) without a database read or a worker thread; otherwise the database
    is read in a worker thread (api/threads.py). Takes only the request (see SECURITY_SCHEMES)."""
    runtime: Runtime = request.app.state.runtime
    token = offered_token(request.headers)
    if not token:
        raise AuthenticationFailed("an API key is required (Authorization: Bearer …)")
    key_id, secret_digest = parse_token(token)
    cache = runtime.auth_cache
    actor = cache.get(key_id, secret_digest)
    if actor is None:
        generation = cache.generation  # before the read: a change during it voids the answer
        actor = await run_sync(_authenticate, runtime, key_id, secret_digest)
        cache.put(key_id, secret_digest, actor, generation)
    request.state.actor = actor  # named in the server log if the request is refused
    if request.headers.get("sec-gpc") == "1":
        await run_sync(honour_gpc, runtime, actor)
    return actor


def honour_gpc(runtime: Runtime, actor: ActorRef) -> None:
    """A consumer's browser says "do not sell or share" (Global Privacy Control, CCPA regs
    §7025): recorded once as a withdrawal of sharing, which stops every recipient."""
    if actor.role is not Role.CONSUMER or actor.subject_id is None:
        return
    now = utcnow()
    with unit_of_work(runtime.sessions) as session:
        states = runtime.consent.states(session, actor.subject_id, now)
        sharing = states.get(topic(Kind.PURPOSE, GPC_PURPOSE))
        if sharing is not None and sharing.state is State.WITHDRAWN:
            return
        runtime.consent.record(
            session,
            actor,
            ConsentRequest(
                subject_id=actor.subject_id,
                kind=Kind.PURPOSE,
                target=GPC_PURPOSE,
                action=Action.WITHDRAWN,
                channel=Channel.GPC,
                text_shown="Sec-GPC: 1",
            ),
            now=now,
            birth_date=None,
        )


GPC_PURPOSE = "third_party_sharing"


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ActorDep = Annotated[ActorRef, Depends(current_actor)]
