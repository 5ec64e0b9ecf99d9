"""CPU profiles with pyinstrument: one HTML per implementation of a family.

Each family's cases module has `profile_workload(impl, quick)`: a short, representative life
of the structure (build, lookups, churn). Compiled tiers show as a few opaque frames -- that
is the point: the time left in Python frames is what a tier did not take away.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from pyinstrument import Profiler

from bench import lineup


def profile(family: str, impl: str, out_dir: Path, quick: bool = False) -> Path:
    workload = importlib.import_module(f"bench.cases.{family}").profile_workload
    module = lineup.load(family, impl)
    module.warmup()  # compile time is not what a profile of the hot path should show
    profiler = Profiler(interval=0.0005)
    profiler.start()
    workload(module, quick)
    profiler.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{family}-{impl.replace(':', '-')}.html"
    path.write_text(profiler.output_html())
    return path
