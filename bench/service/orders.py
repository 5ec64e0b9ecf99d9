"""An order from the bytes a client sent: decoded, checked, or a BadRequest that names the field.

The three wire formats meet one set of rules. msgpack and protobuf are decoded by the chosen
tier of the serial family (so `--impl` moves the decode too); JSON by orjson, and then checked
by the serial family's `check_order`. Numbers are typed as the document (openapi.py) says, in
JSON Schema's terms, where 10 and 10.0 are one number: an integral price is a float, and an
integral float in an integer field is that integer -- in JSON, and in msgpack too (an order
the tier's decoder refuses only for such a number is retyped and checked the JSON way, off
the fast path). Then the gateway's own rules, the same for every format: id, user_id, qty
positive; symbol of 1 to 32 characters; at most 64 tags; side BUY or SELL; price positive
and finite. protobuf cannot tell a missing field from its zero value, so there a missing field
fails its value rule ("qty must be positive") where JSON and msgpack say "qty is required".
"""

from __future__ import annotations

import math
from types import ModuleType

import msgpack
import orjson

from impls.serial.contract import check_order
from impls.serial.errors import DecodeError

#: Fields a JSON or msgpack order must carry (ts_ns, tags and meta are optional).
REQUIRED = ("id", "user_id", "symbol", "side", "price", "qty")
SIDES = ("BUY", "SELL")
MAX_SYMBOL = 32
MAX_TAGS = 64
#: Integer fields, where JSON Schema takes an integral float (10.0) as the integer (10).
_INTEGERS = ("id", "user_id", "qty", "ts_ns")
_TWO_63 = 2.0**63
#: Words that start a serial error message and name the field it is about.
_FIELDS = ("id", "user_id", "symbol", "side", "price", "qty", "ts_ns", "tags", "meta")


class BadRequest(ValueError):
    """The client sent something the gateway refuses: HTTP `status` (400, 413, 415) with a JSON
    body {"error": message, "field": field or null}; gRPC INVALID_ARGUMENT with the message."""

    def __init__(self, message: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.message, self.field, self.status = message, field, status

    def body(self) -> dict:
        return {"error": self.message, "field": self.field}


def _field_of(message: str) -> str | None:
    """The field a serial error message is about ("price at byte 7 must be a float" -> price)."""
    head = message.split(" ", 1)[0].split("[", 1)[0]
    if head in _FIELDS or head.startswith("meta."):
        return head
    if "unknown order key" in message or "has no field" in message:
        return message.rsplit("'", 2)[-2] if message.count("'") >= 2 else None
    return None


def check_rules(order: dict) -> dict:
    """The gateway's rules over a decoded order (every key present, schema types)."""
    if order["id"] <= 0:
        raise BadRequest(f"id must be positive, got {order['id']}", "id")
    if order["user_id"] <= 0:
        raise BadRequest(f"user_id must be positive, got {order['user_id']}", "user_id")
    symbol = order["symbol"]
    if not symbol or len(symbol) > MAX_SYMBOL:
        raise BadRequest(f"symbol must be 1 to {MAX_SYMBOL} characters, got {symbol!r}", "symbol")
    if order["side"] not in SIDES:
        raise BadRequest(f"side must be BUY or SELL, got {order['side']!r}", "side")
    price = order["price"]
    if not (price > 0.0 and math.isfinite(price)):
        raise BadRequest(f"price must be positive and finite, got {price!r}", "price")
    if order["qty"] <= 0:
        raise BadRequest(f"qty must be positive, got {order['qty']}", "qty")
    if len(order["tags"]) > MAX_TAGS:
        raise BadRequest(f"tags may hold at most {MAX_TAGS} items, got {len(order['tags'])}", "tags")
    return order


def _with_defaults(order: dict) -> dict:
    """A JSON or msgpack order (every required key present) with the optional keys filled in."""
    for name in REQUIRED:
        if name not in order:
            raise BadRequest(f"{name} is required", name)
    order.setdefault("ts_ns", 0)
    order.setdefault("tags", [])
    meta = order.setdefault("meta", {})
    meta.setdefault("venue", "")
    meta.setdefault("flags", 0)
    return order


def from_json(body: bytes) -> dict:
    try:
        order = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(order, dict):
        raise BadRequest(f"an order is a JSON object, got {type(order).__name__}")
    _retype_numbers(order)
    return check_rules(_with_defaults(_checked(order)))


def _retype_numbers(order: dict) -> int:
    """JSON Schema's numbers as the schema types them, in place: an integral price is a float
    (10 -> 10.0), an integral float in an integer field an int (10.0 -> 10; below 2**63 in
    magnitude). How many changed."""
    changed = 0
    price = order.get("price")
    if type(price) is int:
        order["price"] = float(price)
        changed += 1
    meta = order.get("meta")
    for where, names in ((order, _INTEGERS), (meta if isinstance(meta, dict) else {}, ("flags",))):
        for name in names:
            value = where.get(name)
            # |value| < 2**63 only: orjson reads an integer beyond 64 bits as a float, and
            # -2**63 - 1 would round to -2**63, in range (a float that big is no count anyway).
            if type(value) is float and value.is_integer() and abs(value) < _TWO_63:
                where[name] = int(value)
                changed += 1
    return changed


def _checked(order: dict) -> dict:
    try:
        return check_order(order)
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise BadRequest(str(exc), _field_of(str(exc))) from None


def from_msgpack(body: bytes, serial: ModuleType) -> dict:
    try:
        order = serial.unpack_order(body)
    except DecodeError as exc:
        order = _retyped_msgpack(body)
        if order is None:
            raise BadRequest(f"malformed msgpack: {exc}", _field_of(str(exc))) from None
        order = _checked(order)
    return check_rules(_with_defaults(order))


def _retyped_msgpack(body: bytes) -> dict | None:
    """The order, if `body` is a msgpack map that has a number to retype (an int price, an
    integral float in an integer field), retyped; None otherwise (the decoder's error stands)."""
    try:
        order = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception:  # noqa: BLE001 - any failure: the tier's decoder has said what is wrong
        return None
    if not isinstance(order, dict) or not _retype_numbers(order):
        return None
    return order


def from_protobuf(body: bytes, serial: ModuleType) -> dict:
    try:
        order = serial.decode_order(body)
    except DecodeError as exc:
        raise BadRequest(f"malformed protobuf: {exc}", _field_of(str(exc))) from None
    return check_rules(order)
