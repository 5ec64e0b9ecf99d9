"""Order codecs in plain Python: the specification of the serial family.

Protobuf (order.proto, proto3), byte for byte what upb's SerializeToString() writes:
* fields in field-number order; a field at its proto3 default (0, "", 0.0, empty list) is
  left out, but -0.0 is not the default and is written, and a NaN is written with its bits;
* ints as varints, a negative int64 (or int32 enum) as the 10-byte two's complement varint;
* `meta` is written whenever the key is present, even as an empty message (b"\x4a\x00").

Decoding follows upb, including what it accepts: a known field arriving with another wire
type is kept as an unknown field (skipped here), a sub-message that appears twice is merged,
the last value of a scalar wins, repeated strings are appended, groups are skipped (their end
tag must match), 100 levels of sub-messages and groups at most, strings must be valid UTF-8.
A tag is at most 5 bytes (and below 2**32), a length prefix at most 5 bytes, a varint at most
10 (bits past 64 are dropped). Anything else raises DecodeError at the offending byte.

msgpack: `pack_order` equals msgpack.packb(order) and `unpack_order` msgpack.unpackb(data)
for this schema (see `impls.serial.pure_msgpack`).
"""

from __future__ import annotations

import struct
from math import copysign

from impls.serial import checks, errors
from impls.serial.checks import INT32_MAX, INT64_MAX, SIDE_VALUES, UINT32_MAX
from impls.serial.errors import DecodeError
from impls.serial.pure_msgpack import pack_order, unpack_order

__all__ = ["DecodeError", "encode_order", "decode_order", "encode_batch", "decode_batch", "pack_order",
           "unpack_order", "warmup"]

_MASK64 = (1 << 64) - 1
_PACK_DOUBLE = struct.Struct("<d").pack
_UNPACK_DOUBLE = struct.Struct("<d").unpack_from


class _NotPlain(Exception):
    """The fast path met a value it does not take as it is: check_order decides."""


# ---------------------------------------------------------------------------------------------
# Encoding

# Varints by table, 14 bits at a time: the 1- or 2-byte varint of every value below 2**14, and
# the two continuation bytes of every 14-bit chunk. About 1 MB, built at import; a lookup per
# 14 bits costs about 40% less than computing the bytes in Python (9-byte timestamps).
_SHORT = [bytes((c,)) if c < 0x80 else bytes((c & 0x7F | 0x80, c >> 7)) for c in range(1 << 14)]
_CHUNK = [bytes((c & 0x7F | 0x80, c >> 7 | 0x80)) for c in range(1 << 14)]


def varint(value: int) -> bytes:
    """The varint of an unsigned 64-bit value."""
    if value < 0x4000:
        return _SHORT[value]
    if value < 0x10000000:
        return _CHUNK[value & 0x3FFF] + _SHORT[value >> 14]
    if value < 0x40000000000:
        return _CHUNK[value & 0x3FFF] + _CHUNK[value >> 14 & 0x3FFF] + _SHORT[value >> 28]
    if value < 0x100000000000000:
        return (_CHUNK[value & 0x3FFF] + _CHUNK[value >> 14 & 0x3FFF] + _CHUNK[value >> 28 & 0x3FFF]
                + _SHORT[value >> 42])
    return (_CHUNK[value & 0x3FFF] + _CHUNK[value >> 14 & 0x3FFF] + _CHUNK[value >> 28 & 0x3FFF]
            + _CHUNK[value >> 42 & 0x3FFF] + _SHORT[value >> 56])


#: tag byte + a one-byte varint (a small value, or the length of a short string), by value
_TAGGED = {tag: [bytes((tag, n)) for n in range(0x80)] for tag in (0x08, 0x10, 0x1A, 0x20, 0x30, 0x38, 0x42, 0x0A)}
_ID, _USER_ID, _SYMBOL, _SIDE, _QTY, _TS_NS, _TAG, _VENUE = (
    _TAGGED[t] for t in (0x08, 0x10, 0x1A, 0x20, 0x30, 0x38, 0x42, 0x0A))


def _meta_bytes(meta) -> bytes:
    if type(meta) is not dict:
        raise _NotPlain
    out = b""
    venue, flags = meta.get("venue"), meta.get("flags")
    if venue is not None:
        if type(venue) is not str:
            raise _NotPlain
        data = venue.encode("utf-8")
        size = len(data)
        if size:
            out = (_VENUE[size] if size < 0x80 else b"\x0a" + varint(size)) + data
    if flags is not None:
        if type(flags) is not int or not 0 <= flags <= UINT32_MAX:
            raise _NotPlain
        if flags:
            out += b"\x10" + varint(flags)
    if (venue is not None) + (flags is not None) != len(meta):  # an unknown key, or a None
        raise _NotPlain
    return out


def _order_bytes(order) -> bytes:
    """Order's wire bytes for an order of plain types; _NotPlain for anything else.

    Written for speed in plain Python: no call per field where a table lookup will do (a
    tag and a one-byte value or length come from _TAGGED), range limits as literals (the
    int64 and int32 bounds of checks) rather than global lookups. A value of None counts as a
    missing key here, and the count of keys found then sends the order to check_order.
    """
    if type(order) is not dict:
        raise _NotPlain
    get = order.get
    out = bytearray()
    found = 0
    value = get("id")
    if value is not None:
        found += 1
        if type(value) is not int or not -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
            raise _NotPlain
        if value:
            out += _ID[value] if 0 < value < 0x80 else b"\x08" + varint(value & _MASK64)
    value = get("user_id")
    if value is not None:
        found += 1
        if type(value) is not int or not -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
            raise _NotPlain
        if value:
            out += _USER_ID[value] if 0 < value < 0x80 else b"\x10" + varint(value & _MASK64)
    value = get("symbol")
    if value is not None:
        found += 1
        if type(value) is not str:
            raise _NotPlain
        if value:
            data = value.encode("utf-8")
            size = len(data)
            out += (_SYMBOL[size] if size < 0x80 else b"\x1a" + varint(size)) + data
    value = get("side")
    if value is not None:
        found += 1
        if type(value) is str:
            value = SIDE_VALUES.get(value)
            if value is None:
                raise _NotPlain
        elif type(value) is not int or not -0x80000000 <= value <= 0x7FFFFFFF:
            raise _NotPlain
        if 0 < value < 0x80:
            out += _SIDE[value]
        elif value:
            out += b"\x20" + varint(value & _MASK64)
    value = get("price")
    if value is not None:
        found += 1
        if type(value) is not float:
            raise _NotPlain
        if value or copysign(1.0, value) < 0:  # 0.0 is the default, -0.0 is not
            out += b"\x29" + _PACK_DOUBLE(value)
    value = get("qty")
    if value is not None:
        found += 1
        if type(value) is not int or not -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
            raise _NotPlain
        if value:
            out += _QTY[value] if 0 < value < 0x80 else b"\x30" + varint(value & _MASK64)
    value = get("ts_ns")
    if value is not None:
        found += 1
        if type(value) is not int or not -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
            raise _NotPlain
        if value:
            out += _TS_NS[value] if 0 < value < 0x80 else b"\x38" + varint(value & _MASK64)
    value = get("tags")
    if value is not None:
        found += 1
        if type(value) is not list and type(value) is not tuple:
            raise _NotPlain
        for tag in value:
            if type(tag) is not str:
                raise _NotPlain
            data = tag.encode("utf-8")
            size = len(data)
            out += (_TAG[size] if size < 0x80 else b"\x42" + varint(size)) + data
    value = get("meta")
    if value is not None:
        found += 1
        data = _meta_bytes(value)
        out += b"\x4a" + varint(len(data)) + data
    if found != len(order):
        raise _NotPlain
    return bytes(out)


def encode_order(order: dict) -> bytes:
    """An order dict -> Order's protobuf bytes, equal to upb's SerializeToString().

    TypeError, ValueError (UnicodeEncodeError for a lone surrogate) for an order that does
    not fit the schema; see impls.serial.checks for the dict form.
    """
    try:
        return _order_bytes(order)
    except (_NotPlain, UnicodeEncodeError):
        return _order_bytes(checks.check_order(order))


def encode_batch(orders: list[dict]) -> bytes:
    """A list of order dicts -> OrderBatch's protobuf bytes (each order as encode_order)."""
    out = bytearray()
    for order in checks.check_orders(orders):
        data = encode_order(order)
        out += b"\x0a" + varint(len(data)) + data
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Decoding: every reader takes (data, pos, end) and returns (value, new pos)

def _fail(code: int, offset: int, detail: int, data: bytes):
    raise errors.decode_error(code, offset, detail, data)


def read_tag(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A tag: at most 5 bytes and below 2**32, as upb reads it."""
    value = shift = 0
    for i in range(5):
        if pos + i >= end:
            _fail(errors.TRUNCATED_TAG, pos, 0, data)
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value > 0xFFFFFFFF:
                break
            return value, pos + i + 1
        shift += 7
    _fail(errors.BAD_TAG, pos, 0, data)


def read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """An unsigned 64-bit varint: at most 10 bytes, bits past the 64th dropped."""
    value = shift = 0
    for i in range(10):
        if pos + i >= end:
            _fail(errors.TRUNCATED_VARINT, pos, 0, data)
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & _MASK64, pos + i + 1
        shift += 7
    _fail(errors.VARINT_TOO_LONG, pos, 0, data)


def read_length(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A length prefix (at most 5 bytes) whose bytes fit before `end`; returns (length, start)."""
    value = shift = 0
    for i in range(5):
        if pos + i >= end:
            _fail(errors.TRUNCATED_LENGTH, pos, 0, data)
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            start = pos + i + 1
            if value > end - start:
                _fail(errors.LENGTH_PAST_END, pos, value, data)
            return value, start
        shift += 7
    _fail(errors.LENGTH_TOO_LONG, pos, 0, data)


def _string(data: bytes, pos: int, end: int, field: int) -> tuple[str, int]:
    size, start = read_length(data, pos, end)
    try:
        return data[start:start + size].decode("utf-8"), start + size
    except UnicodeDecodeError:
        _fail(errors.BAD_UTF8, start, field, data)


def _wire_type(data: bytes, tag: int, tag_start: int) -> int:
    """The wire type of a tag read at message level (not inside a group)."""
    wire_type = tag & 7
    if wire_type > 5:
        _fail(errors.BAD_WIRE_TYPE, tag_start, wire_type, data)
    if wire_type == 4:
        _fail(errors.UNEXPECTED_END_GROUP, tag_start, tag >> 3, data)
    if tag < 8:
        _fail(errors.FIELD_ZERO, tag_start, 0, data)
    return wire_type


def skip_value(data: bytes, pos: int, end: int, tag: int, tag_start: int, depth: int) -> int:
    """Skip an unknown field's value (wire type 0, 1, 2, 3 or 5); returns the position after it."""
    wire_type = tag & 7
    if wire_type == 0:
        return read_varint(data, pos, end)[1]
    if wire_type == 1:
        if end - pos < 8:
            _fail(errors.TRUNCATED_FIXED64, pos, 0, data)
        return pos + 8
    if wire_type == 5:
        if end - pos < 4:
            _fail(errors.TRUNCATED_FIXED32, pos, 0, data)
        return pos + 4
    if wire_type == 2:
        size, start = read_length(data, pos, end)
        return start + size
    return skip_group(data, pos, end, tag >> 3, tag_start, depth)


def skip_group(data: bytes, pos: int, end: int, field: int, tag_start: int, depth: int) -> int:
    """Skip a group whose start tag (of `field`, at `tag_start`) was just read.

    Inside a group any field number (0 too) is read and skipped; each nested group costs one
    level of `depth`; the group must end with the end tag of its own field number.
    """
    open_groups = [(field, tag_start)]
    if depth - 1 < 0:
        _fail(errors.TOO_DEEP, tag_start, 0, data)
    while True:
        if pos >= end:
            field, start = open_groups[-1]
            _fail(errors.UNTERMINATED_GROUP, start, field, data)
        start = pos
        tag, pos = read_tag(data, pos, end)
        wire_type = tag & 7
        if wire_type > 5:
            _fail(errors.BAD_WIRE_TYPE, start, wire_type, data)
        if wire_type == 4:
            if tag >> 3 != open_groups[-1][0]:
                _fail(errors.MISMATCHED_END_GROUP, start, tag >> 3, data)
            open_groups.pop()
            if not open_groups:
                return pos
        elif wire_type == 3:
            open_groups.append((tag >> 3, start))
            if depth - len(open_groups) < 0:
                _fail(errors.TOO_DEEP, start, 0, data)
        else:
            pos = skip_value(data, pos, end, tag, start, depth)


def _merge_meta(data: bytes, pos: int, end: int, depth: int, meta: dict) -> None:
    """Parse a Meta message in data[pos:end] into `meta` (a second Meta merges into the first)."""
    while pos < end:
        start = pos
        tag, pos = read_tag(data, pos, end)
        _wire_type(data, tag, start)
        if tag == 0x0A:
            meta["venue"], pos = _string(data, pos, end, errors.VENUE_DETAIL)
        elif tag == 0x10:
            value, pos = read_varint(data, pos, end)
            meta["flags"] = value & 0xFFFFFFFF
        else:
            pos = skip_value(data, pos, end, tag, start, depth)


def _signed64(value: int) -> int:
    return value - (1 << 64) if value > INT64_MAX else value


def _parse_order(data: bytes, pos: int, end: int, depth: int) -> dict:
    """Parse an Order message in data[pos:end], `depth` levels of nesting left."""
    order = checks.default_order()
    tags = order["tags"]
    while pos < end:
        start = pos
        tag, pos = read_tag(data, pos, end)
        _wire_type(data, tag, start)
        if tag == 0x08:
            value, pos = read_varint(data, pos, end)
            order["id"] = _signed64(value)
        elif tag == 0x10:
            value, pos = read_varint(data, pos, end)
            order["user_id"] = _signed64(value)
        elif tag == 0x1A:
            order["symbol"], pos = _string(data, pos, end, 3)
        elif tag == 0x20:
            value, pos = read_varint(data, pos, end)
            value &= 0xFFFFFFFF  # an int32 field keeps the low 32 bits, as upb does
            order["side"] = checks.side_name(value - (1 << 32) if value > INT32_MAX else value)
        elif tag == 0x29:
            if end - pos < 8:
                _fail(errors.TRUNCATED_FIXED64, pos, 0, data)
            order["price"] = _UNPACK_DOUBLE(data, pos)[0]
            pos += 8
        elif tag == 0x30:
            value, pos = read_varint(data, pos, end)
            order["qty"] = _signed64(value)
        elif tag == 0x38:
            value, pos = read_varint(data, pos, end)
            order["ts_ns"] = _signed64(value)
        elif tag == 0x42:
            value, pos = _string(data, pos, end, 8)
            tags.append(value)
        elif tag == 0x4A:
            size, pos = read_length(data, pos, end)
            if depth - 1 < 0:  # pragma: no cover - an order never sits deeper than 1 level
                _fail(errors.TOO_DEEP, start, 0, data)
            _merge_meta(data, pos, pos + size, depth - 1, order["meta"])
            pos += size
        else:
            pos = skip_value(data, pos, end, tag, start, depth)
    return order


def decode_order(data: bytes) -> dict:
    """Order's protobuf bytes -> an order dict with every key (proto3 defaults where absent).

    DecodeError (a ValueError) for malformed input, naming what and the byte offset.
    """
    data = checks.as_bytes(data)
    return _parse_order(data, 0, len(data), errors.MAX_DEPTH)


def decode_batch(data: bytes) -> list[dict]:
    """OrderBatch's protobuf bytes -> a list of order dicts (as decode_order)."""
    data = checks.as_bytes(data)
    orders = []
    pos, end = 0, len(data)
    while pos < end:
        start = pos
        tag, pos = read_tag(data, pos, end)
        _wire_type(data, tag, start)
        if tag == 0x0A:
            size, pos = read_length(data, pos, end)
            orders.append(_parse_order(data, pos, pos + size, errors.MAX_DEPTH - 1))
            pos += size
        else:
            pos = skip_value(data, pos, end, tag, start, errors.MAX_DEPTH)
    return orders


def warmup() -> None:
    """Nothing to compile in this tier; present so every tier has the same names."""
