"""The pool's log on Redis Streams.

A topic of P partitions is P streams `<topic>:p<i>` plus `<topic>:meta` (a hash: partitions)
written by `create_topic`. A pool is one consumer group (`group`), created on every stream with
MKSTREAM at id 0 -- a new group reads the streams from their start. Entries have the fields
`key` and `value`; the producer routes them as every backend does (`log.partition_for`).

Ownership. Redis has no group rebalancing, and a consumer group gives each entry to whichever
consumer asks first, so per-key order needs an owner per partition: leases with a fair share,
renewed from `fetch` (log_redis_leases) -- so the pool must call `fetch` more often than the
lease time, paused or not. A consumer that takes a partition first recovers the
stream's pending entries -- XAUTOCLAIM JUSTID with min-idle-time 0 moves every entry some member
of the group was given but never acknowledged to this consumer (it owns the lease, so nobody
else works on them), iterating with the cursor (each call scans at most COUNT*10 entries) --
then reads its own pending entries in order (XREADGROUP from id 0, which is also how a consumer
restarted under the same name gets its own back), and only then new entries (`>`). Entries
deleted while pending come back without fields: they are skipped and acknowledged. A partition
given up for a rebalance is reported to `on_change` first, then its lease is released; one whose
lease expired and was taken is reported after the fact. (A former owner that stalled for a lease
time between checking its lease and reading could still read a few entries of a partition it
lost; if it then drops them, they wait in its pending list. The owner checks on every renewal
whether anyone else has pending entries in its streams, and if so reports the partition revoked
and takes it over again, which redelivers them -- and its own uncommitted ones -- in order.)

`deliveries` comes from the pending entries list: 1 for a new entry; for a recovered one, its
times-delivered after this delivery (XPENDING) -- so a message a consumer fetched and never
acknowledged is delivered to the next owner with deliveries == 2.

`commit({p: id})` acknowledges (XACK) every entry up to and including `id` that this consumer
fetched from p, then, at most every `trim_interval` seconds per stream, trims what no group
still needs: XTRIM MINID at the lowest of every group's oldest pending entry and first
undelivered one -- never MAXLEN, which would drop unacknowledged entries. (A group created after
a trim reads from what is left.)

`lag()`: over the owned partitions, the group's undelivered entries (XINFO GROUPS `lag`, or a
count past its last-delivered id where Redis cannot tell, as before 7.0) plus its pending ones.

Dead letters: XADD to `<topic>:dlq` with the fields key, value, reason, partition, offset.

Differences from Kafka (log_kafka): offsets are stream ids (strings), acknowledged one by one,
so a restarted consumer gets back exactly what it had not acknowledged (its pending entries)
and knows how often each was delivered; a partition moves within about a renew interval of its
owner leaving and within a lease time of its owner dying (Kafka: the broker's rebalance and
session timeout). Measured on the lab's machine with the defaults (lease 4 s, renewal every
1 s): a group's first claim ~0.1 s, a second member joining ~1.2 s until both own their half, a
member leaving ~0.9 s until the other owns everything. There is no prefetch to purge on pause:
a paused partition is simply not read. Leases and the read are not fenced (Redis cannot make a
blocking read conditional), hence the stranded-entry check above.

Every call fails within the client's socket timeout (`io_timeout`); a failed call raises
LogError (CommitFailed for commit) and can be retried -- except `fetch`, which, as Kafka's log
does while its broker is away, returns nothing while the server cannot be reached (restarted,
still loading, timed out) and re-reads this consumer's own pending entries once it can.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable

import redis

from impls.ratelimit.redis import connect
from impls.workerpool.log import CommitFailed, Log, LogError, Message, Offset
from impls.workerpool.log_redis_leases import PartitionLeases
# The topic's keys, its admin and the producer; create_topic, delete_topic and open_producer
# are this backend's entry points too (impls.workerpool.log.backend_module).
from impls.workerpool.log_redis_topic import (DEFAULT_IO_TIMEOUT_S, _Failures, create_topic,  # noqa: F401
                                              dead_letter_key, delete_topic, open_producer, parse_id, sort_key,
                                              stream_key, topic_partitions)

# Entries past the last-delivered id, counted in the server (Redis before 7.0 has no `lag`).
_COUNT_UNDELIVERED = "return #redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+')"

# Forget this consumer on streams where it has nothing pending (XGROUP DELCONSUMER would drop
# its pending entries, which the next owner must recover), so that restarts under new names do
# not pile up consumers in the groups.
_FORGET_CONSUMER = """
for i = 1, #KEYS do
  local ok, pending = pcall(redis.call, 'XPENDING', KEYS[i], ARGV[1], '-', '+', 1, ARGV[2])
  if ok and #pending == 0 then redis.call('XGROUP', 'DELCONSUMER', KEYS[i], ARGV[1], ARGV[2]) end
end
return 0
"""


class RedisLog(Log):
    """A consumer `consumer_name` of group `group` reading `topic` (see the module doc).

    Tuning: `lease_time` (s) a partition stays owned without renewal, and a member stays live
    without a heartbeat; `renew_interval` (s, default lease_time / 4) between renewals (also the
    longest a fetch blocks); `claim_count` entries per XAUTOCLAIM call; `trim` after commits, at
    most every `trim_interval` s per stream, `trim_approximate` (MINID ~: whole radix-tree nodes
    only, cheaper; exact otherwise); `io_timeout` (s) per Redis call.
    """

    def __init__(self, url: str, topic: str, group: str, consumer_name: str, *, lease_time: float = 4.0,
                 renew_interval: float | None = None, claim_count: int = 1000, trim: bool = True,
                 trim_interval: float = 1.0, trim_approximate: bool = True,
                 io_timeout: float = DEFAULT_IO_TIMEOUT_S):
        self.topic, self.group, self.consumer_name = topic, group, consumer_name
        self._renew_interval = lease_time / 4 if renew_interval is None else renew_interval
        if not 0 < self._renew_interval < lease_time:
            raise ValueError(f"renew_interval must be in (0, lease_time={lease_time}), got {renew_interval!r}")
        self._claim_count = claim_count
        self._trim, self._trim_interval, self._trim_approximate = trim, trim_interval, trim_approximate
        # A blocking read must end well within the socket timeout, and in time for the next renewal.
        self._max_block = min(io_timeout / 2, self._renew_interval)
        self._client = connect(url, io_timeout)
        # redis-py drops XAUTOCLAIM's cursor when JUSTID is given: take the reply as it is.
        self._client.set_response_callback("XAUTOCLAIM", lambda response, **options: response)
        with _Failures(f"opening {topic!r}"):
            self.partitions = topic_partitions(self._client, topic)
            self._streams = [stream_key(topic, p) for p in range(self.partitions)]
            self._create_group()
            self._leases = PartitionLeases(self._client, topic, group, consumer_name, self.partitions, lease_time)
            self._count_undelivered = self._client.register_script(_COUNT_UNDELIVERED)
            self._forget_consumer = self._client.register_script(_FORGET_CONSUMER)
        self._partition_of = {s.encode(): p for p, s in enumerate(self._streams)}
        self._callbacks = []
        self._lock = threading.Lock()  # guards the state below; commit and lag run on other threads
        self._owned: set[int] = set()
        self._paused: set[int] = set()
        self._recovering: dict[int, bytes] = {}  # partition -> last own pending id re-read (b"0" at first)
        self._fetched: dict[int, deque] = {}  # partition -> (sort key, id) fetched, not yet acknowledged
        self._trimmed_at: dict[int, float] = {}
        self._renew_at = 0.0
        self._turn = 0
        self._closed = False

    def _create_group(self) -> None:
        pipe = self._client.pipeline(transaction=False)
        for stream in self._streams:
            pipe.xgroup_create(stream, self.group, id="0", mkstream=True)
        for reply in pipe.execute(raise_on_error=False):
            if isinstance(reply, Exception) and not str(reply).startswith("BUSYGROUP"):
                raise reply

    # --- ownership -----------------------------------------------------------------------------
    def _rebalance(self) -> None:
        """Renew, take and give up partitions (see log_redis_leases); report the changes."""
        held = self.assignment()
        leased, share = self._leases.claim(held)
        excess = set(sorted(leased)[share:])  # the highest numbers beyond the fair share
        revoked = (held - leased) | (held & excess)
        if revoked:
            self._notify(set(), revoked)  # before the lease goes: the pool may still commit them
            self._forget(revoked)
        self._leases.release(excess)
        stranded = self._stranded(held & leased - excess)
        if stranded:  # taken over again, in order, from the start of the pending entries
            self._notify(set(), stranded)
            self._forget(stranded)
        for partition in sorted(leased - excess - (held - stranded)):
            self._take_over(partition)
        self._renew_at = time.monotonic() + self._renew_interval

    def _stranded(self, partitions: set[int]) -> set[int]:
        """Owned partitions where another consumer has pending entries. After a take-over only
        the owner has any, unless a former owner stalled longer than its lease between its
        lease check and a read; those entries would wait in its pending list forever."""
        if not partitions:
            return set()
        pipe = self._client.pipeline(transaction=False)
        for p in sorted(partitions):
            pipe.xpending(self._streams[p], self.group)
        me = self.consumer_name.encode()
        return {p for p, summary in zip(sorted(partitions), pipe.execute())
                if any(c["name"] != me for c in summary["consumers"])}

    def _forget(self, partitions: set[int]) -> None:
        with self._lock:
            self._owned -= partitions
            for partition in partitions:
                self._recovering.pop(partition, None)
                self._fetched.pop(partition, None)

    def _take_over(self, partition: int) -> None:
        """Move the stream's pending entries to this consumer, then deliver them first."""
        stream = self._streams[partition]
        cursor = b"0-0"
        while True:
            # JUSTID: ownership moves without counting a delivery; the re-read below counts it.
            # (Redis 7 also drops entries deleted meanwhile from the pending list here.)
            reply = self._client.xautoclaim(stream, self.group, self.consumer_name, 0, cursor,
                                            count=self._claim_count, justid=True)
            cursor = reply[0]
            if cursor in (b"0-0", "0-0"):
                break
        with self._lock:
            self._owned.add(partition)
            self._recovering[partition] = b"0"
            self._fetched[partition] = deque()
        self._notify({partition}, set())

    # --- reading -------------------------------------------------------------------------------
    def fetch(self, max_messages: int, timeout: float) -> list[Message]:
        deadline = time.monotonic() + timeout
        try:
            return self._fetch(max_messages, deadline)
        except LogError as exc:
            if not isinstance(exc.__cause__, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
                raise
        # The server is away (restarting, loading its data, unreachable): as Kafka's log does while
        # its broker is, this fetches nothing, and the next call tries again. A read whose reply
        # was lost may have been delivered all the same -- into this consumer's pending entries,
        # which `>` never returns again -- so every owned partition first reads its own pending
        # entries past the last one it fetched.
        with self._lock:
            for partition in self._owned - set(self._recovering):
                fetched = self._fetched.get(partition)
                self._recovering[partition] = fetched[-1][1] if fetched else b"0"
        time.sleep(max(0.0, deadline - time.monotonic()))
        return []

    def _fetch(self, max_messages: int, deadline: float) -> list[Message]:
        if self._closed:  # redis-py would reconnect, and this consumer would take leases again
            raise LogError(f"the log of {self.topic!r} is closed")
        with _Failures(f"fetch from {self.topic!r}"):
            if time.monotonic() >= self._renew_at:
                self._rebalance()
            with self._lock:
                readable = self._take_turns(sorted(self._owned - self._paused), max_messages)
                recovering = [p for p in readable if p in self._recovering]
            if recovering:
                messages = self._read_pending(recovering, max_messages)
                if messages:
                    return messages
            with self._lock:
                fresh = [p for p in readable if p not in self._recovering]
            wait = min(deadline - time.monotonic(), self._max_block, self._renew_at - time.monotonic())
            if not fresh:
                if wait > 0:
                    time.sleep(wait)
                return []
            count = max(1, max_messages // len(fresh))  # COUNT is per stream
            block = max(1, int(wait * 1000)) if wait > 0 else None  # None: do not block (0 would block forever)
            reply = self._client.xreadgroup(self.group, self.consumer_name, {self._streams[p]: ">" for p in fresh},
                                            count=count, block=block)
            return self._messages(reply, deliveries=None)

    def _take_turns(self, partitions: list[int], max_messages: int) -> list[int]:
        """At most max_messages partitions (COUNT is per stream, at least 1), a different
        slice on each call so that none starves."""
        if len(partitions) <= max_messages:
            return partitions
        self._turn = (self._turn + max_messages) % len(partitions)
        return (partitions[self._turn:] + partitions[:self._turn])[:max_messages]

    def _read_pending(self, partitions: list[int], max_messages: int) -> list[Message]:
        """The next of this consumer's own pending entries of recovering partitions; a partition
        with none left reads new entries from now on."""
        with self._lock:
            cursors = {self._streams[p]: self._recovering[p] for p in partitions}
        count = max(1, max_messages // len(partitions))
        reply = self._client.xreadgroup(self.group, self.consumer_name, cursors, count=count)
        returned = {}
        deleted = []
        for stream, entries in reply or ():
            live = []
            entries = [e for e in entries if e[0] is not None]  # (None, None): a reply redis-py could not parse
            for entry_id, fields in entries:
                (live if fields else deleted).append((stream, entry_id))
            returned[stream] = (entries, live)
        with self._lock:
            for p in partitions:
                stream = self._streams[p]
                entries = returned.get(stream.encode(), ((), ()))[0]
                if p in self._recovering:
                    if entries:
                        self._recovering[p] = entries[-1][0]
                    else:
                        del self._recovering[p]
        if deleted:  # deleted while pending: nothing to deliver, nothing to wait for
            pipe = self._client.pipeline(transaction=False)
            for stream, entry_id in deleted:
                pipe.xack(stream, self.group, entry_id)
            pipe.execute()
        counts = self._times_delivered({s: live for s, (_, live) in returned.items() if live})
        return self._messages([(s, [e for e in entries if e[1]]) for s, (entries, _) in returned.items()],
                              deliveries=counts)

    def _times_delivered(self, entries: dict[bytes, list]) -> dict[bytes, int]:
        """entry id -> times delivered, from the pending entries list (one round trip)."""
        if not entries:
            return {}
        pipe = self._client.pipeline(transaction=False)
        for stream, live in entries.items():
            pipe.xpending_range(stream, self.group, min=live[0][1], max=live[-1][1], count=len(live),
                                consumername=self.consumer_name)
        return {row["message_id"]: row["times_delivered"] for rows in pipe.execute() for row in rows}

    def _messages(self, reply, deliveries: dict[bytes, int] | None) -> list[Message]:
        messages = []
        with self._lock:
            for stream, entries in reply or ():
                partition = self._partition_of[stream if isinstance(stream, bytes) else stream.encode()]
                fetched = self._fetched.get(partition)
                if fetched is None:
                    continue  # not owned any more (cannot happen within one fetch; kept for safety)
                for entry_id, fields in entries:
                    offset = entry_id.decode()
                    position = sort_key(offset)
                    fetched.append((position, entry_id))
                    messages.append(Message(partition, offset, position, fields.get(b"key", b""),
                                            fields.get(b"value", b""),
                                            1 if deliveries is None else deliveries.get(entry_id, 1)))
        return messages

    # --- the rest of the Log interface ---------------------------------------------------------
    def commit(self, offsets: dict[int, Offset]) -> None:
        acks: dict[int, list] = {}
        with self._lock:
            for partition, offset in offsets.items():
                fetched = self._fetched.get(partition)
                upto = sort_key(offset)
                taken = []
                while fetched and fetched[0][0] <= upto:
                    taken.append(fetched.popleft())
                if taken:
                    acks[partition] = taken
        if not acks:
            return
        try:
            with _Failures(f"commit of {offsets} to group {self.group!r}", CommitFailed):
                pipe = self._client.pipeline(transaction=False)
                for partition, taken in acks.items():
                    pipe.xack(self._streams[partition], self.group, *(entry_id for _, entry_id in taken))
                pipe.execute()
        except CommitFailed:
            with self._lock:  # not acknowledged: a later commit takes them again (XACK is idempotent)
                for partition, taken in acks.items():
                    fetched = self._fetched.get(partition)
                    if fetched is not None:
                        fetched.extendleft(reversed(taken))
            raise
        if self._trim:
            self._trim_streams(list(acks))

    def _trim_streams(self, partitions: list[int]) -> None:
        now = time.monotonic()
        due = [p for p in partitions if now - self._trimmed_at.get(p, -1e18) >= self._trim_interval]
        if not due:
            return
        for p in due:
            self._trimmed_at[p] = now
        with _Failures(f"trimming {self.topic!r}"):
            pipe = self._client.pipeline(transaction=False)
            for p in due:
                pipe.xinfo_groups(self._streams[p])
            groups_of = pipe.execute()
            # Every group's oldest pending entry, where it has one.
            for p, groups in zip(due, groups_of):
                for group in groups:
                    if group["pending"]:
                        pipe.xpending(self._streams[p], group["name"])
            oldest_pending = iter(pipe.execute())
            for p, groups in zip(due, groups_of):
                floor = None
                for group in groups:
                    if group["pending"]:
                        needed = parse_id(next(oldest_pending)["min"])
                    else:  # everything delivered was acknowledged: the first undelivered one
                        ms, seq = parse_id(group["last-delivered-id"])
                        needed = (ms, seq + 1)
                    floor = needed if floor is None else min(floor, needed)
                if floor is not None and floor > (0, 1):
                    pipe.xtrim(self._streams[p], minid=f"{floor[0]}-{floor[1]}", approximate=self._trim_approximate)
            pipe.execute()

    def pause(self, partitions: Iterable[int]) -> None:
        with self._lock:
            self._paused |= set(partitions)

    def resume(self, partitions: Iterable[int]) -> None:
        with self._lock:
            self._paused -= set(partitions)

    def assignment(self) -> set[int]:
        with self._lock:
            return set(self._owned)

    def dead_letter(self, message: Message, reason: str) -> None:
        self.dead_letter_all([(message, reason)])

    def dead_letter_all(self, letters: list[tuple[Message, str]]) -> None:
        if not letters:
            return
        first = letters[0][0]
        with _Failures(f"dead letters for {self.topic!r} (partition {first.partition} offset {first.offset}, "
                       f"{len(letters)} in all)"):
            pipe = self._client.pipeline(transaction=False)
            for message, reason in letters:
                pipe.xadd(dead_letter_key(self.topic), {"key": message.key, "value": message.value, "reason": reason,
                                                        "partition": message.partition, "offset": str(message.offset)})
            pipe.execute()

    def lag(self) -> int:
        owned = sorted(self.assignment())
        if not owned:
            return 0
        with _Failures(f"lag of group {self.group!r} on {self.topic!r}"):
            pipe = self._client.pipeline(transaction=False)
            for p in owned:
                pipe.xinfo_groups(self._streams[p])
            total = 0
            for p, groups in zip(owned, pipe.execute()):
                mine = next((g for g in groups if g["name"].decode() == self.group), None)
                if mine is None:
                    raise LogError(f"group {self.group!r} is gone from {self._streams[p]!r}")
                undelivered = mine.get("lag")
                if undelivered is None:  # Redis < 7, or entries deleted past the group's position
                    undelivered = self._count_undelivered(keys=[self._streams[p]],
                                                          args=[mine["last-delivered-id"]])
                total += int(undelivered) + int(mine["pending"])
            return total

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        held = self.assignment()
        try:
            self._notify(set(), held)  # as Kafka's close revokes: the pool may commit what it finished
        finally:
            self._forget(held)
            try:
                with _Failures(f"leaving group {self.group!r} of {self.topic!r}"):
                    self._leases.leave()
                    self._forget_consumer(keys=self._streams, args=[self.group, self.consumer_name])
            finally:
                self._client.close()


def open_log(url: str, topic: str, group: str, consumer_name: str, **tuning) -> RedisLog:
    return RedisLog(url, topic, group, consumer_name, **tuning)
