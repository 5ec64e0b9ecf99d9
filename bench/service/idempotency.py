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
of the order as the log stores it, without ts_ns (which the gateway stamps): the same order
sent as JSON, msgpack or protobuf is the same payload.
"""

from __future__ import annotations

import hashlib
from enum import Enum

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


def fingerprint(encoded_order: bytes) -> bytes:
    return hashlib.blake2b(encoded_order, digest_size=16).digest()


class Idempotency:
    """The three steps over a redis.asyncio client (whose socket timeout bounds every call)."""

    def __init__(self, client, ttl_s: float, in_flight_ttl_s: float):
        self._claim = client.register_script(_CLAIM)
        self._complete = client.register_script(_COMPLETE)
        self._release = client.register_script(_RELEASE)
        self._ttl_ms = int(ttl_s * 1000)
        self._in_flight_ms = int(in_flight_ttl_s * 1000)

    async def claim(self, key: str, fp: bytes) -> tuple[Claim, bytes | None]:
        reply = await self._claim(keys=[PREFIX + key], args=[fp, self._in_flight_ms])
        return Claim(reply[0]), (reply[1] if len(reply) > 1 else None)

    async def complete(self, key: str, fp: bytes, answer: bytes) -> bool:
        return bool(await self._complete(keys=[PREFIX + key], args=[fp, answer, self._ttl_ms]))

    async def release(self, key: str, fp: bytes) -> None:
        await self._release(keys=[PREFIX + key], args=[fp])
