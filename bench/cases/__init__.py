"""The explicit list of benchmark cases of every family: `bench/cases/<family>.py`, `CASES`."""

from __future__ import annotations

import importlib

from bench.cases.base import Case, Figure, MemoryProbe, Timed

__all__ = ["Case", "Figure", "MemoryProbe", "Timed", "cases"]


def cases(family: str) -> list[Case]:
    return list(importlib.import_module(f"bench.cases.{family}").CASES)
