"""Order -> msgpack bytes: `pack_order`, the specification.

pack_order(order) equals msgpack.packb(order) with default options: the dict's own key order,
ints in the smallest of msgpack-python's forms (positive ints unsigned, negative ones signed),
floats as float64, str as fixstr/str8/str16/str32, lists and tuples as arrays. Decoding is in
pure_msgpack_unpack.py.
"""

from __future__ import annotations

import struct

from impls.serial import contract
from impls.serial.schema import (INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, META_FIELDS, ORDER_FIELDS, SIDE_VALUES,
                                 UINT32_MAX)

_BYTE = [bytes((i,)) for i in range(256)]
_PACK_FLOAT64 = struct.Struct(">d").pack


class _NotPlain(Exception):
    """The fast path met a value it does not take as it is: check_order decides."""


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
    """msgpack-python's form of a str: fixstr, str8, str16 or str32 by its UTF-8 size."""
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


def _int_packer(low: int, high: int):
    """A packer of the ints in [low, high]."""
    def pack(value) -> bytes:
        if type(value) is not int or not low <= value <= high:
            raise _NotPlain
        return pack_int(value)

    return pack


_pack_int32 = _int_packer(INT32_MIN, INT32_MAX)


def _pack_side(value) -> bytes:
    if type(value) is str and value in SIDE_VALUES:
        return pack_str(value)
    return _pack_int32(value)


def _pack_float(value) -> bytes:
    if type(value) is not float:
        raise _NotPlain
    return b"\xcb" + _PACK_FLOAT64(value)


def _pack_strings(value) -> bytes:
    if type(value) is not list and type(value) is not tuple:
        raise _NotPlain
    return _container_header(len(value), 0x90, 0xDC) + b"".join([pack_str(item) for item in value])


def _pack_map(message, packers: dict) -> bytes:
    """A map of a message's plain fields, in the dict's own key order."""
    if type(message) is not dict:
        raise _NotPlain
    out = bytearray(_container_header(len(message), 0x80, 0xDE))
    for key, value in message.items():
        packer = packers.get(key, None) if type(key) is str else None
        if packer is None:
            raise _NotPlain
        out += pack_str(key)
        out += packer(value)
    return bytes(out)


#: How a plain value of each schema type is packed (_NotPlain for anything else).
_PACK_BY_TYPE = {"int64": _int_packer(INT64_MIN, INT64_MAX), "uint32": _int_packer(0, UINT32_MAX),
                 "string": pack_str, "Side": _pack_side, "double": _pack_float, "repeated string": _pack_strings,
                 "Meta": lambda meta: _pack_map(meta, _META_PACKERS)}
_ORDER_PACKERS = {f.name: _PACK_BY_TYPE[f.type] for f in ORDER_FIELDS}
_META_PACKERS = {f.name: _PACK_BY_TYPE[f.type] for f in META_FIELDS}


def pack_order(order: dict) -> bytes:
    """An order dict -> msgpack bytes, equal to msgpack.packb(order) (the dict's key order).

    The same TypeError / ValueError as encode_order for an order that does not fit the schema.
    """
    try:
        return _pack_map(order, _ORDER_PACKERS)
    except (_NotPlain, UnicodeEncodeError):
        return _pack_map(contract.check_order(order), _ORDER_PACKERS)
