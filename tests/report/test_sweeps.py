"""The report's sweeps: a batch call's cost per item against batch size (a `*_sweep` case joined to
the family's batch case, the scalar call at 1), and the ring's figures against vnodes."""

from __future__ import annotations

import pytest

from bench import results
from bench.cases import cases
from bench.cases.base import SWEEP_SIZES
from bench.report import plots, sections


def _time(case: str, impl: str, value: float, **params) -> dict:
    return {"family": "hashring", "case": case, "impl": impl, "role": "tier", "params": params, "metric": "time",
            "unit": "ns/key", "value": value, "q1": value, "q3": value, "n": 5, "better": "lower"}


@pytest.fixture
def drawn(monkeypatch):
    """The panels each plots.lines call was given, by the plot's name."""
    seen: dict[str, list[plots.Panel]] = {}
    real = plots.lines

    def lines(name, title, panels, **kwargs):
        seen[name] = panels
        return real(name, title, panels, **kwargs)

    monkeypatch.setattr(plots, "lines", lines)
    return seen


def test_one_line_from_the_sweep_and_the_batch_case_with_the_scalar_call_apart(drawn):
    ring = {"nodes": 1000, "vnodes": 160}
    doc = results.new_document([
        _time("lookup", "numba", 300.0, **ring),
        _time("lookup_many", "numba", 20.0, **ring, keys=1_000_000),
        _time("lookup", "numba", 280.0, nodes=10, vnodes=160),
        _time("lookup_many", "numba", 25.0, nodes=10, vnodes=160, keys=1_000_000),
        _time("lookup_many_sweep", "numba", 4000.0, **ring, keys=1),
        _time("lookup_many_sweep", "numba", 60.0, **ring, keys=100),
        # the batch case measured this size too: its figure is the one drawn
        _time("lookup_many_sweep", "numba", 99.0, **ring, keys=1_000_000),
    ])
    plot = {p.name: p for p in sections.family_plots(doc, "hashring")}["hashring-batch"]
    assert "(1, 100, 1,000,000)" in plot.caption
    assert "Solid lines" in plot.caption and "Dashed lines" in plot.caption
    swept, single = drawn["hashring-batch"]
    line, scalar = swept.series
    assert (line.xs, line.ys, line.dashed) == ([1, 100, 1_000_000], [4000.0, 60.0, 20.0], False)
    assert (scalar.xs, scalar.ys, scalar.linestyle, scalar.filled) == ([1], [300.0], "none", False)
    # nodes=10 has the batch case at one size: dashed from the scalar call, no measurement between
    assert [(s.xs, s.dashed) for s in single.series] == [([1, 1_000_000], True)]


def test_a_batch_case_at_one_size_is_joined_to_the_scalar_call_by_a_dashed_line():
    rec = {"value": 10.0, "q1": 9.0, "q3": 11.0}
    (series,) = sections._batch_series("cython", "#000000", {**rec, "value": 50.0}, [(1_000_000, rec)])
    assert series.dashed and series.xs == [1, 1_000_000] and series.ys == [50.0, 10.0]


def test_vnodes_sweeps_draw_the_bound_and_the_ideal(synthetic_doc, drawn):
    plots_by_name = {p.name: p for p in sections.family_plots(synthetic_doc, "hashring")}
    grid = next(c for c in cases("hashring") if c.name == "balance_vnodes").grid(False)
    vnodes = ", ".join(str(p["vnodes"]) for p in grid)
    balance = plots_by_name["hashring-balance_vnodes"]
    assert f"against vnodes ({vnodes})" in balance.caption and "pure alone" in balance.caption
    assert "1.2/√vnodes" in balance.caption and "no sweep" not in balance.caption
    std = next(p for p in drawn["hashring-balance_vnodes"] if p.title == "std_over_mean")
    bound = next(s for s in std.series if s.label.startswith("1.2/√vnodes"))
    assert bound.xs[0] == grid[0]["vnodes"] and bound.ys[0] == pytest.approx(1.2 / grid[0]["vnodes"] ** 0.5)
    assert bound.xs[-1] == grid[-1]["vnodes"] and bound.ys[-1] == pytest.approx(1.2 / grid[-1]["vnodes"] ** 0.5)
    moved = {p.title: p for p in drawn["hashring-moved_vnodes"]}
    assert [y for y, _ in moved["moved_over_ideal"].hlines] == [1.3]
    assert [y for y, _ in moved["moved_fraction_add"].hlines] == [pytest.approx(1 / (grid[0]["nodes"] + 1))]


def test_sweep_cases_leave_the_main_cases_cells_alone():
    """A sweep's cells are its own case's (names and parameters are history keys and targets):
    the main batch cases keep one size per configuration, and each sweep runs every size."""
    for family, main, sweep, size in (("hashring", "lookup_many", "lookup_many_sweep", "keys"),
                                      ("hashring", "jump_many", "jump_many_sweep", "keys"),
                                      ("ratelimit", "acquire_many", "acquire_many_sweep", "batch"),
                                      ("serial", "proto_encode_batch", "proto_encode_batch_sweep", "batch")):
        by_name = {c.name: c for c in cases(family)}
        for quick in (False, True):
            sizes = {p[size] for p in by_name[main].grid(quick) if size in p}
            assert len(sizes) <= 1, (main, sizes)
            swept = [p[size] for p in by_name[sweep].grid(quick)]
            assert swept[0] == 1 and len(set(swept)) >= 2
    lookups = next(c for c in cases("hashring") if c.name == "lookup_many_sweep")
    assert [p["keys"] for p in lookups.grid(False)] == list(SWEEP_SIZES)
