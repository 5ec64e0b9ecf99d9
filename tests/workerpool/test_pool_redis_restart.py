"""A fault on both logs: Redis -- the sink, and for the Streams backend the log too -- crashes
under a draining consumer (SIGKILL) and comes back a few seconds later on the same port, from
its append-only file. While it is away the consumer stays alive and commits nothing (Kafka:
the group's committed offsets stand still); once it is back the consumer reconnects and
finishes by itself, and `verify` judges: nothing lost, no effect twice, per-key order kept,
poison in the dead-letter topic. Two narrower tests pin down what a crash may hit at any
moment, which the end-to-end test only meets by chance: a Streams read whose reply was lost,
and a dead letter the log could not store.

The tests' Redis is their own (`RedisServer(appendonly=True)`: appendfsync always, so every
write the pool was told is done survives the crash -- see bench/backends/redis.py for why
exactly once needs that), never the session's shared one, which must not be killed."""

import json
import time
import uuid

import pytest
import redis

from bench.backends import kafka as kafka_backend
from bench.backends.redis import RedisServer
from bench.pool import Workload, consume, produce
from impls.workerpool import log_kafka, log_redis
from impls.workerpool.log import LogError, create_topic, open_log, open_producer
from impls.workerpool.pool import PoolConfig
from tests.workerpool.log_harness import Fetched, assert_in_log_order, produce_keyed
from tests.workerpool.pool_harness import applied_count, verified, wait_applied

#: How long Redis stays away: several commit intervals and fetches, and most of a Redis lease.
DOWN_S = 2.5


@pytest.fixture
def aof_redis():
    with RedisServer(appendonly=True) as server:
        yield server


@pytest.fixture(params=["kafka", "redis"])
def setup(request, aof_redis):
    suffix = uuid.uuid4().hex[:8]
    if request.param == "kafka":  # the log is the embedded broker; Redis is only the sink
        url, topic = request.getfixturevalue("kafka_bootstrap"), f"{kafka_backend.LAB_TOPIC_PREFIX}restart.{suffix}"
    else:  # the Streams log and the sink on the one server that crashes
        url, topic = aof_redis.url, f"lab:restart:{suffix}"
    yield {"backend": request.param, "url": url, "redis_url": aof_redis.url, "topic": topic, "group": f"g{suffix}"}


class KafkaCommitted:
    """The group's committed offsets, read from the broker (an OffsetFetch: the reader joins
    nothing, so the group and its consumer are left alone)."""

    def __init__(self, setup: dict, partitions: int):
        from confluent_kafka import Consumer, TopicPartition

        self._consumer = Consumer({"bootstrap.servers": setup["url"], "group.id": setup["group"],
                                   "enable.auto.commit": False, "log_level": 4})
        self._partitions = [TopicPartition(setup["topic"], p) for p in range(partitions)]

    def __call__(self) -> dict[int, int]:
        return {tp.partition: tp.offset for tp in self._consumer.committed(self._partitions, timeout=10)}

    def close(self) -> None:
        self._consumer.close()


def test_redis_restarted_from_its_aof_under_the_pool(setup, consumers, aof_redis):
    workload = Workload(count=60_000, keys=500, poison_rate=0.002)
    produce(setup["backend"], setup["url"], setup["topic"], workload, partitions=4, progress=None)
    committed = KafkaCommitted(setup, 4) if setup["backend"] == "kafka" else None
    try:
        proc = consumers.start("c", "--idle-exit", "5", "--work-us", "20")
        wait_applied(setup, 5_000, timeout=60)  # draining, far from done
        aof_redis.kill()
        try:
            time.sleep(0.5)  # what was applied before the crash may still be committed meanwhile
            frozen = committed() if committed else None
            deadline = time.monotonic() + DOWN_S - 0.5
            while time.monotonic() < deadline:
                assert proc.poll() is None, f"the consumer exited while Redis was away:\n{consumers.stderr_tail('c')}"
                if committed:  # nothing new is applied, so nothing new may be committed
                    assert committed() == frozen
                time.sleep(0.2)
        finally:
            aof_redis.restart()  # same port, same directory: the AOF is loaded before it answers
        assert applied_count(setup) >= 5_000  # what was applied before the crash is still there
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{out}\n{consumers.stderr_tail('c')}"
    finally:
        if committed:
            committed.close()
    report = verified(setup, workload)
    assert report["applied"] == report["expected"] and report["dead_lettered"] == report["poison"] > 0
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["sink_errors"] > 0  # the consumer did meet Redis away (and waited it out)


def test_a_streams_read_whose_reply_was_lost_is_delivered_by_a_later_fetch(aof_redis, opened, monkeypatch):
    """The server ran an XREADGROUP and crashed (or the connection broke) before its reply
    arrived: the entries are this consumer's pending ones now, which `>` never returns again.
    The fetch that failed returns nothing; a later one delivers them, in order, once each."""
    topic = f"lab:restart:{uuid.uuid4().hex[:8]}"
    create_topic("redis", aof_redis.url, topic, 2)
    sent = produce_keyed(opened.keep(open_producer("redis", aof_redis.url, topic, 2)), 400, keys=20)
    log = opened.keep(open_log("redis", aof_redis.url, topic, "g", "c"))
    read, lost = log._client.xreadgroup, []

    def reply_lost(group, consumer, streams, **options):
        reply = read(group, consumer, streams, **options)
        if not lost and reply and set(streams.values()) == {">"}:
            lost.extend(entry_id.decode() for _, entries in reply for entry_id, _ in entries)
            raise redis.exceptions.ConnectionError("Connection closed by server (injected: the reply is lost)")
        return reply

    monkeypatch.setattr(log._client, "xreadgroup", reply_lost)
    fetched = Fetched([log]).until(lambda f: len(f[log]) >= len(sent), 10, "everything fetched", batch=50)
    assert lost and len(fetched[log]) == len(sent)
    assert_in_log_order(fetched[log], 2)  # no repeat, no gap: every key's values in produced order
    assert sorted((m.key, m.value) for m in fetched[log]) == sorted(sent)
    assert {m.offset for m in fetched[log] if m.deliveries == 2} == set(lost)


def test_a_dead_letter_the_log_could_not_store_is_tried_again(setup, monkeypatch):
    """The log refuses the first dead letters (as Redis Streams does while the server is away):
    the pool waits and tries again -- it neither crashes nor commits a poison message unstored."""
    log_class = {"kafka": log_kafka.KafkaLog, "redis": log_redis.RedisLog}[setup["backend"]]
    store, refused = log_class.dead_letter_all, []

    def away_at_first(self, letters):
        if len(refused) < 3:
            refused.append(letters)
            raise LogError("the log is away (injected)")
        store(self, letters)

    monkeypatch.setattr(log_class, "dead_letter_all", away_at_first)
    workload = Workload(count=5_000, keys=50, poison_rate=0.01)
    produce(setup["backend"], setup["url"], setup["topic"], workload, partitions=2, progress=None)
    config = PoolConfig(workers=2, idle_exit_s=1.5, max_deliveries=2, backoff_s=0.005)
    stats = consume(setup["backend"], setup["url"], setup["redis_url"], setup["topic"], setup["group"], "cython",
                    config, progress=None)
    report = verified(setup, workload)
    assert len(refused) == 3 and stats.dead_lettered == report["poison"] > 0
