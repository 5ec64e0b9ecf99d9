"""Order codecs, Numba tier: columnar batches, where Numba is strong.

`encode_columns(cols)` and `decode_columns(data)` move a whole batch between OrderBatch bytes
and `OrderColumns` (numpy arrays, strings as spans into one byte buffer) in compiled
kernels; `columns_from_orders` / `orders_from_columns` convert to and from dicts. The
per-dict functions of the family contract go through those conversions (and the msgpack
ones through a token stream), so they pay Python-side conversion on every call: measuring
that against the kernels is the point of this tier.

Same contract as `impls.serial.pure` (the specification): the same bytes, the same dicts, the
same exceptions and messages. Kernels never raise: they report (code, offset, detail) in an
array, and `errors.decode_error` builds the exception here.
"""

from __future__ import annotations

import struct

import numpy as np

from impls.serial import contract, errors, nb_msgpack_pack, nb_msgpack_unpack, nb_proto_decode, nb_proto_encode
from impls.serial.columns import OrderColumns, columns_from_orders, orders_from_columns
from impls.serial.errors import DecodeError
from impls.serial.nb_msgpack_pack import ARRAY, FLOAT32, FLOAT64, INT, MAP, SIDE_NAME, STR
from impls.serial.schema import (INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, META, META_KEYS, ORDER, ORDER_KEYS,
                                 SIDE_NAMES, SIDE_VALUES, UINT32_MAX)

__all__ = ["DecodeError", "OrderColumns", "encode_order", "decode_order", "encode_batch", "decode_batch",
           "pack_order", "unpack_order", "encode_columns", "decode_columns", "columns_from_orders",
           "orders_from_columns", "warmup"]


# ---------------------------------------------------------------------------------------------
# protobuf

def _encode(cols: OrderColumns, framed: bool) -> bytes:
    out, size = nb_proto_encode.encode(cols.id, cols.user_id, cols.symbol, cols.side, cols.price_bits, cols.qty,
                                       cols.ts_ns, cols.tags, cols.tag_bounds, cols.has_meta, cols.venue, cols.flags,
                                       cols.text, framed)
    return out[:size].tobytes()


def encode_columns(cols: OrderColumns) -> bytes:
    """OrderColumns -> OrderBatch's protobuf bytes, equal to upb's for the same orders."""
    return _encode(cols, True)


def _decode(data, single: bool) -> OrderColumns:
    data = contract.as_bytes(data)
    buf = np.frombuffer(data, dtype=np.uint8)
    err = np.zeros(3, dtype=np.int64)
    (count, ids, user_ids, qtys, ts_nss, sides, price_bits, symbol, has_meta, venue, flags, tags, used,
     tag_bounds) = nb_proto_decode.decode(buf, single, err)
    if err[0]:
        raise errors.decode_error(int(err[0]), int(err[1]), int(err[2]), data)
    return OrderColumns(id=ids[:count], user_id=user_ids[:count], symbol=symbol[:count], side=sides[:count],
                        price_bits=price_bits[:count], qty=qtys[:count], ts_ns=ts_nss[:count], tags=tags[:used],
                        tag_bounds=tag_bounds[: count + 1], has_meta=has_meta[:count], venue=venue[:count],
                        flags=flags[:count],
                        text=buf)


def decode_columns(data: bytes) -> OrderColumns:
    """OrderBatch's protobuf bytes -> OrderColumns (string spans point into `data`, no copy);
    DecodeError as decode_batch."""
    return _decode(data, single=False)


def encode_order(order: dict) -> bytes:
    """An order dict -> Order's protobuf bytes (via one-row columns)."""
    if type(order) is not dict:
        order = contract.check_order(order)  # the TypeError every tier gives
    return _encode(columns_from_orders([order]), False)


def decode_order(data: bytes) -> dict:
    """Order's protobuf bytes -> an order dict with every key (via one-row columns)."""
    return orders_from_columns(_decode(data, single=True))[0]


def encode_batch(orders: list[dict]) -> bytes:
    """A list of order dicts -> OrderBatch's protobuf bytes (via columns)."""
    return encode_columns(columns_from_orders(orders))


def decode_batch(data: bytes) -> list[dict]:
    """OrderBatch's protobuf bytes -> a list of order dicts (via columns)."""
    return orders_from_columns(decode_columns(data))


# ---------------------------------------------------------------------------------------------
# msgpack

class _NotPlain(Exception):
    """The token fast path met a value it does not take as it is: check_order decides."""


def _tokens(order) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, text) for the packer, in the dict's own order; _NotPlain for anything that is
    not a plain value of the schema."""
    rows: list[tuple[int, int, int]] = []
    pieces: list[bytes] = []
    size = 0

    def text(value) -> None:
        nonlocal size
        if type(value) is not str:
            raise _NotPlain
        data = value.encode("utf-8")
        pieces.append(data)
        rows.append((STR, size, size + len(data)))
        size += len(data)

    def integer(value, low, high) -> None:
        if type(value) is not int or not low <= value <= high:
            raise _NotPlain
        rows.append((INT, value, 0))

    def message(value, fields: dict) -> None:
        if type(value) is not dict:
            raise _NotPlain
        rows.append((MAP, len(value), 0))
        for key, item in value.items():
            field = fields.get(key) if type(key) is str else None
            if field is None:
                raise _NotPlain
            text(key)
            field_value(field.type, item)

    def field_value(field_type: str, value) -> None:
        if field_type == "int64":
            integer(value, INT64_MIN, INT64_MAX)
        elif field_type == "uint32":
            integer(value, 0, UINT32_MAX)
        elif field_type == "string" or (field_type == "Side" and type(value) is str and value in SIDE_VALUES):
            text(value)
        elif field_type == "Side":
            integer(value, INT32_MIN, INT32_MAX)
        elif field_type == "double":
            if type(value) is not float:
                raise _NotPlain
            rows.append((FLOAT64, struct.unpack("<q", struct.pack("<d", value))[0], 0))
        elif field_type == "repeated string":
            if type(value) is not list and type(value) is not tuple:
                raise _NotPlain
            rows.append((ARRAY, len(value), 0))
            for item in value:
                text(item)
        else:  # Meta
            message(value, META)

    message(order, ORDER)
    return np.array(rows, dtype=np.int64).reshape(-1, 3), np.frombuffer(b"".join(pieces), dtype=np.uint8)


def pack_order(order: dict) -> bytes:
    """An order dict -> msgpack bytes, equal to msgpack.packb(order) (the dict's key order)."""
    try:
        tokens, text = _tokens(order)
    except (_NotPlain, UnicodeEncodeError):
        tokens, text = _tokens(contract.check_order(order))
    return nb_msgpack_pack.pack(tokens, text).tobytes()


_FLOAT32 = struct.Struct(">f").unpack
_FLOAT64 = struct.Struct("<d").unpack


def unpack_order(data: bytes) -> dict:
    """msgpack bytes -> the order dict msgpack.unpackb(data) gives (only the keys present)."""
    data = contract.as_bytes(data)
    err = np.zeros(3, dtype=np.int64)
    entries = np.empty((len(data) + 1, 4), dtype=np.int64)
    count = nb_msgpack_unpack.unpack(np.frombuffer(data, dtype=np.uint8), entries, err)
    if err[0]:
        raise errors.decode_error(int(err[0]), int(err[1]), int(err[2]), data)
    rows = entries[:count].tolist()

    def value(row) -> object:
        _, kind, x, y = row
        if kind == STR:
            return data[x:y].decode("utf-8")
        if kind == INT:
            return x
        if kind == SIDE_NAME:
            return SIDE_NAMES[x]
        if kind == FLOAT64:
            return _FLOAT64(x.to_bytes(8, "little", signed=True))[0]
        if kind == FLOAT32:
            return _FLOAT32(x.to_bytes(4, "big"))[0]
        return None  # a value a later one replaced (kind NONE)

    order: dict = {}
    i = 1
    while i < len(rows):
        field, kind, x, _ = rows[i]
        if kind == ARRAY:  # tags
            order[ORDER_KEYS[field]] = [value(row) for row in rows[i + 1: i + 1 + x]]
            i += x
        elif kind == MAP:  # meta
            entries = rows[i + 1: i + 1 + x]
            order[ORDER_KEYS[field]] = {META_KEYS[row[0] - nb_msgpack_unpack.F_META_FIRST]: value(row)
                                        for row in entries}
            i += x
        else:
            order[ORDER_KEYS[field]] = value(rows[i])
        i += 1
    return order


def warmup() -> None:
    """Compile every kernel (or load it from Numba's cache) and run each once."""
    order = {"id": 1, "symbol": "x", "side": "BUY", "price": 1.5, "tags": ["t"], "meta": {"venue": "v", "flags": 1}}
    decode_batch(encode_batch([order]))
    decode_order(encode_order(order))
    unpack_order(pack_order(order))
