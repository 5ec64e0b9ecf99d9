"""The order schema as Python sees it, and the argument checks shared by every serial tier.

Encoders of every tier run a fast path that only accepts the plain types (an exact int, str,
float, list, dict). When it meets anything else it calls `check_order`, which either raises
the error for the first bad field (in schema order, then unknown keys in dict order) or
returns the order with plain types, which the fast path then encodes. So an order is accepted,
and a bad one rejected with the same exception and message, whichever tier is used.

The dict form of an order (see order.proto):
    {"id": int64, "user_id": int64, "symbol": str, "side": "BUY" | "SELL" | "SIDE_UNSPECIFIED"
     (or an int32 for a value without a name), "price": float, "qty": int64, "ts_ns": int64,
     "tags": list[str], "meta": {"venue": str, "flags": uint32}}
An encoder treats a missing key as its proto3 default; decode_order returns every key.
"""

from __future__ import annotations

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
UINT32_MAX = (1 << 32) - 1

#: Order's keys in field-number order (field n is ORDER_KEYS[n - 1]), and Meta's.
ORDER_KEYS = ("id", "user_id", "symbol", "side", "price", "qty", "ts_ns", "tags", "meta")
META_KEYS = ("venue", "flags")
INT64_KEYS = ("id", "user_id", "qty", "ts_ns")

#: Side's names by value, and values by name.
SIDE_NAMES = ("SIDE_UNSPECIFIED", "BUY", "SELL")
SIDE_VALUES = {name: value for value, name in enumerate(SIDE_NAMES)}


def side_name(value: int):
    """The dict form of a Side value: its name, or the int itself when it has none (proto3
    enums are open: upb keeps unknown values)."""
    return SIDE_NAMES[value] if 0 <= value < 3 else value


def default_meta() -> dict:
    return {"venue": "", "flags": 0}


def default_order() -> dict:
    """Every key at its proto3 default: what decode_order returns for empty input."""
    return {"id": 0, "user_id": 0, "symbol": "", "side": "SIDE_UNSPECIFIED", "price": 0.0, "qty": 0,
            "ts_ns": 0, "tags": [], "meta": default_meta()}


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


def _side(value: object):
    if isinstance(value, str):
        if value not in SIDE_VALUES:
            raise ValueError(f"side must be one of {', '.join(SIDE_NAMES)} or an int32, got {value!r}")
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _int(value, "side", INT32_MIN, INT32_MAX, "an int32")
    raise TypeError(f"side must be a str (a Side name) or an int, got {_type_name(value)}")


def _float(value: object) -> float:
    if not isinstance(value, float):
        raise TypeError(f"price must be a float, got {_type_name(value)}")
    return float(value)


def _tags(value: object) -> list:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"tags must be a list of str, got {_type_name(value)}")
    return [_str(tag, f"tags[{i}]") for i, tag in enumerate(value)]


def _unknown_key(mapping: dict, known: tuple, name: str) -> None:
    for key in mapping:
        if key not in known:
            raise ValueError(f"{name} has no field {key!r}; its fields are {', '.join(known)}")


def _meta(value: object) -> dict:
    if not isinstance(value, dict):
        raise TypeError(f"meta must be a dict, got {_type_name(value)}")
    checked = {}
    if "venue" in value:
        checked["venue"] = _str(value["venue"], "meta.venue")
    if "flags" in value:
        checked["flags"] = _int(value["flags"], "meta.flags", 0, UINT32_MAX, "a uint32")
    _unknown_key(value, META_KEYS, "meta")
    # The caller's key order (msgpack packs in it), each key as the plain str of its name.
    return {_NAME[key]: checked[_NAME[key]] for key in value}


#: A key equal to a field name (a str subclass, say) -> the plain str of that name.
_NAME = {name: name for name in ORDER_KEYS + META_KEYS}

_CHECKS = {
    "id": lambda v: _int(v, "id", INT64_MIN, INT64_MAX, "an int64"),
    "user_id": lambda v: _int(v, "user_id", INT64_MIN, INT64_MAX, "an int64"),
    "symbol": lambda v: _str(v, "symbol"),
    "side": _side,
    "price": _float,
    "qty": lambda v: _int(v, "qty", INT64_MIN, INT64_MAX, "an int64"),
    "ts_ns": lambda v: _int(v, "ts_ns", INT64_MIN, INT64_MAX, "an int64"),
    "tags": _tags,
    "meta": _meta,
}


def check_order(order: object) -> dict:
    """The order with plain types (int, str, float, list, dict), in the caller's key order;
    TypeError, ValueError or UnicodeEncodeError for the first field that is wrong, in field
    order, then for the first unknown key."""
    if not isinstance(order, dict):
        raise TypeError(f"order must be a dict, got {_type_name(order)}")
    checked = {key: check(order[key]) for key, check in _CHECKS.items() if key in order}
    _unknown_key(order, ORDER_KEYS, "order")
    return {_NAME[key]: checked[_NAME[key]] for key in order}


def check_orders(orders: object) -> list:
    """A batch is a list or tuple of orders (checked one by one by the encoders)."""
    if not isinstance(orders, (list, tuple)):
        raise TypeError(f"orders must be a list of dicts, got {_type_name(orders)}")
    return orders
