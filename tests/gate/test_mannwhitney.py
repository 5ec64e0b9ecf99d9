"""The wall-time comparison's test statistic."""

import random

import pytest

from bench.gate import mannwhitney


def test_completely_separated_samples_give_the_smallest_exact_p():
    # 5 against 5, all of one side above the other: 2 of the C(10, 5) = 252 splits are as extreme.
    assert mannwhitney.p_value([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)


def test_identical_samples_are_not_different():
    assert mannwhitney.p_value([3.0, 3.0, 3.0], [3.0, 3.0, 3.0]) == 1.0
    assert mannwhitney.p_value([1, 2, 3], [1, 2, 3]) == 1.0


def test_u_counts_pairs_with_ties_as_halves():
    assert mannwhitney.u_statistic([3, 4], [1, 2]) == 4
    assert mannwhitney.u_statistic([1, 2], [1, 2]) == 2
    assert mannwhitney.u_statistic([1], [2]) == 0


def test_the_normal_approximation_agrees_with_the_exact_test_where_both_apply(monkeypatch):
    rng = random.Random(7)
    a = [rng.gauss(0, 1) for _ in range(9)]
    b = [rng.gauss(0.8, 1) for _ in range(9)]
    exact = mannwhitney.p_value(a, b)
    monkeypatch.setattr(mannwhitney, "EXACT_LIMIT", 0)
    assert mannwhitney.p_value(a, b) == pytest.approx(exact, abs=0.02)


def test_empty_samples_are_an_error():
    with pytest.raises(ValueError):
        mannwhitney.p_value([], [1.0])
