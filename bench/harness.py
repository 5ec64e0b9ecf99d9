"""The harness behind `python -m bench run` and `mem`: every (family, case, params, impl) cell
is set up, checked, measured and torn down, and becomes results.json records.

Order of work in a cell, and why:
1. the case's reference is computed once per parameter set (by default from the spec tier,
   pure), separately from any implementation's measurement -- pure is the specification, not
   a column that has to be measured for the others to be checked;
2. each implementation's measurement is set up (`measuring`: a context manager that always
   tears down, on failure and Ctrl-C too) and its output checked: against the reference, by
   the case's invariant, or (peers) by the case's plausibility check -- nothing wrong is timed;
3. the measurement warms up and measures; start-up (import, Numba compilation) was measured
   before, in fresh subprocesses, as its own figure (bench.startup);
4. its figures become records carrying their direction (`better`), quartiles, distributions
   and CPU time where the measurement gives them.

A cell that fails (a wrong output, an exception) is reported and the run goes on; Ctrl-C stops
the run after the current cell's teardown. Shared servers (the lab's Redis) live for the run
and are stopped when it ends (bench.backends.shared_servers).
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from impls import registry

from bench import lineup, memory, startup
from bench.backends import shared_servers
from bench.cases import Case, cases
from bench.cases.base import FROM_SPEC, NO_REFERENCE
from bench.lineup import Impl
from bench.measurement import Figure, Measurement, Timed
from bench.timing import FULL, QUICK, Budget, loop_overhead_ns


@dataclass
class Outcome:
    records: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    loop_overhead_ns: float = 0.0


class CheckFailed(AssertionError):
    """An implementation's output failed its check: it is not measured."""


class Progress:
    """One line per finished cell on stderr: `[ 12/86] family case impl params -> figure`."""

    def __init__(self, total: int, stream: TextIO = sys.stderr):
        self.total, self.done, self.stream = total, 0, stream
        self.started = time.monotonic()

    def step(self, label: str, figure: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        width = len(str(self.total))
        self.stream.write(f"[{self.done:>{width}}/{self.total}] {elapsed:6.1f}s  {label:<58} {figure}\n")
        self.stream.flush()


def _label(case: Case, impl: str, params: dict) -> str:
    shown = " ".join(f"{k}={v}" for k, v in params.items())
    return f"{case.family} {case.name:<12} {impl:<15} {shown}"


def record(case: Case, impl: Impl, params: dict, figure: Figure) -> dict:
    """A results.json record (schema 2) of one figure."""
    return {"family": case.family, "case": case.name, "impl": impl.name, "role": impl.role, "params": params,
            **figure.fields()}


# --- one cell ------------------------------------------------------------------------------------

@contextlib.contextmanager
def measuring(case: Case, impl: Impl, params: dict) -> Iterator[Measurement]:
    """The case's measurement of `impl` at `params`, set up; whatever it (or the case's
    generator) set up is torn down when the block is left, however it is left."""
    with contextlib.ExitStack() as stack:
        prepared = case.prepare(impl, params)
        if not isinstance(prepared, Measurement):  # a generator that sets up and yields one
            prepared = stack.enter_context(prepared)
        if isinstance(prepared, Timed) and prepared.unit is None:
            prepared.unit = case.unit
        yield stack.enter_context(prepared)


def reference_for(case: Case, params: dict):
    """The case's reference output at `params`: the spec tier's by default (set up and torn
    down for this alone), or what the case computes; NO_REFERENCE where the case has none."""
    if case.reference is None:
        return NO_REFERENCE
    if case.reference is not FROM_SPEC:
        return case.reference(params)
    with measuring(case, lineup.spec(case.family), params) as reference:
        return reference.output()


@contextlib.contextmanager
def checked(case: Case, impl: Impl, params: dict, reference=NO_REFERENCE) -> Iterator[Measurement]:
    """`measuring`, after the output has passed its check (CheckFailed otherwise)."""
    with measuring(case, impl, params) as measurement:
        if case.needs_reference(impl) and reference is NO_REFERENCE:
            reference = reference_for(case, params)
        problem = case.check(impl, params, measurement.output(), reference)
        if problem:
            raise CheckFailed(problem)
        yield measurement


class _LazyReference:
    """A case's reference at one parameter set, computed on first need (peers need none)."""

    def __init__(self, case: Case, params: dict):
        self.case, self.params, self.value = case, params, None

    def get(self):
        if self.value is None:
            self.value = (reference_for(self.case, self.params),)
        return self.value[0]


def _shown(figures: list[Figure]) -> str:
    from bench.formatting import fmt_figure

    return ", ".join(fmt_figure(f) for f in figures)


def _run_cell(case: Case, impl: Impl, params: dict, reference: _LazyReference, budget: Budget, progress: Progress,
              out: Outcome) -> None:
    label = _label(case, impl.name, params)
    try:
        ref = reference.get() if case.needs_reference(impl) else NO_REFERENCE
        with checked(case, impl, params, ref) as measurement:
            figures = measurement.measure(budget)
    except CheckFailed as exc:
        out.failures.append(str(exc))
        progress.step(label, "FAILED check, not measured")
        return
    except Exception as exc:  # noqa: BLE001 - one broken cell must not end a long run
        out.failures.append(f"{case.family}/{case.name} {impl.name} {params}: "
                            f"{''.join(traceback.format_exception_only(exc)).strip()}")
        progress.step(label, f"FAILED: {type(exc).__name__}")
        return
    finally:
        gc.collect()
    out.records += [record(case, impl, params, f) for f in figures]
    progress.step(label, _shown(figures))


def _run_memory(case: Case, impls: list[Impl], quick: bool, progress: Progress, out: Outcome, flamegraphs) -> None:
    grid = case.grid(quick)
    varying = {k: "/".join(str(p[k]) for p in grid) for k in grid[0] if len({str(p.get(k)) for p in grid}) > 1}
    for impl in applicable(case, impls):
        label = _label(case, impl.name, varying or grid[0])
        try:
            records = memory.measure(impl, case, grid, flamegraph_dir=flamegraphs)
        except RuntimeError as exc:
            out.failures.append(str(exc))
            progress.step(label, "FAILED")
            continue
        out.records.extend(records)
        peaks = ", ".join(f"{r['value'] / 1e6:.2f} MB" for r in records if r["metric"] == "peak_memory")
        progress.step(label, f"peak {peaks}")


def _startup(impls: list[Impl], quick: bool, progress: Progress, out: Outcome) -> None:
    """Start-up (import + compile) of each tier as its own figure, then warm every implementation
    in this process so that no compile or first-call cost lands in a timed figure."""
    for impl in impls:
        if impl.is_tier:
            try:
                records = startup.measure(impl, cold=not quick)
            except RuntimeError as exc:
                out.failures.append(str(exc))
                records = []
            out.records.extend(records)
            shown = ", ".join(f"{r['metric'].removesuffix('_time')} {r['value']:.2f} s" for r in records)
        else:
            shown = f"({impl.role}: not measured)"
        impl.warmup()
        progress.step(f"{impl.family} {'startup':<12} {impl.name:<15}", shown)


# --- the plan ------------------------------------------------------------------------------------

def applicable(case: Case, impls: list[Impl], params: dict | None = None) -> list[Impl]:
    """The implementations the case measures (at `params`, if given)."""
    return [impl for impl in impls if case.applies(impl) and (params is None or case.applies_at(impl, params))]


def select_impls(family: str, wanted: Iterable[str] | None) -> tuple[list[Impl], list[dict]]:
    """(implementations to run, skipped with reasons) for a family and an --impl filter."""
    known = lineup.all_names(family)
    available = lineup.available(family)
    skipped = [{"family": family, "impl": name, "reason": reason}
               for name, reason in lineup.unavailable(family).items()]
    if wanted:
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise ValueError(f"unknown implementation(s) {unknown} for {family}; known: {known}")
        available = [i for i in available if i.name in wanted]
    return available, skipped


def selected_cases(family: str, case_names: list[str] | None = None, kinds: Iterable[str] | None = None) -> list[Case]:
    return [c for c in cases(family) if (not case_names or c.name in case_names) and (not kinds or c.kind in kinds)]


def plan_size(selections: dict[str, list[Impl]], quick: bool, case_names: list[str] | None = None,
              kinds: Iterable[str] | None = None, with_startup: bool = True) -> int:
    """Number of progress steps: one per warm-up, memory implementation and timed/figure cell."""
    total = 0
    for family, impls in selections.items():
        total += len(impls) if with_startup else 0
        for case in selected_cases(family, case_names, kinds):
            if case.kind == "memory":
                total += len(applicable(case, impls))
            else:
                total += sum(len(applicable(case, impls, params)) for params in case.grid(quick))
    return total


def run(families: list[str] | None = None, wanted: list[str] | None = None, quick: bool = False,
        flamegraphs=None, case_names: list[str] | None = None, kinds: Iterable[str] | None = None,
        with_startup: bool = True, stream: TextIO = sys.stderr) -> Outcome:
    """Measure every selected cell. `kinds` narrows to "time", "figures" and/or "memory"
    (`bench mem` runs the memory cases alone); `with_startup` adds the start-up figures."""
    families = families or registry.families()
    budget = QUICK if quick else FULL
    out = Outcome()
    selections = {}
    for family in families:
        selections[family], skipped = select_impls(family, wanted)
        out.skipped += skipped
        for s in skipped:
            stream.write(f"skipping {family}/{s['impl']}: {s['reason']}\n")
    progress = Progress(plan_size(selections, quick, case_names, kinds, with_startup), stream)
    out.loop_overhead_ns = loop_overhead_ns(budget)
    with shared_servers():
        for family, impls in selections.items():
            if with_startup:
                _startup(impls, quick, progress, out)
            else:
                for impl in impls:
                    impl.warmup()
            for case in selected_cases(family, case_names, kinds):
                if case.kind == "memory":
                    _run_memory(case, impls, quick, progress, out, flamegraphs)
                    continue
                for params in case.grid(quick):
                    reference = _LazyReference(case, params)
                    for impl in applicable(case, impls, params):
                        _run_cell(case, impl, params, reference, budget, progress, out)
    return out
