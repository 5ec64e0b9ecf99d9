"""The work kernel of the Numba tier: a whole batch in one compiled call, without the GIL.

`process` takes the batch as one byte buffer and the offsets of its messages, and does what
`impls.workerpool.pure` does for each message: decode (the serial family's own Numba decoder,
`nb_proto_decode.decode`, on the message's slice -- so malformed bytes are classified exactly
as every serial tier classifies them, and no protobuf parser is copied here), reject poison,
compute the delta and run the digest rounds. Everything, decoding included, runs in one
`nogil` kernel: threads calling it run in parallel from start to end. Without rounds it costs
about 0.7 us a message on the lab's machine, mostly the decoder's (it allocates its column
arrays for each message it is given).

Numba caches each kernel by the file that defines it: after the serial family's
nb_proto_decode.py or nb_bytes.py changes, clear impls/workerpool/__pycache__ too, or
`process` keeps the decoder it was compiled with.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from impls.serial.nb_bytes import BUF, I64, KERNEL, SPANS_OUT, U64
from impls.serial.nb_proto_decode import decode
from impls.workerpool.kernel_contract import BUY, GAMMA, MALFORMED, MIX1, MIX2, POISON, POISON_TAG, SELL

# uint64 constants keep the arithmetic in uint64 (a uint64 op an int64 gives float64 in Numba).
_GAMMA, _MIX1, _MIX2 = np.uint64(GAMMA), np.uint64(MIX1), np.uint64(MIX2)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_ZERO = np.uint64(0)
#: the poison tag's UTF-8 bytes (a global array: compiled in as a constant)
_POISON = np.frombuffer(POISON_TAG.encode("utf-8"), dtype=np.uint8)

OFFSETS = types.Array(types.int64, 1, "C", readonly=True)
_I64_OUT = types.Array(types.int64, 1, "C")
_U64_OUT = types.Array(types.uint64, 1, "C")
_I8_OUT = types.Array(types.int8, 1, "C")


@njit(U64(U64), **KERNEL)
def mix64(z):
    """splitmix64's finalizer (as pure.mix64)."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(U64(I64, I64, I64, I64), **KERNEL)
def seed(order_id, user_id, qty, ts_ns):
    """The digest before its rounds: the four fields absorbed (as pure.digest)."""
    h = _ZERO
    h = mix64((h ^ np.uint64(order_id)) + _GAMMA)
    h = mix64((h ^ np.uint64(user_id)) + _GAMMA)
    h = mix64((h ^ np.uint64(qty)) + _GAMMA)
    return mix64((h ^ np.uint64(ts_ns)) + _GAMMA)


@njit(U64(U64, I64), **KERNEL)
def spin(h, rounds):
    """`rounds` digest rounds from h: the CPU-bound work."""
    for _ in range(rounds):
        h = mix64(h + _GAMMA)
    return h


@njit(types.boolean(BUF, SPANS_OUT, I64, I64), **KERNEL)
def has_poison_tag(message, tags, first, last):
    """Whether one of the tag spans tags[first:last] (into `message`) is exactly the poison tag."""
    for t in range(first, last):
        start, end = tags[t, 0], tags[t, 1]
        if end - start != _POISON.size:
            continue
        same = True
        for k in range(_POISON.size):
            if message[start + k] != _POISON[k]:
                same = False
                break
        if same:
            return True
    return False


@njit(types.Tuple((_I64_OUT, _I64_OUT, _U64_OUT, _I8_OUT))(BUF, OFFSETS, I64), **KERNEL)
def process(buf, offsets, rounds):
    """(user_id, delta, digest, status) of each message buf[offsets[i]:offsets[i + 1]]."""
    n = offsets.size - 1
    user_id = np.zeros(n, dtype=np.int64)
    delta = np.zeros(n, dtype=np.int64)
    digest = np.zeros(n, dtype=np.uint64)
    status = np.zeros(n, dtype=np.int8)
    err = np.zeros(3, dtype=np.int64)
    for i in range(n):
        message = buf[offsets[i]:offsets[i + 1]]
        err[0] = 0
        (_, ids, user_ids, qtys, ts_nss, sides, _, _, _, _, _, tags, _,
         tag_bounds) = decode(message, True, err)
        if err[0] != 0:
            status[i] = MALFORMED
            continue
        user_id[i] = user_ids[0]
        if has_poison_tag(message, tags, tag_bounds[0], tag_bounds[1]):
            status[i] = POISON
            continue
        if sides[0] == BUY:
            delta[i] = qtys[0]
        elif sides[0] == SELL:
            delta[i] = np.int64(_ZERO - np.uint64(qtys[0]))  # wraps: -(-2**63) is -2**63
        digest[i] = spin(seed(ids[0], user_ids[0], qtys[0], ts_nss[0]), rounds)
    return user_id, delta, digest, status
