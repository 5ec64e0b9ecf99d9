"""Numba kernel: OrderColumns arrays -> Order/OrderBatch protobuf bytes, as upb writes them
(the rules are `impls.serial.pure_proto`'s).

Encoding goes in one pass. A length prefix comes before the bytes it counts, so a sub-message
(and, in a batch, each order) is written after one byte left for its length; the rare one of
128 bytes or more is then moved up by the extra bytes its length needs.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from impls.serial.nb_bytes import BOOL, BUF, I64, I64_IN, KERNEL, OUT, SPANS_IN, U64, U64_7F
from impls.serial.schema import BATCH_ORDERS, META, ORDER

# The schema's tags, as module globals: Numba compiles them in as constants. Each is written as
# one byte (tests/serial/test_proto.py checks that every tag is below 0x80).
_TAG_ORDER = BATCH_ORDERS.tag
_TAG_ID, _TAG_USER_ID, _TAG_SYMBOL = ORDER["id"].tag, ORDER["user_id"].tag, ORDER["symbol"].tag
_TAG_SIDE, _TAG_PRICE, _TAG_QTY = ORDER["side"].tag, ORDER["price"].tag, ORDER["qty"].tag
_TAG_TS_NS, _TAG_TAGS, _TAG_META = ORDER["ts_ns"].tag, ORDER["tags"].tag, ORDER["meta"].tag
_TAG_VENUE, _TAG_FLAGS = META["venue"].tag, META["flags"].tag

#: the columns, as the encoder reads them (see columns.OrderColumns)
_COLUMNS = (I64_IN, I64_IN, SPANS_IN, types.Array(types.int32, 1, "C", readonly=True),
            types.Array(types.uint64, 1, "C", readonly=True), I64_IN, I64_IN, SPANS_IN, I64_IN,
            types.Array(types.boolean, 1, "C", readonly=True), SPANS_IN,
            types.Array(types.uint32, 1, "C", readonly=True))


# The writers below are inlined into the kernel (Numba-IR inlining): a call that passes
# arrays costs a reference count on each, and byte loops index with unsigned ints, which spare
# Numba's negative-index fix-up on every access. Together about 3x on encode_columns.

@njit(inline="always", **KERNEL)
def _put_varint(out, pos, value):
    at = np.uint64(pos)
    while value >= np.uint64(0x80):
        out[at] = np.uint8((value & U64_7F) | np.uint64(0x80))
        value = value >> np.uint64(7)
        at += np.uint64(1)
    out[at] = np.uint8(value)
    return np.int64(at) + 1


@njit(inline="always", **KERNEL)
def _put_int_field(out, pos, tag, value):
    if value:
        out[pos] = tag
        pos = _put_varint(out, pos + 1, np.uint64(value))
    return pos


@njit(inline="always", **KERNEL)
def _put_span(out, pos, tag, text, start, end):
    out[pos] = tag
    pos = _put_varint(out, pos + 1, np.uint64(end - start))
    at, src = np.uint64(pos), np.uint64(start)
    for k in range(np.uint64(end - start)):
        out[at + k] = text[src + k]
    return pos + (end - start)


@njit(inline="always", **KERNEL)
def _close_length(out, start, end):
    """out[start:end] was written after one byte left at start - 1 for its length: write the
    length there (moving the bytes up if it needs more than one); returns the new end."""
    size = end - start
    if size < 0x80:
        out[start - 1] = np.uint8(size)
        return end
    return _close_long_length(out, start, end)


@njit(I64(U64), **KERNEL)
def _varint_size(value):
    """Bytes in the varint of an unsigned 64-bit value."""
    n = 1
    while value >= np.uint64(0x80):
        value = value >> np.uint64(7)
        n += 1
    return n


@njit(I64(OUT, I64, I64), **KERNEL)
def _close_long_length(out, start, end):
    """_close_length's rare case: a length that takes two bytes or more."""
    size = end - start
    shift = _varint_size(np.uint64(size)) - 1
    for k in range(end - 1, start - 1, -1):  # backwards: the ranges overlap
        out[k + shift] = out[k]
    _put_varint(out, start - 1, np.uint64(size))
    return end + shift


_SIGNATURE = types.Tuple((OUT, I64))(*_COLUMNS, BUF, BOOL)


@njit(_SIGNATURE, **KERNEL)
def encode(ids, user_ids, symbol, sides, price_bits, qtys, ts_nss, tags, tag_bounds, has_meta, venue, flags, text,
           framed):
    """Columns -> OrderBatch bytes (framed: each order as field 1) or one Order's bytes:
    (an array holding them, how many bytes it holds).

    The array is allocated once at an upper bound of the size (every varint at its longest,
    every string counted in full), so nothing is measured twice.
    """
    n = ids.size
    # Per order: six varint fields (tag + 10 bytes), the double (tag + 8), the order's and the
    # meta's framing (tag + a 5-byte length); per string (symbol, venue, each tag): tag + a
    # 5-byte length, and the text.
    bound = n * (6 * 11 + 9 + 2 * 6) + (2 * n + tags.shape[0]) * 6 + text.size
    out = np.empty(bound, dtype=np.uint8)
    pos = 0
    # One order per iteration, written here rather than in a helper: an inlined helper that
    # takes these sixteen arrays costs a reference count on each, every order (about 1.6x).
    for i in range(n):
        if framed:
            out[pos] = _TAG_ORDER
            pos += 2
        order_start = pos
        pos = _put_int_field(out, pos, _TAG_ID, ids[i])
        pos = _put_int_field(out, pos, _TAG_USER_ID, user_ids[i])
        if symbol[i, 1] > symbol[i, 0]:
            pos = _put_span(out, pos, _TAG_SYMBOL, text, symbol[i, 0], symbol[i, 1])
        pos = _put_int_field(out, pos, _TAG_SIDE, np.int64(sides[i]))  # a negative int32 sign-extends: 10 bytes
        bits = price_bits[i]
        if bits:  # 0.0 is the default; -0.0 and NaN have bits set
            out[pos] = _TAG_PRICE
            for k in range(8):
                out[pos + 1 + k] = np.uint8((bits >> np.uint64(8 * k)) & np.uint64(0xFF))
            pos += 9
        pos = _put_int_field(out, pos, _TAG_QTY, qtys[i])
        pos = _put_int_field(out, pos, _TAG_TS_NS, ts_nss[i])
        for t in range(tag_bounds[i], tag_bounds[i + 1]):
            pos = _put_span(out, pos, _TAG_TAGS, text, tags[t, 0], tags[t, 1])
        if has_meta[i]:
            out[pos] = _TAG_META
            pos += 2
            meta_start = pos
            if venue[i, 1] > venue[i, 0]:
                pos = _put_span(out, pos, _TAG_VENUE, text, venue[i, 0], venue[i, 1])
            pos = _put_int_field(out, pos, _TAG_FLAGS, np.int64(flags[i]))
            pos = _close_length(out, meta_start, pos)
        if framed:
            pos = _close_length(out, order_start, pos)
    return out, pos
