"""Serialisation peers: library codecs measured on the same orders as our tiers.

Every peer is a codec adapter speaking one wire format (`FORMAT`: "protobuf", "msgpack" or
"json"), with the library's own natural input and output:

    native(order) / native_batch(orders)  the form the library encodes from (untimed set-up)
    encode(native) -> bytes,  encode_batch(native_batch) -> bytes
    decode(data) -> decoded,  decode_batch(data) -> decoded batch
    to_dict(decoded) / to_dicts(decoded batch)  back to the lab's dict form (checks only)

protobuf (upb) is two peers, not two cases, so both sit in the same rows as our tiers:
`peer:protobuf` goes from a dict and back to a dict (what a service holding dicts pays, the
like-for-like figure for our dict codecs), `peer:protobuf-message` from a prebuilt message and
to a message (what upb itself costs, the like-for-like figure for the Numba columnar path).
msgspec likewise is four peers: its json and msgpack codecs, each with dicts and with a Struct.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import msgpack
import msgspec
import orjson

from impls.serial import schema
from impls.serial import order_pb2 as pb


# --- upb <-> the lab's dict form --------------------------------------------------------------

def message_from_dict(order: dict) -> pb.Order:
    """An upb Order from an order dict (upb takes side names and a meta dict as they are)."""
    return pb.Order(**order)


def message_to_dict(message: pb.Order) -> dict:
    """The lab's dict form of an upb Order: every key, as decode_order returns it."""
    meta = message.meta
    return {"id": message.id, "user_id": message.user_id, "symbol": message.symbol,
            "side": schema.side_name(message.side), "price": message.price, "qty": message.qty,
            "ts_ns": message.ts_ns, "tags": list(message.tags), "meta": {"venue": meta.venue, "flags": meta.flags}}


def _protobuf_from_dicts() -> SimpleNamespace:
    def encode(order):
        return pb.Order(**order).SerializeToString()

    def decode(data):
        return message_to_dict(pb.Order.FromString(data))

    def encode_batch(orders):
        return pb.OrderBatch(orders=[pb.Order(**order) for order in orders]).SerializeToString()

    def decode_batch(data):
        return [message_to_dict(m) for m in pb.OrderBatch.FromString(data).orders]

    return SimpleNamespace(FORMAT="protobuf", native=dict, native_batch=list, encode=encode, decode=decode,
                           encode_batch=encode_batch, decode_batch=decode_batch, to_dict=dict, to_dicts=list,
                           warmup=lambda: None)


def _protobuf_messages() -> SimpleNamespace:
    return SimpleNamespace(
        FORMAT="protobuf", PREBUILT=True, native=message_from_dict,
        native_batch=lambda orders: pb.OrderBatch(orders=[message_from_dict(o) for o in orders]),
        encode=pb.Order.SerializeToString, decode=pb.Order.FromString,
        encode_batch=pb.OrderBatch.SerializeToString, decode_batch=pb.OrderBatch.FromString,
        to_dict=message_to_dict, to_dicts=lambda batch: [message_to_dict(m) for m in batch.orders],
        warmup=lambda: None)


# --- msgspec ---------------------------------------------------------------------------------

class MetaStruct(msgspec.Struct):
    venue: str = ""
    flags: int = 0


class OrderStruct(msgspec.Struct):
    """The order as a msgspec Struct: fields in the dict form's order, so a Struct encodes to
    the same map as the dict."""

    id: int = 0
    user_id: int = 0
    symbol: str = ""
    side: str = "SIDE_UNSPECIFIED"
    price: float = 0.0
    qty: int = 0
    ts_ns: int = 0
    tags: list[str] = msgspec.field(default_factory=list)
    meta: MetaStruct = msgspec.field(default_factory=MetaStruct)


def struct_from_dict(order: dict) -> OrderStruct:
    fields = dict(order)
    if "meta" in fields:
        fields["meta"] = MetaStruct(**fields["meta"])
    return OrderStruct(**fields)


def _msgspec(module, structs: bool) -> SimpleNamespace:
    encoder = module.Encoder()
    if structs:
        one, many = module.Decoder(OrderStruct), module.Decoder(list[OrderStruct])
        to_dict = msgspec.to_builtins
        return SimpleNamespace(
            FORMAT=module.__name__.rsplit(".", 1)[1], native=struct_from_dict,
            native_batch=lambda orders: [struct_from_dict(o) for o in orders],
            encode=encoder.encode, decode=one.decode, encode_batch=encoder.encode, decode_batch=many.decode,
            to_dict=to_dict, to_dicts=lambda batch: [to_dict(s) for s in batch], warmup=lambda: None)
    decoder = module.Decoder()
    return SimpleNamespace(
        FORMAT=module.__name__.rsplit(".", 1)[1], native=dict, native_batch=list,
        encode=encoder.encode, decode=decoder.decode, encode_batch=encoder.encode, decode_batch=decoder.decode,
        to_dict=dict, to_dicts=list, warmup=lambda: None)


# --- json, orjson, msgpack -------------------------------------------------------------------

def _plain(fmt: str, encode, decode) -> SimpleNamespace:
    """A library that turns dicts (and lists of them) into bytes and back with one call each."""
    return SimpleNamespace(FORMAT=fmt, native=dict, native_batch=list, encode=encode, decode=decode,
                           encode_batch=encode, decode_batch=decode, to_dict=dict, to_dicts=list,
                           warmup=lambda: None)


def _json_dumps(obj) -> bytes:
    return json.dumps(obj).encode()  # bytes on the wire, as every other codec here gives


PEERS = {
    "peer:json": _plain("json", _json_dumps, json.loads),
    "peer:orjson": _plain("json", orjson.dumps, orjson.loads),
    "peer:msgpack": _plain("msgpack", msgpack.packb, msgpack.unpackb),
    "peer:protobuf": _protobuf_from_dicts(),
    "peer:protobuf-message": _protobuf_messages(),
    "peer:msgspec-json-dict": _msgspec(msgspec.json, structs=False),
    "peer:msgspec-json-struct": _msgspec(msgspec.json, structs=True),
    "peer:msgspec-msgpack-dict": _msgspec(msgspec.msgpack, structs=False),
    "peer:msgspec-msgpack-struct": _msgspec(msgspec.msgpack, structs=True),
}
