"""Who owns which partition of a Redis Streams topic: leases and a fair share.

Redis consumer groups hand every entry to whichever consumer asks first; they have no notion of
a partition owner. Per-key order needs exactly one reader per partition, so the consumers of a
group agree on owners themselves, in Redis:

* every live consumer is a member of the ZSET `<topic>:consumers:<group>`, scored with the
  server time (ms) of its last heartbeat; members silent for a lease time are removed;
* partition p of the group is owned by whoever holds the lease `<topic>:lease:<group>:p<p>`
  (its value: the consumer name), set with NX and a PX expiry, renewed by the owner;
* a consumer holds at most its fair share ceil(P / live members): on each `claim` it renews the
  leases it holds, takes free (or expired) ones up to its share -- its previous ones first, where
  its own pending entries are -- and reports a share below what it holds, so that the caller
  gives the excess up (`release`) once it has let go of those partitions.

The lease keys carry the group's name (the issue names them `<topic>:lease:p<i>`): two pools
reading one topic are two groups, and each needs its own owner per partition.

`claim` is one Lua script: heartbeat, expiry, share and lease changes happen atomically, with
the server's clock, so consumers on different hosts need no synchronised clocks and two
claimants can never both win a lease. Keys of one topic live on one server: this is not for
Redis Cluster.
"""

from __future__ import annotations

import math

import redis

_CLAIM = """
-- KEYS[1]: the members ZSET; KEYS[2..P+1]: the leases of partitions 0..P-1
-- ARGV[1]: consumer name; ARGV[2]: lease time (ms); ARGV[3..]: partitions held before
local me, lease = ARGV[1], tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now, me)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - lease)
redis.call('PEXPIRE', KEYS[1], 2 * lease)  -- a group whose members all left leaves nothing behind
local partitions = #KEYS - 1
local share = math.ceil(partitions / redis.call('ZCARD', KEYS[1]))
local held = {}
for i = 3, #ARGV do held[tonumber(ARGV[i])] = true end
local owned, mine_before, free = {}, {}, {}
for p = 0, partitions - 1 do
  local holder = redis.call('GET', KEYS[p + 2])
  if holder == me then
    redis.call('PEXPIRE', KEYS[p + 2], lease)
    owned[#owned + 1] = p
  elseif not holder then
    if held[p] then mine_before[#mine_before + 1] = p else free[#free + 1] = p end
  end
end
for _, candidates in ipairs({mine_before, free}) do
  for _, p in ipairs(candidates) do
    if #owned >= share then break end
    redis.call('SET', KEYS[p + 2], me, 'PX', lease)
    owned[#owned + 1] = p
  end
end
return {share, owned}
"""

_RELEASE = """
-- KEYS[1]: the members ZSET; KEYS[2..]: leases; ARGV[1]: consumer name; ARGV[2]: '1' to leave
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
if ARGV[2] == '1' then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
"""


def lease_key(topic: str, group: str, partition: int) -> str:
    return f"{topic}:lease:{group}:p{partition}"


def members_key(topic: str, group: str) -> str:
    return f"{topic}:consumers:{group}"


class PartitionLeases:
    """One consumer's side of the ownership protocol (see the module doc)."""

    def __init__(self, client: redis.Redis, topic: str, group: str, consumer_name: str, partitions: int,
                 lease_time: float):
        self.lease_ms = max(1, math.ceil(lease_time * 1000))
        self._client = client
        self._name = consumer_name
        self._members = members_key(topic, group)
        self._leases = [lease_key(topic, group, p) for p in range(partitions)]
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

    def claim(self, held: set[int]) -> tuple[set[int], int]:
        """Heartbeat, renew the leases held, take free ones up to the fair share. Returns (the
        partitions whose lease this consumer holds now, its fair share); `held` is what it
        believes it holds (preferred when their leases expired and nobody took them)."""
        share, owned = self._claim(keys=[self._members, *self._leases],
                                   args=[self._name, self.lease_ms, *sorted(held)])
        return {int(p) for p in owned}, int(share)

    def release(self, partitions: set[int]) -> None:
        """Give up these partitions' leases (only those still held by this consumer)."""
        if partitions:
            self._release(keys=[self._members, *(self._leases[p] for p in sorted(partitions))], args=[self._name, "0"])

    def leave(self) -> None:
        """Give up every lease and leave the members: the others' shares grow at once."""
        self._release(keys=[self._members, *self._leases], args=[self._name, "1"])
