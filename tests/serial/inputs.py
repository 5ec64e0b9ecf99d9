"""Inputs for the decoders' fuzz and differential tests, made in bulk from one seed.

Three kinds, so that the decoders meet both the near-misses that reach deep code paths and
plain garbage:
- valid encodings (upb's and msgpack's bytes for random orders and batches), mutated: bytes
  flipped or set to boundary values, inserted, deleted, duplicated, truncated, spliced;
- well-formed wire streams of arbitrary fields (any number, wire type, length; nested
  groups, sub-messages as field 9, varints of every length, bad UTF-8) and msgpack maps of
  arbitrary keys and values -- mostly accepted or rejected for one reason only;
- random bytes.
"""

from __future__ import annotations

import functools
import random

import msgpack
import numpy as np

from impls.serial import schema
from impls.serial import order_pb2 as pb

_BOUNDARY_BYTES = np.array([0x00, 0x01, 0x07, 0x08, 0x0A, 0x0B, 0x0C, 0x0E, 0x0F, 0x4A, 0x53, 0x54, 0x7F, 0x80,
                            0x81, 0xC0, 0xC1, 0xCA, 0xCB, 0xCF, 0xD3, 0xD9, 0xDC, 0xDE, 0xDF, 0xE0, 0xFF], np.uint8)
_WORDS = ["", "AAPL", "BRK.B", "株式会社", "Société", "🚀", "x" * 40, "y" * 300]


def random_order(rng: random.Random) -> dict:
    """A random order: a random subset of keys in random order, values near the edges often."""
    def int64():
        return rng.choice([0, 1, -1, 127, 128, 300, -300, 2**31, -(2**31) - 1, 2**40 + 5, schema.INT64_MAX,
                           schema.INT64_MIN, rng.randrange(-(2**63), 2**63)])

    values = {
        "id": int64, "user_id": int64, "qty": int64, "ts_ns": int64,
        "symbol": lambda: rng.choice(_WORDS),
        "side": lambda: rng.choice(["BUY", "SELL", "SIDE_UNSPECIFIED", 0, 7, -1, 2**31 - 1]),
        "price": lambda: rng.choice([0.0, -0.0, 1.5, -2.25, float("inf"), float("nan"), 1e300, 5e-324]),
        "tags": lambda: [rng.choice(_WORDS) for _ in range(rng.randrange(6))],
        "meta": lambda: {k: (rng.choice(_WORDS) if k == "venue" else rng.choice([0, 1, 2**32 - 1]))
                         for k in rng.sample(schema.META_KEYS, rng.randrange(3))},
    }
    keys = rng.sample(schema.ORDER_KEYS, rng.randrange(len(schema.ORDER_KEYS) + 1))
    return {k: values[k]() for k in keys}


def protobuf_seeds(rng: random.Random, n: int) -> list[bytes]:
    """upb's bytes for random orders (and some batches of them)."""
    seeds = []
    for i in range(n):
        if i % 4 == 3:
            batch = pb.OrderBatch(orders=[pb.Order(**random_order(rng)) for _ in range(rng.randrange(4))])
            seeds.append(batch.SerializeToString())
        else:
            seeds.append(pb.Order(**random_order(rng)).SerializeToString())
    return seeds


def msgpack_seeds(rng: random.Random, n: int) -> list[bytes]:
    return [msgpack.packb(random_order(rng)) for _ in range(n)]


# --- well-formed streams of arbitrary protobuf fields ------------------------------------------

def _varint(value: int, extra: int = 0) -> bytes:
    """A varint followed by `extra` redundant zero groups (valid while 10 bytes or fewer)."""
    groups = []
    while True:
        groups.append(value & 0x7F)
        value >>= 7
        if not value:
            break
    groups += [0] * extra
    return bytes([g | 0x80 for g in groups[:-1]] + [groups[-1]])


def _field(rng: random.Random, depth: int) -> bytes:
    number = rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 3, 8, 9, 10, 15, 16, 2047, 2**29 - 1, 0])
    wire_type = rng.choice([0, 0, 1, 2, 2, 2, 3, 5, 4, 6, 7] if rng.random() < 0.05 else [0, 0, 1, 2, 2, 2, 3, 5])
    tag = _varint(number << 3 | wire_type, extra=rng.choice([0, 0, 0, 0, 1, 4]))
    if wire_type == 0:
        return tag + _varint(rng.choice([0, 1, 300, 2**32 + 1, 2**63, 2**64 - 1, rng.getrandbits(64)]),
                             extra=rng.choice([0, 0, 0, 1, 3]))
    if wire_type == 1:
        return tag + rng.randbytes(8)
    if wire_type == 5:
        return tag + rng.randbytes(4)
    if wire_type == 2:
        if number == 9 and depth < 3 and rng.random() < 0.7:
            body = b"".join(_field(rng, depth + 1) for _ in range(rng.randrange(4)))
        else:
            body = rng.choice([b"", b"ok", "株".encode(), b"\xff", b"\xed\xa0\x80", b"\xc3", rng.randbytes(5)])
        return tag + _varint(len(body), extra=rng.choice([0, 0, 0, 1, 4])) + body
    if wire_type == 3:
        nested = rng.choice([0, 1, 2, 101]) if depth < 2 else 0
        if nested == 101:  # past the depth budget, or just inside it
            count = rng.choice([98, 99, 100, 101])
            return (_varint(number << 3 | 3) * count) + (_varint(number << 3 | 4) * count)
        body = b"".join(_field(rng, depth + 1) for _ in range(nested))
        end = number if rng.random() < 0.9 else number + 1
        return tag + body + _varint(end << 3 | 4)
    return tag  # 4, 6, 7: invalid at message level


def wire_streams(rng: random.Random, n: int) -> list[bytes]:
    return [b"".join(_field(rng, 0) for _ in range(rng.randrange(1, 6))) for _ in range(n)]


# --- msgpack maps of arbitrary keys and values -----------------------------------------------

def _msgpack_value(rng: random.Random):
    return rng.choice([
        lambda: rng.choice([0, -1, -33, 200, 70000, 2**40, -(2**40), 2**63, 2**64 - 1, -(2**63)]),
        lambda: rng.choice(_WORDS), lambda: rng.choice(["BUY", "SELL", "HOLD"]), lambda: 1.5, lambda: None,
        lambda: True, lambda: b"bin", lambda: [rng.choice(_WORDS), 3][: rng.randrange(3)],
        lambda: {"venue": "X", "flags": rng.choice([0, -1, 2**32])}, lambda: {"nope": 1}, lambda: {b"venue": "x"},
        lambda: msgpack.ExtType(5, b"x"), lambda: [[{"deep": [1.5, None]}]],
    ])()


_RAW_VALUES = [b"\xc1", b"\x91\xc1", b"\x81\x01\x02", b"\xd4\xfe\x00", b"\xd7\xff" + b"\xff" * 8,
               b"\xd6\xff\x00\x00\x00\x01", b"\xa1\xff", b"\x91" * 1030 + b"\x00"]


def msgpack_maps(rng: random.Random, n: int) -> list[bytes]:
    """Maps of schema keys (and a few others, repeated keys too) to values of the right type
    half of the time, else to anything msgpack packs (or a few raw values it rejects)."""
    keys = list(schema.ORDER_KEYS) + ["nope", "ids"]
    out = []
    for _ in range(n):
        right = random_order(rng)
        entries = []
        for key in (rng.choice(keys) for _ in range(rng.randrange(6))):
            if key in right and rng.random() < 0.5:
                value = msgpack.packb(right[key])
            elif rng.random() < 0.03:
                value = rng.choice(_RAW_VALUES)
            else:
                value = msgpack.packb(_msgpack_value(rng), use_single_float=rng.random() < 0.2)
            entries.append(msgpack.packb(key) + value)
        out.append(bytes([0x80 | len(entries)]) + b"".join(entries))
    return out


# --- mutation ----------------------------------------------------------------------------------

def mutate(seeds: list[bytes], n: int, seed: int) -> list[bytes]:
    """`n` inputs, each one seed (or two spliced) with one to three random mutations."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(seeds), size=(n, 2))
    kinds = rng.integers(0, 8, size=(n, 3))
    counts = rng.integers(1, 4, size=n)
    out = []
    for i in range(n):
        data = bytearray(seeds[picks[i, 0]])
        for kind in kinds[i, : counts[i]]:
            size = len(data)
            at = int(rng.integers(0, size + 1))
            if kind == 0 and size:  # flip bits of one byte
                data[at % size] ^= int(rng.integers(1, 256))
            elif kind == 1 and size:  # a boundary value
                data[at % size] = int(rng.choice(_BOUNDARY_BYTES))
            elif kind == 2:  # insert bytes
                data[at:at] = rng.integers(0, 256, size=int(rng.integers(1, 4)), dtype=np.uint8).tobytes()
            elif kind == 3 and size:  # delete bytes
                del data[at: at + int(rng.integers(1, 4))]
            elif kind == 4:  # truncate
                del data[at:]
            elif kind == 5 and size:  # duplicate a slice
                end = min(size, at + int(rng.integers(1, 12)))
                data[end:end] = data[at:end]
            elif kind == 6:  # splice with another seed
                other = seeds[picks[i, 1]]
                data = data[:at] + other[int(rng.integers(0, len(other) + 1)):]
            else:  # a boundary byte inserted
                data[at:at] = bytes([int(rng.choice(_BOUNDARY_BYTES))])
        out.append(bytes(data))
    return out


def random_bytes(n: int, seed: int, max_size: int = 40) -> list[bytes]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, max_size, size=n)
    blob = rng.integers(0, 256, size=int(sizes.sum()), dtype=np.uint8).tobytes()
    out, pos = [], 0
    for size in sizes:
        out.append(blob[pos: pos + size])
        pos += size
    return out


@functools.lru_cache(maxsize=4)
def protobuf_inputs(n: int, seed: int) -> list[bytes]:
    """n protobuf-ish inputs: 15% well-formed streams, 70% mutations, 15% random bytes."""
    rng = random.Random(seed)
    streams = wire_streams(rng, n * 15 // 100)
    seeds = protobuf_seeds(rng, 300) + streams[:200]
    noise = random_bytes(n * 15 // 100, seed)
    return streams + mutate(seeds, n - len(streams) - len(noise), seed) + noise


@functools.lru_cache(maxsize=4)
def msgpack_inputs(n: int, seed: int) -> list[bytes]:
    """n msgpack-ish inputs: 15% arbitrary maps, 70% mutations, 15% random bytes."""
    rng = random.Random(seed)
    maps = msgpack_maps(rng, n * 15 // 100)
    seeds = msgpack_seeds(rng, 300) + maps[:200]
    noise = random_bytes(n * 15 // 100, seed + 1)
    return maps + mutate(seeds, n - len(maps) - len(noise), seed) + noise
