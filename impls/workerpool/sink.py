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

#: The batch script. KEYS: positions, count, last, stats, then epoch, done, mark per partition.
#: ARGV: the number of partitions P, P epochs, then 6 values per message:
#: partition index (1-based), sort key, user, delta, key, dead (1: dead-lettered, no effect).
_APPLY = """
local P = tonumber(ARGV[1])
local fenced = {}
local live = {}
for i = 1, P do
    local base = 4 + 3 * (i - 1)
    live[i] = (redis.call('GET', KEYS[base + 1]) == ARGV[1 + i])
    if not live[i] then fenced[#fenced + 1] = i end
end
local applied, redelivered, violations, dead = 0, 0, 0, 0
local first = 2 + P
for m = first, #ARGV, 6 do
    local p = tonumber(ARGV[m])
    if live[p] then
        local base = 4 + 3 * (p - 1)
        local sort_key, key = ARGV[m + 1], ARGV[m + 4]
        local mark = redis.call('GET', KEYS[base + 3])
        if (mark and sort_key <= mark) or redis.call('ZSCORE', KEYS[base + 2], sort_key) then
            redelivered = redelivered + 1
        else
            redis.call('ZADD', KEYS[base + 2], 0, sort_key)
            if ARGV[m + 5] == '1' then
                dead = dead + 1
            else
                redis.call('HINCRBY', KEYS[1], ARGV[m + 2], ARGV[m + 3])
                redis.call('HINCRBY', KEYS[2], key, 1)
                local last = redis.call('HGET', KEYS[3], key)
                if last and sort_key <= last then violations = violations + 1 end
                redis.call('HSET', KEYS[3], key, sort_key)
                applied = applied + 1
            end
        end
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


@dataclass(frozen=True)
class Effect:
    """What one message does to the sink (`dead`: it was dead-lettered: recorded, no effect)."""

    partition: int
    sort_key: str
    user: int
    delta: int
    key: str
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
        consumer's epoch for every partition in the batch (from `claim`)."""
        if not effects:
            return Applied(0, 0, 0, frozenset())
        partitions = list(dict.fromkeys(e.partition for e in effects))
        index = {p: i + 1 for i, p in enumerate(partitions)}
        keys = [self.key("positions"), self.key("count"), self.key("last"), self.key("stats")]
        for p in partitions:
            keys += self._partition_keys(p)
        args: list = [len(partitions)] + [epochs[p] for p in partitions]
        for e in effects:
            args += [index[e.partition], e.sort_key, e.user, e.delta, e.key, 1 if e.dead else 0]
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
