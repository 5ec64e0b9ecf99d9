"""Start-up cost of a tier, its own figure so it never lands inside a timed one.

Measured in a fresh subprocess from the first import to the end of `warmup()`: for Numba
this is compilation, for Cython loading the extension. Twice: `cold_start_time` with an
empty Numba cache (NUMBA_CACHE_DIR pointed at a new folder: what the first run on a machine
pays) and `cached_start_time` with the project's cache (what every later run pays).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

_CHILD = (
    "import sys, time\n"
    "start = time.perf_counter()\n"
    "from impls import registry\n"
    "registry.load(sys.argv[1], sys.argv[2]).warmup()\n"
    "print(time.perf_counter() - start)\n"
)


def _seconds(family: str, tier: str, env: dict) -> float:
    done = subprocess.run([sys.executable, "-c", _CHILD, family, tier], capture_output=True, text=True, env=env,
                          timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"start-up of {family}/{tier} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def measure(impl, cold: bool = True) -> list[dict]:
    """cached_start_time and (with `cold`; --quick leaves it out: a full compile of a family's
    kernels takes seconds) cold_start_time records, in seconds, for one tier (a lineup.Impl)."""
    family, tier = impl.family, impl.name
    base = {"family": family, "case": "startup", "impl": tier, "role": impl.role, "params": {}, "unit": "s",
            "better": "lower"}
    records = []
    if cold:
        with tempfile.TemporaryDirectory(prefix="lab-numba-cache-") as empty_cache:
            seconds = _seconds(family, tier, {**os.environ, "NUMBA_CACHE_DIR": empty_cache})
        records.append({**base, "metric": "cold_start_time", "value": seconds})
    cached_env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    _seconds(family, tier, cached_env)  # make sure the project's cache is filled
    records.append({**base, "metric": "cached_start_time", "value": _seconds(family, tier, cached_env)})
    return records
