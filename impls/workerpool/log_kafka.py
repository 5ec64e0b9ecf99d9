"""The pool's log on the Kafka protocol (confluent-kafka, i.e. librdkafka).

`KafkaLog` is a member of a consumer group of the broker: the broker assigns partitions and
rebalances; offsets are committed by the group, synchronously, only when the pool says so
(enable.auto.commit and enable.auto.offset.store off). Partition changes come from the
subscription's on_assign / on_revoke / on_lost callbacks, which librdkafka runs inside
`consume()` -- hence inside `fetch()` (and `close()`). The assignment strategy is eager
("range"): every rebalance revokes everything and assigns anew, in one round; cooperative-sticky
would keep partitions in place but needs two rounds, and on the embedded broker each round waits
for its initial rebalance delay. Measured on the lab's machine against the embedded broker: a
group's first join ~3.0 s; a second member joining ~4.0 s until both own their half; a member
leaving ~3.5 s until the other owns everything; cooperative-sticky ~11 s for a join.
session.timeout.ms 6000 and heartbeat.interval.ms 500 let the broker notice a dead member within
seconds; heartbeats come from librdkafka's own thread, and `fetch` (consume) must come within
max.poll.interval.ms -- paused or not, which is why the pool keeps fetching while paused.

`KafkaProducer` sends to the partition `log.partition_for` picks, idempotent (retries keep the
order of a partition, hence of a key), batched by linger.ms; delivery reports come only for
failures, and `flush()` raises if there were any.

Differences from Redis Streams (log_redis): offsets are ints and the group keeps one committed
offset per partition, so `commit({p: o})` stores o + 1 and a restarted member resumes there --
there is no per-message pending list, hence no delivery count (`deliveries` is always 1) and
nothing to recover from another member: the new owner reads from the committed offset. A
rebalance takes seconds (the broker's), not a lease renewal. Dead letters go to the topic
`<topic>.dlq` (1 partition, created when a log is opened), with the original key and value and
the headers reason, partition and offset.

`lag()` is, over the owned partitions, the high watermark minus the committed offset (the low
watermark where nothing was committed).

The embedded broker (Tansu, bench.backends.kafka) vs Kafka:
* storage is in memory and there is one broker (replication factor 1);
* every join or rebalance waits for the broker's initial rebalance delay (~3 s, not
  configurable there): a group's first fetches return nothing for about that long, and a
  member closed during its first join takes ~2 s to leave;
* it creates a topic on any metadata request that names it (as auto.create.topics.enable
  would), so existence is checked against the full topic list, which names nothing;
* its ListOffsets answer for the high watermark is the base offset of the last record batch
  plus one, behind by the rest of that batch; the high watermark in fetch responses is right,
  so `lag` takes the larger of the two -- exact once a partition has been fetched since its
  last write, low by up to a batch before (a partition paused from the start, say).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka import Producer as _RdProducer
from confluent_kafka.admin import AdminClient, NewTopic

from impls.workerpool.log import (CommitFailed, Log, LogError, Message, Offset, Producer, TopicNotFound,
                                  partition_for)

#: Admin calls, commits, lag queries and dead-letter flushes fail within this many seconds.
DEFAULT_TIMEOUT_S = 10.0

#: librdkafka's consumer settings; `config=` overrides them (not the commit settings).
CONSUMER_DEFAULTS = {
    "auto.offset.reset": "earliest",  # a new group reads the log from its start
    "session.timeout.ms": 6000,  # a dead member's partitions move on within ~6 s (the usual broker minimum)
    "heartbeat.interval.ms": 500,  # a rebalance is noticed within half a second
    # fetch.wait.max.ms stays librdkafka's 500 ms: the embedded broker holds every fetch that long
    # (a paced stream's p50 latency was 175 ms; 8 ms at a 10 ms wait), but at 10 ms librdkafka
    # crashed (SIGSEGV in rd_kafka_metadata_cache_find) in about 4 of 10 runs of the log tests.
    "max.poll.interval.ms": 30000,  # fetch() must come this often, paused or not
    "partition.assignment.strategy": "range",  # eager: one round per rebalance (see the module doc)
    "log_level": 4,  # warnings and errors; librdkafka's info lines on every close are noise here
}

#: librdkafka's producer settings; `config=` overrides them.
PRODUCER_DEFAULTS = {
    "enable.idempotence": True,  # retries keep per-partition (hence per-key) order, no duplicates
    "linger.ms": 5,  # batches of up to batch.num.messages form within 5 ms
    "batch.num.messages": 10000,
    "queue.buffering.max.messages": 500_000,  # room for a burst before produce() has to wait
    "log_level": 4,
}

#: The dead-letter producer's settings over PRODUCER_DEFAULTS. Its writes are awaited on the
#: fetcher thread (a dead letter is stored before its message is committed), so it sends at once
#: and without idempotence: the order of dead letters does not matter, a duplicate is harmless
#: (at least once), and the embedded broker answers an idempotent producer's requests with long
#: tails (a paced bare loop saw p90 ~0.7 s with it, ~30 ms without).
DEAD_LETTER_DEFAULTS = {"enable.idempotence": False, "acks": "all", "linger.ms": 0}

_COMMIT_SETTINGS = {"enable.auto.commit": False, "enable.auto.offset.store": False}


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


def _admin(bootstrap: str, timeout: float) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout * 1000), "log_level": 4})


def topic_partitions(bootstrap: str, topic: str, timeout: float = DEFAULT_TIMEOUT_S) -> int:
    """How many partitions `topic` has; TopicNotFound if it does not exist. Asks for the full
    topic list: a metadata request naming the topic would create it on brokers that auto-create."""
    try:
        found = _admin(bootstrap, timeout).list_topics(timeout=timeout).topics.get(topic)
    except KafkaException as exc:
        raise LogError(f"cannot read the topics of {bootstrap}: {exc}") from exc
    if found is None or found.error is not None or not found.partitions:
        raise TopicNotFound(f"no topic {topic!r} on {bootstrap}")
    return len(found.partitions)


# Admin futures: a future that failed holds its exception, whose traceback holds the frame
# that asked for the result, whose locals hold the futures -- a cycle that keeps the admin
# client and its broker connections alive until the garbage collector runs (and, on the
# embedded broker, makes it ignore SIGTERM until then). Emptying the futures breaks it.


def _create(bootstrap: str, topic: str, partitions: int, timeout: float, exist_ok: bool) -> None:
    client = _admin(bootstrap, timeout)  # kept alive until the answer: a destroyed client fails its futures
    # replication_factor -1: the cluster's default (1 on the embedded broker)
    futures = client.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=-1)],
                                   operation_timeout=timeout, request_timeout=timeout)
    try:
        futures[topic].result(timeout=timeout)
    except KafkaException as exc:
        if exist_ok and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return
        raise LogError(f"cannot create topic {topic!r}: {exc}") from exc
    finally:
        futures.clear()  # breaks the cycle described above _create


def create_topic(url: str, topic: str, partitions: int, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Create `topic` with `partitions` partitions (an existing one is an error) and its
    dead-letter topic (kept if it exists)."""
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"partitions must be an int >= 1, got {partitions!r}")
    _create(url, topic, partitions, timeout, exist_ok=False)
    _create(url, dead_letter_topic(topic), 1, timeout, exist_ok=True)


def delete_topic(url: str, topic: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Delete `topic` and its dead-letter topic (either may be missing)."""
    client = _admin(url, timeout)
    futures = client.delete_topics([topic, dead_letter_topic(topic)], operation_timeout=timeout,
                                   request_timeout=timeout)
    try:
        for name, future in futures.items():
            try:
                future.result(timeout=timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise LogError(f"cannot delete topic {name!r}: {exc}") from exc
    finally:
        futures.clear()  # breaks the cycle described above _create


class KafkaLog(Log):
    """A member of consumer group `group` reading `topic` (see the module doc).

    `config`: librdkafka consumer settings over CONSUMER_DEFAULTS; `dead_letter_config`:
    producer settings for the dead-letter producer; `timeout`: seconds for admin calls, commits,
    lag queries and dead-letter flushes.
    """

    def __init__(self, bootstrap: str, topic: str, group: str, consumer_name: str, *, config: dict | None = None,
                 dead_letter_config: dict | None = None, timeout: float = DEFAULT_TIMEOUT_S):
        self.topic, self.group, self.consumer_name = topic, group, consumer_name
        self.dead_letter_topic = dead_letter_topic(topic)
        self._bootstrap = bootstrap
        self._timeout = timeout
        self.partitions = topic_partitions(bootstrap, topic, timeout)
        _create(bootstrap, self.dead_letter_topic, 1, timeout, exist_ok=True)
        self._callbacks = []
        self._lock = threading.Lock()  # guards _owned, _paused, _dead_letters
        self._owned: set[int] = set()
        self._paused: set[int] = set()
        self._dead_letters: _RdProducer | None = None  # made on the first dead letter
        self._dead_letter_config = {**PRODUCER_DEFAULTS, **DEAD_LETTER_DEFAULTS, **(dead_letter_config or {})}
        settings = {**CONSUMER_DEFAULTS, **(config or {}), **_COMMIT_SETTINGS,
                    "bootstrap.servers": bootstrap, "group.id": group, "client.id": consumer_name}
        self._cooperative = "cooperative" in str(settings["partition.assignment.strategy"])
        self._consumer = Consumer(settings)
        self._closed = False
        # The callbacks hold this log weakly: with a cycle (log -> consumer -> callback -> log) a
        # log dropped without close() would keep its librdkafka handle, and its broker
        # connections, until the garbage collector runs.
        this = weakref.ref(self)

        def assigned(consumer, partitions):
            log = this()
            if log is not None:
                log._assigned(consumer, partitions)

        def revoked(consumer, partitions):
            log = this()
            if log is not None:
                log._revoked(consumer, partitions)

        self._consumer.subscribe([topic], on_assign=assigned, on_revoke=revoked, on_lost=revoked)

    # --- group membership (librdkafka calls these inside consume() and close()) ----------------
    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Assign here rather than leave it to the client after the callback, so that the paused
        # partitions can be paused again before anything is fetched from them.
        if self._cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        numbers = {tp.partition for tp in partitions}
        with self._lock:
            before = set(self._owned)
            self._owned = before | numbers if self._cooperative else numbers
            owned, repause = set(self._owned), numbers & self._paused
        if repause:
            consumer.pause(self._topic_partitions(repause))
        self._notify(owned - before, before - owned)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        numbers = {tp.partition for tp in partitions}
        with self._lock:
            revoked = numbers & self._owned
            self._owned -= numbers
        self._notify(set(), revoked)

    def _topic_partitions(self, numbers: Iterable[int]) -> list[TopicPartition]:
        return [TopicPartition(self.topic, p) for p in sorted(numbers)]

    # --- the Log interface ---------------------------------------------------------------------
    def fetch(self, max_messages: int, timeout: float) -> list[Message]:
        if self._closed:
            raise LogError(f"the log of {self.topic!r} is closed")
        try:
            batch = self._take(max_messages, timeout)
        except KafkaException as exc:
            raise LogError(f"fetch from {self.topic!r} failed: {exc}") from exc
        messages = []
        for m in batch:
            error = m.error()
            if error is not None:
                if error.fatal():
                    raise LogError(f"fatal consumer error on {self.topic!r}: {error}")
                continue  # informational or transient (partition EOF, a broker reconnect): librdkafka retries
            offset = m.offset()
            messages.append(Message(m.partition(), offset, f"{offset:020d}", m.key() or b"", m.value() or b"", 1))
        return messages

    def _take(self, max_messages: int, timeout: float) -> list:
        """librdkafka's consume(n, t) waits until it has n messages or t passed, and consume(0, t)
        returns at once: neither is "wait for the first, then take what is ready" (the Log's
        fetch), which keeps a paced stream's latency at the broker's, not at `timeout`."""
        if max_messages <= 0:  # paused: wait in a consume of one (it serves the group), give it back
            taken = self._consumer.consume(1, timeout)
            for m in taken:
                if m.error() is None:  # from a partition assigned since the pause: read it again later
                    self._consumer.seek(TopicPartition(self.topic, m.partition(), m.offset()))
            return []
        batch = self._consumer.consume(max_messages, 0)
        if not batch and timeout > 0:
            batch = self._consumer.consume(1, timeout)
            if batch and max_messages > 1:
                batch += self._consumer.consume(max_messages - 1, 0)
        return batch

    def commit(self, offsets: dict[int, Offset]) -> None:
        if not offsets:
            return
        # Kafka's committed offset is the next one to read.
        request = [TopicPartition(self.topic, p, int(o) + 1) for p, o in sorted(offsets.items())]
        try:
            answer = self._consumer.commit(offsets=request, asynchronous=False)
        except KafkaException as exc:
            raise CommitFailed(f"commit of {offsets} to group {self.group!r} failed: {exc}") from exc
        failed = [f"{tp.partition}: {tp.error}" for tp in answer or () if tp.error is not None]
        if failed:
            raise CommitFailed(f"commit to group {self.group!r} failed for partitions {', '.join(failed)}")

    def pause(self, partitions: Iterable[int]) -> None:
        numbers = set(partitions)
        with self._lock:
            self._paused |= numbers
            owned = numbers & self._owned
        if owned:  # the others are paused when they are assigned (see _assigned)
            self._consumer.pause(self._topic_partitions(owned))

    def resume(self, partitions: Iterable[int]) -> None:
        numbers = set(partitions)
        with self._lock:
            self._paused -= numbers
            owned = numbers & self._owned
        if owned:
            self._consumer.resume(self._topic_partitions(owned))

    def assignment(self) -> set[int]:
        with self._lock:
            return set(self._owned)

    def dead_letter(self, message: Message, reason: str) -> None:
        self.dead_letter_all([(message, reason)])

    def dead_letter_all(self, letters: list[tuple[Message, str]]) -> None:
        if not letters:
            return
        producer = self._dead_letter_producer()
        failures = []
        for message, reason in letters:
            headers = [("reason", reason.encode()), ("partition", str(message.partition).encode()),
                       ("offset", str(message.offset).encode())]
            producer.produce(self.dead_letter_topic, value=message.value, key=message.key, headers=headers,
                             on_delivery=lambda error, _: failures.append(error) if error is not None else None)
        left = producer.flush(self._timeout)
        if left or failures:
            where = ", ".join(f"partition {m.partition} offset {m.offset}" for m, _ in letters[:3])
            raise LogError(f"dead letters for {self.topic!r} ({where}{', ...' if len(letters) > 3 else ''}) "
                           f"not stored: {failures[0] if failures else f'{left} still queued after {self._timeout} s'}")

    def _dead_letter_producer(self) -> _RdProducer:
        with self._lock:
            if self._dead_letters is None:
                self._dead_letters = _RdProducer({**self._dead_letter_config, "bootstrap.servers": self._bootstrap})
            return self._dead_letters

    def lag(self) -> int:
        owned = self.assignment()
        if not owned:
            return 0
        try:
            committed = self._consumer.committed(self._topic_partitions(owned), timeout=self._timeout)
            total = 0
            for tp in committed:
                where = TopicPartition(self.topic, tp.partition)
                low, high = self._consumer.get_watermark_offsets(where, timeout=self._timeout, cached=False)
                # The fetch responses' high watermark: right where the embedded broker's ListOffsets
                # lags behind (module doc); -1001 until this consumer has fetched the partition.
                _, seen_high = self._consumer.get_watermark_offsets(where, cached=True)
                start = tp.offset if tp.offset >= 0 else low  # nothing committed: the group starts at the low mark
                total += max(0, max(high, seen_high) - start)
            return total
        except KafkaException as exc:
            raise LogError(f"lag of group {self.group!r} on {self.topic!r} unknown: {exc}") from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._consumer.close()  # leaves the group: on_revoke runs, the others rebalance at once
        finally:
            with self._lock:
                self._owned.clear()
                producer, self._dead_letters = self._dead_letters, None
            if producer is not None:
                _shut(producer, self._timeout)


class KafkaProducer(Producer):
    """Writes keyed messages to `topic`, each to partition_for(key, partitions) (see log.Producer).
    `config`: librdkafka producer settings over PRODUCER_DEFAULTS; `linger_s`, if given, is
    linger.ms (how long a message may wait for others to fill a batch), as the Redis producer's."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, *, config: dict | None = None,
                 linger_s: float | None = None, timeout: float = DEFAULT_TIMEOUT_S):
        actual = topic_partitions(bootstrap, topic, timeout)
        if actual != partitions:
            raise ValueError(f"topic {topic!r} has {actual} partitions, not {partitions}")
        self.topic, self.partitions = topic, partitions
        self._timeout = timeout
        failures: list[KafkaError] = []
        self._failures = failures

        def failed(error: KafkaError | None, _message) -> None:  # no reference to self: no cycle (see KafkaLog)
            if error is not None:
                failures.append(error)

        # Delivery reports only for failures: a Python callback per stored message would cost
        # more than the produce call itself.
        lingering = {} if linger_s is None else {"linger.ms": linger_s * 1000}
        self._producer = _RdProducer({**PRODUCER_DEFAULTS, **lingering, **(config or {}), "bootstrap.servers": bootstrap,
                                      "delivery.report.only.error": True, "on_delivery": failed})
        self._closed = False

    def produce(self, key: bytes, value: bytes) -> None:
        partition = partition_for(key, self.partitions)
        while True:
            try:
                self._producer.produce(self.topic, value, key, partition)
                return
            except BufferError:  # the local queue is full: let librdkafka send, then try again
                self._producer.poll(0.05)

    def flush(self) -> None:
        left = self._producer.flush(self._timeout)
        if left:
            raise LogError(f"{left} messages to {self.topic!r} not delivered within {self._timeout} s")
        if self._failures:
            failures = list(self._failures)
            self._failures.clear()
            raise LogError(f"{len(failures)} messages to {self.topic!r} failed, first: {failures[0]}")

    def _release(self) -> None:
        _shut(self._producer, self._timeout)


def _shut(producer: _RdProducer, timeout: float) -> int:
    """Flush for up to `timeout` seconds, drop what is left (close() alone would wait for it
    forever on a dead broker), close; returns how many messages were dropped."""
    left = producer.flush(timeout)
    if left:
        producer.purge()
    producer.close()
    return left


def open_log(url: str, topic: str, group: str, consumer_name: str, **tuning) -> KafkaLog:
    return KafkaLog(url, topic, group, consumer_name, **tuning)


def open_producer(url: str, topic: str, partitions: int, **tuning) -> KafkaProducer:
    return KafkaProducer(url, topic, partitions, **tuning)
