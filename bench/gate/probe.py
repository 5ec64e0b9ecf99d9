"""The gate's child process: `python -m bench.gate.probe <family> <case> <tier> <mode> ...`.

Imports the tier, warms it up (Numba: compiled, or loaded from its cache), prepares the case
with the case's own `prepare` and checks its output against pure (bench.harness.checked);
nothing is counted or timed before that check passes. Then, by mode:

- `count` (under callgrind, started with instrumentation off): runs `--warmup` loops, turns
  instrumentation on and dumps callgrind's counters around 1 loop and then around 11 loops
  (bench.gate.callgrind reads the two dumps). Each dump ends one region and starts the next,
  so both regions carry the same few instructions of the dump call itself, and subtracting
  them leaves exactly ten loops;
- `wall`: `--samples` wall-clock samples of about `--sample-ms` each, in ns per call;
- `prime`: stops after the check (fills the Numba cache outside valgrind, where compiling is
  50 times faster).

Prints one JSON line on stdout. `--tree DIR` imports `impls` from another work tree (the wall
comparison's base) while this tree's cases prepare the inputs. Garbage collection is off
while loops run, as in the lab's timer: a collection lands where allocation counts say, not
where the work is.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import hashlib
import itertools
import json
import math
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from bench.gate.cells import Calls, cell

#: Counted regions: 1 loop, then 11 (their difference is ten loops).
COUNT_LOOPS = (1, 11)
EXIT_CHECK_FAILED = 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.gate.probe")
    p.add_argument("family")
    p.add_argument("case")
    p.add_argument("tier")
    p.add_argument("mode", choices=("count", "wall", "prime"))
    p.add_argument("--warmup", type=int, default=20, help="untimed, uncounted loops first")
    p.add_argument("--control", type=Path, help="count: the callgrind control library (bench.gate.callgrind)")
    p.add_argument("--sample-ms", type=float, default=20.0, help="wall: the length of one sample")
    p.add_argument("--samples", type=int, default=5, help="wall: samples")
    p.add_argument("--tree", type=Path, help="import impls from this work tree")
    return p


class Runner:
    """A cell's loops, each driven from C (a deque consuming map or starmap) so that what is
    counted is the callee, not the bytecodes of a Python loop around it. Inputs are made
    before the loops that use them run, never inside a counted or timed region."""

    def __init__(self, calls: Calls):
        self.calls = calls
        self._inputs: dict[int, list] = {}

    def prepare(self, loops: range) -> None:
        for j in loops:
            if j not in self._inputs:
                self._inputs[j] = self.calls.inputs(j)

    def run(self, loops: range) -> None:
        fn, drive = self.calls.fn, itertools.starmap if self.calls.spread else map
        for j in loops:
            deque(drive(fn, self._inputs[j]), maxlen=0)

    def release(self, loops: range) -> None:
        """Drop the inputs of loops that have run (outside any timed region)."""
        for j in loops:
            self._inputs.pop(j, None)


@contextlib.contextmanager
def checked_runner(family: str, case_name: str, tier: str) -> Iterator[tuple[Runner, int]]:
    """(runner, calls per loop) of the cell, set up and checked against pure; torn down after."""
    from bench import harness, lineup
    from bench.cases import cases

    gated = cell(family, case_name)
    case = next(c for c in cases(family) if c.name == case_name)
    impl = lineup.get(family, tier)
    impl.warmup()
    try:
        with harness.checked(case, impl, gated.params) as measurement:
            yield Runner(gated.loop_calls(measurement, gated.calls)), gated.calls
    except harness.CheckFailed as exc:
        print(f"check failed, nothing counted: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CHECK_FAILED) from None


def inputs_digest(runner: Runner) -> str:
    """A fingerprint of the first loop's inputs: the baseline keeps it, so that a count made on
    other inputs (a case whose inputs were changed) is never compared with this one."""
    return hashlib.sha256(repr(runner.calls.inputs(0)).encode()).hexdigest()[:16]


def _count(runner: Runner, warmup: int, control_path: Path) -> dict:
    control = ctypes.CDLL(str(control_path))
    if not control.gate_on_valgrind():
        raise SystemExit("count mode runs under valgrind (bench.gate.callgrind starts it)")
    runner.prepare(range(warmup + sum(COUNT_LOOPS)))
    runner.run(range(warmup))
    gc.collect()
    gc.disable()
    control.gate_start()
    control.gate_dump(b"start")
    start = warmup
    for loops in COUNT_LOOPS:
        runner.run(range(start, start + loops))
        control.gate_dump(f"loops={loops}".encode())
        start += loops
    control.gate_stop()  # the interpreter's exit need not run 50x slower
    return {"regions": list(COUNT_LOOPS)}


def _timed(runner: Runner, loops: range) -> float:
    runner.prepare(loops)
    begin = time.perf_counter_ns()
    runner.run(loops)
    elapsed = time.perf_counter_ns() - begin
    runner.release(loops)
    return float(elapsed)


def _wall(runner: Runner, calls: int, warmup: int, sample_ms: float, samples: int) -> dict:
    runner.prepare(range(warmup))
    runner.run(range(warmup))
    gc.collect()
    gc.disable()
    one = max(_timed(runner, range(warmup, warmup + 1)), 1.0)
    loops = max(1, math.ceil(sample_ms * 1e6 / one))
    first = warmup + 1
    ns_per_call = []
    for _ in range(samples):
        ns_per_call.append(_timed(runner, range(first, first + loops)) / (loops * calls))
        first += loops
    return {"ns_per_call": ns_per_call, "loops_per_sample": loops}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.tree is not None:
        sys.path.insert(0, str(args.tree.resolve()))
    if args.mode == "count" and args.control is None:
        raise SystemExit("count mode needs --control")
    with checked_runner(args.family, args.case, args.tier) as (runner, calls):
        out = {"cell": f"{args.family}/{args.case}/{args.tier}", "checked": True, "calls_per_loop": calls,
               "inputs": inputs_digest(runner)}
        if args.mode == "count":
            out |= _count(runner, args.warmup, args.control)
        elif args.mode == "wall":
            out |= _wall(runner, calls, args.warmup, args.sample_ms, args.samples)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
