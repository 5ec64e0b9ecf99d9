"""The explicit list of benchmark cases of every family: `bench/cases/<family>.py`, `CASES`."""

from __future__ import annotations

import importlib

from bench.cases.base import FROM_SPEC, Case
from bench.measurement import HIGHER, LOWER, Figure, Figures, MemoryProbe, Timed

__all__ = ["Case", "FROM_SPEC", "Figure", "Figures", "HIGHER", "LOWER", "MemoryProbe", "Timed", "cases", "family_module"]


def family_module(family: str):
    """bench.cases.<family>: CASES, TARGETS and profile_workload."""
    return importlib.import_module(f"bench.cases.{family}")


def cases(family: str) -> list[Case]:
    return list(family_module(family).CASES)
