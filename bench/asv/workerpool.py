"""asv suites for the worker pool: its work kernel alone (`Kernel`), and the pool draining a real
log into the Redis sink (`Drain`). Inputs and the drain itself come from bench.cases.workerpool
(and bench.pool behind it), tiers and backends from the registry."""

import sys
import traceback

from bench import lineup, timing
from bench.backends import shared_servers
from bench.cases.workerpool import BATCH as FULL_BATCH
from bench.cases.workerpool import CASES, QUICK_BATCH, WORK_US, payloads
from impls import registry
from impls.workerpool.kernel_contract import rounds_for
from .common import impl_or_skip, impl_param, require, sized

FAMILY = "workerpool"
IMPLS = impl_param(FAMILY)
BATCH = sized(FULL_BATCH, QUICK_BATCH)  # orders per process_batch call


class Kernel:
    params = (
        IMPLS,          # tier
        list(WORK_US),  # compiled microseconds of work per message: 0 (decoding alone) and 20 (CPU-bound)
    )
    param_names = ["impl", "work_us"]
    timeout = 300  # pure at work_us=20: about 2 s a call

    def setup(self, impl, work_us):
        self.module = impl_or_skip(FAMILY, impl, roles=(lineup.TIER,)).module
        require(self.module, "process_batch")
        self.payloads, self.rounds = payloads(BATCH), rounds_for(work_us)

    def time_process_batch(self, impl, work_us):
        """process_batch over 1000 orders (~1% poison)."""
        self.module.process_batch(self.payloads, self.rounds)


#: The harness's `drain` case: its measurement (bench.pool.Drain) and its rule for which cells run.
DRAIN_CASE = next(case for case in CASES if case.name == "drain")
#: Orders per drain: 20k is under a second of draining (at 20-35k msg/s here), which keeps the
#: whole suite near 20 s on a 2-core machine.
DRAIN_MESSAGES = sized(20_000, 5_000)
DRAIN_WORKERS = 2


def _kafka_skip(tier: str, work_us: int) -> str | None:
    """Why a Kafka cell is not drained: each Kafka drain first waits out the embedded broker's
    ~3 s group join (outside the figure, inside the run's time), so only the compiled tiers
    with the trivial kernel -- the cells where the log itself, not the kernel, is the limit."""
    if tier == registry.SPEC_TIER or work_us > 0:
        return "Kafka is drained only by the compiled tiers at work_us=0 (each drain waits ~3 s for its group join)"
    return None


def _drain_cell(tier: str, backend: str, work_us: int) -> dict:
    """One drain's figures ({"throughput", "cpu_per_msg"}), or {"skip": why}."""
    try:
        impl = impl_or_skip(FAMILY, tier, roles=(lineup.TIER,))  # warmed up: Numba's load stays out of the CPU figure
    except NotImplementedError as exc:
        return {"skip": str(exc)}
    params = {"backend": backend, "workers": DRAIN_WORKERS, "work_us": work_us, "messages": DRAIN_MESSAGES,
              "repeats": 1}
    if not (DRAIN_CASE.applies(impl) and DRAIN_CASE.applies_at(impl, params)):
        return {"skip": f"the drain case does not run {tier} at {params}"}
    if backend == "kafka" and (why := _kafka_skip(tier, work_us)):
        return {"skip": why}
    # Drain.measure verifies every drain it measures and raises if one is not exactly once, so
    # no figure of a wrong drain is kept; its teardown deletes every topic and sink key it made.
    with DRAIN_CASE.prepare(impl, params) as drain:
        figures = {f.metric: f.value for f in drain.measure(timing.QUICK)}
    return {"throughput": figures["throughput"], "cpu_per_msg": figures["cpu_per_msg"]}


class Drain:
    """The pool draining 20k orders (1000 keys, 0.1% poison) from a log into the Redis sink,
    exactly once, with two workers and the tier's kernel: bench.pool.Drain produces them to a
    fresh topic (untimed), drains them in this process and verifies the effects.

    A drain is one run of a few hundred milliseconds, not a loop asv can time, so its figures
    are tracked: msg/s from the first message fetched to the last effect applied (a Kafka
    group's join is left out), and the consumer process's CPU microseconds per message -- both
    from the same drain. At 20k orders the pool's ramp-up weighs more than in the harness's 100k
    drains, so the figures run lower than results.json's: compare this history with itself.

    Every cell drains in `setup_cache`, once per asv run, in one process: asv runs each
    benchmark in a fresh process, so draining in `setup` would start the servers and drain
    twice per cell (once per metric). Here the embedded Redis (also the Redis Streams log) and
    Kafka broker -- or REDIS_URL's and KAFKA_BOOTSTRAP's -- are started once, and
    `shared_servers()` stops them when the drains end, failing or not (asv ends its benchmark
    processes with os._exit, so atexit would not). Each drain deletes the topics and sink keys
    it made. A cell that fails records its error and fails alone, in its own `setup`.

    Cells: Redis Streams for every tier at work_us=0 and the compiled tiers at 20 (pure at
    20 us spends ~2 ms a message: the drain case's own rule); Kafka for the compiled tiers at
    work_us=0 only (see `_kafka_skip`). About 20 s for the whole suite on a 2-core machine,
    two thirds of it the two Kafka drains.
    """

    params = (
        registry.tiers(FAMILY),     # the kernel's tier
        registry.backends(FAMILY),  # the log: kafka (the embedded broker), redis (Redis Streams)
        list(WORK_US),              # compiled microseconds of work per message: 0 (the pool's own cost) and 20
    )
    param_names = ["impl", "backend", "work_us"]

    def setup_cache(self):
        drains = {}
        with shared_servers():
            for tier in self.params[0]:
                for backend in self.params[1]:
                    for work_us in self.params[2]:
                        try:
                            drains[tier, backend, work_us] = _drain_cell(tier, backend, work_us)
                        except Exception as exc:  # noqa: BLE001 - reported by this cell's setup
                            traceback.print_exc(file=sys.stderr)
                            drains[tier, backend, work_us] = {"error": f"{type(exc).__name__}: {exc}"}
        return drains

    setup_cache.timeout = 300  # ~20 s here; past this asv stops the process (SIGTERM stops the servers too)

    def setup(self, drains, impl, backend, work_us):
        self.drain = drains[impl, backend, work_us]
        if "skip" in self.drain:
            raise NotImplementedError(self.drain["skip"])
        if "error" in self.drain:
            raise RuntimeError(f"the drain failed in setup_cache: {self.drain['error']}")

    def track_throughput(self, drains, impl, backend, work_us):
        """Messages per second, first fetched to last applied, exactly once."""
        return self.drain["throughput"]

    track_throughput.unit = "msg/s"

    def track_cpu_per_msg(self, drains, impl, backend, work_us):
        """The consumer process's CPU time per message (every thread, librdkafka's included)."""
        return self.drain["cpu_per_msg"]

    track_cpu_per_msg.unit = "cpu_us/msg"
