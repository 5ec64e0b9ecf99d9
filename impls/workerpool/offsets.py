"""Which offsets may be committed: the contiguous completed prefix of each partition.

Workers finish messages out of order (different keys run in parallel), but a log commit says
"everything before this offset is done". Committing past a message still in flight would lose
it on a crash, so the tracker commits only up to the first message not yet completed, and keeps
every completed offset above it until the gap closes.

Offsets are compared only by the order in which they were fetched, never by arithmetic: Kafka's
offsets have gaps (compaction, transaction markers) and Redis Stream ids are not integers. The
memory held is one entry per message fetched and not yet committed -- bounded by the pool's
backpressure, never by a limit that could silently drop an entry (Confluent's parallel consumer
drops its map of incomplete offsets past 4 KB of commit metadata and replays; this one has no such
bound, and needs none: nothing is stored in the log's commit).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable, Iterable
from typing import Any


class OffsetTracker:
    """Per partition: offsets in fetch order, which of them completed, and what is committable.

    Thread-safe: the fetcher tracks, workers complete, the committer takes what is committable.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fetched: dict[Hashable, deque] = {}  # partition -> offsets fetched, oldest first
        self._completed: dict[Hashable, set] = {}  # partition -> completed offsets still in _fetched
        self._ready: dict[Hashable, Any] = {}  # partition -> last offset of the completed prefix, not yet taken

    def track(self, partition: Hashable, offset: Any) -> None:
        """A message was fetched: it is in flight until `complete`. Offsets of one partition
        must be tracked in log order (a repeat of an offset still in flight is ignored: a
        redelivery while the first delivery is being worked on)."""
        self.track_all(((partition, offset),))

    def track_all(self, fetched: Iterable[tuple[Hashable, Any]]) -> int:
        """`track` for each (partition, offset) of a fetched batch, in order, under one lock;
        returns how many were tracked (a repeat of one in flight is not)."""
        tracked = 0
        with self._lock:
            for partition, offset in fetched:
                queue = self._fetched.get(partition)
                if queue is None:
                    queue = self._fetched[partition] = deque()
                    self._completed[partition] = set()
                elif queue and queue[-1] == offset:
                    continue
                queue.append(offset)
                tracked += 1
        return tracked

    def complete(self, partition: Hashable, offset: Any) -> None:
        """A message's work is done (applied, or dead-lettered): it may be committed once every
        message fetched before it in its partition is done too."""
        self.complete_all(((partition, offset),))

    def complete_all(self, done: Iterable[tuple[Hashable, Any]]) -> int:
        """`complete` for each (partition, offset) of a finished batch, under one lock; returns
        how many offsets left the tracker (joined a committable prefix)."""
        touched = set()
        left = 0
        with self._lock:
            for partition, offset in done:
                completed = self._completed.get(partition)
                if completed is None:
                    continue  # the partition was revoked meanwhile: its new owner redoes (and dedupes) it
                completed.add(offset)
                touched.add(partition)
            for partition in touched:
                fetched, completed = self._fetched[partition], self._completed[partition]
                last = None
                while fetched and fetched[0] in completed:
                    last = fetched.popleft()
                    completed.discard(last)
                    left += 1
                if last is not None:
                    self._ready[partition] = last
        return left

    def take_committable(self) -> dict[Hashable, Any]:
        """partition -> the last offset of its completed prefix, for the partitions that advanced
        since the last call (a Kafka commit is that offset + 1; Redis acknowledges up to it)."""
        with self._lock:
            ready, self._ready = self._ready, {}
            return ready

    def restore(self, ready: dict[Hashable, Any]) -> None:
        """Put back what `take_committable` gave when the commit failed (it is retried later),
        unless the partition advanced further meanwhile."""
        with self._lock:
            for partition, offset in ready.items():
                self._ready.setdefault(partition, offset)

    def in_flight(self, partition: Hashable | None = None) -> int:
        """Messages fetched and not yet in a committable prefix (of one partition, or all)."""
        with self._lock:
            if partition is not None:
                return len(self._fetched.get(partition, ()))
            return sum(map(len, self._fetched.values()))

    def revoke(self, partition: Hashable) -> int:
        """The partition went to another consumer: forget it (uncommitted work is redone there);
        returns how many offsets in flight were dropped."""
        with self._lock:
            dropped = self._fetched.pop(partition, ())
            self._completed.pop(partition, None)
            self._ready.pop(partition, None)
            return len(dropped)

    def partitions(self) -> list[Hashable]:
        with self._lock:
            return list(self._fetched)
