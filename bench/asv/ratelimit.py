"""asv suites for rate limiters (inputs from bench.cases.ratelimit, implementations from the registry)."""

from contextlib import ExitStack

from bench import lineup
from bench.cases.ratelimit import LIVE_KEYS, LOADS, MANY, MEMORY_LIMIT, key_names, pairs
from .common import impl_or_skip, impl_param, load_or_skip, require, sized

FAMILY = "ratelimit"
IMPLS = impl_param(FAMILY)
BATCH = sized(100_000, 10_000)  # (key, time) pairs per acquire_many: per-key figures, short enough for asv's repeats


class BucketAcquire:
    params = (
        IMPLS,        # tier or peer
        list(LOADS),  # admit-mostly (capacity 1e9, 1e9/s) or deny-mostly (10, 1/s)
    )
    param_names = ["impl", "load"]

    def setup(self, impl, load):
        module = load_or_skip(FAMILY, impl)
        require(module, "TokenBucket")
        self.bucket = module.TokenBucket(*LOADS[load])

    def time_acquire(self, impl, load):
        """TokenBucket.acquire() on the default clock."""
        self.bucket.acquire()


class LeakyAcquire:
    params = (IMPLS, list(LOADS))
    param_names = ["impl", "load"]

    def setup(self, impl, load):
        module = load_or_skip(FAMILY, impl)
        require(module, "LeakyBucket")
        self.bucket = module.LeakyBucket(*LOADS[load])

    def time_acquire(self, impl, load):
        self.bucket.acquire()


class KeyedAcquire:
    params = (
        IMPLS,
        ["str", "int"],  # key type: the Cython and Numba tiers keep int keys in a table of their own
    )
    param_names = ["impl", "key_type"]

    def setup(self, impl, key_type):
        module = load_or_skip(FAMILY, impl)
        require(module, "KeyedLimiter")
        keys = key_names(LIVE_KEYS) if key_type == "str" else list(range(LIVE_KEYS))
        self.limiter = module.KeyedLimiter("token", 10.0, 1.0)
        for key in keys:
            self.limiter.acquire(key)
        self.key = keys[LIVE_KEYS // 2]

    def time_acquire(self, impl, key_type):
        """acquire(key) with 10k live keys."""
        self.limiter.acquire(self.key)


class AcquireMany:
    params = (IMPLS, ["int", "str"])
    param_names = ["impl", "key_type"]
    timeout = 180

    def setup(self, impl, key_type):
        self.module = impl_or_skip(FAMILY, impl, roles=(lineup.TIER,)).module  # peers take no timestamps
        require(self.module, "KeyedLimiter")
        self.keys, self.times = pairs(BATCH, LIVE_KEYS, key_type)

    def time_acquire_many(self, impl, key_type):
        """100k (key, time) pairs over 10k keys on a fresh limiter."""
        self.module.KeyedLimiter("token", MANY["capacity"], MANY["rate"]).acquire_many(self.keys, self.times)


class LimitSize:
    params = (
        IMPLS,
        [10, 1_000, 100_000],  # the limit (capacity, and rate per second): limits' MovingWindow grows with it
    )
    param_names = ["impl", "limit"]

    def setup(self, impl, limit):
        module = load_or_skip(FAMILY, impl)
        require(module, "TokenBucket")
        self.bucket = module.TokenBucket(float(limit), float(limit))

    def time_acquire(self, impl, limit):
        self.bucket.acquire()


class KeyedMemory:
    params = (IMPLS,)
    param_names = ["impl"]
    timeout = 180

    def setup(self, impl):
        self.module = load_or_skip(FAMILY, impl)
        require(self.module, "KeyedLimiter")
        self.keys = key_names(BATCH)

    def peakmem_live_keys(self, impl):
        """A limiter with 100k live str keys."""
        limiter = self.module.KeyedLimiter("token", *MEMORY_LIMIT)
        for key in self.keys:
            limiter.acquire(key)


class _OnRedis:
    """A suite on the lab's Redis: the backend `redis` (and, where `peers`, the peers' Redis
    storages); the connection and key prefix are closed in teardown, the server (started once
    per asv process) at its exit."""

    peers = True
    _exit = None  # set by _open: a cell skipped in setup (NotImplementedError) still gets its teardown

    def _open(self, impl, label: str):
        from bench.cases import ratelimit as cases

        found = impl_or_skip(FAMILY, impl, roles=(lineup.BACKEND, lineup.PEER) if self.peers else (lineup.BACKEND,))
        if not cases._redis_applies(found):
            raise NotImplementedError(f"{impl} has no Redis storage")
        self._exit = ExitStack()
        client, prefix = self._exit.enter_context(cases.redis_session(label))
        return found, cases, client, prefix

    def teardown(self, *params):
        if self._exit is not None:
            self._exit.close()


class RedisAcquire(_OnRedis):
    params = (IMPLS,)
    param_names = ["impl"]

    def setup(self, impl):
        found, cases, client, prefix = self._open(impl, "asv")
        self.limiter = cases._redis_limiter(found, client, prefix, *LOADS["admit"])

    def time_acquire(self, impl):
        """Sequential acquire on one key: one round trip."""
        self.limiter.acquire("asv")


class RedisPing(_OnRedis):
    params = (IMPLS,)
    param_names = ["impl"]
    peers = False  # PING is measured once, in the backend's column

    def setup(self, impl):
        _, _, self.client, _ = self._open(impl, "ping")

    def time_ping(self, impl):
        """PING on the lab's Redis, the floor under RedisAcquire.time_acquire."""
        self.client.ping()
