"""Verified API keys remembered for a few seconds, forgotten the moment any key or actor changes.

Authenticating a request costs a database round trip and, on the server, a hop to a worker
thread; for a gated read that was a third of the work (benchmarks/load.py). This cache lets a
worker process answer a key it verified moments ago without asking the database again, but only
while it *knows* of every change:

* on PostgreSQL, triggers on ``api_keys`` and ``actors`` send ``NOTIFY privguard_auth`` when
  either table is updated or rows are deleted (migration 0018); every server process listens
  (:mod:`privguard.actors.auth_listener`) and empties its cache when a notification arrives, so
  a key revoked from any process or by hand in ``psql`` stops working everywhere within the
  notification's delivery time (milliseconds);
* a change committed through this process empties the cache at commit, before the next request
  (:func:`install_local_invalidation`);
* while the listener is not connected the cache is *off* (every request reads the database),
  and after it reconnects the cache starts empty;
* every entry also expires after ``ttl`` seconds (``PRIVGUARD_AUTH_CACHE_SECONDS``), a bound
  even if a notification were lost.

A request that read the database before a change and would store its answer after the change was
announced cannot put a stale entry back: each invalidation moves a generation counter, and an
answer is stored only under the generation that was current when its database read began.

Only successes are cached, keyed by the key id *and* the SHA-256 of the secret (what the
database holds), so a wrong secret for a cached key id still misses and is refused by the
database path. SQLite has no notifications: there the cache is never switched on.
"""

from __future__ import annotations

import hmac
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from privguard.policy.rules import ActorRef

DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    secret_digest: bytes
    actor: ActorRef
    stored_at: float


class AuthCache:
    """Verified keys of one process. Thread-safe; off until :meth:`go_live`."""

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._generation = 0
        self._live = False
        self._lock = threading.Lock()
        _ALL.add(self)

    @property
    def live(self) -> bool:
        return self._live

    @property
    def generation(self) -> int:
        """Take this *before* reading the database; hand it to :meth:`put` afterwards."""
        return self._generation

    def get(self, key_id: str, secret_digest: bytes) -> ActorRef | None:
        if not self._live:
            return None
        entry = self._entries.get(key_id)
        if entry is None or not hmac.compare_digest(entry.secret_digest, secret_digest):
            return None
        if self._clock() - entry.stored_at >= self.ttl:
            with self._lock:
                if self._entries.get(key_id) is entry:
                    del self._entries[key_id]
            return None
        return entry.actor

    def put(self, key_id: str, secret_digest: bytes, actor: ActorRef, generation: int) -> bool:
        """Remember a key verified by a database read that began at ``generation``; refused
        (False) when the cache is off or anything changed since that read began."""
        with self._lock:
            if not self._live or generation != self._generation or self.ttl <= 0:
                return False
            if len(self._entries) >= self.max_entries and key_id not in self._entries:
                # Full: drop the oldest entry (dicts keep insertion order).
                del self._entries[next(iter(self._entries))]
            self._entries[key_id] = _Entry(secret_digest, actor, self._clock())
            return True

    def invalidate(self) -> None:
        """Forget everything: a key or an actor changed somewhere."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def go_live(self) -> None:
        """The listener is connected and listening: answers may be remembered from now on."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._live = True

    def go_dark(self) -> None:
        """The listener lost its connection: forget everything and remember nothing more."""
        with self._lock:
            self._live = False
            self._generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_ALL: weakref.WeakSet[AuthCache] = weakref.WeakSet()


def invalidate_all_in_process() -> None:
    """Empty every cache of this process (a change to keys or actors committed here)."""
    for cache in list(_ALL):
        cache.invalidate()
