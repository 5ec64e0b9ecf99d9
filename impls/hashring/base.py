"""The node set of a ring, shared by the pure and Numba tiers: vnodes, the node names in the
order they were added, and the checks (in pure's order, with the contract's errors) that
building a ring and adding or removing a node make before anything changes.

A tier subclasses `RingBase`, keeps `_nodes` -- a dict whose keys are the node names in the
order they were added (its values are the tier's own) -- and places the points:

* `_build(names, encoded)`: the ring of these distinct, checked nodes (their UTF-8 names);
* `_add(node, encoded)`: add a checked node that is not in the ring;
* `_remove(node)`: remove a node that is in the ring.

Lookups are the tier's own: they are the hot path, and a shared layer would add a call.
The Cython tier cannot share this class (a cdef class has no cheap Python base); it calls
the same `impls.hashring.contract` functions instead.
"""

from __future__ import annotations

from collections.abc import Container, Iterable

from impls.hashring import contract


class RingBase:
    """A consistent-hash ring with `vnodes` points per node (the rule: see impls.hashring.pure).

    Not thread-safe for concurrent add/remove; concurrent lookups are safe.
    """

    _nodes: dict[str, object]

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = contract.DEFAULT_VNODES):
        self._vnodes = contract.check_vnodes(vnodes)
        admitted: dict[str, None] = {}  # insertion-ordered set, for the duplicate check
        encoded: list[bytes] = []
        for node in nodes:
            encoded.append(self._admissible(node, admitted))
            admitted[node] = None
        self._build(list(admitted), encoded)

    def _admissible(self, node: object, present: Container[str]) -> bytes:
        """The node's UTF-8 name, or pure's error if it is bad or `present`; changes nothing."""
        contract.check_node(node)
        if node in present:
            raise contract.node_exists_error(node)
        return node.encode("utf-8")  # a name that cannot be hashed fails before any change

    @property
    def vnodes(self) -> int:
        return self._vnodes

    @property
    def nodes(self) -> list[str]:
        """The current node names, in the order they were added."""
        return list(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def add(self, node: str) -> None:
        """Add a node; only keys that now belong to it move. ValueError if it is there."""
        self._add(node, self._admissible(node, self._nodes))

    def remove(self, node: str) -> None:
        """Remove a node; exactly the keys it owned move. KeyError if it is not there."""
        contract.check_node(node)
        if node not in self._nodes:
            raise contract.node_missing_error(node)
        self._remove(node)
