"""Consistent-hash ring and jump hash in plain Python: the specification of the family.

Placement rule (every tier follows it exactly, so every tier returns identical owners):

* A key's hash is ``key_hash(key) = zlib.crc32(utf8(key))`` (bytes are hashed as they are).
* Node ``n`` owns ``vnodes`` ring points: for ``i`` in ``0 .. vnodes-1`` the point is
  ``fmix32(crc32(utf8(f"{n}#{i}")))``, where ``fmix32`` is MurmurHash3's 32-bit finalizer.
  Raw CRC32 of such similar labels clusters (it is linear over GF(2)) and balances about
  2.8x worse than theory; the finalizer's avalanche spreads them evenly whatever the names.
* Points are ordered by ``(point, node name)``: equal points of different nodes are broken
  by the node name's code-point order, so the ring depends only on the set of nodes, never
  on the order they were added in.
* A key belongs to the owner of the first point ``>= key_hash`` in that order, wrapping
  around to the first point past the largest.

Jump consistent hash follows Lamping & Veach (2014) exactly, in IEEE double arithmetic.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left
from collections.abc import Sequence

import numpy as np

from impls.hashring import contract
from impls.hashring.base import RingBase

_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF
_JUMP_MULTIPLIER = 2862933555777941757


def key_hash(key: str | bytes) -> int:
    """CRC32 (as zlib.crc32) of the key's UTF-8 bytes."""
    if isinstance(key, str):
        return zlib.crc32(key.encode("utf-8"))
    if isinstance(key, bytes):
        return zlib.crc32(key)
    raise contract.key_type_error(key)


def fmix32(h: int) -> int:
    """MurmurHash3's 32-bit finalizer: a bijection on 32-bit ints with full avalanche."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    h ^= h >> 16
    return h


def node_points(node: str, vnodes: int) -> list[int]:
    """The ring points of `node`, in vnode order (not sorted)."""
    return [fmix32(zlib.crc32(f"{node}#{i}".encode("utf-8"))) for i in range(vnodes)]


class Ring(RingBase):
    """A consistent-hash ring (see RingBase): sorted lists of points and of their owners."""

    def _build(self, names: list[str], encoded: list[bytes]) -> None:
        self._nodes: dict[str, None] = dict.fromkeys(names)  # insertion-ordered set of node names
        self._set_points(sorted((p, node) for node in names for p in node_points(node, self._vnodes)))

    def _set_points(self, pairs: list[tuple[int, str]]) -> None:
        self._hashes = [p for p, _ in pairs]  # sorted ring points
        self._owners = [n for _, n in pairs]  # owner of each point

    def _add(self, node: str, encoded: bytes) -> None:
        self._nodes[node] = None
        new = sorted((p, node) for p in node_points(node, self._vnodes))
        # Both runs are sorted, so this sort is a linear merge (timsort finds the runs).
        self._set_points(sorted(list(zip(self._hashes, self._owners)) + new))

    def _remove(self, node: str) -> None:
        del self._nodes[node]
        self._set_points([(p, n) for p, n in zip(self._hashes, self._owners) if n != node])

    def _owner_of_hash(self, h: int) -> str:
        i = bisect_left(self._hashes, h)
        return self._owners[i if i < len(self._hashes) else 0]

    def lookup(self, key: str | bytes) -> str:
        """The node that owns `key`. LookupError on an empty ring."""
        h = key_hash(key)
        if not self._hashes:
            raise contract.empty_ring_error()
        return self._owner_of_hash(h)

    def lookup_many(self, keys: Sequence[str | bytes]) -> list[str]:
        """The owner of each key, in order. LookupError on an empty ring."""
        if not self._hashes:
            raise contract.empty_ring_error()
        return [self._owner_of_hash(key_hash(k)) for k in keys]


def jump_unchecked(key_hash: int, buckets: int) -> int:
    b, j, key = -1, 0, key_hash
    while j < buckets:
        b = j
        key = (key * _JUMP_MULTIPLIER + 1) & _MASK64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def jump(key_hash: int, buckets: int) -> int:
    """Jump consistent hash: the bucket in [0, buckets) of an unsigned 64-bit key hash."""
    return jump_unchecked(contract.check_key_hash(key_hash), contract.check_buckets(buckets))


def jump_many(key_hashes, buckets: int) -> np.ndarray:
    """jump() of each key hash: a 1-D int array in (uint64 values), an int32 array out."""
    arr = contract.as_key_hash_array(key_hashes)
    buckets = contract.check_buckets(buckets)
    return np.fromiter((jump_unchecked(int(k), buckets) for k in arr), dtype=np.int32, count=arr.size)


def warmup() -> None:
    """Nothing to compile in this tier; present so every tier has the same names."""
