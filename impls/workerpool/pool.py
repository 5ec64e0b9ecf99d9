"""The worker pool: a fetcher, W workers and a committer around one log and one sink.

    log --fetch--> KeyedLanes --take--> workers: kernel, then sink.apply (one Lua call a batch)
                                            |
    log <--commit-- OffsetTracker <--complete--+

* The **fetcher** is the thread that calls `run()`: it owns the log (every log call is made
  from it: a Kafka consumer's callbacks run inside its poll), fetches batches into the lanes,
  pauses the log above the high-water marks and resumes below the low ones (bench.flow), claims
  an epoch in the sink for each partition assigned, drops what it holds of a revoked one,
  dead-letters what the workers hand it, and commits every `commit_interval_s` the contiguous
  completed prefix of each partition (impls.workerpool.offsets) -- then tells the sink, which
  drops its dedupe entries below it.
* **Workers** take whole runs of ready keys (impls.workerpool.lanes: per-key order), run the
  kernel tier over the batch (a compiled tier releases the GIL, so workers run in parallel), and
  apply the effects of what succeeded in one atomic step (impls.workerpool.sink: exactly once,
  fenced). A message the kernel rejects is retried with backoff, its key parked while the
  other keys flow; after `max_deliveries` it goes to the dead-letter topic and is committed.
* **Stopping** (`stop` set, e.g. by SIGTERM): no more fetching; what is in the lanes and in the
  workers is finished and committed within `drain_timeout_s`; the log is closed (leaving the
  group). A kill -9 loses nothing: what was not committed is delivered again and the sink's
  dedupe keeps its effect from repeating.
"""

from __future__ import annotations

import operator
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from impls.workerpool.flow import FlowControl, Watermarks
from impls.workerpool.kernel_contract import MALFORMED, OK, POISON
from impls.workerpool.lanes import KeyedLanes
from impls.workerpool.log import LogError
from impls.workerpool.offsets import OffsetTracker
from impls.workerpool.sink import Effect, RedisSink

#: Before it first owns a partition, a consumer waits this long for the group to take it in
#: before `idle_exit_s` counts (a first Kafka join waits out the broker's rebalance delay).
JOIN_GRACE_S = 30.0
_REASONS = {POISON: "rejected by the kernel (poison)", MALFORMED: "not a valid Order (malformed bytes)"}


@dataclass(frozen=True)
class PoolConfig:
    workers: int = 2
    #: messages a worker takes at once (whole runs of keys)
    batch: int = 500
    #: messages one fetch asks the log for
    fetch_batch: int = 2000
    marks: Watermarks = field(default_factory=Watermarks)
    #: kernel rounds per message (impls.workerpool contract: rounds_for(work_us))
    rounds: int = 0
    #: deliveries of a failing message before it is dead-lettered
    max_deliveries: int = 5
    #: first retry delay; it doubles with every delivery, up to `max_backoff_s`
    backoff_s: float = 0.01
    max_backoff_s: float = 1.0
    commit_interval_s: float = 0.1
    #: stop after this long with nothing fetched and nothing in flight (None: run until stopped)
    idle_exit_s: float | None = None
    #: on stop, how long the in-flight work may take to finish and commit
    drain_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("workers", "batch", "fetch_batch", "max_deliveries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 0:
            raise ValueError(f"rounds must be an int >= 0, got {self.rounds!r}")


@dataclass
class PoolStats:
    fetched: int = 0
    applied: int = 0
    redelivered: int = 0
    retried: int = 0
    dead_lettered: int = 0
    fenced: int = 0
    commits: int = 0
    pauses: int = 0
    sink_errors: int = 0
    peak_messages: int = 0
    peak_bytes: int = 0
    #: partitions this consumer owns now
    partitions_owned: int = 0


class WorkerPool:
    """Drains `log` into `sink` with `kernel` (a workerpool tier module: process_batch)."""

    def __init__(self, log, sink: RedisSink, kernel, config: PoolConfig = PoolConfig(),
                 progress: Callable[[PoolStats, int], None] | None = None,
                 applied: Callable[[list], None] | None = None):
        """`progress(stats, in_flight)` is called on every fetcher loop; `applied(messages)` by a
        worker right after the sink applied their effects (a latency probe, say): keep both cheap."""
        self.log, self.sink, self.kernel, self.config = log, sink, kernel, config
        self.stats = PoolStats()
        self._progress = progress
        self._applied = applied
        self._flow = FlowControl(config.marks)
        self._lanes = KeyedLanes(operator.attrgetter("key"))
        self._tracker = OffsetTracker()
        self._epochs: dict[int, int] = {}
        self._attempts: dict[tuple[int, object], int] = {}
        self._to_dead_letter: queue.Queue = queue.Queue()
        self._fenced: queue.Queue = queue.Queue()
        self._errors: list[BaseException] = []
        self._stats_lock = threading.Lock()
        self._workers_stop = threading.Event()
        self._stop = threading.Event()  # run()'s: waits for Redis or the log end when it is set
        self._paused = False
        self._owned_any = False
        self._ownership_changed_at = 0.0
        log.on_change(self._ownership_changed)

    # --- the fetcher (the thread that calls run) -------------------------------------------------
    def run(self, stop: threading.Event) -> PoolStats:
        """Drain until `stop` is set (or `idle_exit_s` of nothing); returns the stats."""
        self._stop = stop
        workers = [threading.Thread(target=self._work, name=f"lab-pool-worker-{i}", daemon=True)
                   for i in range(self.config.workers)]
        for worker in workers:
            worker.start()
        try:
            self._fetch_until(stop)
            self._drain()
        finally:
            self._workers_stop.set()
            self._lanes.close()
            for worker in workers:
                worker.join(self.config.drain_timeout_s)
            self.log.close()
        if self._errors:
            raise RuntimeError(f"a pool worker failed: {self._errors[0]!r}") from self._errors[0]
        self.stats.peak_messages, self.stats.peak_bytes = self._flow.peak_messages, self._flow.peak_bytes
        return self.stats

    def _fetch_until(self, stop: threading.Event) -> None:
        last_commit = last_activity = time.monotonic()
        while not stop.is_set() and not self._errors:
            self._housekeeping()
            messages = self.log.fetch(0 if self._paused else self.config.fetch_batch, 0.05)
            now = time.monotonic()
            if messages:
                last_activity = now
                self._admit(messages)
            elif self._tracker.in_flight() or len(self._lanes) or self._ownership_changed_at >= last_activity:
                last_activity = now  # work in hand, or partitions just assigned: not idle
            if now - last_commit >= self.config.commit_interval_s:
                self._commit()
                last_commit = now
            if self._progress is not None:
                self._progress(self.stats, self._tracker.in_flight())
            idle = self.config.idle_exit_s
            if idle is not None and not self._owned_any:  # joining the group is not idleness
                idle = max(idle, JOIN_GRACE_S)
            if idle is not None and now - last_activity >= idle:
                return

    def _admit(self, messages: list) -> None:
        self.stats.fetched += len(messages)
        tracked = self._tracker.track_all((m.partition, (m.offset, m.sort_key)) for m in messages)
        if self._flow.add(tracked, sum(len(m.value) for m in messages)) and not self._paused:
            self.log.pause(self.log.assignment())
            self._paused = True
            self.stats.pauses += 1
        self._lanes.put(messages)

    def _housekeeping(self) -> None:
        """Resume below the low marks; dead-letter what workers handed over; drop what a fenced
        partition still holds."""
        if self._paused and not self._flow.paused:
            self.log.resume(self.log.assignment())
            self._paused = False
        handed = []
        while True:
            try:
                handed.append(self._to_dead_letter.get_nowait())
            except queue.Empty:
                break
        if handed:
            self._dead_letter(handed)
        while True:
            try:
                partition = self._fenced.get_nowait()
            except queue.Empty:
                break
            self._forget(partition)

    def _dead_letter(self, handed: list[tuple]) -> None:
        """Write (message, reason) pairs to the dead-letter topic, then record them in the sink in
        one batch (no effect; a redelivery of them is deduped) and let them be committed."""
        messages = [message for message, _ in handed]
        delay = self.config.backoff_s
        while True:  # as _claim: the log away (Redis restarting) is a wait; nothing is lost
            try:
                self.log.dead_letter_all(handed)  # all in one round trip (a repeat after a failure: at least once)
                break
            except LogError:
                if self._stop.wait(delay):  # stopping: not dead-lettered, not committed -- delivered again
                    self._flow.remove(0, sum(len(m.value) for m in messages))
                    return
                delay = min(delay * 2, self.config.max_backoff_s)
        result = self._apply_with_retry([Effect(m.partition, m.sort_key, 0, 0, m.key, dead=True) for m in messages])
        committable = 0
        if result is not None:
            with self._stats_lock:
                self.stats.dead_lettered += result.dead_lettered
            committable = self._tracker.complete_all((m.partition, (m.offset, m.sort_key))
                                                     for m in messages if m.partition not in result.fenced)
        self._flow.remove(committable, sum(len(m.value) for m in messages))

    def _commit(self) -> None:
        ready = self._tracker.take_committable()
        if not ready:
            return
        try:
            self.log.commit({p: offset for p, (offset, _) in ready.items()})
        except Exception:  # noqa: BLE001 - the log is away: keep it for the next commit
            self._tracker.restore(ready)
            return
        self.stats.commits += 1
        for p, (_, sort_key) in ready.items():
            try:
                self.sink.committed(p, sort_key)
            except Exception:  # noqa: BLE001 - only the dedupe state's size waits for the next commit
                pass

    def _ownership_changed(self, assigned: set[int], revoked: set[int]) -> None:
        """The log's callback (on the fetcher thread): claim new partitions in the sink, so an
        older owner is fenced before we apply anything of them; forget revoked ones."""
        self._owned_any = self._owned_any or bool(assigned)
        self._ownership_changed_at = time.monotonic()
        if revoked:
            self._commit()  # what is done is committed before the partitions go (else: redone, deduped)
        for partition in revoked:
            self._forget(partition)
        for partition in assigned:
            self._epochs[partition] = self._claim(partition)
        self.stats.partitions_owned = len(self._epochs)

    def _claim(self, partition: int) -> int:
        """A new epoch for `partition` (Redis away: wait for it -- nothing of the partition may run
        before); -1, which the sink refuses, if the pool stops first."""
        delay = self.config.backoff_s
        while True:
            try:
                return self.sink.claim(partition)
            except Exception:  # noqa: BLE001 - Redis away
                if self._stop.wait(delay):
                    return -1
                delay = min(delay * 2, self.config.max_backoff_s)

    def _forget(self, partition: int) -> None:
        self._epochs.pop(partition, None)
        self.stats.partitions_owned = len(self._epochs)
        untracked = self._tracker.revoke(partition)
        dropped = self._lanes.discard(lambda m: m.partition != partition)
        self._flow.remove(untracked, sum(len(m.value) for m in dropped))

    def _drain(self) -> None:
        """Stop fetching; let the workers finish what is queued and commit it, within the deadline."""
        deadline = time.monotonic() + self.config.drain_timeout_s
        while time.monotonic() < deadline and not self._errors:
            self._housekeeping()
            self._commit()
            if not len(self._lanes) and not self._tracker.in_flight():
                break
            self.log.fetch(0, 0.02)  # keeps the group membership (and ownership) alive
        self._commit()

    # --- workers ---------------------------------------------------------------------------------
    def _work(self) -> None:
        try:
            while not self._workers_stop.is_set():
                batch = self._lanes.take(self.config.batch, 0.05)
                if batch:
                    self._process(batch)
        except BaseException as exc:  # noqa: BLE001 - reported by run(), which stops the pool
            self._errors.append(exc)

    def _process(self, batch: list) -> None:
        effects = self.kernel.process_batch([m.value for m in batch], self.config.rounds)
        status, users, deltas = effects.status.tolist(), effects.user_id.tolist(), effects.delta.tolist()
        failed_runs = []
        if any(status):  # OK is 0: some message failed (rare) -- its key's run waits for it
            good, good_effects = [], []
            failing_key = None
            for i, m in enumerate(batch):
                if m.key == failing_key:  # behind a failure of its key (a batch holds whole runs of keys)
                    failed_runs[-1][0].append(m)
                elif status[i] != OK:
                    failing_key = m.key
                    failed_runs.append(([m], status[i]))
                else:
                    good.append(m)
                    good_effects.append(Effect(m.partition, m.sort_key, users[i], deltas[i], m.key))
        else:  # the common case, in comprehensions: this loop is per message
            good = batch
            good_effects = [Effect(m.partition, m.sort_key, u, d, m.key) for m, u, d in zip(batch, users, deltas)]
        result = self._apply_with_retry(good_effects) if good_effects else None
        committable = 0
        if result is not None:
            applied = good
            if result.fenced:
                applied = [m for m in good if m.partition not in result.fenced]
                for partition in result.fenced:
                    self._fenced.put(partition)
            with self._stats_lock:
                self.stats.applied += result.applied
                self.stats.redelivered += result.redelivered
                self.stats.fenced += len(good) - len(applied)
            committable = self._tracker.complete_all([(m.partition, (m.offset, m.sort_key)) for m in applied])
            if self._applied is not None:
                self._applied(applied)
            if self._attempts:  # messages that failed before and went through now
                for m in good:
                    self._attempts.pop((m.partition, m.offset), None)
        elif good:  # the sink stayed away until the pool stopped: not applied, not committed
            self._lanes.done(good)
            return
        self._flow.remove(committable, sum(len(m.value) for m in good))
        for run, failure in failed_runs:
            self._failed(run, failure)
        self._lanes.done(good)

    def _failed(self, run: list, status: int) -> None:
        """The head of a key's run failed: retry the run after a backoff, or dead-letter the head
        (handed to the fetcher, which owns the log) and go on with the rest of the run."""
        head = run[0]
        attempt_key = (head.partition, head.offset)
        made = max(head.deliveries, self._attempts.get(attempt_key, 1))  # deliveries so far, this one too
        if made < self.config.max_deliveries:
            self._attempts[attempt_key] = made + 1
            with self._stats_lock:
                self.stats.retried += 1
            delay = min(self.config.backoff_s * 2 ** (made - 1), self.config.max_backoff_s)
            self._lanes.retry(run, delay)
            return
        self._attempts.pop(attempt_key, None)
        self._to_dead_letter.put((head, _REASONS.get(status, f"kernel status {status}")))
        if len(run) > 1:
            self._lanes.retry(run[1:], 0.0)  # the rest of the key goes on (the head has no effect)
        else:
            self._lanes.done(run)  # releases the key

    def _apply_with_retry(self, effects: list[Effect]):
        """sink.apply, again with backoff while Redis is away; None if the pool stops first (the
        batch is then neither applied nor committed: it is delivered again later). The sink
        reads the epochs of the batch's partitions only; the fetcher changes the dict on a
        rebalance, and a replaced epoch is what fencing refuses anyway."""
        delay = self.config.backoff_s
        while True:
            try:
                return self.sink.apply(effects, self._epochs)
            except Exception:  # noqa: BLE001 - a sink error is a wait, never a lost message
                with self._stats_lock:
                    self.stats.sink_errors += 1
                if self._workers_stop.wait(delay):
                    return None
                delay = min(delay * 2, self.config.max_backoff_s)
