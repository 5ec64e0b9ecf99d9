"""The rate-limiter contract, run against every tier."""

import math

import numpy as np
import pytest

from impls import registry
from impls.ratelimit import contract

PUBLIC_NAMES = {"TokenBucket", "LeakyBucket", "KeyedLimiter", "warmup"}


def test_every_tier_exposes_the_same_names():
    for tier in registry.names("ratelimit"):
        missing = PUBLIC_NAMES - set(dir(registry.load("ratelimit", tier)))
        assert not missing, f"{tier} lacks {missing}"


def test_public_api_is_the_preferred_tier():
    import impls.ratelimit as api

    assert api.TIER == registry.preferred("ratelimit")
    assert api.TokenBucket is registry.load("ratelimit", api.TIER).TokenBucket


# --- token bucket --------------------------------------------------------------------

def test_token_bucket_starts_full_and_refills_at_rate(tier):
    bucket = tier.TokenBucket(capacity=3, rate=2.0, now=10.0)
    assert [bucket.acquire(1.0, 10.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.tokens(10.0) == 0.0
    assert bucket.tokens(10.25) == 0.5
    assert bucket.acquire(1.0, 10.5)  # 0.5 s x 2/s = one token
    assert not bucket.acquire(1.0, 10.5)
    assert bucket.tokens(100.0) == 3.0  # never above capacity


def test_token_bucket_fractional_costs(tier):
    bucket = tier.TokenBucket(1.0, 1.0, now=0.0)
    assert bucket.acquire(0.25, 0.0) and bucket.acquire(0.75, 0.0)
    assert not bucket.acquire(0.25, 0.0)
    assert bucket.tokens(0.0) == 0.0


def test_leaky_bucket_starts_empty_and_drains_at_rate(tier):
    bucket = tier.LeakyBucket(capacity=3, rate=2.0, now=10.0)
    assert [bucket.acquire(1.0, 10.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.tokens(10.0) == 0.0  # room left
    assert bucket.tokens(10.25) == 0.5
    assert bucket.acquire(1.0, 10.5)
    assert not bucket.acquire(1.0, 10.5)
    assert bucket.tokens(100.0) == 3.0


@pytest.mark.parametrize("cls", ["TokenBucket", "LeakyBucket"])
def test_cost_above_capacity_is_never_admitted(tier, cls):
    bucket = getattr(tier, cls)(2.0, 1000.0, now=0.0)
    assert not bucket.acquire(2.5, 1e6)
    assert bucket.retry_after(2.5, 1e6) == math.inf
    assert bucket.acquire(2.0, 1e6)  # exactly capacity is fine


@pytest.mark.parametrize("cls", ["TokenBucket", "LeakyBucket"])
def test_backwards_timestamps_never_refill_and_never_error(tier, cls):
    bucket = getattr(tier, cls)(2.0, 1.0, now=100.0)
    assert bucket.acquire(2.0, 100.0)
    assert not bucket.acquire(1.0, 50.0)  # time went back: nothing refilled
    assert bucket.tokens(50.0) == 0.0
    assert not bucket.acquire(1.0, 100.5)  # half a token since 100: `last` did not move back
    assert bucket.acquire(1.0, 101.0)


@pytest.mark.parametrize("cls", ["TokenBucket", "LeakyBucket"])
def test_retry_after_is_the_wait_until_admission(tier, cls):
    early, on_time = (getattr(tier, cls)(5.0, 3.0, now=0.0) for _ in range(2))
    assert on_time.retry_after(1.0, 0.0) == 0.0
    assert early.acquire(5.0, 0.0) and on_time.acquire(5.0, 0.0)
    wait = on_time.retry_after(2.0, 0.1)
    assert wait == pytest.approx(2.0 / 3.0 - 0.1)
    assert not early.acquire(2.0, 0.1 + wait * 0.99)
    assert on_time.acquire(2.0, 0.1 + wait)  # exactly then, rounding included


@pytest.mark.parametrize("cls", ["TokenBucket", "LeakyBucket"])
def test_default_clock_is_monotonic(tier, cls):
    bucket = getattr(tier, cls)(1.0, 1e-9)
    assert bucket.acquire()
    assert not bucket.acquire()
    assert 0 < bucket.retry_after() < math.inf
    assert bucket.capacity == 1.0 and bucket.rate == 1e-9


def test_ints_and_numpy_numbers_are_accepted(tier):
    bucket = tier.TokenBucket(np.int64(2), np.float32(0.5), now=np.float64(1.0))
    assert bucket.acquire(1, 1) and bucket.acquire(np.float64(1.0), np.int32(1))
    assert not bucket.acquire(1, 1.5)  # a quarter token since 1.0


# --- keyed limiter -------------------------------------------------------------------

def test_keys_have_buckets_of_their_own(tier):
    limiter = tier.KeyedLimiter("token", 2, 1.0)
    got = [limiter.acquire(k, 1.0, 0.0) for k in ["a", "a", "a", b"a", 1, 1, 1, "1", 2**70, 2**70, 2**70]]
    assert got == [True, True, False, True, True, True, False, True, True, True, False]
    assert len(limiter) == 5
    assert limiter.tokens("a", 0.0) == 0.0 and limiter.tokens("never seen", 0.0) == 2.0


def test_equal_keys_of_other_types_share_a_bucket(tier):
    class Name(str):
        pass

    limiter = tier.KeyedLimiter("token", 1, 1.0)
    assert limiter.acquire(7, 1.0, 0.0)
    assert not limiter.acquire(np.int64(7), 1.0, 0.0)
    assert not limiter.acquire(np.uint8(7), 1.0, 0.0)
    assert limiter.acquire("k", 1.0, 0.0)
    assert not limiter.acquire(Name("k"), 1.0, 0.0)


@pytest.mark.parametrize("kind", contract.KINDS)
def test_acquire_many_equals_acquire_in_order(tier, kind):
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 50, size=3000)
    times = np.cumsum(rng.exponential(0.01, size=3000)) - 5.0
    times[::97] -= 1.0  # some timestamps go backwards
    one = tier.KeyedLimiter(kind, 3, 2.0)
    expected = [one.acquire(int(k), 1.0, float(t)) for k, t in zip(keys, times)]
    for batch_keys in (keys, keys.tolist(), [str(k) for k in keys.tolist()]):
        many = tier.KeyedLimiter(kind, 3, 2.0)
        got = many.acquire_many(batch_keys, times, 1.0)
        assert got.dtype == np.bool_ and got.shape == (3000,)
        assert got.tolist() == expected


def test_acquire_many_scalar_now_and_default_clock(tier):
    limiter = tier.KeyedLimiter("token", 2, 1e-9)
    assert limiter.acquire_many(["a", "a", "a", "b"], 5.0).tolist() == [True, True, False, True]
    assert limiter.acquire_many(np.array([9, 9, 9], dtype=np.uint32)).tolist() == [True, True, False]
    assert limiter.acquire_many([], 1.0).tolist() == []
    assert limiter.acquire_many(np.array([2**64 - 1, 2**64 - 1, 2**64 - 1], dtype=np.uint64), 0.0,
                                cost=1.5).tolist() == [True, False, False]


@pytest.mark.parametrize("kind", contract.KINDS)
def test_full_buckets_are_dropped_so_memory_stays_bounded(tier, kind):
    """Each key is used once; within a refill period (0.1 s) only about 100 keys are live."""
    limiter = tier.KeyedLimiter(kind, 1.0, 10.0)
    peak = 0
    for start in range(0, 20_000, 1000):
        keys = np.arange(start, start + 1000)
        limiter.acquire_many(keys, keys * 0.001)
        peak = max(peak, len(limiter))
    assert peak <= 2 * contract.SWEEP_MIN
    strs = [f"user:{i}" for i in range(20_000)]
    for start in range(0, 20_000, 1000):
        limiter.acquire_many(strs[start:start + 1000], np.arange(start, start + 1000) * 0.001 + 100.0)
        peak = max(peak, len(limiter))
    assert peak <= 2 * contract.SWEEP_MIN


@pytest.mark.parametrize("kind", contract.KINDS)
def test_past_max_keys_new_keys_are_refused_until_a_bucket_refills(tier, kind):
    limiter = tier.KeyedLimiter(kind, 2.0, 1.0, max_keys=3)
    assert all(limiter.acquire(k, 2.0, 0.0) for k in ("a", "b", 1))  # three empty buckets
    assert not limiter.acquire("new", 1.0, 0.5)  # refused: no bucket is full
    assert not limiter.acquire(2, 1.0, 0.5)
    assert len(limiter) == 3
    assert limiter.acquire("a", 0.5, 0.5)  # keys with a bucket are unaffected
    assert limiter.retry_after("new", 1.0, 0.5) == 0.0  # documented: max_keys is ignored there
    assert limiter.acquire("new", 1.0, 2.5)  # all three are full again and dropped
    assert limiter.acquire(2, 1.0, 2.5)
    assert len(limiter) == 2


def test_keyed_retry_after_and_tokens(tier):
    limiter = tier.KeyedLimiter("leaky", 4.0, 2.0)
    assert limiter.retry_after("k", 5.0, 0.0) == math.inf
    assert limiter.retry_after("k", 4.0, 0.0) == 0.0
    assert limiter.acquire("k", 4.0, 0.0)
    assert limiter.tokens("k", 1.0) == 2.0
    wait = limiter.retry_after("k", 3.0, 0.0)
    assert wait == 1.5 and limiter.acquire("k", 3.0, wait)
    assert (limiter.kind, limiter.capacity, limiter.rate, limiter.max_keys) == ("leaky", 4.0, 2.0,
                                                                                contract.DEFAULT_MAX_KEYS)
