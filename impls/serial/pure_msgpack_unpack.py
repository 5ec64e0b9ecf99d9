"""msgpack bytes -> an order: `unpack_order`, the specification.

unpack_order(data) equals msgpack.unpackb(data) wherever that is an order of this schema: a map
whose keys are a subset of the order's fields (a repeated key: the last value wins, as in a
dict), with values of the field's type (an int64 or a float where one is due, a str,
a Side name or an int32 for side, an array of str for tags, a map of venue/flags for meta;
a float32 is read as msgpack reads it). Anything else -- what msgpack rejects (truncated data,
the reserved byte 0xc1, invalid UTF-8, trailing bytes) and what it accepts but the schema does
not (unknown keys, a value of the wrong type, an int out of range) -- raises DecodeError.
Encoding is in pure_msgpack_pack.py.
"""

from __future__ import annotations

import struct
from functools import partial

from impls.serial import contract, errors
from impls.serial.schema import (INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, META_FIELDS, ORDER_FIELDS, SIDE_VALUES,
                                 UINT32_MAX)

_FLOAT32 = struct.Struct(">f").unpack_from
_FLOAT64 = struct.Struct(">d").unpack_from
#: int type byte -> (width, signed)
_INT_FORMS = {0xCC: (1, False), 0xCD: (2, False), 0xCE: (4, False), 0xCF: (8, False),
              0xD0: (1, True), 0xD1: (2, True), 0xD2: (4, True), 0xD3: (8, True)}
#: (fixed form's first byte, 16-bit form's byte, bytes each item takes at least) of a header
_MAP, _ARRAY = (0x80, 0xDE, 2), (0x90, 0xDC, 1)


# Every reader takes (data, pos, end) and returns (value, new pos).
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


def _is_str(byte: int) -> bool:
    return 0xA0 <= byte <= 0xBF or 0xD9 <= byte <= 0xDB


def _count(data: bytes, pos: int, end: int, header: tuple[int, int, int]) -> tuple[int, int] | None:
    """(count, position after the header) of an array or map header (_ARRAY, _MAP) at pos, or
    None if the value there is not one.

    A count whose items cannot fit in the bytes left is truncated data, reported here,
    before anything of its size is made.
    """
    fix, wide, per_item = header
    byte = _type_byte(data, pos, end)
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


def _sized(data: bytes, pos: int, end: int, width: int) -> tuple[int, int]:
    """(start, size) of a str/bin/ext body whose header at pos has a `width`-byte size."""
    _need(data, pos + 1, end, width, pos)
    return pos + 1 + width, int.from_bytes(data[pos + 1:pos + 1 + width], "big")


def _str_body(data: bytes, pos: int, end: int, byte: int) -> tuple[int, int]:
    """(start, size) of the body of the str whose header `byte` is at pos; the body fits."""
    if byte <= 0xBF:
        start, size = pos + 1, byte & 0x1F
    else:
        start, size = _sized(data, pos, end, 1 << (byte - 0xD9))
    _need(data, start, end, size, pos)
    return start, size


def _utf8(data: bytes, start: int, size: int, pos: int, detail: int) -> str:
    """The str data[start:start + size] (of the value at pos), or MP_BAD_UTF8."""
    try:
        return data[start:start + size].decode("utf-8")
    except UnicodeDecodeError:
        _fail(errors.MP_BAD_UTF8, pos, detail, data)


def _check_ext(data: bytes, pos: int, end: int, byte: int) -> int:
    """Skip an ext value, failing where msgpack would: a negative type other than -1, or a
    timestamp (type -1) of the wrong size or with nanoseconds past 999999999."""
    if byte >= 0xD4:
        start, size = pos + 1, 1 << (byte - 0xD4)
    else:
        start, size = _sized(data, pos, end, 1 << (byte - 0xC7))
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
        if is_key and not (_is_str(byte) or 0xC4 <= byte <= 0xC6):
            _fail(errors.MP_BAD_MAP_KEY, pos, 0, data)
        if byte <= 0x7F or byte >= 0xE0 or byte == 0xC0 or byte == 0xC2 or byte == 0xC3:
            pos += 1
        elif 0xCC <= byte <= 0xD3 or byte in (0xCA, 0xCB):
            width = 4 if byte == 0xCA else 8 if byte == 0xCB else 1 << ((byte - 0xCC) & 3)
            _need(data, pos + 1, end, width, pos)
            pos += 1 + width
        elif _is_str(byte):
            start, size = _str_body(data, pos, end, byte)
            _utf8(data, start, size, pos, errors.MP_KEY if is_key else errors.MP_NESTED)
            pos = start + size
        elif 0xC4 <= byte <= 0xC6:
            start, size = _sized(data, pos, end, 1 << (byte - 0xC4))
            _need(data, start, end, size, pos)
            pos = start + size
        elif 0xC7 <= byte <= 0xC9 or 0xD4 <= byte <= 0xD8:
            pos = _check_ext(data, pos, end, byte)
        elif byte == 0xC1:
            _fail(errors.MP_RESERVED_BYTE, pos, 0, data)
        else:  # an array or a map
            is_map = byte <= 0x8F or byte >= 0xDE
            count, after = _count(data, pos, end, _MAP if is_map else _ARRAY)
            if enclosing + len(open_items) > errors.MP_MAX_DEPTH:
                _fail(errors.MP_TOO_DEEP, pos, 0, data)
            open_items.append([2 * count if is_map else count, is_map])
            pos = after
    return pos


def read_str(data: bytes, pos: int, end: int, field: int) -> tuple[str, int]:
    """A str value (a _Problem for another type); `field` is its detail, as errors.MP_FIELD."""
    byte = _type_byte(data, pos, end)
    if not _is_str(byte):
        raise _Problem(errors.MP_WRONG_TYPE, pos, field)
    start, size = _str_body(data, pos, end, byte)
    return _utf8(data, start, size, pos, field), start + size


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


def _read_side(data: bytes, pos: int, end: int, field: int):
    if _is_str(_type_byte(data, pos, end)):
        name, after = read_str(data, pos, end, field)
        if name not in SIDE_VALUES:
            raise _Problem(errors.MP_UNKNOWN_SIDE, pos, field)
        return name, after
    return read_int(data, pos, end, field, INT32_MIN, INT32_MAX)


def _read_float(data: bytes, pos: int, end: int, field: int):
    byte = _type_byte(data, pos, end)
    if byte == 0xCB:
        _need(data, pos + 1, end, 8, pos)
        return _FLOAT64(data, pos + 1)[0], pos + 9
    if byte == 0xCA:
        _need(data, pos + 1, end, 4, pos)
        return _FLOAT32(data, pos + 1)[0], pos + 5
    raise _Problem(errors.MP_WRONG_TYPE, pos, field)


def _read_strings(data: bytes, pos: int, end: int, field: int):
    header = _count(data, pos, end, _ARRAY)
    if header is None:
        raise _Problem(errors.MP_WRONG_TYPE, pos, field)
    count, pos = header
    items = []
    for _ in range(count):
        item, pos = read_str(data, pos, end, errors.MP_TAGS_ITEM)
        items.append(item)
    return items, pos


def _read_key(data: bytes, pos: int, end: int, readers: dict, where: int) -> tuple[str, int]:
    """The field name a map key stands for. Order keys must be str (anything else fails);
    a meta key may be a bin, which msgpack reads, so that is a _Problem of the meta."""
    byte = _type_byte(data, pos, end)
    if not _is_str(byte):
        if where == errors.MP_IN_META and 0xC4 <= byte <= 0xC6:
            raise _Problem(errors.MP_KEY_NOT_STR, pos, 0)
        _fail(errors.MP_KEY_NOT_STR, pos, 0, data)
    key, after = read_str(data, pos, end, errors.MP_KEY)
    if key not in readers:
        if where == errors.MP_IN_META:
            raise _Problem(errors.MP_UNKNOWN_KEY, pos, where)
        _fail(errors.MP_UNKNOWN_KEY, pos, where, data)
    return key, after


def _read_map(data: bytes, pos: int, end: int, readers: dict, where: int,
              depth: int) -> tuple[dict, int, _Problem | None] | None:
    """The entries of the map at pos, its end, and the first problem still held when it ends
    (see the note on problems above); None if the value at pos is not a map."""
    header = _count(data, pos, end, _MAP)
    if header is None:
        return None
    count, pos = header
    result: dict = {}
    held: dict = {}  # key -> the _Problem of its latest value
    for _ in range(count):
        key, pos = _read_key(data, pos, end, readers, where)
        start = pos
        try:
            result[key], pos = readers[key](data, pos, end)
            held.pop(key, None)
        except _Problem as problem:
            result[key], held[key] = None, problem
            pos = skip_value(data, start, end, depth)
    return result, pos, min(held.values(), key=lambda p: p.offset) if held else None


def _read_meta(data: bytes, pos: int, end: int, field: int):
    read = _read_map(data, pos, end, _META_READERS, errors.MP_IN_META, 2)
    if read is None:
        raise _Problem(errors.MP_WRONG_TYPE, pos, field)
    meta, pos, problem = read
    if problem is not None:
        raise problem
    return meta, pos


#: How a value of each schema type is read: (reader, its arguments beyond data, pos, end and the
#: field's detail in errors.MP_FIELD). A reader returns (value, position after), or raises a
#: _Problem for a value msgpack reads but the schema does not accept.
_READ_BY_TYPE = {
    "int64": (read_int, {"low": INT64_MIN, "high": INT64_MAX}),
    "uint32": (read_int, {"low": 0, "high": UINT32_MAX}),
    "string": (read_str, {}), "Side": (_read_side, {}), "double": (_read_float, {}),
    "repeated string": (_read_strings, {}), "Meta": (_read_meta, {}),
}


def _readers(fields: tuple, prefix: str) -> dict:
    """Field name -> a reader (data, pos, end) -> (value, position after) of its value."""
    readers = {}
    for field in fields:
        read, arguments = _READ_BY_TYPE[field.type]
        readers[field.name] = partial(read, field=errors.MP_FIELD[prefix + field.name], **arguments)
    return readers


_ORDER_READERS = _readers(ORDER_FIELDS, "")
_META_READERS = _readers(META_FIELDS, "meta.")


def unpack_order(data: bytes) -> dict:
    """msgpack bytes -> the order dict msgpack.unpackb(data) gives (only the keys present).

    DecodeError (a ValueError) for malformed input or a value outside the schema, naming
    what and the byte offset.
    """
    data = contract.as_bytes(data)
    end = len(data)
    read = _read_map(data, 0, end, _ORDER_READERS, errors.MP_IN_ORDER, 1)
    if read is None:
        _fail(errors.MP_NOT_MAP, 0, 0, data)
    order, pos, problem = read
    if pos != end:
        _fail(errors.MP_TRAILING, pos, end - pos, data)
    if problem is not None:
        _fail(problem.code, problem.offset, problem.detail, data)
    return order
