"""A worker pool draining a real log (Kafka, Redis Streams) with backpressure, per-key order and
exactly-once effects in Redis. Built in rooms of one idea each: `pool` (the fetcher, workers and
committer), `offsets` (what may be committed), `flow` (backpressure), `lanes` (per-key order),
`sink` (effects exactly once, fenced), `log` (the logs' interface) with `log_kafka` and
`log_redis` (+ `log_redis_topic`, `log_redis_leases`), the family's backends.

The per-message work is a kernel in the tiers pure, cython and numba: `process_batch(payloads,
rounds)` decodes a batch of protobuf Orders and computes each one's effect (user, position
change, a CPU-bound digest of `rounds` rounds; `rounds_for(work_us)` converts) and status (OK,
POISON, MALFORMED) as `Effects`. The compiled tiers release the GIL for the rounds, so worker
threads run in parallel. The name `process_batch` comes from the tier
`impls.registry.preferred("workerpool")` picks: LAB_IMPL if set, else the first that loads of
cython, numba, pure; `TIER` says which one it is. The contract is in `kernel_contract`, the
specification in `pure`.
"""

from impls import registry as _registry
from impls.workerpool.kernel_contract import MALFORMED, OK, POISON, ROUNDS_PER_US, Effects, rounds_for

TIER: str = _registry.preferred("workerpool")
_impl = _registry.load("workerpool", TIER)

process_batch = _impl.process_batch

__all__ = ["TIER", "process_batch", "Effects", "OK", "POISON", "MALFORMED", "ROUNDS_PER_US", "rounds_for"]
