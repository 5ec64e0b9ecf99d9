"""Hashing kernels of the Numba tier: CRC32 of key bytes and the points of node names.

`crc32_many` is zlib.crc32 over each key of one joined buffer (`split_at_nul` finds the keys
in a NUL-joined buffer); `ring_points` is every node's points, pure's
``fmix32(crc32(f"{node}#{i}"))``, bit for bit. The CRC is slice-by-8, kept in int64.

This module also holds what every hash-ring kernel module shares: the kernel options
(`KERNEL`) and the array argument types.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

# ---------------------------------------------------------------------------------------
# Kernel argument types. Inputs are declared read-only: np.frombuffer over bytes gives a
# read-only array, and Numba accepts a writable array where a read-only one is declared.
# ---------------------------------------------------------------------------------------
U8_IN = types.Array(types.uint8, 1, "C", readonly=True)
U32_IN = types.Array(types.uint32, 1, "C", readonly=True)
I32_IN = types.Array(types.int32, 1, "C", readonly=True)
I64_IN = types.Array(types.int64, 1, "C", readonly=True)
U64_IN = types.Array(types.uint64, 1, "C", readonly=True)
BOOL_IN = types.Array(types.boolean, 1, "C", readonly=True)
U32_OUT = types.uint32[::1]
I32_OUT = types.int32[::1]
I64_OUT = types.int64[::1]

KERNEL = {"cache": True, "nogil": True}

MASK32 = np.uint64(0xFFFFFFFF)
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
@njit(**KERNEL)
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


@njit(**KERNEL)
def _crc32_byte(crc, byte):
    """The CRC32 register after one more byte (the classic table-driven step)."""
    return np.int64(_CRC_TABLES[0, (crc ^ byte) & 0xFF]) ^ (crc >> 8)


# ---------------------------------------------------------------------------------------
# Kernels.
# ---------------------------------------------------------------------------------------
@njit(types.uint32(types.uint32), **KERNEL)
def fmix32(h):
    """MurmurHash3's 32-bit finalizer, as pure.fmix32 (uint32 products kept mod 2**32)."""
    x = np.uint64(h)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & MASK32
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & MASK32
    x ^= x >> np.uint64(16)
    return np.uint32(x)


@njit(U32_OUT(U8_IN, I64_IN, I64_IN), **KERNEL)
def crc32_many(buf, starts, ends):
    """zlib.crc32 of each buf[starts[k]:ends[k]]."""
    out = np.empty(starts.size, dtype=np.uint32)
    for k in range(starts.size):
        out[k] = _crc32_update(np.int64(0xFFFFFFFF), buf, starts[k], ends[k]) ^ 0xFFFFFFFF
    return out


@njit(U32_OUT(U8_IN, I64_IN, types.int64), **KERNEL)
def ring_points(names, offsets, vnodes):
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


@njit(types.Tuple((types.boolean, I64_OUT, I64_OUT))(U8_IN, types.int64), **KERNEL)
def split_at_nul(buf, n):
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
