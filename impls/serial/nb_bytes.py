"""Byte buffers as the Numba tier's kernels see them, for both formats (protobuf and msgpack):
the kernels' argument types and options, the error slot, UTF-8 validation and byte copying.

Errors are reported the way every kernel reports them: the (code, offset, detail) of the
first problem go into the `err` array and the helper returns -1 as the position.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

KERNEL = {"cache": True, "nogil": True}

# Argument types. Every helper has an eager signature: called with literal arguments (a field
# number, an error code) Numba would otherwise compile one copy per literal value.
I64, U64, BOOL = types.int64, types.uint64, types.boolean
BUF = types.Array(types.uint8, 1, "C", readonly=True)  # input bytes (np.frombuffer of bytes)
OUT = types.Array(types.uint8, 1, "C")  # output bytes
ERR = types.Array(types.int64, 1, "C")  # (code, offset, detail) of the first problem
I64_IN = types.Array(types.int64, 1, "C", readonly=True)
I64_OUT = types.Array(types.int64, 1, "C")
SPANS_IN = types.Array(types.int64, 2, "C", readonly=True)
SPANS_OUT = types.Array(types.int64, 2, "C")
PAIR = types.UniTuple(I64, 2)
U64_0 = np.uint64(0)
U64_7F = np.uint64(0x7F)


@njit(I64(ERR, I64, I64, I64), **KERNEL)
def fail(err, code, offset, detail):
    """Record the first problem in `err` and return -1 (the error position)."""
    err[0] = code
    err[1] = offset
    err[2] = detail
    return -1


@njit(BOOL(BUF, I64, I64), **KERNEL)
def utf8_valid(buf, start, end):
    """Whether buf[start:end] is strict UTF-8, as Python's decoder and upb judge it: no
    overlong forms, no surrogates, nothing above U+10FFFF, no truncated sequence."""
    i = start
    while i < end:
        c = buf[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            size, low, high = 2, 0x80, 0xBF
        elif c == 0xE0:
            size, low, high = 3, 0xA0, 0xBF
        elif 0xE1 <= c <= 0xEC or c == 0xEE or c == 0xEF:
            size, low, high = 3, 0x80, 0xBF
        elif c == 0xED:
            size, low, high = 3, 0x80, 0x9F  # U+D800..U+DFFF are surrogates
        elif c == 0xF0:
            size, low, high = 4, 0x90, 0xBF
        elif 0xF1 <= c <= 0xF3:
            size, low, high = 4, 0x80, 0xBF
        elif c == 0xF4:
            size, low, high = 4, 0x80, 0x8F  # nothing above U+10FFFF
        else:
            return False
        if end - i < size:
            return False
        if not low <= buf[i + 1] <= high:
            return False
        for k in range(2, size):
            if not 0x80 <= buf[i + k] <= 0xBF:
                return False
        i += size
    return True


@njit(I64(OUT, I64, BUF, I64, I64), **KERNEL)
def copy_bytes(out, pos, src, start, end):
    """out[pos:pos + end - start] = src[start:end]; returns the position after."""
    for k in range(end - start):
        out[pos + k] = src[start + k]
    return pos + end - start
