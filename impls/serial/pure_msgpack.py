"""The msgpack half of the pure tier: `pack_order` and `unpack_order`, the specification.

pack_order(order) equals msgpack.packb(order) with default options: the dict's own key order,
ints in the smallest of msgpack-python's forms (positive ints unsigned, negative ones signed),
floats as float64, str as fixstr/str8/str16/str32, lists and tuples as arrays.

unpack_order(data) equals msgpack.unpackb(data) wherever that is an order of this schema: a map
whose keys are a subset of the order's fields (a repeated key: the last value wins, as in a
dict), with values of the field's type (an int64 or a float where one is due, a str,
a Side name or an int32 for side, an array of str for tags, a map of venue/flags for meta;
a float32 is read as msgpack reads it). Anything else -- what msgpack rejects (truncated data,
the reserved byte 0xc1, invalid UTF-8, trailing bytes) and what it accepts but the schema does
not (unknown keys, a value of the wrong type, an int out of range) -- raises DecodeError.
"""

from __future__ import annotations

import struct

from impls.serial import checks, errors
from impls.serial.checks import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, ORDER_KEYS, SIDE_VALUES, UINT32_MAX

_BYTE = [bytes((i,)) for i in range(256)]
_PACK_FLOAT64 = struct.Struct(">d").pack
_FLOAT32 = struct.Struct(">f").unpack_from
_FLOAT64 = struct.Struct(">d").unpack_from
#: int type byte -> (width, signed)
_INT_FORMS = {0xCC: (1, False), 0xCD: (2, False), 0xCE: (4, False), 0xCF: (8, False),
              0xD0: (1, True), 0xD1: (2, True), 0xD2: (4, True), 0xD3: (8, True)}
_TAGS_ITEM = 11


class _NotPlain(Exception):
    """The fast path met a value it does not take as it is: check_order decides."""


# ---------------------------------------------------------------------------------------------
# Packing

def pack_int(value: int) -> bytes:
    """msgpack-python's form of an int (it must fit in int64 or uint64)."""
    if value >= 0:
        if value < 0x80:
            return _BYTE[value]
        if value < 0x100:
            return b"\xcc" + _BYTE[value]
        if value < 0x10000:
            return b"\xcd" + value.to_bytes(2, "big")
        if value < 0x100000000:
            return b"\xce" + value.to_bytes(4, "big")
        return b"\xcf" + value.to_bytes(8, "big")
    if value >= -32:
        return _BYTE[value & 0xFF]
    if value >= -0x80:
        return b"\xd0" + value.to_bytes(1, "big", signed=True)
    if value >= -0x8000:
        return b"\xd1" + value.to_bytes(2, "big", signed=True)
    if value >= -0x80000000:
        return b"\xd2" + value.to_bytes(4, "big", signed=True)
    return b"\xd3" + value.to_bytes(8, "big", signed=True)


def _container_header(size: int, fix: int, wide: int) -> bytes:
    if size < 16:
        return _BYTE[fix | size]
    if size < 0x10000:
        return _BYTE[wide] + size.to_bytes(2, "big")
    return _BYTE[wide + 1] + size.to_bytes(4, "big")


def pack_str(value) -> bytes:
    if type(value) is not str:
        raise _NotPlain
    data = value.encode("utf-8")
    size = len(data)
    if size < 32:
        return _BYTE[0xA0 | size] + data
    if size < 0x100:
        return b"\xd9" + _BYTE[size] + data
    if size < 0x10000:
        return b"\xda" + size.to_bytes(2, "big") + data
    return b"\xdb" + size.to_bytes(4, "big") + data


def _int64(value) -> bytes:
    if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
        raise _NotPlain
    return pack_int(value)


def _side(value) -> bytes:
    if type(value) is str and value in SIDE_VALUES:
        return pack_str(value)
    if type(value) is not int or not INT32_MIN <= value <= INT32_MAX:
        raise _NotPlain
    return pack_int(value)


def _price(value) -> bytes:
    if type(value) is not float:
        raise _NotPlain
    return b"\xcb" + _PACK_FLOAT64(value)


def _tags(value) -> bytes:
    if type(value) is not list and type(value) is not tuple:
        raise _NotPlain
    return _container_header(len(value), 0x90, 0xDC) + b"".join([pack_str(tag) for tag in value])


def _meta(meta) -> bytes:
    if type(meta) is not dict:
        raise _NotPlain
    out = _container_header(len(meta), 0x80, 0xDE)
    for key, value in meta.items():
        if key == "venue" and type(key) is str:
            out += b"\xa5venue" + pack_str(value)
        elif key == "flags" and type(key) is str:
            if type(value) is not int or not 0 <= value <= UINT32_MAX:
                raise _NotPlain
            out += b"\xa5flags" + pack_int(value)
        else:
            raise _NotPlain
    return out


_PACKERS = {"id": _int64, "user_id": _int64, "symbol": pack_str, "side": _side, "price": _price,
            "qty": _int64, "ts_ns": _int64, "tags": _tags, "meta": _meta}


def _packed(order) -> bytes:
    if type(order) is not dict:
        raise _NotPlain
    out = bytearray(_container_header(len(order), 0x80, 0xDE))
    for key, value in order.items():
        packer = _PACKERS.get(key, None) if type(key) is str else None
        if packer is None:
            raise _NotPlain
        out += pack_str(key)
        out += packer(value)
    return bytes(out)


def pack_order(order: dict) -> bytes:
    """An order dict -> msgpack bytes, equal to msgpack.packb(order) (the dict's key order).

    The same TypeError / ValueError as encode_order for an order that does not fit the schema.
    """
    try:
        return _packed(order)
    except (_NotPlain, UnicodeEncodeError):
        return _packed(checks.check_order(order))


# ---------------------------------------------------------------------------------------------
# Unpacking: every reader takes (data, pos, end) and returns (value, new pos).
#
# Two kinds of problem. What msgpack itself rejects (truncated data, invalid UTF-8, the byte
# 0xc1, a map key that is not a str or bin, a bad ext, nesting past 1024) fails at once. A
# value msgpack reads but the schema does not accept is a _Problem: the map reading it skips
# the value (checking it as msgpack would) and holds the problem, because msgpack keeps the
# last value of a repeated key and a later, valid one replaces it. Problems still held when
# the map ends fail then, the first in the data first.

class _Problem(Exception):
    """A value msgpack reads but this schema does not accept."""

    def __init__(self, code: int, offset: int, detail: int):
        super().__init__(code, offset, detail)
        self.code, self.offset, self.detail = code, offset, detail


def _fail(code: int, offset: int, detail: int, data: bytes):
    raise errors.decode_error(code, offset, detail, data)


def _need(data: bytes, pos: int, end: int, size: int, start: int) -> None:
    if end - pos < size:
        _fail(errors.MP_TRUNCATED, start, 0, data)


def _type_byte(data: bytes, pos: int, end: int) -> int:
    if pos >= end:
        _fail(errors.MP_TRUNCATED, pos, 0, data)
    return data[pos]


def _count(data: bytes, pos: int, end: int, fix: int, wide: int, per_item: int) -> tuple[int, int] | None:
    """(count, position after the header) of an array or map header, or None if it is not one.

    A count whose items cannot fit in the bytes left is truncated data, reported here,
    before anything of its size is made.
    """
    byte = data[pos]
    if fix <= byte <= fix + 15:
        count, after = byte & 0x0F, pos + 1
    elif byte == wide or byte == wide + 1:
        width = 2 if byte == wide else 4
        _need(data, pos + 1, end, width, pos)
        count, after = int.from_bytes(data[pos + 1:pos + 1 + width], "big"), pos + 1 + width
    else:
        return None
    if count * per_item > end - after:
        _fail(errors.MP_TRUNCATED, pos, 0, data)
    return count, after


def _sized(data: bytes, pos: int, end: int, byte: int, first: int, width_of) -> tuple[int, int]:
    """(start, size) of a str/bin/ext body whose header is at pos."""
    width = width_of(byte - first)
    _need(data, pos + 1, end, width, pos)
    return pos + 1 + width, int.from_bytes(data[pos + 1:pos + 1 + width], "big")


def _check_ext(data: bytes, pos: int, end: int, byte: int) -> int:
    """Skip an ext value, failing where msgpack would: a negative type other than -1, or a
    timestamp (type -1) of the wrong size or with nanoseconds past 999999999."""
    if byte >= 0xD4:
        start, size = pos + 1, 1 << (byte - 0xD4)
    else:
        start, size = _sized(data, pos, end, byte, 0xC7, lambda i: 1 << i)
    _need(data, start, end, 1 + size, pos)
    ext_type, body = data[start], start + 1
    if ext_type == 0xFF:
        if size == 8:
            ok = int.from_bytes(data[body:body + 8], "big") >> 34 <= 999_999_999
        else:
            ok = size == 4 or (size == 12 and int.from_bytes(data[body:body + 4], "big") <= 999_999_999)
    else:
        ok = ext_type < 0x80
    if not ok:
        _fail(errors.MP_BAD_EXT, pos, 0, data)
    return body + size


def skip_value(data: bytes, pos: int, end: int, enclosing: int) -> int:
    """Skip any one msgpack value at pos, checking it as msgpack.unpackb would; `enclosing`
    containers are already open around it. Returns the position after it."""
    open_items = [[1, False]]  # per open container: items left, and whether it is a map
    while open_items:
        level = open_items[-1]
        if level[0] == 0:
            open_items.pop()
            continue
        is_key = level[1] and level[0] % 2 == 0
        level[0] -= 1
        byte = _type_byte(data, pos, end)
        if is_key and not (0xA0 <= byte <= 0xBF or 0xD9 <= byte <= 0xDB or 0xC4 <= byte <= 0xC6):
            _fail(errors.MP_BAD_MAP_KEY, pos, 0, data)
        if byte <= 0x7F or byte >= 0xE0 or byte == 0xC0 or byte == 0xC2 or byte == 0xC3:
            pos += 1
        elif 0xCC <= byte <= 0xD3 or byte in (0xCA, 0xCB):
            width = 4 if byte == 0xCA else 8 if byte == 0xCB else 1 << ((byte - 0xCC) & 3)
            _need(data, pos + 1, end, width, pos)
            pos += 1 + width
        elif 0xA0 <= byte <= 0xBF or 0xD9 <= byte <= 0xDB:
            if byte <= 0xBF:
                start, size = pos + 1, byte & 0x1F
            else:
                start, size = _sized(data, pos, end, byte, 0xD9, lambda i: 1 << i)
            _need(data, start, end, size, pos)
            try:
                data[start:start + size].decode("utf-8")
            except UnicodeDecodeError:
                _fail(errors.MP_BAD_UTF8, pos, errors.MP_KEY if is_key else errors.MP_NESTED, data)
            pos = start + size
        elif 0xC4 <= byte <= 0xC6:
            start, size = _sized(data, pos, end, byte, 0xC4, lambda i: 1 << i)
            _need(data, start, end, size, pos)
            pos = start + size
        elif 0xC7 <= byte <= 0xC9 or 0xD4 <= byte <= 0xD8:
            pos = _check_ext(data, pos, end, byte)
        elif byte == 0xC1:
            _fail(errors.MP_RESERVED_BYTE, pos, 0, data)
        else:  # an array or a map
            is_map = byte <= 0x8F or byte >= 0xDE
            count, after = _count(data, pos, end, 0x80 if is_map else 0x90, 0xDE if is_map else 0xDC,
                                  2 if is_map else 1)
            if enclosing + len(open_items) > errors.MP_MAX_DEPTH:
                _fail(errors.MP_TOO_DEEP, pos, 0, data)
            open_items.append([2 * count if is_map else count, is_map])
            pos = after
    return pos


def read_str(data: bytes, pos: int, end: int, field: int) -> tuple[str, int]:
    """A str value (a _Problem for another type)."""
    byte = _type_byte(data, pos, end)
    if 0xA0 <= byte <= 0xBF:
        start, size = pos + 1, byte & 0x1F
    elif 0xD9 <= byte <= 0xDB:
        start, size = _sized(data, pos, end, byte, 0xD9, lambda i: 1 << i)
    else:
        raise _Problem(errors.MP_WRONG_TYPE, pos, field)
    _need(data, start, end, size, pos)
    try:
        return data[start:start + size].decode("utf-8"), start + size
    except UnicodeDecodeError:
        _fail(errors.MP_BAD_UTF8, pos, field, data)


def _read_key(data: bytes, pos: int, end: int, names: dict, where: int):
    """The field name a map key stands for. Order keys must be str (anything else fails);
    a meta key may be a bin, which msgpack reads, so that is a _Problem of the meta."""
    byte = _type_byte(data, pos, end)
    if not (0xA0 <= byte <= 0xBF or 0xD9 <= byte <= 0xDB):
        if where == errors.MP_IN_META and 0xC4 <= byte <= 0xC6:
            raise _Problem(errors.MP_KEY_NOT_STR, pos, 0)
        _fail(errors.MP_KEY_NOT_STR, pos, 0, data)
    key, after = read_str(data, pos, end, errors.MP_KEY)
    name = names.get(key)
    if name is None:
        if where == errors.MP_IN_META:
            raise _Problem(errors.MP_UNKNOWN_KEY, pos, where)
        _fail(errors.MP_UNKNOWN_KEY, pos, where, data)
    return name, after


def read_int(data: bytes, pos: int, end: int, field: int, low: int, high: int) -> tuple[int, int]:
    """An int in [low, high] (a _Problem for another type or value)."""
    byte = _type_byte(data, pos, end)
    if byte <= 0x7F:
        value, after = byte, pos + 1
    elif byte >= 0xE0:
        value, after = byte - 0x100, pos + 1
    else:
        form = _INT_FORMS.get(byte)
        if form is None:
            raise _Problem(errors.MP_WRONG_TYPE, pos, field)
        width, signed = form
        _need(data, pos + 1, end, width, pos)
        value, after = int.from_bytes(data[pos + 1:pos + 1 + width], "big", signed=signed), pos + 1 + width
    if not low <= value <= high:
        raise _Problem(errors.MP_OUT_OF_RANGE, pos, field)
    return value, after


def _read_side(data: bytes, pos: int, end: int):
    byte = _type_byte(data, pos, end)
    if 0xA0 <= byte <= 0xBF or 0xD9 <= byte <= 0xDB:
        name, after = read_str(data, pos, end, 3)
        if name not in SIDE_VALUES:
            raise _Problem(errors.MP_UNKNOWN_SIDE, pos, 3)
        return name, after
    return read_int(data, pos, end, 3, INT32_MIN, INT32_MAX)


def _read_price(data: bytes, pos: int, end: int):
    byte = _type_byte(data, pos, end)
    if byte == 0xCB:
        _need(data, pos + 1, end, 8, pos)
        return _FLOAT64(data, pos + 1)[0], pos + 9
    if byte == 0xCA:
        _need(data, pos + 1, end, 4, pos)
        return _FLOAT32(data, pos + 1)[0], pos + 5
    raise _Problem(errors.MP_WRONG_TYPE, pos, 4)


def _read_tags(data: bytes, pos: int, end: int):
    _type_byte(data, pos, end)
    header = _count(data, pos, end, 0x90, 0xDC, 1)
    if header is None:
        raise _Problem(errors.MP_WRONG_TYPE, pos, 7)
    count, pos = header
    tags = []
    for _ in range(count):
        tag, pos = read_str(data, pos, end, _TAGS_ITEM)
        tags.append(tag)
    return tags, pos


def _read_map(data: bytes, pos: int, end: int, count: int, names: dict, readers: dict, where: int,
              depth: int) -> tuple[dict, int, _Problem | None]:
    """The entries of a map whose header was read, and the first problem still held when it
    ends (see the note on problems above)."""
    result: dict = {}
    held: dict = {}  # key -> the _Problem of its latest value
    for _ in range(count):
        key, pos = _read_key(data, pos, end, names, where)
        start = pos
        try:
            result[key], pos = readers[key](data, pos, end)
            held.pop(key, None)
        except _Problem as problem:
            result[key], held[key] = None, problem
            pos = skip_value(data, start, end, depth)
    return result, pos, min(held.values(), key=lambda p: p.offset) if held else None


def _read_meta(data: bytes, pos: int, end: int):
    _type_byte(data, pos, end)
    header = _count(data, pos, end, 0x80, 0xDE, 2)
    if header is None:
        raise _Problem(errors.MP_WRONG_TYPE, pos, 8)
    count, pos = header
    meta, pos, problem = _read_map(data, pos, end, count, _META_NAMES, _META_READERS, errors.MP_IN_META, 2)
    if problem is not None:
        raise problem
    return meta, pos


_META_NAMES = {"venue": "venue", "flags": "flags"}
_META_READERS = {"venue": lambda d, p, e: read_str(d, p, e, 9),
                 "flags": lambda d, p, e: read_int(d, p, e, 10, 0, UINT32_MAX)}
_ORDER_NAMES = {name: name for name in ORDER_KEYS}
_ORDER_READERS = {
    "id": lambda d, p, e: read_int(d, p, e, 0, INT64_MIN, INT64_MAX),
    "user_id": lambda d, p, e: read_int(d, p, e, 1, INT64_MIN, INT64_MAX),
    "symbol": lambda d, p, e: read_str(d, p, e, 2),
    "side": _read_side,
    "price": _read_price,
    "qty": lambda d, p, e: read_int(d, p, e, 5, INT64_MIN, INT64_MAX),
    "ts_ns": lambda d, p, e: read_int(d, p, e, 6, INT64_MIN, INT64_MAX),
    "tags": _read_tags,
    "meta": _read_meta,
}


def unpack_order(data: bytes) -> dict:
    """msgpack bytes -> the order dict msgpack.unpackb(data) gives (only the keys present).

    DecodeError (a ValueError) for malformed input or a value outside the schema, naming
    what and the byte offset.
    """
    data = checks.as_bytes(data)
    end = len(data)
    _type_byte(data, 0, end)
    header = _count(data, 0, end, 0x80, 0xDE, 2)
    if header is None:
        _fail(errors.MP_NOT_MAP, 0, 0, data)
    count, pos = header
    order, pos, problem = _read_map(data, pos, end, count, _ORDER_NAMES, _ORDER_READERS, errors.MP_IN_ORDER, 1)
    if pos != end:
        _fail(errors.MP_TRAILING, pos, end - pos, data)
    if problem is not None:
        _fail(problem.code, problem.offset, problem.detail, data)
    return order
