"""`bench compare`: the ratio B/A per cell, each metric's direction, and what is beyond noise."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench import results
from bench.report import compare


def rec(value, metric="time", impl="cython", better="lower", unit="ns/op", case="lookup", spread=0.02, **params):
    r = {"family": "hashring", "case": case, "impl": impl, "role": "peer" if impl.startswith("peer:") else "tier",
         "params": params or {"nodes": 10}, "metric": metric, "unit": unit, "value": value, "better": better}
    if spread is not None:
        r.update(q1=value * (1 - spread), q3=value * (1 + spread), n=25)
    return r


def judged(a, b):
    return compare.judge(a, b)


def test_ratio_is_b_over_a():
    ratio, _, _ = judged(rec(200.0), rec(150.0))
    assert ratio == pytest.approx(0.75)


@pytest.mark.parametrize("a, b, verdict", [
    # timings: apart and past 5% -> a verdict in the metric's direction
    (rec(100.0), rec(120.0), compare.REGRESSED),
    (rec(100.0), rec(80.0), compare.IMPROVED),
    # 20% slower but the quartiles overlap: noise
    (rec(100.0, spread=0.15), rec(120.0, spread=0.15), compare.NOISE),
    # quartiles apart but under the minimum effect: noise
    (rec(100.0, spread=0.001), rec(103.0, spread=0.001), compare.NOISE),
    # higher is better: throughput up is an improvement, down a regression
    (rec(1000.0, "throughput", better="higher", unit="msg/s"), rec(1300.0, "throughput", better="higher", unit="msg/s"),
     compare.IMPROVED),
    (rec(1000.0, "throughput", better="higher", unit="msg/s", spread=None),
     rec(800.0, "throughput", better="higher", unit="msg/s", spread=None), compare.REGRESSED),
    # no quartiles: 10% is the minimum
    (rec(1.0, "std_over_mean", unit="ratio", spread=None), rec(1.08, "std_over_mean", unit="ratio", spread=None),
     compare.NOISE),
    (rec(1.0, "std_over_mean", unit="ratio", spread=None), rec(1.2, "std_over_mean", unit="ratio", spread=None),
     compare.REGRESSED),
    # a figure with no better direction only changes
    (rec(1.0, "moved_over_ideal", unit="ratio", spread=None), rec(0.8, "moved_over_ideal", unit="ratio", spread=None),
     compare.CHANGED),
    # counts from zero: a ratio means nothing, the difference still counts
    (rec(0, "failures", unit="count", spread=None), rec(3, "failures", unit="count", spread=None), compare.REGRESSED),
    (rec(0, "failures", unit="count", spread=None), rec(0, "failures", unit="count", spread=None), compare.NOISE),
])
def test_verdicts(a, b, verdict):
    assert judged(a, b)[1] == verdict


def test_the_effect_is_symmetric():
    assert compare.effect(100, 200) == compare.effect(200, 100) == pytest.approx(1.0)
    assert compare.effect(0, 5) == 1.0 and compare.effect(-2, 2) == 2.0  # |B - A| / max(|A|, |B|)


def test_ratio_without_meaning():
    def failures(n):
        return rec(n, "failures", unit="count", spread=None)

    assert judged(failures(0), failures(3))[0] is None
    assert judged(failures(0), failures(0))[0] == 1.0


def _write(folder, records, schema=2):
    folder.mkdir(parents=True, exist_ok=True)
    doc = results.new_document(records)
    if schema == 1:
        doc = {**doc, "schema": 1, "results": [{k: v for k, v in r.items() if k not in ("role", "better")}
                                                for r in records]}
    (folder / "results.json").write_text(json.dumps(doc))
    return folder


def test_cells_match_by_family_case_impl_params_metric(tmp_path):
    a = _write(tmp_path / "a", [rec(100.0), rec(100.0, nodes=100), rec(50.0, impl="pure"), rec(7.0, impl="numba")])
    b = _write(tmp_path / "b", [rec(100.0, nodes=100), rec(130.0), rec(50.0, impl="pure"), rec(9.0, case="jump")])
    cells = compare.compare(compare.load(a), compare.load(b))
    by = {(c.case, c.impl, json.dumps(c.params)): c for c in cells}
    assert by[("lookup", "cython", '{"nodes": 10}')].verdict == compare.REGRESSED
    assert by[("lookup", "cython", '{"nodes": 100}')].verdict == compare.NOISE
    assert by[("lookup", "numba", '{"nodes": 10}')].verdict == compare.ONLY_A
    assert by[("jump", "cython", '{"nodes": 10}')].verdict == compare.ONLY_B
    assert len(cells) == 5


def test_schema_1_files_get_their_direction_from_the_unit(tmp_path):
    a = _write(tmp_path / "a", [rec(1000.0, "throughput", unit="msg/s", better="higher", spread=None)], schema=1)
    b = _write(tmp_path / "b", [rec(1500.0, "throughput", unit="msg/s", better="higher", spread=None)], schema=1)
    (cell,) = compare.compare(compare.load(a), compare.load(b / "results.json"))
    assert cell.verdict == compare.IMPROVED


def test_markdown_and_cli(tmp_path):
    a = _write(tmp_path / "a", [rec(100.0), rec(10.0, impl="pure")])
    b = _write(tmp_path / "b", [rec(150.0), rec(10.1, impl="pure")])
    out = tmp_path / "cmp" / "compare.md"
    done = subprocess.run([sys.executable, "-m", "bench", "compare", str(a), str(b), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text in done.stdout
    assert "2 cells in both: 0 improved, 1 regressed" in text
    assert "| hashring | lookup | nodes=10 | cython | time | 100 ns/op | 150 ns/op | 1.500 | **regressed** |" in text
    assert "| lookup | nodes=10 | pure | time | 10 ns/op | 10.1 ns/op | 1.010 | within noise |" in text
    missing = subprocess.run([sys.executable, "-m", "bench", "compare", str(a), str(tmp_path / "nowhere")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no results.json" in missing.stderr
