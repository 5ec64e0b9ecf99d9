"""Numba kernels: an order's msgpack bytes -> entries, checked against the schema.

`unpack` reads and checks a whole order against the schema, in pure_msgpack_unpack's order
(so the first problem and its code, offset and detail are the pure tier's), and emits entries
(rows of field, kind, x, y; kinds as nb_msgpack_pack names them) in wire order, for Python to
turn into the dict (see nb.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from impls.serial import errors
from impls.serial.nb_bytes import BOOL, BUF, ERR, I64, I64_IN, KERNEL, PAIR, fail, utf8_valid
from impls.serial.nb_msgpack_pack import ARRAY, FLOAT32, FLOAT64, INT, MAP, NONE, SIDE_NAME, STR
from impls.serial.nb_msgpack_values import is_str, read_be, read_count, skip_value, str_body
from impls.serial.schema import (INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, META_KEYS, ORDER_KEYS, SIDE_NAMES,
                                 UINT32_MAX)

# Field indexes, as errors.MP_FIELDS numbers them (the entries' field column), and the places
# of Meta's fields in META_KEYS: module globals, which Numba compiles in as constants.
F_SYMBOL, F_SIDE, F_PRICE = errors.MP_FIELD["symbol"], errors.MP_FIELD["side"], errors.MP_FIELD["price"]
F_TAGS, F_META, F_TAGS_ITEM = errors.MP_FIELD["tags"], errors.MP_FIELD["meta"], errors.MP_TAGS_ITEM
F_VENUE, F_FLAGS = errors.MP_FIELD["meta.venue"], errors.MP_FIELD["meta.flags"]
F_META_FIRST = errors.MP_FIELD["meta." + META_KEYS[0]]  # Meta's field k is F_META_FIRST + k
_VENUE = META_KEYS.index("venue")
_ORDER_FIELDS, _META_FIELDS = len(ORDER_KEYS), len(META_KEYS)


def _name_table(names) -> tuple[np.ndarray, np.ndarray]:
    """The names' UTF-8 bytes as rows of a table (zero-padded), and their sizes."""
    encoded = [name.encode() for name in names]
    table = np.zeros((len(names), max(map(len, encoded))), dtype=np.uint8)
    for i, name in enumerate(encoded):
        table[i, : len(name)] = np.frombuffer(name, dtype=np.uint8)
    return table, np.array([len(name) for name in encoded], dtype=np.int64)


_ENTRIES = types.Array(types.int64, 2, "C")
_NAMES = types.Array(types.uint8, 2, "C", readonly=True)
_ORDER_NAMES, _ORDER_SIZES = _name_table(ORDER_KEYS)
_META_NAMES, _META_SIZES = _name_table(META_KEYS)
_SIDE_NAMES, _SIDE_SIZES = _name_table(SIDE_NAMES)


# As in pure_msgpack_unpack: what msgpack rejects fails at once (recorded in `err`, the position
# -1); a value msgpack reads but the schema does not accept is a problem (recorded in `problem`,
# the position PROBLEM): the map skips the value, checking it as msgpack would, leaves a NONE
# entry in its place (a later value of the key replaces it, at the same place in the dict, as
# in msgpack) and holds the problem until the map ends.

PROBLEM = -2


@njit(I64(ERR, I64, I64, I64), **KERNEL)
def note(problem, code, offset, detail):
    """Record a schema problem of a value in `problem` and return PROBLEM (the position)."""
    fail(problem, code, offset, detail)
    return PROBLEM


@njit(PAIR(BUF, I64, I64, I64, ERR, ERR), **KERNEL)
def _read_str(buf, pos, end, field, err, problem):
    """(start, end) of a UTF-8 str value at pos; start is -1 or PROBLEM (another type)."""
    if pos >= end:
        return fail(err, errors.MP_TRUNCATED, pos, 0), 0
    if not is_str(buf[pos]):
        return note(problem, errors.MP_WRONG_TYPE, pos, field), 0
    start, size = str_body(buf, pos, end, err)
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
    if not is_str(byte):
        if where == errors.MP_IN_META and 0xC4 <= byte <= 0xC6:
            return note(problem, errors.MP_KEY_NOT_STR, pos, 0), 0
        return fail(err, errors.MP_KEY_NOT_STR, pos, 0), 0
    start, size = str_body(buf, pos, end, err)
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
        raw = read_be(buf, pos + 1, width)
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


@njit(types.UniTuple(I64, 3)(BUF, I64, I64, I64, I64, _ENTRIES, I64, ERR, ERR), **KERNEL)
def _read_header(buf, pos, end, field, kind, entries, e, err, problem):
    """The MAP or ARRAY header of `field`'s value at pos, as an entry at entries[e]:
    (position after or -1 or PROBLEM (not a map or array), the item count, e)."""
    after, count = read_count(buf, pos, end, kind == MAP, err)
    if after < 0:
        return -1, 0, e
    if count < 0:
        return note(problem, errors.MP_WRONG_TYPE, pos, field), 0, e
    return after, count, _entry(entries, e, field, kind, count, 0)


@njit(PAIR(BUF, I64, I64, _ENTRIES, I64, ERR, ERR), **KERNEL)
def _read_meta(buf, pos, end, entries, e, err, problem):
    """A meta map at pos into entries[e:]; (position after or -1 or PROBLEM, e)."""
    after, count, e = _read_header(buf, pos, end, F_META, MAP, entries, e, err, problem)
    if after < 0:
        return after, e
    held = np.zeros((_META_FIELDS, 3), dtype=np.int64)
    for _ in range(count):
        after, key = _read_key(buf, after, end, _META_NAMES, _META_SIZES, errors.MP_IN_META, err, problem)
        if after < 0:
            return after, e
        start = after
        if key == _VENUE:
            s, stop = _read_str(buf, after, end, F_VENUE, err, problem)
            after = stop if s >= 0 else s
            kind, x, y = STR, s, stop
        else:
            after, value = _read_int(buf, after, end, F_FLAGS, 0, UINT32_MAX, err, problem)
            kind, x, y = INT, value, 0
        if after == -1:
            return -1, e
        if after == PROBLEM:
            _hold(held, key, problem)
            after = skip_value(buf, start, end, 2, err)
            if after < 0:
                return -1, e
            e = _entry(entries, e, F_META_FIRST + key, NONE, 0, 0)
        else:
            held[key, 0] = 0
            e = _entry(entries, e, F_META_FIRST + key, kind, x, y)
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
    if field == F_SYMBOL or (field == F_SIDE and is_str(byte)):  # symbol, or side by name
        start, stop = _read_str(buf, pos, end, field, err, problem)
        if start < 0:
            return start, e
        if field == F_SYMBOL:
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
        bits = np.int64(read_be(buf, pos + 1, width))
        return pos + 1 + width, _entry(entries, e, field, FLOAT64 if width == 8 else FLOAT32, bits, 0)
    if field == F_TAGS:
        after, count, e = _read_header(buf, pos, end, field, ARRAY, entries, e, err, problem)
        if after < 0:
            return after, e
        for _ in range(count):
            start, stop = _read_str(buf, after, end, F_TAGS_ITEM, err, problem)
            if start < 0:
                return start, e
            e = _entry(entries, e, F_TAGS_ITEM, STR, start, stop)
            after = stop
        return after, e
    if field == F_META:
        return _read_meta(buf, pos, end, entries, e, err, problem)
    low, high = (INT32_MIN, INT32_MAX) if field == F_SIDE else (INT64_MIN, INT64_MAX)
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
    pos, count = read_count(buf, 0, end, True, err)
    if pos < 0:
        return -1
    if count < 0:
        return fail(err, errors.MP_NOT_MAP, 0, 0)
    problem = np.zeros(3, dtype=np.int64)
    held = np.zeros((_ORDER_FIELDS, 3), dtype=np.int64)
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
