"""pytest-benchmark over the same cases as `python -m bench run` (their --quick sizes).

`make bench-pytest` groups the table by case and parameters, so each group compares the
tiers and peers of one question. Every output is checked against pure before it is timed.
"""

import pytest

from bench import lineup
from bench.cases import cases
from bench.harness import check_output
from impls import registry


def timed_cells(family: str):
    """pytest params (case, params, impl) for every timed case of `family`."""
    cells = []
    for case in cases(family):
        if case.kind != "time":
            continue
        for params in case.grid(True):
            for impl in lineup.all_impls(family):
                label = "-".join(str(v) for v in params.values())
                cells.append(pytest.param(case, params, impl, id=f"{case.name}-{label}-{impl}"))
    return cells


@pytest.fixture
def run_timed(benchmark):
    def run(case, params, impl):
        try:
            module = lineup.load(case.family, impl)
        except registry.TierUnavailable as exc:
            pytest.skip(str(exc))
        if not case.applies(module):
            pytest.skip(f"{impl} has no {case.name}")
        module.warmup()
        reference = case.prepare(lineup.load(case.family, "pure"), params).output()
        timed = case.prepare(module, params)
        problem = check_output(case, impl, params, timed.output(), reference)
        assert problem is None, problem
        benchmark.group = f"{case.family} {case.name} " + " ".join(f"{k}={v}" for k, v in params.items())
        benchmark.extra_info.update(items_per_call=timed.items_per_call, unit=case.unit)
        if timed.undo is None:
            benchmark(timed.fn, *(timed.args[0] if timed.spread else (timed.args[0],)))
        else:
            state = {"changed": False}

            def restore():  # state-changing calls: undo the previous round, untimed
                if state["changed"]:
                    timed.undo()
                state["changed"] = True

            benchmark.pedantic(timed.fn, args=(timed.args[0],), setup=restore, rounds=30, iterations=1)
            restore()

    return run
