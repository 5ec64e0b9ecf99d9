"""Redis Streams topics for the pool's log: the names of a topic's keys, creating and deleting
a topic, and the producer (impls.workerpool.log_redis is the consumer; its docstring tells the
layout: a topic of P partitions is P streams `<topic>:p<i>` plus `<topic>:meta`)."""

from __future__ import annotations

import time

import redis

from impls.ratelimit.redis import connect
from impls.workerpool.log import LogError, Producer, TopicNotFound, partition_for
from impls.workerpool.log_redis_leases import lease_key, members_key

#: Seconds every Redis call may take before it fails (the socket timeout).
DEFAULT_IO_TIMEOUT_S = 2.0


def stream_key(topic: str, partition: int) -> str:
    return f"{topic}:p{partition}"


def meta_key(topic: str) -> str:
    return f"{topic}:meta"


def dead_letter_key(topic: str) -> str:
    return f"{topic}:dlq"


def parse_id(entry_id: bytes | str) -> tuple[int, int]:
    """A stream id "ms-seq" as (ms, seq), which orders as the stream does."""
    if isinstance(entry_id, bytes):
        entry_id = entry_id.decode()
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def sort_key(entry_id: str) -> str:
    """A stream id "ms-seq" as "<ms>-<seq>", each zero-padded to 20 digits: a string that sorts
    as the stream does (string padding, not int formatting: it runs once per message fetched)."""
    ms, _, seq = entry_id.partition("-")
    return ms.zfill(20) + "-" + (seq or "0").zfill(20)


def topic_partitions(client: redis.Redis, topic: str) -> int:
    """How many partitions `topic` has (from its meta hash); TopicNotFound if it has none."""
    found = client.hget(meta_key(topic), "partitions")
    if found is None:
        raise TopicNotFound(f"no topic {topic!r} (no {meta_key(topic)!r}): create_topic first")
    return int(found)


def create_topic(url: str, topic: str, partitions: int, io_timeout: float = DEFAULT_IO_TIMEOUT_S) -> None:
    """Record `topic` with `partitions` partitions (an existing topic is an error). Its streams
    appear with the first entry or the first consumer group."""
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"partitions must be an int >= 1, got {partitions!r}")
    client = connect(url, io_timeout)
    try:
        if not client.hsetnx(meta_key(topic), "partitions", partitions):
            raise LogError(f"topic {topic!r} exists")
    finally:
        client.close()


def delete_topic(url: str, topic: str, io_timeout: float = DEFAULT_IO_TIMEOUT_S) -> None:
    """Delete `topic`: its streams, meta, dead letters, and every group's leases and members.
    Only these exact keys (no pattern): a topic named like a prefix of another is safe."""
    client = connect(url, io_timeout)
    try:
        found = client.hget(meta_key(topic), "partitions")
        if found is None:
            return
        streams = [stream_key(topic, p) for p in range(int(found))]
        groups = set()
        for stream in streams:
            try:
                groups.update(g["name"].decode() for g in client.xinfo_groups(stream))
            except redis.exceptions.ResponseError:
                pass  # no such stream: nothing was ever written or read
        keys = [*streams, meta_key(topic), dead_letter_key(topic)]
        for group in sorted(groups):
            keys += [members_key(topic, group), *(lease_key(topic, group, p) for p in range(len(streams)))]
        client.delete(*keys)
    finally:
        client.close()


class _Failures:
    """Turns a Redis error into the log's: `with _Failures("what"):`."""

    def __init__(self, what: str, kind: type[LogError] = LogError):
        self.what, self.kind = what, kind

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and issubclass(exc_type, redis.exceptions.RedisError):
            raise self.kind(f"{self.what} failed: {exc_type.__name__}: {exc}") from exc


class RedisProducer(Producer):
    """Writes keyed messages to `topic`'s streams, each to partition_for(key, partitions), in
    pipelines of `batch` XADDs (see log.Producer), or sooner once the oldest queued message has
    waited `linger_s` (as Kafka's linger.ms; checked when the next message is produced, so a
    paced producer's messages wait about that long, not until a batch fills). A failed flush
    may have stored part of the batch: producing again after an error is at least once."""

    def __init__(self, url: str, topic: str, partitions: int, *, batch: int = 1000, linger_s: float | None = None,
                 io_timeout: float = DEFAULT_IO_TIMEOUT_S):
        self._client = connect(url, io_timeout)
        try:
            with _Failures(f"opening a producer to {topic!r}"):
                actual = topic_partitions(self._client, topic)
            if actual != partitions:
                raise ValueError(f"topic {topic!r} has {actual} partitions, not {partitions}")
        except BaseException:
            self._client.close()
            raise
        self.topic, self.partitions = topic, partitions
        self._streams = [stream_key(topic, p) for p in range(partitions)]
        self._batch = batch
        self._linger_s = linger_s
        self._pipe = self._client.pipeline(transaction=False)
        self._queued = 0
        self._first_queued_at = 0.0
        self._closed = False

    def produce(self, key: bytes, value: bytes) -> None:
        stream = self._streams[partition_for(key, self.partitions)]
        self._pipe.execute_command("XADD", stream, "*", "key", key, "value", value)
        self._queued += 1
        if self._linger_s is not None:
            now = time.monotonic()
            if self._queued == 1:
                self._first_queued_at = now
            elif now - self._first_queued_at >= self._linger_s:
                self.flush()
                return
        if self._queued >= self._batch:
            self.flush()

    def flush(self) -> None:
        if not self._queued:
            return
        self._queued = 0
        with _Failures(f"producing to {self.topic!r}"):
            self._pipe.execute()  # also empties the pipeline when it fails

    def _release(self) -> None:
        self._client.close()


def open_producer(url: str, topic: str, partitions: int, **tuning) -> RedisProducer:
    return RedisProducer(url, topic, partitions, **tuning)
