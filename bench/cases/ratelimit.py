"""Rate-limiter cases: one bucket, 10k keys, a batch of 1M (key, time) pairs, the batch call's
cost against batch size, cost against limit size, Redis (latency beside PING, batches, server
time per decision), memory for 1M keys.

Inputs are made here and shared by the harness, asv, pytest-benchmark, the profiler and the
memory driver, so every tool measures the same thing.

How the tiers are checked before they are timed: the timed calls read the clock, as callers
do, so each case's `output()` replays a fixed sequence of calls with explicit timestamps on a
fresh limiter, and the harness compares those decisions with pure's exactly. Peers run on
their own clocks and count in windows, so their output is checked for plausibility instead.

Redis cases run on the lab's Redis (bench.backends.redis.shared_url: a private server started
once per run and stopped when the run ends, or REDIS_URL's) and apply to the family's backend
`redis` (impls.ratelimit.redis.RedisLimiter, a column of its own) and to the peers' Redis
storages. Each measurement opens its own connection and key prefix and closes them at teardown.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
import uuid
from collections.abc import Iterator

import numpy as np

from bench import lineup
from bench.backends import redis as redis_backend
from bench.cases.base import Case, batches, spec_up_to, sweep_grid
from bench.measurement import HIGHER, Figure, Figures, MemoryProbe, Timed, percentiles
from bench.targets import Target

FAMILY = "ratelimit"
#: (capacity, rate) of a bucket that nearly always admits, and of one that nearly always
#: refuses once its first 10 tokens are spent (both whole numbers per whole seconds, so the
#: window-based peers can express them).
LOADS = {"admit": (1e9, 1e9), "deny": (10.0, 1.0)}
#: Calls per pass in the per-call timings, and in the replays that check them.
CALLS = 1000
REPLAY = 2000
LIVE_KEYS = 10_000
#: acquire_many: keys drawn from 10k, timestamps spread over 10 s, each key's bucket holding
#: 20 and refilling 5/s: about 2/3 admitted, buckets rarely full (few sweeps).
MANY = {"capacity": 20.0, "rate": 5.0, "span_s": 10.0}


def _has(name):
    return lambda impl: impl.has(name)


def _tier_with(name):
    """Tiers only: they take the caller's timestamps (peers run on their own clocks)."""
    return lambda impl: impl.is_tier and impl.has(name)


def key_names(n: int) -> list[str]:
    return [f"user:{i}" for i in range(n)]


def pairs(n: int, distinct: int, key_type: str, span_s: float = MANY["span_s"]):
    """n (key, time) pairs: keys drawn uniformly from `distinct`, times sorted over span_s
    (a fixed seed: the same every run). str keys are shared objects, as from a key cache."""
    rng = np.random.default_rng(20150617)
    ints = rng.integers(0, distinct, size=n, dtype=np.int64)
    times = np.sort(rng.uniform(0.0, span_s, size=n))
    if key_type == "str":
        names = key_names(distinct)
        return [names[i] for i in ints.tolist()], times
    return ints, times


def _decisions_are_plausible(output, params) -> str | None:
    """For peers: bools, and about what the load should give (they count in windows)."""
    if not all(isinstance(d, bool) for d in output):
        return "decisions are not bools"
    admitted = sum(output)
    if params.get("load") == "admit" and admitted < 0.99 * len(output):
        return f"admit-mostly load admitted only {admitted} of {len(output)}"
    if params.get("load") == "deny" and admitted > 2 * LOADS["deny"][0] + 2:
        return f"deny-mostly load admitted {admitted}, more than two windows' worth"
    return None


# --- one bucket ------------------------------------------------------------------------

def _bucket_case(kind: str):
    def prepare(impl, p):
        capacity, rate = (p["limit"], p["limit"]) if "limit" in p else LOADS[p["load"]]
        make = impl.module.LeakyBucket if kind == "leaky" else impl.module.TokenBucket
        bucket = make(capacity, rate)
        if impl.is_tier:
            step = 1e-7 if p.get("load", "admit") == "admit" else 1e-3

            def output():
                replay = make(capacity, rate, now=0.0)
                return [replay.acquire(1.0, i * step) for i in range(REPLAY)]
        else:
            def output():
                replay = make(capacity, rate)
                return [replay.acquire(1.0) for _ in range(REPLAY)]
        return Timed(fn=bucket.acquire, args=[1.0] * CALLS, output=output)

    return prepare


# --- keyed ---------------------------------------------------------------------------

def _keyed(impl, p):
    keys = key_names(p["keys"]) if p["key_type"] == "str" else list(range(p["keys"]))
    make = impl.module.KeyedLimiter
    limiter = make(p["kind"], 10.0, 1.0)
    for key in keys:  # every key live before timing (a bucket is made on first acquire)
        limiter.acquire(key)
    if impl.is_tier:
        def output():  # 12 passes at 10 us a call: the last ones are partly refused
            replay = make(p["kind"], 10.0, 1.0)
            return [replay.acquire(k, 1.0, i * 1e-5) for i, k in enumerate(keys * 12)]
    else:
        def output():
            replay = make(p["kind"], 10.0, 1.0)
            return [replay.acquire(k) for k in keys * 3]
    return Timed(fn=limiter.acquire, args=keys, output=output)


def _bools(output, params) -> str | None:
    return None if all(isinstance(d, bool) for d in output) else "decisions are not bools"


def _all_admitted(output, params) -> str | None:
    """Admit-mostly loads, where a window-counting peer admits everything too."""
    bad = _bools(output, params)
    return bad or (None if all(output) else f"{len(output) - sum(output)} of {len(output)} refused")


def _keyed_plausible(output, params) -> str | None:
    """Three passes over the keys at capacity 10: a peer admits every call."""
    return _all_admitted(output, params)


# --- acquire_many ----------------------------------------------------------------------

def _acquire_many(impl, p):
    keys, times = pairs(p["pairs"], p["keys"], p["key_type"])
    make = lambda: impl.module.KeyedLimiter(p["kind"], MANY["capacity"], MANY["rate"])  # noqa: E731
    # Each call decides the whole batch on a fresh limiter, so that every sample does the
    # same work from the same state. Making it (and freeing the last one) is timed too: a few
    # microseconds against milliseconds.
    return Timed(fn=lambda batch: make().acquire_many(batch, times), args=[keys], items_per_call=len(keys),
                 output=lambda: make().acquire_many(keys, times).tolist())


def _cycled(live, n: int):
    """n keys: `live` (a list or an int64 array) over and over."""
    if n <= len(live):
        return live
    return np.resize(live, n) if isinstance(live, np.ndarray) else (live * -(-n // len(live)))[:n]


def _acquire_many_sweep(impl, p):
    """keyed_acquire's limiter and live keys, decided `batch` keys a call on the clock (read
    once a call, as a caller deciding a batch would): the batch call's cost per decision
    against batch size, the single acquire beside it at 1. The batches go through the live
    keys in turn; past their number, each batch holds every key several times."""
    size = p["batch"]
    live = key_names(p["keys"]) if p["key_type"] == "str" else np.arange(p["keys"], dtype=np.int64)
    calls = batches(_cycled(live, size), size)
    make = lambda: impl.module.KeyedLimiter(p["kind"], 10.0, 1.0)  # noqa: E731 - keyed_acquire's
    limiter = make()
    limiter.acquire_many(live)  # every key live before timing, as in keyed_acquire

    def output():
        """12 passes over the first thousand keys' batches (at least one batch) on a fresh
        limiter, at 10 us a decision: the last passes are partly refused."""
        replay, decided, out = make(), 0, []
        for _ in range(12):
            for batch in calls[:max(1, 1000 // size)]:
                out += replay.acquire_many(batch, decided * 1e-5).tolist()
                decided += len(batch)
        return out

    return Timed(fn=limiter.acquire_many, args=calls, items_per_call=size, output=output)


# --- Redis: the backend "redis" (impls.ratelimit.redis) and the peers' Redis storages ------------

def _redis_params(values: dict) -> dict:
    return {**values, "redis": "external" if redis_backend.external_url() else "embedded"}


def _is_redis_backend(impl) -> bool:
    return impl.is_backend and impl.has("RedisLimiter")


def _redis_applies(impl) -> bool:
    """The Redis backend, and the peers that offer a Redis storage."""
    return _is_redis_backend(impl) or (impl.is_peer and impl.has("RedisLimiter"))


@contextlib.contextmanager
def redis_session(label: str) -> Iterator[tuple]:
    """(client, prefix) on the lab's Redis (a private server for the run, or REDIS_URL's): a
    fresh key prefix under the lab's, whose keys are deleted at teardown on REDIS_URL's server
    (a private server takes its keys with it), and the client closed."""
    from impls.ratelimit.redis import connect

    client = connect(redis_backend.shared_url(), timeout=5.0)
    prefix = f"{redis_backend.LAB_PREFIX}bench:{label}:{uuid.uuid4().hex[:8]}:"
    try:
        yield client, prefix
    finally:
        try:
            if redis_backend.external_url():
                redis_backend.delete_prefix(client, prefix)
        finally:
            client.close()


def _redis_limiter(impl, client, prefix: str, capacity: float, rate: float, **options):
    """The backend's RedisLimiter on `client`, or a peer's limiter over its own Redis storage."""
    if impl.is_backend:
        return impl.module.RedisLimiter(client, "token", capacity, rate, prefix=prefix, **options)
    return impl.module.RedisLimiter(redis_backend.shared_url(), "token", capacity, rate, prefix)


#: The mixed sequence every Redis decision is checked on: 400 calls over 20 keys at explicit
#: timestamps, with a bucket of 3 refilled at 2/s (so about a third are refused).
def _replay_calls() -> tuple[list[str], list[float]]:
    rng = np.random.default_rng(6379)
    keys = [f"k{i}" for i in rng.integers(0, 20, size=400).tolist()]
    return keys, np.cumsum(rng.exponential(0.05, size=400)).tolist()


def _replay(limiter) -> list[bool]:
    return [bool(limiter.acquire(k, 1.0, t)) for k, t in zip(*_replay_calls())]


def _redis_acquire_reference(params) -> list[bool]:
    """In-process pure's decisions on the replay: the Redis backend must make the same."""
    return _replay(lineup.spec(FAMILY).module.KeyedLimiter("token", 3.0, 2.0))


def _is_true(output, params) -> str | None:
    return None if output is True else f"PING answered {output!r}"


@contextlib.contextmanager
def _redis_ping(impl, p):
    with redis_session("ping") as (client, _):
        yield Timed(fn=client.ping, args=[()] * 100, spread=True, output=client.ping)


@contextlib.contextmanager
def _redis_acquire(impl, p):
    with redis_session("acquire") as (client, prefix):
        limiter = _redis_limiter(impl, client, prefix, *LOADS["admit"])
        if impl.is_backend:
            checker = impl.module.RedisLimiter(client, "token", 3.0, 2.0, prefix=prefix + "check:", idle_ttl=3600)
            output = lambda: _replay(checker)  # noqa: E731
        else:
            output = lambda: [limiter.acquire("replay") for _ in range(50)]  # noqa: E731
        yield Timed(fn=limiter.acquire, args=["sequential"] * 100, output=output)


def _admitted_reference(params) -> list[bool]:
    """Pure's decisions for the first 1000 keys of an admit-mostly batch: all admitted."""
    limiter = lineup.spec(FAMILY).module.KeyedLimiter("token", *LOADS["admit"])
    return limiter.acquire_many(key_names(params["keys"])[:1000], 1.0).tolist()


@contextlib.contextmanager
def _redis_acquire_many(impl, p):
    with redis_session("many") as (client, prefix):
        limiter = _redis_limiter(impl, client, prefix, *LOADS["admit"], batch_size=p["batch"])
        keys = key_names(p["keys"])
        yield Timed(fn=limiter.acquire_many, args=[keys], items_per_call=len(keys),
                    output=lambda: limiter.acquire_many(keys[:1000], 1.0).tolist())


def _evalsha_stats(client) -> tuple[int, int]:
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def _server_time_figures(client, limiter, p) -> list[Figure]:
    """Interleaved PING and acquire (same connection, same moments) and the server's own
    time per decision from INFO commandstats (deltas: nothing is reset)."""
    limiter.acquire("warm")
    ping_us, acquire_us = [], []
    calls0, usec0 = _evalsha_stats(client)
    for _ in range(p["calls"]):
        t0 = time.perf_counter_ns()
        client.ping()
        t1 = time.perf_counter_ns()
        limiter.acquire("sequential")
        t2 = time.perf_counter_ns()
        ping_us.append((t1 - t0) / 1e3)
        acquire_us.append((t2 - t1) / 1e3)
    calls1, usec1 = _evalsha_stats(client)
    keys = key_names(p["keys"])
    start = time.perf_counter()
    limiter.acquire_many(keys)
    many_s = time.perf_counter() - start
    _, usec2 = _evalsha_stats(client)
    ping, acquire = statistics.median(ping_us), statistics.median(acquire_us)
    return [Figure("ping_p50", "us", ping, percentiles=percentiles(ping_us)),
            Figure("acquire_p50", "us", acquire, percentiles=percentiles(acquire_us)),
            Figure("acquire_minus_ping_p50", "us", acquire - ping),
            Figure("server_time_per_acquire", "us", (usec1 - usec0) / max(1, calls1 - calls0)),
            Figure("server_time_per_decision_batched", "us", (usec2 - usec1) / len(keys)),
            Figure("acquire_many_throughput", "decisions/s", len(keys) / many_s, HIGHER)]


def _server_figures_are_sane(output, params) -> str | None:
    """Timings are never equal twice: what every run must give is finite, positive figures
    (the difference of two medians may be negative by noise)."""
    bad = [f.metric for f in output if not math.isfinite(f.value) or (f.value <= 0 and f.metric != "acquire_minus_ping_p50")]
    return f"implausible figures: {bad}" if bad else None


@contextlib.contextmanager
def _redis_server_time(impl, p):
    with redis_session("server") as (client, prefix):
        limiter = _redis_limiter(impl, client, prefix, *LOADS["admit"], batch_size=p["batch"])
        yield Figures(lambda: _server_time_figures(client, limiter, p))


# --- memory --------------------------------------------------------------------------

#: Memory: 10 per 10,000 s, so that no bucket (or window) can expire while memray, which
#: slows a peer's million hits to minutes, is still building: every key stays live.
MEMORY_LIMIT = (10.0, 1e-3)


def _memory(impl, p):
    keys = key_names(p["keys"]) if p["key_type"] == "str" else np.arange(p["keys"], dtype=np.int64)
    make = impl.module.KeyedLimiter
    if impl.is_tier:
        def build():
            limiter = make("token", *MEMORY_LIMIT)
            limiter.acquire_many(keys, 0.0)
            return limiter
    else:
        def build():
            limiter = make("token", *MEMORY_LIMIT)
            for key in keys:
                limiter.acquire(key)
            return limiter
    return MemoryProbe(build=build)


# --- the list ------------------------------------------------------------------------

def _grid(full: list[dict], quick: list[dict] | None = None):
    return lambda is_quick: list(quick if (is_quick and quick is not None) else full)


_LOAD_GRID = [{"load": load} for load in LOADS]
_KEYED_GRID = [{"kind": "token", "keys": LIVE_KEYS, "key_type": t} for t in ("str", "int")]
_KEYED_QUICK = [{"kind": "token", "keys": 2_000, "key_type": t} for t in ("str", "int")]
_MANY = [{"kind": "token", "pairs": 1_000_000, "keys": LIVE_KEYS, "key_type": t} for t in ("int", "str")]
_MANY_QUICK = [{"kind": "token", "pairs": 50_000, "keys": LIVE_KEYS, "key_type": t} for t in ("int", "str")]

CASES = [
    Case(FAMILY, "acquire", "time", _grid(_LOAD_GRID), _bucket_case("token"), unit="ns/op",
         applies=_has("TokenBucket"), peer_check=_decisions_are_plausible,
         doc="TokenBucket.acquire(1.0) on the default clock; admit-mostly and deny-mostly"),
    Case(FAMILY, "leaky_acquire", "time", _grid(_LOAD_GRID), _bucket_case("leaky"), unit="ns/op",
         applies=_has("LeakyBucket"), doc="LeakyBucket.acquire(1.0) on the default clock (no peer has one)"),
    Case(FAMILY, "keyed_acquire", "time", _grid(_KEYED_GRID, _KEYED_QUICK), _keyed, unit="ns/op",
         applies=_has("KeyedLimiter"), peer_check=_keyed_plausible,
         doc="KeyedLimiter.acquire(key) cycling over 10k live keys (str and int)"),
    Case(FAMILY, "acquire_many", "time", _grid(_MANY, _MANY_QUICK), _acquire_many, unit="ns/key",
         applies=_tier_with("KeyedLimiter"),
         doc="acquire_many over (key, time) pairs, 10k keys, on a fresh limiter each sample"),
    Case(FAMILY, "acquire_many_sweep", "time",
         sweep_grid("batch", _KEYED_GRID, _KEYED_QUICK),
         _acquire_many_sweep, unit="ns/key", applies=_tier_with("KeyedLimiter"), applies_at=spec_up_to("batch"),
         doc="acquire_many on keyed_acquire's live keys and clock: cost per decision against batch size"),
    Case(FAMILY, "limit_size", "time",
         _grid([{"limit": n} for n in (10, 1_000, 100_000)]), _bucket_case("token"), unit="ns/op",
         applies=_has("TokenBucket"), peer_check=_bools,
         doc="one bucket of `limit` per second, acquire on the clock: cost against limit size"),
    Case(FAMILY, "redis_ping", "time", _grid([_redis_params({})]), _redis_ping, unit="ns/op",
         applies=_is_redis_backend, reference=None, invariant=_is_true,
         doc="PING on the lab's Redis, the floor under every Redis figure"),
    Case(FAMILY, "redis_acquire", "time", _grid([_redis_params({})]), _redis_acquire, unit="ns/op",
         applies=_redis_applies, reference=_redis_acquire_reference, peer_check=_all_admitted,
         doc="sequential acquire on one key in Redis (one round trip each)"),
    Case(FAMILY, "redis_acquire_many", "time",
         _grid([_redis_params({"keys": 100_000, "batch": 500})], [_redis_params({"keys": 5_000, "batch": 500})]),
         _redis_acquire_many, unit="ns/key", applies=_is_redis_backend, reference=_admitted_reference,
         doc="acquire_many of distinct keys: 500 per script call, calls pipelined"),
    Case(FAMILY, "redis_server_time", "figures",
         _grid([_redis_params({"calls": 2000, "keys": 100_000, "batch": 500})],
               [_redis_params({"calls": 200, "keys": 5_000, "batch": 500})]),
         _redis_server_time, applies=_is_redis_backend, reference=None, invariant=_server_figures_are_sane,
         doc="PING and acquire interleaved (p50, us); server time per decision (commandstats); "
             "acquire_many decisions/s"),
    Case(FAMILY, "memory", "memory",
         _grid([{"keys": 1_000_000, "key_type": "str"}], [{"keys": 5_000, "key_type": "str"}]),
         _memory, applies=_has("KeyedLimiter"),
         doc="peak and retained bytes of a limiter with 1M live str keys (memray)"),
    # Int keys are the compiled tiers' own table; a peer would only str() them, so they run
    # the str row alone (memray makes a million peer hits take minutes).
    Case(FAMILY, "memory_int", "memory",
         _grid([{"keys": 1_000_000, "key_type": "int"}], [{"keys": 5_000, "key_type": "int"}]),
         _memory, applies=_tier_with("KeyedLimiter"),
         doc="peak and retained bytes of a limiter with 1M live int keys (memray)"),
]

#: Issue 3's targets, checked on results.json by `python -m bench run` (bench.targets).
TARGETS = [
    Target("acquire", "Cython TokenBucket.acquire <= 60 ns", impl="cython", at_most=60),
    Target("acquire", "Cython TokenBucket.acquire >= 50x limits' in-memory hit", impl="cython",
           faster_than="peer:limits", min_speedup=50),
    Target("keyed_acquire", "Cython KeyedLimiter.acquire with 10k live keys <= 120 ns", impl="cython",
           params={"keys": LIVE_KEYS}, at_most=120),
    # Int keys: what a batch of 1M (key, time) pairs is in numpy. (str keys cost a dict
    # lookup of a Python object each, and are shown beside it.)
    Target("acquire_many", "Numba or Cython acquire_many <= 20 ns per decision", impl="best-compiled",
           params={"pairs": 1_000_000, "key_type": "int"}, at_most=20),
    Target("redis_server_time", "Redis sequential acquire <= PING + 10 us (medians, interleaved)", impl="redis",
           metric="acquire_minus_ping_p50", at_most=10),
    Target("redis_acquire_many", "one process >= 150k decisions/s with acquire_many (<= 6.67 us each)",
           impl="redis", params={"keys": 100_000}, at_most=1e9 / 150_000),
    Target("redis_server_time", "<= 2.5 us of server time per decision (acquire_many)", impl="redis",
           metric="server_time_per_decision_batched", at_most=2.5),
]


def profile_workload(impl, quick: bool = False) -> None:
    """What `bench profile` runs under pyinstrument: one bucket, then 10k keys, then a batch."""
    scale = 10 if quick else 1
    module = impl.module
    if impl.has("TokenBucket"):
        bucket = module.TokenBucket(*LOADS["deny"])
        for _ in range(200_000 // scale):
            bucket.acquire()
    if impl.has("KeyedLimiter"):
        limiter = module.KeyedLimiter("token", 10.0, 1.0)
        names = key_names(LIVE_KEYS)
        for _ in range(10 // scale or 1):
            for key in names:
                limiter.acquire(key)
        if impl.is_tier:
            for key_type in ("int", "str"):
                keys, times = pairs(1_000_000 // scale, LIVE_KEYS, key_type)
                module.KeyedLimiter("token", MANY["capacity"], MANY["rate"]).acquire_many(keys, times)
