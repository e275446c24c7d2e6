"""The authentication cache's rules: off until told it hears of every change, forgets on every
change, never stores an answer read before a change, expires, stays bounded."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

from privguard.actors.auth_cache import AuthCache, invalidate_all_in_process
from privguard.actors.auth_listener import AuthChangeListener
from privguard.policy.rules import ActorRef, Role

ACTOR = ActorRef(actor_id=uuid.uuid4(), role=Role.CUSTOMER_SERVICE)
DIGEST = b"d" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def live_cache(ttl: float = 10.0, **kw: object) -> tuple[AuthCache, Clock]:
    clock = Clock()
    cache = AuthCache(ttl, clock=clock, **kw)  # type: ignore[arg-type]
    cache.go_live()
    return cache, clock


def test_off_until_live_remembers_nothing() -> None:
    cache = AuthCache(10.0)
    assert not cache.put("pgk_a", DIGEST, ACTOR, cache.generation)
    assert cache.get("pgk_a", DIGEST) is None
    cache.go_live()
    assert cache.put("pgk_a", DIGEST, ACTOR, cache.generation)
    assert cache.get("pgk_a", DIGEST) == ACTOR


def test_a_wrong_secret_for_a_cached_key_misses() -> None:
    cache, _ = live_cache()
    cache.put("pgk_a", DIGEST, ACTOR, cache.generation)
    assert cache.get("pgk_a", b"x" * 32) is None
    assert cache.get("pgk_b", DIGEST) is None


def test_entries_expire_after_ttl() -> None:
    cache, clock = live_cache(ttl=5.0)
    cache.put("pgk_a", DIGEST, ACTOR, cache.generation)
    clock.now += 4.9
    assert cache.get("pgk_a", DIGEST) == ACTOR
    clock.now += 0.2
    assert cache.get("pgk_a", DIGEST) is None
    assert len(cache) == 0


def test_an_answer_read_before_a_change_is_not_stored() -> None:
    cache, _ = live_cache()
    generation = cache.generation  # a request starts its database read
    cache.invalidate()  # a key is revoked meanwhile
    assert not cache.put("pgk_a", DIGEST, ACTOR, generation)
    assert cache.get("pgk_a", DIGEST) is None


def test_invalidate_forgets_everything() -> None:
    cache, _ = live_cache()
    cache.put("pgk_a", DIGEST, ACTOR, cache.generation)
    cache.put("pgk_b", DIGEST, ACTOR, cache.generation)
    cache.invalidate()
    assert cache.get("pgk_a", DIGEST) is None and cache.get("pgk_b", DIGEST) is None


def test_going_dark_forgets_and_refuses_until_live_again() -> None:
    cache, _ = live_cache()
    cache.put("pgk_a", DIGEST, ACTOR, cache.generation)
    generation = cache.generation
    cache.go_dark()
    assert cache.get("pgk_a", DIGEST) is None
    assert not cache.put("pgk_a", DIGEST, ACTOR, cache.generation)
    cache.go_live()
    # An answer read while dark (or before) is not stored after reconnecting either.
    assert not cache.put("pgk_a", DIGEST, ACTOR, generation)


def test_zero_ttl_never_stores() -> None:
    cache, _ = live_cache(ttl=0.0)
    assert not cache.put("pgk_a", DIGEST, ACTOR, cache.generation)


def test_bounded_dropping_the_oldest() -> None:
    cache, _ = live_cache(max_entries=3)
    for name in ("pgk_1", "pgk_2", "pgk_3", "pgk_4"):
        assert cache.put(name, DIGEST, ACTOR, cache.generation)
    assert len(cache) == 3
    assert cache.get("pgk_1", DIGEST) is None
    assert cache.get("pgk_4", DIGEST) == ACTOR


def test_a_change_committed_in_this_process_empties_every_cache() -> None:
    first, _ = live_cache()
    second, _ = live_cache()
    first.put("pgk_a", DIGEST, ACTOR, first.generation)
    second.put("pgk_a", DIGEST, ACTOR, second.generation)
    invalidate_all_in_process()
    assert first.get("pgk_a", DIGEST) is None and second.get("pgk_a", DIGEST) is None


# ----------------------------------------------------------------------- the listener's probes
class FakeChannel:
    """A LISTEN connection: ``echo`` False behaves like a pooler that accepts LISTEN but never
    delivers notifications; True delivers probes back, plus anything queued in ``pending``."""

    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.pending: list[str] = []

    def __enter__(self) -> FakeChannel:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def execute(self, sql: str, params: tuple[str, str] | None = None) -> None:
        if params is not None and self.echo:
            self.pending.append(params[1])

    def notifies(self, timeout: float) -> list[SimpleNamespace]:
        time.sleep(min(timeout, 0.01))
        out, self.pending = self.pending, []
        return [SimpleNamespace(payload=p) for p in out]


def listener_on(channel: FakeChannel, cache: AuthCache) -> AuthChangeListener:
    engine = SimpleNamespace(dialect=SimpleNamespace(name="postgresql"))
    listener = AuthChangeListener(engine, cache, retry=0.02, heartbeat=0.05,  # type: ignore[arg-type]
                                  probe_timeout=0.1)
    listener._connect = lambda: channel  # type: ignore[method-assign]
    return listener


def test_a_channel_that_does_not_echo_keeps_the_cache_off() -> None:
    cache = AuthCache(10.0)
    listener = listener_on(FakeChannel(echo=False), cache)
    listener.start()
    try:
        time.sleep(0.5)
        assert not cache.live and not listener.connected.is_set()
    finally:
        listener.stop()


def test_an_echoing_channel_goes_live_and_a_table_change_empties_it() -> None:
    cache = AuthCache(10.0)
    channel = FakeChannel(echo=True)
    listener = listener_on(channel, cache)
    listener.start()
    try:
        assert listener.connected.wait(2)
        assert cache.put("pgk_a", DIGEST, ACTOR, cache.generation)
        channel.pending.append("probe:someone-else")  # another process's heartbeat
        time.sleep(0.1)
        assert cache.get("pgk_a", DIGEST) == ACTOR
        channel.pending.append("api_keys")
        deadline = time.monotonic() + 2
        while cache.get("pgk_a", DIGEST) is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.get("pgk_a", DIGEST) is None
        channel.echo = False  # the next heartbeat gets no echo: dark
        deadline = time.monotonic() + 2
        while cache.live and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not cache.live
    finally:
        listener.stop()
    assert not cache.live
