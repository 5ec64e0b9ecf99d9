"""The verdict: what fails, what passes, what cannot be compared, and what the message says."""

import re

import pytest

from bench.gate import verdict
from bench.gate.baseline import Baseline, definition
from bench.gate.callgrind import MEASURE, Count
from bench.gate.cells import Key

CYTHON = Key("hashring", "lookup", "cython")
PURE = Key("hashring", "lookup", "pure")


def count(key: Key, ir: float, inputs: str = "abc") -> Count:
    return Count(key, ir, {"loops=1": 0, "loops=11": 0}, 64, inputs)


def baseline(*counts: Count) -> Baseline:
    return Baseline(counts={str(c.key): c.ir_per_call for c in counts},
                    definitions={str(c.key): definition(c) for c in counts}, toolchain={}, accepted={})


@pytest.mark.parametrize("ratio, expected, status", [
    (1.10, verdict.SLOWER, verdict.FAIL),
    (2.00, verdict.SLOWER, verdict.FAIL),
    (1.05, verdict.SLOWER, verdict.FAIL),
    (1.049, verdict.OK, verdict.PASS),
    (1.0, verdict.OK, verdict.PASS),
    (0.90, verdict.FASTER, verdict.PASS),
])
def test_a_cell_fails_at_the_threshold_and_only_above_it(ratio, expected, status):
    judgement = verdict.judge([count(CYTHON, 500.0 * ratio)], baseline(count(CYTHON, 500.0)))
    assert judgement.rows[0].verdict == expected
    assert judgement.status == status


def test_the_failure_names_family_case_tier_ratio_and_measure():
    judgement = verdict.judge([count(CYTHON, 550.0), count(PURE, 6000.0)],
                              baseline(count(CYTHON, 500.0), count(PURE, 6000.0)))
    [failure] = judgement.failures
    message = failure.message()
    assert re.match(r"FAIL hashring lookup cython: 1\.100x ", message), message
    assert MEASURE in message and "500.0 -> 550.0" in message and "1.05x" in message
    assert message in verdict.summary(judgement)
    assert verdict.summary(judgement).splitlines()[-1].startswith("FAIL: 1 gated cell")


def test_the_table_has_every_cell_with_base_head_ratio_and_verdict():
    judgement = verdict.judge([count(CYTHON, 550.0), count(PURE, 6000.0)],
                              baseline(count(CYTHON, 500.0), count(PURE, 6000.0)))
    rows = verdict.table(judgement).splitlines()
    assert rows[0] == "| family | case | tier | base Ir/call | head Ir/call | ratio | verdict |"
    assert rows[2] == "| hashring | lookup | cython | 500.0 | 550.0 | 1.100 | SLOWER |"  # worst first
    assert rows[3] == "| hashring | lookup | pure | 6,000.0 | 6,000.0 | 1.000 | ok |"


def test_a_cell_without_a_baseline_or_with_other_inputs_cannot_be_compared():
    accepted = baseline(count(CYTHON, 500.0, inputs="abc"))
    judgement = verdict.judge([count(CYTHON, 500.0, inputs="other"), count(PURE, 6000.0)], accepted)
    assert [r.verdict for r in judgement.rows] == [verdict.REDEFINED, verdict.NO_BASELINE]
    assert judgement.status == verdict.CANNOT_COMPARE
    assert "make gate-accept" in judgement.rows[0].message() and "make gate-accept" in judgement.rows[1].message()


def test_a_slower_cell_fails_even_when_another_could_not_be_measured():
    judgement = verdict.judge([count(CYTHON, 600.0)], baseline(count(CYTHON, 500.0)), errors=["pure: crashed"])
    assert judgement.status == verdict.FAIL
    judgement = verdict.judge([count(CYTHON, 500.0)], baseline(count(CYTHON, 500.0)), errors=["pure: crashed"])
    assert judgement.status == verdict.CANNOT_COMPARE
    assert "cannot measure pure: crashed" in verdict.summary(judgement)


def test_the_json_verdict_carries_status_exit_and_each_message():
    doc = verdict.judge([count(CYTHON, 550.0)], baseline(count(CYTHON, 500.0))).to_json()
    assert (doc["status"], doc["exit"], doc["threshold"]) == ("fail", 1, verdict.THRESHOLD)
    assert doc["cells"][0]["ratio"] == pytest.approx(1.1) and doc["cells"][0]["message"].startswith("FAIL")
