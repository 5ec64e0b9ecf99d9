"""Ring-state kernels of the Numba tier: the sorted point array, its bucket index, lookups.

A ring state is two parallel arrays sorted by ``(point, node name)``: ``hashes`` (uint32)
and ``owners`` (int32, the node's position in insertion order), plus a bucket index over the
top ``bits`` bits of a hash: ``index[k]`` is the first position whose point is
``>= k << (32 - bits)``. A lookup jumps there and scans forward to the first point
``>= key_hash``, which is exactly pure's ``bisect_left``; past the end it wraps to 0.

`merge` and `without` build the arrays of a ring with one node more or one fewer;
`bucket_index` indexes them; `owner_of_hash` and `owners_of_keys` look keys up.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from impls.hashring.nb_hash import (BOOL_IN, I32_IN, I32_OUT, I64_IN, I64_OUT, KERNEL, U8_IN, U32_IN, U32_OUT,
                                    crc32_many)


@njit(**KERNEL)
def _position(h, hashes, index, shift):
    """bisect_left(hashes, h), wrapped to 0 past the end, via the bucket index."""
    n = hashes.size
    i = index[h >> shift]
    while i < n and hashes[i] < h:
        i += 1
    return i if i < n else 0


@njit(I64_OUT(U32_IN, types.int64), **KERNEL)
def bucket_index(hashes, bits):
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


@njit(types.int64(types.int64, U32_IN, I32_IN, I64_IN, types.int64), **KERNEL)
def owner_of_hash(h, hashes, owners, index, shift):
    return owners[_position(h, hashes, index, shift)]


@njit(I32_OUT(U8_IN, I64_IN, I64_IN, U32_IN, I32_IN, I64_IN, types.int64), **KERNEL)
def owners_of_keys(buf, starts, ends, hashes, owners, index, shift):
    """The owner of each key buf[starts[k]:ends[k]]."""
    key_hashes = crc32_many(buf, starts, ends)
    out = np.empty(key_hashes.size, dtype=np.int32)
    for k in range(key_hashes.size):
        out[k] = owners[_position(np.int64(key_hashes[k]), hashes, index, shift)]
    return out


@njit(types.Tuple((U32_OUT, I32_OUT))(U32_IN, I32_IN, U32_IN, types.int64, BOOL_IN), **KERNEL)
def merge(hashes, owners, new_hashes, new_owner, before_new):
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


@njit(types.Tuple((U32_OUT, I32_OUT))(U32_IN, I32_IN, types.int64), **KERNEL)
def without(hashes, owners, gone):
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
