"""Backpressure: how much the pool holds, in messages and in bytes, with hysteresis.

The fetcher adds what it fetched. A message counts until it can be committed -- until every
message fetched before it in its partition is done too (the commit tracker holds it until
then, impls.workerpool.offsets) -- and its bytes until it is done (applied or dead-lettered:
the value is dropped then). Counting messages only until they are done would let the tracker
grow without a bound while one slow key holds a partition's prefix back and everything after
it completes. Above a high-water mark -- in messages or in bytes, whichever comes first -- the
fetcher pauses (for Kafka: it pauses its partitions and keeps polling, so that the group
membership stays alive); it resumes only below the low-water marks. The gap between the marks
keeps a pool at the limit from pausing and resuming on every message. So what the pool holds
stays below the high marks plus one fetched batch, however slow the sink.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Watermarks:
    """High marks, and the fraction of them at which a paused fetcher resumes."""

    max_messages: int = 50_000
    max_bytes: int = 64 << 20
    resume_at: float = 0.5

    def __post_init__(self) -> None:
        for name in ("max_messages", "max_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not 0.0 <= self.resume_at < 1.0:
            raise ValueError(f"resume_at must be in [0, 1), got {self.resume_at!r}")


class FlowControl:
    """Counts what the pool holds and says when the fetcher must pause and may resume.
    Thread-safe."""

    def __init__(self, marks: Watermarks = Watermarks()):
        self.marks = marks
        self._low_messages = int(marks.max_messages * marks.resume_at)
        self._low_bytes = int(marks.max_bytes * marks.resume_at)
        self._messages = 0
        self._bytes = 0
        self._paused = False
        self._changed = threading.Condition()
        #: the high-water mark reached: what was held at most, to check the bound
        self.peak_messages = 0
        self.peak_bytes = 0

    @property
    def held(self) -> tuple[int, int]:
        """(messages, bytes) held now."""
        with self._changed:
            return self._messages, self._bytes

    @property
    def paused(self) -> bool:
        with self._changed:
            return self._paused

    def add(self, messages: int, nbytes: int) -> bool:
        """Fetched messages enter the pool; returns whether the fetcher must pause now."""
        with self._changed:
            self._messages += messages
            self._bytes += nbytes
            self.peak_messages = max(self.peak_messages, self._messages)
            self.peak_bytes = max(self.peak_bytes, self._bytes)
            if self._messages >= self.marks.max_messages or self._bytes >= self.marks.max_bytes:
                self._paused = True
            return self._paused

    def remove(self, messages: int, nbytes: int) -> None:
        """Messages leave the pool (committable, or their partition revoked), bytes are released
        (their messages done); either may be 0."""
        with self._changed:
            self._messages -= messages
            self._bytes -= nbytes
            if self._messages < 0 or self._bytes < 0:
                raise RuntimeError("more left the pool than entered it")
            if self._paused and self._messages <= self._low_messages and self._bytes <= self._low_bytes:
                self._paused = False
                self._changed.notify_all()

    def wait_until_resumed(self, timeout: float) -> bool:
        """Block up to `timeout` seconds while paused; True if the fetcher may fetch."""
        with self._changed:
            if self._paused:
                self._changed.wait(timeout)
            return not self._paused
