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

import functools
import random

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
    return Drain(p["backend"], impl.name, p["workers"], p["work_us"], workload, DRAIN_PARTITIONS, p["repeats"])


def _pure_only_without_work(impl, params) -> bool:
    """pure at 20 us of compiled work spends ~2 ms a message: a 100k drain would take minutes."""
    return not (impl.name == "pure" and params["work_us"] > 0)


def _drain_verified(report, params) -> str | None:
    return None if report.get("ok") else f"the check drain did not verify: {report}"


CASES = [
    Case(FAMILY, "kernel", "time", _grid, _kernel, unit="ns/msg", applies=lambda impl: impl.has("process_batch"),
         doc="process_batch over a batch of orders (~1% poison), per message, at work_us of compiled work each"),
    Case(FAMILY, "drain", "figures", _drain_grid, _drain, applies=lambda impl: impl.is_tier,
         applies_at=_pure_only_without_work, reference=None, invariant=_drain_verified,
         doc="produce, then drain with the pool into Redis, exactly once: msg/s, CPU us/msg, join time"),
]


def profile_workload(impl, quick: bool = False) -> None:
    """What `bench profile` runs under pyinstrument: batches without work (the decoding) and
    with a little (the rounds); fewer for pure, whose rounds cost 100x more."""
    batch = payloads(QUICK_BATCH if quick else BATCH)
    passes = 3 if impl.is_tier and impl.name == "pure" else 30
    for _ in range(passes // (3 if quick else 1) or 1):
        impl.module.process_batch(batch, 0)
        impl.module.process_batch(batch, rounds_for(2))


# --- the targets (checked on results.json by bench.targets) ------------------------

TARGETS = [
    Target("kernel", "compiled kernel at work_us=20 >= 50x pure (the GIL-bound tier's ceiling)", impl="best-compiled",
           params={"work_us": 20}, faster_than="pure", min_speedup=50),
    # Issue 8's figures for one consumer process with the trivial kernel, exactly-once effects in Redis.
    Target("drain", "Kafka, trivial kernel, exactly-once effects: >= 150k msg/s", metric="throughput",
           impl="best-compiled", params={"backend": "kafka", "work_us": 0}, at_least=150_000),
    Target("drain", "Redis Streams, trivial kernel, exactly-once effects: >= 150k msg/s", metric="throughput",
           impl="best-compiled", params={"backend": "redis", "work_us": 0}, at_least=150_000),
]
