"""The sink: each message's effect applied in Redis exactly once, fenced by partition ownership.

A message's effect is a change of its user's position (`delta`, from the kernel). A log delivers
at least once -- after a crash, a rebalance or a retry the same message comes again -- so the
sink records which messages it applied *in the same atomic step* as the effect: one Lua script
per batch. A redelivered message finds itself recorded and changes nothing.

What the sink keeps, under its prefix (a pool's name):

* `positions` (hash user -> position) and, for the checks, `count` (hash key -> messages applied)
  and `last` (hash key -> the sort key of the last message applied for that key: a message whose
  position in the log is not after it is counted as an order violation);
* per partition p: `done:p`, a sorted set of the sort keys applied above the committed watermark,
  and `mark:p`, that watermark -- everything at or below it is committed in the log, so it can
  never be delivered again, and `committed()` drops it from `done:p`: the dedupe state stays
  bounded by what is in flight, however long the pool runs;
* per partition p: `epoch:p`, the owner's fence. A consumer that is assigned a partition takes a
  new epoch (`claim`: INCR) and sends it with every batch; the script applies nothing of a
  partition whose epoch has moved on. So a consumer that lost its partitions while it was
  stopped (past its session timeout, then resumed) cannot apply an effect after the new owner
  started -- its batch is refused inside the same atomic step that would have applied it;
* `stats` (hash): applied, redelivered, order_violations, dead_lettered, fenced.

Messages are ordered within a partition by `sort_key` (a string that sorts as the log does: see
impls.workerpool.log.Message), compared in Lua as strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

#: The batch script. KEYS: positions, count, last, stats, then epoch, done, mark per partition.
#: ARGV: the number of partitions P; per partition its epoch and its number of messages; then
#: the messages, partition after partition, 4 values each: sort key, user, delta (empty: the
#: message was dead-lettered: recorded, no effect), key. (Four, not six: the client packs every
#: value of a batch, and that packing is a good part of the pool's CPU per message.)
#:
#: It works a batch at a time, not a message at a time: per partition one GET of the fence and
#: of the watermark, one ZMSCORE and one ZADD for the dedupe (in chunks of CHUNK members, well
#: under Lua's stack limit for `unpack`), and per batch one HMGET and one HSET of the keys' last
#: sort keys and one HINCRBY per key of its count -- only a position is one HINCRBY per message,
#: because HINCRBY is exact to 64 bits and a sum in Lua's doubles is not. A key's messages all
#: live in one partition, so going partition by partition keeps each key's messages in order.
#: A message may appear twice in one batch (delivered again while its first delivery waits in
#: the lanes): `seen` counts the second as redelivered. ZMSCORE needs Redis 6.2 or later.
_APPLY = """
local CHUNK = 1000
local P = tonumber(ARGV[1])
local fenced, queued = {}, {}
local redelivered = 0
local m = 2 + 2 * P
for i = 1, P do
    local base = 4 + 3 * (i - 1)
    local n = tonumber(ARGV[2 * i + 1])
    local q = {}
    queued[i] = q
    if redis.call('GET', KEYS[base + 1]) == ARGV[2 * i] then
        local mark = redis.call('GET', KEYS[base + 3])
        for a = m, m + 4 * (n - 1), 4 do
            if mark and ARGV[a] <= mark then
                redelivered = redelivered + 1
            else
                q[#q + 1] = a
            end
        end
    else
        fenced[#fenced + 1] = i
    end
    m = m + 4 * n
end
local fresh = {}
for p = 1, P do
    local q, done = queued[p], KEYS[4 + 3 * (p - 1) + 2]
    local seen, added = {}, {}
    for from = 1, #q, CHUNK do
        local ids = {}
        for j = from, math.min(from + CHUNK - 1, #q) do ids[#ids + 1] = ARGV[q[j]] end
        local scores = redis.call('ZMSCORE', done, unpack(ids))
        for j = 1, #ids do
            local id = ids[j]
            if scores[j] or seen[id] then
                redelivered = redelivered + 1
            else
                seen[id] = true
                fresh[#fresh + 1] = q[from + j - 1]
                added[#added + 1] = 0
                added[#added + 1] = id
            end
        end
    end
    for from = 1, #added, 2 * CHUNK do
        redis.call('ZADD', done, unpack(added, from, math.min(from + 2 * CHUNK - 1, #added)))
    end
end
local applied, dead, violations = 0, 0, 0
local keys, count = {}, {}
for _, a in ipairs(fresh) do
    if ARGV[a + 2] == '' then
        dead = dead + 1
    else
        local key = ARGV[a + 3]
        if not count[key] then
            keys[#keys + 1] = key
            count[key] = 0
        end
        count[key] = count[key] + 1
        redis.call('HINCRBY', KEYS[1], ARGV[a + 1], ARGV[a + 2])
        applied = applied + 1
    end
end
if #keys > 0 then
    local last = {}
    for from = 1, #keys, CHUNK do
        local got = redis.call('HMGET', KEYS[3], unpack(keys, from, math.min(from + CHUNK - 1, #keys)))
        for j = 1, #got do last[keys[from + j - 1]] = got[j] end
    end
    for _, a in ipairs(fresh) do
        if ARGV[a + 2] ~= '' then
            local key, sort_key = ARGV[a + 3], ARGV[a]
            if last[key] and sort_key <= last[key] then violations = violations + 1 end
            last[key] = sort_key
        end
    end
    local pairs_ = {}
    for _, key in ipairs(keys) do
        redis.call('HINCRBY', KEYS[2], key, count[key])
        pairs_[#pairs_ + 1] = key
        pairs_[#pairs_ + 1] = last[key]
    end
    for from = 1, #pairs_, 2 * CHUNK do
        redis.call('HSET', KEYS[3], unpack(pairs_, from, math.min(from + 2 * CHUNK - 1, #pairs_)))
    end
end
redis.call('HINCRBY', KEYS[4], 'applied', applied)
redis.call('HINCRBY', KEYS[4], 'redelivered', redelivered)
redis.call('HINCRBY', KEYS[4], 'order_violations', violations)
redis.call('HINCRBY', KEYS[4], 'dead_lettered', dead)
if #fenced > 0 then redis.call('HINCRBY', KEYS[4], 'fenced', #fenced) end
return {applied, redelivered, dead, fenced}
"""

#: KEYS: done, mark of one partition. ARGV: the committed sort key. The watermark only advances.
_COMMITTED = """
local mark = redis.call('GET', KEYS[2])
if mark and ARGV[1] <= mark then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return redis.call('ZREMRANGEBYLEX', KEYS[1], '-', '[' .. ARGV[1])
"""


class Effect(NamedTuple):
    """What one message does to the sink (`dead`: it was dead-lettered: recorded, no effect).
    A NamedTuple rather than a dataclass: the pool makes one per message, and a tuple is made
    several times faster. `key` is the message's key, bytes or str."""

    partition: int
    sort_key: str
    user: int
    delta: int
    key: bytes | str
    dead: bool = False


@dataclass(frozen=True)
class Applied:
    """What a batch did: applied effects, redeliveries skipped, dead-lettered messages recorded,
    and the partitions whose messages were refused because another owner holds them now."""

    applied: int
    redelivered: int
    dead_lettered: int
    fenced: frozenset[int]


class RedisSink:
    """Effects of one pool (`name`) in Redis, exactly once (see the module doc).

    `client` is a redis-py client with socket timeouts (impls.ratelimit.redis.connect makes
    one): a call to an unreachable server fails within them, and the pool then retries the
    batch -- which the dedupe makes safe whether or not the failed call had been applied.
    """

    def __init__(self, client, name: str, prefix: str = "lab:wp:"):
        if not isinstance(name, str) or not name or not prefix:
            raise ValueError(f"a sink needs a name and a prefix, got {name!r}, {prefix!r}")
        self.client = client
        self.base = f"{prefix}{name}:"
        # redis-py's Script: EVALSHA, and the script loaded again on NOSCRIPT (a restarted or
        # flushed server); the SHA is computed here, nothing is sent before the first call.
        self._apply_script = client.register_script(_APPLY)
        self._committed_script = client.register_script(_COMMITTED)

    def key(self, suffix: str) -> str:
        return self.base + suffix

    def _partition_keys(self, partition: int) -> list[str]:
        return [self.key(f"epoch:{partition}"), self.key(f"done:{partition}"), self.key(f"mark:{partition}")]

    def claim(self, partition: int) -> int:
        """A new owner's epoch for `partition`: every older owner is fenced from now on."""
        return int(self.client.incr(self.key(f"epoch:{partition}")))

    def apply(self, effects: Sequence[Effect], epochs: dict[int, int]) -> Applied:
        """Apply a batch atomically: each effect not applied before, in order; `epochs` holds this
        consumer's epoch (from `claim`) for the partitions it owns -- one of the batch's that it
        lacks is refused, as a fenced one."""
        if not effects:
            return Applied(0, 0, 0, frozenset())
        by_partition: dict[int, list[Effect]] = {}
        for e in effects:
            group = by_partition.get(e.partition)
            if group is None:
                group = by_partition[e.partition] = []
            group.append(e)
        partitions = list(by_partition)
        keys = [self.key("positions"), self.key("count"), self.key("last"), self.key("stats")]
        args: list = [len(partitions)]
        for p, group in by_partition.items():
            keys += self._partition_keys(p)
            args += (epochs.get(p, -1), len(group))  # no epoch: never claimed here, refused
        for group in by_partition.values():
            for _, sort_key, user, delta, key, dead in group:
                args += (sort_key, user, "" if dead else delta, key)
        applied, redelivered, dead, fenced = self._apply_script(keys, args)
        return Applied(int(applied), int(redelivered), int(dead), frozenset(partitions[i - 1] for i in fenced))

    def committed(self, partition: int, sort_key: str) -> int:
        """The log committed `partition` up to `sort_key`: drop the dedupe entries at or below
        it (they can never come again). Returns how many were dropped."""
        _, done, mark = self._partition_keys(partition)
        return int(self._committed_script([done, mark], [sort_key]))

    def stats(self) -> dict[str, int]:
        raw = self.client.hgetall(self.key("stats"))
        return {k.decode() if isinstance(k, bytes) else k: int(v) for k, v in raw.items()}

    def positions(self) -> dict[int, int]:
        return {int(k): int(v) for k, v in self.client.hgetall(self.key("positions")).items()}

    def counts(self) -> dict[str, int]:
        return {(k.decode() if isinstance(k, bytes) else k): int(v)
                for k, v in self.client.hgetall(self.key("count")).items()}

    def dedupe_size(self, partition: int) -> int:
        """Entries kept to dedupe `partition` (above its committed watermark)."""
        return int(self.client.zcard(self.key(f"done:{partition}")))
