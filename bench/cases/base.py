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

#: Case.reference's default: the spec tier prepares the reference output.
FROM_SPEC = "from-spec"
#: What `check` is given when no reference could be computed.
NO_REFERENCE = object()


def always(impl) -> bool:
    return True


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
