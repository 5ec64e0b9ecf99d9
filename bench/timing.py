"""The timer: median and quartiles of many repeats, per call or per item, GC off while timing;
beside each wall-clock sample, the CPU time this process spent in it (for calls that wait on a
server, the two differ: the wait is the server's and the network's, the CPU time is ours).

Like timeit, garbage collection is disabled inside a timed repeat so that a collection
triggered by an earlier cell does not land in a later one; cases that are about GC say so.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """How much time a cell may spend: `repeats` samples of at least `min_sample_s` each,
    fewer (but never fewer than `min_repeats`) when one sample alone exceeds `cell_s`/repeats."""

    repeats: int
    min_repeats: int
    min_sample_s: float
    cell_s: float


# A full run: 25 samples of >= 20 ms, about 1-3 s a cell. --quick: enough for a median.
FULL = Budget(repeats=25, min_repeats=5, min_sample_s=0.02, cell_s=3.0)
QUICK = Budget(repeats=7, min_repeats=3, min_sample_s=0.005, cell_s=0.3)


@dataclass(frozen=True)
class Timing:
    """Nanoseconds per call or per item: median, quartiles and the number of samples of the
    wall-clock time, and the median CPU time of the process over the same samples."""

    median: float
    q1: float
    q3: float
    n: int
    cpu: float | None = None

    @classmethod
    def of(cls, samples: Sequence[tuple[float, float]]) -> Timing:
        """From (wall, cpu) samples."""
        walls = [w for w, _ in samples]
        cpu = statistics.median(c for _, c in samples)
        if len(walls) == 1:
            return cls(walls[0], walls[0], walls[0], 1, cpu)
        q1, median, q3 = statistics.quantiles(walls, n=4, method="inclusive")
        return cls(median, q1, q3, len(walls), cpu)


def _gc_off(fn: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        return fn()
    finally:
        if enabled:
            gc.enable()


def _repeats_for(budget: Budget, sample_s: float) -> int:
    fitting = int(budget.cell_s / max(sample_s, 1e-9))
    return max(budget.min_repeats, min(budget.repeats, fitting))


def time_calls(fn: Callable, args: Sequence, items_per_call: int, budget: Budget, spread: bool = False) -> Timing:
    """Time `fn(a)` (or `fn(*a)` with `spread`) for every `a` in `args`; ns per item."""

    def one_pass(loops: int) -> tuple[float, float]:
        cpu_start = time.process_time_ns()
        start = time.perf_counter_ns()
        if spread:  # a separate loop, so the common case pays no per-call branch
            for _ in range(loops):
                for a in args:
                    fn(*a)
        else:
            for _ in range(loops):
                for a in args:
                    fn(a)
        wall = time.perf_counter_ns() - start
        return float(wall), float(time.process_time_ns() - cpu_start)

    # Calibrate: how many passes over `args` make one sample last at least min_sample_s.
    first = _gc_off(lambda: one_pass(1))[0] / 1e9
    loops = max(1, math.ceil(budget.min_sample_s / max(first, 1e-9)))
    per_item = loops * len(args) * items_per_call
    repeats = _repeats_for(budget, first * loops)
    samples = [_gc_off(lambda: one_pass(loops)) for _ in range(repeats)]
    return Timing.of([(wall / per_item, cpu / per_item) for wall, cpu in samples])


def time_each(fn: Callable, arg: object, undo: Callable[[], object], budget: Budget, items_per_call: int = 1) -> Timing:
    """Time single calls of `fn(arg)` that change state; `undo()` restores it, untimed.
    Result in ns per item (items_per_call per call)."""

    def one_call() -> tuple[float, float]:
        cpu_start = time.process_time_ns()
        start = time.perf_counter_ns()
        fn(arg)
        elapsed = time.perf_counter_ns() - start
        cpu = time.process_time_ns() - cpu_start
        undo()
        return float(elapsed) / items_per_call, float(cpu) / items_per_call

    first = _gc_off(one_call)[0] * items_per_call / 1e9
    # One call a sample: allow more samples than a looped timing, since each is noisier.
    repeats = _repeats_for(budget, first) * 2
    return Timing.of([_gc_off(one_call) for _ in range(repeats)])


def loop_overhead_ns(budget: Budget) -> float:
    """What the timing loop itself costs per call (a no-op call), included in per-call figures."""
    noop = lambda _: None  # noqa: E731
    return time_calls(noop, range(1000), 1, budget).median
