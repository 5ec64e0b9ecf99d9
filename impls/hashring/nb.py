"""Consistent-hash ring and jump hash, Numba tier: the Python API over the kernels.

Same contract and placement rule as `impls.hashring.pure` (the specification): the same
owners for every key, the same exceptions for every bad input. Arguments are checked in
Python with `impls.hashring.contract`, in pure's order, before any kernel runs (the node
set and its checks are `impls.hashring.base.RingBase`, which pure's Ring uses too, and
`key_hash` is pure's); the kernels only ever see valid numpy arrays and scalars.

The kernels live in three modules, one idea each: nb_hash (CRC32 of keys and the points of
node names), nb_ring (the sorted point array, its bucket index, the lookups; the state's
layout is described there) and nb_jump (jump consistent hash). Every kernel has an eager
signature, so importing this module compiles them (or loads them from Numba's on-disk
cache). No kernel uses fastmath: results must equal pure's bit for bit.

Numba caches each kernel by the file that defines it: after editing nb_hash.py, clear
impls/hashring/__pycache__ so that the kernel which inlines its crc32_many (nb_ring's
owners_of_keys) is compiled again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from impls.hashring import contract
from impls.hashring.base import RingBase
from impls.hashring.nb_hash import MASK32, ring_points, split_at_nul
from impls.hashring.nb_jump import jump_all, jump_one
from impls.hashring.nb_ring import bucket_index, merge, owner_of_hash, owners_of_keys, without
from impls.hashring.pure import key_hash

__all__ = ["Ring", "key_hash", "jump", "jump_many", "warmup"]


# ---------------------------------------------------------------------------------------
# Key and name buffers: what the kernels read keys and node names from.
# ---------------------------------------------------------------------------------------
def _offsets(lengths: Iterator[int], n: int) -> np.ndarray:
    """[0, l0, l0+l1, ...]: the n+1 boundaries of n consecutive pieces."""
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(lengths, dtype=np.int64, count=n), out=offsets[1:])
    return offsets


def _encoded_keys(keys: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The keys' UTF-8 bytes in one buffer, and where each key starts and ends in it.

    Fast path, all keys str: one join with NUL separators and one encode for the lot, then a
    kernel finds the separators (UTF-8 writes a 0 byte only for U+0000, so they are exactly
    the key boundaries unless a key holds a NUL itself). This avoids a Python-level len() per
    key, which costs more than the join. All keys exactly bytes: joined as they are.
    Anything else (mixed keys, a bad key, a lone surrogate, a NUL inside a key) goes key by
    key, so the first bad key in order raises exactly what pure raises for it.
    """
    try:
        data = "\0".join(keys).encode("utf-8")
    except (TypeError, UnicodeEncodeError):
        if set(map(type, keys)) == {bytes}:  # not subclasses: b"".join takes any buffer
            return _concatenated(keys)
    else:
        buf = np.frombuffer(data, dtype=np.uint8)
        separated, starts, ends = split_at_nul(buf, len(keys))
        if separated:
            return buf, starts, ends
    return _encoded_keys_one_by_one(keys)


def _encoded_keys_one_by_one(keys: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    encoded = []
    for key in keys:
        if isinstance(key, str):
            key = key.encode("utf-8")
        elif not isinstance(key, bytes):
            raise contract.key_type_error(key)
        encoded.append(key)
    return _concatenated(encoded)


def _concatenated(pieces: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pieces in one buffer, and where each starts and ends in it."""
    offsets = _offsets(map(len, pieces), len(pieces))
    return np.frombuffer(b"".join(pieces), dtype=np.uint8), offsets[:-1], offsets[1:]


def _points_of(encoded_names: list[bytes], vnodes: int) -> np.ndarray:
    """Ring points of each node (node-major, vnode order), from the UTF-8 names."""
    buf = np.frombuffer(b"".join(encoded_names), dtype=np.uint8)
    return ring_points(buf, _offsets(map(len, encoded_names), len(encoded_names)), vnodes)


class Ring(RingBase):
    """A consistent-hash ring (see RingBase) in numpy arrays, placed and searched by kernels.

    Each change swaps in a whole new state tuple at once, so a lookup never sees half of a
    change.
    """

    def _build(self, names: list[str], encoded: list[bytes]) -> None:
        points = _points_of(encoded, self._vnodes)
        # Order by (point, name): pack the name's rank under the point and sort once.
        by_name = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(names), dtype=np.uint64)
        rank[by_name] = np.arange(len(names), dtype=np.uint64)
        packed = (points.astype(np.uint64) << np.uint64(32)) | np.repeat(rank, self._vnodes)
        packed.sort()
        hashes = (packed >> np.uint64(32)).astype(np.uint32)
        owners = np.asarray(by_name, dtype=np.int32)[(packed & MASK32).astype(np.intp)]
        self._commit(names, hashes, owners)

    def _commit(self, names: list[str], hashes: np.ndarray, owners: np.ndarray) -> None:
        bits = min(max(hashes.size.bit_length(), 4), 20)  # about one point per bucket
        names_array = np.empty(len(names), dtype=object)
        names_array[:] = names
        self._nodes = {name: i for i, name in enumerate(names)}  # name -> its owner number
        self._state = (hashes, owners, bucket_index(hashes, bits), 32 - bits, names_array)

    def _add(self, node: str, encoded: bytes) -> None:
        hashes, owners, _, _, names_array = self._state
        new_hashes = np.sort(_points_of([encoded], self._vnodes))
        names = names_array.tolist()
        before_new = np.fromiter((name < node for name in names), dtype=np.bool_, count=len(names))
        hashes, owners = merge(hashes, owners, new_hashes, len(names), before_new)
        self._commit(names + [node], hashes, owners)

    def _remove(self, node: str) -> None:
        gone = self._nodes[node]
        hashes, owners, _, _, names_array = self._state
        names = names_array.tolist()
        del names[gone]
        self._commit(names, *without(hashes, owners, gone))

    def lookup(self, key: str | bytes) -> str:
        """The node that owns `key`. LookupError on an empty ring."""
        h = key_hash(key)
        hashes, owners, index, shift, names = self._state
        if not hashes.size:
            raise contract.empty_ring_error()
        return names[owner_of_hash(h, hashes, owners, index, shift)]

    def lookup_many(self, keys: Sequence[str | bytes]) -> list[str]:
        """The owner of each key, in order. LookupError on an empty ring."""
        hashes, owners, index, shift, names = self._state
        if not hashes.size:
            raise contract.empty_ring_error()
        if not isinstance(keys, (list, tuple)):
            keys = list(keys)  # one pass over an iterator; same TypeError as pure if not iterable
        if not keys:
            return []
        buf, starts, ends = _encoded_keys(keys)
        return names[owners_of_keys(buf, starts, ends, hashes, owners, index, shift)].tolist()


def jump(key_hash: int, buckets: int) -> int:
    """Jump consistent hash: the bucket in [0, buckets) of an unsigned 64-bit key hash."""
    return jump_one(contract.check_key_hash(key_hash), contract.check_buckets(buckets))


def jump_many(key_hashes, buckets: int) -> np.ndarray:
    """jump() of each key hash: a 1-D int array in (uint64 values), an int32 array out."""
    arr = contract.as_key_hash_array(key_hashes)
    return jump_all(arr, contract.check_buckets(buckets))


def warmup() -> None:
    """Run every kernel and every Python path once, on tiny inputs.

    The kernels have eager signatures, so importing this module already compiled them (or
    loaded them from Numba's cache); this makes sure nothing is left for a timed first call.
    """
    ring = Ring(["a", "b"], vnodes=4)
    ring.add("c")
    ring.remove("a")
    ring.lookup("k")
    ring.lookup_many(["k", "ключ"])
    ring.lookup_many([b"k"])
    ring.lookup_many([b"k", "k"])
    jump(1, 10)
    jump_many(np.arange(4, dtype=np.uint64), 10)
