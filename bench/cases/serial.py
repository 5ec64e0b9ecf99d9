"""Serialisation cases: orders through every codec, one message and 10k-message batches.

Formats are compared like with like: each case belongs to one wire format and applies only to
the implementations that speak it (Case.applies), so a row never sets a JSON codec against
protobuf bytes:
- proto_* : protobuf bytes of order.proto -- our tiers, peer:protobuf (upb from and to dicts),
  peer:protobuf-message (upb from a prebuilt message, to a message);
- msgpack_*: msgpack maps -- our tiers (pack_order / unpack_order: one message; the contract
  has no msgpack batch), peer:msgpack, peer:msgspec-msgpack-dict / -struct;
- json_*: JSON text -- peer:json, peer:orjson, peer:msgspec-json-dict / -struct (no tier
  writes JSON; the rows show what the library codecs cost on the same orders);
- columns_*: the Numba tier's columnar path (and upb on prebuilt messages, the other codec
  that starts from its own structure rather than from dicts), with the conversion to and
  from dicts as cases of their own: the part of "when does Numba pay" kernels do not show;
- proto_encode_batch_sweep / proto_decode_batch_sweep: our tiers' encode_batch and decode_batch
  from one order a call up to the batch cases' size, the cost per order against batch size (the
  report draws the one-message call at 1 and the batch case at its size on the same line);
- bytes_per_msg: each implementation's own format, side by side on purpose;
- decode_memory: peak memory of decoding a 100k batch in the implementation's own format,
  each in a subprocess of its own (bench.memory).

Every output is checked before it is timed: our tiers against pure (bytes, dicts) -- in the
columnar cases, which pure does not take part in, against a reference pure computes -- and
peers by a round trip (what they encode decodes back to the same orders).
"""

from __future__ import annotations

import functools
import gc
import random
from types import SimpleNamespace

from bench import lineup
from bench.cases.base import Case, batches, sweep_grid
from bench.measurement import Figure, Figures, MemoryProbe, Timed
from bench.targets import Target

FAMILY = "serial"
SEED = 20240611
#: distinct orders the one-message cases cycle through, so no single message is hot in cache
DISTINCT = 1000
BATCH, QUICK_BATCH = 10_000, 2_000
MEMORY_BATCH, QUICK_MEMORY_BATCH = 100_000, 10_000

SYMBOLS = ["AAPL", "MSFT", "BRK.B", "7203.T", "ASML.AS", "Société Générale", "株式会社トヨタ", "ΑΛΦΑ", "NESN.SW",
           "🚀MOON", "TSLA", "0700.HK"]
VENUES = ["XNAS", "XNYS", "XLON", "XTKS", "XETR", "ARCX", "BATS", "IEXG"]
TAGS = ["ioc", "fok", "post-only", "algo:twap", "algo:vwap", "retail", "hedge", "dark", "odd-lot", "iceberg"]


@functools.lru_cache(maxsize=8)
def _orders(n: int) -> tuple:
    rng = random.Random(SEED + n)
    return tuple(
        {"id": rng.randrange(1, 2**40), "user_id": rng.randrange(1, 2**24), "symbol": rng.choice(SYMBOLS),
         "side": rng.choice(["BUY", "SELL", "BUY", "SELL", "SIDE_UNSPECIFIED"]),
         "price": round(rng.uniform(0.5, 5000.0), 2), "qty": rng.randrange(1, 10_000),
         "ts_ns": 1_700_000_000_000_000_000 + rng.randrange(10**15),
         "tags": rng.sample(TAGS, rng.randrange(6)),
         "meta": {"venue": rng.choice(VENUES), "flags": rng.randrange(256)}}
        for _ in range(n))


def orders(n: int) -> list[dict]:
    """n varied orders, every key present (the form decoders return), the same every run."""
    return list(_orders(n))


# --- codecs: one view over tiers and peers ----------------------------------------------------

def codec(impl, fmt: str):
    """The implementation's codec for `fmt` (see bench.peers.serial for the names), or None."""
    if impl.is_peer:
        return impl.module if impl.module.FORMAT == fmt else None
    same = lambda x: x  # noqa: E731 - our tiers take and give dicts
    impl = impl.module
    if fmt == "protobuf":
        return SimpleNamespace(native=same, native_batch=same, encode=impl.encode_order, decode=impl.decode_order,
                               encode_batch=impl.encode_batch, decode_batch=impl.decode_batch, to_dict=same,
                               to_dicts=same)
    if fmt == "msgpack":
        return SimpleNamespace(native=same, encode=impl.pack_order, decode=impl.unpack_order, to_dict=same,
                               encode_batch=None)
    return None


def _speaks(fmt: str, batch: bool = False):
    def applies(impl) -> bool:
        c = codec(impl, fmt)
        return c is not None and (not batch or c.encode_batch is not None)

    return applies


def _native_format(impl) -> str:
    return impl.module.FORMAT if impl.is_peer else "protobuf"


def _expected(params: dict) -> list[dict]:
    return orders(params.get("batch", DISTINCT))


def _round_trips(output, params) -> str | None:
    """Peers' check: what they encoded (or decoded) is the orders themselves."""
    return None if output == _expected(params) else "a round trip through the codec changed the orders"


def _with_gc(fn):
    """fn with the garbage collector running during the call (the timer turns it off)."""
    def call(arg):
        gc.enable()
        try:
            return fn(arg)
        finally:
            gc.disable()

    return call


# --- timed cases ------------------------------------------------------------------------------

def _one_encode(fmt: str):
    def prepare(impl, p):
        c = codec(impl, fmt)
        natives = [c.native(o) for o in orders(DISTINCT)]
        if impl.is_peer:
            return Timed(fn=c.encode, args=natives, output=lambda: [c.to_dict(c.decode(c.encode(n))) for n in natives])
        return Timed(fn=c.encode, args=natives, output=lambda: [c.encode(n) for n in natives])

    return prepare


def _one_decode(fmt: str):
    def prepare(impl, p):
        c = codec(impl, fmt)
        data = [c.encode(c.native(o)) for o in orders(DISTINCT)]
        return Timed(fn=c.decode, args=data, output=lambda: [c.to_dict(c.decode(d)) for d in data])

    return prepare


def _batch_grid(full: int, quick: int, **extra):
    return lambda is_quick: [{"batch": quick if is_quick else full, **extra}]


def _batched_orders(c, size: int) -> list:
    """Batches of `size` orders in the codec's own structure; below DISTINCT, through the
    one-message cases' orders in turn (one batch of orders(size) from there on)."""
    return [c.native_batch(chunk) for chunk in batches(orders(max(size, DISTINCT)), size)]


def _batch_encode(fmt: str):
    def prepare(impl, p):
        c = codec(impl, fmt)
        natives = _batched_orders(c, p["batch"])
        if impl.is_peer:
            output = lambda: [o for n in natives for o in c.to_dicts(c.decode_batch(c.encode_batch(n)))]  # noqa: E731
        else:
            output = lambda: [c.encode_batch(n) for n in natives]  # noqa: E731
        return Timed(fn=c.encode_batch, args=natives, items_per_call=p["batch"], output=output)

    return prepare


def _batch_decode(fmt: str):
    def prepare(impl, p):
        c = codec(impl, fmt)
        data = [c.encode_batch(n) for n in _batched_orders(c, p["batch"])]
        fn = _with_gc(c.decode_batch) if p.get("gc") == "on" else c.decode_batch
        return Timed(fn=fn, args=data, items_per_call=p["batch"],
                     output=lambda: [o for d in data for o in c.to_dicts(c.decode_batch(d))])

    return prepare


def _has_columns(impl) -> bool:
    return impl.is_tier and impl.has("encode_columns")


def _columnar(impl) -> bool:
    """The Numba tier, and upb on prebuilt messages (its own structure, not dicts)."""
    return _has_columns(impl) or (impl.is_peer and getattr(impl.module, "PREBUILT", False))


def _spec():
    return lineup.spec(FAMILY).module


# The columnar cases' references, computed by pure (which has no columns of its own).
def _batch_bytes_reference(params) -> bytes:
    return _spec().encode_batch(orders(params["batch"]))


def _batch_orders_reference(params) -> list[dict]:
    return _spec().decode_batch(_batch_bytes_reference(params))


def _columns_encode(impl, p):
    if impl.is_peer:
        return _batch_encode("protobuf")(impl, p)
    m = impl.module
    cols = m.columns_from_orders(orders(p["batch"]))
    return Timed(fn=m.encode_columns, args=[cols], items_per_call=p["batch"], output=lambda: m.encode_columns(cols))


def _columns_decode(impl, p):
    if impl.is_peer:
        return _batch_decode("protobuf")(impl, p)
    m = impl.module
    data = m.encode_batch(orders(p["batch"]))
    return Timed(fn=m.decode_columns, args=[data], items_per_call=p["batch"],
                 output=lambda: m.orders_from_columns(m.decode_columns(data)))


def _columns_from_orders(impl, p):
    m, batch = impl.module, orders(p["batch"])
    return Timed(fn=m.columns_from_orders, args=[batch], items_per_call=p["batch"],
                 output=lambda: m.orders_from_columns(m.columns_from_orders(batch)))


def _orders_from_columns(impl, p):
    m = impl.module
    cols = m.columns_from_orders(orders(p["batch"]))
    return Timed(fn=m.orders_from_columns, args=[cols], items_per_call=p["batch"],
                 output=lambda: m.orders_from_columns(cols))


#: Peers that, like our tiers, go between dicts and bytes: the like-for-like comparison of the
#: summary's "best tier vs best peer" column (Structs and prebuilt messages are in the rows too).
DICT_PEERS = {"protobuf": ("peer:protobuf",), "msgpack": ("peer:msgpack", "peer:msgspec-msgpack-dict"),
              "json": ()}


def _format_cases(fmt: str, prefix: str) -> list[Case]:
    """One message and a batch, encode and decode, in one format (see the module doc for who
    takes part in which)."""
    single = lambda is_quick: [{"distinct": DISTINCT}]  # noqa: E731
    versus = DICT_PEERS[fmt]
    return [
        Case(FAMILY, f"{prefix}_encode", "time", single, _one_encode(fmt), unit="ns/op", applies=_speaks(fmt),
             peer_check=_round_trips, versus=versus, doc=f"one order -> {fmt} bytes"),
        Case(FAMILY, f"{prefix}_decode", "time", single, _one_decode(fmt), unit="ns/op", applies=_speaks(fmt),
             peer_check=_round_trips, versus=versus, doc=f"{fmt} bytes -> one order (dict, Struct or message)"),
        Case(FAMILY, f"{prefix}_encode_batch", "time", _batch_grid(BATCH, QUICK_BATCH), _batch_encode(fmt),
             unit="ns/msg", applies=_speaks(fmt, batch=True), peer_check=_round_trips, versus=versus,
             doc=f"a batch of orders -> one {fmt} message"),
        Case(FAMILY, f"{prefix}_decode_batch", "time",
             lambda q: [{"batch": QUICK_BATCH if q else BATCH, "gc": gc_state} for gc_state in ("off", "on")],
             _batch_decode(fmt), unit="ns/msg", applies=_speaks(fmt, batch=True), peer_check=_round_trips,
             versus=versus, doc=f"one {fmt} batch -> orders, with the garbage collector off and on during the call"),
    ]


def _tier_batch(impl) -> bool:
    return impl.is_tier and _speaks("protobuf", batch=True)(impl)


def _sweep_grid(fixed: dict):
    return sweep_grid("batch", fixed, below=(BATCH, QUICK_BATCH))


# --- figures and memory -----------------------------------------------------------------------

def _bytes_per_msg(impl, p):
    c = codec(impl, _native_format(impl))

    def compute():
        if p["batch"] == 1:
            natives = [c.native(o) for o in orders(DISTINCT)]
            size = sum(len(c.encode(n)) for n in natives) / len(natives)
        else:
            size = len(c.encode_batch(c.native_batch(orders(p["batch"])))) / p["batch"]
        return [Figure("bytes_per_msg", "bytes", size)]

    return Figures(compute)


def _positive_figures(output, params) -> str | None:
    return None if all(f.value > 0 for f in output) else "a message of no bytes"


def _decode_memory(impl, p):
    c = codec(impl, _native_format(impl))
    data = c.encode_batch(c.native_batch(orders(p["batch"])))
    return MemoryProbe(build=lambda: c.decode_batch(data))


def _columns_memory(impl, p):
    m = impl.module
    data = m.encode_batch(orders(p["batch"]))
    return MemoryProbe(build=lambda: m.decode_columns(data))


CASES = (
    _format_cases("protobuf", "proto")
    + _format_cases("msgpack", "msgpack")
    + _format_cases("json", "json")
    + [
        # The batch-size sweeps (see bench.cases.base): our tiers' batch API, protobuf, below the
        # batch cases' size (they measure that one; a message costs too much for 100k to add anything).
        Case(FAMILY, "proto_encode_batch_sweep", "time", _sweep_grid({}), _batch_encode("protobuf"), unit="ns/msg",
             applies=_tier_batch, doc="encode_batch: cost per order against batch size, from 1 a call"),
        Case(FAMILY, "proto_decode_batch_sweep", "time", _sweep_grid({"gc": "off"}), _batch_decode("protobuf"),
             unit="ns/msg", applies=_tier_batch, doc="decode_batch: cost per order against batch size, from 1 a call"),
        Case(FAMILY, "columns_encode", "time", _batch_grid(BATCH, QUICK_BATCH), _columns_encode, unit="ns/msg",
             applies=_columnar, reference=_batch_bytes_reference, peer_check=_round_trips,
             doc="OrderColumns -> OrderBatch bytes (Numba); upb serialising a prebuilt OrderBatch"),
        Case(FAMILY, "columns_decode", "time", _batch_grid(BATCH, QUICK_BATCH), _columns_decode, unit="ns/msg",
             applies=_columnar, reference=_batch_orders_reference, peer_check=_round_trips,
             doc="OrderBatch bytes -> OrderColumns (Numba); upb parsing into a message"),
        Case(FAMILY, "columns_from_orders", "time", _batch_grid(BATCH, QUICK_BATCH), _columns_from_orders,
             unit="ns/msg", applies=_has_columns, reference=lambda p: orders(p["batch"]), doc="order dicts -> OrderColumns: the conversion into columns"),
        Case(FAMILY, "orders_from_columns", "time", _batch_grid(BATCH, QUICK_BATCH), _orders_from_columns,
             unit="ns/msg", applies=_has_columns, reference=lambda p: orders(p["batch"]), doc="OrderColumns -> order dicts: the conversion out of columns"),
        Case(FAMILY, "bytes_per_msg", "figures", lambda q: [{"batch": 1}, {"batch": QUICK_BATCH if q else BATCH}],
             _bytes_per_msg, peer_check=_positive_figures,
             doc="bytes per order in each implementation's own format (tiers: protobuf), alone and in a batch"),
        Case(FAMILY, "decode_memory", "memory", _batch_grid(MEMORY_BATCH, QUICK_MEMORY_BATCH), _decode_memory,
             doc="peak and retained bytes of decoding a batch in the implementation's own format (memray)"),
        Case(FAMILY, "columns_memory", "memory", _batch_grid(MEMORY_BATCH, QUICK_MEMORY_BATCH), _columns_memory,
             applies=_has_columns, doc="peak and retained bytes of decode_columns on the same batch (memray)"),
    ]
)


def profile_workload(impl, quick: bool = False) -> None:
    """What `bench profile` runs under pyinstrument: orders through the implementation's own
    format, one at a time and in batches (and msgpack too, for our tiers)."""
    scale = 10 if quick else 1
    c = codec(impl, _native_format(impl))
    natives = [c.native(o) for o in orders(DISTINCT)]
    for _ in range(20 // scale):
        for n in natives:
            c.decode(c.encode(n))
    batch = c.native_batch(orders(BATCH // scale))
    for _ in range(5):
        c.decode_batch(c.encode_batch(batch))
    if impl.is_tier:
        for n in natives:
            impl.module.unpack_order(impl.module.pack_order(n))


# --- the targets (checked on results.json by bench.targets) ------------------------

TARGETS = [
    Target("proto_encode", "Cython encode_order <= 200 ns", impl="cython", at_most=200),
    Target("proto_encode", "Cython encode_order >= 8x upb from a dict", impl="cython", faster_than="peer:protobuf",
           min_speedup=8),
    Target("proto_encode", "Cython encode_order within 1.3x of msgspec msgpack Struct", impl="cython",
           faster_than="peer:msgspec-msgpack-struct", other_case="msgpack_encode", min_speedup=1 / 1.3),
    Target("proto_decode", "Cython decode_order <= 300 ns", impl="cython", at_most=300),
    Target("proto_decode", "Cython decode_order >= 5x upb into a dict", impl="cython", faster_than="peer:protobuf",
           min_speedup=5),
    Target("proto_decode", "Cython decode_order no slower than msgspec msgpack Struct", impl="cython",
           faster_than="peer:msgspec-msgpack-struct", other_case="msgpack_decode", min_speedup=1.0),
    # The batch: building 10k dicts costs what it costs. A Cython loop building the very same
    # dicts from pre-made values, no parsing at all, measured only 5.1-5.3x faster than upb's
    # OrderBatch into dicts (three runs), so 5x leaves parsing almost nothing to spend.
    Target("proto_decode_batch", "Cython decode_batch >= 5x upb into dicts, per message", impl="cython",
           faster_than="peer:protobuf", min_speedup=5),
    Target("proto_decode_batch", "Cython decode_batch no slower than msgspec msgpack list[Struct]", impl="cython",
           faster_than="peer:msgspec-msgpack-struct", other_case="msgpack_decode_batch", min_speedup=1.0),
    Target("msgpack_encode", "Cython pack_order faster than msgpack.packb", impl="cython", faster_than="peer:msgpack",
           min_speedup=1.0),
    Target("columns_encode", "Numba encode_columns <= 50 ns/msg (10k batch)", impl="numba", at_most=50),
    # pure_proto.py is the specification, written to be read: its speed is no longer a target.
]
