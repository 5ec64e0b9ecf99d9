"""`python -m bench compare A B`: two results.json files cell by cell -- a cell is one figure,
(family, case, impl, params, metric), as bench.results.record_key names it -- with the ratio
B/A and a verdict per cell.

Which way is better is each record's own `better` (schema 2; bench.results.upgrade gives schema-1
files theirs): lower for times, CPU, bytes, latencies, balance (std/mean, max/mean: lower is
more even) and counts of failures; higher for throughput (msg/s, req/s, decisions/s). A few
figures have no better direction, and a difference there is reported as "changed": the moved
fractions of a ring (the ideal is 1/(N+1) -- moving fewer keys than that means the new node took
less than its share, not that the ring improved), and figures that describe the run's set-up
rather than its result (the paced producer's kept rate, the messages a killed consumer held,
Locust's own CPU).

When a difference is beyond noise (after pyperf: a change must be both significant and larger
than a minimum):
- a figure with quartiles on both sides (every timing, drain throughput): the interquartile
  ranges do not overlap AND the figures differ by at least MIN_EFFECT (5 %);
- a figure without quartiles (computed once, or a percentile of one run): they differ by at
  least MIN_EFFECT_NO_SPREAD (10 %), a stated minimum: a single figure on a shared machine
  moves by several percent between runs.
The size of a difference is symmetric: max(B/A, A/B) - 1, so a halving and a doubling weigh the
same; where a figure is zero or negative (a count of failures, a difference of two times) it is
|B - A| / max(|A|, |B|).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from bench import results
from bench.formatting import fmt_record, params_text

MIN_EFFECT = 0.05
MIN_EFFECT_NO_SPREAD = 0.10
NEUTRAL = frozenset({"moved_fraction_add", "moved_fraction_remove", "moved_over_ideal", "offered_rate",
                     "held_at_kill", "loadgen_cpu"})

IMPROVED, REGRESSED, CHANGED, NOISE = "improved", "regressed", "changed", "within noise"
ONLY_A, ONLY_B = "only in A", "only in B"


@dataclass(frozen=True)
class Cell:
    family: str
    case: str
    impl: str
    params: dict
    metric: str
    a: dict | None
    b: dict | None
    ratio: float | None   # B / A; None where it means nothing (a side missing, zero or negative)
    verdict: str
    why: str              # the test that decided, e.g. "IQRs apart, 12.0% >= 5%"


def effect(a: float, b: float) -> float:
    """The size of the difference between two figures (see the module doc); 0 when equal."""
    if a == b:
        return 0.0
    if a > 0 and b > 0:
        return max(b / a, a / b) - 1
    return abs(b - a) / max(abs(a), abs(b))


def _has_spread(record: dict) -> bool:
    return "q1" in record and "q3" in record


def judge(a: dict, b: dict) -> tuple[float | None, str, str]:
    """(ratio B/A, verdict, why) for one cell present in both files."""
    va, vb = a["value"], b["value"]
    ratio = vb / va if va > 0 and vb >= 0 else (1.0 if va == vb == 0 else None)
    size = effect(va, vb)
    if _has_spread(a) and _has_spread(b):
        apart = b["q3"] < a["q1"] or a["q3"] < b["q1"]
        beyond = apart and size >= MIN_EFFECT
        why = (f"IQRs {'apart' if apart else 'overlap'}, "
               f"{size:.1%} {'>=' if size >= MIN_EFFECT else '<'} {MIN_EFFECT:.0%}")
    else:
        beyond = size >= MIN_EFFECT_NO_SPREAD
        why = f"no quartiles, {size:.1%} {'>=' if beyond else '<'} {MIN_EFFECT_NO_SPREAD:.0%}"
    if not beyond:
        return ratio, NOISE, why
    if b["metric"] in NEUTRAL:
        return ratio, CHANGED, why + ", no better direction"
    if a.get("better") != b.get("better"):
        return ratio, CHANGED, why + ", the files disagree on the direction"
    better_b = vb < va if b["better"] == "lower" else vb > va
    return ratio, IMPROVED if better_b else REGRESSED, why


def load(path: Path) -> dict:
    """A results document from a results.json, or from a folder holding one."""
    path = Path(path)
    return results.load(path / "results.json" if path.is_dir() else path)


def compare(doc_a: dict, doc_b: dict) -> list[Cell]:
    """Every cell of either file: in A's order, then those only B has."""
    a = {results.record_key(r): r for r in doc_a["results"]}
    b = {results.record_key(r): r for r in doc_b["results"]}
    cells = []
    for key in list(a) + [k for k in b if k not in a]:
        ra, rb = a.get(key), b.get(key)
        family, case, impl, params, metric = key
        if ra is None or rb is None:
            ratio, verdict, why = None, ONLY_A if rb is None else ONLY_B, ""
        else:
            ratio, verdict, why = judge(ra, rb)
        cells.append(Cell(family, case, impl, json.loads(params), metric, ra, rb, ratio, verdict, why))
    return cells


def _fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None or math.isinf(ratio) else f"{ratio:.3f}"


def _row(cell: Cell, with_family: bool = False) -> str:
    shown = {IMPROVED: "improved", REGRESSED: "**regressed**", CHANGED: "changed"}.get(cell.verdict, cell.verdict)
    a = fmt_record(cell.a) if cell.a else "—"
    b = fmt_record(cell.b) if cell.b else "—"
    lead = [cell.family] if with_family else []
    parts = lead + [cell.case, params_text(cell.params), cell.impl, cell.metric, a, b, _fmt_ratio(cell.ratio), shown,
                    cell.why]
    return "| " + " | ".join(parts) + " |"


def _describe(label: str, doc: dict, source: str) -> str:
    git = doc["git"]
    commit = (git.get("commit") or "unknown")[:10] + (" (dirty)" if git.get("dirty") else "")
    return f"- **{label}**: `{source}`, measured {doc['created']} at {commit}, Python {doc['env']['python']}"


def markdown(cells: list[Cell], doc_a: dict, doc_b: dict, source_a: str, source_b: str) -> str:
    counts = {v: sum(c.verdict == v for c in cells) for v in (IMPROVED, REGRESSED, CHANGED, NOISE, ONLY_A, ONLY_B)}
    both = counts[IMPROVED] + counts[REGRESSED] + counts[CHANGED] + counts[NOISE]
    head = ["| case | params | impl | metric | A | B | B/A | verdict | why |",
            "|---|---|---|---|---:|---:|---:|---|---|"]
    lines = [
        "# B against A", "", _describe("A", doc_a, source_a), _describe("B", doc_b, source_b), "",
        f"{both} cells in both: {counts[IMPROVED]} improved, {counts[REGRESSED]} regressed, {counts[CHANGED]} "
        f"changed (no better direction), {counts[NOISE]} within noise; {counts[ONLY_A]} only in A, "
        f"{counts[ONLY_B]} only in B.", "",
        f"B/A is B's figure over A's. Beyond noise: figures with quartiles whose interquartile ranges do not "
        f"overlap and differ by at least {MIN_EFFECT:.0%}; figures without quartiles that differ by at least "
        f"{MIN_EFFECT_NO_SPREAD:.0%}. Better or worse in each metric's own direction (`better` in results.json). "
        f"Figures from two runs on a shared machine: a difference is only as sure as the machine was quiet.", ""]
    flagged = [c for c in cells if c.verdict in (IMPROVED, REGRESSED, CHANGED)]
    if flagged:
        lines += ["## Beyond noise", "", "| family " + head[0], "|---" + head[1]]
        lines += [_row(c, with_family=True) for c in flagged]
        lines.append("")
    # per family: the cells both files hold, then those only one of them has
    rank = {ONLY_A: 1, ONLY_B: 2}
    for family in dict.fromkeys(c.family for c in cells):
        lines += [f"## {family}", "", *head]
        lines += [_row(c) for c in sorted((c for c in cells if c.family == family),
                                          key=lambda c: rank.get(c.verdict, 0))]
        lines.append("")
    return "\n".join(lines)


def run(path_a: Path, path_b: Path, out: Path | None = None) -> str:
    """The comparison as markdown, written to `out` if given."""
    doc_a, doc_b = load(path_a), load(path_b)
    text = markdown(compare(doc_a, doc_b), doc_a, doc_b, str(path_a), str(path_b))
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return text
