"""`python -m bench pool produce|consume|verify`: the worker pool by hand and in fault tests.

The workload is deterministic, so `verify` knows what a correct drain leaves behind without
asking the producer: order i (ids 0..N-1) belongs to key `user:<i % K>`, carries its per-key
sequence number in `meta.flags`, buys or sells a quantity that follows from i, and is poison
(tagged "poison": the kernel rejects it) when a hash of i falls under the poison rate.

`verify` prints one JSON line -- expected, applied, missing, duplicate_effects, redelivered,
order_violations, dead_lettered -- and exits 0 only if every non-poison message was applied
exactly once, in order per key, and every poison message is in the dead-letter topic.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass

from bench.measurement import HIGHER, LOWER, Figure, Measurement

SYMBOLS = ("AAPL", "MSFT", "ASML.AS", "7203.T", "NESN.SW", "TSLA", "0700.HK", "BRK.B")


def _unit(i: int) -> float:
    """A number in [0, 1) spread well over consecutive i (Knuth's multiplicative hash): which
    orders are poison, the same on every run and machine."""
    return (i * 2654435761 % 2**32) / 2**32


#: A paced producer's settings per backend: a message waits at most 1 ms for others to share its
#: batch; on Kafka, per-partition order comes from one request in flight rather than from
#: idempotence, whose requests the embedded broker answers with long tails (see the latency case).
PACED_TUNING = {
    "kafka": {"linger_s": 0.001, "config": {"enable.idempotence": False, "acks": "all",
                                            "max.in.flight.requests.per.connection": 1}},
    "redis": {"linger_s": 0.001},
}


@dataclass(frozen=True)
class Workload:
    count: int
    keys: int
    poison_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.count < 0 or self.keys < 1 or not 0.0 <= self.poison_rate <= 1.0:
            raise ValueError(f"count >= 0, keys >= 1 and 0 <= poison rate <= 1, got {self}")

    def key(self, i: int) -> str:
        return f"user:{i % self.keys}"

    def is_poison(self, i: int) -> bool:
        return _unit(i) < self.poison_rate

    def order(self, i: int) -> dict:
        user = i % self.keys
        side = "SELL" if (i // self.keys) % 3 == 2 else "BUY"
        return {"id": i, "user_id": user, "symbol": SYMBOLS[i % len(SYMBOLS)], "side": side,
                "price": round(10.0 + (i % 1000) / 8, 2), "qty": 1 + (i * 7919) % 100, "ts_ns": 1_700_000_000_000_000_000 + i,
                "tags": ["poison"] if self.is_poison(i) else [], "meta": {"venue": "XNAS", "flags": i // self.keys}}

    def expected(self) -> tuple[Counter, Counter, int]:
        """(applied messages per key, final position per user, poison count) of a correct drain."""
        per_key, positions, poison = Counter(), Counter(), 0
        for i in range(self.count):
            if self.is_poison(i):
                poison += 1
                continue
            order = self.order(i)
            per_key[self.key(i)] += 1
            positions[order["user_id"]] += order["qty"] if order["side"] == "BUY" else -order["qty"]
        return per_key, positions, poison


# --- produce ---------------------------------------------------------------------------------------

def produce(backend: str, url: str, topic: str, workload: Workload, partitions: int, rate: float | None = None,
            progress=sys.stderr, create: bool = True) -> float:
    """Create the topic (unless `create` is false: it exists) and produce the workload; returns
    msg/s. Paced at `rate` msg/s, it is live traffic: each order's ts_ns is the wall-clock time it
    is produced (what a produce-to-effect latency is measured from), and the producer is tuned
    for latency (PACED_TUNING)."""
    from impls.serial import encode_order
    from impls.workerpool import log

    if create:
        log.create_topic(backend, url, topic, partitions)
    producer = log.open_producer(backend, url, topic, partitions, **(PACED_TUNING[backend] if rate else {}))
    start = time.perf_counter()
    try:
        for i in range(workload.count):
            order = workload.order(i)
            if rate:
                ahead = start + i / rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
                order["ts_ns"] = time.time_ns()
            producer.produce(workload.key(i).encode(), encode_order(order))
            if progress is not None and i and i % 100_000 == 0:
                progress.write(f"produced {i:,} ({i / (time.perf_counter() - start):,.0f} msg/s)\n")
        producer.flush()
    finally:
        producer.close()
    elapsed = time.perf_counter() - start
    return workload.count / elapsed if elapsed > 0 else float("inf")


# --- consume ---------------------------------------------------------------------------------------

def sink_name(topic: str, group: str) -> str:
    return f"{topic}:{group}"


def consume(backend: str, url: str, redis_url: str, topic: str, group: str, impl: str, config,
            consumer_name: str | None = None, stop: threading.Event | None = None, progress=sys.stderr,
            watch=None, applied=None, sink_wrapper=None):
    """One consumer process of the pool: drains until idle_exit or SIGTERM; returns PoolStats.
    `watch(stats, in_flight)`, if given, is called on every fetcher loop; `applied(messages)`
    after each batch the sink applied (impls.workerpool.pool.WorkerPool); `sink_wrapper(sink)`
    may put a measuring device around the sink (a slowed one: bench.pool_figures)."""
    from impls import registry
    from impls.ratelimit.redis import connect
    from impls.workerpool import log
    from impls.workerpool.pool import WorkerPool
    from impls.workerpool.sink import RedisSink

    stop = stop or threading.Event()
    kernel = registry.load("workerpool", impl)
    kernel.warmup()
    client = connect(redis_url, timeout=2.0)
    name = consumer_name or f"c-{os.getpid()}"
    consumer = log.open_log(backend, url, topic, group, name)
    if progress is not None:  # the line a person (or a recovery measurement) waits for
        progress.write(f"{name}: consuming {topic} in group {group} ({backend}, kernel {impl})\n")
        progress.flush()
    last = [time.monotonic(), 0, False]  # when the last line was written, what was applied then, any yet

    def report(stats, in_flight):
        if watch is not None:
            watch(stats, in_flight)
        now = time.monotonic()
        # A line a second, and the first one as soon as something was fetched: a person (or the
        # recovery measurement, which kills a consumer once it holds enough) sees it at once.
        if progress is not None and (now - last[0] >= 1.0 or (stats.fetched and not last[2])):
            last[2] = True
            rate = (stats.applied - last[1]) / max(now - last[0], 1e-9)
            last[:2] = now, stats.applied
            try:
                lag = f"{consumer.lag():,}"  # on the fetcher thread: a broker or server round trip a second
            except log.LogError:
                lag = "?"
            progress.write(f"fetched {stats.fetched:,} applied {stats.applied:,} ({rate:,.0f} msg/s) "
                           f"dead {stats.dead_lettered:,} in flight {in_flight:,} lag {lag} "
                           f"partitions {stats.partitions_owned}\n")

    sink = RedisSink(client, sink_name(topic, group))
    pool = WorkerPool(consumer, sink if sink_wrapper is None else sink_wrapper(sink), kernel, config,
                      progress=report, applied=applied)
    try:
        return pool.run(stop)
    finally:
        client.close()


def stop_on_sigterm(stop: threading.Event) -> None:
    """SIGTERM (and Ctrl-C) set `stop`: the pool finishes and commits what is in flight."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, frame: stop.set())


# --- verify ----------------------------------------------------------------------------------------

def dead_letters(backend: str, url: str, topic: str) -> list[dict]:
    """Everything in the topic's dead-letter topic (Kafka: `<topic>.dlq`; Redis: `<topic>:dlq`)."""
    if backend == "redis":
        from impls.ratelimit.redis import connect

        client = connect(url, timeout=5.0)
        try:
            return [{k.decode(): v for k, v in fields.items()} for _, fields in client.xrange(f"{topic}:dlq")]
        finally:
            client.close()
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": url, "group.id": f"lab.verify.{os.getpid()}", "enable.auto.commit": False,
                         "log_level": 4})
    try:
        dlq = f"{topic}.dlq"
        metadata = consumer.list_topics(dlq, timeout=10).topics.get(dlq)
        if metadata is None or metadata.error is not None:
            return []
        parts = [TopicPartition(dlq, p, 0) for p in metadata.partitions]
        ends = {p.partition: consumer.get_watermark_offsets(p, timeout=10)[1] for p in parts}
        consumer.assign(parts)
        found, deadline = [], time.monotonic() + 30
        while sum(1 for _ in found) < sum(ends.values()) and time.monotonic() < deadline:
            for m in consumer.consume(1000, 0.5):
                if m.error() is None:
                    found.append({"key": m.key() or b"", "value": m.value(), **{k: v for k, v in (m.headers() or [])}})
        return found
    finally:
        consumer.close()


def verify(backend: str, url: str, redis_url: str, topic: str, group: str, workload: Workload) -> dict:
    """What the sink and the dead-letter topic say against what a correct drain leaves."""
    from impls.ratelimit.redis import connect
    from impls.workerpool.sink import RedisSink

    per_key, positions, poison = workload.expected()
    client = connect(redis_url, timeout=5.0)
    try:
        sink = RedisSink(client, sink_name(topic, group))
        counts, stats, got_positions = sink.counts(), sink.stats(), sink.positions()
    finally:
        client.close()
    dead = dead_letters(backend, url, topic)
    poison_ids = {i for i in range(workload.count) if workload.is_poison(i)}
    from impls.serial import decode_order

    dead_ids = {decode_order(d["value"])["id"] for d in dead}
    missing = sum(max(0, n - counts.get(k, 0)) for k, n in per_key.items())
    duplicates = sum(max(0, n - per_key.get(k, 0)) for k, n in counts.items())
    report = {"expected": sum(per_key.values()), "applied": sum(counts.values()), "missing": missing,
              "duplicate_effects": duplicates, "redelivered": stats.get("redelivered", 0),
              "order_violations": stats.get("order_violations", 0), "dead_lettered": len(dead_ids & poison_ids),
              "poison": poison, "positions_match": all(got_positions.get(u, 0) == p for u, p in positions.items())}
    # Exactly once: every effect applied once (positions too), every poison message dead-lettered;
    # ok: that, and each key's messages applied in log order.
    report["exactly_once"] = (missing == 0 and duplicates == 0 and dead_ids == poison_ids
                              and report["positions_match"])
    report["ok"] = report["exactly_once"] and report["order_violations"] == 0
    return report


def print_verdict(report: dict) -> int:
    print(json.dumps(report), flush=True)
    return 0 if report["ok"] else 1


# --- the drain as a measurement (bench/cases/workerpool.py) -----------------------------------------

def shared_log_url(backend: str) -> str:
    """The run's (or this process's) own log server: the embedded broker or Redis."""
    from bench.backends import kafka, redis

    return kafka.shared_bootstrap() if backend == "kafka" else redis.shared_url()


def _fresh_topic(backend: str, label: str) -> str:
    import uuid

    suffix = f"{label}.{uuid.uuid4().hex[:8]}"
    return f"lab.bench.{suffix}" if backend == "kafka" else f"lab:bench:{suffix}"


class PoolMeasurement(Measurement):
    """What every worker-pool measurement shares: fresh topics and groups on the run's shared
    servers (a group's history is its own), all deleted at teardown with their sink keys."""

    backend: str

    def setup(self) -> None:
        self._made: list[tuple[str, str]] = []  # (topic, group) to delete
        self.callback(self._cleanup)

    def fresh(self, label: str) -> tuple[str, str]:
        """A new (topic, group), deleted at teardown."""
        topic = _fresh_topic(self.backend, label)
        group = topic.rsplit(".", 1)[-1].rsplit(":", 1)[-1]
        self._made.append((topic, group))
        return topic, group

    @staticmethod
    def urls(backend: str) -> tuple[str, str]:
        """(the log's URL, the sink's Redis URL): the run's shared servers."""
        from bench.backends import redis

        return shared_log_url(backend), redis.shared_url()

    def _cleanup(self) -> None:
        from bench.backends import redis
        from impls.ratelimit.redis import connect
        from impls.workerpool import log

        client = connect(redis.shared_url(), timeout=5.0)
        try:
            for topic, group in self._made:
                try:
                    log.delete_topic(self.backend, shared_log_url(self.backend), topic)
                except Exception:  # noqa: BLE001 - best effort: every name is fresh and the lab's
                    pass
                keys = list(client.scan_iter(match=f"lab:wp:{sink_name(topic, group)}:*"))
                if keys:
                    client.delete(*keys)
        finally:
            client.close()


class Drain(PoolMeasurement):
    """Produce a workload to a fresh topic (untimed), then drain it with the pool in this
    process: throughput from the first message fetched to the last effect applied (so a Kafka
    group's join is its own figure), the process's CPU time per message, and the peak held.

    `output()` drains a small workload through the same path and returns verify's report, which
    the case's invariant requires to be ok; every measured drain must verify too. A baseline
    (`peer`, from bench.peers.workerpool) drains with its own `drain` instead of the pool and is
    held to what it promises: one that applies no effects to having consumed everything, one that
    does not keep keys in order to exactly-once alone (its violations are a figure).
    """

    def __init__(self, backend: str, impl: str, workers: int, work_us: float, workload: Workload,
                 partitions: int, repeats: int, peer=None):
        self.backend, self.impl, self.workers, self.work_us = backend, impl, workers, work_us
        self.workload, self.partitions, self.repeats = workload, partitions, repeats
        self.peer = peer

    def _config(self):
        from impls.workerpool.kernel_contract import rounds_for
        from impls.workerpool.pool import PoolConfig

        return PoolConfig(workers=self.workers, rounds=rounds_for(self.work_us), idle_exit_s=None,
                          drain_timeout_s=2.0)

    def _drain_once(self, workload: Workload, label: str) -> dict:
        url, redis_url = self.urls(self.backend)
        topic, group = self.fresh(label)
        produce(self.backend, url, topic, workload, self.partitions, progress=None)
        per_key, _, poison = workload.expected()
        expected = sum(per_key.values()) + poison
        stop, marks = threading.Event(), {}

        def watch(stats, in_flight):  # on the fetcher thread, once per loop
            now = time.perf_counter()
            if stats.fetched and "first" not in marks:
                marks["first"] = now
            if stats.applied + stats.dead_lettered >= expected and "done" not in marks:
                marks["done"] = now
                stop.set()

        started, cpu0 = time.perf_counter(), time.process_time()
        if self.peer is None:
            stats = consume(self.backend, url, redis_url, topic, group, self.impl, self._config(), stop=stop,
                            progress=None, watch=watch)
        else:
            stats = self.peer.drain(self.backend, url, redis_url, topic, group, self.workers,
                                    self._config().rounds, stop, watch)
        cpu = time.process_time() - cpu0
        if self.peer is not None and not self.peer.applies_effects:
            report = {"ok": stats.fetched >= expected, "consumed": stats.fetched, "expected": expected}
        else:
            report = verify(self.backend, url, redis_url, topic, group, workload)
            if self.peer is not None and not self.peer.keeps_key_order:
                report["ok"] = report["exactly_once"]
        return {"report": report, "stats": stats, "seconds": marks["done"] - marks["first"],
                "join_s": marks["first"] - started, "cpu_s": cpu, "messages": expected}

    def output(self) -> dict:
        return self._drain_once(Workload(2_000, 50, poison_rate=0.01), "check")["report"]

    def measure(self, budget) -> list:
        import statistics

        runs = [self._drain_once(self.workload, "drain") for _ in range(self.repeats)]
        bad = [r["report"] for r in runs if not r["report"]["ok"]]
        if bad:
            raise RuntimeError(f"a measured drain did not verify: {bad[0]}")
        rates = [r["messages"] / r["seconds"] for r in runs]
        q1, q3 = (min(rates), max(rates)) if len(rates) < 3 else statistics.quantiles(rates, n=4)[::2]
        cpu = statistics.median(r["cpu_s"] / r["messages"] * 1e6 for r in runs)
        return [Figure("throughput", "msg/s", statistics.median(rates), HIGHER, q1=q1, q3=q3, n=len(rates)),
                Figure("cpu_per_msg", "cpu_us/msg", cpu, LOWER),
                Figure("join_time", "s", statistics.median(r["join_s"] for r in runs), LOWER),
                Figure("peak_held", "messages", max(r["stats"].peak_messages for r in runs), LOWER),
                Figure("order_violations", "messages", max(r["report"].get("order_violations", 0) for r in runs),
                       LOWER)]

