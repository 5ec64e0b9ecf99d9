"""Worker-pool cases: the per-message work kernel (`process_batch`) in every tier, and the
pool draining a real log into the Redis sink.

`kernel` times process_batch over a batch of varied orders, about 1 % of them poison, at a
cost per message of `work_us` microseconds of compiled work (rounds = rounds_for(work_us)):
- work_us=0 is the decoding and bookkeeping alone, where the tiers differ by their decoders;
- work_us=20 is CPU-bound work, where the compiled tiers run the same rounds about 100x
  faster than pure -- the ceiling a pool of GIL-bound workers hits.
Figures are ns per message. Every tier's Effects must equal pure's on the same batch before it
is timed.

`drain` produces a workload to a fresh topic (untimed) and drains it with the pool, one
consumer in this process, the kernel of the column's tier: throughput (msg/s, from the first
message fetched to the last effect applied, exactly once), the process's CPU per message, the
group's join time and the peak held. Its check is an invariant, not pure's output (a drain's
interleaving is the threads'): a small drain through the same path must verify -- every
message applied once, in order per key, poison in the dead-letter topic -- and so must every
measured one.

Inputs are made here and shared by the harness, asv, the profiler and pytest-benchmark, so
every tool measures the same batch.
"""

from __future__ import annotations

import contextlib
import functools
import random
import sys
import uuid

from bench.cases.base import Case
from bench.cases.serial import orders
from bench.measurement import Timed
from bench.pool import Drain, Workload
from bench.targets import Target
from impls.workerpool.kernel_contract import POISON_TAG, rounds_for

FAMILY = "workerpool"
SEED = 20261201
#: A batch as a pool's worker takes it; --quick takes fewer messages, because pure at
#: work_us=20 spends about 2 ms on each (and is called about ten times per cell).
BATCH, QUICK_BATCH = 1000, 200
#: Compiled microseconds of work per message: none, and the issue's CPU-bound setting.
WORK_US = (0, 20)
POISON_RATE = 0.01


@functools.lru_cache(maxsize=4)
def _payloads(n: int) -> tuple[bytes, ...]:
    from impls.serial import encode_order

    rng = random.Random(SEED + n)
    batch = []
    for order in orders(n):  # the serial family's varied orders: the same every run
        if rng.random() < POISON_RATE:
            order = {**order, "tags": [*order["tags"], POISON_TAG]}
        batch.append(encode_order(order))
    return tuple(batch)


def payloads(n: int) -> list[bytes]:
    """n protobuf Orders, about 1 % tagged poison, the same every run."""
    return list(_payloads(n))


def _grid(quick: bool) -> list[dict]:
    return [{"work_us": work_us, "batch": QUICK_BATCH if quick else BATCH} for work_us in WORK_US]


def _kernel(impl, p):
    batch, rounds = payloads(p["batch"]), rounds_for(p["work_us"])
    process_batch = impl.module.process_batch
    return Timed(fn=process_batch, args=[(batch, rounds)], spread=True, items_per_call=len(batch),
                 output=lambda: process_batch(batch, rounds))


#: Drains: (workers, work_us) -- the trivial kernel with two workers, and the CPU-bound one
#: with one and two (the scaling a GIL-free kernel buys). --quick: Redis Streams only (a Kafka
#: group's first join waits out the broker's ~3 s rebalance delay, twice a cell), fewer messages.
DRAIN_SETTINGS = [(2, 0), (1, 20), (2, 20)]
DRAIN_COUNT, QUICK_DRAIN_COUNT = 100_000, 10_000
DRAIN_KEYS, DRAIN_PARTITIONS, DRAIN_POISON = 1000, 4, 0.001


def _drain_grid(quick: bool) -> list[dict]:
    if quick:
        cells = [("redis", 2, 0), ("redis", 2, 20)]
    else:
        cells = [(backend, w, u) for backend in ("kafka", "redis") for w, u in DRAIN_SETTINGS]
    count = QUICK_DRAIN_COUNT if quick else DRAIN_COUNT
    return [{"backend": b, "workers": w, "work_us": u, "messages": count, "repeats": 1 if quick else 2}
            for b, w, u in cells]


def _drain(impl, p):
    workload = Workload(p["messages"], DRAIN_KEYS, DRAIN_POISON)
    return Drain(p["backend"], impl.name, p["workers"], p["work_us"], workload, DRAIN_PARTITIONS, p["repeats"],
                 peer=impl.module if impl.is_peer else None)


def _drains_at(impl, params) -> bool:
    """pure at 20 us of compiled work spends ~2 ms a message: a 100k drain would take minutes.
    A baseline drains where it can (the bare consume loop: Kafka), the bare loop once: its
    ceiling does not depend on work it does not do."""
    if impl.is_peer:
        if params["backend"] not in impl.module.backends:
            return False
        return impl.module.applies_effects or (params["workers"], params["work_us"]) == DRAIN_SETTINGS[0]
    return not (impl.name == "pure" and params["work_us"] > 0)


def _drain_verified(report, params) -> str | None:
    return None if report.get("ok") else f"the check drain did not verify: {report}"


# --- the pool's other figures (bench.pool_figures) -----------------------------------------------------
#: Paced producer: the issue's 50k msg/s, and 20k where a consumer sharing two cores with the
#: producer and the broker keeps up on either log, for 6 s (quick: 10k msg/s for 2 s, Redis only).
LATENCY_RATES, LATENCY_SECONDS, QUICK_LATENCY_RATE, QUICK_LATENCY_SECONDS = (20_000, 50_000), 6.0, 10_000, 2.0
#: Slow sink: a producer at 50k msg/s, the sink ten times slower; 100k and 1M messages (quick: 10k, 100k).
SLOW_SINK_RATE, SLOW_SINK_MESSAGES, QUICK_SLOW_SINK_MESSAGES = 50_000, (100_000, 1_000_000), (10_000, 100_000)
#: Recovery: 150k messages, killed holding 100k fetched (quick: 30k holding 10k).
RECOVERY, QUICK_RECOVERY = (150_000, 100_000), (30_000, 10_000)
#: Dead letters: 1 % poison over 50k messages, beside none (quick: 10k, once).
DEAD_LETTER_RATE, DEAD_LETTER_MESSAGES, QUICK_DEAD_LETTER_MESSAGES = 0.01, 50_000, 10_000


def _backends(quick: bool) -> tuple[str, ...]:
    """Quick runs skip Kafka: a group's first join waits out the broker's ~3 s rebalance delay."""
    return ("redis",) if quick else ("kafka", "redis")


def _latency_grid(quick: bool) -> list[dict]:
    rates, seconds = ((QUICK_LATENCY_RATE,), QUICK_LATENCY_SECONDS) if quick else (LATENCY_RATES, LATENCY_SECONDS)
    return [{"backend": b, "rate": r, "seconds": seconds} for b in _backends(quick) for r in rates]


def _slow_sink_grid(quick: bool) -> list[dict]:
    sizes = QUICK_SLOW_SINK_MESSAGES if quick else SLOW_SINK_MESSAGES
    return [{"backend": b, "messages": n, "rate": SLOW_SINK_RATE, "slowdown": 10} for b in _backends(quick) for n in sizes]


def _recovery_grid(quick: bool) -> list[dict]:
    messages, holding = QUICK_RECOVERY if quick else RECOVERY
    return [{"backend": b, "messages": messages, "holding": holding} for b in _backends(quick)]


def _dead_letter_grid(quick: bool) -> list[dict]:
    count = QUICK_DEAD_LETTER_MESSAGES if quick else DEAD_LETTER_MESSAGES
    return [{"backend": b, "messages": count, "poison_rate": DEAD_LETTER_RATE, "repeats": 1 if quick else 2}
            for b in _backends(quick)]


def _preferred_tier(impl) -> bool:
    """The pool's own figures (latency, memory, recovery) hardly depend on the kernel's tier:
    they run with the preferred one, the tier a user gets by default."""
    from impls import registry

    return impl.is_tier and impl.name == registry.preferred(FAMILY)


def _compiled_tier(impl) -> bool:
    return impl.is_tier and impl.name != "pure"


def _latency(impl, p):
    from bench.pool_figures import Latency

    return Latency(p["backend"], impl.name, p["rate"], p["seconds"], peer=impl.module if impl.is_peer else None)


def _latency_applies(impl) -> bool:
    """The compiled tiers, and the bare consume loop beside them (the broker's and the client's
    floor under any consumer's latency)."""
    return _compiled_tier(impl) or (impl.is_peer and getattr(impl.module, "reports_seen", False))


def _latency_at(impl, params) -> bool:
    return not impl.is_peer or params["backend"] in impl.module.backends


def _slow_sink_memory(impl, p):
    from bench.pool_figures import SlowSinkMemory

    return SlowSinkMemory(p["backend"], impl.name, p["messages"], p["rate"], p["slowdown"])


def _recovery(impl, p):
    from bench.pool_figures import Recovery

    return Recovery(p["backend"], impl.name, p["messages"], p["holding"])


def _dead_letter_cost(impl, p):
    from bench.pool_figures import DeadLetterCost

    return DeadLetterCost(p["backend"], impl.name, p["messages"], p["poison_rate"], p["repeats"])


CASES = [
    Case(FAMILY, "kernel", "time", _grid, _kernel, unit="ns/msg", applies=lambda impl: impl.has("process_batch"),
         doc="process_batch over a batch of orders (~1% poison), per message, at work_us of compiled work each"),
    Case(FAMILY, "drain", "figures", _drain_grid, _drain, applies=lambda impl: impl.is_tier or impl.is_peer,
         applies_at=_drains_at, reference=None, invariant=_drain_verified, peer_check=_drain_verified,
         doc="produce, then drain with the pool into Redis, exactly once: msg/s, CPU us/msg, join time"),
    Case(FAMILY, "latency", "figures", _latency_grid, _latency, applies=_latency_applies, applies_at=_latency_at,
         reference=None, invariant=_drain_verified, peer_check=_drain_verified,
         doc="a producer process paced at `rate`: produce-to-effect latency (p50/p90/p99/p100), the Redis RTT floor"),
    Case(FAMILY, "recovery", "figures", _recovery_grid, _recovery, applies=_preferred_tier, reference=None,
         invariant=_drain_verified,
         doc="consumer processes: kill -9 holding `holding` fetched, restart (time to apply again), SIGTERM (exit time)"),
    Case(FAMILY, "dead_letter_cost", "figures", _dead_letter_grid, _dead_letter_cost, applies=_preferred_tier,
         reference=None, invariant=_drain_verified,
         doc="drains without and with poison: CPU us per dead-lettered message, throughput of both"),
    Case(FAMILY, "slow_sink_memory", "memory", _slow_sink_grid, _slow_sink_memory, applies=_preferred_tier,
         doc="the consumer's peak heap while a producer outruns a sink 10x slower, at 100k and 1M messages (memray)"),
]


def profile_applies(impl) -> bool:
    """Whether `bench profile` runs profile_workload on `impl`: only on what has the kernel (the
    drain's baselines, peers, have none of their own)."""
    return impl.has("process_batch")


def profile_workload(impl, quick: bool = False) -> None:
    """What `bench profile` runs under pyinstrument: batches without work (the decoding) and
    with a little (the rounds); fewer for pure, whose rounds cost 100x more."""
    batch = payloads(QUICK_BATCH if quick else BATCH)
    passes = 3 if impl.is_tier and impl.name == "pure" else 30
    for _ in range(passes // (3 if quick else 1) or 1):
        impl.module.process_batch(batch, 0)
        impl.module.process_batch(batch, rounds_for(2))


#: The drain `bench profile` samples with py-spy: Redis Streams (no group join to wait out), the
#: trivial kernel with two workers -- the pool's own cost around the kernel. 30k orders are about
#: a second of draining, as long as the child's start-up (imports, Numba's cache), which the
#: graph shows apart, on the main thread; --quick drains a sixth.
PROFILE_DRAIN_COUNT, QUICK_PROFILE_DRAIN_COUNT = 30_000, 5_000
PROFILE_DRAIN_WORKERS, PROFILE_DRAIN_WORK_US = 2, 0


def profile_drain_command(url: str, topic: str, group: str, tier: str) -> list[str]:
    """The child py-spy starts: one consumer of the pool (`python -m bench pool consume`, the
    code path a user runs), draining `topic` on Redis Streams into the sink on the same Redis
    with `tier`'s kernel, exiting half a second after the log runs dry."""
    return [sys.executable, "-m", "bench", "pool", "consume", "--backend", "redis", "--url", url, "--redis-url", url,
            "--topic", topic, "--group", group, "--impl", tier, "--workers", str(PROFILE_DRAIN_WORKERS),
            "--work-us", str(PROFILE_DRAIN_WORK_US), "--idle-exit", "0.5"]


@contextlib.contextmanager
def thread_profile_workload(impl, quick: bool = False, messages: int | None = None):
    """What `bench profile` runs under py-spy (bench.profiling.profile_threads): yields ("drain",
    the child's command -- profile_drain_command). Before: a Redis (a private server, or
    REDIS_URL's) and the orders (PROFILE_DRAIN_COUNT, or `messages`) produced to a fresh topic, so
    the profile is of the drain alone. After the child: the drain must verify (every order
    applied once, in order per key, poison dead-lettered), else RuntimeError. The topic and the
    sink's keys are deleted, the server stopped, either way."""
    from bench.backends import redis
    from bench.pool import produce, sink_name, verify
    from impls.ratelimit.redis import connect
    from impls.workerpool import log
    from impls.workerpool.sink import RedisSink

    count = messages or (QUICK_PROFILE_DRAIN_COUNT if quick else PROFILE_DRAIN_COUNT)
    workload = Workload(count, DRAIN_KEYS, DRAIN_POISON)
    topic, group = f"lab:profile:{uuid.uuid4().hex[:8]}", "profile"
    with redis.redis_target() as target:
        try:
            produce("redis", target.url, topic, workload, DRAIN_PARTITIONS, progress=None)
            yield "drain", profile_drain_command(target.url, topic, group, impl.name)
            report = verify("redis", target.url, target.url, topic, group, workload)
            if not report["ok"]:
                raise RuntimeError(f"the profiled drain of {impl.name} did not verify: {report}")
        finally:
            log.delete_topic("redis", target.url, topic)
            client = connect(target.url, timeout=5.0)
            try:
                redis.delete_prefix(client, RedisSink(client, sink_name(topic, group)).base)
            finally:
                client.close()


# --- the targets (checked on results.json by bench.targets) ------------------------

TARGETS = [
    Target("kernel", "compiled kernel at work_us=20 >= 50x pure (the GIL-bound tier's ceiling)", impl="best-compiled",
           params={"work_us": 20}, faster_than="pure", min_speedup=50),
    # Issue 8's figures for one consumer process with the trivial kernel, exactly-once effects in Redis.
    Target("drain", "Kafka, trivial kernel, exactly-once effects: >= 150k msg/s", metric="throughput",
           impl="best-compiled", params={"backend": "kafka", "work_us": 0}, at_least=150_000),
    Target("drain", "Redis Streams, trivial kernel, exactly-once effects: >= 150k msg/s", metric="throughput",
           impl="best-compiled", params={"backend": "redis", "work_us": 0}, at_least=150_000),
    Target("drain", "compiled kernel at 20 us/msg: 2 workers >= 1.8x one worker", metric="throughput",
           impl="best-compiled", params={"work_us": 20, "workers": 2}, against_params={"workers": 1}, min_speedup=1.8),
    Target("latency", "paced at 50k msg/s: p99 produce-to-effect <= 10 ms", metric="latency_p99",
           impl="best-compiled", params={"rate": 50_000}, at_most=10.0),
    Target("slow_sink_memory", "sink 10x slower than the producer: peak memory at 1M within 10% of 100k",
           metric="peak_memory", params={"messages": 1_000_000}, against_params={"messages": 100_000}, within=0.10),
    Target("recovery", "Redis Streams: applying again within 2 s of a kill -9", metric="recovery_time",
           params={"backend": "redis"}, at_most=2.0),
    Target("recovery", "SIGTERM at full speed: exit within 1 s", metric="sigterm_exit", at_most=1.0),
]
