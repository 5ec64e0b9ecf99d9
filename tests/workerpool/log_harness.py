"""What the log tests of every backend share: keyed test messages, fetching from several
consumers until a condition holds (always bounded in time), the order checks, a record of
`on_change` calls, and a stack that closes every log and producer a test opened."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from impls.workerpool.log import Log, Message, Producer, partition_for


def produce_keyed(producer: Producer, n: int, keys: int, start: int = 0) -> list[tuple[bytes, bytes]]:
    """n messages over `keys` keys ("user:<k>"), values the running numbers from `start`;
    flushed. Returns (key, value) in produced order."""
    sent = []
    for i in range(start, start + n):
        key, value = f"user:{i % keys}".encode(), str(i).encode()
        producer.produce(key, value)
        sent.append((key, value))
    producer.flush()
    return sent


class Fetched:
    """What each log fetched, in order."""

    def __init__(self, logs: Iterable[Log]):
        self.logs = list(logs)
        self.by_log: dict[Log, list[Message]] = {log: [] for log in self.logs}

    def __getitem__(self, log: Log) -> list[Message]:
        return self.by_log[log]

    @property
    def all(self) -> list[Message]:
        return [m for messages in self.by_log.values() for m in messages]

    def until(self, done: Callable[[Fetched], bool], limit: float, what: str = "", *, batch: int = 500,
              wait: float = 0.05) -> Fetched:
        """Fetch from every log in turn until `done(self)`; AssertionError after `limit` seconds."""
        deadline = time.monotonic() + limit
        while not done(self):
            if time.monotonic() > deadline:
                counts = {log.consumer_name: len(m) for log, m in self.by_log.items()}
                owned = {log.consumer_name: sorted(log.assignment()) for log in self.logs}
                raise AssertionError(f"not within {limit} s: {what} (fetched {counts}, owned {owned})")
            for log in self.logs:
                self.by_log[log] += log.fetch(batch, wait)
        return self

    def during(self, seconds: float, *, batch: int = 500, wait: float = 0.05) -> Fetched:
        """Keep fetching from every log for `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for log in self.logs:
                self.by_log[log] += log.fetch(batch, wait)
        return self


def assert_in_log_order(messages: list[Message], partitions: int) -> None:
    """Each key in its own partition (partition_for), each partition in log order with no
    repeats, each key's values in produced (increasing) order."""
    by_partition: dict[int, list[Message]] = defaultdict(list)
    values_of_key: dict[bytes, list[int]] = defaultdict(list)
    for m in messages:
        assert m.partition == partition_for(m.key, partitions), (m.key, m.partition)
        by_partition[m.partition].append(m)
        values_of_key[m.key].append(int(m.value))
    for partition, run in by_partition.items():
        keys = [m.sort_key for m in run]
        assert keys == sorted(set(keys)), f"partition {partition} out of log order"
    for key, values in values_of_key.items():
        assert values == sorted(values), f"key {key!r} out of produced order"


def last_offsets(messages: Iterable[Message]) -> dict[int, object]:
    """partition -> the offset of its last message (what the pool commits when all are done)."""
    last = {}
    for m in messages:
        last[m.partition] = m.offset
    return last


class ChangeRecord:
    """An on_change callback that remembers every (assigned, revoked) call."""

    def __init__(self) -> None:
        self.calls: list[tuple[set[int], set[int]]] = []

    @classmethod
    def on(cls, log: Log) -> ChangeRecord:
        """A record of `log`'s ownership changes, from now on."""
        record = cls()
        log.on_change(record)
        return record

    def __call__(self, assigned: set[int], revoked: set[int]) -> None:
        self.calls.append((assigned, revoked))

    @property
    def revoked(self) -> set[int]:
        return set().union(*(r for _, r in self.calls))

    @property
    def assigned(self) -> set[int]:
        return set().union(*(a for a, _ in self.calls))


class Opened(contextlib.ExitStack):
    """Closes every log and producer given to `keep`, last first, also when a test fails."""

    def keep(self, thing):
        self.callback(thing.close)
        return thing


def assert_lag_follows_commits(log: Log, sent: list[tuple[bytes, bytes]], own_within: float, settle: float) -> None:
    """`log` owns both partitions of a 2-partition topic holding `sent`: lag counts every message
    while paused (none delivered) and after delivery (none committed), and falls by each
    partition's share as each is committed."""
    log.pause({0, 1})  # by number: also partitions not owned yet
    Fetched([log]).until(lambda f: log.assignment() == {0, 1}, own_within, "a owns both").during(settle)
    assert log.lag() == len(sent)  # nothing delivered
    log.resume({0, 1})
    fetched = Fetched([log]).until(lambda f: len(f[log]) == len(sent), 10, "all fetched")
    assert log.lag() == len(sent)  # delivered, not committed
    last = last_offsets(fetched[log])
    log.commit({0: last[0]})
    assert log.lag() == sum(1 for key, _ in sent if partition_for(key, 2) == 1)
    log.commit({1: last[1]})
    assert log.lag() == 0
