"""Consistent-hash ring and jump hash, Numba tier.

Same contract and placement rule as `impls.hashring.pure` (the specification): the same
owners for every key, the same exceptions for every bad input. Arguments are checked in
Python with `impls.hashring.checks`, in pure's order, before any kernel runs; the kernels
below only ever see valid numpy arrays and scalars.

Ring state is two parallel arrays sorted by ``(point, node name)``: ``hashes`` (uint32) and
``owners`` (int32, the node's position in insertion order), plus a bucket index over the
top ``bits`` bits of a hash: ``index[k]`` is the first position whose point is
``>= k << (32 - bits)``. A lookup jumps there and scans forward to the first point
``>= key_hash``, which is exactly pure's ``bisect_left``; past the end it wraps to 0.

Every kernel has an eager signature, so importing this module compiles them (or loads them
from Numba's on-disk cache). No kernel uses fastmath: results must equal pure's bit for bit.
"""

from __future__ import annotations

import zlib
from collections.abc import Container, Iterable, Iterator, Sequence

import numpy as np
from numba import njit, types

from impls.hashring import checks

# ---------------------------------------------------------------------------------------
# Kernel argument types. Inputs are declared read-only: np.frombuffer over bytes gives a
# read-only array, and Numba accepts a writable array where a read-only one is declared.
# ---------------------------------------------------------------------------------------
_U8_IN = types.Array(types.uint8, 1, "C", readonly=True)
_U32_IN = types.Array(types.uint32, 1, "C", readonly=True)
_I32_IN = types.Array(types.int32, 1, "C", readonly=True)
_I64_IN = types.Array(types.int64, 1, "C", readonly=True)
_U64_IN = types.Array(types.uint64, 1, "C", readonly=True)
_BOOL_IN = types.Array(types.boolean, 1, "C", readonly=True)
_U32_OUT = types.uint32[::1]
_I32_OUT = types.int32[::1]
_I64_OUT = types.int64[::1]

_KERNEL = {"cache": True, "nogil": True}

_MASK32 = np.uint64(0xFFFFFFFF)
# uint64 constants keep jump's arithmetic in uint64 (a uint64 op an int64 gives float64).
_JUMP_MULTIPLIER = np.uint64(2862933555777941757)
_ONE = np.uint64(1)
_HASH = ord("#")
_ZERO = ord("0")


def _crc32_tables() -> np.ndarray:
    """Slice-by-8 tables of the reflected CRC32 (poly 0xEDB88320, as zlib.crc32).

    Row 0 is the classic byte table; row k advances a byte's contribution by k more bytes
    of zeros, so eight bytes can be folded in per step with eight independent lookups.
    """
    tables = np.zeros((8, 256), dtype=np.uint32)
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        tables[0, n] = c
    for k in range(1, 8):
        prev = tables[k - 1]
        tables[k] = (prev >> 8) ^ tables[0][prev & 0xFF]
    return tables


_CRC_TABLES = _crc32_tables()  # a global array: Numba freezes it into the compiled code


# ---------------------------------------------------------------------------------------
# Helpers compiled into the kernels that call them (no signature of their own).
# ---------------------------------------------------------------------------------------
@njit(**_KERNEL)
def _crc32_update(crc, buf, start, end):
    """Continue the CRC32 register `crc` (inverted form, start at 0xFFFFFFFF) over buf[start:end].

    Kept in int64: every value stays below 2**32, so no masking is needed.
    """
    t = _CRC_TABLES
    i = start
    while i + 8 <= end:
        one = crc ^ (np.int64(buf[i]) | (np.int64(buf[i + 1]) << 8)
                     | (np.int64(buf[i + 2]) << 16) | (np.int64(buf[i + 3]) << 24))
        two = (np.int64(buf[i + 4]) | (np.int64(buf[i + 5]) << 8)
               | (np.int64(buf[i + 6]) << 16) | (np.int64(buf[i + 7]) << 24))
        crc = np.int64(
            t[7, one & 0xFF] ^ t[6, (one >> 8) & 0xFF] ^ t[5, (one >> 16) & 0xFF] ^ t[4, one >> 24]
            ^ t[3, two & 0xFF] ^ t[2, (two >> 8) & 0xFF] ^ t[1, (two >> 16) & 0xFF] ^ t[0, two >> 24]
        )
        i += 8
    while i < end:
        crc = _crc32_byte(crc, buf[i])
        i += 1
    return crc


@njit(**_KERNEL)
def _crc32_byte(crc, byte):
    """The CRC32 register after one more byte (the classic table-driven step)."""
    return np.int64(_CRC_TABLES[0, (crc ^ byte) & 0xFF]) ^ (crc >> 8)


@njit(**_KERNEL)
def _position(h, hashes, index, shift):
    """bisect_left(hashes, h), wrapped to 0 past the end, via the bucket index."""
    n = hashes.size
    i = index[h >> shift]
    while i < n and hashes[i] < h:
        i += 1
    return i if i < n else 0


@njit(**_KERNEL)
def _jump(key, buckets):
    """Lamping & Veach, as pure.jump_unchecked: uint64 state, the same IEEE double ops."""
    b = np.int64(-1)
    j = np.int64(0)
    while j < buckets:
        b = j
        key = key * _JUMP_MULTIPLIER + _ONE
        j = np.int64((b + 1) * (2147483648.0 / np.float64((key >> np.uint64(33)) + _ONE)))
    return b


# ---------------------------------------------------------------------------------------
# Kernels.
# ---------------------------------------------------------------------------------------
@njit(types.uint32(types.uint32), **_KERNEL)
def fmix32(h):
    """MurmurHash3's 32-bit finalizer, as pure.fmix32 (uint32 products kept mod 2**32)."""
    x = np.uint64(h)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & _MASK32
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & _MASK32
    x ^= x >> np.uint64(16)
    return np.uint32(x)


@njit(_U32_OUT(_U8_IN, _I64_IN, _I64_IN), **_KERNEL)
def crc32_many(buf, starts, ends):
    """zlib.crc32 of each buf[starts[k]:ends[k]]."""
    out = np.empty(starts.size, dtype=np.uint32)
    for k in range(starts.size):
        out[k] = _crc32_update(np.int64(0xFFFFFFFF), buf, starts[k], ends[k]) ^ 0xFFFFFFFF
    return out


@njit(_U32_OUT(_U8_IN, _I64_IN, types.int64), **_KERNEL)
def _ring_points(names, offsets, vnodes):
    """Every node's points, node-major: point i of node k is fmix32(crc32(f"{name}#{i}")).

    CRC is streamable, so the register after f"{name}#" is computed once per node and only
    the decimal digits of i are folded in per point.
    """
    n = offsets.size - 1
    out = np.empty(n * vnodes, dtype=np.uint32)
    for k in range(n):
        prefix = _crc32_byte(_crc32_update(np.int64(0xFFFFFFFF), names, offsets[k], offsets[k + 1]), _HASH)
        for i in range(vnodes):
            crc = prefix
            p = 1
            while p * 10 <= i:
                p *= 10
            while p > 0:  # digits most significant first, as f"{i}" writes them
                crc = _crc32_byte(crc, _ZERO + (i // p) % 10)
                p //= 10
            out[k * vnodes + i] = fmix32(np.uint32(crc ^ 0xFFFFFFFF))
    return out


@njit(_I64_OUT(_U32_IN, types.int64), **_KERNEL)
def _bucket_index(hashes, bits):
    """index[k] = first position whose point is >= k << (32 - bits) (len(hashes) if none)."""
    shift = 32 - bits
    index = np.empty(1 << bits, dtype=np.int64)
    pos = 0
    for k in range(1 << bits):
        low = k << shift
        while pos < hashes.size and hashes[pos] < low:
            pos += 1
        index[k] = pos
    return index


@njit(types.int64(types.int64, _U32_IN, _I32_IN, _I64_IN, types.int64), **_KERNEL)
def _owner_of_hash(h, hashes, owners, index, shift):
    return owners[_position(h, hashes, index, shift)]


@njit(_I32_OUT(_U8_IN, _I64_IN, _I64_IN, _U32_IN, _I32_IN, _I64_IN, types.int64), **_KERNEL)
def _owners_of_keys(buf, starts, ends, hashes, owners, index, shift):
    """The owner of each key buf[starts[k]:ends[k]]."""
    key_hashes = crc32_many(buf, starts, ends)
    out = np.empty(key_hashes.size, dtype=np.int32)
    for k in range(key_hashes.size):
        out[k] = owners[_position(np.int64(key_hashes[k]), hashes, index, shift)]
    return out


@njit(types.Tuple((types.boolean, _I64_OUT, _I64_OUT))(_U8_IN, types.int64), **_KERNEL)
def _split_at_nul(buf, n):
    """Bounds of the n >= 1 pieces of "\\0".join(pieces) -> (True, starts, ends); or
    (False, ...) if buf holds more than n-1 NUL bytes, i.e. some piece contains one itself."""
    starts = np.empty(n, dtype=np.int64)
    ends = np.empty(n, dtype=np.int64)
    starts[0] = 0
    k = 0
    for i in range(buf.size):
        if buf[i] == 0:
            if k == n - 1:
                return False, starts, ends
            ends[k] = i
            k += 1
            starts[k] = i + 1
    ends[k] = buf.size
    return True, starts, ends


@njit(types.Tuple((_U32_OUT, _I32_OUT))(_U32_IN, _I32_IN, _U32_IN, types.int64, _BOOL_IN), **_KERNEL)
def _merge(hashes, owners, new_hashes, new_owner, before_new):
    """Merge a new node's sorted points into the ring; at equal points, an existing owner
    goes first iff before_new[owner] (its name sorts before the new node's)."""
    n, m = hashes.size, new_hashes.size
    out_h = np.empty(n + m, dtype=np.uint32)
    out_o = np.empty(n + m, dtype=np.int32)
    i = j = 0
    for k in range(n + m):
        if j == m or (i < n and (hashes[i] < new_hashes[j]
                                 or (hashes[i] == new_hashes[j] and before_new[owners[i]]))):
            out_h[k] = hashes[i]
            out_o[k] = owners[i]
            i += 1
        else:
            out_h[k] = new_hashes[j]
            out_o[k] = new_owner
            j += 1
    return out_h, out_o


@njit(types.Tuple((_U32_OUT, _I32_OUT))(_U32_IN, _I32_IN, types.int64), **_KERNEL)
def _without(hashes, owners, gone):
    """The ring without owner `gone`; later owners shift down one, as in the names list."""
    keep = 0
    for o in owners:
        keep += o != gone
    out_h = np.empty(keep, dtype=np.uint32)
    out_o = np.empty(keep, dtype=np.int32)
    k = 0
    for i in range(hashes.size):
        o = owners[i]
        if o != gone:
            out_h[k] = hashes[i]
            out_o[k] = o - 1 if o > gone else o
            k += 1
    return out_h, out_o


@njit(types.int64(types.uint64, types.int64), **_KERNEL)
def _jump_one(key, buckets):
    return _jump(key, buckets)


@njit(_I32_OUT(_U64_IN, types.int64), **_KERNEL)
def _jump_many(keys, buckets):
    out = np.empty(keys.size, dtype=np.int32)
    for k in range(keys.size):
        out[k] = _jump(keys[k], buckets)
    return out


# ---------------------------------------------------------------------------------------
# Python side: argument checks, key buffers, ring state.
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
        separated, starts, ends = _split_at_nul(buf, len(keys))
        if separated:
            return buf, starts, ends
    return _encoded_keys_one_by_one(keys)


def _encoded_keys_one_by_one(keys: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    encoded = []
    for key in keys:
        if isinstance(key, str):
            key = key.encode("utf-8")
        elif not isinstance(key, bytes):
            raise checks.key_type_error(key)
        encoded.append(key)
    return _concatenated(encoded)


def _concatenated(pieces: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pieces in one buffer, and where each starts and ends in it."""
    offsets = _offsets(map(len, pieces), len(pieces))
    return np.frombuffer(b"".join(pieces), dtype=np.uint8), offsets[:-1], offsets[1:]


def _points_of(encoded_names: list[bytes], vnodes: int) -> np.ndarray:
    """Ring points of each node (node-major, vnode order), from the UTF-8 names."""
    buf = np.frombuffer(b"".join(encoded_names), dtype=np.uint8)
    return _ring_points(buf, _offsets(map(len, encoded_names), len(encoded_names)), vnodes)


def key_hash(key: str | bytes) -> int:
    """CRC32 (as zlib.crc32) of the key's UTF-8 bytes."""
    if isinstance(key, str):
        return zlib.crc32(key.encode("utf-8"))
    if isinstance(key, bytes):
        return zlib.crc32(key)
    raise checks.key_type_error(key)


class Ring:
    """A consistent-hash ring with `vnodes` points per node (rule: see impls.hashring.pure).

    Not thread-safe for concurrent add/remove; concurrent lookups are safe. Each change
    swaps in a whole new state tuple at once, so a lookup never sees half of a change.
    """

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = checks.DEFAULT_VNODES):
        self._vnodes = checks.check_vnodes(vnodes)
        admitted: dict[str, None] = {}  # insertion-ordered set, for the duplicate check
        encoded: list[bytes] = []
        for node in nodes:
            encoded.append(self._admissible(node, admitted))
            admitted[node] = None
        names = list(admitted)
        points = _points_of(encoded, self._vnodes)
        # Order by (point, name): pack the name's rank under the point and sort once.
        by_name = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(names), dtype=np.uint64)
        rank[by_name] = np.arange(len(names), dtype=np.uint64)
        packed = (points.astype(np.uint64) << np.uint64(32)) | np.repeat(rank, self._vnodes)
        packed.sort()
        hashes = (packed >> np.uint64(32)).astype(np.uint32)
        owners = np.asarray(by_name, dtype=np.int32)[(packed & _MASK32).astype(np.intp)]
        self._commit(names, hashes, owners)

    def _admissible(self, node: object, present: Container[str]) -> bytes:
        """The node's UTF-8 name, or pure's error if it is bad or `present`; changes nothing."""
        checks.check_node(node)
        if node in present:
            raise checks.node_exists_error(node)
        return node.encode("utf-8")  # a name that cannot be hashed fails before any change

    def _commit(self, names: list[str], hashes: np.ndarray, owners: np.ndarray) -> None:
        bits = min(max(hashes.size.bit_length(), 4), 20)  # about one point per bucket
        names_array = np.empty(len(names), dtype=object)
        names_array[:] = names
        self._index = {name: i for i, name in enumerate(names)}
        self._state = (hashes, owners, _bucket_index(hashes, bits), 32 - bits, names_array)

    @property
    def vnodes(self) -> int:
        return self._vnodes

    @property
    def nodes(self) -> list[str]:
        """The current node names, in the order they were added."""
        return list(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, node: object) -> bool:
        return node in self._index

    def add(self, node: str) -> None:
        """Add a node; only keys that now belong to it move. ValueError if it is there."""
        encoded = self._admissible(node, self._index)
        hashes, owners, _, _, names_array = self._state
        new_hashes = np.sort(_points_of([encoded], self._vnodes))
        names = names_array.tolist()
        before_new = np.fromiter((name < node for name in names), dtype=np.bool_, count=len(names))
        hashes, owners = _merge(hashes, owners, new_hashes, len(names), before_new)
        self._commit(names + [node], hashes, owners)

    def remove(self, node: str) -> None:
        """Remove a node; exactly the keys it owned move. KeyError if it is not there."""
        checks.check_node(node)
        if node not in self._index:
            raise checks.node_missing_error(node)
        gone = self._index[node]
        hashes, owners, _, _, names_array = self._state
        names = names_array.tolist()
        del names[gone]
        self._commit(names, *_without(hashes, owners, gone))

    def lookup(self, key: str | bytes) -> str:
        """The node that owns `key`. LookupError on an empty ring."""
        h = key_hash(key)
        hashes, owners, index, shift, names = self._state
        if not hashes.size:
            raise checks.empty_ring_error()
        return names[_owner_of_hash(h, hashes, owners, index, shift)]

    def lookup_many(self, keys: Sequence[str | bytes]) -> list[str]:
        """The owner of each key, in order. LookupError on an empty ring."""
        hashes, owners, index, shift, names = self._state
        if not hashes.size:
            raise checks.empty_ring_error()
        if not isinstance(keys, (list, tuple)):
            keys = list(keys)  # one pass over an iterator; same TypeError as pure if not iterable
        if not keys:
            return []
        buf, starts, ends = _encoded_keys(keys)
        return names[_owners_of_keys(buf, starts, ends, hashes, owners, index, shift)].tolist()


def jump(key_hash: int, buckets: int) -> int:
    """Jump consistent hash: the bucket in [0, buckets) of an unsigned 64-bit key hash."""
    return _jump_one(checks.check_key_hash(key_hash), checks.check_buckets(buckets))


def jump_many(key_hashes, buckets: int) -> np.ndarray:
    """jump() of each key hash: a 1-D int array in (uint64 values), an int32 array out."""
    arr = checks.as_key_hash_array(key_hashes)
    return _jump_many(arr, checks.check_buckets(buckets))


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
