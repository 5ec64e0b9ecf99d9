"""The worker pool's figures beyond throughput (issue 8, section 5), each a measurement of
bench/cases/workerpool.py on the run's shared servers, in fresh topics deleted at teardown:

* `Latency` -- produce-to-effect latency with a paced producer (another process: its CPU is not
  the consumer's), beside the floor under it (a Redis round trip, measured in the same run);
* `SlowSinkMemory` -- the consumer's heap while a producer outruns a sink ten times slower
  (under memray, bench.memory): the backlog stays in the log, the pool holds up to its
  watermarks, so 100k and 1M messages peak alike;
* `Recovery` -- consumer processes as a person runs them: one killed with SIGKILL holding ~100k
  messages fetched and not applied, restarted under its name (time until it applies again,
  start-up beside), then ended with SIGTERM at full speed (time to exit), and the rest drained
  by a third: `verify` must pass;
* `DeadLetterCost` -- two drains of one workload, without and with poison, and the CPU the
  dead-letter path costs per poison message.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import threading
import time

from bench.measurement import HIGHER, LOWER, Figure, percentiles
from bench.pool import Drain, PoolMeasurement, Workload, consume, produce, sink_name, verify

PARTITIONS, KEYS = 4, 1000
#: seconds a step may take before the measurement gives up (a consumer that never joins, say)
STEP_TIMEOUT_S = 90.0


def _config(workers: int = 2, **more):
    from impls.workerpool.pool import PoolConfig

    return PoolConfig(workers=workers, idle_exit_s=None, drain_timeout_s=2.0, **more)


def _produce_paced(backend: str, url: str, topic: str, workload: Workload, rate: float) -> float:
    """`python -m bench pool produce --rate` into the existing topic, in a process of its own;
    returns the rate it kept (it prints it)."""
    cmd = [sys.executable, "-m", "bench", "pool", "produce", "--backend", backend, "--url", url, "--topic", topic,
           "--count", str(workload.count), "--keys", str(workload.keys), "--partitions", str(PARTITIONS),
           "--rate", str(rate), "--append"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=workload.count / rate * 3 + STEP_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"the paced producer failed:\n{done.stderr[-2000:]}")
    found = re.search(r"\(([\d,.]+) msg/s\)", done.stderr)
    return float(found.group(1).replace(",", "")) if found else float("nan")


class _Background:
    """A consumer on a thread of this process -- `consume` (the pool), or `run(stop, watch)` --
    stopped and joined at the measurement's end."""

    def __init__(self, measurement: PoolMeasurement, run=None, **consume_args):
        self.stop, self.owning = threading.Event(), threading.Event()
        self.result: dict = {}
        watch = consume_args.pop("watch", None)

        def watching(stats, in_flight):
            if stats.partitions_owned:
                self.owning.set()
            if watch is not None:
                watch(stats, in_flight)

        def body():
            try:
                if run is not None:
                    self.result["stats"] = run(self.stop, watching)
                else:
                    self.result["stats"] = consume(**consume_args, stop=self.stop, progress=None, watch=watching)
            except BaseException as exc:  # noqa: BLE001 - handed to the measuring thread
                self.result["error"] = exc
                self.owning.set()

        self.thread = threading.Thread(target=body, name="lab-bench-consumer", daemon=True)
        self.thread.start()
        measurement.callback(self.join)

    def wait_owning(self) -> None:
        if not self.owning.wait(STEP_TIMEOUT_S) or "error" in self.result:
            raise RuntimeError(f"the consumer did not join its group: {self.result.get('error')!r}")

    def join(self):
        self.stop.set()
        self.thread.join(STEP_TIMEOUT_S)
        if "error" in self.result:
            raise RuntimeError(f"the consumer failed: {self.result['error']!r}") from self.result["error"]
        return self.result.get("stats")


def _ping_floor_us(redis_url: str, calls: int = 1000) -> float:
    """Median PING round trip on the sink's Redis: the floor under every hop of a message."""
    from impls.ratelimit.redis import connect

    client = connect(redis_url, timeout=5.0)
    try:
        samples = []
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            client.ping()
            samples.append(time.perf_counter_ns() - t0)
        return statistics.median(samples) / 1e3
    finally:
        client.close()


# --- latency ---------------------------------------------------------------------------------------

class Latency(PoolMeasurement):
    """A producer process paced at `rate` msg/s stamps each order with its produce time; the
    pool, in this process, notes when each one's effect was applied (WorkerPool's `applied`
    hook, on the worker, after the sink answered). Latency = applied - produced, per message.
    A baseline (`peer`: the bare consume loop) notes when it consumed each message instead: the
    floor the broker and the client leave under any consumer."""

    def __init__(self, backend: str, impl: str, rate: float, seconds: float, workers: int = 2, peer=None):
        self.backend, self.impl, self.rate, self.seconds, self.workers = backend, impl, rate, seconds, workers
        self.peer = peer

    def _run(self, rate: float, seconds: float) -> dict:
        from impls.serial import decode_order
        from impls.workerpool import log

        url, redis_url = self.urls(self.backend)
        topic, group = self.fresh("latency")
        workload = Workload(int(rate * seconds), KEYS)
        log.create_topic(self.backend, url, topic, PARTITIONS)
        latencies_ns: list[int] = []
        drained = threading.Event()

        def stamped(values):  # decoding the stamp costs ~1 us a message
            now = time.time_ns()
            latencies_ns.extend(now - decode_order(v)["ts_ns"] for v in values)

        def watch(stats, in_flight):
            if stats.applied >= workload.count:
                drained.set()

        if self.peer is None:
            consumer = _Background(self, backend=self.backend, url=url, redis_url=redis_url, topic=topic,
                                   group=group, impl=self.impl, config=_config(self.workers), watch=watch,
                                   applied=lambda messages: stamped([m.value for m in messages]))
        else:
            consumer = _Background(self, run=lambda stop, watching: self.peer.drain(
                self.backend, url, redis_url, topic, group, self.workers, 0, stop, watching, seen=stamped),
                watch=watch)
        consumer.wait_owning()
        offered = _produce_paced(self.backend, url, topic, workload, rate)
        if not drained.wait(STEP_TIMEOUT_S):
            raise RuntimeError(f"the paced stream was not drained: {len(latencies_ns)} of {workload.count}")
        consumer.join()
        if self.peer is not None:
            report = {"ok": len(latencies_ns) >= workload.count, "consumed": len(latencies_ns)}
        else:
            report = verify(self.backend, url, redis_url, topic, group, workload)
        return {"latencies_ms": [n / 1e6 for n in latencies_ns], "offered": offered, "report": report,
                "redis_url": redis_url}

    def output(self) -> dict:
        return self._run(2_000, 1.0)["report"]

    def measure(self, budget) -> list[Figure]:
        run = self._run(self.rate, self.seconds)
        if not run["report"]["ok"]:
            raise RuntimeError(f"the paced drain did not verify: {run['report']}")
        ms = run["latencies_ms"]
        spread = {**percentiles(ms, (50, 90, 99)), "p100": max(ms)}
        return [Figure("latency_p99", "ms", spread["p99"], LOWER, n=len(ms), percentiles=spread),
                Figure("latency_p50", "ms", spread["p50"], LOWER, n=len(ms)),
                Figure("offered_rate", "msg/s", run["offered"], HIGHER),
                Figure("redis_rtt_floor", "us", _ping_floor_us(run["redis_url"]), LOWER)]


# --- memory with a slow sink -----------------------------------------------------------------------

class SlowSink:
    """A measuring device around the real sink: every batch takes at least len(batch) / rate
    seconds (the sink's work is done, then the rest of that time is slept), everything else is
    the sink's own."""

    def __init__(self, sink, rate: float):
        self._sink, self._rate = sink, rate

    def apply(self, effects, epochs):
        started = time.monotonic()
        result = self._sink.apply(effects, epochs)
        left = len(effects) / self._rate - (time.monotonic() - started)
        if left > 0:
            time.sleep(left)
        return result

    def __getattr__(self, name):
        return getattr(self._sink, name)


class SlowSinkMemory(PoolMeasurement):
    """`build()` (run under memray by bench.memory) drains while a producer process writes
    `messages` at `rate` msg/s and the sink applies at rate / `slowdown`: it stops when the
    producer is done. Memory held must not grow with the backlog."""

    def __init__(self, backend: str, impl: str, messages: int, rate: float, slowdown: float = 10.0):
        self.backend, self.impl, self.messages, self.rate, self.slowdown = backend, impl, messages, rate, slowdown

    def build(self) -> None:
        from impls.workerpool import log

        url, redis_url = self.urls(self.backend)
        topic, group = self.fresh("slowsink")
        log.create_topic(self.backend, url, topic, PARTITIONS)
        consumer = _Background(self, backend=self.backend, url=url, redis_url=redis_url, topic=topic, group=group,
                               impl=self.impl, config=_config(),
                               sink_wrapper=lambda sink: SlowSink(sink, self.rate / self.slowdown))
        consumer.wait_owning()
        _produce_paced(self.backend, url, topic, Workload(self.messages, KEYS), self.rate)
        stats = consumer.join()
        if stats is None or stats.applied == 0:
            raise RuntimeError("the slow sink applied nothing")
        return None


# --- recovery and shutdown -------------------------------------------------------------------------

class ConsumerProcess:
    """`python -m bench pool consume` as a person runs it; its stderr lines are read as they
    come (the "consuming" line, the progress lines with what it fetched)."""

    def __init__(self, setup: dict, name: str, *extra: str):
        cmd = [sys.executable, "-m", "bench", "pool", "consume", "--backend", setup["backend"], "--url", setup["url"],
               "--redis-url", setup["redis_url"], "--topic", setup["topic"], "--group", setup["group"],
               "--name", name, *extra]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.ready_at: float | None = None
        self.fetched = 0
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            if self.ready_at is None and ": consuming " in line:
                self.ready_at = time.perf_counter()
            found = re.match(r"fetched ([\d,]+)", line)
            if found:
                self.fetched = int(found.group(1).replace(",", ""))

    def wait_for(self, condition, what: str, timeout: float = STEP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the consumer exited ({self.proc.returncode}) before {what}:\n"
                                   + "".join(self.lines[-20:]))
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {what} within {timeout} s:\n" + "".join(self.lines[-20:]))
            time.sleep(0.005)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(5)


class Recovery(PoolMeasurement):
    """kill -9 with `holding` messages fetched and not applied, restart under the same name, then
    SIGTERM at full speed; a third consumer finishes and `verify` judges the whole."""

    def __init__(self, backend: str, impl: str, messages: int, holding: int):
        self.backend, self.impl, self.messages, self.holding = backend, impl, messages, holding

    def _start(self, setup: dict, name: str, *extra: str) -> ConsumerProcess:
        consumer = ConsumerProcess(setup, name, "--impl", self.impl, *extra)
        self.callback(consumer.stop)
        return consumer

    def _run(self, messages: int, holding: int) -> dict:
        from impls.ratelimit.redis import connect
        from impls.workerpool.sink import RedisSink

        url, redis_url = self.urls(self.backend)
        topic, group = self.fresh("recovery")
        setup = {"backend": self.backend, "url": url, "redis_url": redis_url, "topic": topic, "group": group}
        workload = Workload(messages, KEYS, poison_rate=0.001)
        produce(self.backend, url, topic, workload, PARTITIONS, progress=None)
        client = connect(redis_url, timeout=5.0)
        self.callback(client.close)
        sink = RedisSink(client, sink_name(topic, group))

        def done() -> int:
            s = sink.stats()
            return s.get("applied", 0) + s.get("redelivered", 0) + s.get("dead_lettered", 0)

        # 1. A slow consumer (one worker, 200 us a message) that fetches far ahead, killed.
        slow = self._start(setup, "a", "--workers", "1", "--work-us", "200", "--max-buffered-messages",
                           str(holding * 2), "--max-buffered-bytes", str(1 << 30))
        slow.wait_for(lambda: slow.fetched >= holding, f"{holding:,} fetched")
        killed_at = time.perf_counter()
        slow.stop()
        before = done()
        held = slow.fetched - before
        # 2. Restarted under its name: until it applies again (a redelivery deduped counts).
        again = self._start(setup, "a", "--workers", "2")
        again.wait_for(lambda: done() > before, "an effect after the restart")
        resumed_at = time.perf_counter()
        ready_at = again.ready_at or resumed_at
        # 3. SIGTERM at full speed, once it is well under way.
        again.wait_for(lambda: done() >= before + min(20_000, (messages - before) // 4), "progress after the restart")
        termed_at = time.perf_counter()
        again.proc.terminate()
        code = again.proc.wait(STEP_TIMEOUT_S)
        exited_at = time.perf_counter()
        if code != 0:
            raise RuntimeError(f"the consumer did not exit cleanly on SIGTERM ({code}):\n" + "".join(again.lines[-20:]))
        # 4. The rest, and the verdict.
        rest = self._start(setup, "b", "--idle-exit", "2")
        if rest.proc.wait(STEP_TIMEOUT_S * 2) != 0:
            raise RuntimeError("the last consumer failed:\n" + "".join(rest.lines[-20:]))
        report = verify(self.backend, url, redis_url, topic, group, workload)
        return {"report": report, "recovery_s": resumed_at - killed_at, "startup_s": ready_at - killed_at,
                "exit_s": exited_at - termed_at, "held": held}

    def output(self) -> dict:
        return self._run(4_000, 2_000)["report"]

    def measure(self, budget) -> list[Figure]:
        run = self._run(self.messages, self.holding)
        if not run["report"]["ok"]:
            raise RuntimeError(f"the kill/restart/SIGTERM sequence did not verify: {run['report']}")
        return [Figure("recovery_time", "s", run["recovery_s"], LOWER),
                Figure("restart_startup", "s", run["startup_s"], LOWER),
                Figure("sigterm_exit", "s", run["exit_s"], LOWER),
                Figure("held_at_kill", "messages", run["held"], HIGHER),
                Figure("redelivered", "messages", run["report"]["redelivered"], LOWER)]


# --- the dead-letter path's cost -------------------------------------------------------------------

class DeadLetterCost(Drain):
    """Two drains of the same size, without poison and with `poison_rate`: the extra CPU per
    dead-lettered message (its retries with backoff, the DLQ write, its record in the sink), and
    the throughput of both."""

    def __init__(self, backend: str, impl: str, messages: int, poison_rate: float, repeats: int):
        super().__init__(backend, impl, 2, 0.0, Workload(messages, KEYS, poison_rate), PARTITIONS, repeats)
        self.clean = Workload(messages, KEYS)

    def measure(self, budget) -> list[Figure]:
        pairs = [(self._drain_once(self.clean, "clean"), self._drain_once(self.workload, "poison"))
                 for _ in range(self.repeats)]
        bad = [r["report"] for pair in pairs for r in pair if not r["report"]["ok"]]
        if bad:
            raise RuntimeError(f"a drain did not verify: {bad[0]}")
        per_dead = statistics.median((p["cpu_s"] - c["cpu_s"]) / p["report"]["poison"] * 1e6 for c, p in pairs)
        return [Figure("cpu_per_dead_letter", "cpu_us", per_dead, LOWER),
                Figure("throughput_clean", "msg/s", statistics.median(c["messages"] / c["seconds"] for c, _ in pairs),
                       HIGHER),
                Figure("throughput_poisoned", "msg/s",
                       statistics.median(p["messages"] / p["seconds"] for _, p in pairs), HIGHER)]
