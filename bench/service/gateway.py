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

from bench.service import metrics
from bench.service.appender import LogUnavailable, ensure_topic, open_appender
from bench.service.config import GatewayConfig
from bench.service.idempotency import Claim, Idempotency, fingerprint
from bench.service.redis_pipe import RedisPipe, RedisUnavailable
from impls import registry

LIMIT_KIND = "token"


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
        self._redis = RedisPipe(config.redis_url, config.timeout_s)
        self._idempotency = Idempotency(self._redis, config.idempotency_ttl_s, config.in_flight_ttl_s)
        self._appender = open_appender(config.backend, config.log_url, config.topic, config.partitions,
                                       config.timeout_s)
        self._retry_after = max(1, math.ceil(1.0 / config.limit_rate))
        # The log is a Redis stream on the idempotency store's server: one script does it all.
        self._atomic = config.backend == "redis" and config.log_url == config.redis_url

    async def start(self) -> None:
        await asyncio.to_thread(ensure_topic, self.config.backend, self.config.log_url, self.config.topic,
                                self.config.partitions)
        await self._appender.start()

    async def close(self) -> None:
        await self._appender.close()
        await self._redis.close()
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
            return self._limited(user)
        encode = self.serial.encode_order
        fp = None if key is None else fingerprint(order)
        if not order["ts_ns"]:
            order["ts_ns"] = time.time_ns()
        partition = self.partition_for(user)
        message_key, value = f"user:{user}".encode(), encode(order)
        ack = {"order_id": order["id"], "status": "accepted", "partition": partition, "ts_ns": order["ts_ns"]}
        if fp is not None and self._atomic:
            try:
                state, answer = await self._idempotency.claim_and_append(
                    key, fp, orjson.dumps(ack), self._appender.stream(partition), message_key, value)
            except RedisUnavailable as exc:
                raise _Unavailable(f"the log and idempotency store (Redis) did not answer: {exc}") from exc
            if state is not Claim.NEW:
                return self._repeat(key, state, answer)
            metrics.appended(partition)
            return Outcome(201, ack)
        if fp is not None:
            try:
                state, answer = await self._idempotency.claim(key, fp)
            except RedisUnavailable as exc:
                raise _Unavailable(f"the idempotency store (Redis) did not answer: {exc}") from exc
            if state is not Claim.NEW:
                return self._repeat(key, state, answer)
        try:
            await self._appender.append(partition, message_key, value)
        except LogUnavailable as exc:
            if fp is not None and not exc.maybe_stored:
                await self._release(key, fp)
            # else the key stays claimed: a retry gets 409 until the in-flight TTL, never a
            # second copy of an order the log may still store
            raise _Unavailable(str(exc)) from exc
        # (Cancelled -- the client went away -- the order may or may not be stored: the claim is
        # kept, and frees itself after the in-flight TTL.)
        metrics.appended(partition)
        if fp is not None:
            # Not awaited: the order is in the log, so it is accepted whatever Redis answers (if
            # the answer is not stored, the key stays claimed: 409 until the in-flight TTL).
            self._idempotency.complete(key, fp, orjson.dumps(ack))
        return Outcome(201, ack)

    async def submit_many(self, orders: list[dict], keys: list[str] | None = None) -> list[Outcome]:
        """`submit` for a batch of checked orders (a SubmitMany stream), the i-th with keys[i]:
        one limiter call, one claim script, the appends in flight together and one complete
        script for the whole batch, so that a stream's per-order cost is its orders' work."""
        try:
            return await self._submit_many(orders, keys)
        except _Unavailable as exc:
            return [_error(503, str(exc)) for _ in orders]

    async def _submit_many(self, orders: list[dict], keys: list[str] | None) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(orders)
        admitted = await self._admit_many([order["user_id"] for order in orders])
        encode = self.serial.encode_order
        ready = {}  # index -> (fingerprint, partition, message key, value, ack)
        for i, order in enumerate(orders):
            user = order["user_id"]
            if not admitted[i]:
                outcomes[i] = self._limited(user)
                continue
            fp = None if keys is None else fingerprint(order)
            if not order["ts_ns"]:
                order["ts_ns"] = time.time_ns()
            partition = self.partition_for(user)
            ack = {"order_id": order["id"], "status": "accepted", "partition": partition, "ts_ns": order["ts_ns"]}
            ready[i] = (fp, partition, f"user:{user}".encode(), encode(order), ack)
        if keys is not None and ready:
            try:
                states = await self._idempotency.claim_many([keys[i] for i in ready], [ready[i][0] for i in ready])
            except RedisUnavailable as exc:
                raise _Unavailable(f"the idempotency store (Redis) did not answer: {exc}") from exc
            for i, (state, answer) in zip(list(ready), states):
                if state is not Claim.NEW:
                    outcomes[i] = self._repeat(keys[i], state, answer)
                    del ready[i]
        errors = await self._appender.append_many([(p, k, v) for _, p, k, v, _ in ready.values()])
        stored = []
        for (i, (fp, partition, _, _, ack)), error in zip(ready.items(), errors):
            if error is None:
                outcomes[i] = Outcome(201, ack)
                metrics.appended(partition)
                stored.append(i)
            else:
                outcomes[i] = _error(503, str(error))
                if fp is not None and not error.maybe_stored:
                    await self._release(keys[i], fp)
        if keys is not None:
            self._idempotency.complete_many([keys[i] for i in stored], [ready[i][0] for i in stored],
                                            [orjson.dumps(ready[i][4]) for i in stored])
        return outcomes

    def _limited(self, user: int) -> Outcome:
        return Outcome(429, {"error": f"client {user} is over its limit of {self.config.limit_rate:g} orders/s "
                                      f"(burst {self.config.limit_capacity:g})", "field": None},
                       retry_after=self._retry_after)

    async def _admit_many(self, clients: list[int]) -> list[bool]:
        if self._limiter is not None:
            return self._limiter.acquire_many(clients).tolist()
        from impls.ratelimit.redis import LimiterUnavailable
        try:
            return (await asyncio.to_thread(self._redis_limiter.acquire_many, clients)).tolist()
        except LimiterUnavailable as exc:
            raise _Unavailable(f"the rate limiter's Redis did not answer: {exc}") from exc

    @staticmethod
    def _repeat(key: str, state: Claim, answer: bytes | None) -> Outcome:
        if state is Claim.DONE:
            return Outcome(201, orjson.loads(answer), replayed=True)
        if state is Claim.IN_FLIGHT:
            return _error(409, f"a request with Idempotency-Key {key!r} is still being processed")
        return _error(422, f"Idempotency-Key {key!r} was used with a different payload")

    async def _release(self, key: str, fp: bytes) -> None:
        try:
            await self._idempotency.release(key, fp)
        except RedisUnavailable:
            pass  # the claim frees itself after the in-flight TTL


class _Unavailable(RuntimeError):
    """Redis or the log did not answer in time: 503 / UNAVAILABLE."""
