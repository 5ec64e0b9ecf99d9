"""What a measurement is: set up, give an output to check, measure, always tear down.

A case prepares one `Measurement` per (implementation, parameters). It is a context manager:

    with measurement:                 # set-up: threads, servers, connections (`setup`)
        measurement.output()          # checked against the reference before anything is measured
        measurement.measure(budget)   # -> list[Figure]
                                      # leaving the block tears down, on failure and Ctrl-C too

Teardown is registered as it is acquired (`callback`, `enter_context`: an ExitStack inside), so
a set-up that fails halfway releases exactly what it had taken. A case whose set-up needs
resources before the measurement object exists may instead prepare with a generator
(`contextlib.contextmanager`) that yields the measurement; bench.harness.measuring enters both.

Kinds here: `Timed` (median and quartiles of repeated calls, with the process's CPU time beside
the wall time), `Figures` (non-time metrics computed once: balance, moved keys, server time) and
`MemoryProbe` (run by bench.memory in a subprocess of its own under memray). The worker pool's
throughput and the service's load are further subclasses: they start their threads or processes
in `setup` and stop them through the stack.

Every figure says which way is better (`better`): summary, targets, compare and the gate read
it instead of assuming that lower is.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from bench.timing import Budget, Timing, time_calls, time_each

LOWER, HIGHER = "lower", "higher"


@dataclass(frozen=True)
class Figure:
    """One measured figure. Timings carry quartiles and the sample count; a distribution
    (latencies) carries `percentiles` ({"p50": ..., "p99": ...}, in `unit`); `cpu` is the CPU
    time of the measured process in the same unit, beside the wall-clock `value`."""

    metric: str
    unit: str
    value: float
    better: str = LOWER
    q1: float | None = None
    q3: float | None = None
    n: int | None = None
    percentiles: dict[str, float] | None = None
    cpu: float | None = None

    def fields(self) -> dict:
        """The results.json fields of this figure (those that are set)."""
        out = {"metric": self.metric, "unit": self.unit, "value": self.value, "better": self.better}
        for name in ("q1", "q3", "n", "percentiles", "cpu"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def percentiles(samples: Sequence[float], points: Sequence[int] = (50, 90, 99)) -> dict[str, float]:
    """{"p50": ..., "p90": ..., "p99": ...} of `samples` (a Figure's distribution)."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {f"p{p}": cuts[p - 1] for p in points}


class Measurement:
    """Base of every measurement: an ExitStack for teardown, `setup` on entry."""

    def __enter__(self):
        self._stack = ExitStack()
        self._stack.__enter__()
        try:
            self.setup()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info) -> bool:
        return self._stack.__exit__(*exc_info)

    def setup(self) -> None:
        """Start what the measurement needs; register each teardown with `callback`."""

    def callback(self, fn: Callable, *args, **kwargs) -> None:
        """Run `fn(*args, **kwargs)` at teardown (last registered, first run)."""
        self._teardown_stack().callback(fn, *args, **kwargs)

    def enter_context(self, manager):
        """Enter `manager` now and exit it at teardown; returns what it yields."""
        return self._teardown_stack().enter_context(manager)

    def _teardown_stack(self) -> ExitStack:
        stack = getattr(self, "_stack", None)
        if stack is None:
            raise RuntimeError(f"{type(self).__name__} used outside its `with` block")
        return stack

    def output(self) -> Any:
        """What is compared with the reference (or checked by the case's invariant)."""
        return None

    def measure(self, budget: Budget) -> list[Figure]:
        raise NotImplementedError


@dataclass
class Timed(Measurement):
    """Calls `fn(a)` for each `a` in `args` (`fn(*a)` with `spread`, so that a function of
    several arguments is timed without a wrapper frame); per-item figures divide by
    `items_per_call`.

    With `undo`, each sample is a single call `fn(args[0])` followed by an untimed `undo()`
    (for operations that change state, such as adding a node).
    `output()` is what is compared with the reference before anything is timed.
    """

    fn: Callable
    args: Sequence
    output: Callable[[], Any]
    items_per_call: int = 1
    undo: Callable[[], Any] | None = None
    spread: bool = False
    #: ns per call or per item: the case's unit (bench.harness.measuring sets it)
    unit: str | None = None

    def call_once(self, arg) -> Any:
        return self.fn(*arg) if self.spread else self.fn(arg)

    def measure(self, budget: Budget) -> list[Figure]:
        return [self.figure(self.timing(budget))]

    def timing(self, budget: Budget) -> Timing:
        if self.undo is not None:
            self.fn(self.args[0])  # warm-up call, then put things back
            self.undo()
            return time_each(self.fn, self.args[0], self.undo, budget, self.items_per_call)
        for a in self.args[: max(1, min(len(self.args), 100))]:
            self.call_once(a)  # warm-up pass over (part of) the inputs
        return time_calls(self.fn, self.args, self.items_per_call, budget, spread=self.spread)

    def figure(self, timing: Timing) -> Figure:
        return Figure("time", self.unit, timing.median, LOWER, q1=timing.q1, q3=timing.q3, n=timing.n,
                      cpu=timing.cpu)


@dataclass
class Figures(Measurement):
    """Non-time figures computed once by `compute()`; the figures themselves are the output
    checked against the reference (or by the case's invariant)."""

    compute: Callable[[], list[Figure]]
    _figures: list[Figure] | None = field(default=None, init=False, repr=False)

    def output(self) -> list[Figure]:
        if self._figures is None:
            self._figures = list(self.compute())
        return self._figures

    def measure(self, budget: Budget) -> list[Figure]:
        return self.output()


@dataclass
class MemoryProbe(Measurement):
    """`build()` runs under memray (bench.memory, a subprocess per implementation); everything
    it returns is kept alive until tracking stops."""

    build: Callable[[], Any]
