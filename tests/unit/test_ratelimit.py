"""The per-API-key token bucket (ops/ratelimit.py), on a clock the test moves."""

from __future__ import annotations

import pytest

from privguard.ops.ratelimit import MAX_BUCKETS, TokenBuckets, bucket_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=3, clock=clock)  # 1 a second
    assert [buckets.take("k") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("k") == pytest.approx(1.0)  # empty: one token in a second
    clock.now += 0.5
    assert buckets.take("k") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("k") == 0
    clock.now += 100  # refills up to the burst, not beyond
    assert [buckets.take("k") for _ in range(4)][-1] > 0


def test_keys_do_not_share_buckets_and_old_ones_are_dropped() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=1, clock=clock)
    assert buckets.take("a") == 0 and buckets.take("a") > 0
    assert buckets.take("b") == 0
    for i in range(MAX_BUCKETS + 5):
        buckets.take(f"k{i}")
    assert len(buckets._buckets) == MAX_BUCKETS
    assert buckets.take("a") == 0  # forgotten, so full again


def test_bucket_key_uses_the_key_id_never_the_secret() -> None:
    scope = {"headers": [(b"authorization", b"Bearer pgk_0123456789abcdef.s3cret")],
             "client": ("10.1.2.3", 5000)}
    assert bucket_key(scope) == "key:pgk_0123456789abcdef"
    assert bucket_key({"headers": [(b"x-api-key", b"pgk_aa.bb")]}) == "key:pgk_aa"
    # An empty bearer header beside X-API-Key: authentication takes the X-API-Key, and so
    # does the bucket (it used to find no key, so such requests were never limited).
    assert bucket_key({"headers": [(b"authorization", b"Bearer"),
                                   (b"x-api-key", b"pgk_aa.bb")]}) == "key:pgk_aa"
    # Without a key (cookie sessions of the web pages, public pages): not limited here.
    assert bucket_key({"headers": [(b"cookie", b"s=1")], "client": ("10.1.2.3", 5000)}) is None


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenBuckets(per_minute=0, burst=1)
    with pytest.raises(ValueError):
        TokenBuckets(per_minute=10, burst=0)
