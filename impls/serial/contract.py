"""The serial family's contract checks: what every tier's encoders and decoders take as input.

Encoders of every tier run a fast path that only accepts the plain types (an exact int, str,
float, list, dict). When it meets anything else it calls `check_order`, which either raises
the error for the first bad field (in schema order, then unknown keys in dict order) or
returns the order with plain types, which the fast path then encodes. So an order is accepted,
and a bad one rejected with the same exception and message, whichever tier is used. Decoders
take any bytes-like input through `as_bytes`; what they raise for bad bytes is in errors.py.

The dict form of an order (see order.proto; the fields are schema.ORDER_FIELDS):
    {"id": int64, "user_id": int64, "symbol": str, "side": "BUY" | "SELL" | "SIDE_UNSPECIFIED"
     (or an int32 for a value without a name), "price": float, "qty": int64, "ts_ns": int64,
     "tags": list[str], "meta": {"venue": str, "flags": uint32}}
An encoder treats a missing key as its proto3 default; decode_order returns every key.
"""

from __future__ import annotations

from impls.serial.schema import (INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, META_FIELDS, META_KEYS, ORDER_FIELDS,
                                 ORDER_KEYS, SIDE_NAMES, SIDE_VALUES, UINT32_MAX)


def as_bytes(data) -> bytes:
    """Decoders take bytes or any bytes-like object (bytearray, memoryview, ...)."""
    if isinstance(data, bytes):
        return data
    try:
        return bytes(memoryview(data))
    except TypeError:
        raise TypeError(f"data must be bytes-like, got {type(data).__name__}") from None


def _type_name(value: object) -> str:
    return type(value).__name__


def _int(value: object, name: str, low: int, high: int, kind: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {_type_name(value)}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be {kind} ({low} to {high}), got {value}")
    return int(value)


def _str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {_type_name(value)}")
    value.encode("utf-8")  # UnicodeEncodeError (a ValueError) for a lone surrogate
    return str(value)


def _side(value: object, name: str):
    if isinstance(value, str):
        if value not in SIDE_VALUES:
            raise ValueError(f"{name} must be one of {', '.join(SIDE_NAMES)} or an int32, got {value!r}")
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _int(value, name, INT32_MIN, INT32_MAX, "an int32")
    raise TypeError(f"{name} must be a str (a Side name) or an int, got {_type_name(value)}")


def _float(value: object, name: str) -> float:
    if not isinstance(value, float):
        raise TypeError(f"{name} must be a float, got {_type_name(value)}")
    return float(value)


def _strings(value: object, name: str) -> list:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list of str, got {_type_name(value)}")
    return [_str(item, f"{name}[{i}]") for i, item in enumerate(value)]


def _meta(value: object, name: str) -> dict:
    return _check_message(value, META_FIELDS, META_KEYS, name)


#: How a value of each schema type is checked: (value, the field's name in messages) -> plain value.
_CHECKS = {
    "int64": lambda value, name: _int(value, name, INT64_MIN, INT64_MAX, "an int64"),
    "uint32": lambda value, name: _int(value, name, 0, UINT32_MAX, "a uint32"),
    "string": _str,
    "Side": _side,
    "double": _float,
    "repeated string": _strings,
    "Meta": _meta,
}

#: A key equal to a field name (a str subclass, say) -> the plain str of that name.
_NAME = {name: name for name in ORDER_KEYS + META_KEYS}


def _check_message(message: object, fields: tuple, keys: tuple, name: str) -> dict:
    """`message` with plain values, in the caller's key order (msgpack packs in it), each key
    as the plain str of its name; the error for its first bad field in field order, then for
    its first unknown key. `name` is the message's name in messages ("order", "meta")."""
    if not isinstance(message, dict):
        raise TypeError(f"{name} must be a dict, got {_type_name(message)}")
    prefix = "" if name == "order" else f"{name}."
    checked = {f.name: _CHECKS[f.type](message[f.name], prefix + f.name) for f in fields if f.name in message}
    for key in message:
        if key not in keys:
            raise ValueError(f"{name} has no field {key!r}; its fields are {', '.join(keys)}")
    return {_NAME[key]: checked[_NAME[key]] for key in message}


def check_order(order: object) -> dict:
    """The order with plain types (int, str, float, list, dict), in the caller's key order;
    TypeError, ValueError or UnicodeEncodeError for the first field that is wrong, in field
    order, then for the first unknown key."""
    return _check_message(order, ORDER_FIELDS, ORDER_KEYS, "order")


def check_orders(orders: object) -> list:
    """A batch is a list or tuple of orders (checked one by one by the encoders)."""
    if not isinstance(orders, (list, tuple)):
        raise TypeError(f"orders must be a list of dicts, got {_type_name(orders)}")
    return orders
