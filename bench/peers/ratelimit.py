"""Rate-limiter peers: limits (three window strategies) and pyrate-limiter (its token bucket).

Each adapter exposes the subset of the family contract its library supports:

* `TokenBucket(capacity, rate)` / `KeyedLimiter(kind, capacity, rate)`: `acquire(...)` with
  the library's own clock -- neither library takes a caller's timestamp on its hit path, so
  `accepts_now` is False and the cases check peers for plausibility, not against `pure`;
* `RedisLimiter(url, kind, capacity, rate, prefix)`: the same over the library's Redis storage.

A bucket of `capacity` refilled at `rate`/s becomes "capacity per capacity/rate seconds":
limits' windows are whole seconds, so only such parameters can be expressed (ValueError
otherwise). Leaky buckets are not offered (no peer has one; pyrate's GCRA is its token
bucket). Adapter calls add one Python frame (about 0.05 us) to each hit; the libraries cost
microseconds a hit, so it is left in.
"""

from __future__ import annotations

from types import SimpleNamespace

import limits
import pyrate_limiter as pyrate
from limits import storage as limits_storage
from limits import strategies as limits_strategies


class _Peer(SimpleNamespace):
    """An adapter: the classes a library can offer, plus `accepts_now`, `warmup` and `doc`."""

    def __repr__(self) -> str:
        return f"<{self.doc}>"


def _window_seconds(capacity: float, rate: float) -> int:
    window = capacity / rate
    if window < 1 or window != int(window) or capacity != int(capacity):
        raise ValueError(f"limits expresses whole numbers per whole seconds, not capacity={capacity}, rate={rate}")
    return int(window)


# ---------------------------------------------------------------------------------------
# limits: FixedWindow, MovingWindow, SlidingWindowCounter
# ---------------------------------------------------------------------------------------
_STRATEGIES = {
    "fixed": limits_strategies.FixedWindowRateLimiter,
    "moving": limits_strategies.MovingWindowRateLimiter,
    "sliding": limits_strategies.SlidingWindowCounterRateLimiter,
}


class _LimitsKeyed:
    """limits' `strategy` over `storage`: one counter per key."""

    def __init__(self, strategy: str, storage, capacity: float, rate: float):
        self._item = limits.RateLimitItemPerSecond(int(capacity), _window_seconds(capacity, rate))
        self._storage = storage
        self._hit = _STRATEGIES[strategy](storage).hit

    def acquire(self, key, cost: float = 1.0, now=None) -> bool:
        return self._hit(self._item, str(key), cost=int(cost))


def _limits_peer(strategy: str) -> SimpleNamespace:
    def token_bucket(capacity: float, rate: float, now=None):
        keyed = _LimitsKeyed(strategy, limits_storage.MemoryStorage(), capacity, rate)
        hit, item = keyed._hit, keyed._item
        return SimpleNamespace(acquire=lambda cost=1.0, now=None: hit(item, "bucket", cost=int(cost)))

    def keyed_limiter(kind: str, capacity: float, rate: float):
        if kind != "token":
            raise ValueError("limits has no leaky bucket")
        return _LimitsKeyed(strategy, limits_storage.MemoryStorage(), capacity, rate)

    def redis_limiter(url: str, kind: str, capacity: float, rate: float, prefix: str):
        if kind != "token":
            raise ValueError("limits has no leaky bucket")
        storage = limits_storage.RedisStorage(url, key_prefix=prefix.rstrip(":"), socket_timeout=5)
        return _LimitsKeyed(strategy, storage, capacity, rate)

    return _Peer(TokenBucket=token_bucket, KeyedLimiter=keyed_limiter, RedisLimiter=redis_limiter,
                 accepts_now=False, warmup=lambda: None, doc=f"limits {_STRATEGIES[strategy].__name__}")


# ---------------------------------------------------------------------------------------
# pyrate-limiter: its TokenBucket algorithm (GCRA) over constant-state buckets
# ---------------------------------------------------------------------------------------
class _PerKey(pyrate.BucketFactory):
    """One StateBucket per item name, made on first use (pyrate's documented way to key a
    Limiter). No leaker thread: a state bucket has nothing to leak."""

    def __init__(self, make_bucket):
        self._make_bucket = make_bucket
        self._buckets: dict = {}
        self._clock = pyrate.MonotonicClock()

    def wrap_item(self, name: str, weight: int = 1):
        return pyrate.RateItem(name, self._clock.now(), weight=weight)

    def get(self, item):
        bucket = self._buckets.get(item.name)
        if bucket is None:
            bucket = self._buckets[item.name] = self._make_bucket(item.name)
        return bucket


class _PyrateKeyed:
    def __init__(self, make_bucket, clock=None):
        factory = _PerKey(make_bucket)
        if clock is not None:
            factory._clock = clock
        self._try = pyrate.Limiter(factory).try_acquire

    def acquire(self, key, cost: float = 1.0, now=None) -> bool:
        return self._try(str(key), weight=int(cost), blocking=False)


def _pyrate_rates(capacity: float, rate: float) -> list:
    return [pyrate.Rate(int(capacity), round(capacity / rate * 1000))]


def _pyrate_token_bucket(capacity: float, rate: float, now=None):
    rates = _pyrate_rates(capacity, rate)
    keyed = _PyrateKeyed(lambda name: pyrate.StateBucket(rates, algorithm=pyrate.TokenBucket()))
    return SimpleNamespace(acquire=lambda cost=1.0, now=None: keyed._try("bucket", weight=int(cost), blocking=False))


def _pyrate_keyed(kind: str, capacity: float, rate: float):
    if kind != "token":
        raise ValueError("pyrate-limiter has no leaky bucket meter")
    rates = _pyrate_rates(capacity, rate)
    return _PyrateKeyed(lambda name: pyrate.StateBucket(rates, algorithm=pyrate.TokenBucket()))


def _pyrate_redis(url: str, kind: str, capacity: float, rate: float, prefix: str):
    import redis

    if kind != "token":
        raise ValueError("pyrate-limiter has no leaky bucket meter")
    client = redis.Redis.from_url(url, socket_timeout=5)
    rates = _pyrate_rates(capacity, rate)

    def bucket(name: str):
        store = pyrate.RedisStateStore(client, f"{prefix}{name}")
        return pyrate.StateBucket(rates, algorithm=pyrate.TokenBucket(), store=store)

    return _PyrateKeyed(bucket, clock=pyrate.WallClock())


PEERS = {
    "peer:limits": _limits_peer("fixed"),
    "peer:limits-moving": _limits_peer("moving"),
    "peer:limits-sliding": _limits_peer("sliding"),
    "peer:pyrate-limiter": _Peer(TokenBucket=_pyrate_token_bucket, KeyedLimiter=_pyrate_keyed,
                                 RedisLimiter=_pyrate_redis, accepts_now=False, warmup=lambda: None,
                                 doc="pyrate-limiter TokenBucket (GCRA) on StateBucket"),
}
