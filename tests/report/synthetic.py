"""A results document with every record shape the lab writes, and made-up values.

Its cells come from the lab's own declarations, so the report is tested on what a full run
holds: every case of every family at its full grid (several node counts, both logs, one and two
workers), each implementation the case applies to, through the harness's own record builder;
start-up and memory records as bench.startup and bench.memory write them; the service's records
from bench.load.figures over bench.load.matrix (every tier, floor and peer). Only the values are
invented: seeded, so the same on every call, and ordered like a real run (compiled tiers
faster than pure, peers slower) so that ratios point the usual way.
"""

from __future__ import annotations

import random
import zlib
from pathlib import Path
from types import SimpleNamespace

from bench import harness, lineup, load, results
from bench.cases import cases
from bench.measurement import HIGHER, LOWER, Figure
from impls import registry

SPEED = {"pure": 1.0, "cython": 0.05, "numba": 0.1, "redis": 3.0}
#: The metrics of each "figures" case (what bench.cases and bench.pool_figures compute):
#: (metric, unit, better, with quartiles, with percentiles). A case missing here gets one
#: ratio, so a new case does not break the test but still lands in the report.
FIGURES = {
    ("hashring", "balance"): [("std_over_mean", "ratio", LOWER, False, False),
                              ("max_over_mean", "ratio", LOWER, False, False)],
    ("hashring", "moved"): [("moved_fraction_add", "ratio", LOWER, False, False),
                            ("moved_fraction_remove", "ratio", LOWER, False, False),
                            ("moved_over_ideal", "ratio", LOWER, False, False)],
    ("hashring", "balance_vnodes"): [("std_over_mean", "ratio", LOWER, False, False),
                                     ("max_over_mean", "ratio", LOWER, False, False)],
    ("hashring", "moved_vnodes"): [("moved_fraction_add", "ratio", LOWER, False, False),
                                   ("moved_fraction_remove", "ratio", LOWER, False, False),
                                   ("moved_over_ideal", "ratio", LOWER, False, False)],
    ("ratelimit", "redis_server_time"): [("ping_p50", "us", LOWER, False, True),
                                         ("acquire_p50", "us", LOWER, False, True),
                                         ("acquire_minus_ping_p50", "us", LOWER, False, False),
                                         ("server_time_per_acquire", "us", LOWER, False, False),
                                         ("server_time_per_decision_batched", "us", LOWER, False, False),
                                         ("acquire_many_throughput", "decisions/s", HIGHER, False, False)],
    ("serial", "bytes_per_msg"): [("bytes_per_msg", "bytes", LOWER, False, False)],
    ("workerpool", "drain"): [("throughput", "msg/s", HIGHER, True, False),
                              ("cpu_per_msg", "cpu_us/msg", LOWER, False, False),
                              ("join_time", "s", LOWER, False, False),
                              ("peak_held", "messages", LOWER, False, False),
                              ("order_violations", "messages", LOWER, False, False)],
    ("workerpool", "latency"): [("latency_p99", "ms", LOWER, False, True),
                                ("latency_p50", "ms", LOWER, False, False),
                                ("offered_rate", "msg/s", HIGHER, False, False),
                                ("redis_rtt_floor", "us", LOWER, False, False)],
    ("workerpool", "recovery"): [("recovery_time", "s", LOWER, False, False),
                                 ("restart_startup", "s", LOWER, False, False),
                                 ("sigterm_exit", "s", LOWER, False, False),
                                 ("held_at_kill", "messages", HIGHER, False, False),
                                 ("redelivered", "messages", LOWER, False, False)],
    ("workerpool", "dead_letter_cost"): [("cpu_per_dead_letter", "cpu_us", LOWER, False, False),
                                         ("throughput_clean", "msg/s", HIGHER, False, False),
                                         ("throughput_poisoned", "msg/s", HIGHER, False, False)],
}


def _value(*key, better: str = LOWER, unit: str = "") -> float:
    """A made-up figure for `key` = (family, case, impl, ...): the same on every call; the
    implementation's speed class (pure, compiled, peer) sets its order of magnitude. Ratios
    (balance, moved keys) are one placement rule's: the same for every tier, apart for peers."""
    impl = key[2]
    if unit == "ratio":
        shared = key[:2] + key[3:] + ((impl,) if impl.startswith("peer:") else ())
        rng = random.Random(zlib.crc32(repr(shared).encode()))
        return rng.uniform(0.05, 1.3)
    speed = SPEED.get(impl, 2.0 if impl.startswith("peer:") else 1.0)
    rng = random.Random(zlib.crc32(repr(key).encode()))
    base = 1000.0 * speed * rng.uniform(0.8, 1.25)
    return base if better == LOWER else 1e7 / base


def _figures(case, impl, params) -> list[Figure]:
    key = (case.family, case.name, impl.name, repr(params))
    if case.kind == "time":
        v = _value(*key)
        return [Figure("time", case.unit, v, LOWER, q1=v * 0.97, q3=v * 1.04, n=25)]
    out = []
    for metric, unit, better, spread, dist in FIGURES.get((case.family, case.name),
                                                           [(case.name, "ratio", LOWER, False, False)]):
        v = _value(*key, metric, better=better, unit=unit)
        extra = {"q1": v * 0.95, "q3": v * 1.05, "n": 3} if spread else {}
        if dist:
            extra["percentiles"] = {"p50": v * 0.4, "p90": v * 0.8, "p99": v, "p100": v * 1.5}
        out.append(Figure(metric, unit, v, better, **extra))
    return out


def _memory(case, impl, params) -> list[dict]:
    base = {"family": case.family, "case": case.name, "impl": impl.name, "role": impl.role, "params": params,
            "unit": "bytes", "better": LOWER}
    peak = _value(case.family, case.name, impl.name, repr(params), "peak") * 1000
    return [{**base, "metric": "peak_memory", "value": peak}, {**base, "metric": "retained_memory", "value": peak / 2}]


def family_records(family: str) -> list[dict]:
    impls = lineup.available(family)
    records = []
    for impl in impls:
        if impl.is_tier:
            base = {"family": family, "case": "startup", "impl": impl.name, "role": impl.role, "params": {},
                    "unit": "s", "better": LOWER}
            records += [{**base, "metric": m, "value": _value(family, "startup", impl.name, m) / 1000}
                        for m in ("cold_start_time", "cached_start_time")]
    for case in cases(family):
        for params in case.grid(False):
            for impl in impls:
                if not (case.applies(impl) and case.applies_at(impl, params)):
                    continue
                if case.kind == "memory":
                    records += _memory(case, impl, params)
                else:
                    records += [harness.record(case, impl, params, f) for f in _figures(case, impl, params)]
    return records


def service_records() -> list[dict]:
    """Every load run of a full `make load`, as bench.load.figures turns a run into records."""
    settings = load.Settings(out=Path("unused"))
    records = []
    tiers = registry.tiers("serial")
    for spec in load.matrix(tiers, quick=False):
        for scenario in spec.scenarios:
            key = (spec.impl, scenario.case, spec.server(scenario), spec.backend or settings.backend)
            rng = random.Random(zlib.crc32(repr(key).encode()))
            p50 = rng.uniform(1, 5)
            run = SimpleNamespace(
                summary={"total": {"rps": settings.offered_rps * rng.uniform(0.97, 1.0), "requests": 4500,
                                   "failures": 0, "p50_ms": p50, "p95_ms": p50 * 3, "p99_ms": p50 * 6},
                         "failures": []},
                saturated=spec.impl == "pure" and scenario.case == "grpc-submit",  # one hatched bar
                loadgen_cpu=rng.uniform(0.2, 0.9))
            cpu = 200 * SPEED.get(spec.tier, 1.0) ** 0.1 * rng.uniform(0.9, 1.1) * (0.3 if scenario.floor else 1)
            records += load.figures(spec, scenario, settings, run, cpu, cpu / 4, None)
    return records


def document() -> dict:
    """A validated schema-2 results document of every family and the service."""
    records = [r for family in registry.families() for r in family_records(family)] + service_records()
    doc = results.new_document(records, [{"family": "serial", "impl": "peer:example", "reason": "<not installed>"}])
    results.validate(doc)
    return doc
