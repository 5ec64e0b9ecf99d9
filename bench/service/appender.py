"""Appends that return once the log has stored the order: the gateway answers 201 only then,
so no accepted order is missing from the log.

The worker pool's producers (impls.workerpool.log) are made for throughput: they buffer and
report only failures at `flush()`. A request needs its own message's outcome, so the
gateway keeps one client per log with a completion per message:

* `KafkaAppender` -- a librdkafka producer with a delivery report per message. A thread polls
  the producer and hands each poll's reports to the event loop in one call (one wake-up per
  poll, not per message; polling from a timer on the loop instead cost twice the CPU). `message.timeout.ms` bounds a delivery: a broker that is down fails
  the message (-> 503) within `timeout_s`, and librdkafka reconnects by itself when it returns.
  Not idempotent (as the pool's dead-letter producer: the embedded broker answers idempotent
  producers with long tails); retries may then store a message twice -- the pool's sink dedupes
  by log position, not by order, so a duplicate would be applied: the timeout is kept well above
  the broker's round trip so that retries are rare, and the gateway's idempotency keys stop
  client retries from adding more.
* `RedisAppender` -- XADD to the partition's stream (`<topic>:p<i>`, as the pool reads it)
  over a RedisPipe (redis_pipe.py): its deadline bounds it, and it reconnects on the next call.

Both write to an explicit partition: the gateway routes by the hash ring, not by the
producers' jump hash, so a key's orders stay in one partition (in order) either way.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time

from confluent_kafka import KafkaError
from confluent_kafka import Producer as _RdProducer

from bench.service.redis_pipe import RedisNotSent, RedisPipe, RedisUnavailable
from impls.workerpool import log
from impls.workerpool.log_redis_topic import stream_key


class LogUnavailable(RuntimeError):
    """The log did not confirm the message within the timeout (down, unreachable, refused).
    `maybe_stored`: it may still be stored (sent, then timed out: a stalled server that resumes,
    a broker that answers late), so its idempotency key must not be freed for a retry."""

    def __init__(self, message: str, maybe_stored: bool = True):
        super().__init__(message)
        self.maybe_stored = maybe_stored


def ensure_topic(backend: str, url: str, topic: str, partitions: int) -> None:
    """Create `topic` with `partitions` partitions unless it exists with that many."""
    module = log.backend_module(backend)
    try:
        if backend == "kafka":
            actual = module.topic_partitions(url, topic)
        else:
            from impls.ratelimit.redis import connect
            client = connect(url, 2.0)
            try:
                actual = module.topic_partitions(client, topic)
            finally:
                client.close()
    except log.TopicNotFound:
        log.create_topic(backend, url, topic, partitions)
        return
    if actual != partitions:
        raise ValueError(f"topic {topic!r} exists with {actual} partitions, not {partitions}")


class KafkaAppender:
    def __init__(self, bootstrap: str, topic: str, timeout_s: float):
        self.topic = topic
        self._producer = _RdProducer({
            "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False, "linger.ms": 1,
            "message.timeout.ms": int(timeout_s * 1000), "socket.timeout.ms": max(10, int(timeout_s * 1000)),
            "queue.buffering.max.messages": 100_000, "log_level": 3})
        self._timeout = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reports: list = []
        # librdkafka looks at message timeouts about once a second: a deadline of our own answers
        # within timeout_s (a message that times out here may still be stored later).
        self._deadlines: collections.deque = collections.deque()  # (deadline, future), in send order
        self._watchdog: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-appender-poll", daemon=True)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)
            if self._reports:
                reports, self._reports = self._reports, []
                self._loop.call_soon_threadsafe(_settle_all, reports)

    def _expect(self, future: asyncio.Future) -> None:
        """Give `future` a deadline: TIMED_OUT is its result if no report came by then."""
        self._deadlines.append((time.monotonic() + self._timeout, future))
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(self._timeout, self._check_deadlines)

    def _check_deadlines(self) -> None:
        self._watchdog = None
        now, deadlines = time.monotonic(), self._deadlines
        while deadlines and (deadlines[0][1].done() or deadlines[0][0] <= now):
            _, future = deadlines.popleft()
            if not future.done():
                future.set_result(TIMED_OUT)
        if deadlines:
            self._watchdog = self._loop.call_later(max(0.0, deadlines[0][0] - now), self._check_deadlines)

    async def append(self, partition: int, key: bytes, value: bytes) -> None:
        future = self._loop.create_future()

        def delivered(error: KafkaError | None, _message) -> None:  # on the poll thread, inside poll()
            self._reports.append((future, error))

        try:
            self._producer.produce(self.topic, value, key, partition, on_delivery=delivered)
        except BufferError:
            raise LogUnavailable("the log's send queue is full", maybe_stored=False) from None
        self._expect(future)
        error = await future
        if error is TIMED_OUT:
            raise LogUnavailable(f"the log did not confirm the order within {self._timeout} s")
        if error is not None:
            raise LogUnavailable(f"the log did not store the order: {error.str()}")

    async def append_many(self, messages: list[tuple[int, bytes, bytes]]) -> list[LogUnavailable | None]:
        """Append (partition, key, value) messages; the error of each (None: stored), once every
        one has its delivery report or the deadline passed."""
        errors: list[LogUnavailable | None] = [None] * len(messages)
        reported = [False] * len(messages)
        if not messages:
            return errors
        done = self._loop.create_future()
        left = [len(messages)]

        def delivered_at(i: int):
            def delivered(error: KafkaError | None, _message) -> None:  # on the poll thread
                if error is not None:
                    errors[i] = LogUnavailable(f"the log did not store the order: {error.str()}")
                reported[i] = True
                left[0] -= 1
                if not left[0]:
                    self._reports.append((done, None))
            return delivered

        for i, (partition, key, value) in enumerate(messages):
            try:
                self._producer.produce(self.topic, value, key, partition, on_delivery=delivered_at(i))
            except BufferError:
                errors[i] = LogUnavailable("the log's send queue is full", maybe_stored=False)
                reported[i] = True
                left[0] -= 1
        if left[0]:
            self._expect(done)
            await done
        for i, was_reported in enumerate(reported):
            if not was_reported:  # the deadline passed first
                errors[i] = LogUnavailable(f"the log did not confirm the order within {self._timeout} s")
        return errors

    async def close(self) -> None:
        await asyncio.to_thread(self._producer.flush, 5.0)
        self._stop.set()
        if self._poller.is_alive():
            await asyncio.to_thread(self._poller.join, 1.0)
        self._producer.purge()
        # Close the broker connections now: the embedded broker holds off SIGTERM while a
        # client is connected, so a producer left to the garbage collector delayed its stop.
        self._producer.close()


#: The result of an append whose deadline passed before its delivery report.
TIMED_OUT = object()


def _settle_all(reports: list) -> None:
    for future, error in reports:
        if not future.done():  # a request cancelled meanwhile (client gone) has no one to tell
            future.set_result(error)


class RedisAppender:
    def __init__(self, url: str, topic: str, partitions: int, timeout_s: float):
        self.topic = topic
        self._streams = [stream_key(topic, p) for p in range(partitions)]
        self._redis = RedisPipe(url, timeout_s)

    async def start(self) -> None:
        pass

    def stream(self, partition: int) -> str:
        return self._streams[partition]

    async def append(self, partition: int, key: bytes, value: bytes) -> None:
        try:
            await self._redis.call("XADD", self._streams[partition], "*", "key", key, "value", value)
        except RedisUnavailable as exc:
            raise LogUnavailable(f"the log did not store the order: {exc}",
                                 maybe_stored=not isinstance(exc, RedisNotSent)) from exc

    async def append_many(self, messages: list[tuple[int, bytes, bytes]]) -> list[LogUnavailable | None]:
        """Append (partition, key, value) messages, pipelined; the error of each (None: stored)."""
        calls = [self.append(p, key, value) for p, key, value in messages]
        replies = await asyncio.gather(*calls, return_exceptions=True)
        for reply in replies:
            if isinstance(reply, BaseException) and not isinstance(reply, LogUnavailable):
                raise reply
        return list(replies)

    async def close(self) -> None:
        await self._redis.close()


def open_appender(backend: str, url: str, topic: str, partitions: int, timeout_s: float):
    if backend == "kafka":
        return KafkaAppender(url, topic, timeout_s)
    if backend == "redis":
        return RedisAppender(url, topic, partitions, timeout_s)
    raise ValueError(f"backend must be kafka or redis, got {backend!r}")
