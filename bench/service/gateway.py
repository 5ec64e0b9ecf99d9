"""Gateway.submit: what happens to one checked order, whatever transport brought it.

limit (per client = the order's user_id) -> idempotency claim (if a key came) -> route by the
ring -> append to the log -> store the answer under the key. Each step's refusal is an
Outcome with its HTTP status (the gRPC server maps it to a status code):

  201 accepted (or the first answer again, `replayed`), 409 the key is in flight, 422 the key
  was used with another payload, 429 over the client's limit (with Retry-After), 503 Redis or
  the log did not answer within the timeout.

The limit is applied before the claim, so a refused request never holds a key; a retry of a
completed request counts against the client's limit like any request.

`impl` picks the tier of every hot path at once: the serial codec (msgpack and protobuf
decode, the protobuf the log stores), the keyed limiter and the ring.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

import orjson
import redis.asyncio as aioredis

from bench.service import metrics
from bench.service.appender import LogUnavailable, ensure_topic, open_appender
from bench.service.config import GatewayConfig
from bench.service.idempotency import Claim, Idempotency, fingerprint
from impls import registry

LIMIT_KIND = "token"
_REDIS_ERRORS = (aioredis.ConnectionError, aioredis.TimeoutError, OSError)


@dataclass
class Outcome:
    status: int
    body: dict
    retry_after: int | None = None   # seconds, for 429
    replayed: bool = False
    headers: dict = field(default_factory=dict)


def _error(status: int, message: str, **extra) -> Outcome:
    return Outcome(status, {"error": message, "field": None, **extra})


class Gateway:
    def __init__(self, config: GatewayConfig):
        self.config = config
        self.serial = registry.load("serial", config.impl)
        ring_tier = registry.load("hashring", config.impl)
        names = [f"p{i}" for i in range(config.partitions)]
        self._ring = ring_tier.Ring(names, config.vnodes)
        self._partition_of_node = {name: i for i, name in enumerate(names)}
        self._limiter = self._redis_limiter = None
        if config.limit == "local":
            self._limiter = registry.load("ratelimit", config.impl).KeyedLimiter(
                LIMIT_KIND, config.limit_capacity, config.limit_rate)
        else:
            from impls.ratelimit.redis import RedisLimiter
            self._redis_limiter = RedisLimiter(config.redis_url, LIMIT_KIND, config.limit_capacity, config.limit_rate,
                                               prefix="lab:rl:gateway:", on_unavailable="raise")
        self._redis = aioredis.Redis.from_url(config.redis_url, socket_timeout=config.timeout_s,
                                              socket_connect_timeout=config.timeout_s)
        self._idempotency = Idempotency(self._redis, config.idempotency_ttl_s, config.in_flight_ttl_s)
        self._appender = open_appender(config.backend, config.log_url, config.topic, config.partitions,
                                       config.timeout_s)
        self._retry_after = max(1, math.ceil(1.0 / config.limit_rate))

    async def start(self) -> None:
        await asyncio.to_thread(ensure_topic, self.config.backend, self.config.log_url, self.config.topic,
                                self.config.partitions)
        await self._appender.start()

    async def close(self) -> None:
        await self._appender.close()
        await self._redis.aclose()
        if self._redis_limiter is not None:
            self._redis_limiter.close()

    def health(self) -> dict:
        return {"status": "ok", "impl": self.config.impl, "backend": self.config.backend, "limit": self.config.limit,
                "topic": self.config.topic, "partitions": self.config.partitions,
                "tiers": {"serial": self.config.impl, "ratelimit": self.config.impl if self._limiter is not None else "redis",
                          "hashring": self.config.impl}}

    def partition_for(self, user_id: int) -> int:
        return self._partition_of_node[self._ring.lookup(f"user:{user_id}")]

    async def _admit(self, client: int) -> bool:
        if self._limiter is not None:
            return self._limiter.acquire(client)
        from impls.ratelimit.redis import LimiterUnavailable
        try:
            return await asyncio.to_thread(self._redis_limiter.acquire, client)
        except LimiterUnavailable as exc:
            raise _Unavailable(f"the rate limiter's Redis did not answer: {exc}") from exc

    async def submit(self, order: dict, key: str | None = None) -> Outcome:
        """One checked order (orders.from_*) and its Idempotency-Key, if any."""
        try:
            return await self._submit(order, key)
        except _Unavailable as exc:
            return _error(503, str(exc))

    async def _submit(self, order: dict, key: str | None) -> Outcome:
        user = order["user_id"]
        if not await self._admit(user):
            return Outcome(429, {"error": f"client {user} is over its limit of {self.config.limit_rate:g} orders/s "
                                          f"(burst {self.config.limit_capacity:g})", "field": None},
                           retry_after=self._retry_after)
        encode = self.serial.encode_order
        fp = None
        if key is not None:
            stamped = order["ts_ns"]
            order["ts_ns"] = 0  # the gateway's stamp is not the payload's
            fp = fingerprint(encode(order))
            order["ts_ns"] = stamped
            try:
                state, answer = await self._idempotency.claim(key, fp)
            except _REDIS_ERRORS as exc:
                raise _Unavailable(f"the idempotency store (Redis) did not answer: {exc}") from exc
            if state is Claim.DONE:
                return Outcome(201, orjson.loads(answer), replayed=True)
            if state is Claim.IN_FLIGHT:
                return _error(409, f"a request with Idempotency-Key {key!r} is still being processed")
            if state is Claim.MISMATCH:
                return _error(422, f"Idempotency-Key {key!r} was used with a different payload")
        if not order["ts_ns"]:
            order["ts_ns"] = time.time_ns()
        partition = self.partition_for(user)
        try:
            await self._appender.append(partition, f"user:{user}".encode(), encode(order))
        except LogUnavailable as exc:
            if fp is not None:
                await self._release(key, fp)
            raise _Unavailable(str(exc)) from exc
        # (Cancelled -- the client went away -- the order may or may not be stored: the claim is
        # kept, and frees itself after the in-flight TTL.)
        metrics.appended(partition)
        ack = {"order_id": order["id"], "status": "accepted", "partition": partition, "ts_ns": order["ts_ns"]}
        if fp is not None:
            try:
                await self._idempotency.complete(key, fp, orjson.dumps(ack))
            except _REDIS_ERRORS:
                # The order is in the log: it is accepted. Its key stays claimed until the
                # in-flight TTL frees it; a retry meanwhile gets 409, not a second effect.
                pass
        return Outcome(201, ack)

    async def _release(self, key: str, fp: bytes) -> None:
        try:
            await self._idempotency.release(key, fp)
        except _REDIS_ERRORS:
            pass  # the claim frees itself after the in-flight TTL


class _Unavailable(RuntimeError):
    """Redis or the log did not answer in time: 503 / UNAVAILABLE."""
