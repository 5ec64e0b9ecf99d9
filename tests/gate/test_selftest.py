"""`make gate-selftest`: the gate catches a 1.1x and a 2x slowdown of a pure and a Cython hot
path, naming them, and passes once they are removed (bench/gate/selftest.py)."""

import subprocess
import sys

import pytest

from bench.gate.run import ROOT


@pytest.mark.timeout(1200)
def test_the_gate_catches_injected_slowdowns_and_passes_without_them():
    done = subprocess.run([sys.executable, "-m", "bench.gate", "selftest"], cwd=ROOT, capture_output=True, text=True,
                          timeout=1100)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "SELFTEST PASSED" in output
    for tier in ("pure", "cython"):
        assert f"FAIL hashring lookup {tier}: 1.0" in output or f"FAIL hashring lookup {tier}: 1.1" in output
        assert f"FAIL hashring lookup {tier}: 1.9" in output or f"FAIL hashring lookup {tier}: 2.0" in output
