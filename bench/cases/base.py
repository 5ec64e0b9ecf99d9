"""What a benchmark case is: one question asked of every implementation of a family.

A case says which parameters it runs at (full and --quick), which implementations it applies
to, and for one implementation (a `bench.lineup.Impl`) and one parameter set prepares a
measurement (bench.measurement: `Timed`, `Figures`, `MemoryProbe`, or a generator that sets
up and yields one).

Before anything is measured, each output is checked, in one of three ways:
- against the case's **reference**, computed once per parameter set and separately from any
  implementation's measurement: by default the spec tier's (pure's) output, or what the case's
  `reference(params)` returns (for a case pure does not take part in);
- by the case's **invariant**, for a case whose outputs cannot be equal across implementations
  (thread interleavings, a server's own timings): a property every output must have;
- peers, whose results differ from ours by design, by the case's `peer_check`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from impls.registry import SPEC_TIER

#: Case.reference's default: the spec tier prepares the reference output.
FROM_SPEC = "from-spec"
#: What `check` is given when no reference could be computed.
NO_REFERENCE = object()


def always(impl) -> bool:
    return True


# --- batch-size sweeps ------------------------------------------------------------------------
# The `*_sweep` cases time a batch API from one item per call, where its fixed cost per call
# (argument checks, array conversion, Numba's dispatch) is all there is, to sizes where that
# cost no longer shows; the report plots their cost per item against the size, the scalar call
# at 1 beside them. They are cases of their own so that the main cases' names and parameters,
# which are history keys and targets, stay as they were.

SWEEP_SIZES = (1, 10, 100, 1_000, 10_000, 100_000)
QUICK_SWEEP_SIZES = (1, 100, 10_000)
#: pure's cost per item is flat from about a hundred items on, and its 100k-item calls would
#: make a cell last seconds: the spec is timed up to here (its output is still the reference).
SPEC_SWEEP_MAX = 10_000


def sweep_grid(size: str, fixed: dict | list[dict], quick_fixed: dict | list[dict] | None = None,
               below: tuple[int, int] | None = None) -> Callable[[bool], list[dict]]:
    """Each of `fixed` (one parameter set or several; `quick_fixed` at --quick, if given) at
    every sweep size, `size` last; with `below` = (full, quick), only the sizes below it (where
    the family's main batch case already measures the call at that size)."""
    def rows(chosen) -> list[dict]:
        return [chosen] if isinstance(chosen, dict) else list(chosen)

    def grid(quick: bool) -> list[dict]:
        chosen = rows(quick_fixed if quick and quick_fixed is not None else fixed)
        limit = float("inf") if below is None else below[1] if quick else below[0]
        sizes = [n for n in (QUICK_SWEEP_SIZES if quick else SWEEP_SIZES) if n < limit]
        return [{**row, size: n} for row in chosen for n in sizes]

    return grid


def spec_up_to(size: str, limit: int = SPEC_SWEEP_MAX) -> Callable[[Any, dict], bool]:
    """Case.applies_at for a sweep: every cell, but the spec tier's only up to `limit` items."""
    return lambda impl, params: impl.name != SPEC_TIER or params[size] <= limit


def batches(items, size: int) -> list:
    """`items` (a list or an array) cut into consecutive batches of `size`: a case that cycles
    through many distinct inputs one at a time cycles through the same inputs in batches, so
    its scalar call and its batch call at size 1 see the same data."""
    return [items[i:i + size] for i in range(0, len(items), size)]


def _no_peer_check(output, params) -> str | None:
    return None


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    #: "time" (Timed), "figures" (Figures) or "memory" (MemoryProbe)
    kind: str
    #: parameter sets: full(quick=False) and --quick(quick=True)
    grid: Callable[[bool], list[dict]]
    #: (Impl, params) -> a Measurement, or a context manager that yields one
    prepare: Callable[[Any, dict], Any]
    #: unit of a timing ("ns/op", "ns/key", ...); unused for other kinds
    unit: str = "ns/op"
    #: which implementations (Impl) the case applies to
    applies: Callable[[Any], bool] = always
    #: (Impl, params) -> whether that cell is measured at all (e.g. pure at a size it would take
    #: minutes at); default every cell of an applicable implementation
    applies_at: Callable[[Any, dict], bool] = field(default=lambda impl, params: True)
    #: FROM_SPEC, a function params -> the reference output, or None (then `invariant` checks)
    reference: Any = FROM_SPEC
    #: (output, params) -> what is wrong, or None: the check for every tier and backend where
    #: outputs cannot be equal (then `reference` is not used)
    invariant: Callable[[Any, dict], str | None] | None = None
    #: for peers, whose outputs differ from pure by design: (output, params) -> error or None
    peer_check: Callable[[Any, dict], str | None] = field(default=_no_peer_check)
    #: the peers the summary's "best tier vs best peer" compares with, where only some peers
    #: do the same work as the tiers (e.g. dict-to-bytes codecs); empty: every peer in the row
    versus: tuple[str, ...] = ()
    #: one line on what the case asks, for summaries and --help
    doc: str = ""

    def check(self, impl, params: dict, output, reference) -> str | None:
        """None if `output` of `impl` is acceptable, else what is wrong."""
        where = f"{self.family}/{self.name} {impl.name} {params}"
        if impl.is_peer:
            problem = self.peer_check(output, params)
        elif self.invariant is not None:
            problem = self.invariant(output, params)
        elif reference is NO_REFERENCE:
            problem = "no reference to check against"
        else:
            problem = None if output == reference else "output differs from the reference (pure)"
        return f"{where}: {problem}" if problem else None

    def needs_reference(self, impl) -> bool:
        return not impl.is_peer and self.invariant is None
