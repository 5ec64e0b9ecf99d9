"""The embedded Kafka-protocol log (bench.backends.kafka): a private Tansu broker that real
confluent-kafka clients produce to and consume from in a group, and that touches only the lab's
topics. KAFKA_BOOTSTRAP makes it start nothing. (What every launcher must do: test_launchers.py.)"""

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from bench.backends import kafka


@pytest.fixture(scope="module")
def target():
    with kafka.kafka_target() as found:
        yield found


def _topic(target, partitions: int) -> str:
    name = f"{kafka.LAB_TOPIC_PREFIX}test.{uuid.uuid4().hex[:8]}"
    kafka.create_topic(target.bootstrap, name, partitions)
    return name


def test_a_consumer_group_reads_what_was_produced_in_order_per_partition(target):
    topic = _topic(target, partitions=3)
    try:
        producer = Producer({"bootstrap.servers": target.bootstrap, "linger.ms": 5})
        for i in range(3000):
            producer.produce(topic, key=f"k{i % 30}".encode(), value=str(i).encode())
        assert producer.flush(30) == 0
        consumer = Consumer({"bootstrap.servers": target.bootstrap, "group.id": f"lab.test.{uuid.uuid4().hex[:8]}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False,
                             "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
        try:
            consumer.subscribe([topic])
            seen: dict[str, list[int]] = {}
            deadline = time.monotonic() + 60
            while sum(map(len, seen.values())) < 3000 and time.monotonic() < deadline:
                for message in consumer.consume(500, 1.0):
                    assert message.error() is None, message.error()
                    seen.setdefault(message.key().decode(), []).append(int(message.value()))
            consumer.commit(asynchronous=False)
        finally:
            consumer.close()
        assert sum(map(len, seen.values())) == 3000
        for key, values in seen.items():  # one key, one partition: produced order kept
            assert values == sorted(values) and len(values) == 100, key
    finally:
        kafka.delete_topics(target.bootstrap, [topic])


def test_kafka_bootstrap_means_no_broker_is_started(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setattr(kafka, "KafkaBroker", None)  # any attempt to start one would fail
    with kafka.kafka_target() as found:
        assert found == kafka.KafkaTarget(bootstrap="127.0.0.1:1", external=True)
    assert kafka.shared_bootstrap() == "127.0.0.1:1"


def test_only_lab_topics_are_ever_created_or_deleted():
    for name in ("", "lab.", "orders", "__consumer_offsets"):
        with pytest.raises(ValueError, match="outside the lab's prefix"):
            kafka.create_topic("127.0.0.1:1", name, 1)
        with pytest.raises(ValueError, match="outside the lab's prefix"):
            kafka.delete_topics("127.0.0.1:1", ["lab.ok", name])
