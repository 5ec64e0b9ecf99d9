"""The worker pool's log: one small interface, one module per backend (issue 8, section 1).

The pool sees a topic of P partitions through a `Log` (a member of a consumer group: fetch,
commit, pause/resume, who owns which partition, dead letters, lag) and writes to it through a
`Producer`. A backend is a module with a `Log` subclass, a `Producer` subclass and the admin
helpers `create_topic(url, topic, partitions)` / `delete_topic(url, topic)`; `open_log`,
`open_producer`, `create_topic` and `delete_topic` below pick it by name. Adding a backend (NATS
JetStream next) means one more module and one more line in `BACKENDS`, nothing in the pool.

* `log_kafka`  -- Kafka protocol (confluent-kafka): a group of the broker, offsets are ints.
* `log_redis`  -- Redis Streams: a stream per partition, one consumer group per pool, partition
  ownership by leases (Redis has no group rebalancing).

What the pool may rely on, whatever the backend:

* Within a partition, `fetch` returns messages in log order. A partition has one owner in a
  group at a time (a handover may deliver a message twice: the old owner's uncommitted messages
  go to the new owner -- at least once; the pool's sink dedupes by `sort_key`).
* `commit({partition: offset})` takes the LAST COMPLETED offset per partition (not "next to
  read"): everything up to and including it is done.
* The `on_change` callbacks run on the thread that calls `fetch` (or `close`), inside that
  call; `pause`/`resume` may be called from a callback. A revoked partition is reported
  before another consumer can take it where the backend allows it (Kafka's revoke, a Redis
  lease given up for rebalance) and after the fact where it does not (Kafka's lost
  partitions, an expired Redis lease).
* Paused partitions are remembered by number: a paused partition that is revoked and assigned
  again stays paused until `resume`.
* `fetch`, `pause`, `resume`, `on_change` and `close` belong to one thread (the fetcher);
  `commit`, `dead_letter`, `lag` and `assignment` may be called from others.
* `lag()` is counted over the partitions this consumer owns now: messages in them that the
  group has not committed (delivered or not). The group's total is the sum over its members.

Keys and partitions: every producer routes a message to `partition_for(key, partitions)` =
`jump(key_hash(key), partitions)` from `impls.hashring` -- the lab's own hash family, so the
pool, the bench and any other tier agree on where a key lives. Keys are bytes; `key_hash` hashes
bytes as they are (CRC32), and a str key is hashed as its UTF-8 bytes, so the ASCII str keys the
lab uses elsewhere ("user:42") land where their encoded bytes do.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from typing import NamedTuple

from impls import registry
from impls.hashring import jump, key_hash

#: The backends, as the family declares them (impls/workerpool/implementations.py); each module is
#: imported on first use, so a backend's client library is needed only when it is used.
BACKENDS = tuple(registry.backends("workerpool"))

#: A Kafka offset (int) or a Redis stream entry id ("1700000000000-0").
Offset = int | str
#: on_change callback: (assigned, revoked) partition numbers.
ChangeCallback = Callable[[set[int], set[int]], None]


class LogError(RuntimeError):
    """The log refused or failed an operation (broker or server error, timeout)."""


class TopicNotFound(LogError):
    """The topic does not exist (create it with `create_topic` first)."""


class CommitFailed(LogError):
    """A commit did not go through; the offsets it carried are not committed (retry later, or
    drop them if their partitions were revoked meanwhile)."""


class Message(NamedTuple):
    """One message of a partition, as fetched (a NamedTuple: a log makes one per message, and a
    tuple is made several times faster than a frozen dataclass).

    `offset` is what `commit` takes (Kafka: an int; Redis: the stream entry id). `sort_key`
    orders the messages of one partition as the log does, as a plain string (Kafka: the offset
    zero-padded to 20 digits; Redis: "<ms>-<seq>", each zero-padded to 20 digits). `deliveries`
    is how many times it was delivered, 1 the first time (Redis counts redeliveries in the
    group's pending entries list; Kafka keeps no such count: always 1, the pool counts its own
    retries).
    """

    partition: int
    offset: Offset
    sort_key: str
    key: bytes
    value: bytes
    deliveries: int = 1


def partition_for(key: bytes | str, partitions: int) -> int:
    """The partition of `key` among `partitions`: jump(key_hash(key), partitions)."""
    return jump(key_hash(key), partitions)


class Log(abc.ABC):
    """A consumer of `topic` in consumer group `group`, as the worker pool uses it.

    Attributes: `topic`, `group`, `consumer_name`, `partitions` (how many the topic has).
    Use as a context manager or call `close()`.
    """

    topic: str
    group: str
    consumer_name: str
    partitions: int

    @abc.abstractmethod
    def fetch(self, max_messages: int, timeout: float) -> list[Message]:
        """Up to `max_messages` messages from the owned, unpaused partitions, waiting up to about
        `timeout` seconds for the first. Also keeps this consumer in its group (heartbeats,
        leases, rebalances, `on_change` callbacks): call it regularly, even while paused."""

    @abc.abstractmethod
    def commit(self, offsets: dict[int, Offset]) -> None:
        """Mark done, per partition, every message fetched up to and including the given offset
        (the last completed one). Synchronous; raises CommitFailed if it did not go through."""

    @abc.abstractmethod
    def pause(self, partitions: Iterable[int]) -> None:
        """Stop delivering these partitions (fetch keeps the membership alive)."""

    @abc.abstractmethod
    def resume(self, partitions: Iterable[int]) -> None:
        """Deliver these partitions again, from the first message not yet delivered."""

    @abc.abstractmethod
    def assignment(self) -> set[int]:
        """The partitions this consumer owns now."""

    def on_change(self, callback: ChangeCallback) -> None:
        """Call `callback(assigned, revoked)` whenever the partitions owned change (see the
        module doc for when and on which thread). Callbacks run in registration order."""
        self._callbacks.append(callback)

    @abc.abstractmethod
    def dead_letter(self, message: Message, reason: str) -> None:
        """Write `message` to the topic's dead-letter log with `reason`; returns once it is
        stored. The message still has to be committed (it is done)."""

    def dead_letter_all(self, letters: list[tuple[Message, str]]) -> None:
        """`dead_letter` for each (message, reason), stored together: one round trip (and, on
        Kafka, one flush) for all of them where the backend allows it."""
        for message, reason in letters:
            self.dead_letter(message, reason)

    @abc.abstractmethod
    def lag(self) -> int:
        """Messages not yet committed by the group in the partitions this consumer owns."""

    @abc.abstractmethod
    def close(self) -> None:
        """Leave the group cleanly (its partitions go to the others at once). Idempotent."""

    # --- shared by the backends ---------------------------------------------------------------
    _callbacks: list[ChangeCallback]

    def _notify(self, assigned: set[int], revoked: set[int]) -> None:
        if assigned or revoked:
            for callback in list(self._callbacks):
                callback(set(assigned), set(revoked))

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class Producer(abc.ABC):
    """Writes keyed messages to a topic of `partitions` partitions, each to
    `partition_for(key, partitions)`. Buffered: `flush()` returns once everything produced is
    stored (and raises LogError if something was not)."""

    topic: str
    partitions: int

    @abc.abstractmethod
    def produce(self, key: bytes, value: bytes) -> None:
        """Queue one message (sent in batches; see flush)."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Send what is queued and wait until it is stored."""

    @abc.abstractmethod
    def _release(self) -> None:
        """Release the connection (after the last flush)."""

    def close(self) -> None:
        """Flush, then release the connection (even if the flush failed). Idempotent."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        try:
            self.flush()
        finally:
            self._release()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def backend_module(backend: str):
    """The module of `backend` ("kafka" or "redis"), from the registry."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return registry.load("workerpool", backend)


def open_log(backend: str, url: str, topic: str, group: str, consumer_name: str, **tuning) -> Log:
    """A consumer of `topic` in `group` on `backend` at `url` (Kafka: a bootstrap list
    "host:port,..."; Redis: "redis://host:port/db"). `consumer_name` names this member (Kafka:
    its client.id; Redis: its consumer name -- reuse it after a restart to get its own pending
    messages back). `tuning`: the backend's Log keyword arguments."""
    return backend_module(backend).open_log(url, topic, group, consumer_name, **tuning)


def open_producer(backend: str, url: str, topic: str, partitions: int, **tuning) -> Producer:
    """A producer to `topic`, which must exist with `partitions` partitions."""
    return backend_module(backend).open_producer(url, topic, partitions, **tuning)


def create_topic(backend: str, url: str, topic: str, partitions: int) -> None:
    """Create `topic` with `partitions` partitions (and what the backend needs beside it)."""
    backend_module(backend).create_topic(url, topic, partitions)


def delete_topic(backend: str, url: str, topic: str) -> None:
    """Delete `topic` and everything the backend keeps for it (dead letters, group state)."""
    backend_module(backend).delete_topic(url, topic)
