"""Numba kernels: Order/OrderBatch protobuf bytes -> OrderColumns arrays.

The rules are `impls.serial.pure_proto`'s, read in the same order, so the first problem found
and its (code, offset, detail) are the same as in the pure tier. Readers return the position
after what they read, or -1 with the problem recorded in `err` (see nb_bytes.fail).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from impls.serial import errors
from impls.serial.nb_bytes import (BOOL, BUF, ERR, I64, I64_OUT, KERNEL, PAIR, SPANS_OUT, U64, U64_0, U64_7F, fail,
                                   utf8_valid)
from impls.serial.schema import (BATCH_ORDERS, END_GROUP, FIXED32, FIXED64, META, ORDER, START_GROUP, UINT32_MAX,
                                 VARINT)

MAX_DEPTH = errors.MAX_DEPTH
_MASK32 = np.uint64(UINT32_MAX)
_GROUP_STACK = 128  # > MAX_DEPTH: open groups never exceed the depth budget

# The schema's tags and error details, as module globals: Numba compiles them in as constants.
_TAG_ORDER = BATCH_ORDERS.tag
_TAG_ID, _TAG_USER_ID, _TAG_SYMBOL = ORDER["id"].tag, ORDER["user_id"].tag, ORDER["symbol"].tag
_TAG_SIDE, _TAG_PRICE, _TAG_QTY = ORDER["side"].tag, ORDER["price"].tag, ORDER["qty"].tag
_TAG_TS_NS, _TAG_TAGS, _TAG_META = ORDER["ts_ns"].tag, ORDER["tags"].tag, ORDER["meta"].tag
_TAG_VENUE, _TAG_FLAGS = META["venue"].tag, META["flags"].tag
_SYMBOL, _TAGS, _VENUE = (errors.PB_STRING_DETAIL[name] for name in ("symbol", "tags", "meta.venue"))

_POS_U64 = types.Tuple((I64, U64))
#: the columns, as the decoder writes them (see columns.OrderColumns)
_COLUMNS = (I64_OUT, I64_OUT, I64_OUT, I64_OUT, types.Array(types.int32, 1, "C"), types.Array(types.uint64, 1, "C"),
            SPANS_OUT, types.Array(types.boolean, 1, "C"), SPANS_OUT, types.Array(types.uint32, 1, "C"))


# ---------------------------------------------------------------------------------------------
# Readers

@njit(_POS_U64(BUF, I64, I64, I64, I64, I64, ERR), **KERNEL)
def _read_base128(buf, pos, end, max_bytes, truncated, too_long, err):
    """(position after, value) of a number in the varint encoding of at most `max_bytes` bytes
    (error `truncated` if the data ends inside it, `too_long` if it runs longer)."""
    value = U64_0
    for i in range(max_bytes):
        if pos + i >= end:
            return fail(err, truncated, pos, 0), value
        byte = buf[pos + i]
        value |= (np.uint64(byte) & U64_7F) << np.uint64(7 * i)
        if byte < 0x80:
            return pos + i + 1, value
    return fail(err, too_long, pos, 0), value


@njit(_POS_U64(BUF, I64, I64, ERR), **KERNEL)
def read_tag(buf, pos, end, err):
    """(position after, tag): at most 5 bytes and below 2**32."""
    after, tag = _read_base128(buf, pos, end, 5, errors.TRUNCATED_TAG, errors.BAD_TAG, err)
    if after >= 0 and tag > _MASK32:
        return fail(err, errors.BAD_TAG, pos, 0), tag
    return after, tag


@njit(_POS_U64(BUF, I64, I64, ERR), **KERNEL)
def read_varint(buf, pos, end, err):
    """(position after, unsigned 64-bit value): at most 10 bytes, bits past 64 dropped."""
    return _read_base128(buf, pos, end, 10, errors.TRUNCATED_VARINT, errors.VARINT_TOO_LONG, err)


@njit(PAIR(BUF, I64, I64, ERR), **KERNEL)
def read_length(buf, pos, end, err):
    """(start of the bytes, their length): a length prefix of at most 5 bytes, fitting before end."""
    after, value = _read_base128(buf, pos, end, 5, errors.TRUNCATED_LENGTH, errors.LENGTH_TOO_LONG, err)
    size = np.int64(value)
    if after >= 0 and size > end - after:
        return fail(err, errors.LENGTH_PAST_END, pos, size), size
    return after, size


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
    if wire_type == END_GROUP:
        return fail(err, errors.UNEXPECTED_END_GROUP, tag_start, np.int64(tag >> np.uint64(3)))
    if tag < np.uint64(8):
        return fail(err, errors.FIELD_ZERO, tag_start, 0)
    return 0


@njit(I64(BUF, I64, I64, I64, ERR), **KERNEL)
def skip_scalar(buf, pos, end, wire_type, err):
    """Skip a value of any wire type but the groups'."""
    if wire_type == VARINT:
        return read_varint(buf, pos, end, err)[0]
    if wire_type == FIXED64:
        return pos + 8 if end - pos >= 8 else fail(err, errors.TRUNCATED_FIXED64, pos, 0)
    if wire_type == FIXED32:
        return pos + 4 if end - pos >= 4 else fail(err, errors.TRUNCATED_FIXED32, pos, 0)
    start, size = read_length(buf, pos, end, err)
    return start + size if start >= 0 else -1


@njit(I64(BUF, I64, I64, U64, I64, I64, ERR), **KERNEL)
def skip_group(buf, pos, end, field, tag_start, depth, err):
    """Skip a group whose start tag was just read (see pure_proto.skip_group)."""
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
        if wire_type == END_GROUP:
            if number != fields[open_groups - 1]:
                return fail(err, errors.MISMATCHED_END_GROUP, start, np.int64(number))
            open_groups -= 1
            if open_groups == 0:
                return pos
        elif wire_type == START_GROUP:
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
    """Skip an unknown field's value (any wire type but END_GROUP)."""
    wire_type = np.int64(tag & np.uint64(7))
    if wire_type == START_GROUP:
        return skip_group(buf, pos, end, tag >> np.uint64(3), tag_start, depth, err)
    return skip_scalar(buf, pos, end, wire_type, err)


@njit(I64(BUF, I64, I64, U64, I64, I64, ERR), **KERNEL)
def skip_field(buf, pos, end, tag, tag_start, depth, err):
    """Skip a field the decoder does not keep, its tag read at message level (where the tag
    must be usable: see check_wire_type); the position after its value, or -1."""
    if check_wire_type(tag, tag_start, err) < 0:
        return -1
    return skip_value(buf, pos, end, tag, tag_start, depth, err)


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
        if tag == np.uint64(_TAG_VENUE):
            pos, venue_start, venue_end = read_string(buf, pos, end, _VENUE, err)
        elif tag == np.uint64(_TAG_FLAGS):
            pos, value = read_varint(buf, pos, end, err)
            flags = np.int64(value & _MASK32)
        else:
            pos = skip_field(buf, pos, end, tag, start, depth, err)
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
        if tag == np.uint64(_TAG_ORDER):
            start, size = read_length(buf, pos, end, err)
            pos = start + size if start >= 0 else -1
            count += 1
        else:
            pos = skip_field(buf, pos, end, tag, start, MAX_DEPTH, err)
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


@njit(types.Tuple((I64, *_COLUMNS, SPANS_OUT, I64, I64_OUT))(BUF, BOOL, ERR), **KERNEL)
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
            if tag != np.uint64(_TAG_ORDER):
                pos = skip_field(buf, pos, end, tag, start, MAX_DEPTH, err)
                continue
            start, size = read_length(buf, pos, end, err)
            if start < 0:
                break
        tags = _grow(tags, m, size // 2 + 1)  # every tag takes at least 2 bytes
        # The order's fields, parsed here into locals rather than in a helper taking the columns
        # (a call passing arrays costs a reference count on each: see nb_proto_encode.encode).
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
            if t == _TAG_ID or t == _TAG_USER_ID or t == _TAG_SIDE or t == _TAG_QTY or t == _TAG_TS_NS:
                at, value = _next_varint(buf, at, order_end, err)
                if t == _TAG_ID:
                    id_ = np.int64(value)
                elif t == _TAG_USER_ID:
                    user_id = np.int64(value)
                elif t == _TAG_QTY:
                    qty = np.int64(value)
                elif t == _TAG_TS_NS:
                    ts_ns = np.int64(value)
                else:  # an int32 field keeps the low 32 bits
                    side = np.int64(np.int32(np.uint32(value & _MASK32)))
            elif t == _TAG_SYMBOL:
                at, symbol_start, symbol_end = _next_string(buf, at, order_end, _SYMBOL, err)
            elif t == _TAG_PRICE:
                if order_end - at < 8:
                    at = fail(err, errors.TRUNCATED_FIXED64, at, 0)
                else:
                    bits = U64_0
                    for k in range(8):
                        bits |= np.uint64(buf[at + k]) << np.uint64(8 * k)
                    at += 8
            elif t == _TAG_TAGS:
                at, tag_start, tag_end = _next_string(buf, at, order_end, _TAGS, err)
                tags[m, 0] = tag_start
                tags[m, 1] = tag_end
                m += 1
            elif t == _TAG_META:
                at, meta_size = read_length(buf, at, order_end, err)
                if at >= 0 and depth - 1 < 0:  # never: an order sits one level deep at most
                    at = fail(err, errors.TOO_DEEP, field_start, 0)
                if at >= 0:
                    meta = True
                    done, venue_start, venue_end, flag = _merge_meta(buf, at, at + meta_size, depth - 1, venue_start,
                                                                     venue_end, flag, err)
                    at = at + meta_size if done >= 0 else -1
            else:
                at = skip_field(buf, at, order_end, tag, field_start, depth, err)
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
