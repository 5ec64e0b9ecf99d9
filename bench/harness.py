"""The harness behind `python -m bench run`: every (family, case, params, impl) cell is set up,
checked against `pure`, warmed up and timed (or measured), and becomes a results.json record.

Order of work in a cell, and why:
1. `pure` prepares the reference output (pure is the specification);
2. each implementation prepares its own, which must equal pure's exactly (peers, whose
   placement differs by design, get the case's plausibility check) -- nothing wrong is timed;
3. one untimed pass warms caches; start-up (import, Numba compilation) was measured before,
   in fresh subprocesses, as its own figure (bench.startup);
4. repeats are timed (bench.timing) and summarised as median, quartiles and count.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

from impls import registry

from bench import lineup, memory, startup
from bench.cases import Case, Timed, cases
from bench.timing import FULL, QUICK, Budget, Timing, loop_overhead_ns, time_calls, time_each


@dataclass
class Outcome:
    records: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    loop_overhead_ns: float = 0.0


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
    shown = " ".join(f"{k}={v}" for k, v in params.items() if k != "vnodes")
    return f"{case.family} {case.name:<12} {impl:<15} {shown}"


def _time_record(case: Case, impl: str, params: dict, timing: Timing) -> dict:
    return {"family": case.family, "case": case.name, "impl": impl, "params": params, "metric": "time",
            "unit": case.unit, "value": timing.median, "q1": timing.q1, "q3": timing.q3, "n": timing.n}


def _measure_timed(timed: Timed, budget: Budget) -> Timing:
    if timed.undo is not None:
        timed.fn(timed.args[0])  # warm-up call, then put things back
        timed.undo()
        return time_each(timed.fn, timed.args[0], timed.undo, budget, timed.items_per_call)
    for a in timed.args[: max(1, min(len(timed.args), 100))]:
        timed.fn(*a) if timed.spread else timed.fn(a)  # warm-up pass over (part of) the inputs
    return time_calls(timed.fn, timed.args, timed.items_per_call, budget, spread=timed.spread)


def check_output(case: Case, impl: str, params: dict, output, reference) -> str | None:
    """None if `output` is acceptable; else what is wrong. `reference` is pure's output, or
    None where the case has none (a peer-only case)."""
    if lineup.is_peer(impl):
        return case.peer_check(output, params)
    if reference is None:
        return f"{case.family}/{case.name}: pure gives no reference to check {impl} against"
    if output != reference:
        return f"{case.family}/{case.name} {impl} {params}: output differs from pure"
    return None


def _run_case(case: Case, impls: list[str], params: dict, budget: Budget, progress: Progress, out: Outcome) -> None:
    # pure's output is the reference even where pure itself is not measured (e.g. the Numba-only
    # columnar cases compare with pure's bytes); a case with no reference prepares None for pure.
    prepared_pure = case.prepare(lineup.load(case.family, "pure"), params)
    reference = prepared_pure.output() if case.kind == "time" and prepared_pure is not None else prepared_pure
    del prepared_pure
    for impl in _applicable(case, impls):
        prepared = case.prepare(lineup.load(case.family, impl), params)
        output = prepared.output() if case.kind == "time" else prepared
        problem = check_output(case, impl, params, output, reference)
        if problem:
            out.failures.append(problem)
            progress.step(_label(case, impl, params), "FAILED check, not timed")
            continue
        if case.kind == "time":
            timing = _measure_timed(prepared, budget)
            out.records.append(_time_record(case, impl, params, timing))
            progress.step(_label(case, impl, params), f"{timing.median:,.1f} {case.unit}")
        else:
            for figure in prepared:
                out.records.append({"family": case.family, "case": case.name, "impl": impl, "params": params,
                                    "metric": figure.metric, "unit": figure.unit, "value": figure.value})
            progress.step(_label(case, impl, params), ", ".join(f"{f.metric}={f.value:.4g}" for f in prepared))
        del prepared, output
        gc.collect()


def _applicable(case: Case, impls: list[str]) -> list[str]:
    return [impl for impl in impls if case.applies(lineup.load(case.family, impl))]


def _run_memory(case: Case, impls: list[str], quick: bool, progress: Progress, out: Outcome, flamegraphs) -> None:
    grid = case.grid(quick)
    for impl in _applicable(case, impls):
        try:
            records = memory.measure(case.family, impl, case.name, grid, flamegraph_dir=flamegraphs)
        except RuntimeError as exc:
            out.failures.append(str(exc))
            progress.step(_label(case, impl, {}), "FAILED")
            continue
        out.records.extend(records)
        peaks = ", ".join(f"{r['value'] / 1e6:.2f} MB" for r in records if r["metric"] == "peak_memory")
        varying = {k: "/".join(str(p[k]) for p in grid) for k in grid[0] if len({str(p.get(k)) for p in grid}) > 1}
        progress.step(_label(case, impl, varying or grid[0]), f"peak {peaks}")


def _startup(family: str, impls: list[str], quick: bool, progress: Progress, out: Outcome) -> None:
    """Start-up (import + compile) of each tier as its own figure, then warm every implementation
    in this process so that no compile or first-call cost lands in a timed figure."""
    for impl in impls:
        module = lineup.load(family, impl)
        if not lineup.is_peer(impl):
            try:
                records = startup.measure(family, impl, cold=not quick)
            except RuntimeError as exc:
                out.failures.append(str(exc))
                records = []
            out.records.extend(records)
            shown = ", ".join(f"{r['metric'].removesuffix('_time')} {r['value']:.2f} s" for r in records)
        else:
            shown = "(peer: not measured)"
        module.warmup()
        progress.step(f"{family} {'startup':<12} {impl:<15}", shown)


def select_impls(family: str, wanted: Iterable[str] | None) -> tuple[list[str], list[dict]]:
    """(implementations to run, skipped with reasons) for a family and an --impl filter."""
    known = lineup.all_impls(family)
    available = lineup.available(family)
    skipped = [{"family": family, "impl": t, "reason": r} for t, r in lineup.unavailable(family).items()]
    if wanted:
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise ValueError(f"unknown implementation(s) {unknown} for {family}; known: {known}")
        available = [i for i in available if i in wanted]
    return available, skipped


def _selected_cases(family: str, case_names: list[str] | None) -> list[Case]:
    return [c for c in cases(family) if not case_names or c.name in case_names]


def plan_size(families: list[str], selections: dict[str, list[str]], quick: bool,
              case_names: list[str] | None = None) -> int:
    """Number of progress steps: one per warm-up, memory implementation and timed/figure cell."""
    total = 0
    for family in families:
        impls = selections[family]
        total += len(impls)
        for case in _selected_cases(family, case_names):
            total += len(_applicable(case, impls)) * (1 if case.kind == "memory" else len(case.grid(quick)))
    return total


def run(families: list[str] | None = None, wanted: list[str] | None = None, quick: bool = False,
        flamegraphs=None, case_names: list[str] | None = None, stream: TextIO = sys.stderr) -> Outcome:
    families = families or registry.families()
    budget = QUICK if quick else FULL
    out = Outcome()
    selections = {}
    for family in families:
        selections[family], skipped = select_impls(family, wanted)
        out.skipped += skipped
        for s in skipped:
            stream.write(f"skipping {family}/{s['impl']}: {s['reason']}\n")
    progress = Progress(plan_size(families, selections, quick, case_names), stream)
    out.loop_overhead_ns = loop_overhead_ns(budget)
    for family in families:
        impls = selections[family]
        _startup(family, impls, quick, progress, out)
        for case in _selected_cases(family, case_names):
            if case.kind == "memory":
                _run_memory(case, impls, quick, progress, out, flamegraphs)
                continue
            for params in case.grid(quick):
                _run_case(case, impls, params, budget, progress, out)
    return out

