"""Hash-ring peers: uhashring (a ketama-compatible consistent hash ring in pure Python)."""

from __future__ import annotations

from types import SimpleNamespace

from uhashring import HashRing


class UHashRing:
    """uhashring.HashRing behind the lab's Ring contract.

    Its placement (md5, ketama points) differs from ours, so its owners are checked for
    plausibility (every owner is a node of the ring), not against `pure`. Methods are bound
    straight to uhashring's so that no adapter call lands inside a timed figure.
    """

    def __init__(self, nodes=(), vnodes: int = 160):
        self._ring = HashRing(nodes=list(nodes), vnodes=vnodes)
        self.lookup = self._ring.get_node
        self.add = self._ring.add_node
        self.remove = self._ring.remove_node

    def lookup_many(self, keys):
        return list(map(self._ring.get_node, keys))

    @property
    def nodes(self) -> list[str]:
        return list(self._ring.get_nodes())

    def __len__(self) -> int:
        return len(self._ring.get_nodes())


PEERS = {"peer:uhashring": SimpleNamespace(Ring=UHashRing, warmup=lambda: None)}
