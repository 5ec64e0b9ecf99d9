"""pytest-benchmark over the same cases as `python -m bench run` (their --quick sizes).

`make bench-pytest` groups the table by case and parameters, so each group compares the
tiers, backends and peers of one question. Every output is checked (bench.harness.checked:
the same reference and checks as the harness) before it is timed, and every measurement is
torn down afterwards.
"""

import pytest

from bench import lineup
from bench.cases import cases
from bench.harness import CheckFailed, checked
from impls import registry


def timed_cells(family: str):
    """pytest params (case, params, impl) for every timed case of `family`."""
    cells = []
    for case in cases(family):
        if case.kind != "time":
            continue
        for params in case.grid(True):
            for impl in lineup.all_names(family):
                label = "-".join(str(v) for v in params.values())
                cells.append(pytest.param(case, params, impl, id=f"{case.name}-{label}-{impl}"))
    return cells


def _time(benchmark, timed) -> None:
    if timed.undo is None:
        benchmark(timed.fn, *(timed.args[0] if timed.spread else (timed.args[0],)))
        return
    state = {"changed": False}

    def restore():  # state-changing calls: undo the previous round, untimed
        if state["changed"]:
            timed.undo()
        state["changed"] = True

    benchmark.pedantic(timed.fn, args=(timed.args[0],), setup=restore, rounds=30, iterations=1)
    restore()


@pytest.fixture
def run_timed(benchmark):
    def run(case, params, name):
        try:
            impl = lineup.get(case.family, name)
        except registry.TierUnavailable as exc:
            pytest.skip(str(exc))
        if not case.applies(impl) or not case.applies_at(impl, params):
            pytest.skip(f"{name} has no {case.name} at {params}")
        impl.warmup()
        benchmark.group = f"{case.family} {case.name} " + " ".join(f"{k}={v}" for k, v in params.items())
        try:
            with checked(case, impl, params) as timed:
                benchmark.extra_info.update(items_per_call=timed.items_per_call, unit=case.unit, role=impl.role)
                _time(benchmark, timed)
        except CheckFailed as exc:
            pytest.fail(str(exc))

    return run
