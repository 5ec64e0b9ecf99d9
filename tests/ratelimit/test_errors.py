"""Every bad input gets the same exception type and message in every tier (impls.ratelimit.contract)."""

import math

import numpy as np
import pytest

from tests.conftest import raised_by

NAN, INF = math.nan, math.inf


def _keyed(m, **kw):
    return m.KeyedLimiter("token", 2.0, 1.0, **kw)


BAD_CALLS = {
    # constructors: numbers that are not finite or not > 0 -> ValueError; not numbers -> TypeError
    "capacity 0": (ValueError, lambda m: m.TokenBucket(0, 1.0)),
    "capacity negative": (ValueError, lambda m: m.LeakyBucket(-1.0, 1.0)),
    "capacity nan": (ValueError, lambda m: m.TokenBucket(NAN, 1.0)),
    "capacity inf": (ValueError, lambda m: m.TokenBucket(INF, 1.0)),
    "capacity huge int": (ValueError, lambda m: m.TokenBucket(10**400, 1.0)),
    "capacity str": (TypeError, lambda m: m.TokenBucket("5", 1.0)),
    "capacity None": (TypeError, lambda m: m.LeakyBucket(None, 1.0)),
    "capacity bool": (TypeError, lambda m: m.TokenBucket(True, 1.0)),
    "rate 0": (ValueError, lambda m: m.TokenBucket(1.0, 0.0)),
    "rate nan": (ValueError, lambda m: m.LeakyBucket(1.0, NAN)),
    "rate str": (TypeError, lambda m: m.TokenBucket(1.0, "fast")),
    "capacity and rate bad: capacity first": (ValueError, lambda m: m.TokenBucket(0, "x")),
    "start now nan": (ValueError, lambda m: m.TokenBucket(1.0, 1.0, now=NAN)),
    "start now str": (TypeError, lambda m: m.LeakyBucket(1.0, 1.0, now="noon")),
    # bucket calls
    "cost 0": (ValueError, lambda m: m.TokenBucket(1.0, 1.0).acquire(0)),
    "cost negative": (ValueError, lambda m: m.LeakyBucket(1.0, 1.0).acquire(-1.0)),
    "cost nan": (ValueError, lambda m: m.TokenBucket(1.0, 1.0).acquire(NAN)),
    "cost inf": (ValueError, lambda m: m.TokenBucket(1.0, 1.0).acquire(INF)),
    "cost str": (TypeError, lambda m: m.TokenBucket(1.0, 1.0).acquire("1")),
    "cost None": (TypeError, lambda m: m.LeakyBucket(1.0, 1.0).acquire(None)),
    "now inf": (ValueError, lambda m: m.TokenBucket(1.0, 1.0).acquire(1.0, INF)),
    "now str": (TypeError, lambda m: m.TokenBucket(1.0, 1.0).acquire(1.0, "later")),
    "cost and now bad: cost first": (ValueError, lambda m: m.TokenBucket(1.0, 1.0).acquire(0.0, "x")),
    "tokens now nan": (ValueError, lambda m: m.TokenBucket(1.0, 1.0).tokens(NAN)),
    "retry_after cost 0": (ValueError, lambda m: m.LeakyBucket(1.0, 1.0).retry_after(0.0)),
    # keyed limiter constructor
    "kind unknown": (ValueError, lambda m: m.KeyedLimiter("fixed", 1.0, 1.0)),
    "kind not str": (TypeError, lambda m: m.KeyedLimiter(1, 1.0, 1.0)),
    "keyed capacity 0": (ValueError, lambda m: m.KeyedLimiter("token", 0.0, 1.0)),
    "keyed rate inf": (ValueError, lambda m: m.KeyedLimiter("leaky", 1.0, INF)),
    "max_keys 0": (ValueError, lambda m: _keyed(m, max_keys=0)),
    "max_keys float": (TypeError, lambda m: _keyed(m, max_keys=10.0)),
    "max_keys bool": (TypeError, lambda m: _keyed(m, max_keys=True)),
    # keys
    "key float": (TypeError, lambda m: _keyed(m).acquire(1.5)),
    "key None": (TypeError, lambda m: _keyed(m).acquire(None)),
    "key bool": (TypeError, lambda m: _keyed(m).acquire(True)),
    "key numpy bool": (TypeError, lambda m: _keyed(m).acquire(np.bool_(True))),
    "key bytearray": (TypeError, lambda m: _keyed(m).acquire(bytearray(b"k"))),
    "key tuple": (TypeError, lambda m: _keyed(m).acquire(("a", 1))),
    "key numpy float": (TypeError, lambda m: _keyed(m).acquire(np.float64(1.0))),
    "key and cost bad: key first": (TypeError, lambda m: _keyed(m).acquire(1.5, 0.0)),
    "keyed cost 0": (ValueError, lambda m: _keyed(m).acquire("k", 0)),
    "keyed now nan": (ValueError, lambda m: _keyed(m).acquire("k", 1.0, NAN)),
    "tokens key float": (TypeError, lambda m: _keyed(m).tokens(2.5)),
    "retry_after cost nan": (ValueError, lambda m: _keyed(m).retry_after("k", NAN)),
    # batches
    "many keys not iterable": (TypeError, lambda m: _keyed(m).acquire_many(5, 0.0)),
    "many with a float key": (TypeError, lambda m: _keyed(m).acquire_many(["a", 2, 3.5, "b"], 0.0)),
    "many with None key": (TypeError, lambda m: _keyed(m).acquire_many(("a", None), 0.0)),
    "many keys 2-D": (ValueError, lambda m: _keyed(m).acquire_many(np.zeros((2, 2), dtype=np.int64), 0.0)),
    "many keys float array": (TypeError, lambda m: _keyed(m).acquire_many(np.array([1.0, 2.0]), 0.0)),
    "many keys bool array": (TypeError, lambda m: _keyed(m).acquire_many(np.array([True, False]), 0.0)),
    "many now wrong length": (ValueError, lambda m: _keyed(m).acquire_many(["a", "b"], [0.0, 1.0, 2.0])),
    "many now 2-D": (ValueError, lambda m: _keyed(m).acquire_many(["a", "b"], np.zeros((2, 1)))),
    "many now with nan": (ValueError, lambda m: _keyed(m).acquire_many(["a", "b", "c"], [0.0, NAN, 1.0])),
    "many now strings": (TypeError, lambda m: _keyed(m).acquire_many(["a"], ["noon"])),
    "many now scalar str": (TypeError, lambda m: _keyed(m).acquire_many(["a"], "noon")),
    "many cost 0": (ValueError, lambda m: _keyed(m).acquire_many(["a"], 0.0, 0.0)),
    "many bad key and bad now: now first": (ValueError, lambda m: _keyed(m).acquire_many([1.5], NAN)),
    "many bad cost and bad keys: cost first": (ValueError, lambda m: _keyed(m).acquire_many(5, 0.0, -1)),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_pure_raises_the_documented_type(case, pure):
    expected_type, call = BAD_CALLS[case]
    outcome = raised_by(lambda: call(pure))
    assert outcome is not None, f"{case}: no error"
    assert outcome[0] is expected_type, outcome


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_every_tier_raises_what_pure_raises(case, tier, pure):
    call = BAD_CALLS[case][1]
    assert raised_by(lambda: call(tier)) == raised_by(lambda: call(pure))


def test_messages_name_the_argument(pure):
    for name, call in [("capacity", lambda: pure.TokenBucket(0, 1)), ("rate", lambda: pure.TokenBucket(1, -2)),
                       ("cost", lambda: pure.TokenBucket(1, 1).acquire(NAN)),
                       ("key", lambda: pure.KeyedLimiter("token", 1, 1).acquire(1.0))]:
        with pytest.raises((ValueError, TypeError), match=name):
            call()


@pytest.mark.parametrize("keys", [["a", "b", 7, "c", 2.5], np.array([1.0, 2.0])])
def test_a_bad_batch_changes_nothing(tier, keys):
    limiter = tier.KeyedLimiter("token", 2.0, 1.0)
    with pytest.raises(TypeError):
        limiter.acquire_many(keys, 0.0)
    assert len(limiter) == 0
    assert limiter.tokens("a", 0.0) == 2.0 and limiter.tokens(7, 0.0) == 2.0
