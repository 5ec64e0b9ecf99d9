"""The blocking measure does not move: two counts of one cell on the same tree are identical,
or differ by less than a tenth of the gate's threshold."""

import pytest

from bench.gate import verdict
from bench.gate.callgrind import count
from bench.gate.cells import Key
from bench.gate.run import ROOT

#: A tenth of the threshold: 0.5 %.
TOLERANCE = (verdict.THRESHOLD - 1) / 10


@pytest.mark.timeout(600)
@pytest.mark.parametrize("cell", ["hashring/lookup/cython", "ratelimit/keyed_acquire/pure"])
def test_two_counts_of_one_cell_agree(cell):
    key = Key.parse(cell)
    first, second = count(key, ROOT), count(key, ROOT)
    assert first.inputs == second.inputs
    assert abs(second.ir_per_call / first.ir_per_call - 1) < TOLERANCE, (first, second)
    # ten loops are what the count is made of: they must dwarf the dump calls around them
    assert first.regions["loops=11"] > 5 * first.regions["loops=1"]
