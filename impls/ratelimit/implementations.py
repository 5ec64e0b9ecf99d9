"""The rate-limiter family's implementations, as `impls.registry` reads them (nothing is imported here)."""

#: Tier name -> module inside impls.ratelimit, in the order they are reported; `pure` is the
#: specification every other tier is checked against.
TIERS = {"pure": "pure", "cython": "_cy", "numba": "nb"}

#: The tier the public API (`impls.ratelimit`) uses when LAB_IMPL is unset: the first that
#: loads. Cython first (fastest from Python for single calls), then Numba, then pure.
PREFERENCE = ("cython", "numba", "pure")

#: Backend name -> module: a keyed limiter whose buckets live in a server shared by every
#: process (`RedisLimiter`, a Lua script per decision). It needs the `redis` extra.
BACKENDS = {"redis": "redis"}
