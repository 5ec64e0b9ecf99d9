"""The Idempotency-Key rules, after the IETF draft "The Idempotency-Key HTTP Header Field"
(draft-ietf-httpapi-idempotency-key-header), kept in Redis so that they hold across every
process of the gateway.

* A request carrying a key claims it with its payload's fingerprint (`claim`, one script):
  NEW -> the caller goes on and must `complete` (store its answer) or `release` (it failed);
  DONE -> the first answer is returned again, and nothing else happens (no second effect);
  IN_FLIGHT -> a request with this key is still being processed: 409 Conflict;
  MISMATCH -> the key was used with a different payload: 422 Unprocessable Content.
* Every step is one Lua script, atomic on the server: of 100 concurrent requests with one
  key exactly one gets NEW.
* A claimed key frees itself after `in_flight_ttl_s` if its request never finished (the
  process died); a completed key replays for `ttl_s` (24 h by default), then expires.
* Only a completed order is stored; a refusal before the claim (400, 429) does not touch the
  key, and a failure after it (503) releases it, so a retry goes through.

Keys are stored under ``lab:idem:<key>`` as a hash {fp, answer}. The fingerprint is a digest
of the order as decoded (before the gateway stamps a missing ts_ns): the same order sent as
JSON, msgpack or protobuf is the same payload.

When the log is a Redis stream on the same server, `claim_and_append` does all three steps
in one script: then a key is answered exactly when its order is in the log, even if the
process dies. With another log (Kafka) the steps are three calls, and a process that dies
between the append and `complete` leaves the key claimed until the in-flight TTL frees it:
a retry after that would append the order again.
"""

from __future__ import annotations

import hashlib
from enum import Enum

import orjson

PREFIX = "lab:idem:"
MAX_KEY_LENGTH = 255

# KEYS[1] the key; ARGV fingerprint, in-flight ttl (ms). Returns {state} or {DONE, answer}.
_CLAIM = """
local v = redis.call('HMGET', KEYS[1], 'fp', 'answer')
if not v[1] then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {0}
end
if v[1] ~= ARGV[1] then return {1} end
if not v[2] then return {2} end
return {3, v[2]}
"""
# KEYS[1]; ARGV fingerprint, answer, ttl (ms): store the answer if the claim is still ours.
_COMPLETE = """
if redis.call('HGET', KEYS[1], 'fp') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'answer', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""
# KEYS[1]; ARGV fingerprint: drop an unanswered claim of ours (the request failed).
_RELEASE = """
local v = redis.call('HMGET', KEYS[1], 'fp', 'answer')
if v[1] == ARGV[1] and not v[2] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# The Redis log on the same server: claim, append and answer in one step. KEYS[1] the key,
# KEYS[2] the partition's stream; ARGV fingerprint, answer, ttl (ms), message key, message value.
_CLAIM_AND_APPEND = """
local v = redis.call('HMGET', KEYS[1], 'fp', 'answer')
if v[1] then
  if v[1] ~= ARGV[1] then return {1} end
  if not v[2] then return {2} end
  return {3, v[2]}
end
redis.call('XADD', KEYS[2], '*', 'key', ARGV[4], 'value', ARGV[5])
redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'answer', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {0}
"""
# Many keys at once (a SubmitMany stream): _CLAIM and _COMPLETE over KEYS[i] and ARGV[i].
# Claim: ARGV fingerprints..., in-flight ttl (ms); returns {state, answer or false} per key.
_CLAIM_MANY = """
local ttl = ARGV[#KEYS + 1]
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'fp', 'answer')
  if not v[1] then
    redis.call('HSET', key, 'fp', ARGV[i])
    redis.call('PEXPIRE', key, ttl)
    out[i] = {0, false}
  elseif v[1] ~= ARGV[i] then out[i] = {1, false}
  elseif not v[2] then out[i] = {2, false}
  else out[i] = {3, v[2]} end
end
return out
"""
# Complete: ARGV fingerprints..., answers..., ttl (ms).
_COMPLETE_MANY = """
local n = #KEYS
for i, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'fp') == ARGV[i] then
    redis.call('HSET', key, 'answer', ARGV[n + i])
    redis.call('PEXPIRE', key, ARGV[2 * n + 1])
  end
end
return n
"""


class Claim(Enum):
    NEW = 0
    MISMATCH = 1
    IN_FLIGHT = 2
    DONE = 3


def check_key(key: str) -> str:
    """The key as sent (an sf-string: surrounding quotes are removed), or ValueError."""
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ValueError(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return key


def fingerprint(order: dict) -> bytes:
    """A digest of the decoded order (before the gateway stamps ts_ns). Every tier decodes to
    the same dict (the differential tests hold them to it), so it does not depend on the tier
    or the wire format; orjson with sorted keys makes it one C call, where the tier's encoder
    would be a second encode per order (on the Numba tier, ~40 us for one dict)."""
    return hashlib.blake2b(orjson.dumps(order, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


class Idempotency:
    """The three steps over a RedisPipe (whose deadline bounds every call)."""

    def __init__(self, redis, ttl_s: float, in_flight_ttl_s: float):
        self._claim = redis.script(_CLAIM)
        self._complete = redis.script(_COMPLETE)
        self._release = redis.script(_RELEASE)
        self._claim_and_append = redis.script(_CLAIM_AND_APPEND)
        self._claim_many = redis.script(_CLAIM_MANY)
        self._complete_many = redis.script(_COMPLETE_MANY)
        self._ttl_ms = int(ttl_s * 1000)
        self._in_flight_ms = int(in_flight_ttl_s * 1000)

    async def claim(self, key: str, fp: bytes) -> tuple[Claim, bytes | None]:
        reply = await self._claim([PREFIX + key], [fp, self._in_flight_ms])
        return Claim(reply[0]), (reply[1] if len(reply) > 1 else None)

    def complete(self, key: str, fp: bytes, answer: bytes) -> None:
        """Store the answer, without waiting for Redis' reply: it runs before any later call of
        this process (one pipelined connection, in order), so this process never sees the key in
        flight afterwards; another process may, for the moment it takes (409, never a second
        effect). If the connection fails first, the key stays claimed until the in-flight TTL."""
        self._complete.send([PREFIX + key], [fp, answer, self._ttl_ms])

    async def claim_and_append(self, key: str, fp: bytes, answer: bytes, stream: str, message_key: bytes,
                               value: bytes) -> tuple[Claim, bytes | None]:
        """claim, and if NEW: XADD the message to `stream` and store `answer`, atomically (the
        log is a Redis stream on this server): no window in which a crash leaves the order
        appended but its key unanswered."""
        reply = await self._claim_and_append([PREFIX + key, stream], [fp, answer, self._ttl_ms, message_key, value])
        return Claim(reply[0]), (reply[1] if len(reply) > 1 else None)

    async def claim_many(self, keys: list[str], fps: list[bytes]) -> list[tuple[Claim, bytes | None]]:
        """`claim` for each (key, fp), in one script: atomic for the whole batch."""
        reply = await self._claim_many([PREFIX + key for key in keys], [*fps, self._in_flight_ms])
        return [(Claim(state), answer or None) for state, answer in reply]

    def complete_many(self, keys: list[str], fps: list[bytes], answers: list[bytes]) -> None:
        """`complete` for each, in one script (not awaited either)."""
        if keys:
            self._complete_many.send([PREFIX + key for key in keys], [*fps, *answers, self._ttl_ms])

    async def release(self, key: str, fp: bytes) -> None:
        await self._release([PREFIX + key], [fp])
