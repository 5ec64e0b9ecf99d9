"""The worker pool end to end, on both real logs (the embedded Kafka-protocol broker and Redis
Streams) and a real Redis sink: every non-poison order applied exactly once and in order per
key, poison in the dead-letter topic, memory bounded by the water marks, a stop that finishes
and commits what is in flight, and a second consumer that redoes nothing."""

import threading
import uuid

import pytest

from bench.backends import kafka as kafka_backend
from bench.pool import Workload, consume, produce, verify
from impls.workerpool.flow import Watermarks
from impls.workerpool.pool import PoolConfig

IMPL = "cython"


@pytest.fixture(params=["kafka", "redis"])
def log_setup(request, redis_target):
    """(backend, log url, sink url, a fresh topic, a fresh group)."""
    suffix = uuid.uuid4().hex[:8]
    if request.param == "kafka":
        url = request.getfixturevalue("kafka_bootstrap")
        topic = f"{kafka_backend.LAB_TOPIC_PREFIX}pool.{suffix}"
    else:
        url = redis_target.url
        topic = f"lab:pool:{suffix}"
    yield request.param, url, redis_target.url, topic, f"g{suffix}"
    from impls.workerpool import log

    try:
        log.delete_topic(request.param, url, topic)
    except Exception:  # noqa: BLE001 - best effort: every name is fresh and under the lab's prefix
        pass


def _drain(setup, config: PoolConfig, stop: threading.Event | None = None, name: str | None = None):
    backend, url, redis_url, topic, group = setup
    return consume(backend, url, redis_url, topic, group, IMPL, config, consumer_name=name, stop=stop, progress=None)


def test_every_order_is_applied_once_in_order_and_poison_is_dead_lettered(log_setup):
    backend, url, redis_url, topic, group = log_setup
    workload = Workload(count=20_000, keys=200, poison_rate=0.01)
    produce(backend, url, topic, workload, partitions=4, progress=None)
    stats = _drain(log_setup, PoolConfig(workers=2, idle_exit_s=1.5, max_deliveries=3, backoff_s=0.005))
    report = verify(backend, url, redis_url, topic, group, workload)
    assert report["ok"], report
    assert stats.applied == report["expected"] and stats.dead_lettered == report["poison"] > 0
    assert stats.retried == 2 * report["poison"]  # max_deliveries 3: two retries, then the DLQ


def test_memory_stays_bounded_by_the_water_marks(log_setup):
    backend, url, redis_url, topic, group = log_setup
    workload = Workload(count=20_000, keys=50)
    produce(backend, url, topic, workload, partitions=2, progress=None)
    marks = Watermarks(max_messages=1_000, max_bytes=1 << 30)
    # A slow kernel (about 20 us a message) so that the fetcher runs far ahead of the workers.
    config = PoolConfig(workers=1, batch=100, fetch_batch=200, marks=marks, rounds=5_000, idle_exit_s=1.5)
    stats = _drain(log_setup, config)
    assert verify(backend, url, redis_url, topic, group, workload)["ok"]
    assert stats.pauses >= 1
    assert stats.peak_messages <= marks.max_messages + config.fetch_batch


def test_a_stopped_consumer_commits_what_it_did_and_the_next_one_finishes_without_repeats(log_setup):
    backend, url, redis_url, topic, group = log_setup
    workload = Workload(count=30_000, keys=100, poison_rate=0.002)
    produce(backend, url, topic, workload, partitions=4, progress=None)
    stop = threading.Event()
    slow = PoolConfig(workers=2, rounds=2_000, idle_exit_s=30, drain_timeout_s=3.0, max_deliveries=2)
    first = threading.Thread(target=lambda: results.append(_drain(log_setup, slow, stop, name="first")))
    results: list = []
    first.start()
    try:
        deadline = threading.Event()
        while not deadline.wait(0.05):  # stop it halfway through
            if results or _sink_applied(redis_url, topic, group) >= 5_000:
                break
    finally:
        stop.set()
        first.join(30)
    assert not first.is_alive() and results, "the pool did not stop within its drain timeout"
    assert 0 < results[0].applied < workload.count
    second = _drain(log_setup, PoolConfig(workers=2, idle_exit_s=1.5, max_deliveries=2), name="second")
    report = verify(backend, url, redis_url, topic, group, workload)
    assert report["ok"], report
    assert results[0].applied + second.applied == report["expected"]  # nothing applied twice


def _sink_applied(redis_url: str, topic: str, group: str) -> int:
    from bench.pool import sink_name
    from impls.ratelimit.redis import connect
    from impls.workerpool.sink import RedisSink

    client = connect(redis_url, timeout=5.0)
    try:
        return RedisSink(client, sink_name(topic, group)).stats().get("applied", 0)
    finally:
        client.close()


def test_what_waits_to_be_committed_stays_bounded_too(log_setup):
    # Poison with a long backoff holds its partition's committable prefix back while every other
    # key completes: what the commit tracker holds must count against the water marks as well.
    backend, url, redis_url, topic, group = log_setup
    workload = Workload(count=20_000, keys=50, poison_rate=0.002)
    produce(backend, url, topic, workload, partitions=2, progress=None)
    marks = Watermarks(max_messages=1_000, max_bytes=1 << 30)
    config = PoolConfig(workers=2, batch=100, fetch_batch=200, marks=marks, idle_exit_s=1.5, max_deliveries=3,
                        backoff_s=0.2)
    most = [0]

    def watch(stats, in_flight):
        most[0] = max(most[0], in_flight)

    consume(backend, url, redis_url, topic, group, IMPL, config, stop=threading.Event(), progress=None, watch=watch)
    assert verify(backend, url, redis_url, topic, group, workload)["ok"]
    assert 0 < most[0] <= marks.max_messages + config.fetch_batch
