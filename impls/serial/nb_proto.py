"""Numba kernels for Order/OrderBatch protobuf bytes <-> OrderColumns arrays.

The rules are `impls.serial.pure`'s, read in the same order, so the first problem found and
its (code, offset, detail) are the same as in the pure tier. Readers return the position
after what they read, or -1 with the problem recorded in `err` (see nb_wire.fail).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from impls.serial import errors
from impls.serial.nb_wire import (BOOL, BUF, ERR, I64, I64_IN, I64_OUT, KERNEL, OUT, PAIR, SPANS_IN, SPANS_OUT, U64,
                                  U64_0, U64_7F, fail, put_varint, utf8_valid, varint_size)

MAX_DEPTH = errors.MAX_DEPTH
VENUE = errors.VENUE_DETAIL
_MASK32 = np.uint64(0xFFFFFFFF)
_GROUP_STACK = 128  # > MAX_DEPTH: open groups never exceed the depth budget

_POS_U64 = types.Tuple((I64, U64))
_I32_IN, _I32_OUT = types.Array(types.int32, 1, "C", readonly=True), types.Array(types.int32, 1, "C")
_U64_IN, _U64_OUT = types.Array(types.uint64, 1, "C", readonly=True), types.Array(types.uint64, 1, "C")
_U32_IN, _U32_OUT = types.Array(types.uint32, 1, "C", readonly=True), types.Array(types.uint32, 1, "C")
_BOOL_IN, _BOOL_OUT = types.Array(types.boolean, 1, "C", readonly=True), types.Array(types.boolean, 1, "C")
#: the columns, as the decoder writes them and as the encoder reads them
_COLUMNS_OUT = (I64_OUT, I64_OUT, I64_OUT, I64_OUT, _I32_OUT, _U64_OUT, SPANS_OUT, _BOOL_OUT, SPANS_OUT, _U32_OUT)
_COLUMNS_IN = (I64_IN, I64_IN, SPANS_IN, _I32_IN, _U64_IN, I64_IN, I64_IN, SPANS_IN, I64_IN, _BOOL_IN, SPANS_IN,
               _U32_IN)


# ---------------------------------------------------------------------------------------------
# Readers

@njit(_POS_U64(BUF, I64, I64, ERR), **KERNEL)
def read_tag(buf, pos, end, err):
    """(position after, tag): at most 5 bytes and below 2**32."""
    value = U64_0
    for i in range(5):
        if pos + i >= end:
            return fail(err, errors.TRUNCATED_TAG, pos, 0), value
        byte = buf[pos + i]
        value |= (np.uint64(byte) & U64_7F) << np.uint64(7 * i)
        if byte < 0x80:
            if value > _MASK32:
                break
            return pos + i + 1, value
    return fail(err, errors.BAD_TAG, pos, 0), value


@njit(_POS_U64(BUF, I64, I64, ERR), **KERNEL)
def read_varint(buf, pos, end, err):
    """(position after, unsigned 64-bit value): at most 10 bytes, bits past 64 dropped."""
    value = U64_0
    for i in range(10):
        if pos + i >= end:
            return fail(err, errors.TRUNCATED_VARINT, pos, 0), value
        byte = buf[pos + i]
        value |= (np.uint64(byte) & U64_7F) << np.uint64(7 * i)
        if byte < 0x80:
            return pos + i + 1, value
    return fail(err, errors.VARINT_TOO_LONG, pos, 0), value


@njit(PAIR(BUF, I64, I64, ERR), **KERNEL)
def read_length(buf, pos, end, err):
    """(start of the bytes, their length): a length prefix of at most 5 bytes, fitting before end."""
    value = np.int64(0)
    for i in range(5):
        if pos + i >= end:
            return fail(err, errors.TRUNCATED_LENGTH, pos, 0), value
        byte = buf[pos + i]
        value |= np.int64(byte & 0x7F) << (7 * i)
        if byte < 0x80:
            start = pos + i + 1
            if value > end - start:
                return fail(err, errors.LENGTH_PAST_END, pos, value), value
            return start, value
    return fail(err, errors.LENGTH_TOO_LONG, pos, 0), value


@njit(types.UniTuple(I64, 3)(BUF, I64, I64, I64, ERR), **KERNEL)
def read_string(buf, pos, end, field, err):
    """(position after, start, end) of a length-prefixed string that must be valid UTF-8."""
    start, size = read_length(buf, pos, end, err)
    if start < 0:
        return -1, 0, 0
    if not utf8_valid(buf, start, start + size):
        return fail(err, errors.BAD_UTF8, start, field), 0, 0
    return start + size, start, start + size


@njit(I64(U64, I64, ERR), **KERNEL)
def check_wire_type(tag, tag_start, err):
    """0, or -1 if a tag read at message level (not inside a group) cannot be used there."""
    wire_type = np.int64(tag & np.uint64(7))
    if wire_type > 5:
        return fail(err, errors.BAD_WIRE_TYPE, tag_start, wire_type)
    if wire_type == 4:
        return fail(err, errors.UNEXPECTED_END_GROUP, tag_start, np.int64(tag >> np.uint64(3)))
    if tag < np.uint64(8):
        return fail(err, errors.FIELD_ZERO, tag_start, 0)
    return 0


@njit(I64(BUF, I64, I64, I64, ERR), **KERNEL)
def skip_scalar(buf, pos, end, wire_type, err):
    """Skip a value of wire type 0, 1, 2 or 5."""
    if wire_type == 0:
        return read_varint(buf, pos, end, err)[0]
    if wire_type == 1:
        return pos + 8 if end - pos >= 8 else fail(err, errors.TRUNCATED_FIXED64, pos, 0)
    if wire_type == 5:
        return pos + 4 if end - pos >= 4 else fail(err, errors.TRUNCATED_FIXED32, pos, 0)
    start, size = read_length(buf, pos, end, err)
    return start + size if start >= 0 else -1


@njit(I64(BUF, I64, I64, U64, I64, I64, ERR), **KERNEL)
def skip_group(buf, pos, end, field, tag_start, depth, err):
    """Skip a group whose start tag was just read (see pure.skip_group)."""
    fields = np.empty(_GROUP_STACK, dtype=np.uint64)
    starts = np.empty(_GROUP_STACK, dtype=np.int64)
    fields[0] = field
    starts[0] = tag_start
    open_groups = 1
    if depth - 1 < 0:
        return fail(err, errors.TOO_DEEP, tag_start, 0)
    while True:
        if pos >= end:
            return fail(err, errors.UNTERMINATED_GROUP, starts[open_groups - 1], np.int64(fields[open_groups - 1]))
        start = pos
        pos, tag = read_tag(buf, pos, end, err)
        if pos < 0:
            return -1
        wire_type = np.int64(tag & np.uint64(7))
        number = tag >> np.uint64(3)
        if wire_type > 5:
            return fail(err, errors.BAD_WIRE_TYPE, start, wire_type)
        if wire_type == 4:
            if number != fields[open_groups - 1]:
                return fail(err, errors.MISMATCHED_END_GROUP, start, np.int64(number))
            open_groups -= 1
            if open_groups == 0:
                return pos
        elif wire_type == 3:
            if depth - (open_groups + 1) < 0:
                return fail(err, errors.TOO_DEEP, start, 0)
            fields[open_groups] = number
            starts[open_groups] = start
            open_groups += 1
        else:
            pos = skip_scalar(buf, pos, end, wire_type, err)
            if pos < 0:
                return -1


@njit(I64(BUF, I64, I64, U64, I64, I64, ERR), **KERNEL)
def skip_value(buf, pos, end, tag, tag_start, depth, err):
    """Skip an unknown field's value (wire type 0, 1, 2, 3 or 5)."""
    wire_type = np.int64(tag & np.uint64(7))
    if wire_type == 3:
        return skip_group(buf, pos, end, tag >> np.uint64(3), tag_start, depth, err)
    return skip_scalar(buf, pos, end, wire_type, err)


# ---------------------------------------------------------------------------------------------
# Decoding into columns

@njit(types.UniTuple(I64, 4)(BUF, I64, I64, I64, I64, I64, I64, ERR), **KERNEL)
def _merge_meta(buf, pos, end, depth, venue_start, venue_end, flags, err):
    """Parse a Meta in buf[pos:end] over the venue span and flags so far (a second Meta merges
    into the first); returns (position after or -1, venue_start, venue_end, flags)."""
    while pos < end:
        start = pos
        pos, tag = read_tag(buf, pos, end, err)
        if pos < 0:
            break
        if tag == np.uint64(0x0A):
            pos, venue_start, venue_end = read_string(buf, pos, end, VENUE, err)
        elif tag == np.uint64(0x10):
            pos, value = read_varint(buf, pos, end, err)
            flags = np.int64(value & _MASK32)
        elif check_wire_type(tag, start, err) < 0:
            pos = -1
        else:
            pos = skip_value(buf, pos, end, tag, start, depth, err)
        if pos < 0:
            break
    return pos, venue_start, venue_end, flags


@njit(inline="always", **KERNEL)
def _next_string(buf, pos, end, field, err):
    """read_string with the common case inline: a one-byte length and ASCII text."""
    if pos < end and buf[pos] < 0x80:
        start = pos + 1
        stop = start + np.int64(buf[pos])
        if stop <= end:
            ascii = True
            for k in range(np.uint64(start), np.uint64(stop)):
                if buf[k] >= 0x80:
                    ascii = False
                    break
            if ascii:
                return stop, start, stop
    return read_string(buf, pos, end, field, err)


@njit(inline="always", **KERNEL)
def _next_varint(buf, pos, end, err):
    """read_varint with the one-byte case inline (most values in an order)."""
    if pos < end and buf[pos] < 0x80:
        return pos + 1, np.uint64(buf[pos])
    return read_varint(buf, pos, end, err)


@njit(I64(BUF, ERR), **KERNEL)
def _count_orders(buf, err):
    """How many orders a batch holds at most: its top-level field-1 entries up to the first
    problem (which the full pass then reports, there or earlier)."""
    pos, end, count = 0, buf.size, 0
    while 0 <= pos < end:
        start = pos
        pos, tag = read_tag(buf, pos, end, err)
        if pos < 0:
            break
        if tag == np.uint64(0x0A):
            start, size = read_length(buf, pos, end, err)
            pos = start + size if start >= 0 else -1
            count += 1
        elif check_wire_type(tag, start, err) < 0:
            break
        else:
            pos = skip_value(buf, pos, end, tag, start, MAX_DEPTH, err)
    for k in range(err.size):
        err[k] = 0
    return count


@njit(SPANS_OUT(SPANS_OUT, I64, I64), **KERNEL)
def _grow(tags, m, extra):
    """tags, or a copy with room for m + extra rows (at least doubled)."""
    if m + extra <= tags.shape[0]:
        return tags
    grown = np.empty((max(2 * tags.shape[0], m + extra), 2), dtype=np.int64)
    for k in range(m):
        grown[k, 0] = tags[k, 0]
        grown[k, 1] = tags[k, 1]
    return grown


@njit(types.Tuple((I64, *_COLUMNS_OUT, SPANS_OUT, I64, I64_OUT))(BUF, BOOL, ERR), **KERNEL)
def decode(buf, single, err):
    """Order bytes (single) or OrderBatch bytes -> columns; err[0] != 0 if they are malformed.

    Returns (count, id, user_id, qty, ts_ns, side, price_bits, symbol, has_meta, venue, flags,
    tags, tags used, tag_bounds), spans pointing into buf; the caller trims to count and tags used.
    """
    end = buf.size
    n = 1 if single else _count_orders(buf, err)
    ids, user_ids = np.zeros(n, np.int64), np.zeros(n, np.int64)
    qtys, ts_nss = np.zeros(n, np.int64), np.zeros(n, np.int64)
    sides, price_bits, flags = np.zeros(n, np.int32), np.zeros(n, np.uint64), np.zeros(n, np.uint32)
    symbol, venue, has_meta = np.zeros((n, 2), np.int64), np.zeros((n, 2), np.int64), np.zeros(n, np.bool_)
    tags = np.empty((16, 2), dtype=np.int64)
    tag_bounds = np.zeros(n + 1, dtype=np.int64)
    count, m, pos = 0, 0, 0
    while 0 <= pos < end or (single and count == 0):
        if single:  # the whole buffer is one Order
            size, start = end, 0
        else:
            start = pos
            pos, tag = read_tag(buf, pos, end, err)
            if pos < 0:
                break
            if tag != np.uint64(0x0A):
                if check_wire_type(tag, start, err) < 0:
                    break
                pos = skip_value(buf, pos, end, tag, start, MAX_DEPTH, err)
                continue
            start, size = read_length(buf, pos, end, err)
            if start < 0:
                break
        tags = _grow(tags, m, size // 2 + 1)  # every tag takes at least 2 bytes
        # The order's fields, parsed here into locals rather than in a helper taking the columns
        # (a call passing arrays costs a reference count on each: see `encode`).
        depth = MAX_DEPTH if single else MAX_DEPTH - 1
        order_end, at = start + size, start
        id_, user_id, qty, ts_ns, side, flag = 0, 0, 0, 0, 0, 0
        bits, meta = U64_0, False
        symbol_start, symbol_end, venue_start, venue_end = 0, 0, 0, 0
        while at < order_end:
            field_start = at
            if buf[at] < 0x80:  # a one-byte tag: every known field
                tag = np.uint64(buf[at])
                at += 1
            else:
                at, tag = read_tag(buf, at, order_end, err)
                if at < 0:
                    break
            t = np.int64(tag)
            if t == 0x08 or t == 0x10 or t == 0x20 or t == 0x30 or t == 0x38:
                at, value = _next_varint(buf, at, order_end, err)
                if t == 0x08:
                    id_ = np.int64(value)
                elif t == 0x10:
                    user_id = np.int64(value)
                elif t == 0x30:
                    qty = np.int64(value)
                elif t == 0x38:
                    ts_ns = np.int64(value)
                else:  # an int32 field keeps the low 32 bits
                    side = np.int64(np.int32(np.uint32(value & _MASK32)))
            elif t == 0x1A:
                at, symbol_start, symbol_end = _next_string(buf, at, order_end, 3, err)
            elif t == 0x29:
                if order_end - at < 8:
                    at = fail(err, errors.TRUNCATED_FIXED64, at, 0)
                else:
                    bits = U64_0
                    for k in range(8):
                        bits |= np.uint64(buf[at + k]) << np.uint64(8 * k)
                    at += 8
            elif t == 0x42:
                at, tag_start, tag_end = _next_string(buf, at, order_end, 8, err)
                tags[m, 0] = tag_start
                tags[m, 1] = tag_end
                m += 1
            elif t == 0x4A:
                at, meta_size = read_length(buf, at, order_end, err)
                if at >= 0 and depth - 1 < 0:  # never: an order sits one level deep at most
                    at = fail(err, errors.TOO_DEEP, field_start, 0)
                if at >= 0:
                    meta = True
                    done, venue_start, venue_end, flag = _merge_meta(buf, at, at + meta_size, depth - 1, venue_start,
                                                                     venue_end, flag, err)
                    at = at + meta_size if done >= 0 else -1
            elif check_wire_type(tag, field_start, err) < 0:
                at = -1
            else:
                at = skip_value(buf, at, order_end, tag, field_start, depth, err)
            if at < 0:
                break
        if at < 0:
            break
        ids[count], user_ids[count], qtys[count], ts_nss[count] = id_, user_id, qty, ts_ns
        sides[count], price_bits[count], flags[count], has_meta[count] = side, bits, flag, meta
        symbol[count, 0], symbol[count, 1] = symbol_start, symbol_end
        venue[count, 0], venue[count, 1] = venue_start, venue_end
        count += 1
        tag_bounds[count] = m
        pos = start + size
    return count, ids, user_ids, qtys, ts_nss, sides, price_bits, symbol, has_meta, venue, flags, tags, m, tag_bounds


# ---------------------------------------------------------------------------------------------
# Encoding from columns, in one pass. A length prefix comes before the bytes it counts, so a
# sub-message (and, in a batch, each order) is written after one byte left for its length;
# the rare one of 128 bytes or more is then moved up by the extra bytes its length needs.

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


@njit(I64(OUT, I64, I64), **KERNEL)
def _close_long_length(out, start, end):
    size = end - start
    shift = varint_size(np.uint64(size)) - 1
    for k in range(end - 1, start - 1, -1):  # backwards: the ranges overlap
        out[k + shift] = out[k]
    put_varint(out, start - 1, np.uint64(size))
    return end + shift


_SIGNATURE = types.Tuple((OUT, I64))(*_COLUMNS_IN, BUF, BOOL)


@njit(_SIGNATURE, **KERNEL)
def encode(ids, user_ids, symbol, sides, price_bits, qtys, ts_nss, tags, tag_bounds, has_meta, venue, flags, text,
           framed):
    """Columns -> OrderBatch bytes (framed: each order as field 1) or one Order's bytes:
    (an array holding them, how many bytes it holds).

    The array is allocated once at an upper bound of the size (every varint at its longest,
    every string counted in full), so nothing is measured twice.
    """
    n = ids.size
    bound = n * (6 * 11 + 9 + 2 * 6) + (2 * n + tags.shape[0]) * 6 + text.size
    out = np.empty(bound, dtype=np.uint8)
    pos = 0
    # One order per iteration, written here rather than in a helper: an inlined helper that
    # takes these sixteen arrays costs a reference count on each, every order (about 1.6x).
    for i in range(n):
        if framed:
            out[pos] = 0x0A
            pos += 2
        order_start = pos
        pos = _put_int_field(out, pos, 0x08, ids[i])
        pos = _put_int_field(out, pos, 0x10, user_ids[i])
        if symbol[i, 1] > symbol[i, 0]:
            pos = _put_span(out, pos, 0x1A, text, symbol[i, 0], symbol[i, 1])
        pos = _put_int_field(out, pos, 0x20, np.int64(sides[i]))  # a negative int32 sign-extends: 10 bytes
        bits = price_bits[i]
        if bits:  # 0.0 is the default; -0.0 and NaN have bits set
            out[pos] = 0x29
            for k in range(8):
                out[pos + 1 + k] = np.uint8((bits >> np.uint64(8 * k)) & np.uint64(0xFF))
            pos += 9
        pos = _put_int_field(out, pos, 0x30, qtys[i])
        pos = _put_int_field(out, pos, 0x38, ts_nss[i])
        for t in range(tag_bounds[i], tag_bounds[i + 1]):
            pos = _put_span(out, pos, 0x42, text, tags[t, 0], tags[t, 1])
        if has_meta[i]:
            out[pos] = 0x4A
            pos += 2
            meta_start = pos
            if venue[i, 1] > venue[i, 0]:
                pos = _put_span(out, pos, 0x0A, text, venue[i, 0], venue[i, 1])
            pos = _put_int_field(out, pos, 0x10, np.int64(flags[i]))
            pos = _close_length(out, meta_start, pos)
        if framed:
            pos = _close_length(out, order_start, pos)
    return out, pos
