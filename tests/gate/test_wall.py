"""The wall-time comparison's flag: significant *and* at least MIN_EFFECT apart."""

import pytest

from bench.gate import wall


def test_separated_samples_far_apart_are_flagged_in_their_direction():
    base = [100.0, 101.0, 102.0, 103.0, 104.0]
    head = [x * 1.3 for x in base]
    assert wall._flag(base, head)[0] == "slower"
    assert wall._flag(head, base)[0] == "faster"
    # 5 against 5, every head above every base: 2 of the C(10, 5) = 252 splits are as extreme.
    assert wall._flag(base, head)[2] == pytest.approx(2 / 252)


def test_a_significant_difference_below_the_minimum_effect_is_the_same():
    base = [100.0, 100.1, 100.2, 100.3, 100.4]
    head = [x * 1.02 for x in base]
    verdict, ratio, p = wall._flag(base, head)
    assert p < wall.ALPHA and ratio == pytest.approx(1.02)
    assert verdict == "same"


def test_overlapping_or_identical_samples_are_the_same():
    assert wall._flag([3.0, 3.0, 3.0], [3.0, 3.0, 3.0]) == ("same", 1.0, 1.0)
    assert wall._flag([100.0, 130.0, 90.0, 125.0], [95.0, 128.0, 101.0, 120.0])[0] == "same"
