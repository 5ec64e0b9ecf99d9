"""Worker-pool cases under pytest-benchmark: one group per case and parameters."""

import pytest

from bench.pybench.conftest import timed_cells


@pytest.mark.parametrize("case,params,impl", timed_cells("workerpool"))
def test_workerpool(run_timed, case, params, impl):
    run_timed(case, params, impl)
