"""The order schema, once: field names, numbers, proto types, defaults and the msgpack key order.

order.proto is the wire contract; this module is the same schema as every tier reads it, so
that no tier copies a field number, key or default of its own. The dict form of an order keeps
the keys in field-number order: decode_order returns them so, and pack_order packs a dict's
keys in the dict's own order, so a decoded order packs in this order too.

tests/serial/test_proto.py checks this table against the descriptor generated from order.proto.
"""

from __future__ import annotations

from dataclasses import dataclass

# Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
VARINT, FIXED64, LEN, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
UINT32_MAX = (1 << 32) - 1


@dataclass(frozen=True)
class Field:
    """One field of a message: its dict key, proto field number and proto type."""

    name: str
    number: int
    #: the proto type: "int64", "uint32", "string", "double", "Side" (the enum), "Meta" (the
    #: sub-message), "repeated string", "repeated Order" (OrderBatch's one field)
    type: str

    @property
    def wire_type(self) -> int:
        """How the field's values travel: varints, 8 fixed bytes, or length-prefixed bytes."""
        return _WIRE_TYPES[self.type]

    @property
    def tag(self) -> int:
        """The field's tag as written on the wire (a one-byte varint for every field here)."""
        return self.number << 3 | self.wire_type

    @property
    def repeated(self) -> bool:
        """Whether the field holds a list of values (each written with its own tag)."""
        return self.type.startswith("repeated ")

    @property
    def default(self):
        """The field's value in the dict form when it is absent (a new list or dict each time)."""
        if self.type == "repeated string":
            return []
        if self.type == "Meta":
            return default_meta()
        return _DEFAULTS[self.type]


#: Each type's wire type.
_WIRE_TYPES = {"int64": VARINT, "uint32": VARINT, "Side": VARINT, "double": FIXED64, "string": LEN,
               "repeated string": LEN, "Meta": LEN, "repeated Order": LEN}


#: Order's fields in field-number order: the key order of the dict form (as decode_order gives it).
ORDER_FIELDS: tuple[Field, ...] = (
    Field("id", 1, "int64"),
    Field("user_id", 2, "int64"),
    Field("symbol", 3, "string"),
    Field("side", 4, "Side"),
    Field("price", 5, "double"),
    Field("qty", 6, "int64"),
    Field("ts_ns", 7, "int64"),
    Field("tags", 8, "repeated string"),
    Field("meta", 9, "Meta"),
)
#: Meta's fields, likewise.
META_FIELDS: tuple[Field, ...] = (
    Field("venue", 1, "string"),
    Field("flags", 2, "uint32"),
)
#: OrderBatch's one field: repeated Order orders = 1.
BATCH_ORDERS = Field("orders", 1, "repeated Order")

ORDER = {f.name: f for f in ORDER_FIELDS}
META = {f.name: f for f in META_FIELDS}

#: Order's keys in field-number order (field n is ORDER_KEYS[n - 1]), and Meta's.
ORDER_KEYS: tuple[str, ...] = tuple(f.name for f in ORDER_FIELDS)
META_KEYS: tuple[str, ...] = tuple(f.name for f in META_FIELDS)
INT64_KEYS: tuple[str, ...] = tuple(f.name for f in ORDER_FIELDS if f.type == "int64")

#: Side's names by value, and values by name.
SIDE_NAMES: tuple[str, ...] = ("SIDE_UNSPECIFIED", "BUY", "SELL")
SIDE_VALUES: dict[str, int] = {name: value for value, name in enumerate(SIDE_NAMES)}

#: Each type's proto3 default: a field at its default is not written, and a decoder returns
#: it for a field that is absent.
_DEFAULTS = {"int64": 0, "uint32": 0, "string": "", "double": 0.0, "Side": SIDE_NAMES[0]}


def default_meta() -> dict:
    """Every Meta key at its proto3 default."""
    return {f.name: f.default for f in META_FIELDS}


def default_order() -> dict:
    """Every key at its proto3 default: what decode_order returns for empty input."""
    return {f.name: f.default for f in ORDER_FIELDS}


def side_name(value: int):
    """The dict form of a Side value: its name, or the int itself when it has none (proto3
    enums are open: upb keeps unknown values)."""
    return SIDE_NAMES[value] if 0 <= value < len(SIDE_NAMES) else value
