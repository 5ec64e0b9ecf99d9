"""A batch of orders as columns (numpy arrays): the form the Numba tier encodes and decodes.

Strings live in one byte buffer, `text`, and each string column holds (start, end) spans
into it. `columns_from_orders` joins every string of the batch into a new buffer; a decoded
batch's spans point straight into the wire bytes (no copy). Tags are one span per tag, and
order i's tags are tags[tag_bounds[i]:tag_bounds[i + 1]].

Converting between dicts and columns is plain Python and numpy, and it is most of the cost of
the Numba tier's per-dict functions: bench reports it as its own figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impls.serial import contract
from impls.serial.schema import (INT32_MAX, INT32_MIN, INT64_KEYS, INT64_MAX, INT64_MIN, META, ORDER, SIDE_VALUES,
                                 UINT32_MAX, side_name)

_MISSING = object()


@dataclass(eq=False)
class OrderColumns:
    """n orders as columns. `has_meta` says whether an order carries a meta message (upb
    writes an empty one as b"\\x4a\\x00"); `price_bits` are the prices' IEEE-754 bits, so
    -0.0 and NaN payloads travel unchanged."""

    id: np.ndarray  # int64[n]
    user_id: np.ndarray  # int64[n]
    symbol: np.ndarray  # int64[n, 2]: spans into text
    side: np.ndarray  # int32[n]
    price_bits: np.ndarray  # uint64[n]
    qty: np.ndarray  # int64[n]
    ts_ns: np.ndarray  # int64[n]
    tags: np.ndarray  # int64[m, 2]: spans into text
    tag_bounds: np.ndarray  # int64[n + 1]
    has_meta: np.ndarray  # bool[n]
    venue: np.ndarray  # int64[n, 2]: spans into text
    flags: np.ndarray  # uint32[n]
    text: np.ndarray  # uint8[]: the bytes every span points into

    def __len__(self) -> int:
        return len(self.id)

    @property
    def price(self) -> np.ndarray:
        return self.price_bits.view(np.float64)


class _NotPlain(Exception):
    """The columnar fast path met a value it does not take as it is: check_order decides."""


def _column(orders: list, key: str, default, kinds: tuple) -> tuple[list, int]:
    """(values, with `default` for a missing key; how many orders had the key); _NotPlain if
    a value is not of an exact type in `kinds`."""
    values = [o.get(key, _MISSING) for o in orders]
    missing = values.count(_MISSING)
    if missing:
        values = [default if v is _MISSING else v for v in values]
    if not set(map(type, values)) <= set(kinds):
        raise _NotPlain
    return values, len(values) - missing


def _int_array(values: list, low: int, high: int, dtype) -> np.ndarray:
    try:
        array = np.array(values, dtype=np.int64)  # OverflowError outside int64
    except OverflowError:
        raise _NotPlain from None
    if (low, high) != (INT64_MIN, INT64_MAX) and array.size and (
            array.min() < low or array.max() > high):
        raise _NotPlain
    return array if dtype is np.int64 else array.astype(dtype)


def _plain_columns(orders: list) -> OrderColumns:
    if not set(map(type, orders)) <= {dict}:
        raise _NotPlain
    found = 0
    ints = {}
    for key in INT64_KEYS:
        values, present = _column(orders, key, ORDER[key].default, (int,))
        ints[key], found = _int_array(values, INT64_MIN, INT64_MAX, np.int64), found + present
    sides, present = _column(orders, "side", ORDER["side"].default, (int, str))
    found += present
    sides = [SIDE_VALUES.get(s, s) if type(s) is str else s for s in sides]  # names -> values
    if not set(map(type, sides)) <= {int}:  # a str that is not a Side name
        raise _NotPlain
    side = _int_array(sides, INT32_MIN, INT32_MAX, np.int32)
    prices, present = _column(orders, "price", ORDER["price"].default, (float,))
    found += present
    symbols, present = _column(orders, "symbol", ORDER["symbol"].default, (str,))
    found += present
    tag_lists, present = _column(orders, "tags", ORDER["tags"].default, (list, tuple))
    found += present
    tags = [t for ts in tag_lists for t in ts]
    if not set(map(type, tags)) <= {str}:
        raise _NotPlain
    metas, present = _column(orders, "meta", _MISSING, (dict, object))
    found += present
    if found != sum(map(len, orders)):  # a key that is not a field
        raise _NotPlain
    has_meta = [m is not _MISSING for m in metas]
    metas = [m for m in metas if m is not _MISSING]
    if not set(map(type, metas)) <= {dict}:
        raise _NotPlain
    venues, venue_found = _column(metas, "venue", META["venue"].default, (str,))
    flags, flags_found = _column(metas, "flags", META["flags"].default, (int,))
    if venue_found + flags_found != sum(map(len, metas)):
        raise _NotPlain
    return _assemble(orders, ints, side, prices, symbols, tag_lists, tags, has_meta, venues, flags)


def _assemble(orders, ints, side, prices, symbols, tag_lists, tags, has_meta, venues, flags) -> OrderColumns:
    n, m = len(orders), len(tags)
    # Every string of the batch, joined into one buffer: symbols, then tags, then venues.
    pieces = [s.encode("utf-8") for s in symbols + tags + venues]  # UnicodeEncodeError: a lone surrogate
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    spans = np.empty((len(pieces), 2), dtype=np.int64)
    np.cumsum(lengths, out=spans[:, 1])
    spans[:, 0] = spans[:, 1] - lengths
    has_meta = np.array(has_meta, dtype=bool).reshape(n)
    venue_spans = np.zeros((n, 2), dtype=np.int64)
    venue_spans[has_meta] = spans[n + m:]
    flag_column = np.zeros(n, dtype=np.uint32)
    flag_column[has_meta] = _int_array(flags, 0, UINT32_MAX, np.uint32)
    tag_bounds = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, tag_lists), dtype=np.int64, count=n), out=tag_bounds[1:])
    return OrderColumns(id=ints["id"], user_id=ints["user_id"], symbol=spans[:n], side=side.reshape(n),
                        price_bits=np.array(prices, dtype=np.float64).reshape(n).view(np.uint64),
                        qty=ints["qty"], ts_ns=ints["ts_ns"], tags=spans[n:n + m], tag_bounds=tag_bounds,
                        has_meta=has_meta, venue=venue_spans, flags=flag_column,
                        text=np.frombuffer(b"".join(pieces), dtype=np.uint8))


def columns_from_orders(orders: list[dict]) -> OrderColumns:
    """A list of order dicts -> OrderColumns; the same errors as encode_batch for bad orders."""
    orders = contract.check_orders(orders)
    try:
        return _plain_columns(list(orders))
    except (_NotPlain, UnicodeEncodeError):
        return _plain_columns([contract.check_order(o) for o in orders])


def orders_from_columns(cols: OrderColumns) -> list[dict]:
    """OrderColumns -> a list of order dicts, every key present (as decode_batch gives them).

    The spans must hold valid UTF-8 (the decoder checked them; columns_from_orders made them).
    """
    text = cols.text.tobytes()

    def strings(spans: np.ndarray) -> list[str]:
        return [text[s:e].decode("utf-8") for s, e in spans.tolist()]

    symbols, tags, venues = strings(cols.symbol), strings(cols.tags), strings(cols.venue)
    bounds = cols.tag_bounds.tolist()
    sides = [side_name(s) for s in cols.side.tolist()]
    # A dict display, keys in schema order (tests/serial/test_contract.py checks every tier's
    # key order): about twice as fast as dict(zip(ORDER_KEYS, values)) on a large batch.
    return [
        {"id": i, "user_id": u, "symbol": sym, "side": side, "price": price, "qty": q, "ts_ns": ts,
         "tags": tags[b0:b1], "meta": {"venue": venue, "flags": flags}}
        for i, u, sym, side, price, q, ts, b0, b1, venue, flags in zip(
            cols.id.tolist(), cols.user_id.tolist(), symbols, sides, cols.price.tolist(), cols.qty.tolist(),
            cols.ts_ns.tolist(), bounds[:-1], bounds[1:], venues, cols.flags.tolist())
    ]
