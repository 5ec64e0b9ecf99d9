"""What a benchmark case is: one question asked of every implementation of a family.

A case says which parameters it runs at (full and --quick), and for one implementation and
one parameter set prepares either
- a `Timed` operation (the harness checks its output against `pure`, warms up, times it),
- a list of `Figure`s (non-time metrics such as balance; checked against `pure` too), or
- a `MemoryProbe` (run by bench.memory in a subprocess of its own under memray).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Timed:
    """Calls `fn(a)` for each `a` in `args` (`fn(*a)` with `spread`, so that a function of
    several arguments is timed without a wrapper frame); per-item figures divide by
    `items_per_call`.

    With `undo`, each sample is a single call `fn(args[0])` followed by an untimed `undo()`
    (for operations that change state, such as adding a node).
    `output()` is what is compared with `pure` before anything is timed.
    """

    fn: Callable
    args: Sequence
    output: Callable[[], Any]
    items_per_call: int = 1
    undo: Callable[[], Any] | None = None
    spread: bool = False


@dataclass(frozen=True)
class Figure:
    metric: str
    unit: str
    value: float


@dataclass
class MemoryProbe:
    """`build()` runs under memray; everything it returns is kept alive until tracking stops."""

    build: Callable[[], Any]


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    #: "time" (Timed), "figures" (list of Figure) or "memory" (MemoryProbe)
    kind: str
    #: parameter sets: full(quick=False) and --quick(quick=True)
    grid: Callable[[bool], list[dict]]
    #: (implementation module or adapter, params) -> Timed | list[Figure] | MemoryProbe
    prepare: Callable[[Any, dict], Any]
    #: unit of a timing ("ns/op", "ns/key", ...); unused for other kinds
    unit: str = "ns/op"
    #: which implementations the case applies to (e.g. peers without jump are left out)
    applies: Callable[[Any], bool] = field(default=lambda impl: True)
    #: for peers, whose outputs differ from pure by design: (output, params) -> error or None
    peer_check: Callable[[Any, dict], str | None] = field(default=lambda output, params: None)
    #: the peers the summary's "best tier vs best peer" compares with, where only some peers
    #: do the same work as the tiers (e.g. dict-to-bytes codecs); empty: every peer in the row
    versus: tuple[str, ...] = ()
    #: one line on what the case asks, for summaries and --help
    doc: str = ""
