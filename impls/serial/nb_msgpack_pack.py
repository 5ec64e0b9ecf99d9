"""Numba kernel: a token stream -> an order's msgpack bytes, as msgpack-python packs them.

Python turns the dict into tokens (rows of kind, x, y; strings as spans into one byte buffer)
in the dict's own order (see nb.py), and `pack` writes them as msgpack.packb would: the rules
are `impls.serial.pure_msgpack_pack`'s.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from impls.serial.nb_bytes import BUF, I64, KERNEL, OUT, copy_bytes

# What a row stands for: a token to pack, or an entry unpacked (nb_msgpack_unpack). A token is
# (kind, x, y): MAP or ARRAY (x: the item count), STR (x, y: its span in the text), INT (x: the
# value), FLOAT64 (x: the IEEE-754 bits). Entries add FLOAT32 (x: the bits), SIDE_NAME (x: the
# Side value) and NONE (a value a later one of the same key replaces).
MAP, ARRAY, STR, INT, FLOAT64, FLOAT32, SIDE_NAME, NONE = 0, 1, 2, 3, 4, 5, 6, 7


@njit(I64(OUT, I64, I64, I64), **KERNEL)
def _big_endian(out, pos, value, width):
    for k in range(width):
        out[pos + k] = np.uint8((value >> (8 * (width - 1 - k))) & 0xFF)
    return pos + width


@njit(I64(OUT, I64, I64, I64, I64, BUF), **KERNEL)
def _put_token(out, pos, kind, x, y, text):
    """Write one token at out[pos] (or only count its bytes when out is empty); returns the
    position after it."""
    write = out.size > 0
    if kind == MAP or kind == ARRAY:
        fix, wide = (0x80, 0xDE) if kind == MAP else (0x90, 0xDC)
        head, width = (fix | x, 0) if x < 16 else ((wide, 2) if x < 0x10000 else (wide + 1, 4))
    elif kind == STR:
        size = y - x
        head, width = (0xA0 | size, 0) if size < 32 else (
            (0xD9, 1) if size < 0x100 else ((0xDA, 2) if size < 0x10000 else (0xDB, 4)))
        x = size
    elif kind == FLOAT64:
        head, width = 0xCB, 8
    elif x >= 0:  # INT: positive ints unsigned, negative ones signed, as msgpack-python
        head, width = (x, 0) if x < 0x80 else ((0xCC, 1) if x < 0x100 else (
            (0xCD, 2) if x < 0x10000 else ((0xCE, 4) if x < 0x100000000 else (0xCF, 8))))
    else:
        head, width = (x & 0xFF, 0) if x >= -32 else ((0xD0, 1) if x >= -0x80 else (
            (0xD1, 2) if x >= -0x8000 else ((0xD2, 4) if x >= -0x80000000 else (0xD3, 8))))
    if write:
        out[pos] = np.uint8(head)
        _big_endian(out, pos + 1, x, width)
    pos += 1 + width
    if kind == STR:
        pos = copy_bytes(out, pos, text, y - x, y) if write else pos + x
    return pos


_PACK_SIGNATURE = types.Array(types.uint8, 1, "C")(
    types.Array(types.int64, 2, "C", readonly=True), types.Array(types.uint8, 1, "C", readonly=True))


@njit(_PACK_SIGNATURE, **KERNEL)
def pack(tokens, text):
    """Tokens (rows of kind, x, y) -> msgpack bytes: a sizing pass, then the writing pass."""
    empty = np.empty(0, dtype=np.uint8)
    size = 0
    for t in range(tokens.shape[0]):
        size = _put_token(empty, size, tokens[t, 0], tokens[t, 1], tokens[t, 2], text)
    out = np.empty(size, dtype=np.uint8)
    pos = 0
    for t in range(tokens.shape[0]):
        pos = _put_token(out, pos, tokens[t, 0], tokens[t, 1], tokens[t, 2], text)
    return out
