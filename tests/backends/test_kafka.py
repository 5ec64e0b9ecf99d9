"""The embedded Kafka-protocol log (bench.backends.kafka): a private Tansu broker that real
confluent-kafka clients produce to and consume from in a group, that always stops -- its block,
a failure, a killed parent, `python -m bench kafka` ended by a signal -- and that touches only
the lab's topics. KAFKA_BOOTSTRAP makes it start nothing."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, Producer  # noqa: E402

from bench.backends import kafka  # noqa: E402
from tests.backends.processes import alive, gone_within  # noqa: E402


def _broker_of(port: str) -> int:
    """The pid of the broker listening on `port` (found by its command line)."""
    listener = f"tcp://127.0.0.1:{port}".encode()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and listener in proc.joinpath("cmdline").read_bytes() and alive(int(proc.name)):
                return int(proc.name)
        except OSError:  # a process that ended while we looked
            continue
    raise AssertionError(f"no broker listens on {port}")


def _kill(pid: int | None) -> None:
    if pid is not None and alive(pid):  # only ever a broker this test caused to be started
        os.kill(pid, signal.SIGKILL)


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


def test_start_answers_and_stop_leaves_nothing():
    with kafka.KafkaBroker() as broker:
        pid, directory = broker.pid, broker._dir
        assert broker.bootstrap.startswith("127.0.0.1:") and broker.port != kafka.DEFAULT_KAFKA_PORT
        assert kafka._answers_metadata(broker.bootstrap)
    assert gone_within(pid, 10) and not Path(directory).exists()
    broker.stop()  # idempotent


def test_a_failing_block_still_stops_the_broker():
    with pytest.raises(RuntimeError, match="boom"):
        with kafka.KafkaBroker() as broker:
            pid = broker.pid
            raise RuntimeError("boom")
    assert gone_within(pid, 10)


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


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_python_m_bench_kafka_serves_until_stopped_and_takes_its_broker_along(how):
    """SIGTERM/SIGINT: the handlers stop it; SIGKILL: the kernel sends it SIGTERM (PDEATHSIG)."""
    child = subprocess.Popen([sys.executable, "-m", "bench", "kafka"], stdout=subprocess.PIPE, text=True)
    broker_pid = None
    try:
        bootstrap = child.stdout.readline().strip()
        assert kafka._answers_metadata(bootstrap)
        broker_pid = _broker_of(bootstrap.rsplit(":", 1)[1])
        child.send_signal(how)
        child.wait(timeout=30)
        assert gone_within(broker_pid, 10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        _kill(broker_pid)
