"""Numba kernels: msgpack values as msgpack-python reads them, whatever they hold -- headers and
sizes, and skipping a whole value while checking it as msgpack.unpackb would (truncated data,
invalid UTF-8, the reserved byte 0xc1, map keys, ext values, nesting past 1024).

What an order's values must be is the schema's business: nb_msgpack_unpack, which builds on
these. Readers return the position after what they read, or -1 with the problem recorded in
`err` (see nb_bytes.fail).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from impls.serial import errors
from impls.serial.nb_bytes import BOOL, BUF, ERR, I64, KERNEL, PAIR, U64, fail, utf8_valid


@njit(U64(BUF, I64, I64), **KERNEL)
def read_be(buf, pos, width):
    """The `width`-byte big-endian unsigned int at buf[pos]."""
    value = np.uint64(0)
    for k in range(width):
        value = (value << np.uint64(8)) | np.uint64(buf[pos + k])
    return value


@njit(PAIR(BUF, I64, I64, BOOL, ERR), **KERNEL)
def read_count(buf, pos, end, is_map, err):
    """(position after, count) of a map (or array) header at pos; count -1 if it is not one.
    A count whose items cannot fit in the bytes left is truncated data, reported here."""
    fix, wide, per_item = (0x80, 0xDE, 2) if is_map else (0x90, 0xDC, 1)
    byte = buf[pos]
    if fix <= byte <= fix + 15:
        count, after = np.int64(byte & 0x0F), pos + 1
    elif byte == wide or byte == wide + 1:
        width = 2 if byte == wide else 4
        if end - (pos + 1) < width:
            return fail(err, errors.MP_TRUNCATED, pos, 0), 0
        count, after = np.int64(read_be(buf, pos + 1, width)), pos + 1 + width
    else:
        return pos, -1
    if count * per_item > end - after:
        return fail(err, errors.MP_TRUNCATED, pos, 0), 0
    return after, count


@njit(BOOL(I64), **KERNEL)
def is_str(byte):
    """Whether a value starting with `byte` is a str."""
    return 0xA0 <= byte <= 0xBF or 0xD9 <= byte <= 0xDB


@njit(PAIR(BUF, I64, I64, I64, ERR), **KERNEL)
def _sized(buf, pos, end, width, err):
    """(start, size) of a str/bin/ext body whose header at pos has a `width`-byte size."""
    if end - (pos + 1) < width:
        return fail(err, errors.MP_TRUNCATED, pos, 0), 0
    size = np.int64(read_be(buf, pos + 1, width))
    if end - (pos + 1 + width) < size:
        return fail(err, errors.MP_TRUNCATED, pos, 0), 0
    return pos + 1 + width, size


@njit(PAIR(BUF, I64, I64, ERR), **KERNEL)
def str_body(buf, pos, end, err):
    """(start, size) of the str at pos (the caller checked its type byte)."""
    byte = buf[pos]
    if byte <= 0xBF:
        size = np.int64(byte & 0x1F)
        if end - (pos + 1) < size:
            return fail(err, errors.MP_TRUNCATED, pos, 0), 0
        return pos + 1, size
    return _sized(buf, pos, end, 1 << (byte - 0xD9), err)


@njit(I64(BUF, I64, I64, I64, ERR), **KERNEL)
def _check_ext(buf, pos, end, byte, err):
    """Skip an ext value, failing where msgpack would (see pure_msgpack_unpack._check_ext)."""
    if byte >= 0xD4:
        start, size = pos + 1, np.int64(1 << (byte - 0xD4))
    else:
        width = 1 << (byte - 0xC7)
        if end - (pos + 1) < width:
            return fail(err, errors.MP_TRUNCATED, pos, 0)
        start, size = pos + 1 + width, np.int64(read_be(buf, pos + 1, width))
    if end - start < 1 + size:
        return fail(err, errors.MP_TRUNCATED, pos, 0)
    ext_type = buf[start]
    if ext_type == 0xFF:
        if size == 8:
            ok = (read_be(buf, start + 1, 8) >> np.uint64(34)) <= np.uint64(999999999)
        else:
            ok = size == 4 or (size == 12 and read_be(buf, start + 1, 4) <= np.uint64(999999999))
    else:
        ok = ext_type < 0x80
    if not ok:
        return fail(err, errors.MP_BAD_EXT, pos, 0)
    return start + 1 + size


@njit(I64(BUF, I64, I64, I64, ERR), **KERNEL)
def skip_value(buf, pos, end, enclosing, err):
    """Skip any one msgpack value at pos, checking it as msgpack.unpackb would (see
    pure_msgpack_unpack.skip_value); the position after it, or -1."""
    items = np.empty(errors.MP_MAX_DEPTH + 2, dtype=np.int64)
    maps = np.empty(errors.MP_MAX_DEPTH + 2, dtype=np.bool_)
    items[0], maps[0], levels = 1, False, 1
    while levels:
        if items[levels - 1] == 0:
            levels -= 1
            continue
        is_key = maps[levels - 1] and items[levels - 1] % 2 == 0
        items[levels - 1] -= 1
        if pos >= end:
            return fail(err, errors.MP_TRUNCATED, pos, 0)
        byte = buf[pos]
        if is_key and not (is_str(byte) or 0xC4 <= byte <= 0xC6):
            return fail(err, errors.MP_BAD_MAP_KEY, pos, 0)
        if byte <= 0x7F or byte >= 0xE0 or byte == 0xC0 or byte == 0xC2 or byte == 0xC3:
            pos += 1
        elif 0xCC <= byte <= 0xD3 or byte == 0xCA or byte == 0xCB:
            width = 4 if byte == 0xCA else (8 if byte == 0xCB else 1 << ((byte - 0xCC) & 3))
            if end - (pos + 1) < width:
                return fail(err, errors.MP_TRUNCATED, pos, 0)
            pos += 1 + width
        elif is_str(byte):
            start, size = str_body(buf, pos, end, err)
            if start < 0:
                return -1
            if not utf8_valid(buf, start, start + size):
                return fail(err, errors.MP_BAD_UTF8, pos, errors.MP_KEY if is_key else errors.MP_NESTED)
            pos = start + size
        elif 0xC4 <= byte <= 0xC6:
            start, size = _sized(buf, pos, end, 1 << (byte - 0xC4), err)
            if start < 0:
                return -1
            pos = start + size
        elif 0xC7 <= byte <= 0xC9 or 0xD4 <= byte <= 0xD8:
            pos = _check_ext(buf, pos, end, byte, err)
            if pos < 0:
                return -1
        elif byte == 0xC1:
            return fail(err, errors.MP_RESERVED_BYTE, pos, 0)
        else:  # an array or a map
            is_map = byte <= 0x8F or byte >= 0xDE
            start = pos
            pos, count = read_count(buf, pos, end, is_map, err)
            if pos < 0:
                return -1
            if enclosing + levels > errors.MP_MAX_DEPTH:
                return fail(err, errors.MP_TOO_DEEP, start, 0)
            items[levels] = 2 * count if is_map else count
            maps[levels] = is_map
            levels += 1
    return pos
