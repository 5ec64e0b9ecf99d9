"""Jump consistent hash kernels of the Numba tier (Lamping & Veach), as pure.jump_unchecked.

`jump_one` places one uint64 key hash, `jump_all` each of an array; both run `_jump`, which
keeps pure's uint64 wrap-around and its IEEE double operations (no fastmath), so every
bucket equals pure's.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from impls.hashring.nb_hash import I32_OUT, KERNEL, U64_IN

# uint64 constants keep jump's arithmetic in uint64 (a uint64 op an int64 gives float64).
_JUMP_MULTIPLIER = np.uint64(2862933555777941757)
_ONE = np.uint64(1)


@njit(**KERNEL)
def _jump(key, buckets):
    """Lamping & Veach, as pure.jump_unchecked: uint64 state, the same IEEE double ops."""
    b = np.int64(-1)
    j = np.int64(0)
    while j < buckets:
        b = j
        key = key * _JUMP_MULTIPLIER + _ONE
        j = np.int64((b + 1) * (2147483648.0 / np.float64((key >> np.uint64(33)) + _ONE)))
    return b


@njit(types.int64(types.uint64, types.int64), **KERNEL)
def jump_one(key, buckets):
    return _jump(key, buckets)


@njit(I32_OUT(U64_IN, types.int64), **KERNEL)
def jump_all(keys, buckets):
    out = np.empty(keys.size, dtype=np.int32)
    for k in range(keys.size):
        out[k] = _jump(keys[k], buckets)
    return out
