"""Mann-Whitney U, two-sided, exact: the wall-time comparison's significance test.

Exact because the gate's samples are small (a handful of process medians a side), where the
normal approximation is poor; the null distribution is that of U over every way of splitting
the pooled observations into the two groups -- which also handles ties exactly. scipy would
do the same (`method="exact"`), but is not a dependency of the lab for this one function.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

#: Above this many splits the normal approximation (with the tie correction) is used.
EXACT_LIMIT = 200_000


def _ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (1-based) of values, ties sharing the mean of their positions."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def u_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """U of `a`: the number of pairs (x in a, y in b) with x > y, ties counting one half."""
    ranks = _ranks([*a, *b])
    return sum(ranks[: len(a)]) - len(a) * (len(a) + 1) / 2


def p_value(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p of H0: a and b come from the same distribution."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one observation")
    ranks = _ranks([*a, *b])
    mean = n1 * n2 / 2
    observed = abs(sum(ranks[:n1]) - n1 * (n1 + 1) / 2 - mean)
    if math.comb(n1 + n2, n1) <= EXACT_LIMIT:
        at_least = total = 0
        for group in itertools.combinations(ranks, n1):
            total += 1
            if abs(sum(group) - n1 * (n1 + 1) / 2 - mean) >= observed - 1e-9:
                at_least += 1
        return at_least / total
    n = n1 + n2
    ties = sum(t ** 3 - t for t in _tie_sizes(ranks))
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if variance == 0:
        return 1.0
    z = max(observed - 0.5, 0.0) / math.sqrt(variance)  # continuity correction
    return min(1.0, math.erfc(z / math.sqrt(2)))


def _tie_sizes(ranks: list[float]) -> list[int]:
    counts: dict[float, int] = {}
    for r in ranks:
        counts[r] = counts.get(r, 0) + 1
    return [c for c in counts.values() if c > 1]
