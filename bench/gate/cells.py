"""The gated call paths: one per (family, main case, tier), each a small workload.

A cell names a timed case of `bench/cases/<family>.py` and the parameters it runs at; the
probe (bench.gate.probe) prepares it with the case's own `prepare` and checks its output with
the case's own check (bench.harness.checked: against pure's output) before anything is
counted. A *loop* is one pass of the case's function over the first `calls` of the case's
inputs; every loop does the same work, so that the instructions of 11 loops minus those of 1
are ten times those of one.

Main cases, and why:
- hashring `lookup` at 1000 nodes: the figure the issue's targets are about (<= 150 ns);
- ratelimit `keyed_acquire` (the keyed limiter with 10k live str keys): its headline target.
  The case calls on the process clock; the gate passes explicit timestamps (see
  `limiter_on_explicit_clock`): on the clock, which buckets a sweep drops and which branch a
  call takes would depend on how fast valgrind runs;
- serial `proto_encode` and `proto_decode` (one order): both are headline targets, and one
  message is cheap enough to count both;
- workerpool `kernel`: process_batch over 16 orders at 25 digest rounds a message (work_us
  0.1), so that the decoder and the digest loop are both inside the count (at work_us=0 the
  rounds would not run; at 20 they would be 95 % of pure's count and hide the decoder).
The service family is left out: its tiers are these families composed, behind Redis and a
log whose round trips no instruction count can measure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: Explicit timestamps of the ratelimit cell start here: far beyond any process clock.
CLOCK0 = 1.0e9


@dataclass(frozen=True)
class Calls:
    """What a loop calls: `fn` over `inputs(loop)` (each input an argument tuple if `spread`)."""

    fn: Callable
    inputs: Callable[[int], list]
    spread: bool


def first_inputs(timed, calls: int) -> Calls:
    """Every loop: the case's function over the first `calls` of its inputs, as the case calls it."""
    inputs = list(timed.args[:calls])
    return Calls(timed.fn, lambda loop: inputs, timed.spread)


def limiter_on_explicit_clock(timed, calls: int) -> Calls:
    """KeyedLimiter.acquire(key, 1.0, now) on a limiter like the case's, with `now` given.

    The case makes its 10k keys live on the process clock; under valgrind that takes seconds,
    so some buckets are full again before the last key is made, a sweep drops them, and the
    table's layout (and so its probe lengths) would differ from run to run. Here every key is
    made live at CLOCK0 (no bucket refills in between: no sweep drops one), and loop j calls at
    CLOCK0 + 1 + j: at rate 1/s each key refills exactly the token it spent, so every loop
    takes the same branches on the same table."""
    live = timed.fn.__self__  # the case's limiter: same tier, kind, capacity, rate, max_keys
    limiter = type(live)(live.kind, live.capacity, live.rate, live.max_keys)
    for key in timed.args:
        limiter.acquire(key, 1.0, CLOCK0)
    keys = list(timed.args[:calls])
    return Calls(limiter.acquire, lambda loop: [(key, 1.0, CLOCK0 + 1 + loop) for key in keys], spread=True)


@dataclass(frozen=True)
class Cell:
    family: str
    case: str
    params: dict
    #: calls per loop (the first `calls` inputs of the case)
    calls: int
    #: (the case's checked Timed, calls) -> what each loop calls
    loop_calls: Callable = field(default=first_inputs, compare=False)

    @property
    def name(self) -> str:
        return f"{self.family}/{self.case}"


CELLS: tuple[Cell, ...] = (
    Cell("hashring", "lookup", {"nodes": 1000, "vnodes": 160}, calls=64),
    Cell("ratelimit", "keyed_acquire", {"kind": "token", "keys": 10_000, "key_type": "str"}, calls=64,
         loop_calls=limiter_on_explicit_clock),
    Cell("serial", "proto_encode", {"distinct": 1000}, calls=16),
    Cell("serial", "proto_decode", {"distinct": 1000}, calls=16),
    Cell("workerpool", "kernel", {"work_us": 0.1, "batch": 16}, calls=1),
)


def cell(family: str, case: str) -> Cell:
    for c in CELLS:
        if (c.family, c.case) == (family, case):
            return c
    known = ", ".join(c.name for c in CELLS)
    raise ValueError(f"no gated cell {family}/{case}; gated: {known}")


def tiers(family: str) -> list[str]:
    """Every tier the family declares (names only: nothing is imported)."""
    from impls import registry

    return registry.tiers(family)


@dataclass(frozen=True, order=True)
class Key:
    """One measured cell: (family, case, tier)."""

    family: str
    case: str
    tier: str

    def __str__(self) -> str:
        return f"{self.family}/{self.case}/{self.tier}"

    @classmethod
    def parse(cls, text: str) -> Key:
        parts = text.split("/")
        if len(parts) != 3:
            raise ValueError(f"a cell is family/case/tier, got {text!r}")
        cell(parts[0], parts[1])
        if parts[2] not in tiers(parts[0]):
            raise ValueError(f"{parts[2]!r} is not a tier of {parts[0]}; tiers: {', '.join(tiers(parts[0]))}")
        return cls(*parts)


def all_keys() -> list[Key]:
    """Every gated (family, case, tier), in the registry's order."""
    return [Key(c.family, c.case, tier) for c in CELLS for tier in tiers(c.family)]
