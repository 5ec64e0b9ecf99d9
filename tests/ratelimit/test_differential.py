"""Every tier equals `pure` (the spec) exactly -- decisions, token counts and waits -- on random
call sequences, timestamps that go backwards included."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

positive = st.one_of(
    st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=50),
    st.sampled_from([0.1, 1 / 3, 2.5, 1e-9, 1e9]),
)
# Timestamps as a walk: mostly forward, sometimes backwards, sometimes the same instant.
steps = st.one_of(st.floats(min_value=-5.0, max_value=5.0, allow_nan=False), st.just(0.0),
                  st.floats(min_value=0.0, max_value=1e-6), st.sampled_from([1e-12, 0.1, 1 / 3]))
keys = st.sampled_from(["a", "b", "ключ", b"a", b"", 0, 1, -7, 2**63 - 1, 2**70, "x" * 40])
costs = st.one_of(positive, st.sampled_from([1.0, 1.0, 1.0, 0.5]))


def _times(start, deltas):
    out, t = [], start
    for d in deltas:
        t += d
        out.append(t)
    return out


def _bucket_calls(bucket, ops, times):
    """The outcome of every call, as pure would see it (floats compared exactly)."""
    got = []
    for (op, cost), t in zip(ops, times):
        if op == "acquire":
            got.append(bucket.acquire(cost, t))
        elif op == "tokens":
            got.append(bucket.tokens(t))
        else:
            got.append(bucket.retry_after(cost, t))
    return got


bucket_ops = st.lists(st.tuples(st.sampled_from(["acquire", "acquire", "acquire", "tokens", "retry_after"]), costs),
                      min_size=1, max_size=60)


@SETTINGS
@given(kind=st.sampled_from(["TokenBucket", "LeakyBucket"]), capacity=positive, rate=positive,
       start=st.floats(min_value=-1e6, max_value=1e9), ops=bucket_ops, data=st.data())
def test_buckets_equal_pure(tier, pure, kind, capacity, rate, start, ops, data):
    times = _times(start, data.draw(st.lists(steps, min_size=len(ops), max_size=len(ops))))
    expected = _bucket_calls(getattr(pure, kind)(capacity, rate, now=start), ops, times)
    assert _bucket_calls(getattr(tier, kind)(capacity, rate, now=start), ops, times) == expected


@SETTINGS
@given(kind=st.sampled_from(["TokenBucket", "LeakyBucket"]), capacity=positive, rate=positive, ops=bucket_ops,
       data=st.data())
def test_spec_invariants(pure, kind, capacity, rate, ops, data):
    """In pure: tokens/room stay within [0, capacity] whatever the timestamps, and an acquire
    at now + retry_after is admitted."""
    times = _times(0.0, data.draw(st.lists(steps, min_size=len(ops), max_size=len(ops))))
    make = lambda: getattr(pure, kind)(capacity, rate, now=0.0)  # noqa: E731
    bucket, history = make(), []
    for (_, cost), t in zip(ops, times):
        bucket.acquire(cost, t)
        history.append((cost, t))
        assert 0.0 <= bucket.tokens(t) <= capacity
        wait = bucket.retry_after(cost, t)
        if math.isfinite(wait):
            twin = make()  # the same state, reached by the same calls
            for c, when in history:
                twin.acquire(c, when)
            assert twin.acquire(cost, t + wait)


keyed_ops = st.lists(st.tuples(st.sampled_from(["acquire", "acquire", "many", "tokens", "retry_after"]), keys, costs,
                               st.lists(keys, max_size=8)),
                     min_size=1, max_size=50)


def _keyed_calls(limiter, ops, times):
    got = []
    for (op, key, cost, batch), t in zip(ops, times):
        if op == "acquire":
            got.append(limiter.acquire(key, cost, t))
        elif op == "many":
            per_key = [t + 0.01 * (i % 3 - 1) for i in range(len(batch))]  # a little disorder
            got.append(limiter.acquire_many(batch, per_key, cost).tolist())
            got.append(limiter.acquire_many(batch, t, cost).tolist())
        elif op == "tokens":
            got.append(limiter.tokens(key, t))
        else:
            got.append(limiter.retry_after(key, cost, t))
        got.append(len(limiter))
    return got


@SETTINGS
@given(kind=st.sampled_from(["token", "leaky"]), capacity=positive, rate=positive,
       max_keys=st.one_of(st.integers(min_value=1, max_value=6), st.just(1 << 20)), ops=keyed_ops, data=st.data())
def test_keyed_limiter_equals_pure(tier, pure, kind, capacity, rate, max_keys, ops, data):
    times = _times(100.0, data.draw(st.lists(steps, min_size=len(ops), max_size=len(ops))))
    expected = _keyed_calls(pure.KeyedLimiter(kind, capacity, rate, max_keys=max_keys), ops, times)
    assert _keyed_calls(tier.KeyedLimiter(kind, capacity, rate, max_keys=max_keys), ops, times) == expected


def test_many_keys_and_sweeps_equal_pure(tier, pure):
    """Beyond hypothesis' small cases: 60k decisions over 4000 keys (int and str), sweeps at
    the 1024 threshold and at max_keys, disordered timestamps."""
    rng = np.random.default_rng(20240601)
    n = 60_000
    ints = rng.integers(0, 4000, size=n)
    times = np.cumsum(rng.exponential(0.002, size=n)) + rng.normal(0, 0.01, size=n)
    mixed = [int(k) if k % 3 else f"k{k}" for k in ints.tolist()]
    for kind in ("token", "leaky"):
        for max_keys in (1 << 20, 1500):
            args = (kind, 3.0, 1.7, max_keys)
            reference = pure.KeyedLimiter(*args)
            expected = reference.acquire_many(mixed, times).tolist()
            limiter = tier.KeyedLimiter(*args)
            assert limiter.acquire_many(mixed, times).tolist() == expected
            assert len(limiter) == len(reference)
            ints_only = tier.KeyedLimiter(*args)
            assert ints_only.acquire_many(ints, times).tolist() == pure.KeyedLimiter(*args).acquire_many(
                ints, times).tolist()
