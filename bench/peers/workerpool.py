"""Worker-pool baselines: the ways of draining a log that the pool is measured against.

Each drains the same topic into the same sink as the pool (bench.pool.Drain calls its `drain`
with the pool's arguments) and reports a PoolStats, so that the drain case sets them side by
side with the tiers:

* ``peer:bare-consume`` -- confluent-kafka's consume loop and nothing else: no kernel, no sink,
  one commit at the end. The ceiling of any Kafka consumer in Python on this machine. Kafka only.
* ``peer:threadpool-per-message`` -- what one writes first: a ThreadPoolExecutor, one `submit`
  per message (the kernel on that message, then its effect applied alone), the fetched batch
  awaited before it is committed. Exactly once through the same sink, but nothing keeps a
  key's messages in order: its order violations are a figure, not a failure.
* ``peer:processpool-batches`` -- a ProcessPoolExecutor fed each fetched batch in one chunk per
  worker (the GIL out of the way by processes instead of by a compiled kernel), the effects
  applied in one sink call per batch in log order, then committed.

The two executors read, commit and dead-letter through the lab's Log (impls.workerpool.log), so
they differ from the pool only in how the work is spread; a poison message is dead-lettered on
its first delivery (they have no retry). Their kernel is the preferred compiled tier.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import time
from types import SimpleNamespace

from impls.workerpool.kernel_contract import OK

FETCH_BATCH = 2000
_REASON = "rejected by the kernel"


def _kernel():
    from impls import registry

    return registry.load("workerpool", registry.preferred("workerpool"))


def _stats():
    from impls.workerpool.pool import PoolStats

    return PoolStats()


def _bare_consume(backend, url, redis_url, topic, group, workers, rounds, stop, watch, seen=None):
    """`seen(values)`, if given, is called with the values of every batch consumed (a latency
    probe: bench.pool_figures.Latency)."""
    from confluent_kafka import Consumer

    from impls.workerpool.log_kafka import CONSUMER_DEFAULTS

    stats = _stats()
    consumer = Consumer({**CONSUMER_DEFAULTS, "bootstrap.servers": url, "group.id": group,
                         "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        while not stop.is_set():
            # what is ready, else wait for one (as the lab's KafkaLog.fetch, for the same latency)
            got = consumer.consume(FETCH_BATCH, 0) or consumer.consume(1, 0.05)
            got = [m for m in got if m.error() is None]
            if seen is not None and got:
                seen([m.value() for m in got])
            stats.fetched += len(got)
            stats.applied += len(got)  # "applied": consumed -- there is no effect to apply
            stats.partitions_owned = len(consumer.assignment())
            watch(stats, 0)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return stats


class _Drainer:
    """The loop both executors share: fetch a batch, hand it to `work`, commit what it finished."""

    def __init__(self, backend, url, redis_url, topic, group):
        from impls.ratelimit.redis import connect
        from impls.workerpool import log
        from bench.pool import sink_name
        from impls.workerpool.sink import RedisSink

        self.client = connect(redis_url, timeout=5.0)
        self.sink = RedisSink(self.client, sink_name(topic, group))
        self.epochs: dict[int, int] = {}
        self.log = log.open_log(backend, url, topic, group, f"peer-{os.getpid()}")
        self.log.on_change(self._changed)
        self.stats = _stats()

    def _changed(self, assigned, revoked):
        for p in revoked:
            self.epochs.pop(p, None)
        for p in assigned:
            self.epochs[p] = self.sink.claim(p)

    def run(self, work, stop, watch):
        try:
            while not stop.is_set():
                batch = self.log.fetch(FETCH_BATCH, 0.05)
                if batch:
                    self.stats.fetched += len(batch)
                    work(batch)
                    last = {}
                    for m in batch:
                        last[m.partition] = m.offset
                    self.log.commit(last)
                watch(self.stats, 0)
        finally:
            self.log.close()
            self.client.close()
        return self.stats

    def effect(self, m, user, delta):
        from impls.workerpool.sink import Effect

        return Effect(m.partition, m.sort_key, user, delta, m.key)

    def dead_letter(self, m):
        from impls.workerpool.sink import Effect

        self.log.dead_letter(m, _REASON)
        self.count(self.sink.apply([Effect(m.partition, m.sort_key, 0, 0, m.key, dead=True)], self.epochs))

    def count(self, result):
        self.stats.applied += result.applied
        self.stats.redelivered += result.redelivered
        self.stats.dead_lettered += result.dead_lettered


def _threadpool_per_message(backend, url, redis_url, topic, group, workers, rounds, stop, watch):
    import threading

    kernel = _kernel()
    drainer = _Drainer(backend, url, redis_url, topic, group)
    lock = threading.Lock()  # the stats and the DLQ producer are shared by the threads

    def one(m):
        effects = kernel.process_batch([m.value], rounds)
        if int(effects.status[0]) != OK:
            with lock:
                drainer.dead_letter(m)
            return
        result = drainer.sink.apply([drainer.effect(m, int(effects.user_id[0]), int(effects.delta[0]))],
                                    drainer.epochs)
        with lock:
            drainer.count(result)

    with concurrent.futures.ThreadPoolExecutor(workers) as executor:
        def work(batch):
            for future in [executor.submit(one, m) for m in batch]:
                future.result()

        return drainer.run(work, stop, watch)


def _chunk_effects(args):
    """In a worker process: the kernel over one chunk; plain lists back (cheap to pickle)."""
    payloads, rounds = args
    effects = _kernel().process_batch(payloads, rounds)
    return effects.status.tolist(), effects.user_id.tolist(), effects.delta.tolist()


def _processpool_batches(backend, url, redis_url, topic, group, workers, rounds, stop, watch):
    # spawn, not fork: the parent holds librdkafka's and redis-py's threads and sockets.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as executor:
        list(executor.map(_chunk_effects, [([], rounds)] * workers))  # start and import before the clock
        drainer = _Drainer(backend, url, redis_url, topic, group)

        def work(batch):
            size = -(-len(batch) // workers)
            chunks = [batch[i:i + size] for i in range(0, len(batch), size)]
            good, poison = [], []
            for chunk, (status, users, deltas) in zip(
                    chunks, executor.map(_chunk_effects, [([m.value for m in c], rounds) for c in chunks])):
                for m, s, u, d in zip(chunk, status, users, deltas):
                    if s == OK:
                        good.append(drainer.effect(m, u, d))
                    else:
                        poison.append(m)
            if good:
                drainer.count(drainer.sink.apply(good, drainer.epochs))
            for m in poison:
                drainer.dead_letter(m)

        return drainer.run(work, stop, watch)


def _warm():
    _kernel()


PEERS = {
    "peer:bare-consume": SimpleNamespace(drain=_bare_consume, warmup=lambda: None, backends=("kafka",),
                                         applies_effects=False, keeps_key_order=True, reports_seen=True),
    "peer:threadpool-per-message": SimpleNamespace(drain=_threadpool_per_message, warmup=_warm,
                                                   backends=("kafka", "redis"), applies_effects=True,
                                                   keeps_key_order=False),
    "peer:processpool-batches": SimpleNamespace(drain=_processpool_batches, warmup=_warm,
                                                backends=("kafka", "redis"), applies_effects=True,
                                                keeps_key_order=True),
}
