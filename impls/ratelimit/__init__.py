"""Rate limiters: token and leaky buckets, and a limiter keeping one bucket per key.

The public names come from the tier `impls.registry.preferred("ratelimit")` picks: LAB_IMPL
if set, else the first that loads of cython, numba, pure. `TIER` says which one it is.
The exact contract and float semantics are in `impls.ratelimit.pure`, the specification.
The Redis tier (`impls.ratelimit.redis.RedisLimiter`, one bucket per key in a Redis server,
shared by every process) is imported from there: it needs the `redis` package.
"""

from impls import registry as _registry

TIER: str = _registry.preferred("ratelimit")
_impl = _registry.load("ratelimit", TIER)

TokenBucket = _impl.TokenBucket
LeakyBucket = _impl.LeakyBucket
KeyedLimiter = _impl.KeyedLimiter

__all__ = ["TIER", "TokenBucket", "LeakyBucket", "KeyedLimiter"]
