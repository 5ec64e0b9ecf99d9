"""Every knob of a running gateway, with the defaults `python -m bench serve` uses."""

from __future__ import annotations

from dataclasses import dataclass

#: The topic the gateway appends to (Kafka topics of the lab start with "lab.").
DEFAULT_TOPIC = "lab.orders"
#: Largest request body accepted (413 beyond): an order is ~100 bytes; a SubmitMany message too.
MAX_BODY_BYTES = 64 * 1024
LIMIT_MODES = ("local", "redis")


@dataclass(frozen=True)
class GatewayConfig:
    impl: str                       # the tier of every hot path (serial, ratelimit, hashring)
    backend: str                    # the log: "kafka" or "redis"
    log_url: str                    # Kafka bootstrap "host:port" or redis://...
    redis_url: str                  # idempotency keys (and the Redis limiter)
    topic: str = DEFAULT_TOPIC
    partitions: int = 8
    vnodes: int = 160               # virtual nodes per partition on the ring
    limit: str = "local"            # "local": the tier's KeyedLimiter; "redis": the Redis tier, shared
    limit_capacity: float = 50.0    # burst per client
    limit_rate: float = 100.0       # orders per second per client, sustained
    idempotency_ttl_s: float = 24 * 3600.0  # how long a completed key replays its answer
    in_flight_ttl_s: float = 30.0   # a claimed key whose request never finished frees itself after this
    timeout_s: float = 2.0          # a Redis or log call that takes longer -> 503 / UNAVAILABLE
    max_body: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.limit not in LIMIT_MODES:
            raise ValueError(f"limit must be one of {', '.join(LIMIT_MODES)}, got {self.limit!r}")
        if self.partitions < 1 or self.limit_capacity <= 0 or self.limit_rate <= 0 or self.timeout_s <= 0:
            raise ValueError(f"partitions >= 1 and positive limit and timeout, got {self}")
