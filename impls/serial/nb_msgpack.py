"""Numba kernels for msgpack orders: a token stream <-> msgpack bytes.

Packing: Python turns the dict into tokens (rows of kind, x, y; strings as spans into one
byte buffer) in the dict's order, and `pack` writes them as msgpack-python would.
Unpacking: `unpack` reads and checks a whole order against the schema, in pure_msgpack's
order (so the first problem and its code, offset and detail are the pure tier's), and emits
entries in wire order for Python to turn into the dict.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from impls.serial import checks, errors
from impls.serial.nb_wire import BOOL, BUF, ERR, I64, I64_IN, KERNEL, OUT, PAIR, U64, copy_bytes, fail, utf8_valid

# Token and entry kinds.
MAP, ARRAY, STR, INT, FLOAT64, FLOAT32, SIDE_NAME, NONE = 0, 1, 2, 3, 4, 5, 6, 7
# Field indexes, as errors.MP_FIELDS numbers them.
F_SIDE, F_PRICE, F_TAGS, F_META, F_VENUE, F_FLAGS, F_TAGS_ITEM = 3, 4, 7, 8, 9, 10, 11
_INT64_MIN, _INT64_MAX = checks.INT64_MIN, checks.INT64_MAX


def _name_table(names) -> tuple[np.ndarray, np.ndarray]:
    encoded = [name.encode() for name in names]
    table = np.zeros((len(names), max(map(len, encoded))), dtype=np.uint8)
    for i, name in enumerate(encoded):
        table[i, : len(name)] = np.frombuffer(name, dtype=np.uint8)
    return table, np.array([len(name) for name in encoded], dtype=np.int64)


_ENTRIES = types.Array(types.int64, 2, "C")
_NAMES = types.Array(types.uint8, 2, "C", readonly=True)
_ORDER_NAMES, _ORDER_SIZES = _name_table(checks.ORDER_KEYS)
_META_NAMES, _META_SIZES = _name_table(checks.META_KEYS)
_SIDE_NAMES, _SIDE_SIZES = _name_table(checks.SIDE_NAMES)


# ---------------------------------------------------------------------------------------------
# Packing

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


# ---------------------------------------------------------------------------------------------
# Unpacking. As in pure_msgpack: what msgpack rejects fails at once (recorded in `err`, the
# position -1); a value msgpack reads but the schema does not accept is a problem (recorded in
# `problem`, the position PROBLEM): the map skips the value, checking it as msgpack would,
# leaves a NONE entry in its place (a later value of the key replaces it, at the same place
# in the dict, as in msgpack) and holds the problem until the map ends.

PROBLEM = -2


@njit(I64(ERR, I64, I64, I64), **KERNEL)
def note(problem, code, offset, detail):
    """Record a schema problem of a value in `problem` and return PROBLEM (the position)."""
    problem[0] = code
    problem[1] = offset
    problem[2] = detail
    return PROBLEM


@njit(U64(BUF, I64, I64), **KERNEL)
def _read_be(buf, pos, width):
    value = np.uint64(0)
    for k in range(width):
        value = (value << np.uint64(8)) | np.uint64(buf[pos + k])
    return value


@njit(PAIR(BUF, I64, I64, I64, I64, I64, ERR), **KERNEL)
def _count(buf, pos, end, fix, wide, per_item, err):
    """(position after, count) of an array or map header at pos; count -1 if it is not one.
    A count whose items cannot fit in the bytes left is truncated data, reported here."""
    byte = buf[pos]
    if fix <= byte <= fix + 15:
        count, after = np.int64(byte & 0x0F), pos + 1
    elif byte == wide or byte == wide + 1:
        width = 2 if byte == wide else 4
        if end - (pos + 1) < width:
            return fail(err, errors.MP_TRUNCATED, pos, 0), 0
        count, after = np.int64(_read_be(buf, pos + 1, width)), pos + 1 + width
    else:
        return pos, -1
    if count * per_item > end - after:
        return fail(err, errors.MP_TRUNCATED, pos, 0), 0
    return after, count


@njit(BOOL(I64), **KERNEL)
def _is_str(byte):
    return 0xA0 <= byte <= 0xBF or 0xD9 <= byte <= 0xDB


@njit(PAIR(BUF, I64, I64, I64, ERR), **KERNEL)
def _sized(buf, pos, end, width, err):
    """(start, size) of a str/bin/ext body whose header at pos has a `width`-byte size."""
    if end - (pos + 1) < width:
        return fail(err, errors.MP_TRUNCATED, pos, 0), 0
    size = np.int64(_read_be(buf, pos + 1, width))
    if end - (pos + 1 + width) < size:
        return fail(err, errors.MP_TRUNCATED, pos, 0), 0
    return pos + 1 + width, size


@njit(PAIR(BUF, I64, I64, ERR), **KERNEL)
def _str_body(buf, pos, end, err):
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
    """Skip an ext value, failing where msgpack would (see pure_msgpack._check_ext)."""
    if byte >= 0xD4:
        start, size = pos + 1, np.int64(1 << (byte - 0xD4))
    else:
        width = 1 << (byte - 0xC7)
        if end - (pos + 1) < width:
            return fail(err, errors.MP_TRUNCATED, pos, 0)
        start, size = pos + 1 + width, np.int64(_read_be(buf, pos + 1, width))
    if end - start < 1 + size:
        return fail(err, errors.MP_TRUNCATED, pos, 0)
    ext_type = buf[start]
    if ext_type == 0xFF:
        if size == 8:
            ok = (_read_be(buf, start + 1, 8) >> np.uint64(34)) <= np.uint64(999999999)
        else:
            ok = size == 4 or (size == 12 and _read_be(buf, start + 1, 4) <= np.uint64(999999999))
    else:
        ok = ext_type < 0x80
    if not ok:
        return fail(err, errors.MP_BAD_EXT, pos, 0)
    return start + 1 + size


@njit(I64(BUF, I64, I64, I64, ERR), **KERNEL)
def skip_value(buf, pos, end, enclosing, err):
    """Skip any one msgpack value at pos, checking it as msgpack.unpackb would (see
    pure_msgpack.skip_value); the position after it, or -1."""
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
        if is_key and not (_is_str(byte) or 0xC4 <= byte <= 0xC6):
            return fail(err, errors.MP_BAD_MAP_KEY, pos, 0)
        if byte <= 0x7F or byte >= 0xE0 or byte == 0xC0 or byte == 0xC2 or byte == 0xC3:
            pos += 1
        elif 0xCC <= byte <= 0xD3 or byte == 0xCA or byte == 0xCB:
            width = 4 if byte == 0xCA else (8 if byte == 0xCB else 1 << ((byte - 0xCC) & 3))
            if end - (pos + 1) < width:
                return fail(err, errors.MP_TRUNCATED, pos, 0)
            pos += 1 + width
        elif _is_str(byte):
            start, size = _str_body(buf, pos, end, err)
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
            if is_map:
                pos, count = _count(buf, pos, end, 0x80, 0xDE, 2, err)
            else:
                pos, count = _count(buf, pos, end, 0x90, 0xDC, 1, err)
            if pos < 0:
                return -1
            if enclosing + levels > errors.MP_MAX_DEPTH:
                return fail(err, errors.MP_TOO_DEEP, start, 0)
            items[levels] = 2 * count if is_map else count
            maps[levels] = is_map
            levels += 1
    return pos


@njit(PAIR(BUF, I64, I64, I64, ERR, ERR), **KERNEL)
def _read_str(buf, pos, end, field, err, problem):
    """(start, end) of a UTF-8 str value at pos; start is -1 or PROBLEM (another type)."""
    if pos >= end:
        return fail(err, errors.MP_TRUNCATED, pos, 0), 0
    if not _is_str(buf[pos]):
        return note(problem, errors.MP_WRONG_TYPE, pos, field), 0
    start, size = _str_body(buf, pos, end, err)
    if start < 0:
        return -1, 0
    if not utf8_valid(buf, start, start + size):
        return fail(err, errors.MP_BAD_UTF8, pos, field), 0
    return start, start + size


@njit(I64(BUF, I64, I64, _NAMES, I64_IN), **KERNEL)
def _match(buf, start, size, names, sizes):
    """Which of the names buf[start:start + size] is, or -1."""
    for i in range(sizes.size):
        if sizes[i] == size:
            same = True
            for k in range(size):
                if buf[start + k] != names[i, k]:
                    same = False
                    break
            if same:
                return i
    return -1


@njit(PAIR(BUF, I64, I64, _NAMES, I64_IN, I64, ERR, ERR), **KERNEL)
def _read_key(buf, pos, end, names, sizes, where, err, problem):
    """(position after, index in names) of the map key at pos; position -1 or PROBLEM (a meta
    key msgpack reads but the meta has not: a bin, an unknown name)."""
    if pos >= end:
        return fail(err, errors.MP_TRUNCATED, pos, 0), 0
    byte = buf[pos]
    if not _is_str(byte):
        if where == errors.MP_IN_META and 0xC4 <= byte <= 0xC6:
            return note(problem, errors.MP_KEY_NOT_STR, pos, 0), 0
        return fail(err, errors.MP_KEY_NOT_STR, pos, 0), 0
    start, size = _str_body(buf, pos, end, err)
    if start < 0:
        return -1, 0
    index = _match(buf, start, size, names, sizes)
    if index >= 0:
        return start + size, index
    if not utf8_valid(buf, start, start + size):
        return fail(err, errors.MP_BAD_UTF8, pos, errors.MP_KEY), 0
    if where == errors.MP_IN_META:
        return note(problem, errors.MP_UNKNOWN_KEY, pos, where), 0
    return fail(err, errors.MP_UNKNOWN_KEY, pos, where), 0


@njit(PAIR(BUF, I64, I64, I64, I64, I64, ERR, ERR), **KERNEL)
def _read_int(buf, pos, end, field, low, high, err, problem):
    """(position after, value) of an int in [low, high] at pos; position -1 or PROBLEM."""
    if pos >= end:
        return fail(err, errors.MP_TRUNCATED, pos, 0), 0
    byte = buf[pos]
    if byte <= 0x7F:
        value, after = np.int64(byte), pos + 1
    elif byte >= 0xE0:
        value, after = np.int64(byte) - 0x100, pos + 1
    elif 0xCC <= byte <= 0xD3:
        width = 1 << ((byte - 0xCC) & 3)
        if end - (pos + 1) < width:
            return fail(err, errors.MP_TRUNCATED, pos, 0), 0
        raw = _read_be(buf, pos + 1, width)
        after = pos + 1 + width
        if byte <= 0xCF:  # unsigned
            if raw > np.uint64(high):
                return note(problem, errors.MP_OUT_OF_RANGE, pos, field), 0
            value = np.int64(raw)
        else:  # sign-extend from `width` bytes
            shift = np.uint64(64 - 8 * width)
            value = np.int64(raw << shift) >> np.int64(shift)
    else:
        return note(problem, errors.MP_WRONG_TYPE, pos, field), 0
    if value < low or value > high:
        return note(problem, errors.MP_OUT_OF_RANGE, pos, field), 0
    return after, value


@njit(I64(_ENTRIES, I64, I64, I64, I64, I64), **KERNEL)
def _entry(entries, e, field, kind, x, y):
    entries[e, 0] = field
    entries[e, 1] = kind
    entries[e, 2] = x
    entries[e, 3] = y
    return e + 1


@njit(types.none(_ENTRIES, I64, ERR), **KERNEL)
def _hold(held, index, problem):
    held[index, 0] = problem[0]
    held[index, 1] = problem[1]
    held[index, 2] = problem[2]


@njit(BOOL(_ENTRIES, ERR), **KERNEL)
def _first_held(held, out):
    """Copy the held problem that comes first in the data into `out`; whether there was one."""
    best = -1
    for k in range(held.shape[0]):
        if held[k, 0] and (best < 0 or held[k, 1] < held[best, 1]):
            best = k
    if best >= 0:
        out[0], out[1], out[2] = held[best, 0], held[best, 1], held[best, 2]
    return best >= 0


@njit(PAIR(BUF, I64, I64, _ENTRIES, I64, ERR, ERR), **KERNEL)
def _read_meta(buf, pos, end, entries, e, err, problem):
    """A meta map at pos into entries[e:]; (position after or -1 or PROBLEM, e)."""
    after, count = _count(buf, pos, end, 0x80, 0xDE, 2, err)
    if after < 0:
        return -1, e
    if count < 0:
        return note(problem, errors.MP_WRONG_TYPE, pos, F_META), e
    e = _entry(entries, e, F_META, MAP, count, 0)
    held = np.zeros((2, 3), dtype=np.int64)
    for _ in range(count):
        after, key = _read_key(buf, after, end, _META_NAMES, _META_SIZES, errors.MP_IN_META, err, problem)
        if after < 0:
            return after, e
        start = after
        if key == 0:
            s, stop = _read_str(buf, after, end, F_VENUE, err, problem)
            after = stop if s >= 0 else s
            kind, x, y = STR, s, stop
        else:
            after, value = _read_int(buf, after, end, F_FLAGS, 0, 0xFFFFFFFF, err, problem)
            kind, x, y = INT, value, 0
        if after == -1:
            return -1, e
        if after == PROBLEM:
            _hold(held, key, problem)
            after = skip_value(buf, start, end, 2, err)
            if after < 0:
                return -1, e
            e = _entry(entries, e, F_VENUE + key, NONE, 0, 0)
        else:
            held[key, 0] = 0
            e = _entry(entries, e, F_VENUE + key, kind, x, y)
    if _first_held(held, problem):
        return PROBLEM, e
    return after, e


@njit(PAIR(BUF, I64, I64, I64, _ENTRIES, I64, ERR, ERR), **KERNEL)
def _read_value(buf, pos, end, field, entries, e, err, problem):
    """Read the value of order field `field` at pos into entries[e:]; (position after or -1
    or PROBLEM, e)."""
    if pos >= end:
        return fail(err, errors.MP_TRUNCATED, pos, 0), e
    byte = buf[pos]
    if field == 2 or (field == F_SIDE and _is_str(byte)):  # symbol, or side by name
        start, stop = _read_str(buf, pos, end, field, err, problem)
        if start < 0:
            return start, e
        if field == 2:
            return stop, _entry(entries, e, field, STR, start, stop)
        side = _match(buf, start, stop - start, _SIDE_NAMES, _SIDE_SIZES)
        if side < 0:
            return note(problem, errors.MP_UNKNOWN_SIDE, pos, F_SIDE), e
        return stop, _entry(entries, e, field, SIDE_NAME, side, 0)
    if field == F_PRICE:
        width = 8 if byte == 0xCB else (4 if byte == 0xCA else 0)
        if width == 0:
            return note(problem, errors.MP_WRONG_TYPE, pos, field), e
        if end - (pos + 1) < width:
            return fail(err, errors.MP_TRUNCATED, pos, 0), e
        bits = np.int64(_read_be(buf, pos + 1, width))
        return pos + 1 + width, _entry(entries, e, field, FLOAT64 if width == 8 else FLOAT32, bits, 0)
    if field == F_TAGS:
        after, count = _count(buf, pos, end, 0x90, 0xDC, 1, err)
        if after < 0:
            return -1, e
        if count < 0:
            return note(problem, errors.MP_WRONG_TYPE, pos, field), e
        e = _entry(entries, e, field, ARRAY, count, 0)
        for _ in range(count):
            start, stop = _read_str(buf, after, end, F_TAGS_ITEM, err, problem)
            if start < 0:
                return start, e
            e = _entry(entries, e, F_TAGS_ITEM, STR, start, stop)
            after = stop
        return after, e
    if field == F_META:
        return _read_meta(buf, pos, end, entries, e, err, problem)
    low, high = (-0x80000000, 0x7FFFFFFF) if field == F_SIDE else (_INT64_MIN, _INT64_MAX)
    after, value = _read_int(buf, pos, end, field, low, high, err, problem)
    return (after, _entry(entries, e, field, INT, value, 0)) if after >= 0 else (after, e)


_UNPACK_SIGNATURE = types.int64(types.Array(types.uint8, 1, "C", readonly=True), types.Array(types.int64, 2, "C"),
                                types.Array(types.int64, 1, "C"))


@njit(_UNPACK_SIGNATURE, **KERNEL)
def unpack(buf, entries, err):
    """msgpack bytes of an order -> entries (rows of field, kind, x, y) in wire order; returns
    how many rows, err[0] != 0 if the bytes are malformed or outside the schema.

    `entries` needs a row per input byte plus one: every entry consumes at least a byte.
    """
    end = buf.size
    if end == 0:
        return fail(err, errors.MP_TRUNCATED, 0, 0)
    pos, count = _count(buf, 0, end, 0x80, 0xDE, 2, err)
    if pos < 0:
        return -1
    if count < 0:
        return fail(err, errors.MP_NOT_MAP, 0, 0)
    problem = np.zeros(3, dtype=np.int64)
    held = np.zeros((9, 3), dtype=np.int64)
    e = _entry(entries, 0, -1, MAP, count, 0)
    for _ in range(count):
        pos, field = _read_key(buf, pos, end, _ORDER_NAMES, _ORDER_SIZES, errors.MP_IN_ORDER, err, problem)
        if pos < 0:
            return -1
        start, first_entry = pos, e
        pos, e = _read_value(buf, pos, end, field, entries, e, err, problem)
        if pos == PROBLEM:
            _hold(held, field, problem)
            pos = skip_value(buf, start, end, 1, err)
            e = _entry(entries, first_entry, field, NONE, 0, 0)
        elif pos >= 0:
            held[field, 0] = 0
        if pos < 0:
            return -1
    if pos != end:
        return fail(err, errors.MP_TRAILING, pos, end - pos)
    if _first_held(held, err):
        return -1
    return e
