"""DecodeError and the decode error messages, defined once for every tier of the family.

The decoders of every tier read input in the same order and stop at the first problem, which
they report as a code, the byte offset where the offending item starts and one detail number.
The compiled tiers (Cython, Numba kernels) return those three numbers; this module turns them
into the exception, so that a bad input gets the same type *and* the same message in every tier.
"""

from __future__ import annotations

from impls.serial.schema import META_FIELDS, ORDER, ORDER_FIELDS

#: upb's default nesting budget: the top message may hold 100 levels of sub-messages and groups.
MAX_DEPTH = 100

# --- protobuf wire format -------------------------------------------------------------------
TRUNCATED_TAG = 1
BAD_TAG = 2
FIELD_ZERO = 3
BAD_WIRE_TYPE = 4
TRUNCATED_VARINT = 5
VARINT_TOO_LONG = 6
TRUNCATED_LENGTH = 7
LENGTH_TOO_LONG = 8
LENGTH_PAST_END = 9
TRUNCATED_FIXED64 = 10
TRUNCATED_FIXED32 = 11
BAD_UTF8 = 12
UNEXPECTED_END_GROUP = 13
MISMATCHED_END_GROUP = 14
UNTERMINATED_GROUP = 15
TOO_DEEP = 16

# --- msgpack ----------------------------------------------------------------------------------
MP_TRUNCATED = 31
MP_NOT_MAP = 32
MP_KEY_NOT_STR = 33
MP_UNKNOWN_KEY = 34
MP_WRONG_TYPE = 35
MP_OUT_OF_RANGE = 36
MP_UNKNOWN_SIDE = 37
MP_BAD_UTF8 = 38
MP_TRAILING = 39
MP_RESERVED_BYTE = 40
MP_BAD_MAP_KEY = 41
MP_BAD_EXT = 42
MP_TOO_DEEP = 43

#: msgpack-python's limit on nested containers (arrays and maps, empty ones too).
MP_MAX_DEPTH = 1024

#: Detail of BAD_UTF8: which string field, by its protobuf field number (a Meta field by Order's
#: number for meta, then its own: 91 is meta.venue).
PB_STRING_FIELDS = {
    **{f.number: f.name for f in ORDER_FIELDS if f.type in ("string", "repeated string")},
    **{ORDER["meta"].number * 10 + f.number: f"meta.{f.name}" for f in META_FIELDS if f.type == "string"},
}
PB_STRING_DETAIL = {name: detail for detail, name in PB_STRING_FIELDS.items()}
VENUE_DETAIL = PB_STRING_DETAIL["meta.venue"]

#: Detail of the MP_* value errors: which field, by index -- Order's fields in field order, then
#: Meta's, then an item of tags and a str nested in a value that is skipped (MP_KEY means the
#: map key itself).
MP_FIELDS = (*(f.name for f in ORDER_FIELDS), *(f"meta.{f.name}" for f in META_FIELDS), "tags item", "a value")
MP_FIELD = {name: index for index, name in enumerate(MP_FIELDS)}
MP_TAGS_ITEM = MP_FIELD["tags item"]
MP_NESTED = MP_FIELD["a value"]
MP_KEY = -1
#: Detail of MP_UNKNOWN_KEY: which map the key is in.
MP_IN_ORDER, MP_IN_META = 0, 1
#: What a value of each type must be, for MP_WRONG_TYPE and MP_OUT_OF_RANGE messages.
_MP_EXPECTED_BY_TYPE = {"int64": "an int64", "uint32": "a uint32", "string": "a str", "Side": "a Side name or an int32",
                        "double": "a float", "repeated string": "an array of str", "Meta": "a map"}
#: ... and of each field of MP_FIELDS.
MP_EXPECTED = (*(_MP_EXPECTED_BY_TYPE[f.type] for f in ORDER_FIELDS + META_FIELDS), "a str", "")


class DecodeError(ValueError):
    """Malformed input for this schema: says what was wrong and at which byte offset.

    `offset` is where the offending item (tag, length prefix, value, key) starts.
    """

    def __init__(self, message: str, offset: int, code: int):
        super().__init__(message)
        self.offset = offset
        self.code = code


def msgpack_type_name(byte: int) -> str:
    """What a msgpack value starting with `byte` is, for messages."""
    if byte <= 0x7F or byte >= 0xE0 or 0xCC <= byte <= 0xD3:
        return "int"
    if byte <= 0x8F or byte in (0xDE, 0xDF):
        return "map"
    if byte <= 0x9F or byte in (0xDC, 0xDD):
        return "array"
    if byte <= 0xBF or 0xD9 <= byte <= 0xDB:
        return "str"
    names = {0xC0: "nil", 0xC1: "the reserved byte 0xc1", 0xC2: "bool", 0xC3: "bool", 0xCA: "float",
             0xCB: "float"}
    if byte in names:
        return names[byte]
    return "bin" if 0xC4 <= byte <= 0xC6 else "ext"


def _msgpack_str_at(data: bytes, offset: int) -> str:
    """The (already validated) msgpack str at `offset`, for messages that quote it."""
    byte = data[offset]
    if byte <= 0xBF:
        start, size = offset + 1, byte & 0x1F
    else:
        width = {0xD9: 1, 0xDA: 2, 0xDB: 4}[byte]
        start, size = offset + 1 + width, int.from_bytes(data[offset + 1:offset + 1 + width], "big")
    text = data[start:start + size].decode("utf-8")
    return text if len(text) <= 40 else text[:40] + "..."


def message(code: int, offset: int, detail: int, data: bytes) -> str:
    """The text of a decode error (`data` is the input, for errors that quote it)."""
    at = f"at byte {offset}"
    if code == TRUNCATED_TAG:
        return f"truncated tag {at}: the data ends inside it"
    if code == BAD_TAG:
        return f"invalid tag {at}: longer than 5 bytes or above 2**32-1"
    if code == FIELD_ZERO:
        return f"field number 0 {at}: field numbers start at 1"
    if code == BAD_WIRE_TYPE:
        return f"invalid wire type {detail} {at}: expected 0, 1, 2, 3, 4 or 5"
    if code == TRUNCATED_VARINT:
        return f"truncated varint {at}: the data ends inside it"
    if code == VARINT_TOO_LONG:
        return f"varint {at} is longer than 10 bytes"
    if code == TRUNCATED_LENGTH:
        return f"truncated length prefix {at}: the data ends inside it"
    if code == LENGTH_TOO_LONG:
        return f"length prefix {at} is longer than 5 bytes"
    if code == LENGTH_PAST_END:
        return f"length {detail} {at} runs past the end of its message"
    if code == TRUNCATED_FIXED64:
        return f"truncated 8-byte value {at}: the data ends inside it"
    if code == TRUNCATED_FIXED32:
        return f"truncated 4-byte value {at}: the data ends inside it"
    if code == BAD_UTF8:
        return f"invalid UTF-8 in {PB_STRING_FIELDS.get(detail, 'a string')} {at}"
    if code == UNEXPECTED_END_GROUP:
        return f"end-group tag of field {detail} {at} without a start-group"
    if code == MISMATCHED_END_GROUP:
        return f"end-group tag of field {detail} {at} does not match the open group"
    if code == UNTERMINATED_GROUP:
        return f"group of field {detail} starting {at} is not terminated"
    if code == TOO_DEEP:
        return f"nesting deeper than {MAX_DEPTH} levels {at}"
    if code == MP_TRUNCATED:
        return f"truncated msgpack value {at}: the data ends inside it"
    if code == MP_NOT_MAP:
        return f"expected a msgpack map (an order) {at}, got {msgpack_type_name(data[offset])}"
    if code == MP_KEY_NOT_STR:
        return f"map key {at} must be a str, got {msgpack_type_name(data[offset])}"
    if code == MP_UNKNOWN_KEY:
        where = "meta" if detail == MP_IN_META else "order"
        return f"unknown {where} key {_msgpack_str_at(data, offset)!r} {at}"
    if code == MP_WRONG_TYPE:
        return f"{MP_FIELDS[detail]} {at} must be {MP_EXPECTED[detail]}, got {msgpack_type_name(data[offset])}"
    if code == MP_OUT_OF_RANGE:
        return f"{MP_FIELDS[detail]} {at} is out of range: it must be {MP_EXPECTED[detail]}"
    if code == MP_UNKNOWN_SIDE:
        return f"side {at} is not a Side name: {_msgpack_str_at(data, offset)!r}"
    if code == MP_BAD_UTF8:
        return f"invalid UTF-8 in {'a map key' if detail == MP_KEY else MP_FIELDS[detail]} {at}"
    if code == MP_TRAILING:
        return f"{detail} extra bytes after the order {at}"
    if code == MP_RESERVED_BYTE:
        return f"invalid msgpack byte 0xc1 {at}"
    if code == MP_BAD_MAP_KEY:
        return f"map key {at} must be a str or bin, got {msgpack_type_name(data[offset])}"
    if code == MP_BAD_EXT:
        return f"ext value {at} is not one msgpack reads: a negative type other than -1 or a bad timestamp"
    if code == MP_TOO_DEEP:
        return f"msgpack nesting deeper than {MP_MAX_DEPTH} containers {at}"
    return f"decode error {code} {at}"  # pragma: no cover - every code is listed above


def decode_error(code: int, offset: int, detail: int, data) -> DecodeError:
    """The exception for a problem the decoders reported as (code, offset, detail)."""
    return DecodeError(message(code, offset, detail, bytes(data)), offset, code)
