"""Per-key lanes: one key's messages in log order, different keys in parallel.

Every key has a FIFO lane. A worker takes a batch made of whole runs of ready keys' queued
messages, and a key stays *busy* -- no other worker takes from its lane -- until the worker
says it is `done` with them; so the messages of one key are applied in the order they were
put, one batch after the other. A key whose head failed is *parked* (`retry`): its messages go
back to the front of its lane, and nobody takes from it until its backoff is over, while every
other key keeps flowing. A lane per key, not per worker: a parked key holds up only itself.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any


class KeyedLanes:
    """The queue between the fetcher and the workers. Thread-safe.

    `key_of(message)` is the lane a message goes to. Messages are any objects.
    """

    def __init__(self, key_of: Callable[[Any], Hashable]):
        self._key_of = key_of
        self._lanes: dict[Hashable, deque] = {}
        self._ready: deque[Hashable] = deque()  # keys with queued messages, not busy, not parked
        self._busy: set[Hashable] = set()
        self._parked: list[tuple[float, int, Hashable]] = []  # (until, tiebreak, key): a heap
        self._parked_keys: set[Hashable] = set()
        self._order = itertools.count()
        self._queued = 0
        self._closed = False
        self._changed = threading.Condition()

    def __len__(self) -> int:
        """Messages queued (not taken by a worker)."""
        with self._changed:
            return self._queued

    def put(self, messages: Iterable[Any]) -> None:
        """Queue messages at the back of their lanes, in the order given."""
        with self._changed:
            for message in messages:
                key = self._key_of(message)
                lane = self._lanes.get(key)
                if lane is None:
                    lane = self._lanes[key] = deque()
                    if key not in self._busy and key not in self._parked_keys:
                        self._ready.append(key)
                lane.append(message)
                self._queued += 1
            self._changed.notify_all()

    def _unpark_due(self, now: float) -> None:
        while self._parked and self._parked[0][0] <= now:
            _, _, key = heapq.heappop(self._parked)
            self._parked_keys.discard(key)
            if self._lanes.get(key):
                self._ready.append(key)

    def take(self, max_messages: int, timeout: float) -> list[Any]:
        """Up to `max_messages` messages, whole runs of ready keys (a key's run is cut only at
        the limit); waits up to `timeout` for one. The keys taken are busy until `done`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                now = time.monotonic()
                self._unpark_due(now)
                if self._ready or self._closed or now >= deadline:
                    break
                wake = deadline if not self._parked else min(deadline, self._parked[0][0])
                self._changed.wait(max(0.0, wake - now))
            batch: list[Any] = []
            while self._ready and len(batch) < max_messages:
                key = self._ready.popleft()
                lane = self._lanes[key]
                while lane and len(batch) < max_messages:
                    batch.append(lane.popleft())
                self._busy.add(key)
            self._queued -= len(batch)
            return batch

    def done(self, messages: Iterable[Any]) -> None:
        """A worker finished the messages it took: their keys may be taken again."""
        with self._changed:
            for key in dict.fromkeys(map(self._key_of, messages)):
                self._release(key)
            self._changed.notify_all()

    def _release(self, key: Hashable) -> None:
        self._busy.discard(key)
        if self._lanes.get(key):
            if key not in self._parked_keys:
                self._ready.append(key)
        else:
            self._lanes.pop(key, None)

    def retry(self, messages: list[Any], delay: float) -> None:
        """Put a key's taken-but-not-done messages (in order) back at the front of its lane and
        park the key for `delay` seconds; the key is no longer busy."""
        if not messages:
            return
        key = self._key_of(messages[0])
        with self._changed:
            lane = self._lanes.setdefault(key, deque())
            lane.extendleft(reversed(messages))
            self._queued += len(messages)
            self._busy.discard(key)
            if key in self._ready:
                self._ready.remove(key)
            self._parked_keys.add(key)
            heapq.heappush(self._parked, (time.monotonic() + delay, next(self._order), key))
            self._changed.notify_all()

    def discard(self, keep: Callable[[Any], bool]) -> list[Any]:
        """Drop every queued message for which `keep(message)` is false (a revoked partition's);
        returns them. Messages a worker holds are not affected."""
        dropped = []
        with self._changed:
            for key, lane in list(self._lanes.items()):
                kept = deque(m for m in lane if keep(m))
                dropped += [m for m in lane if not keep(m)]
                self._lanes[key] = kept
                if not kept and key not in self._busy:
                    del self._lanes[key]
                    if key in self._ready:
                        self._ready.remove(key)
            self._queued -= len(dropped)
        return dropped

    def close(self) -> None:
        """Wake every waiting worker: `take` returns what is ready (possibly nothing) at once."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
