"""The issues' targets, checked on results.json by the harness (never in unit tests).

Each family's cases module lists `TARGETS`. A target names a case, the parameters it holds
at (a subset: it is checked at every matching parameter set), the implementation (a name;
"best-tier" and "best-compiled" pick the best tier, resp. the best tier other than pure, in the
same run, in the metric's direction) and either a speed-up over another implementation measured
in the same run or a bound on the figure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bench import results
from bench.cases import family_module
from bench.formatting import fmt_record

SPEC = "pure"


@dataclass(frozen=True)
class Target:
    case: str
    text: str  # the target as the issue words it
    impl: str = "best-tier"  # a tier, "best-tier" or "best-compiled"
    params: dict = field(default_factory=dict)
    metric: str = "time"
    #: another implementation; `min_speedup`: how many times better (in the metric's direction)
    faster_than: str | None = None
    min_speedup: float | None = None
    #: compare with `faster_than`'s figure in this other case (same parameters), not this one
    other_case: str | None = None
    at_most: float | None = None
    at_least: float | None = None
    #: compare with the same implementation's figure at these parameters changed (2 workers
    #: against 1, 1M messages against 100k): `min_speedup` times better, or `within` (a
    #: fraction) of it either way
    against_params: dict | None = None
    within: float | None = None
    #: a ratio to another case's figure (the same implementation unless `ratio_impl`), at these
    #: parameters changed (a service's /orders against its /ping floor): at most `max_ratio`
    ratio_case: str | None = None
    ratio_params: dict | None = None
    ratio_impl: str | None = None
    max_ratio: float | None = None


@dataclass(frozen=True)
class Verdict:
    target: Target
    params: dict
    measured: str
    met: bool


def family_targets(family: str) -> list[Target]:
    try:
        return list(getattr(family_module(family), "TARGETS", []))
    except ModuleNotFoundError:  # a results file of a family this checkout does not have
        return []


def _pick(target: Target, by_impl: dict[str, dict]) -> dict | None:
    if target.impl in ("best-tier", "best-compiled"):
        pool = [r for i, r in by_impl.items() if r["role"] == "tier"
                and (target.impl == "best-tier" or i != SPEC)]
        return results.best(pool) if pool else None
    return by_impl.get(target.impl)


def evaluate(doc: dict, family: str) -> list[Verdict]:
    """A verdict per target and matching parameter set present in `doc`."""
    cells = results.cells(doc).get(family, {})
    verdicts = []
    for target in family_targets(family):
        for (case, params_json, metric), by_impl in cells.items():
            params = json.loads(params_json)
            if case != target.case or metric != target.metric:
                continue
            if any(params.get(k) != v for k, v in target.params.items()):
                continue
            chosen = _pick(target, by_impl)
            if chosen is None:
                continue
            shown = f"{chosen['impl']} {fmt_record(chosen)}"
            met = True
            if target.at_most is not None:
                met = chosen["value"] <= target.at_most
            if target.at_least is not None:
                met = chosen["value"] >= target.at_least
            if target.ratio_case is not None:
                other_params = {**params, **(target.ratio_params or {})}
                row = cells.get((target.ratio_case, json.dumps(other_params, sort_keys=True), metric), {})
                other = row.get(target.ratio_impl or chosen["impl"])
                if other is None or not other["value"]:
                    continue
                ratio = chosen["value"] / other["value"]
                shown += f", {ratio:.2f}× {target.ratio_case} ({fmt_record(other)})"
                met = met and ratio <= target.max_ratio
            elif target.against_params is not None:
                other_params = {**params, **target.against_params}
                other = cells.get((case, json.dumps(other_params, sort_keys=True), metric), {}).get(chosen["impl"])
                if other is None:
                    continue
                changed = " ".join(f"{k}={v}" for k, v in target.against_params.items())
                if target.min_speedup is not None:
                    speedup = results.advantage(chosen, other)
                    if speedup is None:
                        continue
                    shown += f", {speedup:.2f}× its figure at {changed} ({fmt_record(other)})"
                    met = met and speedup >= target.min_speedup
                if target.within is not None:
                    apart = abs(chosen["value"] - other["value"]) / other["value"] if other["value"] else float("inf")
                    shown += f", {apart:.1%} from its figure at {changed} ({fmt_record(other)})"
                    met = met and apart <= target.within
            elif target.faster_than is not None:
                row = by_impl if target.other_case is None else cells.get((target.other_case, params_json, metric), {})
                other = row.get(target.faster_than)
                if other is None:
                    continue
                speedup = results.advantage(chosen, other)
                if speedup is None:
                    continue
                where = f" {target.other_case}" if target.other_case else ""
                shown += f", {speedup:.2f}× {target.faster_than}{where} ({fmt_record(other)})"
                met = met and speedup >= target.min_speedup
            verdicts.append(Verdict(target, params, shown, met))
    return verdicts


def markdown(doc: dict) -> str:
    """The verdicts of every family in `doc`, as a table ("" if no target applies)."""
    lines = ["| target | params | measured (same run) | met |", "|---|---|---|---|"]
    for family in sorted(results.cells(doc)):
        for v in evaluate(doc, family):
            params = " ".join(f"{k}={v2}" for k, v2 in v.params.items())
            lines.append(f"| {family}: {v.target.text} | {params} | {v.measured} | {'yes' if v.met else '**no**'} |")
    return "\n".join(lines) if len(lines) > 2 else ""
