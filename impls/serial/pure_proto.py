"""Order <-> protobuf bytes (order.proto, proto3): the specification of the serial family.

Written to be read, not to be fast: the other tiers are checked against it, and it against upb
(tests/serial). One loop over the schema's field table writes a message, one reads it.

Encoding, byte for byte what upb's SerializeToString() writes:
* fields in field-number order, each as its tag, then its value: a varint (the ints and the
  enum), 8 little-endian bytes (the double), or a length prefix and bytes (strings, sub-messages);
* a scalar at its proto3 default (0, "", a double whose bits are all zero) is left out, so -0.0
  and NaN are written, NaN with its own bits; a repeated field writes every item, "" too;
* a negative int64 (or int32 enum) is the 10-byte varint of its 64-bit two's complement;
* `meta` is written whenever the key is present, even as an empty message (b"\\x4a\\x00").

Decoding follows upb, including what it accepts:
* an unknown field, or a known one arriving with another wire type, is skipped (upb keeps it
  as an unknown field);
* the last value of a scalar wins, repeated strings are appended, and a sub-message that
  appears twice is merged into the first;
* groups are skipped, and end with the end tag of their own field number (inside a group any
  field number is read, 0 too);
* 100 levels of sub-messages and groups at most; strings must be valid UTF-8;
* a tag is at most 5 bytes and below 2**32, a length prefix at most 5 bytes, a varint at most
  10 bytes (bits past the 64th are dropped); a 32-bit field keeps a varint's low 32 bits.
Anything else raises DecodeError (see errors.py) at the offset where the offending tag, length
prefix or value starts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

from impls.serial import contract, errors
from impls.serial.schema import (BATCH_ORDERS, END_GROUP, FIXED32, FIXED64, INT32_MAX, INT64_MAX, LEN, META_FIELDS,
                                 ORDER_FIELDS, SIDE_VALUES, START_GROUP, UINT32_MAX, VARINT, Field, default_meta,
                                 default_order, side_name)

_MASK64 = (1 << 64) - 1
_DOUBLE = struct.Struct("<d")


# ---------------------------------------------------------------------------------------------
# Encoding

def varint(value: int) -> bytes:
    """The varint of an unsigned 64-bit value: 7 bits a byte, low bits first, the top bit set
    on every byte but the last."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_prefixed(data: bytes) -> bytes:
    return varint(len(data)) + data


def _scalar_bytes(field: Field, value) -> bytes | None:
    """What follows a scalar field's tag, or None for a value at its proto3 default."""
    if field.type == "double":
        data = _DOUBLE.pack(value)
        return None if data == _DOUBLE.pack(0.0) else data  # the default is 0.0 exactly, not -0.0
    if field.type == "string":
        return _length_prefixed(value.encode("utf-8")) if value else None
    if field.type == "Side" and isinstance(value, str):
        value = SIDE_VALUES[value]
    return varint(value & _MASK64) if value else None  # a negative value: its two's complement


def _message_bytes(fields: tuple[Field, ...], message: dict) -> bytes:
    """The fields present in `message` (a checked dict), in field-number order."""
    out = bytearray()
    for field in fields:
        if field.name not in message:
            continue
        value = message[field.name]
        if field.type == "repeated string":
            for item in value:
                out += varint(field.tag) + _length_prefixed(item.encode("utf-8"))
        elif field.type == "Meta":  # a sub-message that is present is written, even empty
            out += varint(field.tag) + _length_prefixed(_message_bytes(META_FIELDS, value))
        else:
            data = _scalar_bytes(field, value)
            if data is not None:
                out += varint(field.tag) + data
    return bytes(out)


def encode_order(order: dict) -> bytes:
    """An order dict -> Order's protobuf bytes, equal to upb's SerializeToString().

    TypeError, ValueError (UnicodeEncodeError for a lone surrogate) for an order that does
    not fit the schema; see impls.serial.contract for the dict form.
    """
    return _message_bytes(ORDER_FIELDS, contract.check_order(order))


def encode_batch(orders: list[dict]) -> bytes:
    """A list of order dicts -> OrderBatch's protobuf bytes (each order as encode_order)."""
    return b"".join(varint(BATCH_ORDERS.tag) + _length_prefixed(encode_order(order))
                    for order in contract.check_orders(orders))


# ---------------------------------------------------------------------------------------------
# Reading the wire format: every reader takes (data, pos, end), `end` being the end of the
# enclosing message, and returns (value, position after it).

def _fail(code: int, offset: int, detail: int, data: bytes):
    raise errors.decode_error(code, offset, detail, data)


def _read_base128(data: bytes, pos: int, end: int, max_bytes: int, truncated: int, too_long: int) -> tuple[int, int]:
    """A number in the varint encoding of at most `max_bytes` bytes (error `truncated` if the
    data ends inside it, `too_long` if it runs longer)."""
    value = 0
    for i in range(max_bytes):
        if pos + i >= end:
            _fail(truncated, pos, 0, data)
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return value, pos + i + 1
    _fail(too_long, pos, 0, data)


def read_tag(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A tag: at most 5 bytes and below 2**32, as upb reads it."""
    tag, after = _read_base128(data, pos, end, 5, errors.TRUNCATED_TAG, errors.BAD_TAG)
    if tag > UINT32_MAX:
        _fail(errors.BAD_TAG, pos, 0, data)
    return tag, after


def read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """An unsigned 64-bit varint: at most 10 bytes, bits past the 64th dropped."""
    value, after = _read_base128(data, pos, end, 10, errors.TRUNCATED_VARINT, errors.VARINT_TOO_LONG)
    return value & _MASK64, after


def read_length(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A length prefix (at most 5 bytes) whose bytes fit before `end`: (length, where they start)."""
    size, start = _read_base128(data, pos, end, 5, errors.TRUNCATED_LENGTH, errors.LENGTH_TOO_LONG)
    if size > end - start:
        _fail(errors.LENGTH_PAST_END, pos, size, data)
    return size, start


def _skip_fixed(data: bytes, pos: int, end: int, size: int, truncated: int) -> int:
    """Skip `size` fixed bytes (error `truncated` if the message ends before them)."""
    if end - pos < size:
        _fail(truncated, pos, 0, data)
    return pos + size


def skip_value(data: bytes, pos: int, end: int, tag: int, tag_start: int, depth: int) -> int:
    """Skip the value of a field that is not read (any wire type but END_GROUP); returns the
    position after it."""
    wire_type = tag & 7
    if wire_type == VARINT:
        return read_varint(data, pos, end)[1]
    if wire_type == LEN:
        size, start = read_length(data, pos, end)
        return start + size
    if wire_type == FIXED64:
        return _skip_fixed(data, pos, end, 8, errors.TRUNCATED_FIXED64)
    if wire_type == FIXED32:
        return _skip_fixed(data, pos, end, 4, errors.TRUNCATED_FIXED32)
    return skip_group(data, pos, end, tag >> 3, tag_start, depth)


def skip_group(data: bytes, pos: int, end: int, field: int, tag_start: int, depth: int) -> int:
    """Skip a group whose start tag (of `field`, at `tag_start`) was just read.

    Inside a group any field number (0 too) is read and skipped; each nested group costs one
    level of `depth`; the group must end with the end tag of its own field number, before
    the end of its enclosing message.
    """
    open_groups = [(field, tag_start)]  # (field number, where its start tag is), innermost last
    if depth - 1 < 0:
        _fail(errors.TOO_DEEP, tag_start, 0, data)
    while open_groups:
        if pos >= end:
            field, start = open_groups[-1]
            _fail(errors.UNTERMINATED_GROUP, start, field, data)
        start = pos
        tag, pos = read_tag(data, pos, end)
        wire_type = tag & 7
        if wire_type > 5:
            _fail(errors.BAD_WIRE_TYPE, start, wire_type, data)
        if wire_type == END_GROUP:
            if tag >> 3 != open_groups[-1][0]:
                _fail(errors.MISMATCHED_END_GROUP, start, tag >> 3, data)
            open_groups.pop()
        elif wire_type == START_GROUP:
            open_groups.append((tag >> 3, start))
            if depth - len(open_groups) < 0:
                _fail(errors.TOO_DEEP, start, 0, data)
        else:
            pos = skip_value(data, pos, end, tag, start, depth)
    return pos


# ---------------------------------------------------------------------------------------------
# Decoding

@dataclass(frozen=True)
class _MessageType:
    """What the decoder needs to know of a message type."""

    fields: dict[int, Field]  # by field number
    new: Callable[[], dict]  # a message with every field at its default
    path: str  # its fields' prefix in error messages: "meta." for Meta's fields


_ORDER = _MessageType({f.number: f for f in ORDER_FIELDS}, default_order, "")
_META = _MessageType({f.number: f for f in META_FIELDS}, default_meta, "meta.")
_BATCH = _MessageType({BATCH_ORDERS.number: BATCH_ORDERS}, lambda: {BATCH_ORDERS.name: []}, "")
#: The fields that hold messages, by type (a repeated one holds a list of them).
_SUB_MESSAGES = {"Meta": _META, "repeated Order": _ORDER}


def _check_message_tag(data: bytes, tag: int, tag_start: int) -> None:
    """A tag read at message level (not inside a group) must be one a field can have there."""
    wire_type = tag & 7
    if wire_type > 5:
        _fail(errors.BAD_WIRE_TYPE, tag_start, wire_type, data)
    if wire_type == END_GROUP:
        _fail(errors.UNEXPECTED_END_GROUP, tag_start, tag >> 3, data)
    if tag >> 3 == 0:
        _fail(errors.FIELD_ZERO, tag_start, 0, data)


def _from_varint(field: Field, value: int):
    """A varint field's value in the dict form (`value` is the unsigned 64-bit varint)."""
    if field.type == "int64":
        return value - (1 << 64) if value > INT64_MAX else value
    value &= UINT32_MAX  # a 32-bit field keeps the low 32 bits, as upb does
    if field.type == "uint32":
        return value
    return side_name(value - (1 << 32) if value > INT32_MAX else value)  # Side is an int32


def _read_scalar(data: bytes, pos: int, end: int, field: Field, path: str) -> tuple[object, int]:
    """(value, position after) of a scalar field (or one item of a repeated one) at pos."""
    if field.wire_type == VARINT:
        value, pos = read_varint(data, pos, end)
        return _from_varint(field, value), pos
    if field.wire_type == FIXED64:
        after = _skip_fixed(data, pos, end, 8, errors.TRUNCATED_FIXED64)
        return _DOUBLE.unpack_from(data, pos)[0], after
    size, start = read_length(data, pos, end)  # a string
    try:
        return data[start:start + size].decode("utf-8"), start + size
    except UnicodeDecodeError:
        _fail(errors.BAD_UTF8, start, errors.PB_STRING_DETAIL[path + field.name], data)


def _merge_message(data: bytes, pos: int, end: int, depth: int, kind: _MessageType, message: dict) -> None:
    """Parse the message in data[pos:end] into `message` (a dict of `kind` holding the values
    so far), with `depth` levels of nesting left for sub-messages and groups."""
    while pos < end:
        tag_start = pos
        tag, pos = read_tag(data, pos, end)
        _check_message_tag(data, tag, tag_start)
        field = kind.fields.get(tag >> 3)
        if field is None or tag & 7 != field.wire_type:
            pos = skip_value(data, pos, end, tag, tag_start, depth)
        elif field.type in _SUB_MESSAGES:
            size, pos = read_length(data, pos, end)
            if depth - 1 < 0:  # pragma: no cover - the schema nests one level deep at most
                _fail(errors.TOO_DEEP, tag_start, 0, data)
            sub_kind = _SUB_MESSAGES[field.type]
            if field.repeated:  # each one is a message of its own (an Order in a batch)
                sub_message = sub_kind.new()
                message[field.name].append(sub_message)
            else:  # one that appears again is merged into the first (Meta)
                sub_message = message[field.name]
            _merge_message(data, pos, pos + size, depth - 1, sub_kind, sub_message)
            pos += size
        else:
            value, pos = _read_scalar(data, pos, end, field, kind.path)
            if field.repeated:
                message[field.name].append(value)
            else:
                message[field.name] = value


def _decode(data, kind: _MessageType) -> dict:
    data = contract.as_bytes(data)
    message = kind.new()
    _merge_message(data, 0, len(data), errors.MAX_DEPTH, kind, message)
    return message


def decode_order(data: bytes) -> dict:
    """Order's protobuf bytes -> an order dict with every key (proto3 defaults where absent).

    DecodeError (a ValueError) for malformed input, naming what and the byte offset.
    """
    return _decode(data, _ORDER)


def decode_batch(data: bytes) -> list[dict]:
    """OrderBatch's protobuf bytes -> a list of order dicts (as decode_order)."""
    return _decode(data, _BATCH)[BATCH_ORDERS.name]
