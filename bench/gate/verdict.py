"""The gate's judgement: each cell's count against its accepted baseline.

A cell fails when head / base >= THRESHOLD (1.05). Noise of the measure is zero or a few
hundredths of a percent (tests/gate/test_determinism.py), so a 1.1x slowdown -- 1.10 -- is
far above the line and noise far below it. A cell 1/THRESHOLD or less is reported faster
(accept it to keep the gain from being given back unnoticed); it never fails the gate.

Exit status: 0 pass, 1 a cell is slower, 2 the gate cannot compare (no baseline, another
toolchain, a cell without a baseline or with another definition, a cell that could not be
measured).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bench.gate.baseline import Baseline, definition
from bench.gate.callgrind import MEASURE, Count

THRESHOLD = 1.05
PASS, FAIL, CANNOT_COMPARE = 0, 1, 2

OK, SLOWER, FASTER, NO_BASELINE, REDEFINED = "ok", "SLOWER", "faster", "no baseline", "redefined"


@dataclass(frozen=True)
class Row:
    family: str
    case: str
    tier: str
    base: float | None
    head: float
    verdict: str

    @property
    def ratio(self) -> float | None:
        return None if not self.base else self.head / self.base

    @property
    def key(self) -> str:
        return f"{self.family}/{self.case}/{self.tier}"

    def message(self) -> str:
        """One line that says what changed, by how much, and in which measure."""
        if self.verdict == SLOWER:
            return (f"FAIL {self.family} {self.case} {self.tier}: {self.ratio:.3f}x its accepted baseline in "
                    f"{MEASURE}, {self.base:,.1f} -> {self.head:,.1f}; the gate fails at {THRESHOLD:.2f}x")
        if self.verdict == FASTER:
            return (f"faster {self.family} {self.case} {self.tier}: {self.ratio:.3f}x its accepted baseline in "
                    f"{MEASURE}, {self.base:,.1f} -> {self.head:,.1f}; `make gate-accept` keeps the gain")
        if self.verdict == NO_BASELINE:
            return f"cannot compare {self.key}: no accepted count; `make gate-accept` adds it"
        if self.verdict == REDEFINED:
            return (f"cannot compare {self.key}: its definition (parameters, calls or inputs) changed since the "
                    f"baseline was accepted; `make gate-accept` measures it anew")
        return f"ok {self.key}: {self.ratio:.3f}x"


@dataclass
class Judgement:
    rows: list[Row]
    #: why the gate did not compare at all (another toolchain, no baseline): nothing was counted
    refusal: str | None = None
    #: cells that could not be measured
    errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        """FAIL if any cell is slower (a regression found is definite, whatever else went
        wrong); else CANNOT_COMPARE if anything kept a cell from being judged; else PASS."""
        if any(r.verdict == SLOWER for r in self.rows):
            return FAIL
        if self.refusal or self.errors or any(r.verdict in (NO_BASELINE, REDEFINED) for r in self.rows):
            return CANNOT_COMPARE
        return PASS

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == SLOWER]

    def to_json(self) -> dict:
        return {"status": {PASS: "pass", FAIL: "fail", CANNOT_COMPARE: "cannot compare"}[self.status],
                "exit": self.status, "measure": MEASURE, "threshold": THRESHOLD, "refusal": self.refusal,
                "errors": self.errors,
                "cells": [asdict(r) | {"ratio": r.ratio, "message": r.message()} for r in self.rows]}


def judge_one(count: Count, baseline: Baseline) -> Row:
    key, head = count.key, count.ir_per_call
    base = baseline.counts.get(str(key))
    if base is None:
        verdict = NO_BASELINE
    elif baseline.definitions.get(str(key)) != definition(count):
        verdict = REDEFINED
    elif head / base >= THRESHOLD:
        verdict = SLOWER
    elif head / base <= 1 / THRESHOLD:
        verdict = FASTER
    else:
        verdict = OK
    return Row(key.family, key.case, key.tier, base, head, verdict)


def judge(counts: list[Count], baseline: Baseline, errors: list[str] | None = None) -> Judgement:
    return Judgement([judge_one(count, baseline) for count in counts], errors=list(errors or []))


def other_toolchain(differences: list[str]) -> Judgement:
    """The refusal when the baseline was counted with other tools."""
    return Judgement([], refusal=(
        "CANNOT COMPARE: the accepted baseline was counted with other tools, and other tools execute other "
        "instructions for the same code:\n" + "\n".join(f"  {d}" for d in differences)
        + "\nNothing was counted or compared. If the new tools are meant to stay, `make gate-accept` counts a new "
          "baseline with them (say why in the commit message)."))


def no_baseline(reason: str) -> Judgement:
    return Judgement([], refusal=f"CANNOT COMPARE: {reason}")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def table(judgement: Judgement) -> str:
    """The verdict as a markdown table, worst ratio first."""
    lines = ["| family | case | tier | base Ir/call | head Ir/call | ratio | verdict |",
             "|---|---|---|---:|---:|---:|---|"]
    for r in sorted(judgement.rows, key=lambda r: -(r.ratio or 0)):
        ratio = "—" if r.ratio is None else f"{r.ratio:.3f}"
        lines.append(f"| {r.family} | {r.case} | {r.tier} | {_num(r.base)} | {_num(r.head)} | {ratio} | "
                     f"{r.verdict} |")
    return "\n".join(lines)


def summary(judgement: Judgement) -> str:
    """What the gate says in the end: the verdict and every line that explains it."""
    if judgement.refusal:
        return judgement.refusal
    lines = [r.message() for r in judgement.rows if r.verdict != OK] + [f"cannot measure {e}" for e in judgement.errors]
    head = {PASS: f"PASS: no gated cell is {THRESHOLD:.2f}x or more above its accepted baseline in {MEASURE}",
            FAIL: f"FAIL: {len(judgement.failures)} gated cell(s) {THRESHOLD:.2f}x or more above the baseline",
            CANNOT_COMPARE: "CANNOT COMPARE: see the lines above"}[judgement.status]
    return "\n".join([*lines, head])
