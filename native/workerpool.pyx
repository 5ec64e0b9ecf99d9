# cython: language_level=3
"""The work kernel, compiled: the Cython tier of the workerpool family's per-message work.

Same contract as `impls.workerpool.pure` (the specification), row for row. A batch goes in
two passes:

1. with the GIL, message by message: decode with the serial family's Cython decoder
   (`impls.serial._cy.decode_order`: malformed bytes are classified exactly as every serial
   tier classifies them, and no protobuf parser is copied here), reject poison, write the
   user, the delta and the digest's seed into the result arrays;
2. without the GIL: the digest rounds of every OK message, over those arrays. This is the
   CPU-bound part: worker threads run it in parallel.

Pass 1 costs about as much as decode_order, which builds the order's dict: the whole kernel
at rounds=0 takes about 0.85 us a message on the lab's machine (bench/cases/workerpool.py),
whatever `rounds` is, and that share of a batch is serialised between threads by the GIL.
Decoding without the GIL would need the serial tier's C parser exposed (a .pxd), not copied. The digest arithmetic is uint64_t, which wraps modulo 2**64 as pure's
masks do.
"""

from libc.stdint cimport int8_t, int64_t, uint64_t

from impls.serial._cy import decode_order
from impls.serial.errors import DecodeError
from impls.workerpool import kernel_contract
from impls.workerpool.kernel_contract import Effects

__all__ = ["Effects", "process_batch", "warmup"]

# The contract's constants, read once into C globals.
cdef uint64_t GAMMA = kernel_contract.GAMMA
cdef uint64_t MIX1 = kernel_contract.MIX1
cdef uint64_t MIX2 = kernel_contract.MIX2
cdef int8_t OK = kernel_contract.OK
cdef int8_t POISON = kernel_contract.POISON
cdef int8_t MALFORMED = kernel_contract.MALFORMED
# decode_order's keys and Side names (the dict form of an order: impls.serial.contract).
cdef str POISON_TAG = kernel_contract.POISON_TAG
cdef str K_ID = "id", K_USER_ID = "user_id", K_SIDE = "side", K_QTY = "qty", K_TS_NS = "ts_ns", K_TAGS = "tags"
cdef str BUY = "BUY", SELL = "SELL"


cdef inline uint64_t mix64(uint64_t z) noexcept nogil:
    """splitmix64's finalizer (as pure.mix64)."""
    z = (z ^ (z >> 30)) * MIX1
    z = (z ^ (z >> 27)) * MIX2
    return z ^ (z >> 31)


cdef inline uint64_t seed(int64_t order_id, int64_t user_id, int64_t qty, int64_t ts_ns) noexcept:
    """The digest before its rounds: the four fields absorbed (as pure.digest)."""
    cdef uint64_t h = 0
    h = mix64((h ^ <uint64_t>order_id) + GAMMA)
    h = mix64((h ^ <uint64_t>user_id) + GAMMA)
    h = mix64((h ^ <uint64_t>qty) + GAMMA)
    return mix64((h ^ <uint64_t>ts_ns) + GAMMA)


cdef inline uint64_t spin(uint64_t h, int64_t rounds) noexcept nogil:
    """`rounds` digest rounds from h: the CPU-bound work."""
    cdef int64_t r
    for r in range(rounds):
        h = mix64(h + GAMMA)
    return h


def process_batch(payloads, rounds):
    """Each payload's effect, in order (see impls.workerpool.pure)."""
    cdef list checked
    checked, rounds = kernel_contract.batch_args(payloads, rounds)
    cdef int64_t n_rounds = rounds
    cdef Py_ssize_t n = len(checked), i
    effects = Effects.zeros(n)
    cdef int64_t[::1] user_id = effects.user_id
    cdef int64_t[::1] delta = effects.delta
    cdef uint64_t[::1] digest = effects.digest
    cdef int8_t[::1] status = effects.status
    cdef int64_t qty
    cdef dict order
    for i in range(n):
        try:
            order = decode_order(checked[i])
        except DecodeError:
            status[i] = MALFORMED
            continue
        user_id[i] = order[K_USER_ID]
        if POISON_TAG in order[K_TAGS]:
            status[i] = POISON
            continue
        qty = order[K_QTY]
        side = order[K_SIDE]  # a Side name, or an int for a value without one
        if side == BUY:
            delta[i] = qty
        elif side == SELL:
            delta[i] = <int64_t>(<uint64_t>0 - <uint64_t>qty)  # wraps: -(-2**63) is -2**63
        digest[i] = seed(order[K_ID], user_id[i], qty, order[K_TS_NS])
    with nogil:
        for i in range(n):
            if status[i] == OK:
                digest[i] = spin(digest[i], n_rounds)
    return effects


def warmup():
    """Nothing to compile; run every path once (an OK order, a poison one, a malformed one)."""
    from impls.serial.pure import encode_order

    process_batch([encode_order({"id": 1, "side": "SELL", "qty": 2, "tags": ["poison"]}),
                   encode_order({"id": 2, "user_id": 3, "side": "BUY", "qty": 4}), b"\x08"], 3)
