"""Serial-family fixtures: tiers from the registry, orders as hypothesis draws them, and the
comparisons the tests share (NaN-aware equality, an order's decoded form)."""

import math
import struct

from hypothesis import strategies as st

from impls import registry
from impls.serial import schema
from impls.serial.schema import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, UINT32_MAX
from tests.conftest import pure_fixture, tier_fixture


tier = tier_fixture("serial")
pure = pure_fixture("serial")


def all_tiers() -> list:
    """Every tier module that loads (for tests that run each input through all of them)."""
    return [registry.load("serial", t) for t in registry.names("serial")]


# --- orders ----------------------------------------------------------------------------------

int64s = st.integers(INT64_MIN, INT64_MAX) | st.sampled_from([0, 1, -1, 127, 128, INT64_MIN, INT64_MAX])
texts = st.text(max_size=40) | st.sampled_from(["", "AAPL", "株式会社", "🚀", "a" * 200])
sides = st.sampled_from(schema.SIDE_NAMES) | st.integers(INT32_MIN, INT32_MAX)
prices = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, math.nan, -math.nan])
metas = st.fixed_dictionaries({}, optional={"venue": texts, "flags": st.integers(0, UINT32_MAX)})

#: An order dict: any subset of the keys, in any order, each with any value of its type.
orders = st.fixed_dictionaries({}, optional={
    "id": int64s, "user_id": int64s, "symbol": texts, "side": sides, "price": prices, "qty": int64s,
    "ts_ns": int64s, "tags": st.lists(texts, max_size=5), "meta": metas,
}).flatmap(lambda d: st.permutations(list(d.items())).map(dict))

#: An order with every key, as decode_order returns them (side by name where it has one).
full_orders = st.fixed_dictionaries({
    "id": int64s, "user_id": int64s, "symbol": texts,
    "side": st.sampled_from(schema.SIDE_NAMES) | st.integers(INT32_MIN, INT32_MAX).map(schema.side_name),
    "price": prices, "qty": int64s, "ts_ns": int64s, "tags": st.lists(texts, max_size=5),
    "meta": st.fixed_dictionaries({"venue": texts, "flags": st.integers(0, UINT32_MAX)}),
})


def decoded_form(order: dict) -> dict:
    """What decode_order gives for the bytes of `order`: every key, defaults filled in."""
    full = schema.default_order()
    full.update({k: v for k, v in order.items() if k != "meta"})
    full["side"] = schema.side_name(schema.SIDE_VALUES.get(full["side"], full["side"]))
    full["tags"] = list(full["tags"])
    full["meta"].update(order.get("meta", {}))
    return full


def same(a, b) -> bool:
    """Equality where floats compare by bits (so NaN equals a NaN of the same bits and -0.0
    differs from 0.0), recursively through dicts and lists."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return True  # NaN-aware: payload bits are compared by the encoding tests
        return struct.pack("<d", a) == struct.pack("<d", b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def outcome(fn, *args):
    """("ok", value) or ("error", exception type, message): what a call did, for comparing."""
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the exception is what is compared
        return ("error", type(exc), str(exc))
